"""Decoder drift of the learned video codecs (envc, vlvc; issue 20) across thread counts and
float precision, over a long GOP.

    python benchmarks/lvc_drift.py [--frames 32] [--codecs envc,vlvc] [--crf 28]
                                   [--random-init] [--clip 6.2]
    python benchmarks/lvc_drift.py --codecs envc,vlvc,ssvc,imclvc,imclvc:sr

(``KEY:OPTION`` encodes with that boolean option on: ``imclvc:sr`` is imclvc's low-rate
mode, its super-resolution head in the drift.)

Encodes the first ``--frames`` frames of a test clip (USC-SIPI sequence ``6.2``: 32 frames
of an aerial pan, 256 x 256 gray replicated to RGB; never trained on) with one I frame
(gop 0: every other frame a P frame predicted from the previous decoded one), then decodes
the payload in fresh processes with 1 thread / float32 (the reference), 2 threads /
float32 and 1 thread / float64. Per run: whether the decoded symbols are identical (the
SHA-256 of every integer the decoder derives: flow fields and latents), the worst-frame
and the mean PSNR of its frames against the reference decode, max |d|, and the mean |d|
over the first and the last quarter of the frames (drift that accumulated along the GOP
would show as a larger last-quarter figure).

``--random-init`` registers a random-init ``lvc-res-1`` when its weights are not installed
(development only: such a model's output saturates, so its drift means little);
``--weights FILE`` uses a training checkpoint's export instead of the installed weights.
Run from the repository root with ``OMP_NUM_THREADS`` unset or 2 (the runs set their own
thread counts).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIPI = ROOT.parent / "shared" / "data" / "images" / "usc-sipi-sequences"
RUNS = (("1", "32"), ("2", "32"), ("1", "64"))


def load_clip(name: str, frames: int):
    import numpy as np
    from PIL import Image
    files = sorted(SIPI.glob(f"{name}.*.png"))[:frames]
    if len(files) < frames:
        raise SystemExit(f"clip {name}: {len(files)} frames in {SIPI}, {frames} asked")
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def _random_init(weights: str | None = None) -> None:
    from aigif.codecs.learned import zoo
    if weights:
        from safetensors.torch import load_file
        zoo.register("lvc-res-1", load_file(weights), "lvcres")
    elif not zoo.available("lvc-res-1"):
        from aigif.codecs.learned.lvc.residual_model import random_tensors
        zoo.register("lvc-res-1", random_tensors(0), "lvcres")


def child(path: str, key: str, threads: str, bits: str, random_init: bool,
          weights: str | None) -> None:
    """Decode ``path`` and write ``<path>-<threads>-<bits>.npy``; print the symbol hash."""
    import numpy as np
    import torch
    torch.set_num_threads(int(threads))
    if random_init or weights:
        _random_init(weights)
    from aigif.codecs import get_codec
    dtype = torch.float64 if bits == "64" else torch.float32
    t0 = time.perf_counter()
    ints, frames = get_codec(key).decode_integers(Path(path).read_bytes(), dtype)
    dt = time.perf_counter() - t0
    h = hashlib.sha256()
    for a in ints:
        h.update(np.ascontiguousarray(a, dtype="<i8").tobytes())
    np.save(f"{path}-{threads}-{bits}.npy", frames)
    print(json.dumps({"symbols": h.hexdigest(), "seconds": dt}))


def _psnr(a, b) -> float:
    import numpy as np
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--codecs", default="envc,vlvc")
    ap.add_argument("--crf", type=int, default=28)
    ap.add_argument("--clip", default="6.2")
    ap.add_argument("--random-init", action="store_true")
    ap.add_argument("--weights", help="a lvc-res-1 safetensors file to use instead of the "
                                      "installed one (a training checkpoint's export)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child, a.random_init, a.weights)
        return 0
    import numpy as np
    import torch
    torch.set_num_threads(1)
    if a.random_init or a.weights:
        _random_init(a.weights)
    from aigif.codecs import get_codec
    from aigif.codecs.learned import zoo
    frames = load_clip(a.clip, a.frames)
    t, h, w, _ = frames.shape
    weights = (a.weights if a.weights else "shipped" if zoo.path("lvc-res-1").is_file()
               else "random-init")
    print(f"clip {a.clip}: {t} frames {w}x{h}, crf {a.crf}, gop 0 (1 I frame), lvc-res-1 "
          f"{weights}; torch {torch.__version__}")
    print()
    print("| codec | decode run | symbols | worst-frame PSNR vs 1 thr f32 | mean PSNR of frames that differ | "
          "max abs d | mean abs d first / last quarter | decode s |")
    print("|---|---|---|---|---|---|---|---|")
    tmp = Path(tempfile.mkdtemp(prefix="lvc-drift-"))
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    for item in a.codecs.split(","):
        key, _, flag = item.partition(":")
        data, recon = get_codec(key).encode_recon(frames, 25, crf=a.crf,
                                                  **({flag: True} if flag else {}))
        path = tmp / f"{key}{'-' + flag if flag else ''}.bin"
        path.write_bytes(data)
        res = {}
        for threads, bits in RUNS:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), key,
                   threads, bits] + (["--random-init"] if a.random_init else []) + \
                (["--weights", a.weights] if a.weights else [])
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
            if r.returncode:
                print(r.stderr[-3000:])
                return 1
            res[(threads, bits)] = json.loads(r.stdout.strip().splitlines()[-1])
        ref = np.load(f"{path}-1-32.npy")
        same_enc = bool((ref == recon).all())
        q = max(1, t // 4)
        for threads, bits in RUNS:
            out = np.load(f"{path}-{threads}-{bits}.npy")
            d = np.abs(out.astype(np.int64) - ref)
            ps = [_psnr(x, y) for x, y in zip(out, ref)]
            same = res[(threads, bits)]["symbols"] == res[("1", "32")]["symbols"]
            worst, mean = min(ps), float(np.mean([p for p in ps if p != float("inf")] or
                                                 [float("inf")]))
            print(f"| {item} | {threads} thr float{bits} | {'same' if same else 'DIFFER'} | "
                  f"{worst:.1f} dB | {mean:.1f} dB | {d.max()} | {d[:q].mean():.4f} / "
                  f"{d[-q:].mean():.4f} | {res[(threads, bits)]['seconds']:.1f} |")
        print(f"| {item} | encoder recon | - | decode == encoder's reconstruction: "
              f"{same_enc} | {np.mean([_psnr(x, y) for x, y in zip(ref, frames)]):.2f} dB "
              f"vs source | - | {len(data) * 8 * 25 / t / 1000:.0f} kbps | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
