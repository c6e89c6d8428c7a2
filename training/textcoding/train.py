"""Fit the cm1 prompt model and write ``data/cm1.json.gz`` (deterministic).

Usage::

    pip download --no-deps -d /tmp/wheels clip-interrogator==0.6.0 \\
        comfyui-workflow-templates-json==0.1.123
    python -m training.textcoding.train --shared ../shared/data/prompts --wheels /tmp/wheels

Corpora (licences in ``data/LICENSES.md``): the DiffusionDB phrase tree and the
T2I-CompBench prompts from the shared data folder, clip-interrogator's phrase lists
(flavors, artists, mediums, movements, negative), the prompts in ComfyUI's workflow
templates, and ``curated.txt`` (beside this script). A fixed part of each corpus is held out by a hash of
the text (``held_out``) and never fitted; ``benchmarks/size.py`` reports on that part.

Version 1 is frozen: running this again must give the same bytes as the shipped table
(``--check``). A changed model is a new table file under a new text method code.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import os
import sys
import time
import zipfile
from collections import Counter, defaultdict

from aigif.textcoding.cm import (BOS, CHAR_END, MAX_PHRASE_ATOMS, MODEL_VERSION, NCASE, NCHAR,
                 NCHARCTX, NCLASS, NCTX, PHRASE, SEP, SPACE, TABLE_FILE, WORD, Model, atoms,
                 char_class, char_symbol, next_state, token_state)

__all__ = ["held_out", "load_corpora", "train"]

CI_WHEEL = "clip_interrogator-0.6.0-py3-none-any.whl"
COMFY_WHEEL = "comfyui_workflow_templates_json-0.1.123-py3-none-any.whl"
DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "aigif", "textcoding", "data")
HERE = os.path.dirname(__file__)

#: virtual corpus size that weights are expressed in (prompts)
VIRTUAL_PROMPTS = 10_000


def held_out(text: str, corpus: str) -> bool:
    """True for the texts that are never fitted (about 1 in 5; 1 in 10 for flavors)."""
    h = hashlib.sha256(f"{corpus}\0{text}".encode("utf-8", "surrogatepass")).digest()
    return h[0] % (10 if corpus == "flavors" else 5) == 0


# ---------------------------------------------------------------------- corpora
def _read_zip_text(path: str, member_suffix: str) -> dict[str, str]:
    out = {}
    with zipfile.ZipFile(path) as z:
        for name in sorted(z.namelist()):
            if name.endswith(member_suffix):
                out[name] = z.read(name).decode("utf-8")
    return out


def _comfy_prompts(wheel: str) -> list[tuple[str, int]]:
    """(text, role) of prompt strings in ComfyUI's workflow templates, deduplicated."""
    seen: dict[str, int] = {}
    for name, raw in _read_zip_text(wheel, ".json").items():
        base = name.rsplit("/", 1)[-1]
        if base.startswith("index") or "/templates/" not in name:
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        stack = [doc]
        while stack:
            x = stack.pop()
            if isinstance(x, dict):
                t = x.get("type")
                wv = x.get("widgets_values")
                if isinstance(t, str) and isinstance(wv, list) and (
                        "Text" in t or "Prompt" in t or "prompt" in t):
                    role = 1 if "neg" in str(x.get("title") or "").lower() else 0
                    for v in wv:
                        if (isinstance(v, str) and len(v) >= 8 and (" " in v.strip() or "，" in v)
                                and not v.endswith((".safetensors", ".json", ".ckpt"))):
                            seen.setdefault(v, role)
                stack.extend(reversed(list(x.values())))
            elif isinstance(x, list):
                stack.extend(reversed(x))
    return sorted(seen.items())


