"""A small exact range coder in pure Python integer arithmetic.

This is the entropy coder of text method 2 (``spec/text-coding.md`` section 4 is the
normative description). Every symbol is coded with integer frequencies
``(cum, freq, total)``, ``0 <= cum``, ``1 <= freq``, ``cum + freq <= total <= MAX_TOTAL``;
no float ever takes part, so every machine decodes every stream identically.

The encoder keeps ``low`` as an unbounded Python int, so carries need no special
handling. The decoder keeps only ``x = code - low``. Bytes past the end of the stream
read as zero; the encoder strips the zero bytes that this lets it leave out.

>>> enc = Encoder(); enc.encode(1, 2, 4); enc.encode(0, 1, 3); data = enc.finish()
>>> dec = Decoder(data); t = dec.target(4); dec.consume(1, 2, 4); t2 = dec.target(3)
>>> (t, t2)
(1, 0)
"""
from __future__ import annotations

from bisect import bisect_right as _bisect_right

from ..errors import MalformedError

__all__ = ["Encoder", "Decoder", "WINDOW_BYTES", "TOP", "BOTTOM", "MAX_TOTAL"]

#: Width of the coding window in bytes: the decoder starts by reading this many bytes.
WINDOW_BYTES = 6
#: The range starts at TOP and is renormalised (one byte out) whenever it falls below BOTTOM.
TOP = 1 << (8 * WINDOW_BYTES)
BOTTOM = 1 << (8 * WINDOW_BYTES - 8)
#: Largest allowed frequency total (so that ``range // total >= 2**16``).
MAX_TOTAL = 1 << 24


class Encoder:
    """Collects symbols; ``finish()`` returns the shortest stream that decodes to them."""

    __slots__ = ("low", "rng", "shifts")

    def __init__(self) -> None:
        self.low = 0
        self.rng = TOP
        self.shifts = 0

    def encode(self, cum: int, freq: int, total: int) -> None:
        r = self.rng // total
        self.low += r * cum
        rng = r * freq
        while rng < BOTTOM:
            rng <<= 8
            self.low <<= 8
            self.shifts += 1
        self.rng = rng

    def encode_uniform(self, value: int, n: int) -> None:
        """Code ``0 <= value < n`` with equal probability (n <= MAX_TOTAL)."""
        self.encode(value, 1, n)

    def finish(self) -> bytes:
        nbytes = self.shifts + WINDOW_BYTES
        low, hi = self.low, self.low + self.rng
        for k in range(WINDOW_BYTES, -1, -1):
            m = 1 << (8 * k)
            v = -(-low // m) * m
            if v < hi:
                return v.to_bytes(nbytes, "big")[: nbytes - k]
        raise AssertionError("unreachable: k = 0 always fits")  # pragma: no cover


class Decoder:
    """Reads symbols back: ``t = target(total)``, look the symbol up, ``consume(...)``.

    Raises MalformedError when the stream is inconsistent: a target in the unused top of
    the range, or more than WINDOW_BYTES reads past the end of the data.
    """

    __slots__ = ("data", "pos", "x", "rng", "_r", "_limit")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._limit = len(data) + WINDOW_BYTES
        x = int.from_bytes(data[:WINDOW_BYTES], "big")
        if len(data) < WINDOW_BYTES:
            x <<= 8 * (WINDOW_BYTES - len(data))
        self.x = x
        self.pos = WINDOW_BYTES
        self.rng = TOP
        self._r = 1

    def target(self, total: int) -> int:
        r = self.rng // total
        t = self.x // r
        if t >= total:
            raise MalformedError("text stream is corrupt (code value past the range)",
                                 field="text")
        self._r = r
        return t

    def consume(self, cum: int, freq: int, total: int) -> None:
        r = self._r
        self.x -= r * cum
        rng = r * freq
        if rng < BOTTOM:
            x = self.x
            data = self.data
            pos = self.pos
            while rng < BOTTOM:
                if pos >= self._limit:
                    raise MalformedError("text stream ends before its last symbol",
                                         field="text")
                rng <<= 8
                x = (x << 8) | (data[pos] if pos < len(data) else 0)
                pos += 1
            self.x = x
            self.pos = pos
        self.rng = rng

    def decode_index(self, cum: list[int], total: int) -> int:
        """``target`` + lookup in the cumulative table ``cum`` + ``consume`` in one call
        (the hot path of every table decode); returns the symbol's index."""
        r = self.rng // total
        x = self.x
        t = x // r
        if t >= total:
            raise MalformedError("text stream is corrupt (code value past the range)",
                                 field="text")
        i = _bisect_right(cum, t) - 1
        c = cum[i]
        x -= r * c
        rng = r * (cum[i + 1] - c)
        if rng < BOTTOM:
            data = self.data
            pos = self.pos
            n = len(data)
            while rng < BOTTOM:
                if pos >= self._limit:
                    raise MalformedError("text stream ends before its last symbol",
                                         field="text")
                rng <<= 8
                x = (x << 8) | (data[pos] if pos < n else 0)
                pos += 1
            self.pos = pos
        self.x = x
        self.rng = rng
        return i

    def decode_uniform(self, n: int) -> int:
        t = self.target(n)
        self.consume(t, 1, n)
        return t
