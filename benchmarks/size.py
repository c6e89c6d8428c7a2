"""Prompt coding size benchmark: cm1 (text method 2), cm2 (text method 3), the trigram
baseline and general compressors.

    python benchmarks/size.py [--wheels DIR] [--shared ../shared/data/prompts]
                              [--baseline build/cm2/trigram.bin]

Prints, for the held-out part of each corpus (never fitted; see training.textcoding.train
and train_cm2): mean and median coded bytes and bits per character for raw UTF-8, zlib-9,
brotli-11, zstd-19 with a 110 KB dictionary trained on the training part, cm1, cm2 and the
plain interpolated absolute-discounting trigram over the same units (``--baseline``, built
with ``python -m training.textcoding.train_cm2 --wheels DIR --baseline --out FILE``, or
built here when missing and --wheels is given); whole AIGIF file sizes with realistic
parameters (the writer's choice among all its methods) next to the same metadata as A1111
infotext; encode + decode time per prompt, decode throughput and the models' load times.

Held out by source: cm2 never saw the ComfyUI template prompts (cm1 fitted 4 in 5 of them;
the rows use the fifth neither saw). "synthetic community" prompts are built by
train_cm2.synth_prompts from held-out phrases only.

``benchmarks/sd_prompts.txt`` is a small hand-written set in the style of DiffusionDB /
A1111 prompts, not used in fitting (but written by the model's author, so read it as an
illustration, not a measurement).
"""
from __future__ import annotations

import argparse
import gzip
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

