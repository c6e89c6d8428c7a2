"""Text method 2 (``cm1``): a static context model of prompts driving a range coder.

The model (version 1, frozen) is a table file shipped in ``data/cm1.json.gz`` and made
by ``python -m training.textcoding.train``. It codes a prompt as a sequence of tokens:

* a lexicon of lowercase ASCII words and phrases ("highly detailed",
  "trending on artstation", ", ", "(") with a case mode (as is, Capitalized, UPPER,
  Title Case),
* an escape that spells one atom character by character (order-2 character model, with
  a code point escape for everything outside printable ASCII),
* an end symbol.

The distribution of the next token depends on whether the text is the prompt or the
negative prompt and on the class of the previous token (start, word, space, separator,
opening bracket, other punctuation). Every frequency is an integer and the coder is the
exact integer range coder of ``rangecoder``, so decoding is identical on every machine.
``spec/text-coding.md`` is the normative description.

Decoding imports neither numpy nor torch.

>>> from aigif.textcoding.cm import METHOD
>>> data = METHOD.encode("a castle on a hill, highly detailed", "blurry")
>>> METHOD.decode(data)
('a castle on a hill, highly detailed', 'blurry')
"""
from __future__ import annotations

import gzip
import json
import os
import re
import threading
from itertools import accumulate
from importlib import resources

from ..errors import LimitExceededError, MalformedError, MetaError
from ..spec import MAX_TEXT_CHARS
from . import Method
from .rangecoder import MAX_TOTAL, Decoder, Encoder

try:
    from . import _cmfast    # the compiled twin of this module (_cmfast.c), when it was built
except ImportError:          # pragma: no cover - built wherever a C compiler was
    _cmfast = None

#: Model.encode/decode use the compiled coder when it is built and this is true; else the
#: pure-Python reference below (the same bytes, strings and errors, only slower).
#: ``AIGIF_PURE_PYTHON=1`` in the environment turns it off at import; tests set it per test.
USE_COMPILED = _cmfast is not None and os.environ.get("AIGIF_PURE_PYTHON", "") in ("", "0")

__all__ = ["METHOD", "CODE", "MODEL_VERSION", "Model", "load_model", "atoms", "token_class"]

#: Text method code of this coder and the frozen model version it carries.
CODE = 2
MODEL_VERSION = 1
TABLE_FILE = "cm1.json.gz"

# token classes (the context of the next token)
BOS, WORD, PHRASE, SEP, OPEN, PUNCT, SPACE = range(7)
#: after a space, the context also says which group the word before the space is in
GROUPS = {"by": 1, "a": 2, "an": 2, "the": 2, "of": 3, "and": 4, "&": 4,
          **{w: 5 for w in ("with", "in", "on", "at", "from", "for", "under", "over", "into",
                            "inside", "as", "like", "wearing", "holding", "near", "behind")}}
NGROUP = 6
#: context keys per role: BOS..PUNCT, then SPACE + group (6..11)
NCLASS = SPACE + NGROUP
#: number of contexts: role (0 prompt, 1 negative) * NCLASS + key
NCTX = 2 * NCLASS
# case modes
CASE_AS_IS, CASE_FIRST, CASE_UPPER, CASE_TITLE = range(4)
NCASE = 4
# character model
CHAR_END = 0               # end of a spelled atom
CHAR_UNI = 98              # escape: a code point follows
NCHAR = 99                 # 0 end, 1..95 ' '..'~', 96 '\n', 97 '\t', 98 escape
NCHARCTX = 29              # 0 start, 1..26 letters (either case), 27 digits, 28 other
UNI_SAME = 4352            # "same 256-block as the previous escaped code point"
NUNI = 4353
MAX_PHRASE_ATOMS = 64      # longest lexicon entry, in atoms (encoder only)

