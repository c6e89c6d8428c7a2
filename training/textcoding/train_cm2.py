"""Fit the cm2 prompt model (text method 3) and write ``aigif/textcoding/data/cm2.bin``.

Usage::

    pip download --no-deps -d /tmp/wheels clip-interrogator==0.6.0 \\
        comfyui-workflow-templates-json==0.1.123
    python -m training.textcoding.train_cm2 --wheels /tmp/wheels [--check]
    python -m training.textcoding.train_cm2 --wheels /tmp/wheels --baseline \\
        --out build/cm2/trigram.bin        # the trigram baseline of benchmarks/size.py

Lexicon: the CLIP BPE merges (open_clip ``bpe_simple_vocab_16e6.txt.gz``, MIT, in
``training/embedded/clip_bpe``) restricted to lowercase ASCII letters and digits, plus the
gap tokens (runs of punctuation and spaces) seen at least ``GAP_MIN`` times in training.
Counts come from T2I-CompBench training prompts (hash split of ``train.held_out``),
clip-interrogator's lists and the DiffusionDB phrase tree (hash split for flavors) and
synthetic community-style prompts built from them (``synth_prompts``). The ComfyUI
template prompts are never fitted: they are the held-out *source*.

Model: interpolated modified Kneser-Ney over units (orders 3..0), baked into the escape
chain of spec/text-coding.md M3.4 (``bake_kn``). Deterministic: the same corpora give the
same bytes (``--check`` compares with the shipped file). Fitting takes ~2 minutes and
~3 GB of memory on one core.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import struct
import sys
import time
from array import array
from collections import Counter, defaultdict

import zstandard

from aigif.textcoding import cm2
from aigif.textcoding.cm2 import (BOS0, BOS1, ESC, MAGIC, MODEL_VERSION, P_FIN, P_GAP, P_MID,
                                  Model)
from training.textcoding import train as T

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BPE_FILE = os.path.join(ROOT, "training", "embedded", "clip_bpe", "bpe_simple_vocab_16e6.txt.gz")
OUT = os.path.join(ROOT, "aigif", "textcoding", "data", cm2.TABLE_FILE)
ALNUM = set("abcdefghijklmnopqrstuvwxyz0123456789")
GAP_MIN = 20
#: the shipped model (text method 3). ``mode="backoff", interp=False, empty_neg=0.0`` gives
#: the plain interpolated absolute-discounting trigram the issue names as the baseline
PARAMS = dict(order=3, min_ctx=(0, 1, 2, 2), beta0=0.3, synth=60000, mode="kn", interp=True,
              case_prior=0.5, rank_prior=0.0, empty_neg=0.5, zstd_level=19)
#: the baseline of benchmarks/size.py
BASELINE = dict(mode="backoff", interp=False, empty_neg=0.0)


# ---------------------------------------------------------------------- lexicon
def clip_merges() -> list[tuple[str, str]]:
    with gzip.open(BPE_FILE, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")[1:49152 - 256 - 2 + 1]
    out = []
    for ln in lines:
        a, b = ln.split()
        bb = b[:-4] if b.endswith("</w>") else b
        if set(a) <= ALNUM and set(bb) <= ALNUM:
            out.append((a, b))
    return out


def build_lexicon(texts: list[str]) -> tuple[list[str], str, int, list]:
    merges = clip_merges()
    pieces_n = set(ALNUM)
    pieces_f = set(ALNUM)
    for a, b in merges:
        r = a + b
        if r.endswith("</w>"):
            pieces_f.add(r[:-4])
        else:
            pieces_n.add(r)
    gapc: Counter = Counter()
    for t in texts:
        for part in cm2.split_text(t):
            if not (part[0].isascii() and part[0].isalnum()):
                # candidate gap tokens: the whole run and its pieces split at spaces
                if len(part) <= 6 and all(0x20 <= ord(c) < 0x7F or c in "\n\t" for c in part):
                    gapc[part] += 1
    single = [chr(o) for o in range(0x20, 0x7F) if not chr(o).isalnum()] + ["\n", "\t"]
    gaps = sorted(set(single) | {g for g, c in gapc.items() if c >= GAP_MIN})
    units = ["", "", "", ""]
    kinds = "eubb"
    units += gaps
    kinds += "g" * len(gaps)
    for p in sorted(pieces_n):
        units.append(p)
        kinds += "n"
    for p in sorted(pieces_f):
        units.append(p)
        kinds += "f"
    assert len(units) < ESC
    space = units.index(" ", 4)
    return units, kinds, space, [list(m) for m in merges]


# ---------------------------------------------------------------------- corpora
def _wchoice(rnd: random.Random, items: list, cum: list[float]):
    import bisect
    return items[bisect.bisect_right(cum, rnd.random() * cum[-1]) - 1]


def _cum(ws):
    out, s = [], 0.0
    for w in ws:
        out.append(s)
        s += w
    out.append(s)
    return out


def synth_prompts(c: dict, n: int, seed: int, held: bool = False,
                  empty_neg: float = 0.0) -> list[tuple[str, int]]:
    """Community-style prompts: subject, comma-separated modifiers, artists, weights,
    LoRA tags, BREAK, mixed case; ``held`` draws only held-out flavors and subjects."""
    rnd = random.Random(seed)
    keep = (lambda t, name: T.held_out(t, name)) if held else \
        (lambda t, name: not T.held_out(t, name))
    subj = [t for t, *_ in c["compbench"] if keep(t, "compbench")]
    fl = [(t, w) for t, _, _, w in c["flavors"] if keep(t, "flavors")]
    dd = [(t, w) for t, _, _, w in c["diffusiondb"]]
    cur = [(t, w) for t, r, k, w in c["curated"] if r == 0]
    neg = [t for t, r, _, _ in c["negative"]] + [t for t, r, k, w in c["curated"] if r == 1]
    arts = sorted({t for t, *_ in c["artists"] if not t.startswith("by ")})
    med = [t for t, *_ in c["mediums"]]
    mov = [t for t, *_ in c["movements"]]
    pools = [(fl, _cum([w for _, w in fl])), (dd, _cum([w for _, w in dd])),
             (cur, _cum([w for _, w in cur]))]
    out = []
    for _ in range(n):
        items = []
        r = rnd.random()
        if r < 0.15:
            items += ["masterpiece", "best quality"]
        s = rnd.choice(subj).rstrip(".")
        if rnd.random() < 0.6:
            s = s[:1].lower() + s[1:]
        if rnd.random() < 0.3:
            s = rnd.choice(med) + " of " + s[:1].lower() + s[1:]
        items.append(s)
        for _ in range(rnd.choice([2, 4, 6, 8, 10, 12, 14])):
            x = rnd.random()
            if x < 0.45:
                t = _wchoice(rnd, *pools[0])[0]
            elif x < 0.7:
                t = _wchoice(rnd, *pools[1])[0]
            elif x < 0.82:
                t = _wchoice(rnd, *pools[2])[0]
            elif x < 0.95:
                a = rnd.choice(arts)
                if rnd.random() < 0.5:
                    a = a.lower()
                t = rnd.choice(["by ", "art by ", "", "in the style of "]) + a
                if rnd.random() < 0.3:
                    t += " and " + rnd.choice(arts)
            else:
                t = rnd.choice(mov)
            y = rnd.random()
            if y < 0.1:
                t = f"({t}:{rnd.choice(['1.1', '1.2', '1.3', '1.4', '1.5', '0.8', '0.9'])})"
            elif y < 0.15:
                t = "((" + t + "))"
            elif y < 0.17:
                t = "[" + t + "]"
            items.append(t)
        if rnd.random() < 0.05:
            items.insert(rnd.randrange(1, len(items)), "BREAK")
        if rnd.random() < 0.1:
            items = [i[:1].upper() + i[1:] for i in items]
        sep = rnd.choices([", ", ",", " , ", ". "], [90, 5, 2, 3])[0]
        p = sep.join(items)
        if rnd.random() < 0.08:
            words = [w for w in rnd.choice(fl)[0].split() if w.isalnum()] or ["style"]
            p += f" <lora:{'_'.join(words)}:{rnd.choice(['0.6', '0.7', '0.8', '1'])}>"
        out.append((p, 0))
        if empty_neg and rnd.random() < empty_neg:
            out.append(("", 1))
        elif rnd.random() < 0.4:
            k = rnd.randrange(2, 12)
            ns = rnd.sample(neg, min(k, len(neg)))
            out.append((", ".join(ns), 1))
    return out


def training_texts(c: dict, synth: int, empty_neg: float = 0.0) -> list[tuple[str, int]]:
    texts = [(t, 0) for t, *_ in c["compbench"] if not T.held_out(t, "compbench")]
    texts += synth_prompts(c, synth, 1, empty_neg=empty_neg)
    # the lists themselves, as short prompts
    texts += [(t, 0) for t, *_ in c["flavors"] if not T.held_out(t, "flavors")]
    texts += [(t, 0) for t, *_ in c["diffusiondb"]]
    texts += [(t, 0) for t, *_ in c["artists"]]
    texts += [(t, r) for t, r, *_ in c["curated"]]
    return texts


# ---------------------------------------------------------------------- counting
def count(lex: Model, texts, order: int):
    ctx: dict[int, Counter] = defaultdict(Counter)
    case = [[0] * 4 for _ in range(15)]
    flag = [[0, 0], [0, 0]]
    for text, role in texts:
        for ev in lex.events(text, BOS1 if role else BOS0):
            if ev[0] == "u":
                _, pos, hist, s = ev
                n = len(hist)
                ctx[pos << 2][s] += 1
                key = pos << 2
                for k in range(1, min(order, n) + 1):
                    key = (key & ~3) | k
                    key |= hist[n - k] << (4 + 16 * (k - 1))
                    ctx[key][s] += 1
            elif ev[0] == "c":
                case[ev[1]][ev[2]] += 1
            elif ev[0] == "f":
                flag[ev[1]][ev[2]] += 1
    return ctx, case, flag


def _legal(kinds: str, pos: int) -> list[int]:
    if pos == P_MID:
        return [i for i, k in enumerate(kinds) if k in "nf"]
    if pos == P_FIN:
        return [i for i, k in enumerate(kinds) if k in "eug"]
    return [i for i, k in enumerate(kinds) if k in "eugnf"]


def _piece_rank(lex: Model) -> dict[int, int]:
    """Unit id -> CLIP merge rank that makes the piece (single characters: 0)."""
    index = {(k, u): i for i, (u, k) in enumerate(zip(lex.units, lex.kinds)) if k in "nf"}
    out = {i: 0 for (k, u), i in index.items() if len(u) == 1}
    for r, (a, b) in enumerate(lex.merges_raw):
        x = a + b
        key = ("f", x[:-4]) if x.endswith("</w>") else ("n", x)
        if key in index:
            out.setdefault(index[key], r + 1)
    return out


def _scale(ps: dict[int, float], total: int) -> dict[int, int]:
    s = sum(ps.values())
    return {k: max(1, int(v * total / s + 0.5)) for k, v in ps.items()}


def bake(lex: Model, ctx, p: dict, log=print):
    """Integer tables: {key: {sym: count}} with ESC, from interpolated abs. discounting."""
    order = p["order"]
    tables: dict[int, dict[int, int]] = {}
    probs: dict[int, dict[int, float]] = {}    # the coded distribution, seen part + ESC
    for pos in (P_GAP, P_FIN, P_MID):
        c0 = ctx.get(pos << 2, Counter())
        legal = _legal(lex.kinds, pos)
        if pos == P_MID:
            legal = [i for i in legal]
        rk = _piece_rank(lex)
        rp = p["rank_prior"]
        d = {s: c0.get(s, 0) + p["beta0"] + (rp * 1000.0 / (rk[s] + 1000.0) if s in rk else 0.0)
             for s in legal}
        tables[pos << 2] = _scale(d, 1 << 22)
        tot = sum(tables[pos << 2].values())
        probs[pos << 2] = {s: v / tot for s, v in tables[pos << 2].items()}

    def p_chain(keys: list[int], s: int) -> float:
        # keys: stored tables from high to low order (last is order 0)
        q = 1.0
        for k in keys:
            pr = probs[k]
            if s in pr:
                return q * pr[s]
            q *= pr.get(ESC, 0.0)
        return 0.0
    for k in range(1, order + 1):
        n1 = sum(1 for key, cc in ctx.items() if key & 3 == k for v in cc.values() if v == 1)
        n2 = sum(1 for key, cc in ctx.items() if key & 3 == k for v in cc.values() if v == 2)
        D = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
        kept = 0
        for key in sorted(kk for kk in ctx if kk & 3 == k):
            cc = ctx[key]
            N = sum(cc.values())
            if N < p["min_ctx"][k]:
                continue
            pos = key >> 2 & 3
            # lower chain: stored tables of orders k-1 .. 1 (suffixes), then order 0
            chain = []
            for j in range(k - 1, 0, -1):
                kk = (key & ((1 << (4 + 16 * j)) - 1) & ~3) | j
                if kk in probs:
                    chain.append(kk)
            chain.append(pos << 2)
            T_ = len(cc)
            bow = D * T_ / N
            pl = {s: p_chain(chain, s) for s in cc}
            if p["mode"] == "interp":
                seen = {s: max(v - D, 0) / N + bow * pl[s] for s, v in cc.items()}
                esc = max(1.0 - sum(seen.values()), 1e-6)
            else:
                seen = {s: max(v - D, 0) / N for s, v in cc.items()}
                esc = bow
            # drop seen symbols that the chain would code as cheaply
            seen = {s: v for s, v in seen.items() if v > 0}
            d = dict(seen)
            d[ESC] = esc
            tab = _scale(d, 1 << 16)
            tables[key] = tab
            tot = sum(tab.values())
            probs[key] = {s: v / tot for s, v in tab.items()}
            kept += 1
        log(f"order {k}: D={D:.3f}, {kept} contexts kept")
    return tables


def _lower_key(key: int) -> int:
    """The order k-1 context of an order k >= 1 key (its oldest unit dropped)."""
    k = key & 3
    return (key & ((1 << (4 + 16 * (k - 1))) - 1) & ~3) | (k - 1)


def _oldest(key: int) -> int:
    k = key & 3
    return key >> (4 + 16 * (k - 1)) & 0xFFFF


def bake_kn(lex: Model, ctx, p: dict, log=print):
    """Interpolated modified Kneser-Ney baked into the escape chain of spec M3.4: with
    ``interp`` (the shipped model) a stored context's entries are its seen symbols'
    interpolated probabilities and its ESC the mass the unseen ones need (the decoder's
    exclusion of the seen symbols below makes that exact for tables of <= 256 entries);
    without, the discounted counts and ESC = the interpolation weight."""
    order = p["order"]
    # counts per order: raw at the top order, continuation counts below (number of
    # distinct one-unit-longer contexts seen with the symbol; raw where the context
    # starts at BOS: nothing can extend it)
    by_order: dict[int, dict[int, Counter]] = {k: {} for k in range(order + 1)}
    for key, cc in ctx.items():
        by_order[key & 3][key] = cc
    use: dict[int, dict[int, Counter]] = {order: by_order[order]}
    for k in range(order - 1, -1, -1):
        cont: dict[int, Counter] = defaultdict(Counter)
        for key, cc in by_order[k + 1].items():
            lk = _lower_key(key)
            for s in cc:
                cont[lk][s] += 1
        for key, cc in by_order[k].items():
            if k >= 1 and _oldest(key) in (BOS0, BOS1):
                cont[key] = Counter(cc)
        use[k] = cont
    tables: dict[int, dict[int, int]] = {}
    probs: dict[int, dict[int, float]] = {}
    for pos in (P_GAP, P_FIN, P_MID):
        c0 = use[0].get(pos << 2, Counter())
        d = {s: c0.get(s, 0) + p["beta0"] for s in _legal(lex.kinds, pos)}
        tables[pos << 2] = _scale(d, 1 << 22)
        tot = sum(tables[pos << 2].values())
        probs[pos << 2] = {s: v / tot for s, v in tables[pos << 2].items()}

    def p_chain(key: int, s: int) -> float:
        """What the escape chain from stored context ``key`` (or its nearest stored
        suffix) codes s with (no exclusion)."""
        q = 1.0
        while True:
            while key not in probs:
                key = _lower_key(key)
            pr = probs[key]
            if s in pr:
                return q * pr[s]
            if key & 3 == 0:
                return 0.0
            q *= pr[ESC]
            key = _lower_key(key)
    for k in range(1, order + 1):
        nk = Counter()
        for cc in use[k].values():
            for v in cc.values():
                if v <= 4:
                    nk[v] += 1
        Y = nk[1] / (nk[1] + 2 * nk[2]) if nk[1] + nk[2] else 0.5
        D = [0.0, max(0.05, 1 - 2 * Y * nk[2] / max(nk[1], 1)),
             max(0.05, 2 - 3 * Y * nk[3] / max(nk[2], 1)),
             max(0.05, 3 - 4 * Y * nk[4] / max(nk[3], 1))]
        D = [x * p.get("dscale", 1.0) for x in D]
        kept = 0
        for key in sorted(use[k]):
            cc = use[k][key]
            N = sum(cc.values())
            if N < p["min_ctx"][k]:
                continue
            # interpolation realised by the escape chain: the coded probability of s is
            # (c - D(c)) / N + bow * P_lower(s) summed over both paths' ... the encoder
            # takes the first, so the table holds the discounted counts and ESC = bow
            bow = sum(D[min(v, 3)] for v in cc.values()) / N
            if p.get("interp"):
                # seen symbols get their whole interpolated probability (the escape path
                # would code them too, but the encoder never takes it); ESC keeps the
                # mass the unseen ones need
                lk = _lower_key(key)
                pl = {s: p_chain(lk, s) for s in cc}
                d = {s: (v - D[min(v, 3)]) / N + bow * pl[s] for s, v in cc.items()}
                d[ESC] = max(bow * (1.0 - sum(pl.values())), 1e-6)
            else:
                d = {s: (v - D[min(v, 3)]) / N for s, v in cc.items() if v > D[min(v, 3)]}
                d[ESC] = bow
            tab = tables[key] = _scale(d, 1 << 16)
            if p.get("interp"):
                tot = sum(tab.values())
                probs[key] = {s: v / tot for s, v in tab.items()}
            kept += 1
        log(f"order {k}: D={D[1]:.3f}/{D[2]:.3f}/{D[3]:.3f}, {kept} contexts kept")
    return tables


def dump(lex: Model, tables, case, flag, p) -> bytes:
    keys = sorted(tables)
    start = array("I", [0])
    syms = array("H")
    cum = array("I")
    for k in keys:
        tab = tables[k]
        c = 0
        for s in sorted(tab):
            syms.append(s)
            cum.append(c)
            c += tab[s]
        syms.append(ESC)    # dummy entry: cum holds the total
        cum.append(c)
        start.append(len(syms))
    casec = [list(_scale({m: row[m] + p["case_prior"] for m in range(4)}, 1 << 12).values())
             for row in case]
    flagc = [list(_scale({m: row[m] + 0.5 for m in range(2)}, 1 << 12).values())
             for row in flag]
    head = {"version": MODEL_VERSION, "units": lex.units, "kinds": lex.kinds,
            "space": lex.space, "merges": lex._merges_text, "nctx": len(keys),
            "nent": len(syms), "case": casec, "flag": flagc}
    hj = json.dumps(head, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    if sys.byteorder != "little":  # pragma: no cover
        for a in (start, syms, cum):
            a.byteswap()
    hj += b" " * (-(12 + len(hj)) % 8)          # the arrays start 8-byte aligned
    blob = (MAGIC + struct.pack("<I", len(hj)) + hj + array("Q", keys).tobytes()
            + start.tobytes() + syms.tobytes() + b"\0\0" * (len(syms) % 2) + cum.tobytes())
    return zstandard.ZstdCompressor(level=p.get("zstd_level", 19), write_content_size=True,
                                    write_checksum=True).compress(blob)


def fit(c: dict, log=print, **over) -> bytes:
    p = dict(PARAMS, **over)
    t0 = time.time()
    texts = training_texts(c, p["synth"], p["empty_neg"])
    lex = Model.lexicon_only(*build_lexicon([t for t, _ in texts]))
    log(f"lexicon: {len(lex.units)} units ({time.time() - t0:.0f}s); {len(texts)} texts")
    ctx, case, flag = count(lex, texts, p["order"])
    log(f"counted {len(ctx)} contexts ({time.time() - t0:.0f}s)")
    tables = (bake_kn if p["mode"] == "kn" else bake)(lex, ctx, p, log)
    blob = dump(lex, tables, case, flag, p)
    log(f"table file {len(blob)} bytes ({time.time() - t0:.0f}s)")
    return blob


def test_sets(c: dict, limit: int = 1500) -> dict[str, list[tuple[str, str]]]:
    s = {}
    # comfy: never fitted by cm2; this part was also held out from cm1 (a fair comparison)
    s["comfy (source held out)"] = [((t, "") if r == 0 else ("", t)) for t, r, *_ in c["comfy"]
                                    if T.held_out(t, "comfy")]
    s["compbench (held out)"] = [(t, "") for t, *_ in c["compbench"]
                                 if T.held_out(t, "compbench")][:limit]
    s["flavors (held out)"] = [(t, "") for t, *_ in c["flavors"]
                               if T.held_out(t, "flavors")][:limit]
    syn = synth_prompts(c, 400, 99, held=True)
    s["synthetic community (held-out phrases)"] = [(t, "") for t, r in syn if r == 0]
    with open(os.path.join(ROOT, "benchmarks", "sd_prompts.txt"), encoding="utf-8") as f:
        s["hand-written SD prompts"] = [(ln.rstrip("\n"), "") for ln in f if ln.strip()]
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.textcoding.train_cm2")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data", "prompts"))
    ap.add_argument("--wheels", required=True)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--check", action="store_true",
                    help="rebuild and compare with --out instead of writing it")
    ap.add_argument("--baseline", action="store_true",
                    help="the plain interpolated absolute-discounting trigram (benchmark)")
    ap.add_argument("--param", action="append", default=[], help="key=python-literal")
    a = ap.parse_args(argv)
    over = dict(BASELINE) if a.baseline else {}
    for kv in a.param:
        k, v = kv.split("=", 1)
        over[k] = eval(v, {})  # noqa: S307 - a developer's own command line
    c = T.load_corpora(a.shared, a.wheels)
    blob = fit(c, log=lambda m: print(m, file=sys.stderr), **over)
    if a.check:
        with open(a.out, "rb") as f:
            same = f.read() == blob
        print(f"{a.out}: {'identical' if same else 'DIFFERENT'} ({len(blob)} bytes)",
              file=sys.stderr)
        return 0 if same else 1
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "wb") as f:
        f.write(blob)
    print(f"wrote {a.out}: {len(blob)} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