def _tree_phrases(path: str) -> list[tuple[str, int]]:
    """(phrase, exclusive count) of the DiffusionDB phrase tree."""
    with open(path, encoding="utf-8") as f:
        tree = json.load(f)
    out = []

    def walk(n):
        kids = n.get("c", [])
        if n.get("v") is not None:
            excl = n["v"] - sum(k.get("v", 0) for k in kids)
            out.append((n["n"], max(excl, n["v"] // 10)))
        for k in kids:
            walk(k)
    walk(tree)
    return out


def load_corpora(shared: str, wheels: str) -> dict[str, list[tuple[str, int, str, float]]]:
    """Every corpus as a list of documents ``(text, role, kind, weight)``.

    kind: ``p`` whole prompt, ``f`` first clause, ``c`` clause, ``n`` negative clause,
    ``N`` whole negative prompt. Weights are occurrences per VIRTUAL_PROMPTS prompts.
    """
    c: dict[str, list] = {}
    # T2I-CompBench: whole prompts
    lines = []
    for p in sorted(glob.glob(os.path.join(shared, "t2i-compbench", "*.txt"))):
        with open(p, encoding="utf-8") as f:
            lines += [ln.rstrip("\n") for ln in f if ln.strip()]
    lines = sorted(set(lines))
    c["compbench"] = [(t, 0, "p", 1500 / len(lines)) for t in lines]
    # ComfyUI templates
    cp = _comfy_prompts(os.path.join(wheels, COMFY_WHEEL))
    c["comfy"] = [(t, r, "N" if r else "p", (600 if r else 1500) / len(cp)) for t, r in cp]
    # clip-interrogator lists
    ci = {k.rsplit("/", 1)[-1]: v for k, v in
          _read_zip_text(os.path.join(wheels, CI_WHEEL), ".txt").items()}
    fl = [ln for ln in ci["flavors.txt"].splitlines() if ln.strip()]
    c["flavors"] = [(t, 0, "c", 9000.0 / (r + 10)) for r, t in enumerate(fl)]
    arts = [ln for ln in ci["artists.txt"].splitlines() if ln.strip()]
    docs = []
    for a in arts:
        docs += [(a.lower(), 0, "c", 0.25), ("by " + a.lower(), 0, "c", 0.4), (a, 0, "c", 0.1)]
    c["artists"] = docs
    c["mediums"] = [(t, 0, "f", 3.0) for t in ci["mediums.txt"].splitlines() if t.strip()]
    c["movements"] = [(t, 0, "c", 2.0) for t in ci["movements.txt"].splitlines() if t.strip()]
    c["negative"] = [(t, 1, "n", 20.0) for t in ci["negative.txt"].splitlines() if t.strip()]
    # DiffusionDB phrase tree: counts over ~2M prompts
    c["diffusiondb"] = [(t, 0, "c", v * VIRTUAL_PROMPTS / 2_000_000 * 0.5)
                        for t, v in _tree_phrases(os.path.join(shared, "diffusiondb",
                                                               "phrases-tree.json"))
                        if t != "root"]
    # curated
    docs = []
    with open(os.path.join(HERE, "curated.txt"), encoding="utf-8") as f:
        for ln in f:
            if ln.startswith("#") or not ln.strip():
                continue
            w, kind, text = ln.rstrip("\n").split("\t")
            role = 1 if kind in "nN" else 0
            docs.append((text, role, {"w": "c"}.get(kind, kind), float(w)))
    c["curated"] = docs
    return c


def split(corpora: dict) -> tuple[list, dict]:
    """(training documents, {corpus: held-out documents})."""
    train_docs, test = [], {}
    for name, docs in corpora.items():
        hold = name in ("compbench", "comfy", "flavors")
        t = []
        for d in docs:
            if hold and held_out(d[0], name):
                t.append(d)
            else:
                train_docs.append(d)
        test[name] = t
    return train_docs, test


# --------------------------------------------------------------------- fitting
PUNCT_TOKENS = [", ", ",", " ,", " , ", ",  ", ". ", ".", "; ", " | ", "|", "\n", "\n\n",
                ": ", " - ", "-", "(", ")", "((", "))", "[", "]", "{", "}", "<", ">", ":",
                "), ", ", (", " (", ") ", "'", "\"", "!", "?", "_", "/", "&", "+", "*", "#",
                "=", "%", "@", "~", "^", "$", "`", "\\", "\t", "  ", " "]
# ending of a document, by kind: [(separator token or None for END, share)]
ENDINGS = {"p": [(None, 1.0)], "N": [(None, 1.0)], "f": [(" ", 0.85), (", ", 0.15)],
           "c": [(", ", 0.82), (None, 0.12), (",", 0.03), (". ", 0.03)],
           "n": [(", ", 0.85), (None, 0.15)]}
TABLE_TOTAL = 1 << 22


def _start(kind: str) -> int:
    return BOS if kind in "pfN" else SEP


def candidate_vocab(docs) -> Counter:
    cand: Counter = Counter()
    for text, role, kind, w in docs:
        a = atoms(text)
        for x in a:
            if x.isascii():
                cand[x.lower()] += w
        if kind != "p" and 1 < len(a) <= MAX_PHRASE_ATOMS and text.isascii() and len(text) <= 200:
            cand[text.lower()] += w
    weights = [f":{v / 10:g}" for v in range(1, 21)]
    for t in (PUNCT_TOKENS + [chr(o) for o in range(0x20, 0x7F)] + weights
              + [w + ")" for w in weights] + [w + ">" for w in weights]):
        cand[t.lower()] += 0.5
    return cand


def _scale(counts: list[float], total: int = TABLE_TOTAL) -> list[int]:
    s = sum(counts)
    return [max(1, int(c * total / s + 0.5)) for c in counts]


def _table(cc: dict, keep: float, beta: float, end: int | None, backoff: int) -> list:
    kept = {}
    dropped = 0.0
    for sym, v in cc.items():
        if sym == backoff or sym == end:
            continue
        if v >= keep:
            kept[sym] = v
        else:
            dropped += v
    tot = sum(cc.values()) or 1.0
    if end is not None:
        kept[end] = max(cc.get(end, 0.0), tot * 1e-4)
    kept[backoff] = dropped + cc.get(backoff, 0.0) + beta * len(cc) + tot * 1e-4
    syms = sorted(kept)
    return [syms, _scale([kept[s] for s in syms])]


def _tables_from(vocab: list[str], gl: list[float], ctx_counts, big_counts, aw_counts,
                 case_counts, char_counts, p: dict) -> dict:
    n = len(vocab)
    END, BACKOFF = n, n + 1
    gsum = sum(gl)
    glob = _scale(gl + [gsum * p["spell_share"]], TABLE_TOTAL << 1)
    ctx = [_table(ctx_counts[c], p["keep"], p["backoff_beta"], END, BACKOFF)
           for c in range(NCTX)]
    index = {s: i for i, s in enumerate(vocab)}
    big = []
    for w in sorted(set(big_counts) | set(aw_counts)):
        cc, ca = big_counts.get(w, {}), aw_counts.get(w, {})
        if w in index and " " not in w and sum(cc.values()) + sum(ca.values()) >= p["big_min"]:
            big.append([index[w], *_table(cc, p["big_keep"], p["big_beta"], None, BACKOFF),
                        *_table(ca, p["big_keep"], p["big_beta"], None, BACKOFF)])
    big.sort()
    case = [_scale([case_counts[c][m] + 0.5 for m in range(NCASE)], 1 << 16) for c in range(NCTX)]
    char = []
    for i in range(NCHARCTX * NCHARCTX):
        row = char_counts[i]
        char += _scale([row[s] + 0.05 for s in range(NCHAR)], 1 << 16)
    return {"version": MODEL_VERSION, "vocab": vocab, "global": glob, "ctx": ctx, "big": big,
            "case": case, "char": char}


def _count(model: Model, docs, loo: float):
    n = model.n
    ctx_counts = [defaultdict(float) for _ in range(NCTX)]
    big_counts: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    aw_counts: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    case_counts = [[0.0] * NCASE for _ in range(NCTX)]
    tok_total: Counter = Counter()
    for text, role, kind, w0 in docs:
        # leave-one-out share: the clause coded as if it were not in the lexicon (how an
        # unseen phrase of known words looks); single atoms have no such reading
        own = model.index.get(text.lower(), -1) if kind in "cfn" and len(atoms(text)) > 1 \
            else -1
        runs = [(w0, -1)] if own < 0 or loo <= 0 else [(w0 * (1 - loo), -1), (w0 * loo, own)]
        for w, excl in runs:
            st = _start(kind)
            base = role * NCLASS
            last = None
            toks = model.parse(text, role, st, excl) if text else []
            for sym, mode, surf in toks:
                key = st & 15
                c = base + key
                tgt = n + 1 if sym == model.SPELL else sym
                ctx_counts[c][tgt] += w
                if role == 0 and last is not None:
                    if key >= SPACE:
                        big_counts[last][tgt] += w
                    elif key in (WORD, PHRASE):
                        aw_counts[last][tgt] += w
                if sym == model.SPELL:
                    nx = token_state(surf)
                    last = None
                else:
                    tok_total[sym] += w
                    nx, letters = model.info(sym)
                    if letters:
                        case_counts[c][mode] += w
                    if nx >= 0:
                        last = model.vocab[sym].rsplit(" ", 1)[-1] if nx & 15 in (WORD, PHRASE) \
                            else None
                st = next_state(st, nx)
            for sep, share in ENDINGS[kind]:
                key = st & 15
                c = base + key
                sym = n if sep is None else model.index[sep]
                ctx_counts[c][sym] += w * share
                if role == 0 and last is not None:
                    if key >= SPACE:
                        big_counts[last][sym] += w * share
                    elif key in (WORD, PHRASE):
                        aw_counts[last][sym] += w * share
                if sep is not None:
                    tok_total[sym] += w * share
    return ctx_counts, big_counts, aw_counts, case_counts, tok_total


def _char_counts(docs) -> list[list[float]]:
    words: set[str] = set()
    for text, _, _, _ in docs:
        for a in atoms(text):
            if len(a) > 1 or a.isalnum() or not a.isascii():
                words.add(a)
    counts = [[0.0] * NCHAR for _ in range(NCHARCTX * NCHARCTX)]
    for wd in sorted(words):
        c1 = c2 = 0
        for ch in wd:
            counts[c1 * NCHARCTX + c2][char_symbol(ch)] += 1
            c2, c1 = c1, char_class(ch)
        counts[c1 * NCHARCTX + c2][CHAR_END] += 1
    return counts


PARAMS = dict(min_token=0.02, keep=0.05, spell_share=0.01, backoff_beta=0.3,
              big_min=5.0, big_keep=0.1, big_beta=1.0, loo=0.5, empty_negative=7000.0)


def train(docs, log=print, **overrides) -> dict:
    """Fit the model tables (a dict of ints and strings) to training documents."""
    p = dict(PARAMS, **overrides)
    t0 = time.time()
    cand = candidate_vocab(docs)
    vocab = sorted(cand, key=lambda s: (-cand[s], s))
    charc = _char_counts(docs)
    zero_ctx = [defaultdict(float) for _ in range(NCTX)]
    zero_case = [[1.0] * NCASE for _ in range(NCTX)]
    tables = _tables_from(vocab, [cand[s] for s in vocab], zero_ctx, {}, {}, zero_case, charc,
                          p)
    log(f"candidates: {len(vocab)} ({time.time() - t0:.1f}s)")
    for it in range(3):
        model = Model(tables)
        model._prepare_encoder()
        ctx_counts, big_counts, aw_counts, case_counts, tok_total = _count(
            model, docs, p["loo"] if it else 0.0)
        ctx_counts[NCLASS + BOS][model.n] += p["empty_negative"]
        ctx_counts[BOS][model.n] += 5.0
        # prune rare multi-atom entries; keep every single atom that occurred
        keep_ids = [i for i, s in enumerate(model.vocab)
                    if tok_total[i] >= p["min_token"] or len(atoms(s)) == 1 and cand[s] > 0]
        keep_ids.sort(key=lambda i: (-tok_total[i], model.vocab[i]))
        remap = {old: new for new, old in enumerate(keep_ids)}
        vocab = [model.vocab[i] for i in keep_ids]
        remap[model.n] = len(vocab)
        remap[model.n + 1] = len(vocab) + 1

        def re(cc):
            out = defaultdict(float)
            for sym, v in cc.items():
                out[remap.get(sym, len(vocab) + 1)] += v
            return out
        ctx_counts = [re(cc) for cc in ctx_counts]
        big_counts = {w: re(cc) for w, cc in sorted(big_counts.items())}
        aw_counts = {w: re(cc) for w, cc in sorted(aw_counts.items())}
        gl = [tok_total[i] + 0.02 for i in keep_ids]
        tables = _tables_from(vocab, gl, ctx_counts, big_counts, aw_counts, case_counts, charc,
                              p)
        log(f"pass {it}: vocab {len(vocab)}, ctx sizes "
            f"{[len(t[0]) for t in tables['ctx']]}, {len(tables['big'])} word table pairs with "
            f"{sum(len(b[1]) + len(b[3]) for b in tables['big'])} entries "
            f"({time.time() - t0:.1f}s)")
    return tables


def dump(tables: dict) -> bytes:
    raw = json.dumps(tables, separators=(",", ":"), ensure_ascii=True, sort_keys=True)
    return gzip.compress(raw.encode("ascii"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.textcoding.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join("..", "shared", "data", "prompts"))
    ap.add_argument("--wheels", required=True, help="folder with the two corpus wheels")
    ap.add_argument("--out", default=os.path.join(DATA_DIR, TABLE_FILE))
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 unless the result equals --out byte for byte")
    a = ap.parse_args(argv)
    docs, _ = split(load_corpora(a.shared, a.wheels))
    blob = dump(train(docs, log=lambda m: print(m, file=sys.stderr)))
    if a.check:
        with open(a.out, "rb") as f:
            same = f.read() == blob
        print("identical" if same else "DIFFERENT", file=sys.stderr)
        return 0 if same else 1
    with open(a.out, "wb") as f:
        f.write(blob)
    print(f"wrote {a.out}: {len(blob)} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
