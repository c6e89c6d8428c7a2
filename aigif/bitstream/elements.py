"""construct schemas of the AIGIF v1 body and of each extension element body.

This module is the single source of truth of the syntax: ``aigif.io`` builds and parses
with it, and ``tests/test_spec.py`` checks the syntax tables of ``spec/aigif-v1.md``
against ``SYNTAX`` below.
"""
from __future__ import annotations

from construct import (Bytes, Check, Construct, Container, GreedyBytes, If, Int8ub, Struct,
                       Switch, Tell, stream_read_entire, stream_seek, stream_tell, this)

from .. import spec
from ..spec import Presence
from .primitives import (Dimension, FieldError, Fraction, Gated, Guidance, LimitedArray, Real,
                         Seed32, Utf8, UVarint, Validate, VarBytes)

__all__ = ["Body", "ModelRef", "PlatformBody", "ElementFrame", "ELEMENT_SCHEMAS", "SYNTAX",
           "TypedValue", "KeyValues", "TextKeyValues", "FingerprintBody", "PixelsBody",
           "SourceBody", "LoraItem", "LorasBody", "ResidualHeader", "ResidualBody",
           "StageItem", "StagesBody", "UpscalerField", "ControlImageField", "FrameRate",
           "VideoBody"]


def _check_presence(ctx) -> bool:
    unknown = ctx.presence & ~spec.KNOWN_PRESENCE_BITS
    if not unknown and not ctx.presence & _SPECIAL:
        return True
    if unknown:
        raise FieldError("version", f"unknown presence bits 0x{unknown:x} (a newer format "
                                    f"feature this reader does not know)")
    if ctx.presence & Presence.SEED_HIGH and not ctx.presence & Presence.SEED:
        raise FieldError("malformed", "SEED_HIGH without SEED")
    if ctx.presence & Presence.NO_MODEL and ctx.presence & (spec.KNOWN_PRESENCE_BITS & ~(
            Presence.NO_MODEL | Presence.ELEMENTS | Presence.VIDEO)):
        raise FieldError("malformed", "a file without model can only hold elements (and "
                                      "VIDEO, for a video payload)")
    return True


_SPECIAL = int(Presence.SEED_HIGH | Presence.NO_MODEL)


def _check_kind(ctx) -> bool:
    if ctx.kind not in (spec.ModelKind.HUB, spec.ModelKind.LOCAL, spec.ModelKind.CKPT) and \
            ctx.kind < spec.WELL_KNOWN_BASE:
        raise FieldError("malformed", f"reserved model kind {ctx.kind}")
    return True


# model: a well-known code, or a generator code with a hub id / content hash / ckpt name
ModelRef = Gated(
    None,
    ("kind", None, UVarint),
    ("_check_kind", None, Validate(_check_kind)),
    ("generator", lambda c: c.kind < spec.WELL_KNOWN_BASE, UVarint),
    ("hub_id", lambda c: c.kind == spec.ModelKind.HUB, Utf8()),
    ("content_hash", lambda c: c.kind == spec.ModelKind.LOCAL, Bytes(16)),
    ("ckpt_name", lambda c: c.kind == spec.ModelKind.CKPT, Utf8()),
    ("revision", lambda c: c.kind in (spec.ModelKind.HUB, spec.ModelKind.CKPT), Utf8()),
)

PlatformBody = Struct(
    "device" / UVarint,
    "dtype" / UVarint,
    "rng_device" / UVarint,
    "flags" / UVarint,
    "threads" / UVarint,
    "accelerator" / Utf8(),
    "torch" / Utf8(),
    "diffusers" / Utf8(),
    "transformers" / Utf8(),
)

# One extension element: type varint (id << 1 | critical) and a length-prefixed body.
ElementFrame = Struct(
    "offset" / Tell,
    "type" / UVarint,
    "data" / VarBytes(spec.MAX_ELEMENT_BYTES),
)

P = {b.name: int(b) for b in Presence}

