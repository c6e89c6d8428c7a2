"""Train the learned video codecs' P-frame residual coder (``lvc-res-1``, zoo arch
``lvcres``: :class:`aigif.codecs.learned.lvc.residual_model.ConditionalHyperprior`).

Training pairs (x_t, prediction) are built as the codecs build them, once, into a cache
(``<run>/pairs-<split>.npz``, uint8 frames, float16 predictions), so the training steps are
pure torch:

1. a 3-frame sequence from ``lvc_data.py`` (synthetic pans / zooms / rotations / sprites
   over the training photos with brightness drift; with probability ``--tiny`` a clip of
   the embedded aigif-tiny-video-3, upscaled), 256 x 256;
2. the reference of frame t (t = 1, 2) is frame t-1 *decoded*: coded with the intra model
   sth-rdc-1 at a random step 2^U(-2, 2.5) (RDC level 2), rounded to uint8. For t = 2 the
   real codec's reference would be a decoded P frame; an intra-coded frame at a similar
   step has coding artefacts of the same kind and size, and this model does not exist yet
   when the cache is built (documented approximation);
3. motion as the encoder finds it (``lvc.motion``): ``estimate`` (OpenCV DIS, medium) of
   frame t against the decoded reference, ``block_flow`` (16 x 16 blocks, quarter pels),
   ``dense`` (bilinear from block centres), ``warp`` (bilinear, border) -> the prediction.
   With probability 0.15 the prediction is taken one level down the reference's Gaussian
   pyramid (``pyramid_volume`` level 1: ENVC's coarse-scale prediction of blurry or
   uncertain areas).

Training: random 128 x 128 crops of the same place in x_t and its prediction (flips), batch
8; with probability ``--bad-pred`` a sample's prediction is another sample's (scene cuts,
occlusions: the model must still code the frame). Variable rate as train_rdc.py: per batch
a step Delta = 2^U(lo, hi) and lambda = lambda0 / Delta^2. Soft-then-hard: phase 1 noise
(everything trained), phase 2 (from ``--phase2-at`` steps or ``--phase2-minutes`` before the
``--max-minutes`` cut, whichever comes first) freezes the context net, g_a and h_a and
rounds (straight-through), fine-tuning g_s, h_s and the prior.

Validation: pairs of the held-out photos (lvc_data's "val" split, the photos train_sth.py
holds out; never the test clips), hard mode, at Delta 0.5 / 1 / 2 / 4, next to sth-rdc-1
coding the same frames intra at the same step (real bytes, RDC level 2).

One torch thread; reproducible from --seed; checkpoints ``<run>/ckpt.pt`` (rerunning the
same command resumes, the elapsed time included); ``--accelerate`` runs the steps through
HF accelerate (GPUs; imported only then).

    OMP_NUM_THREADS=1 python training/codecs/train_lvc_res.py --run training/codecs/runs/lvc-res --build-cache 700
    OMP_NUM_THREADS=1 python training/codecs/train_lvc_res.py --run training/codecs/runs/lvc-res --steps 20000 --max-minutes 45
    python training/codecs/train_lvc_res.py --run training/codecs/runs/lvc-res --export aigif/codecs/learned/weights/lvc-res-1.safetensors
    python training/codecs/train_lvc_res.py --run training/codecs/runs/lvc-res --eval aigif/codecs/learned/weights/lvc-res-1.safetensors
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

from aigif.codecs.learned.lvc.residual_model import (ConditionalHyperprior,  # noqa: E402
                                                     export)

#: validation steps (Delta, in trained-step units)
VAL_STEPS = (0.5, 1.0, 2.0, 4.0)


# --------------------------------------------------------------------------- the cache
def _intra(coder, rgb, step: int, level: int = 2):
    """sth-rdc-1 round trip: (decoded uint8, bytes)."""
    zb, yb, zs = coder.encode(rgb, step, level)
    y = coder.decode_latents(zb, yb, zs[1], zs[2], step, level)
    return coder.synthesize(y, rgb.shape[0], rgb.shape[1]), len(zb) + len(yb)


def predict(ref_u8, cur_u8, coarse: bool = False):
    """The codec's prediction of ``cur`` from the decoded reference: DIS -> 16x16 block
    flows (quarter pels) -> dense -> warp. float32 torch [1, 3, H, W]."""
    from aigif.codecs.learned.lvc import motion
    flow = motion.estimate(cur_u8, ref_u8)
    bf = motion.block_flow(flow, motion.BLOCK)
    dense = motion.dense(torch.from_numpy(bf.astype(np.float32))[None] / motion.QPEL)
    ref = motion.to_tensor(ref_u8)
    if coarse:
        vol = motion.pyramid_volume(ref, 3)
        return motion.scale_space_warp(vol, dense, torch.ones_like(dense[:, :1]))
    return motion.warp(ref, dense)


def build_cache(path: Path, n_seq: int, split: str, seed: int, size: int = 256,
                tiny: float = 0.08, intra_baseline: bool = False) -> None:
    """Write ``n_seq`` sequences' pairs (2 per sequence) to ``path`` (npz): x uint8
    [P,H,W,3], pred float16 [P,3,H,W], ref_step float32 [P]; with ``intra_baseline``
    also intra_bytes / intra_psnr [P, len(VAL_STEPS)] of sth-rdc-1 on x."""
    import lvc_data

    from aigif.codecs.learned import zoo
    coder, _ = zoo.load("sth-rdc-1")
    rng = np.random.default_rng(seed)
    xs, preds, rsteps, ib, ip = [], [], [], [], []
    t0 = time.time()
    for i in range(n_seq):
        if split == "train" and tiny > 0:
            x, _, _ = lvc_data.batch(rng, 1, size, 3, split, tiny)
            frames = (x[0].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        else:
            frames, _ = lvc_data.sequence(rng, size, 3, split)
        for t in (1, 2):
            rstep = float(2 ** rng.uniform(-2, 2.5))
            ref, _ = _intra(coder, frames[t - 1], max(1, round(256 * rstep)))
            pred = predict(ref, frames[t], coarse=bool(rng.random() < 0.15))
            xs.append(frames[t])
            preds.append(pred[0].numpy().astype(np.float16))
            rsteps.append(rstep)
            if intra_baseline:
                row_b, row_p = [], []
                for d in VAL_STEPS:
                    rec, nb = _intra(coder, frames[t], round(256 * d))
                    mse = np.mean((rec.astype(np.float64) - frames[t]) ** 2)
                    row_b.append(8 * nb / (size * size))
                    row_p.append(10 * math.log10(255 ** 2 / max(mse, 1e-10)))
                ib.append(row_b)
                ip.append(row_p)
        if (i + 1) % 25 == 0:
            print(f"cache {split}: {i + 1}/{n_seq} sequences, {time.time() - t0:.0f} s",
                  flush=True)
    out = {"x": np.stack(xs), "pred": np.stack(preds), "ref_step": np.array(rsteps, np.float32)}
    if intra_baseline:
        out["intra_bpp"] = np.array(ib, np.float32)
        out["intra_psnr"] = np.array(ip, np.float32)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, path)
    print(f"wrote {path}: {len(xs)} pairs", flush=True)


def load_cache(path: Path):
    d = np.load(path)
    return {k: d[k] for k in d.files}


def crops(cache, rng: np.random.Generator, n: int, size: int, bad_pred: float = 0.0):
    """A batch: (x float32 [n,3,s,s], pred float32 [n,3,s,s]) of random same-place crops
    with flips; with probability ``bad_pred`` a sample gets another sample's prediction."""
    P, H, W, _ = cache["x"].shape
    xb = np.empty((n, 3, size, size), np.float32)
    pb = np.empty((n, 3, size, size), np.float32)
    for k in range(n):
        i = int(rng.integers(P))
        y0, x0 = int(rng.integers(H - size + 1)), int(rng.integers(W - size + 1))
        x = cache["x"][i, y0:y0 + size, x0:x0 + size].transpose(2, 0, 1) / np.float32(255)
        p = cache["pred"][i, :, y0:y0 + size, x0:x0 + size].astype(np.float32)
        if rng.integers(2):
            x, p = x[:, :, ::-1], p[:, :, ::-1]
        if rng.integers(2):
            x, p = x[:, ::-1], p[:, ::-1]
        xb[k], pb[k] = x, p
    if n > 1 and bad_pred > 0:
        for k in range(n):
            if rng.random() < bad_pred:
                pb[k] = pb[(k + 1 + int(rng.integers(n - 1))) % n]
    return torch.from_numpy(xb), torch.from_numpy(pb)