from aigif.textcoding import cm, encode_text  # noqa: E402
from aigif.textcoding import cm2  # noqa: E402
from training.textcoding import train  # noqa: E402


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
    ap.add_argument("--baseline", default=os.path.join(os.path.dirname(HERE), "build", "cm2",
                                                       "trigram.bin"),
                    help="table file of the trigram baseline (built here if missing and "
                         "--wheels is given)")
    ap.add_argument("--cm2", action="append", default=[], metavar="NAME=TABLE",
                    help="also measure another cm2-format table (a candidate model)")
    a = ap.parse_args()

    sets: dict[str, list[tuple[str, str]]] = {}
    train_texts: list[bytes] = []
    if a.wheels and os.path.isdir(a.wheels):
        docs, test = train.split(train.load_corpora(a.shared, a.wheels))
        train_texts = [d[0].encode("utf-8") for d in docs]
        for name in ("compbench", "comfy", "flavors"):
            sets[f"{name} (held out)"] = [((t, "") if r == 0 else ("", t))
                                          for t, r, _, _ in test[name][:a.limit]]
        from training.textcoding import train_cm2
        corp = train.load_corpora(a.shared, a.wheels)
        syn = train_cm2.synth_prompts(corp, 400, 99, held=True)
        sets["synthetic community (held-out phrases)"] = [(t, "") for t, r in syn if r == 0]
        if not os.path.exists(a.baseline):
            print(f"(building the trigram baseline {a.baseline}: ~2 minutes)", file=sys.stderr)
            os.makedirs(os.path.dirname(os.path.abspath(a.baseline)), exist_ok=True)
            blob_ = train_cm2.fit(corp, log=lambda m: None,
                                  **dict(train_cm2.BASELINE, zstd_level=5))
            with open(a.baseline, "wb") as f_:
                f_.write(blob_)
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

    zdict = zstandard.train_dictionary(110_000, train_texts) if train_texts else None
    zc = zstandard.ZstdCompressor(level=19, dict_data=zdict, write_content_size=False,
                                  write_checksum=False, write_dict_id=False)

    extra = {"cm2": cm2.load_model()}
    if os.path.exists(a.baseline):
        with open(a.baseline, "rb") as f_:
            extra["trigram"] = cm2.read_table_file(f_.read())
        extra["trigram"].exclude_max = 0       # the plain backoff chain: no exclusion
    for spec_ in a.cm2:
        name_, path_ = spec_.split("=", 1)
        with open(path_, "rb") as f_:
            extra[name_] = cm2.read_table_file(f_.read())
    rows = []
    times = []
    times2: list[float] = []
    dec2: list[float] = []
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
                t0 = time.perf_counter()
                d2 = m2.encode(p, n)
                t1 = time.perf_counter()
                assert m2.decode(d2) == (p, n), (k, p, n)
                if k == "cm2":
                    times2.append(time.perf_counter() - t0)
                    dec2.append(time.perf_counter() - t1)
                ex[k].append(len(d2))
        per_set_cm[name] = c
        chars = sum(len(p) + len(n) for p, n in pairs)

        def cell(xs):
            mean, med = statistics.mean(xs), statistics.median(xs)
            return f"{mean:.1f} / {med:g} / {8 * sum(xs) / chars:.2f}"
        rows.append([f"{name} n={len(pairs)}", f"{chars / len(pairs):.0f}", cell(raw), cell(zl),
                     cell(br), cell(zs), cell(c)] + [cell(v) for v in ex.values()])
    print("Coded prompt text: mean bytes / median bytes / bits per character "
          "(cm1, cm2 = text method 2, 3 payloads, without the 1-byte method code)\n")
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
        fs, ir, ib, tb = [], [], [], []
        for p, n in pairs:
            m = aigif.GenerationMeta(model="sd15", prompt=p, negative_prompt=n,
                                     **realistic_params(rnd))
            # the writer's choice: the shortest of its methods (0, 2, 3; 1 where it can win)
            data = aigif.dumps(m)
            assert aigif.loads(data).meta == m
            fs.append(len(data))
            tb.append(len(encode_text(p, n)))
            if meta_to_infotext:
                it = meta_to_infotext(m).encode("utf-8", "surrogatepass")
                ir.append(len(it))
                ib.append(len(brotli.compress(it, quality=11, mode=brotli.MODE_TEXT)))
        rows.append([name, f"{statistics.mean(fs):.1f}", f"{statistics.median(fs):g}",
                     f"{statistics.mean(tb):.1f}",
                     f"{statistics.mean(fs) - statistics.mean(tb):.1f}",
                     f"{statistics.mean(ir):.1f}" if ir else "-",
                     f"{statistics.mean(ib):.1f}" if ib else "-"])
    print("\nWhole AIGIF file (model sd15, random 32-bit seed, realistic steps / cfg / "
          "scheduler / size) next to A1111 infotext of the same metadata\n")
    print(table(rows, ["corpus", "file mean", "file median", "text block mean", "non-text mean",
                       "infotext raw", "infotext brotli-11"]))

    ms2 = [t * 1000 for t in times2]
    if ms2:
        print(f"\ncm2 encode+decode per prompt: median {statistics.median(ms2):.3f} ms, "
              f"p95 {pct(ms2, 0.95):.3f} ms (n={len(ms2)}; encoder in Python, decoder "
              f"{'compiled' if cm2.USE_COMPILED else 'pure Python'}); decode "
              f"{len(dec2) / sum(dec2):.0f} prompts/s")
    code2 = ("import time; t=time.perf_counter(); from aigif.textcoding import cm2; "
             "m=cm2.load_model(); t1=time.perf_counter(); m._prepare_encoder(); "
             "print(t1-t, time.perf_counter()-t1)")
    out2 = subprocess.run([sys.executable, "-c", code2], capture_output=True, text=True,
                          cwd=os.path.dirname(HERE)).stdout.split()
    print(f"cm2 model load (fresh interpreter, decode-ready): {float(out2[0]) * 1000:.0f} ms; "
          f"encoder index build on first encode: {float(out2[1]) * 1000:.0f} ms; table file "
          f"{os.path.getsize(os.path.join(os.path.dirname(cm2.__file__), 'data', cm2.TABLE_FILE))} B")
    ms = [t * 1000 for t in times]
    print(f"\ncm1 encode+decode per prompt: median {statistics.median(ms):.3f} ms, "
          f"p95 {pct(ms, 0.95):.3f} ms, max {max(ms):.2f} ms (n={len(ms)}, pure Python)")
    print(f"cm1 model load (fresh interpreter, decode-ready): {load_s * 1000:.0f} ms; "
          f"encoder index build on first encode: {prep_s * 1000:.0f} ms; table file "
          f"{os.path.getsize(os.path.join(os.path.dirname(cm.__file__), 'data', cm.TABLE_FILE))} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