# The body: a presence word, then each field when its presence bit is set.
Body = Gated(
    "presence",
    ("presence", None, UVarint),
    ("_check_presence", None, Validate(_check_presence)),
    ("model", lambda c: not c.presence & P["NO_MODEL"], ModelRef),
    ("seed_low", P["SEED"], Seed32),
    ("seed_high", P["SEED_HIGH"], Seed32),
    ("steps", P["STEPS"], UVarint),
    ("guidance", P["GUIDANCE"], Guidance),
    ("scheduler", P["SCHEDULER"], UVarint),
    ("width", P["SIZE"], Dimension),
    ("height", P["SIZE"], Dimension),
    ("clip_skip", P["CLIP_SKIP"], UVarint),
    ("platform", P["PLATFORM"], VarBytes(spec.MAX_STRING_BYTES * 5 + 64)),
    ("elements", P["ELEMENTS"], LimitedArray(spec.MAX_ELEMENTS, ElementFrame)),
    ("text_offset", None, Tell),
    ("text", P["TEXT"], GreedyBytes),
)

# ----------------------------------------------------------------- element bodies
# Typed value: a type tag, then the value.
TypedValue = Struct(
    "type" / UVarint,
    "value" / Switch(this.type, {
        spec.ValueType.NULL: Struct(),
        spec.ValueType.FALSE: Struct(),
        spec.ValueType.TRUE: Struct(),
        spec.ValueType.UINT: UVarint,
        spec.ValueType.NINT: UVarint,
        spec.ValueType.FLOAT: Bytes(8),
        spec.ValueType.TEXT: Utf8(spec.MAX_INFO_VALUE_BYTES),
        spec.ValueType.BYTES: VarBytes(spec.MAX_INFO_VALUE_BYTES),
    }, default=Check(lambda c: _bad_type(c.type))),
)


def _bad_type(t: int) -> bool:
    raise FieldError("malformed", f"unknown value type {t}")


KeyValues = LimitedArray(spec.MAX_ENTRIES, Struct("key" / Utf8(), "value" / TypedValue))

TextKeyValues = LimitedArray(spec.MAX_ENTRIES,
                             Struct("key" / Utf8(), "value" / Utf8(spec.MAX_INFO_VALUE_BYTES)))


FingerprintBody = Struct(
    "algo" / UVarint,
    "width" / UVarint,
    "height" / UVarint,
    "digest" / VarBytes(64),
)

PixelsBody = Struct(
    "codec" / UVarint,
    "data" / GreedyBytes,
)

# SOURCE: verbatim texts of another tool; method 0 = raw, 1 = brotli over a TextKeyValues.
SourceBody = Struct(
    "method" / UVarint,
    "data" / GreedyBytes,
)

LoraItem = Struct(
    "name" / Utf8(),
    "weight" / Real,
    "has_clip_weight" / UVarint,
    Check(lambda c: c.has_clip_weight in (0, 1) or _bad_flag()),
    "clip_weight" / If(this.has_clip_weight == 1, Real),
    "sha256" / VarBytes(32),
)


def _bad_flag() -> bool:
    raise FieldError("malformed", "flag must be 0 or 1")


LorasBody = LimitedArray(spec.MAX_ENTRIES, LoraItem)

def _check_residual_method(ctx) -> bool:
    if ctx.method not in (0, 1):
        raise FieldError("malformed", f"residual method {ctx.method} is unknown (expected 0 or 1)")
    return True


# RESIDUAL: the header the residual codec reads, then the inner image to the end.
ResidualHeader = Struct(
    "method" / Int8ub,
    Check(_check_residual_method),
    "step" / If(this.method == 0, UVarint),
    "base" / Bytes(4),
    "codec" / UVarint,
)
ResidualBody = Struct(
    *ResidualHeader.subcons,
    "data" / GreedyBytes,
)

# ----------------------------------------------------------------- stages
F = {b.name: int(b) for b in spec.StageField}
_REQUIRED = {spec.StageKind.REFINER: ("MODEL", "model"),
             spec.StageKind.CONTROLNET: ("CN_MODEL", "cn_model"),
             spec.StageKind.DETAILER: ("DETECTOR", "detector")}
_KNOWN_UPSCALERS = frozenset(int(u) for u in spec.Upscaler)


def _check_stage(ctx) -> bool:
    allowed = spec.STAGE_FIELDS[ctx.kind]
    bad = ctx.presence & ~allowed
    if bad:
        raise FieldError("malformed", f"presence bits 0x{bad:x} are not fields of stage kind "
                                      f"{ctx.kind} ({spec.StageKind(ctx.kind).name.lower()})")
    if ctx.presence & F["SCALE"] and ctx.presence & F["SIZE"]:
        raise FieldError("malformed", "a stage has scale and size: they are exclusive")
    req = _REQUIRED.get(ctx.kind)
    if req and not ctx.presence & F[req[0]]:
        raise FieldError("malformed", f"a {spec.StageKind(ctx.kind).name.lower()} stage "
                                      f"without its {req[1]}")
    return True


