"""Bytes <-> FileData: canonical write, strict (default) or lenient read.

Layout of a file (normative text: spec/aigif-v1.md)::

    "AI"  0xF0|version (1 byte)  body  check (2 bytes, big-endian)

The check is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over every byte before it
followed by the whole file's length as a 32-bit big-endian integer: it detects every
single-byte corruption, and appended or removed bytes change the length it covers. Reading never imports torch,
diffusers, numpy or Pillow. Element bodies are read and written through one table
(``_RULES``) of the schemas in ``bitstream.elements``.
"""
from __future__ import annotations

import io as _io
import os
import struct
from binascii import crc_hqx
from dataclasses import dataclass, fields as _fields
from fractions import Fraction as FractionType
from typing import IO, Any, Callable, Union

from construct import ConstructError, StreamError

from . import errors, spec
from .bitstream.elements import (Body, ELEMENT_SCHEMAS, SYNTAX, KeyValues, LorasBody,
                                  PlatformBody, SourceBody, StageItem, StagesBody,
                                  TextKeyValues, VideoBody)
from .bitstream.fastbody import build_body as _fast_build, parse_body as _fast_parse
from .bitstream.primitives import FieldError, uvarint
from .container import FileData, Fingerprint, Payload, RawElement
from .meta import (GenerationMeta, Lora, Platform, _CKPT, _LOCAL, _model_info_of, scheduler_code,
                   scheduler_key)
from .registry import (codec_code, codec_key, codec_kind, extensions, generators,
                       model_defaults, model_for_hash, models)
from .spec import Element, Presence, StageField, VideoField
from .stages import (_HUB_AT, STAGE_KINDS, UPSCALER_KEYS, UPSCALERS, ControlNet,
                     Detailer, Refiner, UnknownStages)
from .textcoding import decode_text, encode_text
from .video import Video

__all__ = ["dumps", "loads", "element_bodies", "check_value", "HEADER_SIZE", "CHECK_SIZE",
           "Source"]

HEADER_SIZE = len(spec.HEADER)
CHECK_SIZE = 2
MIN_SIZE = HEADER_SIZE + 1 + CHECK_SIZE

_KIND = {
    "malformed": errors.MalformedError,
    "noncanonical": errors.CanonicalFormError,
    "limit": errors.LimitExceededError,
    "version": errors.UnsupportedVersionError,
    "truncated": errors.TruncatedError,
}

class _P:
    """Presence bits as plain ints (IntFlag arithmetic is slow on the hot path)."""


for _b in Presence:
    setattr(_P, _b.name, int(_b))

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]

#: The fast path: the body parsed and built by ``bitstream.fastbody`` (falling back to the
#: construct schemas, the reference, for anything unusual and for every error) and the
#: dataclasses of a read file built without re-running checks the parser already made.
#: ``AIGIF_PURE_PYTHON=1`` in the environment turns it off (with the compiled cm1 coder):
#: everything goes through the reference path. Both give the same results and errors
#: (tests/test_io_fast.py).
FAST = os.environ.get("AIGIF_PURE_PYTHON", "") in ("", "0")


# ============================================================================ elements
def _typed(v: Any) -> dict:
    T = spec.ValueType
    if v is None:
        return {"type": T.NULL, "value": {}}
    if v is True:
        return {"type": T.TRUE, "value": {}}
    if v is False:
        return {"type": T.FALSE, "value": {}}
    if isinstance(v, int):
        return {"type": T.UINT, "value": v} if v >= 0 else {"type": T.NINT, "value": -1 - v}
    if isinstance(v, float):
        return {"type": T.FLOAT, "value": struct.pack(">d", v)}
    if isinstance(v, str):
        return {"type": T.TEXT, "value": v}
    return {"type": T.BYTES, "value": bytes(v)}


def _untyped(tv) -> Any:
    T = spec.ValueType
    t, v = tv.type, tv.value
    if t == T.NULL:
        return None
    if t in (T.TRUE, T.FALSE):
        return t == T.TRUE
    if t == T.UINT:
        return v
    if t == T.NINT:
        return -1 - v
    if t == T.FLOAT:
        return struct.unpack(">d", v)[0]
    return v


def _codec_code(key: str) -> int:
    code = codec_code(key)
    if code is None:
        raise errors.MetaError(f"unknown pixel codec {key!r}; expected one of "
                               f"{', '.join(c.name.lower() for c in spec.PixelCodec)} or a "
                               f"registered codec", field="payload")
    return code


def _codec_key(code: int) -> str:
    return codec_key(code) or f"codec-{code}"


def _model_fields(meta: GenerationMeta, info) -> dict:
    gen = generators.get(meta.generator).code
    if info is not None and info.code is not None:
        return {"kind": info.code}
    if info is not None and info.content_hash is not None:
        return {"kind": spec.ModelKind.LOCAL, "generator": gen, "content_hash": info.content_hash}
    m = _LOCAL.match(meta.model)
    if m:
        return {"kind": spec.ModelKind.LOCAL, "generator": gen,
                "content_hash": bytes.fromhex(m.group(1))}
    m = _CKPT.match(meta.model)
    if m:
        return {"kind": spec.ModelKind.CKPT, "generator": gen, "ckpt_name": m.group(1),
                "revision": meta.model_revision or ""}
    return {"kind": spec.ModelKind.HUB, "generator": gen, "hub_id": meta.model,
            "revision": meta.model_revision or ""}


def _kv_text(d) -> bytes:
    items = [{"key": k, "value": v} for k, v in sorted(d.items())]
    for k, v in d.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise errors.MetaError("info/source keys and values must be strings")
    try:
        return TextKeyValues.build(items)
    except FieldError as e:
        raise errors.LimitExceededError(e.message, field="info") from None


def _kv_dict(o, off: int, field: str, strict: bool, typed: bool = False) -> dict:
    out: dict[str, Any] = {}
    prev = None
    for it in o:
        if it.key in out:
            raise errors.MalformedError(f"key {it.key!r} appears twice", offset=off, field=field)
        if strict and prev is not None and it.key < prev:
            raise errors.CanonicalFormError("keys are not sorted", offset=off, field=field)
        prev = it.key
        out[it.key] = _untyped(it.value) if typed else it.value
    return out


