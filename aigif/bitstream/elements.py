"""construct schemas of the AIGIF v1 body and of each extension element body.

This module is the single source of truth of the syntax: ``aigif.io`` builds and parses
with it, and ``tests/test_spec.py`` checks the syntax tables of ``spec/aigif-v1.md``
against ``SYNTAX`` below.
"""
from __future__ import annotations

from construct import (Bytes, Check, GreedyBytes, If, Int8ub, Struct, Switch, Tell,
                       this)

from .. import spec
from ..spec import Presence
from .primitives import (Dimension, FieldError, Gated, Guidance, LimitedArray, Real, Seed32,
                         Utf8, UVarint, Validate, VarBytes)

__all__ = ["Body", "ModelRef", "PlatformBody", "ElementFrame", "ELEMENT_SCHEMAS", "SYNTAX",
           "TypedValue", "KeyValues", "TextKeyValues", "FingerprintBody", "PixelsBody",
           "SourceBody", "LoraItem", "LorasBody", "ResidualHeader", "ResidualBody"]


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
            Presence.NO_MODEL | Presence.ELEMENTS)):
        raise FieldError("malformed", "a file without model can only hold elements")
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

ELEMENT_SCHEMAS = {
    spec.Element.FINGERPRINT: FingerprintBody,
    spec.Element.PIXELS: PixelsBody,
    spec.Element.INFO: TextKeyValues,
    spec.Element.SOURCE: SourceBody,
    spec.Element.PARAMS: KeyValues,
    spec.Element.LORAS: LorasBody,
    spec.Element.RESIDUAL: ResidualBody,
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
}