def _check_upscaler(ctx) -> bool:
    if ctx.code not in _KNOWN_UPSCALERS:
        raise FieldError("version", f"upscaler code {ctx.code} is not known to this reader")
    return True


# upscaler: a code; the pixel upscaler model (code 32) is followed by its model
UpscalerField = Gated(
    None,
    ("code", None, UVarint),
    ("_check_upscaler", None, Validate(_check_upscaler)),
    ("model", lambda c: c.code == spec.Upscaler.MODEL, ModelRef),
)

ControlImageField = Struct(
    "codec" / UVarint,
    "data" / VarBytes(spec.MAX_ELEMENT_BYTES),
)

# One stage: its kind, a presence varint, then each present field in bit order.
StageItem = Gated(
    "presence",
    ("kind", None, UVarint),
    ("presence", None, UVarint),
    ("_check_stage", None, Validate(_check_stage)),
    ("scale", F["SCALE"], Guidance),
    ("size", F["SIZE"], Struct("width" / Dimension, "height" / Dimension)),
    ("upscaler", F["UPSCALER"], UpscalerField),
    ("strength", F["STRENGTH"], Fraction),
    ("steps", F["STEPS"], UVarint),
    ("guidance", F["GUIDANCE"], Guidance),
    ("scheduler", F["SCHEDULER"], UVarint),
    ("seed", F["SEED"], UVarint),
    ("text", F["TEXT"], VarBytes(spec.MAX_TEXT_BLOCK_BYTES)),
    ("model", F["MODEL"], ModelRef),
    ("loras", F["LORAS"], LorasBody),
    ("clip_skip", F["CLIP_SKIP"], UVarint),
    ("params", F["PARAMS"], KeyValues),
    ("switch", F["SWITCH"], Fraction),
    ("aesthetic", F["AESTHETIC"], Real),
    ("negative_aesthetic", F["NEGATIVE_AESTHETIC"], Real),
    ("cn_model", F["CN_MODEL"], ModelRef),
    ("cn_scale", F["CN_SCALE"], Real),
    ("cn_range", F["CN_RANGE"], Struct("start" / Fraction, "end" / Fraction)),
    ("cn_pass", F["CN_PASS"], UVarint),
    ("cn_image", F["CN_IMAGE"], ControlImageField),
    ("detector", F["DETECTOR"], Utf8()),
    ("confidence", F["CONFIDENCE"], Fraction),
    ("mask_blur", F["MASK_BLUR"], UVarint),
)


class _Stages(Construct):
    """Stages to the end of the element (no count). A kind this reader does not know ends
    the list: the rest of the element, from that kind's code on, is kept raw as an item
    ``{"kind": k, "presence": None, "raw": bytes after the code}``. More than
    ``spec.MAX_STAGES`` stages is over the limit."""

    def __init__(self, item):
        super().__init__()
        self.item = item

    def _parse(self, stream, context, path):
        out = []
        pos = stream_tell(stream, path)
        end = stream_seek(stream, 0, 2, path)
        stream_seek(stream, pos, 0, path)
        while pos < end:
            if len(out) == spec.MAX_STAGES:
                raise FieldError("limit", f"more than {spec.MAX_STAGES} stages", pos)
            kind = UVarint._parse(stream, context, path)
            if kind not in spec.STAGE_FIELDS:
                out.append(Container(kind=kind, presence=None, offset=pos,
                                     raw=stream_read_entire(stream, path)))
                break
            stream_seek(stream, pos, 0, path)
            try:
                item = self.item._parsereport(stream, context, path)
            except FieldError as e:
                if e.offset is None:
                    e.offset = pos     # a check of the whole stage: its first byte
                raise
            item.offset = pos
            out.append(item)
            pos = stream_tell(stream, path)
        return out

    def _build(self, obj, stream, context, path):
        if len(obj) > spec.MAX_STAGES:
            raise FieldError("limit", f"{len(obj)} stages, the limit is {spec.MAX_STAGES}")
        for item in obj:
            if item.get("raw") is not None:
                UVarint._build(item["kind"], stream, context, path)
                stream.write(bytes(item["raw"]))
            else:
                self.item._build(item, stream, context, path)
        return obj


