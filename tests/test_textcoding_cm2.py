"""Text method 3 (cm2): the vectors of spec/vectors/text, a second decoder written from
spec/text-coding.md (M3) alone that agrees with the reference, round trips, limits and
robustness."""
from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import operator
import random
import struct
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import zstandard
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigif.errors import AigifError, LimitExceededError, MalformedError, MetaError
from aigif.spec import MAX_TEXT_CHARS
from aigif.textcoding import cm2, decode_text, encode_text

ROOT = Path(__file__).resolve().parents[1]
VEC = ROOT / "spec" / "vectors" / "text"
SHARED = ROOT.parent / "shared" / "data" / "prompts"
VECTORS = json.loads((VEC / "cm2.json").read_text(encoding="utf-8"))
#: SHA-256 of aigif/textcoding/data/cm2.bin (spec M3.1): the value of cm2.json, written
#: there by ``python spec/vectors/text/make_text_vectors.py`` (run it when the table changes)
TABLE_SHA256 = VECTORS["table_sha256"]

SPECIAL = [
    ("", ""), (" ", " "), ("a", ""), ("", "Z"), ("0", "00"), ("a1b2", "A1B2"),
    ("(masterpiece:1.2), ((best quality)), [a:b:0.5], BREAK, <lora:add_detail:0.8>",
     "(worst quality, low quality:1.4), EasyNegative"),
    ("iPhone McDonald's LoRA SDXL gReG rUtKoWsKi O'Neil x86_64", "LoWrEs, JPEG"),
    ("日本の城、油絵、高精細", "ぼやけた"), ("a cat 🐱 in space 🚀🌌, 4k", "👎"),
    ("e\u0301le\u0301phant, Zoë, naïve café", ""),
    ("\x00\x01\x1f\x7f\x80\x9f", "\r\n\t\x0b\x0c\x1c\x1d\x1e\x85"),
    ("\U0010ffff\U000e0001 \ufeff\ufffd", "\U0001f468\u200d\U0001f469\u200d\U0001f467"),
    ("x" * 1000, ", " * 500), ("ab12cd34" * 50, "((((((" * 20),
    ("Hello. World! 3D model? iPHONE x. ok\nNew line", "A. B! C? D\nE"),
    ("ab, " * (MAX_TEXT_CHARS // 4), "\U0001f600" * 10),
    ("", "a." * (MAX_TEXT_CHARS // 2)),
]


def _table_raw() -> bytes:
    return resources.files("aigif.textcoding").joinpath("data", "cm2.bin").read_bytes()


# ------------------------------------------------------------------ spec decoder
# A second decoder written from spec/text-coding.md (M3.2-M3.7, §3.6, §4, §5) alone:
# slow and literal. ``_spec_run`` is the unit state machine; it takes its symbols from a
# ``source``: the range decoder of §4.1 (``_SpecRangeDecoder``), or, to build payloads no
# encoder would write (over the limit, a surrogate), a scripted chooser whose coded
# symbols §4.2/§4.3 turn into bytes (``_spec_range_encode``).
ESC = 0xFFFF
P_GAP, P_FIN, P_MID = 0, 1, 2
TABLE_LIMIT = 64 << 20


def _spec_uni_counts() -> list[int]:
    """§3.6, written out again."""
    c = [1] * 4353
    for b, n in {0x00: 200, 0x01: 60, 0x02: 20, 0x03: 40, 0x04: 150, 0x20: 150, 0x21: 40,
                 0x22: 20, 0x25: 40, 0x26: 100, 0x27: 100, 0x30: 300, 0xFF: 300,
                 0x1F3: 150, 0x1F4: 150, 0x1F5: 60, 0x1F6: 150, 0x1F9: 120,
                 0xFE: 40}.items():
        c[b] = n
    for b in range(0x4E, 0xA0):
        c[b] = 40
    for b in range(0xAC, 0xD8):
        c[b] = 15
    c[4352] = 8000
    return c


def _cum(counts) -> list[int]:
    out = [0]
    for f in counts:
        if type(f) is not int or f < 1:
            raise MetaError(f"count {f!r} is not a positive integer")
        out.append(out[-1] + f)
    if out[-1] > 1 << 24:
        raise MetaError("table total over 2^24")
    return out


def _spec_tables(raw: bytes) -> dict:
    """M3.2: the table file's bytes -> what the decoder needs (MetaError when corrupt)."""
    try:
        return _spec_parse(raw)
    except (KeyError, IndexError, TypeError, AttributeError, struct.error) as e:
        raise MetaError(f"table file: {e!r}") from e


def _spec_parse(raw: bytes) -> dict:
    try:                                    # one zstd frame with its content size (M3.2)
        n = zstandard.frame_content_size(raw)
        if n < 0 or n > TABLE_LIMIT:
            raise MetaError("table file: no content size, or over 64 MiB")
        b = zstandard.ZstdDecompressor().decompress(raw, max_output_size=TABLE_LIMIT)
        if len(b) != n:
            raise MetaError("table file: content size differs from the frame's")
    except zstandard.ZstdError as e:
        raise MetaError(f"table file: {e}") from e
    if b[:8] != b"AIGIFCM2" or len(b) < 12:
        raise MetaError("table file: bad magic")
    (h,) = struct.unpack_from("<I", b, 8)
    if (12 + h) % 8 or 12 + h > len(b):
        raise MetaError("table file: header length")
    try:
        hd = json.loads(b[12:12 + h].decode("ascii"))
    except (UnicodeDecodeError, ValueError) as e:
        raise MetaError(f"table file: header: {e}") from e
    units, kinds, nctx, nent = hd["units"], hd["kinds"], hd["nctx"], hd["nent"]
    if hd["version"] != 2 or len(kinds) != len(units) or not len(units) < ESC:
        raise MetaError("table file: version or lexicon")
    if kinds[:4] != "eubb" or kinds[hd["space"]] != "g" or units[hd["space"]] != " ":
        raise MetaError("table file: special units")
    off = 12 + h
    if len(b) != off + 8 * nctx + 4 * (nctx + 1) + 6 * nent + 2 * (nent % 2):
        raise MetaError("table file: array sizes")
    keys = struct.unpack_from(f"<{nctx}Q", b, off)
    off += 8 * nctx
    start = struct.unpack_from(f"<{nctx + 1}I", b, off)
    off += 4 * (nctx + 1)
    syms = struct.unpack_from(f"<{nent}H", b, off)
    off += 2 * nent + 2 * (nent % 2)            # the padding (M3.2)
    cum = struct.unpack_from(f"<{nent}I", b, off)
    if any(x >= y for x, y in zip(keys, keys[1:])) or start[0] != 0 or start[-1] != nent:
        raise MetaError("table file: keys or starts")
    # M3.2 for every table t, entries a..e: e > a, syms[e] = ESC, cum[a] = 0, total <= 2^24;
    # cum strictly ascending over a..e and syms over a..e-1 (whole-array passes: a pair
    # (i, i+1) may fail to ascend only where it touches a table's last entry)
    ends = [x - 1 for x in start[1:]]
    if any(e <= a for a, e in zip(start, ends)) or any(cum[a] for a in start[:-1]) or \
            any(syms[e] != ESC or cum[e] > 1 << 24 for e in ends):
        raise MetaError("table file: a table's first or dummy entry")
    endset = set(ends)

    def descents(xs) -> set[int]:
        return set(itertools.compress(range(len(xs)), map(operator.ge, xs, xs[1:])))
    if not descents(cum) <= endset:
        raise MetaError("table file: cum not ascending in a table")
    if not descents(syms) <= endset | {e - 1 for e in ends}:
        raise MetaError("table file: syms not ascending in a table")
    # the unit ids and the position grammar (M3.2, M3.3): kind letters per entry, x = ESC
    kb = bytearray(b"?" * 65536)
    kb[:len(kinds)] = kinds.encode("ascii")
    kb[ESC] = ord("x")
    ek = bytes(map(kb.__getitem__, syms))
    allowed = {P_GAP: b"eugnfx", P_FIN: b"eugx", P_MID: b"nfx"}
    for t in range(nctx):
        if ek[start[t]:ends[t]].translate(None, allowed.get(keys[t] >> 2 & 3, b"")):
            raise MetaError(f"table file: table {t} holds a unit its position forbids")
    table_of = {k: t for t, k in enumerate(keys)}
    if any(p << 2 not in table_of for p in (P_GAP, P_FIN, P_MID)):
        raise MetaError("table file: an order-0 table is missing")
    if any(syms[start[table_of[p << 2] + 1] - 2] == ESC for p in (P_GAP, P_FIN, P_MID)):
        raise MetaError("table file: an order-0 table holds ESC")
    return {"units": units, "kinds": kinds, "space": hd["space"], "table_of": table_of,
            "start": start, "syms": syms, "cum": cum,
            "case": [_cum(c) for c in hd["case"]], "flag": [_cum(c) for c in hd["flag"]],
            "uni": _cum(_spec_uni_counts()), "lo": list(range(257))}


class _SpecRangeDecoder:
    """§4.1."""

    def __init__(self, payload: bytes):
        self.p = payload
        self.x = int.from_bytes((payload + bytes(6))[:6], "big")
        self.rng = 1 << 48
        self.pos = 6

    def sym(self, cum, a: int, e: int, what=None) -> int:
        """The index i in a..e-1 of the next symbol of the table ``cum[a..e]``."""
        total = cum[e]
        r = self.rng // total
        t = self.x // r
        if t >= total:
            raise MalformedError("range coder: value past the table's total")
        i = bisect.bisect_right(cum, t, a, e + 1) - 1
        self.x -= r * cum[i]
        self.rng = r * (cum[i + 1] - cum[i])
        while self.rng < 1 << 40:
            if self.pos >= len(self.p) + 6:
                raise MalformedError("range coder: ran past the end")
            self.rng <<= 8
            self.x = self.x << 8 | (self.p[self.pos] if self.pos < len(self.p) else 0)
            self.pos += 1
        return i


#: reduced tables by (table, exclusion set) (the spec decoder's only cache; for speed)
_REDUCED: dict = {}


def _spec_run(t: dict, src) -> tuple[str, str]:
    """M3.3-M3.7: the two texts of a payload whose symbols ``src`` gives."""
    units, kinds, syms, cum, start = t["units"], t["kinds"], t["syms"], t["cum"], t["start"]
    prev_block = None
    out = []
    for role in (0, 1):
        hist, pos, text, word = [2 + role], P_GAP, "", ""
        prev_mode, gapcls = 4, 0
        while True:
            n = len(hist)
            chain = []
            for k in range(min(3, n), 0, -1):
                key = k | pos << 2
                for j in range(k):
                    key |= hist[n - 1 - j] << (4 + 16 * j)
                if key in t["table_of"]:
                    chain.append(t["table_of"][key])
            chain.append(t["table_of"][pos << 2])
            excluded = set()                            # M3.4's exclusion set X
            for ti in chain:
                a, e = start[ti], start[ti + 1] - 1
                if not excluded:
                    u = syms[src.sym(cum, a, e, ("unit", syms))]
                else:                                   # the table without X's entries
                    ck = (id(cum), ti, frozenset(excluded))
                    got = _REDUCED.get(ck)
                    if got is None:
                        ks, kc = [], [0]
                        for i in range(a, e):
                            if syms[i] not in excluded:
                                ks.append(syms[i])
                                kc.append(kc[-1] + cum[i + 1] - cum[i])
                        if len(_REDUCED) > 512:
                            _REDUCED.clear()
                        got = _REDUCED[ck] = (ks, kc)
                    ks, kc = got
                    if kc[-1] == 0:
                        raise MalformedError("every entry of a table excluded")
                    u = ks[src.sym(kc, 0, len(ks), ("unit", ks))]
                if u != ESC:
                    break
                if e - a <= 256:                        # a small table excludes its symbols
                    excluded.update(x for x in syms[a:e] if x != ESC)
            else:
                raise MalformedError("ESC from the order-0 table")
            kind = kinds[u]
            if kind == "e":
                if pos == P_MID:
                    raise MalformedError("END inside a word")
                break
            # M3.3's grammar; BOS is never coded (no table holds it, M3.2)
            if pos == P_MID and kind not in "nf" or pos == P_FIN and kind in "nf" or kind == "b":
                raise MalformedError(f"unit {u} ({kind}) after position {pos}")
            if kind in "nf":
                word += units[u]
                hist.append(u)
                pos = P_MID
                if kind == "f":
                    if any(c.isalpha() for c in word):
                        m = src.sym(t["case"][prev_mode * 3 + gapcls], 0, 4, ("case",))
                        if m == 1:
                            i = next(i for i, c in enumerate(word) if c.isalpha())
                            word = word[:i] + word[i].upper() + word[i + 1:]
                        elif m == 2:
                            word = word.upper()
                        elif m == 3:
                            up, w = 0, ""
                            for c in word:
                                if c.isalpha():
                                    up = src.sym(t["flag"][up], 0, 2, ("flag",))
                                    c = c.upper() if up else c
                                w += c
                            word = w
                        prev_mode = m
                    text, word, pos, gapcls = text + word, "", P_FIN, 2
            else:                                       # a gap or UNI
                if kind == "u":
                    b = src.sym(t["uni"], 0, 4353, ("block",))
                    if b == 4352:
                        if prev_block is None:
                            raise MalformedError("same block without a previous block")
                        b = prev_block
                    prev_block = b
                    cp = b * 256 + src.sym(t["lo"], 0, 256, ("lo",))
                    if 0xD800 <= cp <= 0xDFFF:
                        raise MalformedError("surrogate code point")
                    s = chr(cp)
                else:
                    s = units[u]
                text += s
                if u != t["space"]:
                    hist.append(u)
                pos = P_GAP
                if any(c in s for c in ".!?\n"):
                    gapcls = 1
            if len(text) + len(word) > MAX_TEXT_CHARS:    # after each unit, the pieces
                raise LimitExceededError("text over MAX_TEXT_CHARS")  # of a word too (M3.7)
        out.append(text)
    return out[0], out[1]


def _spec_decode(payload: bytes, t: dict) -> tuple[str, str]:
    return _spec_run(t, _SpecRangeDecoder(payload))


class _ScriptEnd(Exception):
    """The scripted values ran out (the payload ends there)."""


class _Recorder(_SpecRangeDecoder):
    """The range decoder, keeping what it decoded: (cum, freq, total) and (what, index)."""

    def __init__(self, payload: bytes):
        super().__init__(payload)
        self.coded, self.seen = [], []

    def sym(self, cum, a: int, e: int, what=None) -> int:
        i = super().sym(cum, a, e, what)
        self.coded.append((cum[i] - cum[a], cum[i + 1] - cum[i], cum[e] - cum[a]))
        self.seen.append((what[0], what[1][i] if what[0] == "unit" else i - a))
        return i


class _Scripted:
    """A symbol source that codes the wanted values (unit ids through the chain, escaping
    where a table lacks the unit; indices of dense tables) and records what it coded."""

    def __init__(self, wanted):
        self.wanted = iter(wanted)
        self.unit = None
        self.coded = []                                 # (cum, freq, total) of §4.2

    def _next(self) -> int:
        try:
            return next(self.wanted)
        except StopIteration:
            raise _ScriptEnd from None

    def sym(self, cum, a: int, e: int, what) -> int:
        if what[0] == "unit":
            if self.unit is None:
                self.unit = self._next()
            syms = what[1]                      # the whole array; this table is a..e-1
            j = bisect.bisect_left(syms, self.unit, a, e)
            i = j if j < e and syms[j] == self.unit else e - 1
            assert syms[i] in (self.unit, ESC), f"unit {self.unit} cannot be coded here"
            if syms[i] == self.unit:
                self.unit = None
        else:
            i = a + self._next()
        self.coded.append((cum[i] - cum[a], cum[i + 1] - cum[i], cum[e] - cum[a]))
        return i


def _spec_range_encode(coded) -> bytes:
    """§4.2 and §4.3: the payload of a list of (cum, freq, total)."""
    low, rng, shifts = 0, 1 << 48, 0
    for c, f, total in coded:
        r = rng // total
        low += r * c
        rng = r * f
        while rng < 1 << 40:
            rng <<= 8
            low <<= 8
            shifts += 1
    n = shifts + 6
    for k in range(6, -1, -1):
        v = -(-low // 256 ** k) * 256 ** k
        if v < low + rng:
            return v.to_bytes(n, "big")[:n - k]
    raise AssertionError("unreachable: k = 0 always fits")


def _spec_encode(t: dict, wanted) -> tuple[bytes, object]:
    """Run the decoder's state machine on scripted values; (payload, its result or error)."""
    src = _Scripted(wanted)
    try:
        got = _spec_run(t, src)
    except (AigifError, _ScriptEnd) as e:
        got = e
    return _spec_range_encode(src.coded), got


# ------------------------------------------------------------------ fixtures, helpers
@pytest.fixture(scope="module")
def spec_t() -> dict:
    return _spec_tables(_table_raw())


def _spec_result(payload: bytes, t: dict):
    try:
        return _spec_decode(payload, t)
    except (MalformedError, LimitExceededError) as e:
        return type(e)


def _ref_result(payload: bytes):
    """The reference's texts or error class; only the two errors of §5 may escape, and
    quickly."""
    t0 = time.perf_counter()
    try:
        got = cm2.METHOD.decode(payload)
        assert len(got[0]) <= MAX_TEXT_CHARS and len(got[1]) <= MAX_TEXT_CHARS
    except (MalformedError, LimitExceededError) as e:
        got = type(e)
    assert time.perf_counter() - t0 < 2.0, payload.hex()
    return got


def _prompt_like(rnd: random.Random) -> str:
    words = ["masterpiece", "best quality", "1girl", "solo", "portrait", "of", "a", "the",
             "knight", "Greg Rutkowski", "iPhone", "McDonald's", "SDXL", "LoRA", "8k", "35mm",
             "日本", "🐱", "café", "BREAK", "highly detailed", "trending on artstation", "by",
             "and", "with", "cinematic lighting", "UHD", "octane render", "x4", "2024",
             "EasyNegative", "Ærø", "𝓯𝓪𝓷𝓬𝔂", "ultra-detailed", "f/1.8", "gReG", "\u200d"]
    seps = [", ", " ", ". ", " | ", "\n", ", (", ":1.2), ", " <lora:", ":0.8> ", "((", ")) ",
            "; ", "! ", "? ", " - ", "_", "\t", "，", "、"]
    out = []
    for _ in range(rnd.randrange(1, 25)):
        out += [rnd.choice(words), rnd.choice(seps)]
    return "".join(out)[:rnd.randrange(0, 400)]


def _corpus_sample(n: int) -> list[str]:
    files = sorted(SHARED.glob("t2i-compbench/*.txt"))
    lines = [ln.strip() for f in files for ln in f.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln]
    return random.Random(21).sample(lines, min(n, len(lines)))


# ------------------------------------------------------------------ vectors
def test_vectors_are_current():
    """The vectors file is what make_text_vectors.py builds from the shipped table."""
    r = subprocess.run([sys.executable, str(VEC / "make_text_vectors.py"), "--check"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_table_hash_is_the_vectors_and_table_is_bounded():
    raw = _table_raw()
    assert hashlib.sha256(raw).hexdigest() == TABLE_SHA256
    assert VECTORS["table_bytes"] == len(raw) <= 12 * 1024 * 1024
    assert VECTORS["method"] == 3 and VECTORS["key"] == "cm2" and cm2.CODE == 3


def test_reference_codes_every_vector():
    for v in VECTORS["vectors"]:
        p, n, data = v["prompt"], v["negative"], bytes.fromhex(v["payload"])
        assert cm2.METHOD.encode(p, n) == data, v["name"]
        assert cm2.METHOD.decode(data) == (p, n), v["name"]
        assert encode_text(p, n, 3) == b"\x03" + data
        assert decode_text(b"\x03" + data) == (p, n, 3)


def test_spec_decoder_decodes_every_vector_and_reencodes_its_bytes(spec_t):
    seen = set()
    for v in VECTORS["vectors"]:
        data = bytes.fromhex(v["payload"])
        rec = _Recorder(data)
        assert _spec_run(spec_t, rec) == (v["prompt"], v["negative"]), v["name"]
        assert _spec_range_encode(rec.coded) == data, v["name"]     # §4.2 and §4.3
        seen.update(rec.seen)
    # the vectors reach every path of M3.5 and M3.6: each case mode, both flag values,
    # escaped code points with a block and with "same block", and the multi-table chain
    kinds = spec_t["kinds"]
    assert {("case", m) for m in range(4)} | {("flag", 0), ("flag", 1)} <= seen
    assert ("block", 4352) in seen and any(w == "block" and b < 4352 for w, b in seen)
    assert ("unit", 0xFFFF) in seen and ("unit", 1) in seen
    assert {kinds[u] for w, u in seen if w == "unit" and u != 0xFFFF} == set("eugnf")


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("p,n", SPECIAL, ids=range(len(SPECIAL)))
def test_special_texts_round_trip_through_the_text_block(p, n):
    block = encode_text(p, n, 3)
    assert block[0] == 3 and decode_text(block) == (p, n, 3)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=120),
       st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_unicode_round_trips(p, n):
    data = cm2.METHOD.encode(p, n)
    assert cm2.METHOD.decode(data) == (p, n)


def test_spec_decoder_agrees_with_reference_on_texts(spec_t):
    rnd = random.Random(3)
    soup = "abcXYZ019 ,.!?\n()<>:_-'\"é日🐱\x00\t"
    texts = [(_prompt_like(rnd), _prompt_like(rnd) if rnd.random() < 0.3 else "")
             for _ in range(150)]
    texts += [("".join(rnd.choice(soup) for _ in range(rnd.randrange(40))),
               "".join(rnd.choice(soup) for _ in range(rnd.randrange(12)))) for _ in range(100)]
    texts += [(ln, "") for ln in _corpus_sample(100)]
    texts += [(p, n) for p, n in SPECIAL if len(p) + len(n) < 3000]
    for p, n in texts:
        assert _spec_decode(cm2.METHOD.encode(p, n), spec_t) == (p, n), (p, n)


# ------------------------------------------------------------------ robustness
def test_random_payloads_agree_and_raise_only_the_two_errors(spec_t):
    rnd = random.Random(7)
    for _ in range(400):
        data = rnd.randbytes(rnd.randrange(0, 80))
        assert _ref_result(data) == _spec_result(data, spec_t), data.hex()


def test_truncated_and_corrupted_payloads(spec_t):
    v = {v["name"]: v for v in VECTORS["vectors"]}
    rnd = random.Random(8)
    for name in ("community-negative", "mixed-case", "cjk"):
        data = bytes.fromhex(v[name]["payload"])
        for k in range(len(data)):
            assert _ref_result(data[:k]) == _spec_result(data[:k], spec_t)
        for i in range(len(data)):
            b = bytearray(data)
            b[i] ^= 1 << rnd.randrange(8)
            assert _ref_result(bytes(b)) == _spec_result(bytes(b), spec_t)
        # bytes after the last one a decoder reads are ignored (§4.3): it reads at most 6
        # past the end, the zeros the writer left out
        assert _ref_result(data + bytes(6) + b"\xff" * 9) == (v[name]["prompt"],
                                                                v[name]["negative"])
        assert _spec_result(data + bytes(6) + b"\xff" * 9, spec_t) == (v[name]["prompt"],
                                                                        v[name]["negative"])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_raise_only_the_two_errors(data):
    _ref_result(data)


def test_zero_and_one_streams_stop(spec_t):
    for data in (bytes(4000), b"\xff" * 4000, b"\x80" * 4000):
        assert _ref_result(data) == _spec_result(data, spec_t)


# ------------------------------------------------------------------ limits, surrogates
def _longest(t: dict, kind: str) -> int:
    return max((i for i, k in enumerate(t["kinds"]) if k == kind),
               key=lambda i: (len(t["units"][i]), -i))


def test_encoder_refuses_over_the_limit_and_lone_surrogates():
    for p, n in (("a" * (MAX_TEXT_CHARS + 1), ""), ("", "é" * (MAX_TEXT_CHARS + 1))):
        with pytest.raises(LimitExceededError):
            cm2.METHOD.encode(p, n)
    for p, n in (("a\ud800b", ""), ("", "\udfff"), ("🐱\udc00", "x")):
        with pytest.raises(MetaError):
            cm2.METHOD.encode(p, n)


def test_decoding_past_max_text_chars_is_limit_exceeded(spec_t):
    g = _longest(spec_t, "g")
    over = MAX_TEXT_CHARS // len(spec_t["units"][g]) + 1
    for wanted in ([g] * over, [0] + [g] * over):       # in the prompt; in the negative
        data, got = _spec_encode(spec_t, wanted)
        assert isinstance(got, LimitExceededError)
        assert _ref_result(data) is LimitExceededError
    # a word completed past the limit (its characters count at its last piece, M3.7)
    n_, f_ = _longest(spec_t, "n"), _longest(spec_t, "f")
    k = MAX_TEXT_CHARS // len(spec_t["units"][n_]) + 1
    data, got = _spec_encode(spec_t, [n_] * k + [f_, 0])
    assert isinstance(got, LimitExceededError) and _ref_result(data) is LimitExceededError


def test_an_unfinished_word_over_the_limit_is_an_error(spec_t):
    """Pieces of kind n past MAX_TEXT_CHARS with no final piece: a piece's characters count
    as it is decoded (M3.7), so both decoders stop with limit-exceeded at the piece that
    passes the limit, long before the end of the payload."""
    n_ = _longest(spec_t, "n")
    for extra in (2, 3):
        data, got = _spec_encode(spec_t,
                                 [n_] * (MAX_TEXT_CHARS // len(spec_t["units"][n_]) + extra))
        assert isinstance(got, LimitExceededError)
        assert _ref_result(data) is LimitExceededError


def test_escaped_surrogates_and_same_block_without_block_are_malformed(spec_t):
    for wanted in ([1, 0xD8, 0, 0, 0], [1, 0xDF, 255, 0, 0], [0, 1, 0xDB, 7, 0],
                   [1, 4352, 0, 0, 0], [0, 1, 4352, 5, 0]):
        data, got = _spec_encode(spec_t, wanted)
        assert isinstance(got, MalformedError), wanted
        assert _ref_result(data) is MalformedError, wanted
    data, got = _spec_encode(spec_t, [1, 0x4E, 0x2D, 0, 1, 4352, 0x2A, 0])
    assert got == ("中", "个") == _ref_result(data)     # the same block, across texts


# ------------------------------------------------------------------ table file
def test_unknown_or_corrupt_table_file_is_a_meta_error():
    blob = zstandard.ZstdDecompressor().decompress(_table_raw())
    h = struct.unpack_from("<I", blob, 8)[0]
    head = json.loads(blob[12:12 + h])
    head["version"] = 3
    j = json.dumps(head).encode()
    j += b" " * (-(12 + len(j)) % 8)
    v3 = blob[:8] + struct.pack("<I", len(j)) + j + blob[12 + h:]
    z = zstandard.ZstdCompressor(level=1).compress
    bad = [b"", b"not a table", z(b"AIGIFCM1" + blob[8:12 + h]), z(blob[:12 + h + 4096]),
           z(v3), _table_raw()[:-50], z(b"AIGIFCM2" + b"\0" * 20),
           zstandard.ZstdCompressor(write_content_size=False).compress(blob[:100])]
    for raw in bad:
        with pytest.raises(MetaError):
            cm2.read_table_file(raw)
        with pytest.raises(MetaError):
            _spec_tables(raw)
    with pytest.raises(MetaError):          # decompresses past 64 MiB (M3.2)
        cm2.read_table_file(z(bytes(65 << 20)))
    with pytest.raises(MetaError):
        cm2.Model(b"AIGIFCM2\xff\xff\xff\xff")


def test_decode_path_imports_no_numpy_or_torch():
    import aigif
    meta = aigif.GenerationMeta(model="sd15", prompt="a castle, (highly detailed:1.2), 日本",
                                negative_prompt="blurry", seed=123456789, steps=30)
    data = aigif.dumps(meta, text_method=3)
    code = (f"import sys, aigif\nm = aigif.loads(bytes.fromhex('{data.hex()}')).meta\n"
            f"print(m.prompt)\nassert m.negative_prompt == 'blurry'\n"
            f"assert 'numpy' not in sys.modules and 'torch' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "a castle, (highly detailed:1.2), 日本"
