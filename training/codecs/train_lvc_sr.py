"""Train ``lvc-sr-1``: the spatial-temporal super-resolution head of the ``imclvc`` video
codec's low-rate mode (aigif/codecs/learned/lvc/sr.py), on lvc_data.py sequences.

Each training item is a sequence of --frames frames (lvc_data.sequence, split "train";
with probability --tiny a clip of the embedded tiny video model instead, bicubic-upscaled,
whose flow is unknown and taken as zero). Inputs are degraded like coded frames:
  * ``d_t`` = the codec's half-size frame (``sr.downscale``: 2x2 means), then, per frame,
    a "coding" degradation: with probability 0.6 a Gaussian blur (sigma 0.3..1.5), then
    either JPEG at quality 10..80 (probability 1/2) or uniform noise of +-0..3 levels;
    rounded to uint8 (the coder's output is uint8 too). The learned codecs' artefacts at low
    rate are mostly blur and ringing: blur + JPEG is the cheap stand-in.
    With probability --p-codec (0.5) a sequence is instead degraded by a float proxy of the
    learned intra codec sth-rdc-1 at a random low rate (``codec_degrade``: its analysis,
    zero-mean rounding at step 2^U(0.5, 2.9), its synthesis): the codec's own artefacts.
  * the motion the decoder has: the ground-truth flow of frame t at half size (2x2 mean,
    values / 2), averaged over 16 x 16 half-size blocks, rounded to quarter pels, made
    dense from the block centres (``motion.dense``'s bilinear rule) and brought to full size
    by ``sr.upflow``: what the codec's block flows give.
The head runs recurrently over the sequence: ``o_0 = SR(d_0, None)``, ``o_t = SR(d_t,
warp(o_{t-1}, upflow(flow_t)))`` (``o_{t-1}`` rounded to 8 bits with a straight-through
gradient, as the decoder's uint8 outputs); loss = mean MSE of every ``o_t`` against the
original frames. Adam, cosine lr. One torch thread. Reproducible from --seed; checkpoints to
<run>/ckpt.pt every --ckpt-every steps and at --max-minutes (resumable);
``--accelerate`` for GPUs. ``--eval``: PSNR of the head vs bicubic on held-out sequences
(split "val", seed 1234), with and without the warped previous output.

    OMP_NUM_THREADS=1 python training/codecs/train_lvc_sr.py --run training/codecs/runs/lvc-sr --max-minutes 15
    python training/codecs/train_lvc_sr.py --run training/codecs/runs/lvc-sr --eval
    python training/codecs/train_lvc_sr.py --run training/codecs/runs/lvc-sr --export aigif/codecs/learned/weights/lvc-sr-1.safetensors
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

from aigif.codecs.learned.lvc.sr import (SrNet, _warp, bicubic_up, downscale,  # noqa: E402
                                         export_sr, upflow)


def degrade(rng, x: np.ndarray) -> np.ndarray:
    """uint8 [H,W,3] full-size frame -> the degraded half-size frame (see the docstring)."""
    import cv2
    cv2.setNumThreads(1)
    d = downscale(x)
    if rng.random() < 0.6:
        d = cv2.GaussianBlur(d, (0, 0), float(rng.uniform(0.3, 1.5)))
    if rng.random() < 0.5:
        q = int(rng.integers(10, 81))
        ok, buf = cv2.imencode(".jpg", d[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        d = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    else:
        a = float(rng.uniform(0, 3))
        d = np.clip(d + rng.uniform(-a, a, d.shape), 0, 255)
    return np.rint(d).astype(np.uint8)


_SDH: list = []


def codec_degrade(rng, d: np.ndarray) -> np.ndarray:
    """uint8 [T,h,w,3] half-size frames -> the same coded by a float proxy of the
    ``sth-rdc-1`` intra coder at a random low rate: y = g_a(x), y_hat = s round(y / s)
    (s = 2^U(0.5, 2.9), the steps of crf ~36..51; zero-mean rounding, no hyperprior means,
    no entropy coding), x_hat = g_s(y_hat), rounded. The learned codec's own artefacts
    (its blur and ringing), at a few ms a frame."""
    if not _SDH:
        from aigif.codecs.learned import zoo
        _SDH.append(zoo.load("sth-rdc-1")[0])
    c = _SDH[0]
    t, h, w, _ = d.shape
    x = torch.from_numpy(d).permute(0, 3, 1, 2).float() / 255.0
    x = F.pad(x, (0, -w % 64, 0, -h % 64), mode="replicate")
    s = float(2 ** rng.uniform(0.5, 2.9))
    with torch.no_grad():
        y = c.g_a(x)
        xh = c.g_s(torch.round(y / s) * s)[:, :, :h, :w]
    return xh.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def block_flow_half(flow_full: torch.Tensor, bs: int = 16) -> torch.Tensor:
    """GT full-size flow [N,2,H,W] -> the codec's dense half-size flow [N,2,H/2,W/2]
    (H/2, W/2 multiples of ``bs``): block means, quarter pels, bilinear from the centres."""
    f = F.avg_pool2d(flow_full, 2) / 2.0
    g = torch.round(F.avg_pool2d(f, bs) * 4) / 4
    return F.interpolate(g, scale_factor=bs, mode="bilinear", align_corners=False)


def make_batch(rng, n: int, size: int, frames: int, split: str = "train", tiny: float = 0.0,
               p_codec: float = 0.5):
    """(d [n,T,3,size/2,size/2], flow_half [n,T-1,2,size/2,size/2], x [n,T,3,size,size]);
    a sequence's frames are degraded by :func:`codec_degrade` with probability
    ``p_codec``, else each by :func:`degrade`."""
    x, fl, _ = lvc_data.batch(rng, n, size, frames, split, tiny)
    xs = (x * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).numpy()
    d = np.stack([codec_degrade(rng, np.stack([downscale(f) for f in xs[i]]))
                  if rng.random() < p_codec else
                  np.stack([degrade(rng, xs[i, t]) for t in range(frames)])
                  for i in range(n)])
    d = torch.from_numpy(d).permute(0, 1, 4, 2, 3).float() / 255.0
    fh = torch.stack([block_flow_half(fl[:, t]) for t in range(frames - 1)], 1)
    return d, fh, x


def _q8(x: torch.Tensor) -> torch.Tensor:
    y = x.clamp(0, 1)
    return y + (torch.round(y * 255) / 255 - y).detach()


def unroll(model, d, fh, temporal: bool = True) -> list[torch.Tensor]:
    outs, prev = [], None
    for t in range(d.shape[1]):
        w = None
        if prev is not None and temporal:
            w = _warp(prev, upflow(fh[:, t - 1]))
        o = model(d[:, t], w)
        outs.append(o)
        prev = _q8(o)
    return outs


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / max(float(torch.mean((a.clamp(0, 1) - b) ** 2)), 1e-12))


@torch.no_grad()
def evaluate(model, n: int = 24, size: int = 128, frames: int = 4, p_codec: float = 0.5
             ) -> dict:
    """Mean PSNR (dB) over held-out sequences: bicubic, the head without the warped
    previous output, the head; frame 0 (no reference) and frames >= 1 apart."""
    model.eval()
    rng = np.random.default_rng(1234)
    d, fh, x = make_batch(rng, n, size, frames, "val", p_codec=p_codec)
    res = {}
    for name, outs in (("bicubic", [bicubic_up(d[:, t]) for t in range(frames)]),
                       ("sr_spatial", unroll(model, d, fh, temporal=False)),
                       ("sr", unroll(model, d, fh))):
        res[name] = {"frame0": round(psnr(outs[0], x[:, 0]), 3),
                     "frames1+": round(float(np.mean([psnr(outs[t], x[:, t])
                                                       for t in range(1, frames)])), 3)}
    model.train()
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(ROOT / "training/codecs/runs/lvc-sr"))
    ap.add_argument("--seed", type=int, default=43)
    ap.add_argument("--ch", type=int, default=48)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--tiny", type=float, default=0.1)
    ap.add_argument("--p-codec", type=float, default=0.5,
                    help="share of sequences degraded by the sth-rdc-1 proxy")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop (checkpoint saved, resumable) after this much wall time")
    ap.add_argument("--accelerate", action="store_true", help="use HF accelerate (GPUs)")
    ap.add_argument("--eval", action="store_true", help="PSNR vs bicubic, held-out")
    ap.add_argument("--export", help="write the frozen safetensors of <run>/ckpt.pt here")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    run = Path(args.run)
    if args.export or args.eval:
        s = torch.load(run / "ckpt.pt", weights_only=False)
        model = SrNet(s["args"]["ch"], s["args"]["layers"])
        model.load_state_dict(s["model"])
        model.eval()
        if args.eval:
            res = {"step": s["step"], "eval": evaluate(model)}
            print(json.dumps(res), flush=True)
            (run / "eval.json").write_text(json.dumps(res, indent=1))
        if args.export:
            from safetensors.torch import save_file
            save_file(export_sr(model), args.export)
            print(f"wrote {args.export} from step {s['step']} "
                  f"({os.path.getsize(args.export)} bytes)")
        return
    torch.manual_seed(args.seed)
    run.mkdir(parents=True, exist_ok=True)
    model = SrNet(args.ch, args.layers)
    # start as bicubic: the last convolution's output is zero
    torch.nn.init.zeros_(model.body[-1].weight)
    torch.nn.init.zeros_(model.body[-1].bias)
    print(f"{sum(p.numel() for p in model.parameters())} parameters", flush=True)
    rng = np.random.default_rng(args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    step = 0
    ckpt = run / "ckpt.pt"
    if ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        step = st["step"]
        rng.bit_generator.state = st["rng"]
        torch.set_rng_state(st["torch_rng"])
        print(f"resumed at step {step}", flush=True)
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
    gain = None
    while step < args.steps:
        if args.max_minutes is not None and time.time() - t0 > 60 * args.max_minutes:
            save(ckpt)
            print(json.dumps({"stopped_at": step, "reason": "max-minutes"}), flush=True)
            return
        d, fh, x = (t.to(device) for t in make_batch(rng, args.batch, args.size,
                                                      args.frames, tiny=args.tiny,
                                                      p_codec=args.p_codec))
        outs = unroll(model, d, fh)
        loss = sum(torch.mean((o - x[:, t]) ** 2) for t, o in enumerate(outs)) / len(outs)
        opt.zero_grad()
        acc.backward(loss) if acc else loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        with torch.no_grad():
            bic = sum(torch.mean((bicubic_up(d[:, t]) - x[:, t]) ** 2)
                      for t in range(args.frames)) / args.frames
            g = 10 * math.log10(float(bic) / max(float(loss), 1e-12))
        gain = g if gain is None else 0.95 * gain + 0.05 * g
        if step % 25 == 0:
            rec = {"step": step, "mse": round(float(loss.detach()), 6),
                   "gain_db": round(g, 3), "gain_avg": round(gain, 3),
                   "lr": round(sched.get_last_lr()[0], 6), "s": round(time.time() - t0, 1)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if step % args.ckpt_every == 0:
            save(ckpt)
    save(ckpt)
    print(json.dumps({"final_step": step}), flush=True)


if __name__ == "__main__":
    main()