StagesBody = _Stages(StageItem)

# ----------------------------------------------------------------- video
VF = {b.name: int(b) for b in spec.VideoField}


def _check_video(ctx) -> bool:
    unknown = ctx.presence & ~spec.KNOWN_VIDEO_FIELDS
    if unknown:
        raise FieldError("version", f"unknown video field bits 0x{unknown:x} (a newer format "
                                    f"feature this reader does not know)")
    return True


def _check_rate(ctx) -> bool:
    if ctx.rate >> 1 == 0:
        raise FieldError("malformed", "a frame rate of 0")
    return True


def _check_denominator(ctx) -> bool:
    if ctx.denominator < 2:
        raise FieldError("noncanonical" if ctx.denominator == 1 else "malformed",
                         f"frame rate denominator {ctx.denominator} (an integer rate has its "
                         f"own form; 0 is not a rate)")
    return True


# frame rate: varint v; v even: v >> 1 frames per second; v odd: numerator v >> 1, then the
# denominator (>= 2; the fraction in lowest terms)
FrameRate = Gated(
    None,
    ("rate", None, UVarint),
    ("_check_rate", None, Validate(_check_rate)),
    ("denominator", lambda c: c.rate & 1, UVarint),
    ("_check_denominator", lambda c: c.rate & 1, Validate(_check_denominator)),
)

# The VIDEO element: a presence varint, then each present field in bit order.
VideoBody = Gated(
    "presence",
    ("presence", None, UVarint),
    ("_check_video", None, Validate(_check_video)),
    ("frames", VF["FRAMES"], UVarint),
    ("fps", VF["FPS"], FrameRate),
    ("image", VF["IMAGE"], ControlImageField),
    ("motion_adapter", VF["MOTION_ADAPTER"], Utf8()),
    ("motion_bucket_id", VF["MOTION_BUCKET_ID"], UVarint),
    ("noise_aug_strength", VF["NOISE_AUG_STRENGTH"], Real),
    ("flow_shift", VF["FLOW_SHIFT"], Real),
    ("decode_chunk_size", VF["DECODE_CHUNK_SIZE"], UVarint),
    ("vae_tiling", VF["VAE_TILING"], UVarint),
)

ELEMENT_SCHEMAS = {
    spec.Element.FINGERPRINT: FingerprintBody,
    spec.Element.PIXELS: PixelsBody,
    spec.Element.INFO: TextKeyValues,
    spec.Element.SOURCE: SourceBody,
    spec.Element.PARAMS: KeyValues,
    spec.Element.LORAS: LorasBody,
    spec.Element.RESIDUAL: ResidualBody,
    spec.Element.STAGES: StagesBody,
    spec.Element.VIDEO: VideoBody,
}

#: Field names of each syntax structure, in order (checked against spec/aigif-v1.md).
SYNTAX = {
    "body": ["presence", "model", "seed_low", "seed_high", "steps", "guidance", "scheduler",
             "width", "height", "clip_skip", "platform", "elements", "text"],
    "model": ["kind", "generator", "hub_id", "content_hash", "ckpt_name", "revision"],
    "platform": ["device", "dtype", "rng_device", "flags", "threads", "accelerator",
                 "torch", "diffusers", "transformers"],
    "element": ["type", "data"],
    "fingerprint": ["algo", "width", "height", "digest"],
    "pixels": ["codec", "data"],
    "source": ["method", "data"],
    "lora": ["name", "weight", "has_clip_weight", "clip_weight", "sha256"],
    "residual": ["method", "step", "base", "codec", "data"],
    "stages": ["kind", "presence", "fields"],
    "stage_fields": ["scale", "size", "upscaler", "strength", "steps", "guidance",
                     "scheduler", "seed", "text", "model", "loras", "clip_skip", "params",
                     "switch", "aesthetic", "negative_aesthetic", "cn_model", "cn_scale",
                     "cn_range", "cn_pass", "cn_image", "detector", "confidence", "mask_blur"],
    "video": ["presence", "fields"],
    "video_fields": ["frames", "fps", "image", "motion_adapter", "motion_bucket_id",
                     "noise_aug_strength", "flow_shift", "decode_chunk_size", "vae_tiling"],
    "frame_rate": ["rate", "denominator"],
}