_WORDCH = "0-9A-Za-z\u0080-\U0010ffff"
_ATOM = re.compile(f"[{_WORDCH}]+|[^{_WORDCH}]", re.DOTALL)
_SEPCH = frozenset(",.;|\n\r")
_SURROGATE = re.compile("[\ud800-\udfff]")
_OPENCH = frozenset("([{<")


def atoms(text: str) -> list[str]:
    """Split text into atoms: runs of word characters (ASCII letters and digits and every
    non-ASCII character) and single other characters. Lexicon entries are atom sequences."""
    return _ATOM.findall(text)


def token_class(s: str) -> int:
    """Class of a token string, from its ASCII characters only (spec section 3.3)."""
    last = s[-1]
    o = ord(last)
    if o >= 0x80 or last.isascii() and last.isalnum():
        return WORD
    if last == " ":
        for ch in s:
            if ch in _SEPCH:
                return SEP
        return SPACE
    if last in _SEPCH:
        return SEP
    if last in _OPENCH:
        return OPEN
    return PUNCT


def token_state(s: str, big: dict[str, int] | None = None) -> int:
    """The state a token leaves, or -1 for a space token (whose state depends on the one
    before it). Bits 0..3: context key; 4..7: word group; 8..: 1 + index of the word
    table pair of the token's last word (0: none)."""
    cls = token_class(s)
    if cls == SPACE:
        return -1
    if cls == WORD:
        last = s.rsplit(" ", 1)[-1]
        b = big.get(last, -1) if big else -1
        return (PHRASE if " " in s else WORD) | GROUPS.get(last, 0) << 4 | (b + 1) << 8
    return cls


def next_state(state: int, nx: int) -> int:
    if nx >= 0:
        return nx
    return (SPACE + (state >> 4 & 15)) | (state >> 8) << 8


def apply_case(s: str, mode: int) -> str:
    if mode == CASE_AS_IS:
        return s
    if mode == CASE_FIRST:
        return s[:1].upper() + s[1:]
    if mode == CASE_UPPER:
        return s.upper()
    out = []
    up = True
    for ch in s:
        out.append(ch.upper() if up else ch)
        up = ch == " "
    return "".join(out)


def char_symbol(ch: str) -> int:
    o = ord(ch)
    if 0x20 <= o <= 0x7E:
        return o - 0x1F
    if ch == "\n":
        return 96
    if ch == "\t":
        return 97
    return CHAR_UNI


_SYMCHAR = [""] + [chr(o) for o in range(0x20, 0x7F)] + ["\n", "\t", ""]


def char_class(ch: str) -> int:
    o = ord(ch)
    if 0x61 <= o <= 0x7A:
        return o - 0x60
    if 0x41 <= o <= 0x5A:
        return o - 0x40
    if 0x30 <= o <= 0x39:
        return 27
    return 28


def uni_bucket_counts() -> list[int]:
    """The fixed integer table of 256-code-point blocks for escaped characters."""
    c = [1] * NUNI
    for b, w in ((0x00, 200), (0x01, 60), (0x02, 20), (0x03, 40), (0x04, 150), (0x20, 150),
                 (0x21, 40), (0x22, 20), (0x25, 40), (0x26, 100), (0x27, 100), (0x30, 300),
                 (0xFF, 300), (0x1F3, 150), (0x1F4, 150), (0x1F5, 60), (0x1F6, 150),
                 (0x1F9, 120), (0xFE, 40)):
        c[b] = w
    for b in range(0x4E, 0xA0):
        c[b] = 40
    for b in range(0xAC, 0xD8):
        c[b] = 15
    c[UNI_SAME] = 8000
    return c