# Each spec element: where its value lives, and value <-> body through its schema
# (``bitstream.elements.ELEMENT_SCHEMAS``). The writer walks this table; the reader
# dispatches on it. A spec element id without a rule (reserved, or defined by a later
# version) is kept as a RawElement when ancillary and refused when critical.
@dataclass(frozen=True)
class _Rule:
    element: Element
    attr: str                                  # FileData attribute, or meta attribute
    on_meta: bool                              # True: the value is GenerationMeta.<attr>
    write: Callable[[Any], bytes]              # value -> body bytes
    read: Callable[[bytes, int, bool], Any]    # body, offset of the body, strict -> value
    whole: bool = False                        # write gets the holder (meta), not the value


def _parse_all(schema, data: bytes, base: int, field: str):
    obj, n = _parse(schema, data, base, field)
    if n != len(data):
        raise errors.MalformedError(f"{field} has {len(data) - n} unexpected bytes after its "
                                    f"fields", offset=base + n, field=field)
    return obj


def _write_fingerprint(fp: Fingerprint) -> bytes:
    return ELEMENT_SCHEMAS[Element.FINGERPRINT].build(
        {"algo": fp.algo, "width": fp.width, "height": fp.height, "digest": fp.digest})


def _read_fingerprint(data: bytes, off: int, strict: bool) -> Fingerprint:
    o = _parse_all(ELEMENT_SCHEMAS[Element.FINGERPRINT], data, off, "fingerprint")
    return Fingerprint(o.algo, o.width, o.height, bytes(o.digest))


def _write_pixels(p: Payload) -> bytes:
    return ELEMENT_SCHEMAS[Element.PIXELS].build({"codec": _codec_code(p.codec),
                                                  "data": bytes(p.data)})


def _read_pixels(data: bytes, off: int, strict: bool) -> Payload:
    o = _parse_all(ELEMENT_SCHEMAS[Element.PIXELS], data, off, "pixels")
    return Payload(_codec_key(o.codec), bytes(o.data))


def _read_info(data: bytes, off: int, strict: bool) -> dict:
    return _kv_dict(_parse_all(TextKeyValues, data, off, "info"), off, "info", strict)


_SOURCE_RAW, _SOURCE_BROTLI = 0, 1


def _write_source(source) -> bytes:
    raw = _kv_text(source)
    import brotli
    # quality 11 costs ~4 s/MB: big workflow graphs get quality 9 (deterministic rule)
    comp = (brotli.compress(raw, quality=11) if len(raw) <= 65536
            else brotli.compress(raw, quality=9, lgwin=24))
    if len(comp) < len(raw):
        return SourceBody.build({"method": _SOURCE_BROTLI, "data": comp})
    return SourceBody.build({"method": _SOURCE_RAW, "data": raw})


def _read_source(data: bytes, off: int, strict: bool) -> dict:
    if not data:
        raise errors.TruncatedError("empty source element", offset=off, field="source")
    o = _parse_all(SourceBody, data, off, "source")
    body_off = off + len(data) - len(o.data)
    if o.method == _SOURCE_BROTLI:
        import brotli
        limit = spec.MAX_ELEMENT_BYTES
        try:
            dec = brotli.Decompressor()
            raw = dec.process(bytes(o.data), output_buffer_limit=limit + 1)
            if len(raw) > limit or not dec.is_finished():
                raise errors.MalformedError("source text is incomplete or over the limit",
                                            offset=off, field="source")
        except brotli.error as e:
            raise errors.MalformedError(f"source text is corrupt: {e}", offset=off,
                                        field="source") from None
    elif o.method == _SOURCE_RAW:
        raw = bytes(o.data)
    else:
        raise errors.MalformedError(f"unknown source coding {o.method}", offset=off,
                                    field="source")
    return _kv_dict(_parse_all(TextKeyValues, raw, body_off, "source"), off, "source", strict)


def _write_params(params) -> bytes:
    return KeyValues.build([{"key": k, "value": _typed(v)} for k, v in sorted(params.items())])


def _read_params(data: bytes, off: int, strict: bool) -> dict:
    return _kv_dict(_parse_all(KeyValues, data, off, "params"), off, "params", strict,
                    typed=True)


def _lora_items(loras) -> list:
    if any(len(lo.sha256) % 2 for lo in loras):
        raise errors.MetaError("LoRA sha256 must have an even number of hex digits",
                               field="loras.sha256")
    return [{"name": lo.name, "weight": lo.weight,
             "has_clip_weight": int(lo.clip_weight is not None),
             "clip_weight": lo.clip_weight,
             "sha256": bytes.fromhex(lo.sha256)[:32]} for lo in loras]


def _write_loras(loras) -> bytes:
    return LorasBody.build(_lora_items(loras))


def _loras_of(o, off: int, field: str) -> tuple:
    try:
        return tuple(Lora(i.name, i.weight, i.clip_weight, bytes(i.sha256).hex()) for i in o)
    except errors.MetaError as e:
        raise errors.MalformedError(e.message, offset=off, field=field) from None


def _read_loras(data: bytes, off: int, strict: bool) -> tuple:
    return _loras_of(_parse_all(LorasBody, data, off, "loras"), off, "loras")


# ------------------------------------------------------------------ stages
_SF = {b.name: int(b) for b in StageField}
_STAGE_DEFAULTS = {cls: {f.name: f.default for f in _fields(cls)} for cls in STAGE_KINDS.values()}
_STAGE_NULL = {n: None for n in ("scale", "size", "upscaler", "strength", "steps", "guidance",
                                  "scheduler", "seed", "text", "model", "loras", "clip_skip",
                                  "params", "switch", "aesthetic", "negative_aesthetic",
                                  "cn_model", "cn_scale", "cn_range", "cn_pass", "cn_image",
                                  "detector", "confidence", "mask_blur")}


def _stage_model(model: str, generator: str) -> dict:
    """The model (4.1) fields of a stage's model string; unregistered hub, checkpoint and
    local models carry the file's generator code."""
    gen = generators.get(generator).code
    out = {"kind": 0, "generator": None, "hub_id": None, "content_hash": None,
           "ckpt_name": None, "revision": None}
    m = _HUB_AT.match(model)
    if m:
        return {**out, "kind": spec.ModelKind.HUB, "generator": gen, "hub_id": m.group(1),
                "revision": m.group(2)}
    info = _model_info_of(model, generator)
    if info is not None and info.code is not None:
        return {**out, "kind": info.code}
    if info is not None and info.content_hash is not None:
        return {**out, "kind": spec.ModelKind.LOCAL,
                "generator": generators.get(info.generator).code,
                "content_hash": info.content_hash}
    m = _LOCAL.match(model)
    if m:
        return {**out, "kind": spec.ModelKind.LOCAL, "generator": gen,
                "content_hash": bytes.fromhex(m.group(1))}
    m = _CKPT.match(model)
    if m:
        return {**out, "kind": spec.ModelKind.CKPT, "generator": gen, "ckpt_name": m.group(1),
                "revision": ""}
    return {**out, "kind": spec.ModelKind.HUB, "generator": gen, "hub_id": model,
            "revision": ""}


