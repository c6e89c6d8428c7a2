"""Bytes <-> AigifFile: canonical write, strict (default) or lenient read.

Layout of a file (normative text: spec/aigif-v1.md)::

    "AI"  0xF0|version (1 byte)  body  check (2 bytes, big-endian)

The check is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over every byte before it
followed by the whole file's length as a 32-bit big-endian integer: it detects every
single-byte corruption, and appended or removed bytes change the length it covers. Reading never imports torch, diffusers or numpy.
"""
from __future__ import annotations

import io as _io
import os
import struct
from binascii import crc_hqx
from pathlib import Path
from typing import IO, Any, Union

from construct import ConstructError, StreamError

from . import errors, spec
from ._atomic import write_atomic
from .bitstream.elements import (Body, ELEMENT_SCHEMAS, KeyValues, LorasBody, PlatformBody,
                                  TextKeyValues)
from .bitstream.primitives import FieldError
from .document import AigifFile, Fingerprint, Payload, RawElement
from .meta import GenerationMeta, Lora, Platform, _CKPT, _LOCAL, scheduler_code, scheduler_key
from .registry import generators, model_for_hash, models
from .spec import Element, Presence
from .textcoding import decode_text, encode_text, write_varint

__all__ = ["dumps", "loads", "save", "open_file", "HEADER_SIZE", "CHECK_SIZE"]

HEADER_SIZE = len(spec.HEADER)
CHECK_SIZE = 2
MIN_SIZE = HEADER_SIZE + 1 + CHECK_SIZE

_KIND = {
    "malformed": errors.MalformedError,
    "noncanonical": errors.CanonicalFormError,
    "limit": errors.LimitExceededError,
    "version": errors.UnsupportedVersionError,
}

class _P:
    """Presence bits as plain ints (IntFlag arithmetic is slow on the hot path)."""


for _b in Presence:
    setattr(_P, _b.name, int(_b))

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]


# ============================================================================ extensions
class _Extension:
    __slots__ = ("key", "id", "critical", "schema")

    def __init__(self, key, id_, critical, schema):
        self.key, self.id, self.critical, self.schema = key, id_, critical, schema


_extensions_by_id: dict[int, _Extension] = {}
_extensions_by_key: dict[str, _Extension] = {}


def register_extension(key: str, code: int, schema: Any, *, critical: bool = False,
                       override: bool = False) -> None:
    """Register a third-party extension element.

    ``code`` is an element id in the private range 4096..8191; ``schema`` is a construct
    construct (``schema.build(value)`` / ``schema.parse(data)``) describing the body.
    Values live in ``GenerationMeta.extensions[key]``. ``critical=True`` means a reader
    that does not know the element must refuse the file. Raises RegistryError.

    Example::

        from construct import Struct, Int8ub
        aigif.register_extension("acme.style", 4096, Struct("level" / Int8ub))
    """
    if code not in spec.ELEMENT_PRIVATE:
        raise errors.RegistryError(f"extension code {code} is outside the private range "
                                   f"{spec.ELEMENT_PRIVATE.start}..{spec.ELEMENT_PRIVATE.stop - 1}")
    if not hasattr(schema, "build") or not hasattr(schema, "parse"):
        raise errors.RegistryError("schema must be a construct construct (build/parse)")
    if not override and (code in _extensions_by_id or key in _extensions_by_key):
        raise errors.RegistryError(f"extension {key!r} / code {code} is already registered")
    ext = _Extension(key, code, bool(critical), schema)
    _extensions_by_id[code] = ext
    _extensions_by_key[key] = ext


def unregister_extension(key: str) -> None:
    ext = _extensions_by_key.pop(key, None)
    if ext is not None:
        _extensions_by_id.pop(ext.id, None)


# ============================================================================ writing
def _varint(n: int) -> bytes:
    out = bytearray()
    write_varint(n, out)
    return bytes(out)


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
    try:
        return int(spec.Codec[key.upper()])
    except KeyError:
        pass
    try:
        from .codecs import codec_code  # third-party codecs (lazy, optional)
        return codec_code(key)
    except ImportError:
        pass
    raise errors.MetaError(f"unknown pixel codec {key!r}; expected one of "
                           f"{', '.join(c.name.lower() for c in spec.Codec)}", field="payload")


