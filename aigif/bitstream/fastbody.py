"""A hand-written mirror of ``elements.Body``: the v1 body parsed and built without construct.

``elements.Body`` stays the reference syntax. ``parse_body`` gives what ``Body.parse``
gives (an object with the same attributes) for a body the schema accepts, and None for
anything else: the caller then parses with the schema, so every error, its message and
its offset come from the reference. ``build_body`` gives ``Body.build(body)`` for the
bodies the writer makes, or None (the caller then builds with the schema).
``tests/test_io_fast.py`` holds the two paths equal on the conformance vectors, ~10k
mutants of them and generated metadata.
"""
from __future__ import annotations

import struct

from .. import spec
from ..spec import Presence
from .primitives import _guidance_mode, read_uvarint, write_uvarint

__all__ = ["parse_body", "build_body", "FastBody", "FastModel", "FastFrame"]

_KNOWN = spec.KNOWN_PRESENCE_BITS
_TEXT, _SEED, _STEPS, _GUIDANCE = (int(Presence.TEXT), int(Presence.SEED), int(Presence.STEPS),
                                   int(Presence.GUIDANCE))
_SCHEDULER, _SIZE, _CLIP_SKIP = (int(Presence.SCHEDULER), int(Presence.SIZE),
                                 int(Presence.CLIP_SKIP))
_SEED_HIGH, _PLATFORM, _ELEMENTS, _NO_MODEL = (int(Presence.SEED_HIGH), int(Presence.PLATFORM),
                                               int(Presence.ELEMENTS), int(Presence.NO_MODEL))
_WK = spec.WELL_KNOWN_BASE
_HUB, _LOCAL, _CKPT = (int(spec.ModelKind.HUB), int(spec.ModelKind.LOCAL),
                       int(spec.ModelKind.CKPT))
_STR = spec.MAX_STRING_BYTES
_PLATFORM_LIMIT = spec.MAX_STRING_BYTES * 5 + 64   # as elements.Body's platform field
_MAX_DIM = spec.MAX_DIMENSION
_HALF, _MILLI, _FLOAT64 = (int(spec.GuidanceMode.HALF), int(spec.GuidanceMode.MILLI),
                           int(spec.GuidanceMode.FLOAT64))
_U32 = struct.Struct(">I")
_F64 = struct.Struct(">d")


class FastModel:
    __slots__ = ("kind", "generator", "hub_id", "content_hash", "ckpt_name", "revision")


class FastFrame:
    __slots__ = ("offset", "type", "data")

    def __init__(self, offset: int, type_: int, data: bytes):
        self.offset, self.type, self.data = offset, type_, data


class FastBody:
    __slots__ = ("presence", "model", "seed_low", "seed_high", "steps", "guidance",
                 "scheduler", "width", "height", "clip_skip", "platform", "elements",
                 "text_offset", "text")


class _Unusual(Exception):
    """A shape the fast parser leaves to the schema."""


def _utf8(raw: bytes, pos: int) -> tuple[str, int]:
    n = raw[pos]
    if n < 0x80:
        pos += 1
    else:
        n, pos = read_uvarint(raw, pos)
    end = pos + n
    if n > _STR or end > len(raw):
        raise _Unusual
    return raw[pos:end].decode("utf-8"), end


def _dimension(raw: bytes, pos: int) -> tuple[int, int]:
    v = raw[pos]
    if v < 0x80:
        pos += 1
    else:
        v, pos = read_uvarint(raw, pos)
    q = v >> 1
    if v & 1:                      # PIXELS
        if q % 64 == 0:
            raise _Unusual
        d = q
    else:                          # UNIT64
        d = q * 64
    if not 1 <= d <= _MAX_DIM:
        raise _Unusual
    return d, pos


def parse_body(raw: bytes) -> FastBody | None:
    """``Body.parse(raw)`` for a body the schema accepts (and a file with a model); None
    for any other input. Never raises."""
    try:
        return _parse(raw)
    except Exception:  # noqa: BLE001 - any doubt goes to the reference parser
        return None