def _stage_dict(st, meta: GenerationMeta, text_block: bytes | None = None) -> dict:
    """``StageItem.build`` input of one stage: only the fields that differ from their
    defaults (the first pass's values are None in a resolved stage)."""
    if isinstance(st, UnknownStages):
        return {"kind": st.kind, "raw": st.data}
    d: dict[str, Any] = dict(_STAGE_NULL, kind=st.kind)
    dflt = _STAGE_DEFAULTS[type(st)]
    names = dflt.keys()
    pr = 0
    gen = meta.generator

    def put(bit: str, key: str, value: Any) -> None:
        nonlocal pr
        pr |= _SF[bit]
        d[key] = value

    if "upscaler" in names:
        if st.size is not None:
            put("SIZE", "size", {"width": st.size[0], "height": st.size[1]})
        elif st.scale != 2.0:
            put("SCALE", "scale", st.scale)
        if st.upscaler != "latent":
            put("UPSCALER", "upscaler", {
                "code": UPSCALERS[st.upscaler],
                "model": None if st.upscaler_model is None else _stage_model(st.upscaler_model, gen)})
    if "strength" in names and st.strength != dflt["strength"]:
        put("STRENGTH", "strength", st.strength)
    if "steps" in names:
        if st.steps:
            put("STEPS", "steps", st.steps)
        if st.guidance_scale is not None:
            put("GUIDANCE", "guidance", st.guidance_scale)
        if st.scheduler is not None:
            put("SCHEDULER", "scheduler", scheduler_code(st.scheduler))
        if st.seed is not None:
            put("SEED", "seed", st.seed)
        if st.prompt is not None or st.negative_prompt is not None:
            put("TEXT", "text", text_block if text_block is not None else
                encode_text(st.prompt or "", st.negative_prompt or ""))
    if "model" in names and not isinstance(st, ControlNet) and st.model is not None:
        put("MODEL", "model", _stage_model(st.model, gen))
    if "loras" in names and st.loras is not None:
        put("LORAS", "loras", _lora_items(st.loras))
    if "clip_skip" in names and st.clip_skip is not None:
        put("CLIP_SKIP", "clip_skip", st.clip_skip)
    if st.params:
        put("PARAMS", "params", [{"key": k, "value": _typed(v)}
                                 for k, v in sorted(st.params.items())])
    if isinstance(st, Refiner):
        if st.switch != dflt["switch"]:
            put("SWITCH", "switch", st.switch)
        if st.aesthetic_score != dflt["aesthetic_score"]:
            put("AESTHETIC", "aesthetic", st.aesthetic_score)
        if st.negative_aesthetic_score != dflt["negative_aesthetic_score"]:
            put("NEGATIVE_AESTHETIC", "negative_aesthetic", st.negative_aesthetic_score)
    elif isinstance(st, ControlNet):
        put("CN_MODEL", "cn_model", _stage_model(st.model, gen))
        if st.scale != dflt["scale"]:
            put("CN_SCALE", "cn_scale", st.scale)
        if (st.start, st.end) != (dflt["start"], dflt["end"]):
            put("CN_RANGE", "cn_range", {"start": st.start, "end": st.end})
        if st.pass_index:
            put("CN_PASS", "cn_pass", st.pass_index)
        if st.image is not None:
            c = st.image.codec
            put("CN_IMAGE", "cn_image", {"codec": int(c[6:]) if c.startswith("codec-") else
                                         _codec_code(c), "data": st.image.data})
    elif isinstance(st, Detailer):
        put("DETECTOR", "detector", st.detector)
        if st.confidence != dflt["confidence"]:
            put("CONFIDENCE", "confidence", st.confidence)
        if st.mask_blur != dflt["mask_blur"]:
            put("MASK_BLUR", "mask_blur", st.mask_blur)
    d["presence"] = pr
    return d


def _write_stages(meta: GenerationMeta) -> bytes:
    try:
        return StagesBody.build([_stage_dict(st, meta) for st in meta.stages])
    except FieldError as e:
        raise _KIND.get(e.kind, errors.MalformedError)(e.message, field="stages") from None


@dataclass(frozen=True)
class _ParsedStages:
    """The STAGES element parsed by its schema; ``aigif.io._meta`` turns it into stages
    (it needs the first pass)."""

    items: list
    data: bytes
    offset: int


def _read_stages(data: bytes, off: int, strict: bool) -> _ParsedStages:
    if not data:
        raise errors.TruncatedError("empty stages element", offset=off, field="stages")
    return _ParsedStages(_parse_all(StagesBody, data, off, "stages"), data, off)


def _model_string(m, off: int, where: str) -> str:
    if m.kind >= spec.WELL_KNOWN_BASE:
        key = models.key_for_code(m.kind)
        if key is None:
            raise errors.UnsupportedVersionError(
                f"model code {m.kind} is not known to this reader; upgrade aigif",
                offset=off, field=where)
        return key
    if generators.key_for_code(m.generator) is None:
        raise errors.UnknownCriticalElementError(
            f"generator code {m.generator} is not registered here", offset=off, field=where)
    if m.kind == spec.ModelKind.LOCAL:
        info = model_for_hash(bytes(m.content_hash), generators.key_for_code(m.generator))
        return info.key if info else "local:" + bytes(m.content_hash).hex()
    if m.kind == spec.ModelKind.CKPT:
        return "ckpt:" + m.ckpt_name
    return m.hub_id + ("@" + m.revision if m.revision else "")


