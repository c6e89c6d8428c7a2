"""Prompt coding size benchmark: cm1 (text method 2) against general compressors.

    python benchmarks/size.py [--wheels DIR] [--shared ../shared/data/prompts]

Prints, for the held-out part of each corpus (never fitted; see training.textcoding.train):
mean and median coded bytes and bits per character for raw UTF-8, zlib-9, brotli-11,
zstd-19 with a dictionary trained on the training part, and cm1; whole AIGIF file sizes
with realistic parameters next to the same metadata as A1111 infotext (raw and brotli);
encode + decode time per prompt and the model's load time.

``benchmarks/sd_prompts.txt`` is a small hand-written set in the style of DiffusionDB /
A1111 prompts, not used in fitting (but written by the model's author, so read it as an
illustration, not a measurement).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import brotli  # noqa: E402
import zstandard  # noqa: E402

from aigif.textcoding import cm  # noqa: E402
from training.textcoding import cm2, train  # noqa: E402


def pair_bytes(p: str, n: str) -> bytes:
    return (p + ("\n" + n if n else "")).encode("utf-8", "surrogatepass")


def table(rows: list[list], head: list[str]) -> str:
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % w[0] if i == 0 else "{:>%d}" % w[i] for i in range(len(head)))
    lines = [fmt.format(*head), fmt.format(*["-" * x for x in w])]
    lines += [fmt.format(*[str(c) for c in r]) for r in rows]
    return "\n".join(lines)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def realistic_params(rnd: random.Random) -> dict:
    def pick(d):
        return rnd.choices(list(d), weights=list(d.values()))[0]
    w, h = pick({(512, 512): 60, (512, 768): 15, (768, 512): 10, (768, 768): 5,
                 (1024, 1024): 10})
    return dict(seed=rnd.getrandbits(32),
                steps=pick({20: 35, 30: 20, 25: 10, 50: 25, 40: 5, 150: 5}),
                guidance_scale=pick({7.0: 45, 7.5: 30, 8.0: 10, 5.0: 5, 9.0: 5, 10.0: 5}),
                scheduler=pick({"euler_a": 35, "dpmpp_2m_karras": 30, "lms": 15, "ddim": 10,
                                "euler": 10}),
                width=w, height=h)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(HERE), "..", "shared",
                                                     "data", "prompts"))
    ap.add_argument("--wheels", default=os.environ.get("AIGIF_TRAIN_WHEELS"))
    ap.add_argument("--limit", type=int, default=1500, help="max held-out texts per corpus")
    ap.add_argument("--cm2", action="append", default=[], metavar="NAME=TABLE",
                    help="also measure a cm2 candidate table (training/textcoding/train_cm2.py; "
                         "issue 21), e.g. cm2=build/cm2/cm2.bin.gz trigram=build/cm2/tri.bin.gz")
    a = ap.parse_args()

    sets: dict[str, list[tuple[str, str]]] = {}
    train_texts: list[bytes] = []
    if a.wheels and os.path.isdir(a.wheels):
        docs, test = train.split(train.load_corpora(a.shared, a.wheels))
        train_texts = [d[0].encode("utf-8") for d in docs]
        for name in ("compbench", "comfy", "flavors"):
            sets[f"{name} (held out)"] = [((t, "") if r == 0 else ("", t))
                                          for t, r, _, _ in test[name][:a.limit]]
    else:
        print("(no --wheels: only T2I-CompBench and the hand-written set; zstd dictionary "
              "trained on the CompBench training part)\n")
        lines = []
        for fn in sorted(os.listdir(os.path.join(a.shared, "t2i-compbench"))):
            if fn.endswith(".txt"):
                with open(os.path.join(a.shared, "t2i-compbench", fn), encoding="utf-8") as f:
                    lines += [ln.rstrip("\n") for ln in f if ln.strip()]
        lines = sorted(set(lines))
        sets["compbench (held out)"] = [(t, "") for t in lines
                                        if train.held_out(t, "compbench")][:a.limit]
        train_texts = [t.encode() for t in lines if not train.held_out(t, "compbench")]
    with open(os.path.join(HERE, "sd_prompts.txt"), encoding="utf-8") as f:
        sd = [ln.rstrip("\n") for ln in f if ln.strip()]
    sets["hand-written SD prompts"] = [(p, "") for p in sd]

    # model load time, in a fresh interpreter
    code = ("import time; from aigif.textcoding import cm; t=time.perf_counter(); "
            "m=cm.load_model(); t1=time.perf_counter(); m._prepare_encoder(); "
            "t2=time.perf_counter(); print(t1-t, t2-t1)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(HERE)).stdout.split()
    load_s, prep_s = float(out[0]), float(out[1])
    model = cm.load_model()
    model._prepare_encoder()

    zdict = zstandard.train_dictionary(32768, train_texts) if train_texts else None
    zc = zstandard.ZstdCompressor(level=19, dict_data=zdict, write_content_size=False,
                                  write_checksum=False, write_dict_id=False)

    extra = {}
    for spec_ in a.cm2:
        name_, path_ = spec_.split("=", 1)
        extra[name_] = cm2.load_model(path_)
    rows = []
    times = []
    per_set_cm: dict[str, list[int]] = {}
    for name, pairs in sets.items():
        raw, zl, br, zs, c = [], [], [], [], []
        ex: dict[str, list[int]] = {k: [] for k in extra}
        for p, n in pairs:
            b = pair_bytes(p, n)
            raw.append(len(b))
            zl.append(len(zlib.compress(b, 9)))
            br.append(len(brotli.compress(b, quality=11, mode=brotli.MODE_TEXT)))
            zs.append(len(zc.compress(b)))
            t0 = time.perf_counter()
            data = cm.METHOD.encode(p, n)
            back = cm.METHOD.decode(data)
            times.append(time.perf_counter() - t0)
            assert back == (p, n), (p, n)
            c.append(len(data))
            for k, m2 in extra.items():
                d2 = m2.encode(p, n)
                assert m2.decode(d2) == (p, n), (k, p, n)
                ex[k].append(len(d2))
        per_set_cm[name] = c
        chars = sum(len(p) + len(n) for p, n in pairs)

        def cell(xs):
            mean, med = statistics.mean(xs), statistics.median(xs)
            return f"{mean:.1f} / {med:g} / {8 * sum(xs) / chars:.2f}"
        rows.append([f"{name} n={len(pairs)}", f"{chars / len(pairs):.0f}", cell(raw), cell(zl),
                     cell(br), cell(zs), cell(c)] + [cell(v) for v in ex.values()])
    print("Coded prompt text: mean bytes / median bytes / bits per character "
          "(cm1 = text method 2 payload, without its 1-byte method code)\n")
    print(table(rows, ["corpus", "chars", "raw UTF-8", "zlib-9", "brotli-11",
                       "zstd-19+dict", "cm1"] + list(extra)))

    # whole files
    import aigif
    try:
        from aigif.interop.a1111 import meta_to_infotext
    except ImportError:  # pragma: no cover
        meta_to_infotext = None
    rnd = random.Random(2024)
    rows = []
    for name, pairs in sets.items():
        fs, ir, ib = [], [], []
        for p, n in pairs:
            m = aigif.GenerationMeta(model="sd15", prompt=p, negative_prompt=n,
                                     **realistic_params(rnd))
            # the writer's choice with cm1 among its candidates: the shortest of 0, 1, 2
            data = min((aigif.dumps(m, text_method=k) for k in (0, 1, 2)), key=len)
            assert aigif.loads(data).meta == m
            fs.append(len(data))
            if meta_to_infotext:
                it = meta_to_infotext(m).encode("utf-8", "surrogatepass")
                ir.append(len(it))
                ib.append(len(brotli.compress(it, quality=11, mode=brotli.MODE_TEXT)))
        rows.append([name, f"{statistics.mean(fs):.1f}", f"{statistics.median(fs):g}",
                     f"{statistics.mean(fs) - statistics.mean(per_set_cm[name]) - 1:.1f}",
                     f"{statistics.mean(ir):.1f}" if ir else "-",
                     f"{statistics.mean(ib):.1f}" if ib else "-"])
    print("\nWhole AIGIF file (model sd15, random 32-bit seed, realistic steps / cfg / "
          "scheduler / size) next to A1111 infotext of the same metadata\n")
    print(table(rows, ["corpus", "file mean", "file median", "non-text mean",
                       "infotext raw", "infotext brotli-11"]))

    ms = [t * 1000 for t in times]
    print(f"\ncm1 encode+decode per prompt: median {statistics.median(ms):.3f} ms, "
          f"p95 {pct(ms, 0.95):.3f} ms, max {max(ms):.2f} ms (n={len(ms)}, pure Python)")
    print(f"cm1 model load (fresh interpreter, decode-ready): {load_s * 1000:.0f} ms; "
          f"encoder index build on first encode: {prep_s * 1000:.0f} ms; table file "
          f"{os.path.getsize(os.path.join(os.path.dirname(cm.__file__), 'data', cm.TABLE_FILE))} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