def _codec_key(code: int) -> str:
    try:
        return spec.Codec(code).name.lower()
    except ValueError:
        try:
            from .codecs import codec_key
            k = codec_key(code)
            if k:
                return k
        except ImportError:
            pass
        return f"codec-{code}"


def _model_fields(meta: GenerationMeta) -> dict:
    info = meta._model_info()
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


def _elements(f: AigifFile) -> list[tuple[int, bool, bytes]]:
    out: list[tuple[int, bool, bytes]] = []
    crit = spec.ELEMENT_CRITICAL
    meta = f.meta
    if f.fingerprint is not None:
        fp = f.fingerprint
        out.append((Element.FINGERPRINT, crit[Element.FINGERPRINT], ELEMENT_SCHEMAS[
            Element.FINGERPRINT].build({"algo": fp.algo, "width": fp.width, "height": fp.height,
                                        "digest": fp.digest})))
    if f.payload is not None:
        out.append((Element.PIXELS, crit[Element.PIXELS],
                    _varint(_codec_code(f.payload.codec)) + bytes(f.payload.data)))
    if f.info:
        out.append((Element.INFO, crit[Element.INFO], _kv_text(f.info)))
    if f.source:
        raw = _kv_text(f.source)
        import brotli
        # quality 11 costs ~4 s/MB: big workflow graphs get quality 9 (deterministic rule)
        comp = (brotli.compress(raw, quality=11) if len(raw) <= 65536
                else brotli.compress(raw, quality=9, lgwin=24))
        body = b"\x01" + comp if len(comp) + 1 < len(raw) + 1 else b"\x00" + raw
        out.append((Element.SOURCE, crit[Element.SOURCE], body))
    if meta is not None and meta.params:
        items = [{"key": k, "value": _typed(v)} for k, v in sorted(meta.params.items())]
        out.append((Element.PARAMS, crit[Element.PARAMS],
                    KeyValues.build(items)))
    if meta is not None and meta.loras:
        items = [{"name": lo.name, "weight": lo.weight,
                  "has_clip_weight": int(lo.clip_weight is not None),
                  "clip_weight": lo.clip_weight, "sha256": bytes.fromhex(
                      lo.sha256 if len(lo.sha256) % 2 == 0 else lo.sha256 + "0")[:32]
                  if lo.sha256 else b""} for lo in meta.loras]
        if any(len(lo.sha256) % 2 for lo in meta.loras):
            raise errors.MetaError("LoRA sha256 must have an even number of hex digits",
                                   field="loras.sha256")
        out.append((Element.LORAS, crit[Element.LORAS],
                    LorasBody.build(items)))
    if f.residual is not None:
        out.append((Element.RESIDUAL, crit[Element.RESIDUAL], bytes(f.residual)))
    if meta is not None:
        for key, value in meta.extensions.items():
            ext = _extensions_by_key.get(key)
            if ext is None:
                raise errors.MetaError(f"extension {key!r} is not registered "
                                       f"(aigif.register_extension)", field=f"extensions.{key}")
            try:
                data = ext.schema.build(value)
            except (ConstructError, FieldError, ValueError, TypeError) as e:
                raise errors.MetaError(f"extension {key!r} value does not fit its schema: {e}",
                                       field=f"extensions.{key}") from e
            out.append((ext.id, ext.critical, data))
    for raw_el in f.unknown_elements:
        out.append((raw_el.type_id, raw_el.critical, bytes(raw_el.data)))
    out.sort(key=lambda e: e[0])
    for a, b in zip(out, out[1:]):
        if a[0] == b[0]:
            raise errors.MetaError(f"element id {a[0]} appears twice")
    if len(out) > spec.MAX_ELEMENTS:
        raise errors.LimitExceededError(f"{len(out)} elements, the limit is {spec.MAX_ELEMENTS}")
    return out


def _kv_text(d) -> bytes:
    items = [{"key": k, "value": v} for k, v in sorted(d.items())]
    for k, v in d.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise errors.MetaError("info/source keys and values must be strings")
    try:
        return TextKeyValues.build(items)
    except FieldError as e:
        raise errors.LimitExceededError(e.message, field="info") from None


