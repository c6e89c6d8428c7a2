"""Train the ``omni-icm`` codec (``omni-icm-1``): features learned by instance
discrimination jointly with entropy minimization, with an information-filtering gate.

Loss per batch: InfoNCE (NT-Xent, temperature --tau) over two augmentations of the same
crop, on the projection head of the spatially pooled *quantized* latents (straight-through
round at a step Delta = 2^U(log2 of the coarsest .. finest rate point)) + lambda * bpp
(factorized prior, additive-noise proxy) + --pixel-weight * MSE of the preview decoder,
whose input is detached (stop-gradient: the features are task-driven only).

Augmentations (torch, per crop): random resized crop (area 35..100 % of a 128 px crop of a
photo) to --size px, horizontal flip, mild brightness / contrast / saturation jitter (no
hue: colour is a task), grey with p 0.1, Gaussian blur with p 0.3.
Data: wikipedia-photos minus the last 4 (those and imagecompression-info are held out for
the retrieval benchmark); never Kodak. One torch thread; reproducible from --seed;
checkpoints to <run>/ckpt.pt every --ckpt-every steps and at the end, and rerunning the
same command resumes. ``--no-filter``: the ablation without the filtering module.
``--accelerate``: use HuggingFace accelerate (GPUs; imported only when asked).

    OMP_NUM_THREADS=1 python training/codecs/train_omni_icm.py --run runs/omni --max-minutes 30
    python training/codecs/train_omni_icm.py --run runs/omni --export aigif/codecs/learned/weights/omni-icm-1.safetensors
    OMP_NUM_THREADS=1 python training/codecs/train_omni_icm.py --run runs/omni-nofilter --no-filter --steps <same>
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aigif.codecs.learned.omni_icm_model import (STEP_ONE, STEPS, OmniIcm,  # noqa: E402
                                                 export_omni, info_nce)

DATA = ROOT.parent / "shared" / "data" / "images"


def train_files() -> list[Path]:
    return sorted((DATA / "wikipedia-photos").glob("*.png"))[:-4]


def heldout_files() -> list[Path]:
    """Never trained on: the last 4 wikipedia photos and imagecompression-info."""
    return (sorted((DATA / "wikipedia-photos").glob("*.png"))[-4:]
            + sorted((DATA / "imagecompression-info").glob("*.png")))


def load(paths) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def crops(images, rng: np.random.Generator, n: int, size: int = 128) -> torch.Tensor:
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        im = images[rng.integers(len(images))]
        h, w, _ = im.shape
        y, x = rng.integers(h - size + 1), rng.integers(w - size + 1)
        out[k] = im[y:y + size, x:x + size]
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = torch.arange(-2, 3, dtype=torch.float32)
    k = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    k2 = (k[:, None] * k[None, :]).expand(3, 1, 5, 5)
    return torch.nn.functional.conv2d(torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate"),
                                      k2, groups=3)


def augment(x: torch.Tensor, rng: np.random.Generator, size: int) -> torch.Tensor:
    """One random view of each crop in x [B,3,S,S] -> [B,3,size,size]."""
    out = []
    s = x.shape[-1]
    for img in x:
        area = rng.uniform(0.35, 1.0)
        c = int(round(s * math.sqrt(area)))
        y0, x0 = rng.integers(s - c + 1), rng.integers(s - c + 1)
        v = img[None, :, y0:y0 + c, x0:x0 + c]
        v = torch.nn.functional.interpolate(v, size=(size, size), mode="bilinear",
                                            align_corners=False, antialias=True)
        if rng.random() < 0.5:
            v = v.flip(3)
        v = v * rng.uniform(0.8, 1.2)                                   # brightness
        m = v.mean()
        v = (v - m) * rng.uniform(0.8, 1.2) + m                         # contrast
        g = v.mean(1, keepdim=True)
        v = (v - g) * rng.uniform(0.7, 1.3) + g                         # saturation
        if rng.random() < 0.1:
            v = v.mean(1, keepdim=True).expand(-1, 3, -1, -1)
        if rng.random() < 0.3:
            v = _blur(v, rng.uniform(0.3, 1.5))
        out.append(v.clamp(0, 1))
    return torch.cat(out)


def loss_fn(model, x1, x2, step, args):
    y1, lik1 = model(x1, step)
    y2, lik2 = model(x2, step)
    nce = info_nce(model.embed(y1), model.embed(y2), args.tau)
    npx = 2 * x1.shape[0] * x1.shape[2] * x1.shape[3]
    bpp = -(torch.log2(lik1).sum() + torch.log2(lik2).sum()) / npx
    mse = torch.mean((model.g_p(y1.detach()) - x1) ** 2)
    return nce + args.lmbda * bpp + args.pixel_weight * mse, nce, bpp, mse


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--N", type=int, default=64)
    ap.add_argument("--M", type=int, default=96)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--aux-lr", type=float, default=1e-2, help="learning rate of the prior")
    ap.add_argument("--lmbda", type=float, default=1.0)
    ap.add_argument("--tau", type=float, default=0.2)
    ap.add_argument("--pixel-weight", type=float, default=1.0)
    ap.add_argument("--no-filter", action="store_true")
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-images", type=int, default=None,
                    help="train on the first N training photos only (tests)")
    ap.add_argument("--accelerate", action="store_true")
    ap.add_argument("--export", type=Path, default=None,
                    help="write the float16 safetensors of <run>/ckpt.pt here and stop")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.run.mkdir(parents=True, exist_ok=True)
    ck = args.run / "ckpt.pt"

    torch.manual_seed(args.seed)     # before the model: its initial weights come from it
    model = OmniIcm(args.N, args.M, filter=not args.no_filter)
    aux = [p for n, p in model.named_parameters() if n.startswith("prior.")]
    main_p = [p for n, p in model.named_parameters() if not n.startswith("prior.")]
    opt = torch.optim.Adam([{"params": main_p}, {"params": aux, "lr": args.aux_lr}],
                           lr=args.lr)
    step0, log = 0, []
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    if ck.exists():
        state = torch.load(ck, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step0, log = state["step"], state["log"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step0}", flush=True)
    if args.export is not None:
        from safetensors.torch import save_file
        model.eval()
        t = export_omni(model)
        save_file(t, str(args.export))
        n = sum(v.numel() * v.element_size() for v in t.values())
        print(f"wrote {args.export}: {n / 1e6:.2f} MB of tensors (step {step0})")
        return

    acc = None
    if args.accelerate:
        from accelerate import Accelerator
        acc = Accelerator()
        model, opt = acc.prepare(model, opt)
    images = load(train_files()[:args.max_images])
    lo, hi = math.log2(min(STEPS) / STEP_ONE), math.log2(max(STEPS) / STEP_ONE)
    t0 = time.time()

    def save():
        m = acc.unwrap_model(model) if acc else model
        tmp = ck.with_suffix(".tmp")
        torch.save({"model": m.state_dict(), "opt": opt.state_dict(), "step": step,
                    "log": log, "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "args": vars(args) | {
                        "run": str(args.run), "export": None}}, tmp)
        tmp.replace(ck)

    step = step0
    model.train()
    while step < args.steps:
        if args.max_minutes is not None and time.time() - t0 > 60 * args.max_minutes:
            break
        x = crops(images, rng, args.batch)
        x1, x2 = augment(x, rng, args.size), augment(x, rng, args.size)
        if acc:
            x1, x2 = x1.to(acc.device), x2.to(acc.device)
        delta = 2 ** rng.uniform(lo, hi)
        loss, nce, bpp, mse = loss_fn(model, x1, x2, delta, args)
        opt.zero_grad()
        (acc.backward(loss) if acc else loss.backward())
        torch.nn.utils.clip_grad_norm_(main_p, 1.0)
        opt.step()
        step += 1
        log.append([step, nce.item(), bpp.item(), mse.item(), delta])
        if step % 10 == 0:
            r = np.array(log[-10:])
            print(f"step {step} nce {r[:, 1].mean():.3f} bpp {r[:, 2].mean():.4f} "
                  f"psnr(preview) {-10 * np.log10(r[:, 3].mean()):.2f} "
                  f"{time.time() - t0:.0f}s", flush=True)
        if step % args.ckpt_every == 0:
            save()
    save()
    (args.run / "log.json").write_text(json.dumps({"args": {k: str(v) for k, v in
                                                            vars(args).items()},
                                                   "log": log}))
    print(f"stopped at step {step} after {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
