"""Text method 3 (``cm2``): context model version 2 over CLIP BPE pieces + range coder.

A text is split into *words* (maximal runs of ASCII letters and digits) and *gaps*
(everything else). Each word is lowercased and cut into CLIP BPE pieces (the tokenizer
vocabulary of Stable Diffusion); its case is coded in a side channel (lower, Capitalized,
UPPER, or a flag per letter). Gaps are coded as gap tokens (", ", " (", ":", ...) or, for
a character outside the gap lexicon, an escaped code point. The units (pieces, gaps, END)
are coded with a static escape chain over contexts of the last 3, 2, 1 units (a single
space gap not counted) and 0 (one table per position class): interpolated modified
Kneser-Ney, baked into integer tables by ``training/textcoding/train_cm2.py``. Every
probability is an integer count; the coder is the exact range coder of ``rangecoder``.
``spec/text-coding.md`` (method 3) is the normative description; the table file is
``data/cm2.bin`` (frozen with the method code).
"""
from __future__ import annotations

import json
import os
import re
import struct
import sys
import threading
from array import array
from bisect import bisect_left, bisect_right
from heapq import heapify, heappop, heappush
from importlib import resources

from ..errors import LimitExceededError, MalformedError, MetaError
from ..spec import MAX_TEXT_CHARS
from . import Method
from .cm import uni_bucket_counts
from .rangecoder import BOTTOM, Decoder, Encoder

try:
    from . import _cm2fast   # the compiled twin of Model.decode (_cm2fast.c), when it was built
except ImportError:          # pragma: no cover - built wherever a C compiler was
    _cm2fast = None

#: Model.decode uses the compiled decoder when it is built and this is true; else the
#: pure-Python reference below (the same texts and errors, only slower).
#: ``AIGIF_PURE_PYTHON=1`` in the environment turns it off at import; tests set it per test.
USE_COMPILED = _cm2fast is not None and os.environ.get("AIGIF_PURE_PYTHON", "") in ("", "0")

__all__ = ["CODE", "METHOD", "MODEL_VERSION", "Model", "load_model", "split_text"]

#: the text method code (spec.TextMethod.CM2), frozen with this model version
CODE = 3

MODEL_VERSION = 2
TABLE_FILE = "cm2.bin"
#: the decompressed table file may not be larger (a bound for the brotli stream)
MAX_TABLE_BYTES = 64 << 20
MAGIC = b"AIGIFCM2"

# fixed unit ids
END, UNI, BOS0, BOS1 = 0, 1, 2, 3
ESC = 0xFFFF
# position classes: after BOS / a gap / an escaped code point; after a word's last piece;
# inside a word (after a piece that is not its last)
P_GAP, P_FIN, P_MID = 0, 1, 2
# case modes
C_LOWER, C_FIRST, C_UPPER, C_FLAGS = range(4)
UNI_SAME = 4352
MAX_ORDER = 3
#: a table of at most this many entries (ESC included) that is escaped from excludes its
#: symbols from the tables after it in the chain (spec M3.4)
EXCLUDE_MAX = 256