# --------------------------------------------------------------------------- training
def rd(model, x, pred, mode, step, lmbda):
    x_hat, y_lik, z_lik = model(x, pred, mode, step)
    n = x.shape[0] * x.shape[2] * x.shape[3]
    bpp = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum()) / n
    mse = torch.mean((x_hat - x) ** 2)
    return lmbda * 255 ** 2 * mse + bpp, bpp, mse


@torch.no_grad()
def validate(model, val, mode: str = "hard", device=None) -> dict:
    """Per Delta in VAL_STEPS: (estimated bpp, PSNR) of the P residuals on the held-out
    pairs (whole 256 x 256 frames), the prediction's PSNR, and sth-rdc-1 intra (bpp,
    PSNR) of the same frames at the same step."""
    model.eval()
    x = torch.from_numpy(val["x"]).permute(0, 3, 1, 2).float() / 255
    p = torch.from_numpy(val["pred"].astype(np.float32))
    if device is not None:
        x, p = x.to(device), p.to(device)
    res = {"pred_psnr": round(float(np.mean([10 * math.log10(1 / max(float(torch.mean(
        (p[i].clamp(0, 1) - x[i]) ** 2)), 1e-10)) for i in range(len(x))])), 2)}
    for j, d in enumerate(VAL_STEPS):
        bpps, psnrs = [], []
        for i in range(0, len(x), 4):
            xx, pp = x[i:i + 4], p[i:i + 4]
            x_hat, y_lik, z_lik = model(xx, pp, mode, d)
            for k in range(len(xx)):
                n = xx.shape[2] * xx.shape[3]
                bpps.append(float(-(torch.log2(y_lik[k]).sum() + torch.log2(z_lik[k]).sum()) / n))
                mse = float(torch.mean((x_hat[k].clamp(0, 1) - xx[k]) ** 2))
                psnrs.append(10 * math.log10(1 / max(mse, 1e-10)))
        row = {"p": [round(float(np.mean(bpps)), 4), round(float(np.mean(psnrs)), 2)]}
        if "intra_bpp" in val:
            row["intra"] = [round(float(val["intra_bpp"][:, j].mean()), 4),
                            round(float(val["intra_psnr"][:, j].mean()), 2)]
        res[f"d{d}"] = row
    model.train()
    return res


