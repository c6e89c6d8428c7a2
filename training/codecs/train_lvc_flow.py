"""Train ``lvc-flow-1``: the SpyNet-mini flow network of the ``imclvc`` video codec's motion
estimation (aigif/codecs/learned/lvc/flownet.py), on synthetic sequences with exact
ground-truth backward flow (training/codecs/lvc_data.py, split "train"; the tiny-video
clips have no flow and are not used here).

Loss: end-point error (mean L2 norm of the flow error, pixels) of every pyramid level
against the ground truth average-pooled to that level (and divided by its scale), weights
1 (finest), 0.5, 0.25, ... Data: a pool of --pool 128x128 frame pairs, --fresh new pairs
generated per step (replacing the oldest), batches of --batch drawn from the pool with
a random --crop window (one per batch) and random horizontal / vertical flips (flow components negated accordingly). Adam, lr cosine
to 10 %. One torch thread. Reproducible from --seed; checkpoints to <run>/ckpt.pt every
--ckpt-every steps and at --max-minutes; rerunning the same command resumes.
``--accelerate`` runs the steps through HF accelerate (GPUs; imported only then).
``--eval`` compares the EPE on held-out sequences (split "val": photos 046-049, seed 1234)
with OpenCV DIS (presets ultrafast / fast / medium, luma) and zero flow.

    OMP_NUM_THREADS=1 python training/codecs/train_lvc_flow.py --run training/codecs/runs/lvc-flow --max-minutes 12
    python training/codecs/train_lvc_flow.py --run training/codecs/runs/lvc-flow --eval
    python training/codecs/train_lvc_flow.py --run training/codecs/runs/lvc-flow --export aigif/codecs/learned/weights/lvc-flow-1.safetensors
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
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import lvc_data  # noqa: E402

from aigif.codecs.learned.lvc.flownet import SpyNetMini, export_flow  # noqa: E402


def epe(flow: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(((flow - gt) ** 2).sum(1) + 1e-9).mean()


def multiscale_loss(flows, gt):
    loss, w = 0.0, 1.0
    for lv, f in enumerate(flows):
        g = gt if lv == 0 else F.avg_pool2d(gt, 1 << lv) / (1 << lv)
        loss = loss + w * epe(f, g)
        w *= 0.5
    return loss


class Pool:
    """A ring of frame pairs (uint8 [P,2,H,W,3]) with their flows (float32 [P,2,H,W])."""

    def __init__(self, rng, n: int, size: int, init: str | None = None):
        self.x = np.empty((n, 2, size, size, 3), np.uint8)
        self.f = np.empty((n, 2, size, size), np.float32)
        self.g = np.zeros((n, 2, size, size), np.float32) if init else None
        self.i = 0
        for _ in range(n):
            self.refresh(rng, 1)

    def refresh(self, rng, k: int):
        for _ in range(k):
            self.x[self.i], fl = lvc_data.sequence(rng, self.x.shape[2], 2)
            self.f[self.i] = fl[0]
            if self.g is not None:          # the initial flow of the "dis" variant
                self.g[self.i] = dis_flow(self.x[self.i, 1], self.x[self.i, 0], "medium")
            self.i = (self.i + 1) % len(self.x)

    def batch(self, rng, n: int, crop: int):
        idx = rng.integers(len(self.x), size=n)
        s = self.x.shape[2]
        oy, ox = (int(v) for v in rng.integers(0, s - crop + 1, 2))
        x = torch.from_numpy(self.x[idx, :, oy:oy + crop, ox:ox + crop]
                             ).permute(0, 1, 4, 2, 3).float() / 255.0
        f = torch.from_numpy(self.f[idx, :, oy:oy + crop, ox:ox + crop].copy())
        g = None if self.g is None else \
            torch.from_numpy(self.g[idx, :, oy:oy + crop, ox:ox + crop].copy())
        if rng.integers(2):
            x, f = x.flip(-1), f.flip(-1)
            f[:, 0] = -f[:, 0]
            if g is not None:
                g = g.flip(-1)
                g[:, 0] = -g[:, 0]
        if rng.integers(2):
            x, f = x.flip(-2), f.flip(-2)
            f[:, 1] = -f[:, 1]
            if g is not None:
                g = g.flip(-2)
                g[:, 1] = -g[:, 1]
        return x[:, 1], x[:, 0], f, g       # cur, ref, backward flow of cur, init


def val_set(n: int = 48, size: int = 128):
    rng = np.random.default_rng(1234)
    return [lvc_data.sequence(rng, size, 2, "val") for _ in range(n)]


def dis_flow(cur, ref, preset: str):
    import cv2
    cv2.setNumThreads(1)
    p = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
         "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
         "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[preset]
    d = cv2.DISOpticalFlow_create(p)
    a = cv2.cvtColor(np.ascontiguousarray(cur), cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(np.ascontiguousarray(ref), cv2.COLOR_RGB2GRAY)
    return d.calc(a, b, None).transpose(2, 0, 1)


@torch.no_grad()
def evaluate(model, sizes=(128, 256), dis=True) -> dict:
    """EPE (pixels, all pixels, mean over sequences) and time per pair on the held-out
    sequences, for the net, DIS presets and zero flow."""
    model.eval()
    res = {}
    for size in sizes:
        vs = val_set(48 if size == 128 else 16, size)
        row = {}
        methods = ["net"] + (["dis-ultrafast", "dis-fast", "dis-medium"] if dis else []) + \
            ["zero"]
        for m in methods:
            errs, t = [], 0.0
            for fr, fl in vs:
                t0 = time.perf_counter()
                if m == "net":
                    cur = torch.from_numpy(fr[1]).permute(2, 0, 1)[None].float() / 255
                    ref = torch.from_numpy(fr[0]).permute(2, 0, 1)[None].float() / 255
                    init = None
                    if model.cfg.get("init") == "dis":
                        init = torch.from_numpy(dis_flow(fr[1], fr[0], "medium"))[None]
                    est = model(cur, ref, init=init)[0][0].numpy()
                elif m == "zero":
                    est = np.zeros_like(fl[0])
                else:
                    est = dis_flow(fr[1], fr[0], m[4:])
                t += time.perf_counter() - t0
                errs.append(float(np.sqrt(((est - fl[0]) ** 2).sum(0)).mean()))
            row[m] = {"epe": round(float(np.mean(errs)), 3),
                      "ms": round(1000 * t / len(vs), 1)}
        res[str(size)] = row
    model.train()
    return res


def build(a: dict) -> SpyNetMini:
    return SpyNetMini(tuple(a["ch"]), a["k"], a["k_fine"], a["max_levels"],
                      a.get("min_side", 16), a.get("init"), a.get("init_levels", 2))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(ROOT / "training/codecs/runs/lvc-flow"))
    ap.add_argument("--seed", type=int, default=41)
    ap.add_argument("--ch", type=int, nargs=3, default=[24, 32, 24])
    ap.add_argument("--k", type=int, default=5, help="kernel of the coarse levels' net")
    ap.add_argument("--k-fine", type=int, default=3, help="kernel of the finest level's net")
    ap.add_argument("--max-levels", type=int, default=6)
    ap.add_argument("--min-side", type=int, default=16, help="coarsest pyramid side >= this")
    ap.add_argument("--init", choices=["dis"], default=None,
                    help="the 'dis' variant: the net corrects OpenCV DIS (medium) flow on "
                         "its --init-levels finest levels")
    ap.add_argument("--init-levels", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128, help="pool pairs' size")
    ap.add_argument("--crop", type=int, default=64, help="training crops from the pool")
    ap.add_argument("--pool", type=int, default=256)
    ap.add_argument("--fresh", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop (checkpoint saved, resumable) after this much wall time")
    ap.add_argument("--accelerate", action="store_true", help="use HF accelerate (GPUs)")
    ap.add_argument("--eval", action="store_true", help="EPE vs DIS on held-out sequences")
    ap.add_argument("--export", help="write the frozen safetensors of <run>/ckpt.pt here")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    run = Path(args.run)
    if args.export or args.eval:
        s = torch.load(run / "ckpt.pt", weights_only=False)
        model = build(s["args"])
        model.load_state_dict(s["model"])
        model.eval()
        if args.eval:
            res = evaluate(model)
            print(json.dumps({"step": s["step"], "eval": res}), flush=True)
            (run / "eval.json").write_text(json.dumps({"step": s["step"], "eval": res},
                                                      indent=1))
        if args.export:
            from safetensors.torch import save_file
            save_file(export_flow(model), args.export)
            print(f"wrote {args.export} from step {s['step']} "
                  f"({os.path.getsize(args.export)} bytes)")
        return
    torch.manual_seed(args.seed)
    run.mkdir(parents=True, exist_ok=True)
    model = build(vars(args))
    print(f"{sum(p.numel() for p in model.parameters())} parameters", flush=True)
    rng = np.random.default_rng(args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    step = 0
    ckpt = run / "ckpt.pt"
    state = None
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step}", flush=True)
    # the pool is rebuilt from its own seed (+ the step) on resume: reproducible per run
    pool = Pool(np.random.default_rng([args.seed, step]), args.pool, args.size, args.init)
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
        torch.save({"model": m.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "step": step,
                    "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                    "args": vars(args)}, tmp)
        os.replace(tmp, path)

    t0 = time.time()
    avg = None
    while step < args.steps:
        if args.max_minutes is not None and time.time() - t0 > 60 * args.max_minutes:
            save(ckpt)
            print(json.dumps({"stopped_at": step, "reason": "max-minutes"}), flush=True)
            return
        pool.refresh(rng, args.fresh)
        cur, ref, gt, init = pool.batch(rng, args.batch, args.crop)
        cur, ref, gt = cur.to(device), ref.to(device), gt.to(device)
        flows = model(cur, ref, init=None if init is None else init.to(device))
        loss = multiscale_loss(flows, gt)
        opt.zero_grad()
        acc.backward(loss) if acc else loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        e = float(epe(flows[0].detach(), gt))
        avg = e if avg is None else 0.95 * avg + 0.05 * e
        if step % 25 == 0:
            rec = {"step": step, "loss": round(float(loss.detach()), 4), "epe": round(e, 3),
                   "epe_avg": round(avg, 3), "lr": round(sched.get_last_lr()[0], 6),
                   "s": round(time.time() - t0, 1)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if step % args.ckpt_every == 0:
            save(ckpt)
    save(ckpt)
    print(json.dumps({"final_step": step}), flush=True)


if __name__ == "__main__":
    main()