class _Table:
    """One frequency table: symbols, cumulative counts, and a symbol -> (cum, freq) map.

    Cumulative counts are built (and the counts checked) on first use, so that loading
    the model stays fast although it has thousands of tables.
    """

    __slots__ = ("syms", "_counts", "_cum", "_total", "index")

    def __init__(self, syms: list[int], counts: list[int]):
        if len(syms) != len(counts) or not counts:
            raise ValueError("table shape")
        self.syms = syms
        self._counts = counts
        self._cum: list[int] | None = None
        self._total = 0
        self.index = None

    def _build(self) -> None:
        counts, syms = self._counts, self.syms
        if set(map(type, counts)) != {int} or min(counts) < 1:
            raise ValueError("table counts must be positive ints")
        if any(a >= b for a, b in zip(syms, syms[1:])) or syms[0] < 0:
            raise ValueError("table symbols must ascend")
        cum = [0, *accumulate(counts)]
        if cum[-1] > MAX_TOTAL:
            raise ValueError(f"table total {cum[-1]} over {MAX_TOTAL}")
        self._total = cum[-1]
        self._cum = cum

    @property
    def cum(self) -> list[int]:
        if self._cum is None:
            self._build()
        return self._cum

    @property
    def total(self) -> int:
        if self._cum is None:
            self._build()
        return self._total

    def lookup(self, sym: int):
        """(cum, freq) of sym, or None."""
        if self.index is None:
            cum = self.cum
            self.index = {s: (cum[i], cum[i + 1] - cum[i]) for i, s in enumerate(self.syms)}
        return self.index.get(sym)

    def decode(self, dec: Decoder) -> int:
        cum = self._cum
        if cum is None:
            self._build()
            cum = self._cum
        return self.syms[dec.decode_index(cum, self._total)]


def _dense(counts: list[int]) -> _Table:
    return _Table(list(range(len(counts))), counts)


# ----------------------------------------------------------------- integer costs
_LOGTAB: list[int] | None = None


def _log_table() -> list[int]:
    """round(65536 * log2(1 + i/1024)) for i in 0..1023, by integer squaring only."""
    global _LOGTAB
    if _LOGTAB is None:
        tab = []
        P = 40
        one = 1 << P
        for i in range(1024):
            y = one + (i << (P - 10))
            r = 0
            for _ in range(20):
                y = (y * y) >> P
                r <<= 1
                if y >= 2 * one:
                    y >>= 1
                    r |= 1
            tab.append((r + 8) >> 4)     # 20 fraction bits -> 16, rounded
        _LOGTAB = tab
    return _LOGTAB


def ilog2(x: int) -> int:
    """log2(x) in units of 1/65536 bit, integer arithmetic only (x >= 1)."""
    n = x.bit_length() - 1
    m = (x << 10 >> n) if n < 10 else (x >> (n - 10))
    return (n << 16) + _log_table()[m & 1023]