def dumps(obj: GenerationMeta | AigifFile, *, text_method: int | None = None) -> bytes:
    """Serialize a GenerationMeta (or an AigifFile) to canonical AIGIF bytes.

    The same input always gives the same bytes. ``text_method`` forces a prompt coding
    method (``spec.TextMethod``); by default the shortest is used. Raises MetaError /
    LimitExceededError for values the format cannot hold.

    Example::

        data = aigif.dumps(GenerationMeta(model="sd15", prompt="a cat", seed=1))
    """
    f = obj if isinstance(obj, AigifFile) else AigifFile(meta=obj)
    if not isinstance(f, AigifFile) or (f.meta is not None and not isinstance(f.meta, GenerationMeta)):
        raise errors.MetaError(f"expected a GenerationMeta or AigifFile, found {type(obj).__name__}")
    if text_method is None:
        text_method = f.text_method if f.text_method is not None and obj is f else None
    meta = f.meta
    body: dict[str, Any] = {k: None for k in ("model", "seed_low", "seed_high", "steps",
                                              "guidance", "scheduler", "width", "height",
                                              "clip_skip", "platform", "elements", "text")}
    presence = 0
    if meta is None:
        presence |= _P.NO_MODEL
    else:
        d = meta.defaults
        body["model"] = {"kind": 0, "generator": None, "hub_id": None, "content_hash": None,
                         "ckpt_name": None, "revision": None, **_model_fields(meta)}
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
        if meta.prompt or meta.negative_prompt:
            presence |= _P.TEXT
            body["text"] = encode_text(meta.prompt, meta.negative_prompt, text_method)
    els = _elements(f)
    if els:
        presence |= _P.ELEMENTS
        body["elements"] = [{"offset": None, "type": i << 1 | int(c), "data": data}
                            for i, c, data in els]
    elif meta is None:
        raise errors.MetaError("a file without generation syntax needs a pixel payload "
                               "or other elements")
    body["presence"] = presence
    try:
        raw = Body.build(body)
    except FieldError as e:
        raise _KIND.get(e.kind, errors.MalformedError)(e.message) from None
    out = spec.HEADER + raw
    if len(out) + CHECK_SIZE > spec.MAX_FILE_BYTES:
        raise errors.LimitExceededError(f"file would be {len(out) + 2} bytes, the limit is "
                                        f"{spec.MAX_FILE_BYTES}")
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