def _stage_from(it, i: int, off: int, strict: bool):
    """One parsed stage item -> its stage object (MalformedError naming the field)."""
    where = f"stages[{i}]"
    if it.presence is None:
        return UnknownStages(it.kind, bytes(it.raw))
    cls = STAGE_KINDS[it.kind]
    kw: dict[str, Any] = {}
    if it.scale is not None:
        kw["scale"] = it.scale
    if it.size is not None:
        kw["size"] = (it.size.width, it.size.height)
    if it.upscaler is not None:
        kw["upscaler"] = UPSCALER_KEYS[it.upscaler.code]
        if it.upscaler.model is not None:
            kw["upscaler_model"] = _model_string(it.upscaler.model, off, f"{where}.upscaler")
    for name, key in (("strength", "strength"), ("steps", "steps"), ("seed", "seed"),
                      ("guidance", "guidance_scale"), ("clip_skip", "clip_skip"),
                      ("switch", "switch"), ("aesthetic", "aesthetic_score"),
                      ("negative_aesthetic", "negative_aesthetic_score"),
                      ("cn_scale", "scale"), ("cn_pass", "pass_index"),
                      ("detector", "detector"), ("confidence", "confidence"),
                      ("mask_blur", "mask_blur")):
        v = getattr(it, name)
        if v is not None:
            kw[key] = v
    if it.scheduler is not None:
        key = scheduler_key(it.scheduler)
        if key is None:
            raise errors.MalformedError(f"unknown scheduler code {it.scheduler}", offset=off,
                                        field=f"{where}.scheduler")
        kw["scheduler"] = key
    if it.text is not None:
        try:
            kw["prompt"], kw["negative_prompt"], _ = decode_text(bytes(it.text))
        except errors.AigifError as e:
            e.offset, e.field = off, f"{where}.text"
            raise
        except Exception as e:  # a text method must never leak another exception type
            raise errors.MalformedError(f"text block: {e}", offset=off,
                                        field=f"{where}.text") from None
    if it.model is not None:
        kw["model"] = _model_string(it.model, off, f"{where}.model")
    if it.cn_model is not None:
        kw["model"] = _model_string(it.cn_model, off, f"{where}.cn_model")
    if it.loras is not None:
        kw["loras"] = _loras_of(it.loras, off, f"{where}.loras")
    if it.params is not None:
        kw["params"] = _kv_dict(it.params, off, f"{where}.params", strict, typed=True)
    if it.cn_range is not None:
        kw["start"], kw["end"] = it.cn_range.start, it.cn_range.end
    if it.cn_image is not None:
        kw["image"] = Payload(_codec_key(it.cn_image.codec), bytes(it.cn_image.data))
    try:
        return cls(**kw)
    except errors.MetaError as e:
        field = (e.field or "").partition(".")[2]
        raise errors.MalformedError(f"invalid value: {e.message}", offset=off,
                                    field=f"{where}.{field}" if field else where) from None


def _stages_of(ps: _ParsedStages) -> tuple:
    return tuple(_stage_from(it, i, ps.offset + it.offset, False)
                 for i, it in enumerate(ps.items))


def _check_stages_canonical(ps: _ParsedStages, meta: GenerationMeta) -> None:
    """Each stage of a strict read re-encodes to its own bytes (its text block kept)."""
    ends = [it.offset for it in ps.items[1:]] + [len(ps.data)]
    for i, (it, st, end) in enumerate(zip(ps.items, meta.stages, ends)):
        if it.presence is None:
            return
        mine = ps.data[it.offset:end]
        want = StageItem.build(_stage_dict(st, meta, it.text))
        if want == mine:
            continue
        pr = _stage_dict(st, meta)["presence"]
        extra = it.presence & ~pr
        names = [b.name.lower() for b in StageField if extra & b]
        what = (f"{', '.join(names)} stored but equal to the default (or the first "
                f"pass's value)" if names else "fields not in their canonical form")
        raise errors.CanonicalFormError(f"stage {i} ({st.name}): {what}",
                                        offset=ps.offset + it.offset, field=f"stages[{i}]")


_VIDEO_FIELDS = SYNTAX["video_fields"]


def _write_video(meta: GenerationMeta) -> bytes | None:
    """The VIDEO element body: the video fields that differ from the family's defaults
    (None when none does: the element is left out)."""
    diff = meta.video.differences(meta.defaults.video)
    if not diff:
        return None
    out: dict[str, Any] = dict.fromkeys(_VIDEO_FIELDS)
    presence = 0
    for name, value in diff.items():
        presence |= VideoField[name.upper()]
        if name == "fps":
            n, den = value.numerator, value.denominator
            value = ({"rate": n << 1, "denominator": None} if den == 1 else
                     {"rate": n << 1 | 1, "denominator": den})
        elif name == "image":
            c = value.codec
            value = {"codec": int(c[6:]) if c.startswith("codec-") else _codec_code(c),
                     "data": value.data}
        elif name == "vae_tiling":
            value = int(value)
        out[name] = value
    out["presence"] = presence
    try:
        return VideoBody.build(out)
    except FieldError as e:
        raise _KIND.get(e.kind, errors.MalformedError)(e.message, field="video") from None


@dataclass(frozen=True)
class _ParsedVideo:
    """The VIDEO element: the stored fields as ``Video`` keyword arguments."""

    fields: dict
    offset: int


def _read_video(data: bytes, off: int, strict: bool) -> _ParsedVideo:
    try:
        o = _parse_all(VideoBody, data, off, "video")
    except errors.AigifError as e:
        if e.offset is not None:
            raise
        # a check of the whole element or of its frame rate: the element's first byte
        raise type(e)(e.message, offset=off, field=e.field) from None
    if strict and not o.presence:
        raise errors.CanonicalFormError("video element without fields (leave it out)",
                                        offset=off, field="video")
    kw: dict[str, Any] = {}
    for name in _VIDEO_FIELDS:
        v = o[name]
        if v is None:
            continue
        if name == "frames" and not 1 <= v <= spec.MAX_VIDEO_FRAMES or \
                name == "decode_chunk_size" and v > spec.MAX_VIDEO_FRAMES:
            raise errors.LimitExceededError(f"{name} {v}, the limit is {spec.MAX_VIDEO_FRAMES}"
                                            if v else "0 frames", offset=off,
                                            field=f"video.{name}")
        if name == "fps":
            num, den = v.rate >> 1, v.denominator or 1
            if num > spec.MAX_FPS * den or den > spec.MAX_FPS_DENOMINATOR:
                raise errors.LimitExceededError(f"frame rate {num}/{den} is over the limits "
                                                f"({spec.MAX_FPS} fps, denominator "
                                                f"{spec.MAX_FPS_DENOMINATOR})", offset=off,
                                                field="video.fps")
            f = FractionType(num, den)
            if f.denominator != den:
                raise errors.CanonicalFormError(f"frame rate {num}/{den} is not in lowest "
                                                f"terms", offset=off, field="video.fps")
            v = f
        elif name == "image":
            v = Payload(_codec_key(v.codec), bytes(v.data))
        elif name == "vae_tiling":
            if v > 1:
                raise errors.MalformedError(f"vae_tiling {v}: expected 0 or 1", offset=off,
                                            field="video.vae_tiling")
            v = bool(v)
        kw[name] = v
    return _ParsedVideo(kw, off)


