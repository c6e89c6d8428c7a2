"""Residual layer: bytes to reach 40 dB and exact, syntax + residual vs pixels-only.

Two kinds of (original, regenerated) pairs:

* a tiny diffusers pipeline (seeded random weights, tests/_tiny_pipelines.py) rendered
  through ``aigif.render`` at 256x256: the original on float32 with N threads, the
  "regeneration" under another platform setting (1 thread; bfloat16);
* Kodak images with simulated regeneration drift: +-1 on 10 % of samples (GPU
  non-determinism after the VAE), a smooth low-frequency drift of a few levels (another
  dtype / library version), a slight blur (another resampler), and a light edit made after
  generation (a 96x96 patch replaced).

For each pair and target, ``aigif.codecs.residual.choose_encoding`` measures the options;
the table shows regeneration-alone PSNR, the residual size, the best pixels-only size
and what the encoder picked.

    python benchmarks/residual.py                 # 4 Kodak images + tiny pipeline
    python benchmarks/residual.py --images 2 --no-pipeline
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aigif.codecs.residual import EXACT, choose_encoding  # noqa: E402

KODAK = ROOT.parent / "shared" / "data" / "kodak"


# ----------------------------------------------------------------------------- pairs
def drift_pm1(im: Image.Image, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    a = np.asarray(im).astype(np.int16)
    n = rng.choice([-1, 1], a.shape) * (rng.random(a.shape) < 0.10)
    return Image.fromarray(np.clip(a + n, 0, 255).astype(np.uint8))


def drift_smooth(im: Image.Image, seed: int, amp: float = 3.0) -> Image.Image:
    rng = np.random.default_rng(seed)
    h, w = im.height, im.width
    small = rng.normal(0, 1, (h // 32 + 2, w // 32 + 2, 3)).astype(np.float32)
    field = np.stack([np.asarray(Image.fromarray(small[..., c], "F").resize(
        (w, h), Image.Resampling.BICUBIC)) for c in range(3)], -1)
    field *= amp / max(float(field.std()), 1e-6)
    a = np.asarray(im).astype(np.float32) + field
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def drift_blur(im: Image.Image, seed: int) -> Image.Image:
    return im.filter(ImageFilter.GaussianBlur(0.5))


def light_edit(im: Image.Image, seed: int) -> Image.Image:
    """The *original* is the edited image; the regeneration is the unedited one."""
    a = np.asarray(im).copy()
    h, w = a.shape[:2]
    y, x = h // 3, w // 3
    a[y:y + 96, x:x + 96] = a[y + 150:y + 246, x + 200:x + 296][::-1]
    return Image.fromarray(a)


SCENARIOS = {
    "+-1 on 10%": drift_pm1,
    "smooth drift 3 lv": drift_smooth,
    "blur 0.5": drift_blur,
    "light edit": light_edit,
}


def kodak_pairs(n: int):
    files = sorted(KODAK.glob("*.png"))[:n]
    for i, f in enumerate(files):
        im = Image.open(f).convert("RGB")
        for name, fn in SCENARIOS.items():
            if name == "light edit":
                yield f"{f.stem} {name}", fn(im, i), im
            else:
                yield f"{f.stem} {name}", im, fn(im, i)


def pipeline_pairs(size: int, steps: int):
    """Tiny SD pipeline: original fp32 / all threads; regenerated 1 thread, bf16."""
    import torch
    sys.path.insert(0, str(ROOT / "tests"))
    import _tiny_pipelines as tp

    import aigif
    from aigif.render import register_model, render_meta
    tmp = Path(tempfile.mkdtemp(prefix="aigif-bench-"))
    register_model("tiny-sd-bench", tp.build("sd", tmp / "sd"), override=True)
    meta = aigif.GenerationMeta(model="tiny-sd-bench", prompt="a red fox",
                                negative_prompt="blurry", seed=1234, steps=steps,
                                guidance_scale=5.0, scheduler="ddim", width=size,
                                height=size)
    n = torch.get_num_threads()

    def render(dtype: str, threads: int) -> Image.Image:
        torch.set_num_threads(threads)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return render_meta(meta, device="cpu", dtype=dtype).image.convert("RGB")
        finally:
            torch.set_num_threads(n)

    orig = render("float32", n)
    yield f"tiny-sd {size}px fp32 {n}thr vs 1thr", orig, render("float32", 1)
    yield f"tiny-sd {size}px fp32 vs bf16", orig, render("bfloat16", n)


# ----------------------------------------------------------------------------- main
def fmt_p(p: float) -> str:
    return "exact" if math.isinf(p) else f"{p:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--no-pipeline", action="store_true")
    ap.add_argument("--size", type=int, default=256, help="tiny pipeline image size")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--codecs", default="avif,jxl,webp", help="pixels-only lossy codecs")
    ap.add_argument("--lossless", default="jxl,webp,png", help="pixels-only lossless codecs")
    args = ap.parse_args()
    codecs = tuple(args.codecs.split(","))
    lossless = tuple(args.lossless.split(","))

    pairs = []
    if not args.no_pipeline:
        try:
            pairs += list(pipeline_pairs(args.size, args.steps))
        except Exception as e:  # torch/diffusers missing, or rendering not ready
            print(f"(tiny pipeline skipped: {type(e).__name__}: {e})\n")
    pairs += list(kodak_pairs(args.images))

    hdr = (f"{'pair':<34} {'target':>6} {'regen dB':>8} {'residual B':>10} {'how':<16} "
           f"{'pixels B':>9} {'codec':<5} {'chosen':<8} {'PSNR':>6} {'vs pixels':>9} {'s':>5}")
    print(hdr)
    print("-" * len(hdr))
    sums: dict[str, list] = {}
    for name, orig, regen in pairs:
        for target in (40.0, EXACT):
            t0 = time.perf_counter()
            d = choose_encoding(orig, regen, target, codecs=codecs, lossless_codecs=lossless)
            dt = time.perf_counter() - t0
            res = next((c for c in d.candidates if c.mode == "residual"), None)
            pix = min((c for c in d.candidates if c.mode == "pixels"), key=lambda c: c.bytes)
            regen_db = d.regen_psnr
            if res is not None:
                how, rb = res.detail, res.bytes
            else:
                how, rb = "not needed", 0
            ratio = d.bytes / pix.bytes
            t = "exact" if math.isinf(target) else f"{target:g}"
            print(f"{name:<34} {t:>6} {fmt_p(regen_db):>8} {rb:>10} {how:<16} {pix.bytes:>9} "
                  f"{pix.detail:<5} {d.mode:<8} {fmt_p(d.psnr):>6} {100 * ratio:>8.1f}% "
                  f"{dt:>5.1f}", flush=True)
            sums.setdefault(t, []).append((d.bytes, pix.bytes))
    print("\nbytes beyond the syntax; 'vs pixels' = chosen / best pixels-only at the target")
    for t, v in sums.items():
        a, b = map(sum, zip(*v))
        print(f"target {t}: chosen {a} B in all vs pixels-only {b} B ({100 * a / b:.1f}%)")


if __name__ == "__main__":
    main()
