"""construct primitives of the AIGIF bitstream.

Every primitive checks its limits and canonical form while parsing and raises a
``FieldError`` (converted to an ``AigifError`` by ``aigif.io`` with the byte offset and
field path). construct's compiled parsers are never used: input is untrusted.
"""
from __future__ import annotations

import math
import struct

from construct import Construct, StreamError, stream_read, stream_tell, stream_write

from .. import spec

__all__ = ["FieldError", "write_uvarint", "read_uvarint", "uvarint", "UVarint", "Utf8", "VarBytes", "Guidance", "Real", "Dimension",
           "Seed32", "U32"]


class FieldError(Exception):
    """Raised inside the schema; ``kind`` names the AigifError subclass to raise."""

    def __init__(self, kind: str, message: str, offset: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.offset = offset


def _tell(stream) -> int | None:
    try:
        return stream_tell(stream, None)
    except Exception:  # pragma: no cover
        return None


def write_uvarint(n: int, out: bytearray) -> None:
    """Append ``n`` (0 <= n < 2**64) as an unsigned LEB128 varint: 7 bits a byte, low group
    first, minimal form. The one varint writer of the package."""
    if n < 0 or n >= 1 << 64:
        raise FieldError("malformed", f"varint out of range: {n}")
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def uvarint(n: int) -> bytes:
    """``n`` as varint bytes."""
    out = bytearray()
    write_uvarint(n, out)
    return bytes(out)


def read_uvarint(data, pos: int = 0) -> tuple[int, int]:
    """``(value, next position)`` of the varint at ``data[pos:]``. The one varint reader:
    at most ``spec.MAX_VARINT_BYTES`` bytes, minimal form, under 2**64. Raises FieldError
    (kind "truncated", "malformed" or "limit"; offset = ``pos``)."""
    start = pos
    n = shift = 0
    end = len(data)
    for i in range(spec.MAX_VARINT_BYTES):
        if pos >= end:
            raise FieldError("truncated", "the data ends inside a varint", start)
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            if i and b == 0:
                raise FieldError("malformed", "over-long varint (not minimal)", start)
            if n >= 1 << 64:
                raise FieldError("limit", "varint over 64 bits", start)
            return n, pos
        shift += 7
    raise FieldError("malformed", "varint longer than 10 bytes", start)


class _UVarint(Construct):
    """Unsigned LEB128 (``read_uvarint`` / ``write_uvarint``) as a construct."""

    def _parse(self, stream, context, path):
        start = _tell(stream)
        buf = bytearray()
        while len(buf) < spec.MAX_VARINT_BYTES:
            b = stream_read(stream, 1, path)[0]
            buf.append(b)
            if not b & 0x80:
                break
        try:
            return read_uvarint(buf)[0]
        except FieldError as e:
            e.offset = start
            raise

    def _build(self, obj, stream, context, path):
        out = bytearray()
        write_uvarint(int(obj), out)
        stream_write(stream, bytes(out), len(out), path)
        return obj

    def _sizeof(self, context, path):  # pragma: no cover - variable size
        from construct import SizeofError
        raise SizeofError("varint has no fixed size")


UVarint = _UVarint()
U32 = struct.Struct(">I")


class _Seed32(Construct):
    def _parse(self, stream, context, path):
        return U32.unpack(stream_read(stream, 4, path))[0]

    def _build(self, obj, stream, context, path):
        stream_write(stream, U32.pack(obj), 4, path)
        return obj

    def _sizeof(self, context, path):
        return 4


Seed32 = _Seed32()


class VarBytes(Construct):
    """``varint(length) bytes`` with a hard limit on the length."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def _parse(self, stream, context, path):
        start = _tell(stream)
        n = UVarint._parse(stream, context, path)
        if n > self.limit:
            raise FieldError("limit", f"declared length {n} is over the limit {self.limit}", start)
        return stream_read(stream, n, path)

    def _build(self, obj, stream, context, path):
        if len(obj) > self.limit:
            raise FieldError("limit", f"length {len(obj)} is over the limit {self.limit}")
        UVarint._build(len(obj), stream, context, path)
        stream_write(stream, bytes(obj), len(obj), path)
        return obj


class Utf8(Construct):
    """``varint(length) UTF-8`` string with a hard byte limit."""

    def __init__(self, limit: int = spec.MAX_STRING_BYTES):
        super().__init__()
        self.raw = VarBytes(limit)

    def _parse(self, stream, context, path):
        start = _tell(stream)
        b = self.raw._parse(stream, context, path)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FieldError("malformed", f"string is not valid UTF-8 (at its byte {e.start})",
                             start) from None

    def _build(self, obj, stream, context, path):
        try:
            b = obj.encode("utf-8")
        except UnicodeEncodeError as e:
            raise FieldError("malformed", f"string is not valid Unicode: {e}") from None
        self.raw._build(b, stream, context, path)
        return obj


class _Guidance(Construct):
    """Guidance scale: varint ``q << 2 | mode``; HALF: q/2, MILLI: q/1000, FLOAT64: 8 bytes.

    The writer uses the first mode that represents the value exactly (HALF, MILLI,
    FLOAT64); a strict reader refuses any other choice.
    """

    def _parse(self, stream, context, path):
        start = _tell(stream)
        v = UVarint._parse(stream, context, path)
        mode, q = v & 3, v >> 2
        if mode == spec.GuidanceMode.HALF:
            return q / 2
        if mode == spec.GuidanceMode.MILLI:
            if q % 500 == 0:
                raise FieldError("noncanonical", "guidance in MILLI mode is a multiple of 0.5",
                                 start)
            return q / 1000
        if mode == spec.GuidanceMode.FLOAT64:
            if q:
                raise FieldError("malformed", "FLOAT64 guidance with a nonzero prefix", start)
            g = _float64(stream, path)
            if not math.isfinite(g) or g < 0:
                raise FieldError("malformed", f"FLOAT64 guidance must be finite and >= 0, "
                                              f"found {g!r}", start)
            if _guidance_mode(g)[0] != spec.GuidanceMode.FLOAT64:
                raise FieldError("noncanonical", "FLOAT64 guidance that a shorter mode "
                                                 "represents", start)
            return g
        raise FieldError("malformed", "reserved guidance mode 3", start)

    def _build(self, obj, stream, context, path):
        mode, q = _guidance_mode(float(obj))
        UVarint._build(q << 2 | mode, stream, context, path)
        if mode == spec.GuidanceMode.FLOAT64:
            stream_write(stream, struct.pack(">d", float(obj)), 8, path)
        return obj


def _float64(stream, path) -> float:
    return struct.unpack(">d", stream_read(stream, 8, path))[0]


def _half(g: float) -> int | None:
    """``2 g`` when g (finite) is a multiple of 0.5 below 2**59, else None."""
    if not abs(g) < 2.0**59:      # also False for nan: never multiply a huge value
        return None
    h = g * 2
    return int(h) if h == int(h) else None


def _milli(r: float, bound: float = 2.0**50) -> int | None:
    """``1000 r`` when r (finite) has at most 3 decimals and ``|r| < bound``, else None.

    The magnitude is checked before multiplying: for |r| >= 1.8e305, ``round(r * 1000)``
    overflows to inf and raises OverflowError (issue 13).
    """
    if not abs(r) < bound:
        return None
    m = round(r * 1000)
    return m if m / 1000 == r else None


def _guidance_mode(g: float) -> tuple[int, int]:
    if not math.isfinite(g) or g < 0:
        raise FieldError("malformed", f"guidance must be finite and >= 0, found {g!r}")
    h = _half(g)
    if h is not None:
        return spec.GuidanceMode.HALF, h
    m = _milli(g, 2.0**60 / 1000)   # guidance: MILLI while q < 2**60
    if m is not None and m < 2**60:
        return spec.GuidanceMode.MILLI, m
    return spec.GuidanceMode.FLOAT64, 0


Guidance = _Guidance()


class _Real(Construct):
    """Signed real: varint ``q << 2 | mode``; 0: +q/1000, 1: -q/1000 (q > 0), 2: FLOAT64."""

    def _parse(self, stream, context, path):
        start = _tell(stream)
        v = UVarint._parse(stream, context, path)
        mode, q = v & 3, v >> 2
        if mode == 0:
            return q / 1000
        if mode == 1:
            if q == 0:
                raise FieldError("noncanonical", "negative zero in MILLI form", start)
            return -q / 1000
        if mode == 2 and q == 0:
            r = _float64(stream, path)
            if not math.isfinite(r):
                raise FieldError("malformed", f"real must be finite, found {r!r}", start)
            if _milli_form(r):
                raise FieldError("noncanonical", "FLOAT64 real that MILLI form represents", start)
            return r
        raise FieldError("malformed", f"reserved real mode {mode}", start)

    def _build(self, obj, stream, context, path):
        r = float(obj)
        if not math.isfinite(r):
            raise FieldError("malformed", f"real must be finite, found {r!r}")
        if _milli_form(r):
            m = _milli(r)
            UVarint._build((abs(m) << 2) | (1 if m < 0 else 0), stream, context, path)
        else:
            UVarint._build(2, stream, context, path)
            stream_write(stream, struct.pack(">d", r), 8, path)
        return obj


def _milli_form(r: float) -> bool:
    """True when the MILLI forms represent ``r`` exactly (never -0.0)."""
    return _milli(r) is not None and not (r == 0 and math.copysign(1.0, r) < 0)


Real = _Real()


class _Dimension(Construct):
    """Width/height: varint ``q << 1 | mode``; UNIT64: q*64 (written when divisible), else q."""

    def _parse(self, stream, context, path):
        start = _tell(stream)
        v = UVarint._parse(stream, context, path)
        q = v >> 1
        d = q * 64 if v & 1 == spec.SizeMode.UNIT64 else q
        if v & 1 == spec.SizeMode.PIXELS and q % 64 == 0:
            raise FieldError("noncanonical", "dimension divisible by 64 in PIXELS mode", start)
        if not 1 <= d <= spec.MAX_DIMENSION:
            raise FieldError("limit", f"dimension {d} is outside 1..{spec.MAX_DIMENSION}", start)
        return d

    def _build(self, obj, stream, context, path):
        d = int(obj)
        v = (d // 64) << 1 if d % 64 == 0 else d << 1 | 1
        UVarint._build(v, stream, context, path)
        return obj


Dimension = _Dimension()


__all__ += ["StreamError"]


class Gated(Construct):
    """A struct whose fields are each present when their gate holds.

    ``fields`` are ``(name, gate, subcon)``: gate ``None`` (always present), an int (a bit
    that must be set in the field named ``word``), or a callable of the partial result.
    Declarative like ``Struct`` + ``If``, without their per-field overhead (the body is
    parsed for every file read). Absent fields parse as None; ``subcons`` lists the fields
    (renamed subcons) for introspection.
    """

    def __init__(self, word: str | None, *fields):
        super().__init__()
        self.word = word
        self.fields = tuple((n, g, sc) for n, g, sc in fields)
        self.subcons = [n / sc for n, _, sc in fields]
        self.flagbuildnone = False

    def _ctx(self, context, stream):
        from construct import Container
        return Container(_=context, _params=context._params, _root=None,
                         _parsing=context._parsing, _building=context._building,
                         _sizing=context._sizing, _io=stream,
                         _index=context.get("_index", None))

    def _parse(self, stream, context, path):
        ctx = self._ctx(context, stream)
        word = 0
        for name, gate, sc in self.fields:
            if gate is None:
                pass
            elif type(gate) is int:
                if not word & gate:
                    ctx[name] = None
                    continue
            elif not gate(ctx):
                ctx[name] = None
                continue
            v = sc._parsereport(stream, ctx, path)
            ctx[name] = v
            if name == self.word:
                word = v
        for k in ("_", "_params", "_root", "_parsing", "_building", "_sizing", "_io", "_index"):
            del ctx[k]
        return ctx

    def _build(self, obj, stream, context, path):
        ctx = self._ctx(context, stream)
        ctx.update(obj)
        word = 0
        for name, gate, sc in self.fields:
            if gate is None:
                pass
            elif type(gate) is int:
                if not word & gate:
                    continue
            elif not gate(ctx):
                continue
            v = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
            sc._build(v, stream, ctx, path)
            if name == self.word:
                word = v
        return obj

    def _sizeof(self, context, path):  # pragma: no cover - variable size
        from construct import SizeofError
        raise SizeofError("variable size")


class Validate(Construct):
    """A zero-byte field that runs ``check(ctx)`` (raising FieldError) when parsed/built."""

    def __init__(self, check):
        super().__init__()
        self.check = check
        self.flagbuildnone = True

    def _parse(self, stream, context, path):
        self.check(context)

    def _build(self, obj, stream, context, path):
        self.check(context)

    def _sizeof(self, context, path):
        return 0


__all__ += ["Gated", "Validate"]


class LimitedArray(Construct):
    """``varint(count)`` then count items; a count over ``limit`` is refused before any
    item is parsed (so a hostile count cannot make the reader loop)."""

    def __init__(self, limit: int, subcon):
        super().__init__()
        self.limit = limit
        self.subcon = subcon

    def _parse(self, stream, context, path):
        start = _tell(stream)
        n = UVarint._parse(stream, context, path)
        if n > self.limit:
            raise FieldError("limit", f"{n} items, the limit is {self.limit}", start)
        return [self.subcon._parsereport(stream, context, path) for _ in range(n)]

    def _build(self, obj, stream, context, path):
        if len(obj) > self.limit:
            raise FieldError("limit", f"{len(obj)} items, the limit is {self.limit}")
        UVarint._build(len(obj), stream, context, path)
        for item in obj:
            self.subcon._build(item, stream, context, path)
        return obj


__all__ += ["LimitedArray"]


class _Fraction(Construct):
    """A value in 0..1: varint v; v even: (v >> 1) / 100, v odd: (v >> 1) / 10000. The even
    form is canonical whenever it is exact; values above 1 are malformed."""

    def _parse(self, stream, context, path):
        start = _tell(stream)
        v = UVarint._parse(stream, context, path)
        q = v >> 1
        if v & 1:
            if q % 100 == 0:
                raise FieldError("noncanonical", "fraction in 1/10000 form is a multiple of "
                                                 "0.01", start)
            if q > FRACTION_UNIT:
                raise FieldError("malformed", f"fraction {q}/10000 is above 1", start)
            return q / FRACTION_UNIT
        if q > 100:
            raise FieldError("malformed", f"fraction {q}/100 is above 1", start)
        return q / 100

    def _build(self, obj, stream, context, path):
        UVarint._build(fraction_code(obj), stream, context, path)
        return obj


FRACTION_UNIT = 10_000


def fraction_code(x: float) -> int:
    """The canonical varint value of fraction ``x`` (0..1, a multiple of 1/10000)."""
    x = float(x)
    if not 0.0 <= x <= 1.0:
        raise FieldError("malformed", f"fraction must be in 0..1, found {x!r}")
    k = round(x * FRACTION_UNIT)
    if k / FRACTION_UNIT != x:
        raise FieldError("malformed", f"fraction {x!r} is not a multiple of 1/10000")
    return (k // 100) << 1 if k % 100 == 0 else k << 1 | 1


Fraction = _Fraction()

__all__ += ["Fraction", "fraction_code", "FRACTION_UNIT"]
