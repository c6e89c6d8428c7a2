"""AIGIF v1 format benchmark: bytes per file, and open/validate throughput.

    python benchmarks/format.py [--n 1000]

Prints (1) bytes per file for realistic SD 1.5 metadata next to the same metadata as
AUTOMATIC1111 infotext raw / zlib-9 / brotli-11, per text method; (2) open+meta and validate
throughput (files/s, one process, one thread) next to Pillow reading the same metadata from a
PNG text chunk, in the same run, with rows for the reference path (construct schemas,
pure-Python cm1: what ``AIGIF_PURE_PYTHON=1`` selects); (3) the cm1 text coder alone,
compiled and pure Python.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402

import aigif  # noqa: E402
from aigif import AigifFile, GenerationMeta  # noqa: E402
from aigif.textcoding import candidates  # noqa: E402


def metas(recs):
    return [GenerationMeta(model="sd15", prompt=r["prompt"], negative_prompt=r["negative_prompt"],
                           seed=r["seed"], steps=r["steps"], guidance_scale=r["guidance_scale"],
                           scheduler=r["scheduler"], width=r["width"], height=r["height"])
            for r in recs]


def row(name, sizes):
    return f"| {name:<34} | {statistics.mean(sizes):8.1f} | {statistics.median(sizes):8.1f} | {max(sizes):6d} |"


def timed(fn, items, min_time=1.0):
    n, t0 = 0, time.perf_counter()
    while True:
        for x in items:
            fn(x)
        n += len(items)
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return n / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    a = ap.parse_args()
    if not _corpus.available():
        sys.exit("needs ../shared/data/prompts (the phrase tree and T2I-CompBench prompts)")
    import brotli
    recs = _corpus.records(a.n)
    ms = metas(recs)
    texts = [_corpus.a1111_infotext(r).encode() for r in recs]
    print(f"## Bytes per file ({a.n} realistic SD 1.5 records; mean prompt "
          f"{statistics.mean(len(r['prompt']) for r in recs):.0f} chars)\n")
    print("| encoding                           |     mean |   median |    max |")
    print("|------------------------------------|----------|----------|--------|")
    print(row("A1111 infotext, raw", [len(t) for t in texts]))
    print(row("A1111 infotext, zlib-9", [len(zlib.compress(t, 9)) for t in texts]))
    print(row("A1111 infotext, brotli-11", [len(brotli.compress(t, quality=11)) for t in texts]))
    for m in candidates():
        print(row(f"AIGIF, text method {m.code} ({m.key})",
                  [len(aigif.dumps(AigifFile(x, text_method=m.code))) for x in ms]))
    files = [aigif.dumps(x) for x in ms]
    print(row("AIGIF, best method (writer default)", [len(f) for f in files]))

    # ---------------------------------------------------------------- throughput
    from PIL import Image, PngImagePlugin
    pngs = []
    for t in texts[:200]:
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", t.decode())
        buf = io.BytesIO()
        Image.new("RGB", (64, 64)).save(buf, "PNG", pnginfo=info)
        pngs.append(buf.getvalue())
    sample = files[:200]

    def pil_read(b):
        with Image.open(io.BytesIO(b)) as im:
            return im.info["parameters"]

    print("\n## Throughput (files/s, one thread; same run)\n")
    print("| operation                                   | files/s |")
    print("|---------------------------------------------|---------|")
    print(f"| aigif.loads(b).meta (writer default: cm1)   | {timed(lambda b: aigif.loads(b).meta, sample):7.0f} |")
    sample1 = [aigif.dumps(AigifFile(x, text_method=1)) for x in ms[:200]]
    sample0 = [aigif.dumps(AigifFile(x, text_method=0)) for x in ms[:200]]
    print(f"| aigif.loads(b).meta (brotli text)           | {timed(lambda b: aigif.loads(b).meta, sample1):7.0f} |")
    print(f"| aigif.loads(b).meta (raw UTF-8 text)        | {timed(lambda b: aigif.loads(b).meta, sample0):7.0f} |")
    print(f"| aigif.validate(b)                           | {timed(aigif.validate, sample):7.0f} |")
    print(f"| aigif.dumps(meta)                           | {timed(aigif.dumps, ms[:200]):7.0f} |")
    forced = [AigifFile(x, text_method=2) for x in ms[:200]]
    print(f"| aigif.dumps, cm1 named (no brotli-11 trial) | {timed(aigif.dumps, forced):7.0f} |")
    # the reference path: construct schemas, full dataclass construction, pure-Python cm1
    # (what AIGIF_PURE_PYTHON=1 selects at import)
    from aigif import io as aio
    from aigif.textcoding import cm
    fast, comp = aio.FAST, cm.USE_COMPILED
    try:
        aio.FAST = cm.USE_COMPILED = False
        print(f"| reference path (AIGIF_PURE_PYTHON=1): loads | {timed(lambda b: aigif.loads(b).meta, sample):7.0f} |")
        print(f"| reference path: validate                    | {timed(aigif.validate, sample):7.0f} |")
        print(f"| reference path: dumps                       | {timed(aigif.dumps, ms[:200]):7.0f} |")
        cm.USE_COMPILED = comp
        print(f"| schema path + compiled cm1 (FAST=0): loads | {timed(lambda b: aigif.loads(b).meta, sample):7.0f} |")
    finally:
        aio.FAST, cm.USE_COMPILED = fast, comp
    print(f"| Pillow: open PNG + read 'parameters' chunk  | {timed(pil_read, pngs):7.0f} |")

    # the cm1 coder alone, compiled (aigif/textcoding/_cmfast.c) and pure-Python reference
    from aigif.textcoding import cm
    model = cm.load_model()
    pairs = [(x.prompt, x.negative_prompt) for x in ms[:200]]
    payloads = [model.encode(p, n) for p, n in pairs]
    built = model.compiled() is not None
    old = cm.USE_COMPILED
    try:
        for label, on in (("compiled", True), ("pure Python", False)):
            if on and not built:
                print(f"| cm1 coder, {label:<32} | not built |")
                continue
            cm.USE_COMPILED = on
            model.decode(payloads[0])      # first use builds tables: not timed
            model.encode(*pairs[0])
            dec = timed(model.decode, payloads, 0.5)
            enc = timed(lambda pn: model.encode(*pn), pairs, 0.5)
            print(f"| cm1 decode only, {label:<26} | {dec:7.0f} |")
            print(f"| cm1 encode only, {label:<26} | {enc:7.0f} |")
    finally:
        cm.USE_COMPILED = old


if __name__ == "__main__":
    main()
