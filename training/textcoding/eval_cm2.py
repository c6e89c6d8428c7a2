"""Held-out sizes of cm1 and cm2 (and a cm2 table passed with --table), round trips checked.

    python -m training.textcoding.eval_cm2 --wheels /tmp/wheels [--table FILE ...]
"""
from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time

from aigif.textcoding import cm
from aigif.textcoding import cm2
from training.textcoding import train as T
from training.textcoding.train_cm2 import test_sets


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data/prompts")
    ap.add_argument("--wheels", required=True)
    ap.add_argument("--table", action="append", default=[])
    ap.add_argument("--limit", type=int, default=400)
    a = ap.parse_args(argv)
    c = T.load_corpora(a.shared, a.wheels)
    sets = test_sets(c, a.limit)
    coders = {"cm1": cm.load_model()}
    for p in a.table or [None]:
        if p is None:
            coders["cm2"] = cm2.load_model()
        else:
            t0 = time.perf_counter()
            with open(p, "rb") as f:
                coders[p] = cm2.read_table_file(f.read())
            print(f"{p}: load {1000 * (time.perf_counter() - t0):.0f} ms", file=sys.stderr)
    for name, pairs in sets.items():
        chars = sum(len(p) + len(n) for p, n in pairs)
        raw = sum(len((p + n).encode()) for p, n in pairs)
        row = [f"{name} n={len(pairs)} {raw / len(pairs):.0f}B"]
        for k, m in coders.items():
            sizes, ts = [], []
            for p, n in pairs:
                t0 = time.perf_counter()
                d = m.encode(p, n)
                assert m.decode(d) == (p, n), (k, p, n)
                ts.append(time.perf_counter() - t0)
                sizes.append(len(d))
            row.append(f"{k}: {statistics.mean(sizes):.1f}B {8 * sum(sizes) / chars:.2f}b/c "
                       f"{1000 * statistics.median(ts):.2f}ms")
        print(" | ".join(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