def _video_of(pv: _ParsedVideo | None, pr: int, kw: dict) -> None:
    """Put the video of a file into the GenerationMeta keyword arguments ``kw``."""
    if pv is None:
        return
    if not pr & _P.VIDEO:
        raise errors.MalformedError("a VIDEO element in a file without the VIDEO bit",
                                    offset=pv.offset, field="video")
    try:
        kw["video"] = Video(**pv.fields)
    except errors.MetaError as e:
        raise errors.MalformedError(f"invalid value: {e.message}", offset=pv.offset,
                                    field=e.field) from None


def _check_video(meta: GenerationMeta, pr: int, pv: _ParsedVideo | None, strict: bool) -> None:
    """The VIDEO bit against the generator family; stored video fields against defaults."""
    d = meta.defaults.video
    if bool(pr & _P.VIDEO) != (d is not None):
        raise errors.MalformedError(
            f"generator {meta.generator!r} is {'an image' if d is None else 'a video'} family "
            f"but the VIDEO bit is {'set' if pr & _P.VIDEO else 'not set'}",
            offset=HEADER_SIZE, field="video")
    if strict and pv is not None:
        for name, v in pv.fields.items():
            if v == getattr(d, name, None):
                raise errors.CanonicalFormError(f"video.{name} is stored but equals the "
                                                f"default", offset=pv.offset,
                                                field=f"video.{name}")


def _residual(data: bytes, off: int = 0, strict: bool = True) -> bytes:
    # the body as built by the residual codec (bitstream.elements.ResidualBody), kept whole:
    # the codec reads its header when the layer is applied
    return bytes(data)


_RULES: dict[int, _Rule] = {int(r.element): r for r in (
    _Rule(Element.FINGERPRINT, "fingerprint", False, _write_fingerprint, _read_fingerprint),
    _Rule(Element.PIXELS, "payload", False, _write_pixels, _read_pixels),
    _Rule(Element.INFO, "info", False, _kv_text, _read_info),
    _Rule(Element.SOURCE, "source", False, _write_source, _read_source),
    _Rule(Element.PARAMS, "params", True, _write_params, _read_params),
    _Rule(Element.LORAS, "loras", True, _write_loras, _read_loras),
    _Rule(Element.RESIDUAL, "residual", False, _residual, _residual),
    _Rule(Element.STAGES, "stages", True, _write_stages, _read_stages, whole=True),
    _Rule(Element.VIDEO, "video", True, _write_video, _read_video, whole=True),
)}
_EMPTY = (None, (), {})
_SOURCE_ID = int(Element.SOURCE)


def element_bodies(f: FileData, *, source_body: bytes | None = None
                   ) -> list[tuple[int, bool, bytes]]:
    """``(element id, critical, body)`` of every element ``f`` writes, in canonical order.

    ``source_body``: the SOURCE element's body as given (not re-compressed from
    ``f.source``). Raises MetaError / LimitExceededError for values the format cannot hold."""
    out: list[tuple[int, bool, bytes]] = []
    meta = f.meta
    if (source_body is None and f.payload is None and f.fingerprint is None
            and f.residual is None and not f.info and not f.source and not f.unknown_elements
            and (meta is None or not (meta.params or meta.loras or meta.extensions
                                      or meta.stages or meta.video is not None))):
        return out   # the common case: no element at all
    for eid, rule in _RULES.items():
        if source_body is not None and eid == _SOURCE_ID:
            out.append((eid, spec.ELEMENT_CRITICAL[rule.element], source_body))
            continue
        holder = meta if rule.on_meta else f
        value = None if holder is None else getattr(holder, rule.attr)
        if value is None or (not isinstance(value, bytes) and value in _EMPTY):
            continue
        data = rule.write(holder if rule.whole else value)
        if data is not None:   # None: nothing to store (a video with default fields only)
            out.append((eid, spec.ELEMENT_CRITICAL[rule.element], data))
    if meta is not None:
        for key, value in meta.extensions.items():
            if key not in extensions:
                raise errors.MetaError(f"extension {key!r} is not registered "
                                       f"(aigif.register_extension)", field=f"extensions.{key}")
            ext = extensions.get(key)
            try:
                data = ext.schema.build(value)
            except (ConstructError, FieldError, ValueError, TypeError) as e:
                raise errors.MetaError(f"extension {key!r} value does not fit its schema: {e}",
                                       field=f"extensions.{key}") from e
            out.append((ext.code, ext.critical, data))
    for raw_el in f.unknown_elements:
        out.append((raw_el.type_id, raw_el.critical, bytes(raw_el.data)))
    out.sort(key=lambda e: e[0])
    for a, b in zip(out, out[1:]):
        if a[0] == b[0]:
            raise errors.MetaError(f"element id {a[0]} appears twice")
    if len(out) > spec.MAX_ELEMENTS:
        raise errors.LimitExceededError(f"{len(out)} elements, the limit is {spec.MAX_ELEMENTS}")
    return out


def dumps(obj: GenerationMeta | FileData, *, text_method: int | None = None) -> bytes:
    """Serialize a GenerationMeta (or an AigifFile / FileData) to canonical AIGIF bytes.

    The same input always gives the same bytes. ``text_method`` forces a prompt coding
    method (``spec.TextMethod``); by default the shortest is used. Raises MetaError /
    LimitExceededError for values the format cannot hold.

    Example::

        data = aigif.dumps(GenerationMeta(model="sd15", prompt="a cat", seed=1))
    """
    f = obj if isinstance(obj, FileData) else FileData(meta=obj)
    if f.meta is not None and not isinstance(f.meta, GenerationMeta):
        raise errors.MetaError(f"expected a GenerationMeta or AigifFile, found {type(obj).__name__}")
    if text_method is None:
        text_method = f.text_method if f.text_method is not None and obj is f else None
    return _dumps(f, text_method)