class Model:
    """A loaded model (tables of ints). ``encode``/``decode`` code a (prompt, negative) pair.

    Tables: ``ctx`` (one per role and context key), ``big`` (two per frequent word, in the
    prompt: for the token after that word and a space, and for the token right after the
    word; they back off to a context table),
    ``global`` (every lexicon entry and the spell escape; context tables back off to it),
    ``case``, ``char`` (order-2 character model) and the fixed code point block table.
    """

    def __init__(self, tables: dict):
        if tables.get("version") != MODEL_VERSION:
            raise ValueError("not a version 1 model table")
        vocab = tables["vocab"]
        self.vocab: list[str] = vocab
        n = len(vocab)
        self.n = n
        self.END = n
        self.BACKOFF = n + 1
        self.SPELL = n + 2           # internal; index n of the global table
        if len(tables["global"]) != n + 1:
            raise ValueError("global table size")
        self.gtab = _dense(tables["global"])
        self.gtab.syms[n] = self.SPELL
        tabs = [_Table(ids, cs) for ids, cs in tables["ctx"]]
        if len(tabs) != NCTX:
            raise ValueError("context count")
        parent = [-1] * NCTX
        big: dict[str, int] = {}
        for k, (w, ids, cs, ids2, cs2) in enumerate(tables["big"]):
            if type(w) is not int or not 0 <= w < n or token_class(vocab[w]) != WORD \
                    or vocab[w] in big or " " in vocab[w]:
                raise ValueError("word table word")
            big[vocab[w]] = k
            parent += [SPACE + GROUPS.get(vocab[w], 0), WORD]
            tabs += [_Table(ids, cs), _Table(ids2, cs2)]
        for i, t in enumerate(tabs):
            if t.syms[-1] != self.BACKOFF or i < NCTX and t.syms[-2] != self.END:
                raise ValueError("context table symbols")
        self.tabs = tabs
        self.parent = parent
        self.big = big
        self.case = [_dense(c) for c in tables["case"]]
        if len(self.case) != NCTX:
            raise ValueError("case table count")
        ch = tables["char"]
        if len(ch) != NCHARCTX * NCHARCTX * NCHAR:
            raise ValueError("char table size")
        self.chars = [_dense(ch[i:i + NCHAR]) for i in range(0, len(ch), NCHAR)]
        self.uni = _dense(uni_bucket_counts())
        for s in vocab:
            if not s or not s.isascii() or s != s.lower():
                raise ValueError(f"bad vocab entry {s!r}")
        self._info: dict[int, tuple[int, bool]] = {}
        self._enc_ready = False
        self._lock = threading.Lock()

    def info(self, sym: int) -> tuple[int, bool]:
        """(state the lexicon entry leaves, whether it has letters), computed once."""
        v = self._info.get(sym)
        if v is None:
            s = self.vocab[sym]
            v = self._info[sym] = (token_state(s, self.big), s != s.upper())
        return v

    def table_for(self, role: int, st: int) -> int:
        """Index of the first table that codes the next token in state st."""
        key = st & 15
        if role == 0 and st >> 8:
            if key >= SPACE:
                return NCTX + 2 * ((st >> 8) - 1)
            if key == WORD or key == PHRASE:
                return NCTX + 2 * ((st >> 8) - 1) + 1
        return role * NCLASS + key

    _fast = None    # the compiled coder for these tables (False: not available)

    def compiled(self):
        """This model's compiled coder (``_cmfast.Coder``, made on first use), or None where
        the extension is not built or refuses the tables."""
        fast = self._fast
        if fast is None:
            with _compiled_lock:
                fast = self._fast
                if fast is None:
                    fast = self._fast = _make_compiled(self)
        return fast or None

    # ------------------------------------------------------------------ decoding
    def decode(self, data: bytes) -> tuple[str, str]:
        """(prompt, negative) coded in a payload; raises MalformedError or
        LimitExceededError (spec section 5). Compiled when available, else decode_py."""
        if USE_COMPILED:
            fast = self._fast
            if fast is None:
                fast = self.compiled()
            if fast:
                r = fast.decode(data)
                if type(r) is tuple:
                    return r
                raise _compiled_error(r)
        return self.decode_py(data)

    def decode_py(self, data: bytes) -> tuple[str, str]:
        """The pure-Python reference decoder."""
        dec = Decoder(data)
        state = [-1]
        p = self._decode_text(dec, 0, state)
        n = self._decode_text(dec, 1, state)
        return p, n

    def _decode_text(self, dec: Decoder, role: int, state: list) -> str:
        out: list[str] = []
        nchars = 0
        st = BOS
        base = role * NCLASS
        tabs, parent, vocab = self.tabs, self.parent, self.vocab
        END, BACKOFF, SPELL = self.END, self.BACKOFF, self.SPELL
        while True:
            c = base + (st & 15)
            ti = self.table_for(role, st)
            sym = tabs[ti].decode(dec)
            while sym == BACKOFF:
                ti = parent[ti]
                sym = tabs[ti].decode(dec) if ti >= 0 else self.gtab.decode(dec)
            if sym == END:
                return "".join(out)
            if sym == SPELL:
                s = self._decode_spell(dec, state)
                st = next_state(st, token_state(s, self.big))
            else:
                s = vocab[sym]
                nx, letters = self.info(sym)
                if letters:
                    s = apply_case(s, self.case[c].decode(dec))
                st = next_state(st, nx)
            out.append(s)
            nchars += len(s)
            if nchars > MAX_TEXT_CHARS:
                raise LimitExceededError(f"decoded text over {MAX_TEXT_CHARS} characters",
                                         field="text")

    def _decode_spell(self, dec: Decoder, state: list) -> str:
        out = []
        c1 = c2 = 0
        chars = self.chars
        while True:
            sym = chars[c1 * NCHARCTX + c2].decode(dec)
            if sym == CHAR_END:
                if not out:
                    raise MalformedError("empty spelled token in text stream", field="text")
                return "".join(out)
            if sym == CHAR_UNI:
                b = self.uni.decode(dec)
                if b == UNI_SAME:
                    if state[0] < 0:
                        raise MalformedError("code point escape refers to no earlier one",
                                             field="text")
                    b = state[0]
                state[0] = b
                cp = b << 8 | dec.decode_uniform(256)
                if 0xD800 <= cp <= 0xDFFF:
                    raise MalformedError(f"text stream codes the surrogate U+{cp:04X}",
                                         field="text")
                ch = chr(cp)
            else:
                ch = _SYMCHAR[sym]
            out.append(ch)
            if len(out) > MAX_TEXT_CHARS:
                raise LimitExceededError(f"decoded text over {MAX_TEXT_CHARS} characters",
                                         field="text")
            c2 = c1
            c1 = char_class(ch)

    # ------------------------------------------------------------------ encoding
    def _prepare_encoder(self) -> None:
        with self._lock:
            if self._enc_ready:
                return
            self.index = {s: i for i, s in enumerate(self.vocab)}
            pre = set()
            for s in self.vocab:
                if len(s) > 1:
                    a = atoms(s)
                    acc = ""
                    for x in a[:-1]:
                        acc += x
                        pre.add(acc)
            self.prefixes = pre
            self._cost_cache: list[dict[int, int]] = [dict() for _ in self.tabs]
            self._gt = ilog2(self.gtab.total)
            self._case_cost = [[ilog2(t.total) - ilog2(t.cum[m + 1] - t.cum[m])
                                for m in range(NCASE)] for t in self.case]
            self._char_cost = [[ilog2(t.total) - ilog2(t.cum[m + 1] - t.cum[m])
                                for m in range(NCHAR)] for t in self.chars]
            self._enc_ready = True

    def token_cost(self, ti: int, sym: int) -> int:
        """Cost of sym (lexicon id, END or SPELL) from table ti, in 1/65536 bit."""
        cache = self._cost_cache[ti]
        v = cache.get(sym)
        if v is None:
            t = self.tabs[ti]
            hit = t.lookup(sym)
            if hit is not None:
                v = ilog2(t.total) - ilog2(hit[1])
            else:
                v = ilog2(t.total) - ilog2(t.lookup(self.BACKOFF)[1])
                p = self.parent[ti]
                if p >= 0:
                    v += self.token_cost(p, sym)
                else:
                    g = self.gtab.cum
                    k = self.n if sym == self.SPELL else sym
                    v += self._gt - ilog2(g[k + 1] - g[k])
            cache[sym] = v
        return v

    def spell_cost(self, s: str) -> int:
        cost = 0
        c1 = c2 = 0
        cc = self._char_cost
        for ch in s:
            sym = char_symbol(ch)
            cost += cc[c1 * NCHARCTX + c2][sym]
            if sym == CHAR_UNI:
                cost += 10 << 16
            c2 = c1
            c1 = char_class(ch)
        return cost + cc[c1 * NCHARCTX + c2][CHAR_END]

    def parse(self, text: str, role: int, start: int = BOS,
              exclude: int = -1) -> list[tuple[int, int, str]]:
        """Cheapest token sequence for text: [(sym, case_mode, surface)], sym = SPELL or id.

        Deterministic: integer costs, ties broken by the order candidates are tried.
        ``exclude`` is a lexicon id not to use (training only).
        """
        if not self._enc_ready:
            self._prepare_encoder()
        a = atoms(text)
        n = len(a)
        base = role * NCLASS
        index, prefixes, info = self.index, self.prefixes, self.info
        big = self.big
        case_cost = self._case_cost
        SPELL = self.SPELL
        INF = 1 << 62
        # best[i]: {state: (cost, prev_i, prev_state, sym, mode, surface)}
        best: list[dict] = [dict() for _ in range(n + 1)]
        best[0][start] = (0, -1, -1, -1, 0, "")
        for i in range(n):
            states = best[i]
            if not states:
                continue
            cands = []
            s = ""
            for j in range(i, min(n, i + MAX_PHRASE_ATOMS)):
                s += a[j]
                if not s.isascii():
                    break
                low = s.lower()
                sym = index.get(low)
                if sym is not None and sym != exclude:
                    if low == s:
                        mode = 0
                    else:
                        mode = -1
                        for m in (1, 2, 3):
                            if apply_case(low, m) == s:
                                mode = m
                                break
                    if mode >= 0:
                        cands.append((j + 1, sym, mode, s))
                if low not in prefixes:
                    break
            if not cands or cands[0][0] != i + 1:
                cands.append((i + 1, SPELL, 0, a[i]))
            for pst, stv in list(states.items()):
                c = base + (pst & 15)
                ti = self.table_for(role, pst)
                pc = stv[0]
                for j, sym, mode, surf in cands:
                    if sym == SPELL:
                        cost = pc + self.token_cost(ti, SPELL) + self.spell_cost(surf)
                        nst = next_state(pst, token_state(surf, big))
                    else:
                        cost = pc + self.token_cost(ti, sym)
                        nx, letters = info(sym)
                        if letters:
                            cost += case_cost[c][mode]
                        nst = next_state(pst, nx)
                    cur = best[j].get(nst)
                    if cur is None or cost < cur[0]:
                        best[j][nst] = (cost, i, pst, sym, mode, surf)
        bestc, bst = INF, -1
        for pst, stv in best[n].items():
            cost = stv[0] + self.token_cost(self.table_for(role, pst), self.END)
            if cost < bestc:
                bestc, bst = cost, pst
        out = []
        i, st = n, bst
        while i > 0:
            stv = best[i][st]
            out.append((stv[3], stv[4], stv[5]))
            i, st = stv[1], stv[2]
        out.reverse()
        return out

    def encode(self, prompt: str, negative: str) -> bytes:
        for what, s in (("prompt", prompt), ("negative_prompt", negative)):
            if len(s) > MAX_TEXT_CHARS:
                raise LimitExceededError(f"{what} has {len(s)} characters, over "
                                         f"{MAX_TEXT_CHARS}", field=what)
            m = _SURROGATE.search(s)
            if m:
                raise MetaError(f"{what} is not valid Unicode (lone surrogate at index "
                                f"{m.start()})", field=what)
        if USE_COMPILED:
            fast = self._fast
            if fast is None:
                fast = self.compiled()
            if fast:
                return fast.encode(prompt, negative)
        enc = Encoder()
        state = [-1]
        for role, text in ((0, prompt), (1, negative)):
            self._encode_tokens(enc, role, self.parse(text, role), state)
        return enc.finish()

    def _put_token(self, enc: Encoder, ti: int, sym: int) -> None:
        tabs, parent = self.tabs, self.parent
        while True:
            t = tabs[ti]
            hit = t.lookup(sym)
            if hit is not None:
                enc.encode(hit[0], hit[1], t.total)
                return
            self._put(enc, t, self.BACKOFF)
            ti = parent[ti]
            if ti < 0:
                self._put(enc, self.gtab, sym)
                return

    def _encode_tokens(self, enc: Encoder, role: int, toks, state: list) -> None:
        st = BOS
        base = role * NCLASS
        for sym, mode, surf in toks:
            c = base + (st & 15)
            self._put_token(enc, self.table_for(role, st), sym)
            if sym == self.SPELL:
                self._encode_spell(enc, surf, state)
                st = next_state(st, token_state(surf, self.big))
                continue
            nx, letters = self.info(sym)
            if letters:
                self._put(enc, self.case[c], mode)
            st = next_state(st, nx)
        self._put_token(enc, self.table_for(role, st), self.END)

    @staticmethod
    def _put(enc: Encoder, t: _Table, sym: int) -> None:
        hit = t.lookup(sym)
        enc.encode(hit[0], hit[1], t.total)

    def _encode_spell(self, enc: Encoder, s: str, state: list) -> None:
        c1 = c2 = 0
        chars = self.chars
        for ch in s:
            sym = char_symbol(ch)
            cum = chars[c1 * NCHARCTX + c2].cum
            enc.encode(cum[sym], cum[sym + 1] - cum[sym], cum[-1])
            if sym == CHAR_UNI:
                o = ord(ch)
                b = o >> 8
                if b == state[0]:
                    self._put(enc, self.uni, UNI_SAME)
                else:
                    self._put(enc, self.uni, b)
                state[0] = b
                enc.encode_uniform(o & 255, 256)
            c2 = c1
            c1 = char_class(ch)
        cum = chars[c1 * NCHARCTX + c2].cum
        enc.encode(cum[0], cum[1] - cum[0], cum[-1])