def loads(src: Source, *, strict: bool = True) -> AigifFile:
    """Parse AIGIF bytes (or a path / binary file object) into an AigifFile.

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
    return _parse_body(data, strict)


def _parse_body(data: bytes, strict: bool) -> AigifFile:
    raw = data[HEADER_SIZE:-CHECK_SIZE]
    body, _ = _parse(Body, raw, HEADER_SIZE, "body")
    pr = body.presence
    meta = None
    extensions: dict[str, Any] = {}
    params: dict[str, Any] = {}
    loras: tuple = ()
    info: dict[str, str] = {}
    source: dict[str, str] = {}
    payload = fingerprint = residual = None
    unknown: list[RawElement] = []
    if body.elements is not None:
        last = -1
        if not body.elements and strict:
            raise errors.CanonicalFormError("empty element list is present", offset=HEADER_SIZE,
                                            field="elements")
        if len(body.elements) > spec.MAX_ELEMENTS:
            raise errors.LimitExceededError(f"{len(body.elements)} elements, the limit is "
                                            f"{spec.MAX_ELEMENTS}", field="elements")
        seen = set()
        for fr in body.elements:
            eid, crit = fr.type >> 1, bool(fr.type & 1)
            off = HEADER_SIZE + fr.offset
            doff = off + len(_varint(fr.type)) + len(_varint(len(fr.data)))
            where = f"elements[{eid}]"
            if eid in seen:
                raise errors.MalformedError(f"element {eid} appears twice", offset=off, field=where)
            seen.add(eid)
            if eid < last and strict:
                raise errors.CanonicalFormError("elements are not in ascending id order",
                                                offset=off, field=where)
            last = max(last, eid)
            known = eid in spec.ELEMENT_CRITICAL
            if known and spec.ELEMENT_CRITICAL[spec.Element(eid)] != crit:
                raise errors.MalformedError(
                    f"element {spec.Element(eid).name} must be "
                    f"{'critical' if not crit else 'ancillary'}", offset=off, field=where)
            if known:
                el = spec.Element(eid)
                if el == Element.FINGERPRINT:
                    o, _ = _parse_all(ELEMENT_SCHEMAS[el], fr.data, doff, "fingerprint")
                    fingerprint = Fingerprint(o.algo, o.width, o.height, bytes(o.digest))
                elif el == Element.PIXELS:
                    o, _ = _parse_all(ELEMENT_SCHEMAS[el], fr.data, doff, "pixels")
                    payload = Payload(_codec_key(o.codec), bytes(o.data))
                elif el == Element.INFO:
                    o, _ = _parse_all(TextKeyValues, fr.data, doff, "info")
                    info = _kv_dict(o, doff, "info", strict)
                elif el == Element.SOURCE:
                    source = _parse_source(fr.data, doff, strict)
                elif el == Element.PARAMS:
                    o, _ = _parse_all(KeyValues, fr.data, doff, "params")
                    params = _kv_dict(o, doff, "params", strict, typed=True)
                elif el == Element.LORAS:
                    o, _ = _parse_all(LorasBody, fr.data, doff, "loras")
                    try:
                        loras = tuple(Lora(i.name, i.weight, i.clip_weight, bytes(i.sha256).hex())
                                      for i in o)
                    except errors.MetaError as e:
                        raise errors.MalformedError(e.message, offset=doff, field="loras") from None
                elif el == Element.RESIDUAL:
                    residual = bytes(fr.data)
                else:  # a spec id without a v1 body definition (reserved)
                    if crit:
                        raise errors.UnknownCriticalElementError(
                            f"critical element {el.name} ({eid}) is not supported by this "
                            f"reader", offset=off, field=where)
                    unknown.append(RawElement(eid, crit, bytes(fr.data)))
            elif eid in _extensions_by_id:
                ext = _extensions_by_id[eid]
                if ext.critical != crit:
                    raise errors.MalformedError(f"extension {ext.key!r} criticality mismatch",
                                                offset=off, field=where)
                try:
                    extensions[ext.key] = ext.schema.parse(fr.data)
                except Exception as e:  # third-party schema: wrap everything
                    raise errors.MalformedError(f"extension {ext.key!r}: {e}", offset=doff,
                                                field=f"extensions.{ext.key}") from None
            elif crit:
                raise errors.UnknownCriticalElementError(
                    f"critical element {eid} is unknown to this reader; the file needs an "
                    f"extension that is not installed", offset=off, field=where)
            else:
                unknown.append(RawElement(eid, crit, bytes(fr.data)))
    text_method = None
    if not pr & _P.NO_MODEL:
        meta, text_method = _meta(body, data, params, loras, extensions, strict)
    elif body.elements is None:
        raise errors.MalformedError("file without model has no elements", offset=HEADER_SIZE)
    if meta is None and (params or loras or extensions):
        raise errors.MalformedError("generation elements in a file without generation syntax",
                                    offset=HEADER_SIZE, field="elements")
    return AigifFile(meta=meta, info=info, source=source, payload=payload,
                     fingerprint=fingerprint, residual=residual, unknown_elements=tuple(unknown),
                     text_method=text_method, size=len(data))


def _parse_all(schema, data: bytes, base: int, field: str):
    obj, n = _parse(schema, data, base, field)
    if n != len(data):
        raise errors.MalformedError(f"{field} has {len(data) - n} unexpected bytes after its "
                                    f"fields", offset=base + n, field=field)
    return obj, n


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


def _parse_source(data: bytes, off: int, strict: bool) -> dict[str, str]:
    if not data:
        raise errors.TruncatedError("empty source element", offset=off, field="source")
    method, rest = data[0], data[1:]
    if method == 1:
        import brotli
        limit = spec.MAX_ELEMENT_BYTES
        try:
            dec = brotli.Decompressor()
            raw = dec.process(rest, output_buffer_limit=limit + 1)
            if len(raw) > limit or not dec.is_finished():
                raise errors.MalformedError("source text is incomplete or over the limit",
                                            offset=off, field="source")
        except brotli.error as e:
            raise errors.MalformedError(f"source text is corrupt: {e}", offset=off,
                                        field="source") from None
    elif method == 0:
        raw = rest
    else:
        raise errors.MalformedError(f"unknown source coding {method}", offset=off, field="source")
    o, _ = _parse_all(TextKeyValues, raw, off + 1, "source")
    return _kv_dict(o, off, "source", strict)


def _meta(body, data: bytes, params, loras, extensions, strict: bool):
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
            info = model_for_hash(bytes(m.content_hash))
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
        o, _ = _parse_all(PlatformBody, body.platform, HEADER_SIZE, "platform")
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
                              extensions=extensions)
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
    try:
        meta = GenerationMeta(**kw)
    except errors.MetaError as e:
        raise errors.MalformedError(f"invalid value: {e.message}", offset=HEADER_SIZE,
                                    field=e.field) from None
    if strict:
        d = meta.defaults
        for name, bit in (("steps", _P.STEPS), ("guidance_scale", _P.GUIDANCE),
                          ("scheduler", _P.SCHEDULER), ("clip_skip", _P.CLIP_SKIP)):
            if pr & bit and getattr(meta, name) == getattr(d, name):
                raise errors.CanonicalFormError(f"{name} is stored but equals the default",
                                                offset=HEADER_SIZE, field=name)
        if pr & _P.SIZE and (meta.width, meta.height) == (d.width, d.height):
            raise errors.CanonicalFormError("size is stored but equals the default",
                                            offset=HEADER_SIZE, field="width")
    return meta, text_method


# ============================================================================ files
def save(obj: GenerationMeta | AigifFile | None, dest: str | os.PathLike | IO[bytes], *,
         image: Any = None, fallback: str | None = None, quality: int | None = None,
         lossless: bool = False, effort: int | None = None, info: dict | None = None,
         text_method: int | None = None) -> int:
    """Write an AIGIF file; return the number of bytes written.

    Paths are written atomically (a new temporary file in the same folder, then a rename):
    a failed write leaves the old file, or nothing; a new file gets ``0o666 & ~umask``, a
    replaced one keeps its mode. A symbolic link at ``dest`` is refused (FileAccessError):
    aigif never writes through one; remove it, or pass ``os.path.realpath(dest)`` to write
    its target. ``image`` adds a pixel payload
    coded with ``fallback`` (a codec key: "avif" by default, "webp", "jxl", "png", "jpeg")
    at ``quality`` / ``lossless`` / ``effort``; ``obj=None`` with an image
    makes a pixels-only file. Raises MetaError / LimitExceededError / CodecError.

    Example::

        n = aigif.save(GenerationMeta(model="sd15", prompt="a cat"), "cat.aigif")
    """
    f = obj if isinstance(obj, AigifFile) else AigifFile(meta=obj)
    if image is not None:
        from .codecs import encode_payload
        payload = encode_payload(image, codec=fallback or "avif", quality=quality,
                                 lossless=lossless, effort=effort)
        f = AigifFile(meta=f.meta, info=f.info, source=f.source, payload=payload,
                      fingerprint=f.fingerprint, residual=f.residual,
                      unknown_elements=f.unknown_elements, text_method=f.text_method)
    if info:
        f = AigifFile(meta=f.meta, info={**f.info, **info}, source=f.source, payload=f.payload,
                      fingerprint=f.fingerprint, residual=f.residual,
                      unknown_elements=f.unknown_elements, text_method=f.text_method)
    data = dumps(f, text_method=text_method)
    if hasattr(dest, "write"):
        dest.write(data)
        return len(data)
    return write_atomic(dest, data)


def open_file(src: Source, *, strict: bool = True) -> AigifFile:
    """Open an AIGIF file from a path, a binary file object or bytes (see ``loads``)."""
    return loads(src, strict=strict)