def rewrite(f: FileData, text_block: bytes | None, source_body: bytes | None, *,
            seal: bool = True) -> bytes:
    """``dumps(f)`` with the file's own coded text block and SOURCE body spliced in
    (neither re-encoded) and no file size limit: the bytes a canonical file has, given its
    two compressor outputs (``aigif.validate``'s canonical check). ``seal=False``: without
    the integrity check."""
    return _dumps(f, None, text_block, source_body, limit=False, seal=seal)


def _dumps(f: FileData, text_method: int | None, text_block: bytes | None = None,
           source_body: bytes | None = None, limit: bool = True, seal: bool = True) -> bytes:
    meta = f.meta
    body: dict[str, Any] = {k: None for k in ("model", "seed_low", "seed_high", "steps",
                                              "guidance", "scheduler", "width", "height",
                                              "clip_skip", "platform", "elements", "text")}
    presence = 0
    video_payload = _payload_kind(f.payload) == "video"
    if meta is None:
        presence |= _P.NO_MODEL
        if video_payload:
            presence |= _P.VIDEO
    else:
        if f.payload is not None and video_payload != (meta.video is not None) and \
                _payload_kind(f.payload) is not None:
            raise errors.MetaError(
                f"a {'video' if video_payload else 'image'} payload ({f.payload.codec}) in "
                f"the file of {'an image' if meta.video is None else 'a video'} generation: "
                f"a file's payload is of the file's kind", field="payload")
        if meta.video is not None:
            presence |= _P.VIDEO
        info = meta._model_info()
        d = model_defaults(info) if info is not None else generators.get(meta.generator).defaults
        body["model"] = {"kind": 0, "generator": None, "hub_id": None, "content_hash": None,
                         "ckpt_name": None, "revision": None, **_model_fields(meta, info)}
        if meta.seed is not None:
            presence |= _P.SEED
            body["seed_low"] = meta.seed & 0xFFFFFFFF
            if meta.seed >> 32:
                presence |= _P.SEED_HIGH
                body["seed_high"] = meta.seed >> 32
        if meta.steps != d.steps:
            presence |= _P.STEPS
            body["steps"] = meta.steps
        if meta.guidance_scale != d.guidance_scale:
            presence |= _P.GUIDANCE
            body["guidance"] = meta.guidance_scale
        if meta.scheduler != d.scheduler:
            presence |= _P.SCHEDULER
            body["scheduler"] = scheduler_code(meta.scheduler)
        if (meta.width, meta.height) != (d.width, d.height):
            presence |= _P.SIZE
            body["width"], body["height"] = meta.width, meta.height
        if meta.clip_skip != d.clip_skip:
            presence |= _P.CLIP_SKIP
            body["clip_skip"] = meta.clip_skip
        if meta.platform is not None:
            p = meta.platform
            presence |= _P.PLATFORM
            body["platform"] = PlatformBody.build({
                "device": p.device_code, "dtype": p.dtype_code, "rng_device": p.rng_code,
                "flags": p.flag_bits, "threads": p.threads, "accelerator": p.accelerator,
                "torch": p.torch, "diffusers": p.diffusers, "transformers": p.transformers})
        if text_block is not None:
            presence |= _P.TEXT
            body["text"] = text_block
        elif meta.prompt or meta.negative_prompt:
            presence |= _P.TEXT
            body["text"] = encode_text(meta.prompt, meta.negative_prompt, text_method)
    els = element_bodies(f, source_body=source_body)
    if els:
        presence |= _P.ELEMENTS
        body["elements"] = [{"offset": None, "type": i << 1 | int(c), "data": data}
                            for i, c, data in els]
    elif meta is None:
        raise errors.MetaError("a file without generation syntax needs a pixel payload "
                               "or other elements")
    body["presence"] = presence
    raw = _fast_build(body) if FAST else None
    if raw is None:
        try:
            raw = Body.build(body)
        except FieldError as e:
            raise _KIND.get(e.kind, errors.MalformedError)(e.message) from None
    out = spec.HEADER + raw
    if limit and len(out) + CHECK_SIZE > spec.MAX_FILE_BYTES:
        raise errors.LimitExceededError(f"file would be {len(out) + 2} bytes, the limit is "
                                        f"{spec.MAX_FILE_BYTES}")
    if not seal:
        return out
    return out + check_value(out, len(out) + CHECK_SIZE).to_bytes(2, "big")


def check_value(data: bytes, file_size: int) -> int:
    """The integrity check of a file whose bytes before the check are ``data``."""
    return crc_hqx(file_size.to_bytes(4, "big"), crc_hqx(data, 0xFFFF))