def evaluate(weights: str, val) -> dict:
    """Real coding of the held-out pairs with frozen weights (``ResidualCoder``: actual
    stream bytes, uint8 reconstructions) per Delta in VAL_STEPS, beside sth-rdc-1 intra."""
    from safetensors.torch import load_file

    from aigif.codecs.learned.lvc.residual import ResidualCoder
    coder = ResidualCoder(load_file(weights))
    res = {}
    for j, d in enumerate(VAL_STEPS):
        bpps, psnrs = [], []
        for x, p in zip(val["x"], val["pred"]):
            streams, x_hat = coder.encode(x, torch.from_numpy(p.astype(np.float32))[None],
                                          round(256 * d))
            bpps.append(8 * sum(map(len, streams)) / (x.shape[0] * x.shape[1]))
            mse = np.mean((x_hat.astype(np.float64) - x) ** 2)
            psnrs.append(10 * math.log10(255 ** 2 / max(mse, 1e-10)))
        res[f"d{d}"] = {"p": [round(float(np.mean(bpps)), 4), round(float(np.mean(psnrs)), 2)],
                        "intra": [round(float(val["intra_bpp"][:, j].mean()), 4),
                                  round(float(val["intra_psnr"][:, j].mean()), 2)]}
    return res


def build(a: dict) -> ConditionalHyperprior:
    return ConditionalHyperprior(a["N"], a["M"], a["H"], tuple(a["C"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(ROOT / "training/codecs/runs/lvc-res"))
    ap.add_argument("--seed", type=int, default=41)
    ap.add_argument("--build-cache", type=int, metavar="SEQUENCES",
                    help="only build <run>/pairs-train.npz from this many sequences (2 "
                         "pairs each) and <run>/pairs-val.npz (--val-sequences), then stop")
    ap.add_argument("--val-sequences", type=int, default=16)
    ap.add_argument("--tiny", type=float, default=0.08,
                    help="share of tiny-video clips among the training sequences")
    ap.add_argument("--lmbda", type=float, default=0.013, help="lambda at step 1")
    ap.add_argument("--log2-step", type=float, nargs=2, default=[-2.0, 2.5],
                    help="steps 2^U(lo, hi)")
    ap.add_argument("--N", type=int, default=48)
    ap.add_argument("--M", type=int, default=64)
    ap.add_argument("--H", type=int, default=32)
    ap.add_argument("--C", type=int, nargs=3, default=[24, 32, 48])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--bad-pred", type=float, default=0.03)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--phase2-at", type=int, default=17000)
    ap.add_argument("--phase2-minutes", type=float, default=7.0,
                    help="with --max-minutes: phase 2 starts this long before the cut")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--lr2", type=float, default=5e-5)
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop after this much training time (all sessions of the run "
                         "together), validate and write final.pt")
    ap.add_argument("--accelerate", action="store_true", help="use HF accelerate (GPUs)")
    ap.add_argument("--export", help="write the frozen safetensors of <run>/final.pt "
                                     "(else of ckpt.pt) here")
    ap.add_argument("--eval", metavar="WEIGHTS", help="code <run>/pairs-val.npz with these "
                    "frozen weights (real bytes and reconstructions) and print the table")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    if args.export:
        from safetensors.torch import save_file
        src = run / "final.pt" if (run / "final.pt").exists() else run / "ckpt.pt"
        s = torch.load(src, weights_only=False)
        model = build(s["args"])
        model.load_state_dict(s["model"])
        save_file(export(model.eval()), args.export)
        print(f"wrote {args.export} from {src} (step {s['step']}, "
              f"{os.path.getsize(args.export)} bytes)")
        return
    if args.eval:
        print(json.dumps(evaluate(args.eval, load_cache(run / "pairs-val.npz"))), flush=True)
        return
    if args.build_cache is not None:
        build_cache(run / "pairs-val.npz", args.val_sequences, "val", args.seed + 1000,
                    intra_baseline=True)
        build_cache(run / "pairs-train.npz", args.build_cache, "train", args.seed,
                    tiny=args.tiny)
        return

    torch.manual_seed(args.seed)
    train = load_cache(run / "pairs-train.npz")
    val = load_cache(run / "pairs-val.npz")
    print(f"{len(train['x'])} training pairs, {len(val['x'])} validation pairs", flush=True)
    model = build(vars(args))
    rng = np.random.default_rng(args.seed)
    step, phase, elapsed = 0, 1, 0.0
    acc = None

    def net():
        return acc.unwrap_model(model) if acc else model

    def make_opt(phase):
        if phase == 1:
            return torch.optim.Adam(net().parameters(), lr=args.lr)
        # phase 2: the context net, g_a and h_a are frozen
        return torch.optim.Adam([p for n_, p in net().named_parameters()
                                 if not n_.startswith(("ctx.", "g_a.", "h_a."))], lr=args.lr2)

    opt = make_opt(1)
    ckpt = run / "ckpt.pt"
    if ckpt.exists():
        s = torch.load(ckpt, weights_only=False)
        model.load_state_dict(s["model"])
        step, phase, elapsed = s["step"], s["phase"], s.get("elapsed", 0.0)
        opt = make_opt(phase)
        opt.load_state_dict(s["opt"])
        rng.bit_generator.state = s["rng"]
        torch.set_rng_state(s["torch_rng"])
        print(f"resumed at step {step} (phase {phase}, {elapsed / 60:.1f} min)", flush=True)
    if args.accelerate:
        from accelerate import Accelerator
        acc = Accelerator()
        model, opt = acc.prepare(model, opt)
    device = acc.device if acc else torch.device("cpu")
    log = open(run / "log.jsonl", "a")

    def save(path):
        tmp = Path(str(path) + ".tmp")
        torch.save({"model": net().state_dict(), "opt": opt.state_dict(), "step": step,
                    "phase": phase, "elapsed": elapsed + time.time() - t0,
                    "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                    "args": vars(args)}, tmp)
        os.replace(tmp, path)

    t0 = time.time()
    lo, hi = args.log2_step
    while step < args.steps:
        minutes = (elapsed + time.time() - t0) / 60
        if args.max_minutes is not None and minutes > args.max_minutes:
            print(json.dumps({"stopped_at": step, "reason": "max-minutes"}), flush=True)
            break
        if phase == 1 and (step >= args.phase2_at or (
                args.max_minutes is not None
                and minutes > args.max_minutes - args.phase2_minutes)):
            save(run / "phase1.pt")
            phase = 2
            opt = make_opt(2)
            if acc:
                opt = acc.prepare(opt)
            res = validate(net(), val, "hard", device)
            log.write(json.dumps({"phase2_at": step, "val": res}) + "\n")
            print(json.dumps({"phase2_at": step, "val": res}), flush=True)
        mode = "noise" if phase == 1 else "hard"
        qstep = float(2 ** rng.uniform(lo, hi))
        x, p = crops(train, rng, args.batch, args.crop, args.bad_pred)
        x, p = x.to(device), p.to(device)
        loss, bpp, mse = rd(model, x, p, mode, qstep, args.lmbda / qstep ** 2)
        opt.zero_grad()
        acc.backward(loss) if acc else loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            rec = {"step": step, "phase": phase, "qstep": round(qstep, 3),
                   "loss": round(loss.item(), 4), "bpp": round(bpp.item(), 4),
                   "psnr": round(10 * math.log10(1 / max(mse.item(), 1e-10)), 2),
                   "min": round((elapsed + time.time() - t0) / 60, 2)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if step % args.ckpt_every == 0:
            save(ckpt)
    save(ckpt)
    res = validate(net(), val, "hard", device)
    log.write(json.dumps({"final_step": step, "val": res}) + "\n")
    print(json.dumps({"final_step": step, "val": res}), flush=True)
    torch.save({"model": net().state_dict(), "args": vars(args), "step": step, "val": res},
               run / "final.pt")


if __name__ == "__main__":
    main()
