"""Train the ``sth`` codec's RDC model (``sth-rdc-1``): a mean-scale hyperprior with a
masked spatial context whose pass pattern (the decoding complexity) is chosen per file,
trained soft-then-hard, variable-rate through the quantization step.

Per batch: a complexity level (0..3, uniform) and a quantization step
Delta = 2^U(-1.5, 1.5), with lambda = lambda0 / Delta^2 (so every step is trained at the
rate-distortion slope it will be used at).
Phase 1 ("soft"): additive uniform noise of width Delta on y, width 1 on z; all trained.
Phase 2 ("hard"): g_a and h_a frozen; z rounded; y = mu + Delta * round((y - mu) / Delta)
(straight-through), decoded pass by pass exactly as the integer decoder does; g_s, h_s, the
context model, the entropy-parameter network and the factorized prior fine-tuned.

Data as train_sth.py (wikipedia-photos minus the last 4 + imagecompression-info; never
Kodak). One torch thread. Reproducible from --seed; checkpoints to <run>/ckpt.pt every
--ckpt-every steps, and rerunning the same command resumes.

    python training/codecs/train_rdc.py --run training/codecs/runs/rdc --phase1-steps 12000 --phase2-steps 3000
    python training/codecs/train_rdc.py --run training/codecs/runs/rdc --export aigif/codecs/learned/weights/sth-rdc-1.safetensors
    # ablations at equal steps from the same phase-1 checkpoint (phase 2 differs only):
    python training/codecs/train_rdc.py --run training/codecs/runs/rdc-noise --init training/codecs/runs/rdc/phase1.pt --mode-schedule noise --phase1-steps 5600 --phase2-steps 700
    python training/codecs/train_rdc.py --run training/codecs/runs/rdc-ste --init training/codecs/runs/rdc/phase1.pt --mode-schedule ste --phase1-steps 5600 --phase2-steps 700
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

from aigif.codecs.learned.rdc import LEVELS, RdcHyperprior, export_rdc  # noqa: E402


def rd(model, x, mode, level, step, lmbda):
    x_hat, y_lik, z_lik = model(x, mode, level, step)
    n = x.shape[0] * x.shape[2] * x.shape[3]
    bpp = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum()) / n
    mse = torch.mean((x_hat - x) ** 2)
    return lmbda * 255 ** 2 * mse + bpp, bpp, mse


@torch.no_grad()
def validate(model, val, mode="hard"):
    model.eval()
    rng = np.random.default_rng(1234)
    xs = [batch(val, rng, 256, 2) for _ in range(4)]
    res = {}
    for level in (0, 1, 3):
        for step in (2.0, 1.0, 0.5):
            bpps, psnrs = [], []
            for x in xs:
                x_hat, y_lik, z_lik = model(x, mode, level, step)
                n = x.shape[0] * x.shape[2] * x.shape[3]
                bpps.append(float(-(torch.log2(y_lik).sum() + torch.log2(z_lik).sum()) / n))
                psnrs.append(10 * math.log10(1 / float(torch.mean((x_hat.clamp(0, 1) - x) ** 2))))
            res[f"L{level}/d{step}"] = (round(float(np.mean(bpps)), 4),
                                        round(float(np.mean(psnrs)), 2))
    model.train()
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(ROOT / "training/codecs/runs/rdc"))
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--lmbda", type=float, default=0.013, help="lambda at step 1")
    ap.add_argument("--log2-step", type=float, default=1.5, help="steps 2^U(-x, x)")
    ap.add_argument("--N", type=int, default=96)
    ap.add_argument("--M", type=int, default=128)
    ap.add_argument("--H", type=int, default=64)
    ap.add_argument("--C", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--phase1-steps", type=int, default=12000)
    ap.add_argument("--phase2-steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--lr2", type=float, default=5e-5)
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--mode-schedule", choices=["sth", "noise", "ste"], default="sth",
                    help="sth: noise then hard (phase 2 freezes g_a/h_a); noise: noise only; "
                         "ste: hard (straight-through) from the start, nothing frozen")
    ap.add_argument("--init", help="ablations: start phase 2 of this run from another run's "
                                   "phase1.pt (same step count and RNG state)")
    ap.add_argument("--export", help="write the frozen safetensors of <run>/final.pt here")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    run = Path(args.run)
    if args.export:
        from safetensors.torch import save_file
        s = torch.load(run / "final.pt", weights_only=False)
        a = s["args"]
        model = RdcHyperprior(a["N"], a["M"], a["H"], a["C"])
        model.load_state_dict(s["model"])
        save_file(export_rdc(model.eval()), args.export)
        print(f"wrote {args.export} ({os.path.getsize(args.export)} bytes)")
        return
    torch.manual_seed(args.seed)
    run.mkdir(parents=True, exist_ok=True)
    train_paths, val_paths = image_files()
    train, val = load(train_paths), load(val_paths)
    model = RdcHyperprior(args.N, args.M, args.H, args.C)
    rng = np.random.default_rng(args.seed)
    step, phase = 0, 1

    def make_opt(phase):
        lr = args.lr if phase == 1 else args.lr2
        if phase == 1 or args.mode_schedule != "sth":
            return torch.optim.Adam(model.parameters(), lr=lr)
        frozen = {id(p) for p in list(model.g_a.parameters()) + list(model.h_a.parameters())}
        return torch.optim.Adam([p for p in model.parameters() if id(p) not in frozen], lr=lr)

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
    elif args.init:
        s = torch.load(args.init, weights_only=False)
        model.load_state_dict(s["model"])
        step, phase = s["step"], 2
        opt = make_opt(2)
        rng.bit_generator.state = s["rng"]
        torch.set_rng_state(s["torch_rng"])
        print(f"phase 2 ({args.mode_schedule}) from {args.init} at step {step}", flush=True)
    log = open(run / "log.jsonl", "a")

    def save(path):
        tmp = Path(str(path) + ".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "phase": phase, "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "args": vars(args)}, tmp)
        os.replace(tmp, path)

    total = args.phase1_steps + args.phase2_steps
    t0 = time.time()
    levels = sorted(LEVELS)
    while step < total:
        if phase == 1 and step >= args.phase1_steps:
            save(run / "phase1.pt")
            phase = 2
            opt = make_opt(2)
            print(json.dumps({"phase2_at": step, "val": validate(model, val)}), flush=True)
        mode = "noise" if (phase == 1 or args.mode_schedule == "noise") else "hard"
        level = levels[int(rng.integers(len(levels)))]
        qstep = float(2 ** rng.uniform(-args.log2_step, args.log2_step))
        x = batch(train, rng, args.crop, args.batch)
        if args.mode_schedule == "ste" and (phase == 2 or not args.init):
            mode = "ste"   # straight-through: g_a / h_a trained through the rounding
        loss, bpp, mse = rd(model, x, mode, level, qstep, args.lmbda / qstep ** 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            rec = {"step": step, "phase": phase, "level": level, "qstep": round(qstep, 3),
                   "loss": round(float(loss), 4), "bpp": round(float(bpp), 4),
                   "psnr": round(10 * math.log10(1 / max(float(mse), 1e-10)), 2),
                   "s": round(time.time() - t0, 1)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if step % args.ckpt_every == 0:
            save(ckpt)
    save(ckpt)
    res = validate(model, val)
    print(json.dumps({"final_step": step, "val": res}), flush=True)
    torch.save({"model": model.state_dict(), "args": vars(args), "step": step, "val": res},
               run / "final.pt")


if __name__ == "__main__":
    main()