# ============================================================================ reading
def _to_bytes(src: Source) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    if hasattr(src, "read"):
        data = src.read(spec.MAX_FILE_BYTES + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise errors.AigifError("file object must be opened in binary mode")
        return bytes(data)
    try:
        with open(src, "rb") as fh:
            return fh.read(spec.MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise errors.FileAccessError(f"no such file: {os.fspath(src)}") from None
    except IsADirectoryError:
        raise errors.FileAccessError(f"{os.fspath(src)} is a directory, not an AIGIF file") from None
    except PermissionError:
        raise errors.FileAccessError(f"permission denied: {os.fspath(src)}") from None
    except OSError as e:
        raise errors.FileAccessError(f"cannot read {os.fspath(src)}: {e.strerror or e}") from None


def _parse(schema, data: bytes, base: int, field: str):
    stream = _io.BytesIO(data)
    try:
        obj = schema.parse_stream(stream)
    except FieldError as e:
        off = None if e.offset is None else base + e.offset
        raise _KIND.get(e.kind, errors.MalformedError)(e.message, offset=off,
                                                       field=field) from None
    except StreamError:
        raise errors.TruncatedError(f"{field} ends before its declared fields",
                                    offset=base + len(data), field=field) from None
    except ConstructError as e:
        raise errors.MalformedError(f"{field}: {e}", offset=base, field=field) from None
    return obj, stream.tell()


def _check_header(data: bytes) -> None:
    if data[:HEADER_SIZE] == spec.HEADER and MIN_SIZE <= len(data) <= spec.MAX_FILE_BYTES:
        return   # the common case: every check below passes
    sig = spec.SIGNATURE
    head = data[:len(sig) + 1]
    mark_ok = len(head) <= len(sig) or head[len(sig)] & 0xF0 == spec.VERSION_MARK
    if head[:len(sig)] != sig[:len(head)] or not mark_ok:
        raise errors.NotAigifError(f"not an AIGIF file: expected signature {spec.HEADER!r}, "
                                   f"found {data[:len(spec.HEADER)]!r}", offset=0)
    if len(data) < HEADER_SIZE:
        raise errors.TruncatedError(f"file is {len(data)} bytes: it ends inside the signature",
                                    offset=len(data))
    version = data[len(sig)] & 0x0F
    if version != spec.VERSION:
        raise errors.UnsupportedVersionError(
            f"format version {version} is not supported (this reader reads version "
            f"{spec.VERSION}); upgrade aigif", offset=len(sig), field="version")
    if len(data) > spec.MAX_FILE_BYTES:
        raise errors.LimitExceededError(f"file is over {spec.MAX_FILE_BYTES} bytes",
                                        offset=spec.MAX_FILE_BYTES)
    if len(data) < MIN_SIZE:
        raise errors.TruncatedError(f"file is {len(data)} bytes, the smallest AIGIF file is "
                                    f"{MIN_SIZE}", offset=len(data))


def loads(src: Source, *, strict: bool = True, cls: type[FileData] = FileData) -> FileData:
    """Parse AIGIF bytes (or a path / binary file object) into ``cls`` (FileData; the public
    ``aigif.loads`` gives an AigifFile).

    ``strict=True`` (default) also refuses non-canonical encodings (values equal to a
    default stored explicitly, over-long forms, unsorted elements). Raises only
    AigifError subclasses, whatever the bytes.

    Example::

        f = aigif.loads(data)
        print(f.meta.prompt)
    """
    data = _to_bytes(src)
    _check_header(data)
    want = check_value(data[:-CHECK_SIZE], len(data))
    got = int.from_bytes(data[-CHECK_SIZE:], "big")
    if want != got:
        raise errors.ChecksumError(
            f"integrity check failed: stored CRC 0x{got:04x}, computed 0x{want:04x}; the file "
            f"is corrupt, truncated, or has bytes appended", offset=len(data) - CHECK_SIZE,
            field="check")
    return _parse_body(data, strict, cls)


def _parse_body(data: bytes, strict: bool, cls: type[FileData]) -> FileData:
    raw = data[HEADER_SIZE:-CHECK_SIZE]
    body = _fast_parse(raw) if FAST else None
    if body is None:
        body, n = _parse(Body, raw, HEADER_SIZE, "body")
        if n != len(raw):       # only without TEXT (the text block runs to the end)
            raise errors.MalformedError(f"{len(raw) - n} unexpected bytes after the body's "
                                        f"last field", offset=HEADER_SIZE + n, field="body")
    pr = body.presence
    meta = None
    exts: dict[str, Any] = {}
    values: dict[str, Any] = {}
    unknown: list[RawElement] = []
    if body.elements is not None:
        if not body.elements and strict:
            raise errors.CanonicalFormError("empty element list is present", offset=HEADER_SIZE,
                                            field="elements")
        if len(body.elements) > spec.MAX_ELEMENTS:
            raise errors.LimitExceededError(f"{len(body.elements)} elements, the limit is "
                                            f"{spec.MAX_ELEMENTS}", field="elements")
        _read_elements(body.elements, strict, values, exts, unknown)
    text_method = None
    params, loras = values.pop("params", {}), values.pop("loras", ())
    stages = values.pop("stages", None)
    video = values.pop("video", None)
    if not pr & _P.NO_MODEL:
        meta, text_method = _meta(body, data, params, loras, exts, strict, stages, video)
    elif body.elements is None:
        raise errors.MalformedError("file without model has no elements", offset=HEADER_SIZE)
    if meta is None and (params or loras or exts or stages or video):
        raise errors.MalformedError("generation elements in a file without generation syntax",
                                    offset=HEADER_SIZE, field="elements")
    _check_payload_kind(pr, values.get("payload"))
    if FAST:
        return cls._from_reader(meta, values, unknown, text_method, len(data))
    return cls(meta=meta, unknown_elements=tuple(unknown), text_method=text_method,
               size=len(data), **values)


def _payload_kind(p: Payload | None) -> str | None:
    return None if p is None else codec_kind(p.codec)


def _check_payload_kind(pr: int, payload: Payload | None) -> None:
    """A file's kind (the VIDEO bit) against its payload's: a video codec's payload in a
    video file only, an image codec's in an image file only; a file without model has
    VIDEO exactly when its payload is a video (spec 3.1). Codecs this reader does not
    know are not checked."""
    kind = _payload_kind(payload)
    video = bool(pr & _P.VIDEO)
    if pr & _P.NO_MODEL and video and payload is None:
        raise errors.MalformedError("VIDEO in a file without model and without a video "
                                    "payload", offset=HEADER_SIZE, field="video")
    if kind is not None and (kind == "video") != video:
        raise errors.MalformedError(
            f"a {kind} payload ({payload.codec}) in a file whose VIDEO bit is "
            f"{'set' if video else 'not set'}: a file's payload is of the file's kind",
            offset=HEADER_SIZE, field="pixels")


def _read_elements(frames, strict: bool, values: dict, exts: dict, unknown: list) -> None:
    last = -1
    seen = set()
    for fr in frames:
        eid, crit = fr.type >> 1, bool(fr.type & 1)
        off = HEADER_SIZE + fr.offset
        doff = off + len(uvarint(fr.type)) + len(uvarint(len(fr.data)))
        where = f"elements[{eid}]"
        if eid in seen:
            raise errors.MalformedError(f"element {eid} appears twice", offset=off, field=where)
        seen.add(eid)
        if eid < last and strict:
            raise errors.CanonicalFormError("elements are not in ascending id order",
                                            offset=off, field=where)
        last = max(last, eid)
        if eid in spec.ELEMENT_CRITICAL:
            el = spec.Element(eid)
            if spec.ELEMENT_CRITICAL[el] != crit:
                raise errors.MalformedError(
                    f"element {el.name} must be {'critical' if not crit else 'ancillary'}",
                    offset=off, field=where)
            rule = _RULES.get(eid)
            if rule is not None:
                values[rule.attr] = rule.read(bytes(fr.data), doff, strict)
            elif crit:  # a spec id without a v1 body definition (reserved)
                raise errors.UnknownCriticalElementError(
                    f"critical element {el.name} ({eid}) is not supported by this reader",
                    offset=off, field=where)
            else:
                unknown.append(RawElement(eid, crit, bytes(fr.data)))
            continue
        key = extensions.key_for_code(eid) if eid in spec.ELEMENT_PRIVATE else None
        if key is not None:
            ext = extensions.get(key)
            if ext.critical != crit:
                raise errors.MalformedError(f"extension {ext.key!r} criticality mismatch",
                                            offset=off, field=where)
            try:
                exts[ext.key] = ext.schema.parse(fr.data)
            except Exception as e:  # third-party schema: wrap everything
                raise errors.MalformedError(f"extension {ext.key!r}: {e}", offset=doff,
                                            field=f"extensions.{ext.key}") from None
        elif crit:
            raise errors.UnknownCriticalElementError(
                f"critical element {eid} is unknown to this reader; the file needs an "
                f"extension that is not installed", offset=off, field=where)
        else:
            unknown.append(RawElement(eid, crit, bytes(fr.data)))


_STORED_FIELDS = (("steps", _P.STEPS), ("guidance_scale", _P.GUIDANCE),
                  ("scheduler", _P.SCHEDULER), ("clip_skip", _P.CLIP_SKIP))
_STORED = _P.STEPS | _P.GUIDANCE | _P.SCHEDULER | _P.CLIP_SKIP | _P.SIZE


def _meta(body, data: bytes, params, loras, exts, strict: bool, stages=None, video=None):
    pr = body.presence
    m = body.model
    model_kw: dict[str, Any] = {}
    if m.kind >= spec.WELL_KNOWN_BASE:
        key = models.key_for_code(m.kind)
        if key is None:
            raise errors.UnsupportedVersionError(
                f"model code {m.kind} is not known to this reader (a newer well-known model); "
                f"upgrade aigif", offset=HEADER_SIZE, field="model")
        model_kw["model"] = key
    else:
        gkey = generators.key_for_code(m.generator)
        if gkey is None:
            raise errors.UnknownCriticalElementError(
                f"generator code {m.generator} is not registered here; install the extension "
                f"that provides it", offset=HEADER_SIZE, field="model.generator")
        model_kw["generator"] = gkey
        if m.kind == spec.ModelKind.LOCAL:
            info = model_for_hash(bytes(m.content_hash), gkey)
            model_kw["model"] = info.key if info else "local:" + bytes(m.content_hash).hex()
        elif m.kind == spec.ModelKind.CKPT:
            model_kw["model"] = "ckpt:" + m.ckpt_name
            model_kw["model_revision"] = m.revision or None
        else:
            model_kw["model"] = m.hub_id
            model_kw["model_revision"] = m.revision or None
    seed = None
    if pr & _P.SEED:
        seed = body.seed_low | ((body.seed_high or 0) << 32)
        if strict and pr & _P.SEED_HIGH and not body.seed_high:
            raise errors.CanonicalFormError("SEED_HIGH is present but zero", field="seed")
    platform = None
    if body.platform is not None:
        o = _parse_all(PlatformBody, body.platform, HEADER_SIZE, "platform")
        try:
            if o.flags & ~spec.KNOWN_DETERMINISM_BITS:
                raise ValueError(f"unknown determinism flags 0x{o.flags:x}")
            platform = Platform.from_codes(o.device, o.dtype, o.rng_device, o.flags, o.threads,
                                           o.accelerator, o.torch, o.diffusers, o.transformers)
        except (ValueError, errors.MetaError) as e:
            raise errors.MalformedError(f"platform: {e}", offset=HEADER_SIZE,
                                        field="platform") from None
    prompt = negative = ""
    text_method = None
    if body.text is not None:
        if len(body.text) > spec.MAX_TEXT_BLOCK_BYTES:
            raise errors.LimitExceededError("text block over the limit",
                                            offset=HEADER_SIZE + body.text_offset, field="text")
        try:
            prompt, negative, text_method = decode_text(body.text)
        except errors.AigifError as e:
            e.offset = HEADER_SIZE + body.text_offset
            raise
        except Exception as e:  # a text method must never leak another exception type
            raise errors.MalformedError(f"text block: {e}", offset=HEADER_SIZE + body.text_offset,
                                        field="text") from None
        if strict and not prompt and not negative:
            raise errors.CanonicalFormError("text block present but both prompts are empty",
                                            offset=HEADER_SIZE + body.text_offset, field="text")
    kw: dict[str, Any] = dict(model_kw, prompt=prompt, negative_prompt=negative, seed=seed,
                              platform=platform, params=params, loras=loras,
                              extensions=exts)
    if body.scheduler is not None:
        key = scheduler_key(body.scheduler)
        if key is None:
            raise errors.MalformedError(f"unknown scheduler code {body.scheduler}",
                                        offset=HEADER_SIZE, field="scheduler")
        kw["scheduler"] = key
    for name, val in (("steps", body.steps), ("guidance_scale", body.guidance),
                      ("width", body.width), ("height", body.height),
                      ("clip_skip", body.clip_skip)):
        if val is not None:
            kw[name] = val
    if stages is not None:
        kw["stages"] = _stages_of(stages)
    _video_of(video, pr, kw)
    meta = GenerationMeta._from_reader(kw) if FAST else None
    if meta is None:
        try:
            meta = GenerationMeta(**kw)
        except errors.MetaError as e:
            if e.field == "video" and not pr & _P.VIDEO:
                raise errors.MalformedError(e.message, offset=HEADER_SIZE, field="video") from None
            kind = (errors.LimitExceededError if e.field == "video.frames"
                    else errors.MalformedError)   # frames x width x height over the limit
            raise kind(f"invalid value: {e.message}", offset=HEADER_SIZE,
                       field=e.field) from None
    _check_video(meta, pr, video, strict)
    if strict and pr & _STORED:
        d = meta.defaults
        for name, bit in _STORED_FIELDS:
            if pr & bit and getattr(meta, name) == getattr(d, name):
                raise errors.CanonicalFormError(f"{name} is stored but equals the default",
                                                offset=HEADER_SIZE, field=name)
        if pr & _P.SIZE and (meta.width, meta.height) == (d.width, d.height):
            raise errors.CanonicalFormError("size is stored but equals the default",
                                            offset=HEADER_SIZE, field="width")
    if strict and stages is not None:
        _check_stages_canonical(stages, meta)
    return meta, text_method