# ----------------------------------------------------------------------- compiled
_compiled_lock = threading.Lock()


def _make_compiled(m: Model):
    """A ``_cmfast.Coder`` over m's tables (flattened once), or False."""
    if _cmfast is None:
        return False
    tables = [(t.syms, t._counts) for t in (*m.tabs, m.gtab, *m.case, *m.chars, m.uni)]
    try:
        return _cmfast.Coder(m.vocab, tables, m.parent, list(m.big.items()),
                             list(GROUPS.items()), _log_table(), MAX_TEXT_CHARS)
    except (ValueError, TypeError):    # tables the C side cannot take: the reference runs
        return False


def _compiled_error(code: int) -> Exception:
    """The reference decoder's error for a compiled decoder's error code."""
    kind = code & 255
    if kind == _cmfast.ERR_LIMIT:
        return LimitExceededError(f"decoded text over {MAX_TEXT_CHARS} characters", field="text")
    if kind == _cmfast.ERR_SURROGATE:
        return MalformedError(f"text stream codes the surrogate U+{code >> 8:04X}", field="text")
    msg = {_cmfast.ERR_RANGE: "text stream is corrupt (code value past the range)",
           _cmfast.ERR_END: "text stream ends before its last symbol",
           _cmfast.ERR_EMPTY_SPELL: "empty spelled token in text stream",
           _cmfast.ERR_NO_PREV: "code point escape refers to no earlier one"}[kind]
    return MalformedError(msg, field="text")


# ----------------------------------------------------------------------- loading
_model: Model | None = None
_load_lock = threading.Lock()


def load_tables(raw: bytes) -> dict:
    return json.loads(gzip.decompress(raw))


def load_model() -> Model:
    """The shipped version-1 model, loaded once (thread-safe)."""
    global _model
    if _model is None:
        with _load_lock:
            if _model is None:
                raw = resources.files(__package__).joinpath("data", TABLE_FILE).read_bytes()
                _model = Model(load_tables(raw))
    return _model


def _encode(prompt: str, negative: str) -> bytes:
    return load_model().encode(prompt, negative)


def _decode(data: bytes) -> tuple[str, str]:
    return load_model().decode(data)


#: a default writer candidate: the writer keeps the shortest of methods 0, 1 and 2
METHOD = Method(CODE, "cm1", _encode, _decode, default=True)