def _parse(raw: bytes) -> FastBody:
    rv = read_uvarint
    pr = raw[0]
    pos = 1
    if pr >= 0x80:
        pr, pos = rv(raw, 0)
    if pr & ~_KNOWN or pr & _NO_MODEL or (pr & _SEED_HIGH and not pr & _SEED):
        raise _Unusual
    b = FastBody()
    b.presence = pr
    m = FastModel()
    kind = raw[pos]
    if kind < 0x80:
        pos += 1
    else:
        kind, pos = rv(raw, pos)
    m.kind = kind
    m.generator = m.hub_id = m.content_hash = m.ckpt_name = m.revision = None
    if kind < _WK:
        m.generator, pos = rv(raw, pos)
        if kind == _HUB:
            m.hub_id, pos = _utf8(raw, pos)
            m.revision, pos = _utf8(raw, pos)
        elif kind == _LOCAL:
            h = raw[pos:pos + 16]
            if len(h) != 16:
                raise _Unusual
            m.content_hash = h
            pos += 16
        elif kind == _CKPT:
            m.ckpt_name, pos = _utf8(raw, pos)
            m.revision, pos = _utf8(raw, pos)
        else:
            raise _Unusual
    b.model = m
    if pr & _SEED:
        b.seed_low = _U32.unpack_from(raw, pos)[0]
        pos += 4
        if pr & _SEED_HIGH:
            b.seed_high = _U32.unpack_from(raw, pos)[0]
            pos += 4
        else:
            b.seed_high = None
    else:
        b.seed_low = b.seed_high = None
    if pr & _STEPS:
        v = raw[pos]
        if v < 0x80:
            pos += 1
        else:
            v, pos = rv(raw, pos)
        b.steps = v
    else:
        b.steps = None
    if pr & _GUIDANCE:
        v = raw[pos]
        if v < 0x80:
            pos += 1
        else:
            v, pos = rv(raw, pos)
        mode, q = v & 3, v >> 2
        if mode == _HALF:
            g = q / 2
        elif mode == _MILLI:
            if q % 500 == 0:
                raise _Unusual
            g = q / 1000
        elif mode == _FLOAT64 and not q:
            g = _F64.unpack_from(raw, pos)[0]
            pos += 8
            if not 0 <= g < float("inf") or _guidance_mode(g)[0] != _FLOAT64:
                raise _Unusual
        else:
            raise _Unusual
        b.guidance = g
    else:
        b.guidance = None
    if pr & _SCHEDULER:
        v = raw[pos]
        if v < 0x80:
            pos += 1
        else:
            v, pos = rv(raw, pos)
        b.scheduler = v
    else:
        b.scheduler = None
    if pr & _SIZE:
        b.width, pos = _dimension(raw, pos)
        b.height, pos = _dimension(raw, pos)
    else:
        b.width = b.height = None
    if pr & _CLIP_SKIP:
        v = raw[pos]
        if v < 0x80:
            pos += 1
        else:
            v, pos = rv(raw, pos)
        b.clip_skip = v
    else:
        b.clip_skip = None
    if pr & _PLATFORM:
        n, pos = rv(raw, pos)
        end = pos + n
        if n > _PLATFORM_LIMIT or end > len(raw):
            raise _Unusual
        b.platform = raw[pos:end]
        pos = end
    else:
        b.platform = None
    if pr & _ELEMENTS:
        count, pos = rv(raw, pos)
        if count > spec.MAX_ELEMENTS:
            raise _Unusual
        frames = []
        for _ in range(count):
            start = pos
            t, pos = rv(raw, pos)
            n, pos = rv(raw, pos)
            end = pos + n
            if n > spec.MAX_ELEMENT_BYTES or end > len(raw):
                raise _Unusual
            frames.append(FastFrame(start, t, raw[pos:end]))
            pos = end
        b.elements = frames
    else:
        b.elements = None
    b.text_offset = pos
    # the schema reads the text to the end when TEXT is set, and stops here otherwise
    # (bytes left over then are malformed: the reference parser says so)
    if not pr & _TEXT and pos != len(raw):
        raise _Unusual
    b.text = raw[pos:] if pr & _TEXT else None
    return b


# ----------------------------------------------------------------------------- writing
def _w_utf8(s: str, out: bytearray) -> None:
    b = s.encode("utf-8")
    if len(b) > _STR:
        raise _Unusual
    write_uvarint(len(b), out)
    out += b


def build_body(body: dict) -> bytes | None:
    """``Body.build(body)`` for a body dict as ``aigif.io.dumps`` makes it (a file with a
    model); None for anything the schema would refuse or that the fast writer leaves to it.
    Never raises."""
    try:
        return _build(body)
    except Exception:  # noqa: BLE001 - any doubt goes to the reference writer
        return None


def _build(body: dict) -> bytes:
    wv = write_uvarint
    out = bytearray()
    pr = body["presence"]
    if type(pr) is not int or pr & ~_KNOWN or pr & _NO_MODEL or (
            pr & _SEED_HIGH and not pr & _SEED):
        raise _Unusual
    wv(pr, out)
    m = body["model"]
    kind = int(m["kind"])
    wv(kind, out)
    if kind < _WK:
        wv(int(m["generator"]), out)
        if kind == _HUB:
            _w_utf8(m["hub_id"], out)
            _w_utf8(m["revision"], out)
        elif kind == _LOCAL:
            h = m["content_hash"]
            if type(h) is not bytes or len(h) != 16:
                raise _Unusual
            out += h
        elif kind == _CKPT:
            _w_utf8(m["ckpt_name"], out)
            _w_utf8(m["revision"], out)
        else:
            raise _Unusual
    if pr & _SEED:
        out += _U32.pack(body["seed_low"])
        if pr & _SEED_HIGH:
            out += _U32.pack(body["seed_high"])
    if pr & _STEPS:
        v = int(body["steps"])
        if 0 <= v < 0x80:
            out.append(v)
        else:
            wv(v, out)
    if pr & _GUIDANCE:
        g = float(body["guidance"])
        mode, q = _guidance_mode(g)
        wv(q << 2 | mode, out)
        if mode == _FLOAT64:
            out += _F64.pack(g)
    if pr & _SCHEDULER:
        v = int(body["scheduler"])
        if 0 <= v < 0x80:
            out.append(v)
        else:
            wv(v, out)
    if pr & _SIZE:
        for name in ("width", "height"):
            d = int(body[name])
            wv((d // 64) << 1 if d % 64 == 0 else d << 1 | 1, out)
    if pr & _CLIP_SKIP:
        wv(int(body["clip_skip"]), out)
    if pr & _PLATFORM:
        p = body["platform"]
        if type(p) is not bytes or len(p) > _PLATFORM_LIMIT:
            raise _Unusual
        wv(len(p), out)
        out += p
    if pr & _ELEMENTS:
        els = body["elements"]
        if len(els) > spec.MAX_ELEMENTS:
            raise _Unusual
        wv(len(els), out)
        for fr in els:
            data = fr["data"]
            if type(data) is not bytes or len(data) > spec.MAX_ELEMENT_BYTES:
                raise _Unusual
            wv(int(fr["type"]), out)
            wv(len(data), out)
            out += data
    if pr & _TEXT:
        t = body["text"]
        if type(t) is not bytes:
            raise _Unusual
        out += t
    return bytes(out)
