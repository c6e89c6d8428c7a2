"""Train the ``gitssic`` codec's model (``gitssic-1``): group-independent Swin transforms
with a shared hyperprior (aigif/codecs/learned/gitssic_model.py), variable-rate through
the quantization step, with a random group mask per crop.

Per batch: a quantization step Delta = 2^U(-x, x) with lambda = lambda0 / Delta^2, and per
crop a random group map over its 16 x 16 blocks (:func:`random_groups`: 1..6 Voronoi
regions under a random anisotropic metric, plus a few blocks flipped to a neighbour's
group), so the model learns to code irregular groups whose attention is masked.
Phase 1 (steps < --phase2-at): noise on y (width Delta) and z; all trained. Phase 2:
g_a / h_a frozen, z rounded, y = mu + Delta * round((y - mu) / Delta) (straight-through),
as the coder does.

Data as train_sth.py (wikipedia-photos minus the last 4 + imagecompression-info; never
Kodak). One torch thread. Reproducible from --seed; checkpoints to <run>/ckpt.pt every
--ckpt-every steps and when --max-minutes is reached; rerunning the same command resumes.
``--accelerate`` runs the steps through HF accelerate (GPUs; imported only then).

    OMP_NUM_THREADS=1 python training/codecs/train_gitssic.py --run training/codecs/runs/gitssic --steps 4000 --phase2-at 3400 --max-minutes 40
    python training/codecs/train_gitssic.py --run training/codecs/runs/gitssic --export aigif/codecs/learned/weights/gitssic-1.safetensors
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_sth import batch, image_files, load  # noqa: E402

from aigif.codecs.learned.gitssic_model import BLOCK, GitSsic, export_gitssic  # noqa: E402


def random_groups(rng: np.random.Generator, hb: int, wb: int, max_groups: int = 6
                  ) -> np.ndarray:
    """A random group map [hb, wb] (labels 0..k-1, k <= max_groups): Voronoi cells of k
    random seeds under a random anisotropic metric, ~5 % of blocks then copied from a
    random 4-neighbour (ragged borders)."""
    k = int(rng.integers(1, max_groups + 1))
    ii, jj = np.meshgrid(np.arange(hb), np.arange(wb), indexing="ij")
    seeds = rng.uniform(0, 1, (k, 2)) * [hb, wb]
    ax = rng.uniform(0.3, 3.0, k)
    d = (ii[None] - seeds[:, 0, None, None]) ** 2 * ax[:, None, None] + \
        (jj[None] - seeds[:, 1, None, None]) ** 2 / ax[:, None, None]
    g = np.argmin(d, 0)
    flip = rng.random((hb, wb)) < 0.05
    di, dj = rng.integers(-1, 2, (2, hb, wb))
    src = g[np.clip(ii + di, 0, hb - 1), np.clip(jj + dj, 0, wb - 1)]
    return np.where(flip, src, g).astype(np.int64)


def groups_batch(rng, n: int, size: int) -> torch.Tensor:
    hb = size // BLOCK
    return torch.from_numpy(np.stack([random_groups(rng, hb, hb) for _ in range(n)]))


def rd(model, x, g, mode, step, lmbda):
    x_hat, y_lik, z_lik = model(x, g, mode, step)
    n = x.shape[0] * x.shape[2] * x.shape[3]
    bpp = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum()) / n
    mse = torch.mean((x_hat - x) ** 2)
    return lmbda * 255 ** 2 * mse + bpp, bpp, mse


@torch.no_grad()
def validate(model, val, mode="hard"):
    model.eval()
    rng = np.random.default_rng(1234)
    xs = [(batch(val, rng, 256, 2), groups_batch(rng, 2, 256)) for _ in range(3)]
    res = {}
    for step in (2.0, 1.0, 0.5):
        bpps, psnrs = [], []
        for x, g in xs:
            x_hat, y_lik, z_lik = model(x, g, mode, step)
            n = x.shape[0] * x.shape[2] * x.shape[3]
            bpps.append(float(-(torch.log2(y_lik).sum() + torch.log2(z_lik).sum()) / n))
            psnrs.append(10 * math.log10(1 / float(torch.mean((x_hat.clamp(0, 1) - x) ** 2))))
        res[f"d{step}"] = (round(float(np.mean(bpps)), 4), round(float(np.mean(psnrs)), 2))
    model.train()
    return res


def build(a: dict) -> GitSsic:
    return GitSsic(tuple(a["C"]), tuple(a["depths"]), tuple(a["heads"]), a["window"], a["M"],
                   a["H"], a["Mh"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(ROOT / "training/codecs/runs/gitssic"))
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--lmbda", type=float, default=0.013, help="lambda at step 1")
    ap.add_argument("--log2-step", type=float, default=1.5, help="steps 2^U(-x, x)")
    ap.add_argument("--C", type=int, nargs=3, default=[32, 64, 96])
    ap.add_argument("--depths", type=int, nargs=3, default=[2, 2, 2])
    ap.add_argument("--heads", type=int, nargs=3, default=[2, 4, 4])
    ap.add_argument("--window", type=int, default=4)
    ap.add_argument("--M", type=int, default=96)
    ap.add_argument("--H", type=int, default=32)
    ap.add_argument("--Mh", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--phase2-at", type=int, default=3400)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr2", type=float, default=1e-4)
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop (checkpoint saved, resumable) after this much wall time")
    ap.add_argument("--accelerate", action="store_true", help="use HF accelerate (GPUs)")
    ap.add_argument("--export", help="write the frozen safetensors of <run>/final.pt "
                                     "(else of ckpt.pt) here")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    run = Path(args.run)
    if args.export:
        from safetensors.torch import save_file
        src = run / "final.pt" if (run / "final.pt").exists() else run / "ckpt.pt"
        s = torch.load(src, weights_only=False)
        model = build(s["args"])
        model.load_state_dict(s["model"])
        save_file(export_gitssic(model.eval()), args.export)
        print(f"wrote {args.export} from {src.name} step {s['step']} "
              f"({os.path.getsize(args.export)} bytes)")
        return
    torch.manual_seed(args.seed)
    run.mkdir(parents=True, exist_ok=True)
    train_paths, val_paths = image_files()
    train, val = load(train_paths), load(val_paths)
    model = build(vars(args))
    print(f"{sum(p.numel() for p in model.parameters())} parameters", flush=True)
    rng = np.random.default_rng(args.seed)
    step, phase = 0, 1

    def make_opt(phase):
        if phase == 1:
            return torch.optim.Adam(model.parameters(), lr=args.lr)
        frozen = {id(p) for p in list(model.g_a.parameters()) + list(model.h_a.parameters())}
        return torch.optim.Adam([p for p in model.parameters() if id(p) not in frozen],
                                lr=args.lr2)

    opt = make_opt(1)
    ckpt = run / "ckpt.pt"
    if ckpt.exists():
        s = torch.load(ckpt, weights_only=False)
        model.load_state_dict(s["model"])
        step, phase = s["step"], s["phase"]
        opt = make_opt(phase)
        opt.load_state_dict(s["opt"])
        rng.bit_generator.state = s["rng"]
        torch.set_rng_state(s["torch_rng"])
        print(f"resumed at step {step} (phase {phase})", flush=True)
    acc = None
    if args.accelerate:
        from accelerate import Accelerator
        acc = Accelerator()
        model, opt = acc.prepare(model, opt)
    device = acc.device if acc else torch.device("cpu")
    log = open(run / "log.jsonl", "a")

    def save(path):
        tmp = Path(str(path) + ".tmp")
        m = acc.unwrap_model(model) if acc else model
        torch.save({"model": m.state_dict(), "opt": opt.state_dict(), "step": step,
                    "phase": phase, "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "args": vars(args)}, tmp)
        os.replace(tmp, path)

    t0 = time.time()
    while step < args.steps:
        if args.max_minutes is not None and time.time() - t0 > 60 * args.max_minutes:
            save(ckpt)
            print(json.dumps({"stopped_at": step, "reason": "max-minutes"}), flush=True)
            return
        if phase == 1 and step >= args.phase2_at:
            save(run / "phase1.pt")
            phase = 2
            opt = make_opt(2)
            if acc:
                opt = acc.prepare(opt)
        mode = "noise" if phase == 1 else "hard"
        qstep = float(2 ** rng.uniform(-args.log2_step, args.log2_step))
        x = batch(train, rng, args.crop, args.batch).to(device)
        g = groups_batch(rng, args.batch, args.crop).to(device)
        loss, bpp, mse = rd(model, x, g, mode, qstep, args.lmbda / qstep ** 2)
        opt.zero_grad()
        acc.backward(loss) if acc else loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            rec = {"step": step, "phase": phase, "qstep": round(qstep, 3),
                   "loss": round(float(loss), 4), "bpp": round(float(bpp), 4),
                   "psnr": round(10 * math.log10(1 / max(float(mse), 1e-10)), 2),
                   "s": round(time.time() - t0, 1)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if step % args.ckpt_every == 0:
            save(ckpt)
    save(ckpt)
    m = acc.unwrap_model(model) if acc else model
    res = validate(m, val)
    print(json.dumps({"final_step": step, "val": res}), flush=True)
    torch.save({"model": m.state_dict(), "args": vars(args), "step": step, "val": res},
               run / "final.pt")


if __name__ == "__main__":
    main()
