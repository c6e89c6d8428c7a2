"""Train the ``sth`` codec: a mean-scale hyperprior trained soft-then-hard (Guo et al.,
"Soft then Hard: Rethinking the Quantization in Neural Image Compression", ICML 2021).

Phase 1 ("noise"): additive uniform noise on y and z, everything trained.
Phase 2 ("hard"): g_a and h_a frozen; y and z rounded; g_s, h_s and the entropy models
fine-tuned on the hard-quantized latents (what the decoder really sees).

Data: ../shared/data/images/wikipedia-photos (training; the last 4 files by name are held
out for validation) and imagecompression-info; random 128x128 crops with flips, batch 4.
Never Kodak. One torch thread. Reproducible from --seed (data order, crops, init, noise).
Checkpoints every --ckpt-every steps to <run>/ckpt.pt; rerunning the same command resumes.

    python training/codecs/train_sth.py --run training/codecs/runs/sth \
        --phase1-steps 5000 --phase2-steps 1500
    # ablation: same steps, noise only (phase 2 continues with noise)
    python training/codecs/train_sth.py --run training/codecs/runs/noise --noise-only ...
    python training/codecs/export_sth.py training/codecs/runs/sth/final.pt   # -> weights
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from aigif.codecs.learned.models import MeanScaleHyperprior  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "images"


def image_files() -> tuple[list[Path], list[Path]]:
    wiki = sorted((DATA / "wikipedia-photos").glob("*.png"))
    extra = sorted((DATA / "imagecompression-info").glob("*.png"))
    return wiki[:-4] + extra, wiki[-4:]


def load(paths):
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def batch(images, rng: np.random.Generator, size: int = 128, n: int = 4) -> torch.Tensor:
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        im = images[rng.integers(len(images))]
        h, w, _ = im.shape
        y, x = rng.integers(h - size + 1), rng.integers(w - size + 1)
        c = im[y:y + size, x:x + size]
        if rng.integers(2):
            c = c[:, ::-1]
        if rng.integers(2):
            c = c[::-1]
        out[k] = c
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0


def rd_loss(model, x, mode, lmbda):
    x_hat, y_lik, z_lik = model(x, mode)
    n = x.shape[0] * x.shape[2] * x.shape[3]
    bpp = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum()) / n
    mse = torch.mean((x_hat.clamp(0, 1) - x) ** 2) if mode == "eval" else torch.mean((x_hat - x) ** 2)
    return lmbda * 255 ** 2 * mse + bpp, bpp, mse


@torch.no_grad()
def validate(model, val, mode="hard"):
    model.eval()
    rng = np.random.default_rng(1234)
    bpps, psnrs = [], []
    for _ in range(8):
        x = batch(val, rng, 256, 2)
        x_hat, y_lik, z_lik = model(x, mode)
        n = x.shape[0] * x.shape[2] * x.shape[3]
        bpps.append(float(-(torch.log2(y_lik).sum() + torch.log2(z_lik).sum()) / n))
        mse = float(torch.mean((x_hat.clamp(0, 1) - x) ** 2))
        psnrs.append(10 * math.log10(1 / mse))
    model.train()
    return float(np.mean(bpps)), float(np.mean(psnrs))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(ROOT / "training/codecs/runs/sth"))
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--lmbda", type=float, default=0.0067)
    ap.add_argument("--N", type=int, default=96)
    ap.add_argument("--M", type=int, default=128)
    ap.add_argument("--H", type=int, default=64)
    ap.add_argument("--phase1-steps", type=int, default=5000)
    ap.add_argument("--phase2-steps", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--lr2", type=float, default=5e-5)
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--noise-only", action="store_true", help="ablation: phase 2 keeps noise")
    ap.add_argument("--init", help="start phase 2 from this run's phase-1 checkpoint")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    train_paths, val_paths = image_files()
    train, val = load(train_paths), load(val_paths)
    model = MeanScaleHyperprior(args.N, args.M, args.H)
    rng = np.random.default_rng(args.seed)
    step, phase = 0, 1
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    ckpt = run / "ckpt.pt"
    log = open(run / "log.jsonl", "a")

    def make_opt(phase):
        if phase == 1:
            return torch.optim.Adam(model.parameters(), lr=args.lr)
        if args.noise_only:
            return torch.optim.Adam(model.parameters(), lr=args.lr2)
        frozen = set(id(p) for p in list(model.g_a.parameters()) + list(model.h_a.parameters()))
        return torch.optim.Adam([p for p in model.parameters() if id(p) not in frozen],
                                lr=args.lr2)

    if ckpt.exists():
        s = torch.load(ckpt, weights_only=False)
        model.load_state_dict(s["model"])
        step, phase = s["step"], s["phase"]
        opt = make_opt(phase)
        opt.load_state_dict(s["opt"])
        rng.bit_generator.state = s["rng"]
        torch.set_rng_state(s["torch_rng"])
        print(f"resumed at step {step} (phase {phase})", flush=True)
    elif args.init:
        s = torch.load(args.init, weights_only=False)
        model.load_state_dict(s["model"])
        step, phase = s["step"], 2
        opt = make_opt(2)
        rng.bit_generator.state = s["rng"]
        torch.set_rng_state(s["torch_rng"])
        print(f"phase 2 from {args.init} (step {step})", flush=True)

    def save(path):
        tmp = Path(str(path) + ".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "phase": phase, "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "args": vars(args)}, tmp)
        os.replace(tmp, path)

    total = args.phase1_steps + args.phase2_steps
    t0 = time.time()
    while step < total:
        if phase == 1 and step >= args.phase1_steps:
            save(run / "phase1.pt")
            phase = 2
            opt = make_opt(2)
            print(f"phase 2 at step {step}: val(hard) bpp/psnr {validate(model, val)}",
                  flush=True)
        mode = "noise" if (phase == 1 or args.noise_only) else "hard"
        x = batch(train, rng)
        loss, bpp, mse = rd_loss(model, x, mode, args.lmbda)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            rec = {"step": step, "phase": phase, "loss": float(loss), "bpp": float(bpp),
                   "psnr": 10 * math.log10(1 / max(float(mse), 1e-10)),
                   "s": round(time.time() - t0, 1)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if step % args.ckpt_every == 0:
            save(ckpt)
    save(ckpt)
    vb, vp = validate(model, val)
    print(json.dumps({"final_step": step, "val_hard_bpp": vb, "val_hard_psnr": vp}), flush=True)
    torch.save({"model": model.state_dict(), "args": vars(args), "step": step,
                "val": {"bpp": vb, "psnr": vp}}, run / "final.pt")


if __name__ == "__main__":
    main()