_SPLIT = re.compile(r"[0-9A-Za-z]+|[^0-9A-Za-z]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SENTENCE = frozenset(".!?\n")


def split_text(text: str) -> list[str]:
    """Words (runs of ASCII letters and digits) and gaps (runs of anything else)."""
    return _SPLIT.findall(text)


def case_mode(word: str) -> int:
    """Case mode of a word (spec section 3.4): from its ASCII letters only."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return -1
    low = "".join(letters).lower()
    s = "".join(letters)
    if s == low:
        return C_LOWER
    if s[0].isupper() and s[1:] == low[1:]:
        return C_FIRST
    if len(s) >= 2 and s == s.upper():
        return C_UPPER
    return C_FLAGS


class _SliceDecoder(Decoder):
    """The range decoder with a table lookup on a slice of one long cumulative array."""
    __slots__ = ()

    def decode_index_excl(self, cum, a: int, b: int, rem: list[int]) -> int:
        """Decode an index ``a <= i < b`` of the table ``cum[a..b]`` (``cum[a] == 0``, total
        ``cum[b]``, no copy of the slice) with the entries ``rem`` (ascending) taken out:
        total and cumulative counts less their frequencies (spec M3.4)."""
        gone = 0
        for j in rem:
            gone += cum[j + 1] - cum[j]
        total = cum[b] - gone
        if total <= 0:
            raise MalformedError("text stream is corrupt (code value past the range)",
                                 field="text")
        r = self.rng // total
        x = self.x
        t = x // r
        if t >= total:
            raise MalformedError("text stream is corrupt (code value past the range)",
                                 field="text")
        before = 0                  # frequencies of the removed entries before the symbol
        for j in rem:
            if cum[j] <= t + before:
                before += cum[j + 1] - cum[j]
            else:
                break
        i = bisect_right(cum, t + before, a, b) - 1
        c = cum[i] - before
        x -= r * c
        rng = r * (cum[i + 1] - cum[i])
        data, pos, n = self.data, self.pos, len(self.data)
        while rng < BOTTOM:
            if pos >= self._limit:
                raise MalformedError("text stream ends before its last symbol", field="text")
            rng <<= 8
            x = (x << 8) | (data[pos] if pos < n else 0)
            pos += 1
        self.pos, self.x, self.rng = pos, x, rng
        return i


def _removed(syms, a: int, b: int, excl: set) -> list[int]:
    """Indexes of the entries of table ``a..b-1`` whose symbol is excluded, ascending."""
    if len(excl) < b - a:
        out = []
        for x in excl:
            i = bisect_left(syms, x, a, b)
            if i < b and syms[i] == x:
                out.append(i)
        out.sort()
        return out
    return [i for i in range(a, b) if syms[i] in excl]


def _bpe_parts(w: str, ranks: dict) -> list[str]:
    """CLIP BPE of a non-empty word: repeatedly merge the adjacent pair of lowest merge
    rank, the leftmost of equal ones (spec M3.8), in O(n log n) with a heap over a linked
    list (the plain loop is quadratic: a 32k-character word took minutes)."""
    n = len(w)
    sym = list(w[:-1]) + [w[-1] + "</w>"]
    if n == 1:
        return sym
    nxt = list(range(1, n + 1))
    nxt[-1] = -1
    prv = list(range(-1, n - 1))
    alive = [True] * n
    heap = [(r, j, sym[j], sym[j + 1]) for j in range(n - 1)
            if (r := ranks.get((sym[j], sym[j + 1]))) is not None]
    heapify(heap)
    while heap:
        r, j, a, b = heappop(heap)
        k = nxt[j]
        if not alive[j] or sym[j] != a or k < 0 or sym[k] != b:
            continue                                    # stale: that pair is gone
        sym[j] = a + b
        alive[k] = False
        q = nxt[j] = nxt[k]
        if q >= 0:
            prv[q] = j
            r2 = ranks.get((sym[j], sym[q]))
            if r2 is not None:
                heappush(heap, (r2, j, sym[j], sym[q]))
        p = prv[j]
        if p >= 0:
            r2 = ranks.get((sym[p], sym[j]))
            if r2 is not None:
                heappush(heap, (r2, p, sym[p], sym[j]))
    out = []
    j = 0
    while j >= 0:
        out.append(sym[j])
        j = nxt[j]
    return out


class _Dense:
    """Cumulative counts of a dense table (symbols 0..n-1)."""
    __slots__ = ("cum", "total")

    def __init__(self, counts):
        cum = [0]
        for c in counts:
            cum.append(cum[-1] + c)
        self.cum = cum
        self.total = cum[-1]


class Model:
    """The loaded tables of model version 2 (see spec/text-coding.md, method 3)."""

    def __init__(self, blob: bytes):
        try:
            self._load(blob)
        except (ValueError, KeyError, TypeError, struct.error, IndexError) as e:
            raise MetaError(f"cm2 table file is corrupt: {e}") from e

    def _load(self, blob: bytes) -> None:
        if blob[:8] != MAGIC:
            raise ValueError("bad magic")
        hlen, = struct.unpack_from("<I", blob, 8)
        head = json.loads(blob[12:12 + hlen].decode("ascii"))
        if head["version"] != MODEL_VERSION:
            raise ValueError(f"version {head['version']}")
        pos = 12 + hlen

        view = memoryview(blob)

        def arr(code: str, n: int):
            # zero-copy views of the little-endian arrays (a copy only on big-endian hosts)
            nonlocal pos
            size = n * {"Q": 8, "I": 4, "H": 2}[code]
            if pos + size > len(blob):
                raise ValueError("truncated")
            if sys.byteorder != "little":  # pragma: no cover
                a = array(code)
                a.frombytes(blob[pos:pos + size])
                a.byteswap()
            else:
                a = view[pos:pos + size].cast(code)
            pos += size
            return a
        self.units: list[str] = head["units"]
        self.kinds: str = head["kinds"]          # per unit: e u b g n f
        self.space = head["space"]                # unit id of the single-space gap
        nctx, nent = head["nctx"], head["nent"]
        self.keys = arr("Q", nctx)
        self.start = arr("I", nctx + 1)
        self.syms = arr("H", nent)
        if nent % 2:                          # 2 zero bytes: cum starts 4-byte aligned
            if blob[pos:pos + 2] != b"\0\0":
                raise ValueError("padding after syms")
            pos += 2
        self.cum = arr("I", nent)
        if pos != len(blob):
            raise ValueError("bytes after the arrays")
        self.case = [_Dense(c) for c in head["case"]]
        self.flag = [_Dense(c) for c in head["flag"]]
        self.uni = _Dense(uni_bucket_counts())
        merges = head["merges"]           # "a b\na b\n...": split on the first encode
        if not isinstance(merges, str):
            raise ValueError("merges is not a string")
        self._merges_text = merges
        self._enc = None

    @property
    def merges_raw(self) -> list[list[str]]:
        """The CLIP BPE merges in rank order (the encoder's; parsed on first use)."""
        m = self.__dict__.get("_merges")
        if m is None:
            m = self.__dict__["_merges"] = [ln.split(" ") for ln in self._merges_text.split("\n")
                                            if ln]
        return m

    # ------------------------------------------------------------------ contexts
    def _table(self, key: int) -> int:
        i = bisect_left(self.keys, key)
        return i if i < len(self.keys) and self.keys[i] == key else -1

    def chain(self, pos: int, hist: list[int]) -> list[int]:
        """Context table indexes to try, highest order first (order 0 always exists)."""
        out = []
        n = len(hist)
        for k in range(min(MAX_ORDER, n), 0, -1):
            key = k | pos << 2
            for j in range(k):
                key |= hist[n - 1 - j] << (4 + 16 * j)
            t = self._table(key)
            if t >= 0:
                out.append(t)
        t = self._table(pos << 2)
        if t < 0:
            raise MetaError("cm2 table file lacks an order-0 table")
        out.append(t)
        return out

    # ------------------------------------------------------------------ decoding
    _fast_decode = None   # the compiled decoder's decode, made on first use (False: none)
    #: spec M3.4's exclusion bound; method 3 is EXCLUDE_MAX. 0 turns exclusion off (the
    #: plain backoff baseline of benchmarks/size.py; decoded in Python only)
    exclude_max = EXCLUDE_MAX

    def _compiled_decode(self):
        """``_cm2fast.Decoder(...).decode`` over these tables (no copy of the arrays), or
        False where the extension is not built or refuses the tables (the reference runs)."""
        if _cm2fast is None:
            return False
        try:
            return _cm2fast.Decoder(
                self.keys, self.start, self.syms, self.cum, self.units, self.kinds,
                self.space, [c.cum for c in self.case], [f.cum for f in self.flag],
                self.uni.cum, MAX_TEXT_CHARS, MalformedError, LimitExceededError).decode
        except (ValueError, TypeError):
            return False

    def decode(self, data: bytes) -> tuple[str, str]:
        if USE_COMPILED:
            fast = self._fast_decode
            if fast is None:
                fast = self._fast_decode = self._compiled_decode()
            if fast and self.exclude_max == EXCLUDE_MAX:     # (the compiled one's bound)
                return fast(data)
        dec = _SliceDecoder(data)
        prev_block = [-1]
        return self._decode_text(dec, BOS0, prev_block), self._decode_text(dec, BOS1, prev_block)

    def _decode_text(self, dec: Decoder, bos: int, prev_block: list[int]) -> str:
        out: list[str] = []
        nchars = 0
        hist = [bos]
        pos = P_GAP
        word: list[str] = []
        prev_mode = 4
        gapcls = 0
        syms, cum, start, kinds, units = self.syms, self.cum, self.start, self.kinds, self.units
        while True:
            excl: set | None = None
            for t in self.chain(pos, hist):
                a, b = start[t], start[t + 1] - 1
                i = dec.decode_index_excl(cum, a, b, _removed(syms, a, b, excl) if excl else ())
                s = syms[i]
                if s != ESC:
                    break
                if b - a <= self.exclude_max:
                    if excl is None:
                        excl = set()
                    excl.update(syms[a:b - 1])      # all but the ESC entry
            else:
                raise MalformedError("text stream is corrupt (escape from order 0)",
                                     field="text")
            k = kinds[s]
            if s == END:
                if pos == P_MID:
                    raise MalformedError("text stream ends inside a word", field="text")
                return "".join(out)
            if k in "nf":
                if pos == P_FIN:
                    raise MalformedError("word piece right after a word", field="text")
                word.append(units[s])
                nchars += len(units[s])      # a word's characters count piece by piece
                if k == "f":
                    w = "".join(word)
                    word = []
                    ct = self.case[prev_mode * 3 + gapcls]
                    mode = -1 if w.isdigit() else dec.decode_index(ct.cum, ct.total)
                    if mode >= 0:
                        w = self._apply_case(dec, w, mode)
                        prev_mode = mode
                    out.append(w)
                    pos = P_FIN
                    gapcls = 2
                else:
                    pos = P_MID
                hist.append(s)
            else:   # gap or UNI
                if pos == P_MID:
                    raise MalformedError("gap inside a word", field="text")
                if k == "b":
                    raise MalformedError("text stream is corrupt (a BOS unit)", field="text")
                if s == UNI:
                    ch = self._decode_uni(dec, prev_block)
                else:
                    ch = units[s]
                if any(c in _SENTENCE for c in ch):
                    gapcls = 1
                out.append(ch)
                nchars += len(ch)
                pos = P_GAP
                if s != self.space:
                    hist.append(s)
            if nchars > MAX_TEXT_CHARS:
                raise LimitExceededError(f"text over {MAX_TEXT_CHARS} characters",
                                         field="text")

    def _apply_case(self, dec: Decoder, w: str, mode: int) -> str:
        if mode == C_LOWER:
            return w
        if mode == C_UPPER:
            return w.upper()
        if mode == C_FIRST:
            for j, c in enumerate(w):
                if c.isalpha():
                    return w[:j] + c.upper() + w[j + 1:]
        out = []
        up = 0
        for c in w:
            if c.isalpha():
                f = self.flag[up]
                up = dec.decode_index(f.cum, f.total)
                out.append(c.upper() if up else c)
            else:
                out.append(c)
        return "".join(out)

    def _decode_uni(self, dec: Decoder, prev_block: list[int]) -> str:
        b = dec.decode_index(self.uni.cum, self.uni.total)
        if b == UNI_SAME:
            if prev_block[0] < 0:
                raise MalformedError("'same block' escape with no block before", field="text")
            b = prev_block[0]
        lo = dec.decode_uniform(256)
        cp = b * 256 + lo
        if 0xD800 <= cp <= 0xDFFF:
            raise MalformedError(f"escaped surrogate U+{cp:04X}", field="text")
        prev_block[0] = b
        return chr(cp)

    # ------------------------------------------------------------------ encoding
    def _prepare_encoder(self) -> None:
        if self._enc is not None:
            return
        units = self.units
        index = {}
        for i, (u, k) in enumerate(zip(units, self.kinds)):
            if k in "nfg":
                index[(k, u)] = i
        ranks = {}
        for r, (a, b) in enumerate(self.merges_raw):
            ranks[(a, b)] = r
        gaps = {u: i for (k, u), i in index.items() if k == "g"}
        maxgap = max(len(u) for u in gaps)
        self._enc = (index, ranks, gaps, maxgap, {})

    def bpe(self, w: str) -> list[int]:
        """CLIP BPE of a lowercase word: unit ids of its pieces (last one final)."""
        index, ranks, _, _, cache = self._enc
        got = cache.get(w)
        if got is not None:
            return got
        parts = _bpe_parts(w, ranks)
        ids = [index[("n", p)] for p in parts[:-1]] + [index[("f", parts[-1][:-4])]]
        if len(cache) < 100_000:
            cache[w] = ids
        return ids

    def encode(self, prompt: str, negative: str) -> bytes:
        for t in (prompt, negative):
            if len(t) > MAX_TEXT_CHARS:
                raise LimitExceededError(f"text over {MAX_TEXT_CHARS} characters",
                                         field="text")
            if _SURROGATE.search(t):
                raise MetaError("text holds a lone surrogate; it cannot be coded")
        self._prepare_encoder()
        enc = Encoder()
        prev_block = [-1]
        self._encode_text(enc, prompt, BOS0, prev_block)
        self._encode_text(enc, negative, BOS1, prev_block)
        return enc.finish()

    def _code(self, enc: Encoder, pos: int, hist: list[int], s: int) -> None:
        syms, cum, start = self.syms, self.cum, self.start
        excl: set | None = None
        for t in self.chain(pos, hist):
            a, b = start[t], start[t + 1] - 1
            i = bisect_left(syms, s, a, b)
            found = i < b and syms[i] == s
            if not found:
                i = b - 1          # ESC is the last entry
                if syms[i] != ESC:
                    raise MetaError(f"cm2 model cannot code unit {s}")
            gone = before = 0
            if excl:
                for j in _removed(syms, a, b, excl):
                    f = cum[j + 1] - cum[j]
                    gone += f
                    if j < i:
                        before += f
            enc.encode(cum[i] - before, cum[i + 1] - cum[i], cum[b] - gone)
            if found:
                return
            if b - a <= self.exclude_max:
                if excl is None:
                    excl = set()
                excl.update(syms[a:b - 1])
        raise MetaError(f"cm2 model cannot code unit {s}")  # pragma: no cover

    def _encode_text(self, enc: Encoder, text: str, bos: int, prev_block: list[int]) -> None:
        u = self.uni
        for ev in self.events(text, bos):
            kind = ev[0]
            if kind == "u":
                self._code(enc, ev[1], ev[2], ev[3])
            elif kind == "c":
                c = self.case[ev[1]]
                m = ev[2]
                enc.encode(c.cum[m], c.cum[m + 1] - c.cum[m], c.total)
            elif kind == "f":
                f = self.flag[ev[1]]
                m = ev[2]
                enc.encode(f.cum[m], f.cum[m + 1] - f.cum[m], f.total)
            else:
                cp = ev[1]
                b = cp >> 8
                sym = UNI_SAME if b == prev_block[0] else b
                enc.encode(u.cum[sym], u.cum[sym + 1] - u.cum[sym], u.total)
                enc.encode(cp & 255, 1, 256)
                prev_block[0] = b

    def events(self, text: str, bos: int):
        """What the encoder codes for one text, in order: ``("u", pos, hist, unit)`` (hist
        is the live history list: read it before the next event), ``("c", case_ctx,
        mode)``, ``("f", prev_flag, flag)``, ``("x", code_point)`` (after a UNI unit)."""
        self._prepare_encoder()
        _, _, gaps, maxgap, _ = self._enc
        space = self.space
        hist = [bos]
        pos = P_GAP
        prev_mode = 4
        gapcls = 0
        for part in split_text(text):
            if part[0].isascii() and part[0].isalnum():
                for s in self.bpe(part.lower()):
                    yield ("u", pos, hist, s)
                    hist.append(s)
                    pos = P_MID
                pos = P_FIN
                mode = case_mode(part)
                if mode >= 0:
                    yield ("c", prev_mode * 3 + gapcls, mode)
                    if mode == C_FLAGS:
                        up = 0
                        for ch in part:
                            if ch.isalpha():
                                bit = 1 if ch.isupper() else 0
                                yield ("f", up, bit)
                                up = bit
                    prev_mode = mode
                gapcls = 2
                continue
            j = 0
            while j < len(part):
                for L in range(min(maxgap, len(part) - j), 0, -1):
                    s = gaps.get(part[j:j + L])
                    if s is not None:
                        break
                else:
                    s, L = UNI, 1
                yield ("u", pos, hist, s)
                ch = part[j:j + L]
                if s == UNI:
                    yield ("x", ord(ch))
                if any(c in _SENTENCE for c in ch):
                    gapcls = 1
                if s != space:
                    hist.append(s)
                pos = P_GAP
                j += L
        yield ("u", pos, hist, END)

    @classmethod
    def lexicon_only(cls, units: list[str], kinds: str, space: int, merges: list) -> "Model":
        """A model without count tables: enough for ``events`` (training)."""
        m = cls.__new__(cls)
        m.units, m.kinds, m.space, m._enc = units, kinds, space, None
        m._merges_text = "".join(f"{a} {b}\n" for a, b in merges)
        return m


_model: Model | None = None
_lock = threading.Lock()


def read_table_file(raw: bytes) -> Model:
    """A model from the bytes of a table file (one Zstandard frame, spec M3.2)."""
    import zstandard
    try:
        size = zstandard.frame_content_size(raw)
        if size < 0 or size > MAX_TABLE_BYTES:
            raise MetaError("cm2 table file: no content size in its frame, or over 64 MiB")
        blob = zstandard.ZstdDecompressor().decompress(raw, max_output_size=MAX_TABLE_BYTES)
        if len(blob) != size:
            raise MetaError("cm2 table file: its frame holds another size than it declares")
    except zstandard.ZstdError as e:
        raise MetaError(f"cm2 table file is corrupt: {e}") from e
    return Model(blob)


def load_model() -> Model:
    """The shipped version-2 model (``data/cm2.bin``), loaded once (thread-safe)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                raw = resources.files(__package__).joinpath("data", TABLE_FILE).read_bytes()
                _model = read_table_file(raw)
    return _model


def _encode(prompt: str, negative: str) -> bytes:
    return load_model().encode(prompt, negative)


def _decode(data: bytes) -> tuple[str, str]:
    return load_model().decode(data)


#: a default writer candidate: the writer keeps the shortest of methods 0, 1, 2 and 3
METHOD = Method(CODE, "cm2", _encode, _decode, default=True)
