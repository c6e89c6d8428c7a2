"""Measure the imclvc codec's own choices on test clips (never trained on): the low-rate mode
(half size + the SR head lvc-sr-1) against bicubic upsampling of the same decoded half-size
frames and against full-size coding (sr=False) at the same crf, and the encoder's motion
(SpyNet-mini lvc-flow-1 vs OpenCV DIS).

Clips: USC-SIPI "Sequences" (``shared/data/images/usc-sipi-sequences/``, 256x256 gray
frames in file-name order, replicated to RGB), the first --frames frames. PSNR: mean over
frames of RGB PSNR (peak 255). kbps at --fps (30).

    OMP_NUM_THREADS=1 python training/codecs/eval_imclvc.py --clips 6.1,6.2 --frames 12 --crf 51
    OMP_NUM_THREADS=1 python training/codecs/eval_imclvc.py --intra-only --crf 51 45
    OMP_NUM_THREADS=1 python training/codecs/eval_imclvc.py --motion --frames 8
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SIPI = ROOT.parent / "shared" / "data" / "images" / "usc-sipi-sequences"


def load_clip(name: str, frames: int) -> np.ndarray:
    from PIL import Image
    files = sorted(SIPI.glob(f"{name}.*.png"))[:frames]
    if not files:
        raise SystemExit(f"no frames {name}.*.png in {SIPI}")
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([10 * math.log10(255 ** 2 / max(np.mean(
        (x.astype(np.float64) - y) ** 2), 1e-10)) for x, y in zip(a, b)]))


def bicubic(d: np.ndarray, h: int, w: int) -> np.ndarray:
    import torch

    from aigif.codecs.learned.lvc.sr import bicubic_up
    t = torch.from_numpy(d).permute(2, 0, 1)[None].float() / 255
    u = bicubic_up(t)[0, :, :h, :w]
    return u.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def low_rate(codec, frames, fps, crf, **opts) -> dict:
    """Encode in the low-rate mode, recording the decoded half-size frames."""
    from aigif.codecs.learned.lvc import imclvc
    halves: list = []
    orig = imclvc.ImclvcScheme._out

    def spy(self, d, flow_half=None):
        halves.append(d)
        return orig(self, d, flow_half)
    imclvc.ImclvcScheme._out = spy
    try:
        data, recon = codec.encode_recon(frames, fps, crf=crf, sr=True, **opts)
    finally:
        imclvc.ImclvcScheme._out = orig
    t, h, w, _ = frames.shape
    bic = np.stack([bicubic(d, h, w) for d in halves])
    return {"kbps": len(data) * 8 * fps / t / 1000, "psnr_sr": psnr(recon, frames),
            "psnr_bicubic": psnr(bic, frames)}


def motion_eval(frames: np.ndarray, flow: str, refine: int) -> dict:
    """Prediction quality of the codec's motion on consecutive ORIGINAL frames (no
    residual coder): dense flow (``flow`` = "net": lvc-flow-1, "dis": OpenCV DIS medium,
    "zero"), 16x16 block flows (quarter pels), ``refine`` encoder refinement steps, warp
    of frame t-1; PSNR of the prediction, bytes of the flow sub-stream, estimation ms."""
    import time

    import torch

    from aigif.codecs.learned import zoo
    from aigif.codecs.learned.lvc.motion import (FLOW_MAX, QPEL, block_flow, dense,
                                                 encode_fields, estimate, refine as refine_,
                                                 to_tensor, warp)
    net = zoo.load("lvc-flow-1")[0] if flow == "net" else None
    ps, nb, ms = [], [], []
    for t in range(1, len(frames)):
        cur, ref = frames[t], frames[t - 1]
        t0 = time.perf_counter()
        if flow == "net":
            f = net.estimate(cur, ref).transpose(1, 2, 0)
        elif flow == "dis":
            f = estimate(cur, ref, "medium")
        else:
            f = np.zeros(cur.shape[:2] + (2,), np.float32)
        ms.append(1000 * (time.perf_counter() - t0))
        fields = block_flow(f)
        r = to_tensor(ref)
        fields = refine_(fields, lambda g: warp(r, dense(g) / QPEL), to_tensor(cur),
                         [(-FLOW_MAX, FLOW_MAX)] * 2, refine)
        g = torch.from_numpy(fields.astype("float64")).float()[None]
        pred = warp(r, dense(g) / QPEL)[0].clamp(0, 1).mul(255).round().permute(1, 2, 0)
        ps.append(psnr(pred.numpy()[None], cur[None]))
        nb.append(len(encode_fields(fields)))
    return {"pred_psnr": float(np.mean(ps)), "flow_bytes": float(np.mean(nb)),
            "est_ms": float(np.median(ms))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default="6.1,6.2")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--crf", type=int, nargs="+", default=[51])
    ap.add_argument("--refine", type=int, default=30)
    ap.add_argument("--motion", action="store_true",
                    help="instead: the prediction PSNR and flow bytes of the motion "
                         "(zero / lvc-flow-1 / DIS, refine 0 and --refine), no residual")
    ap.add_argument("--intra-only", action="store_true",
                    help="gop=1 (every frame I: the SR head without its temporal input); "
                         "a random stand-in is registered for lvc-res-1 if it is missing "
                         "(unused by I frames)")
    ap.add_argument("--res-weights", help="a lvc-res-1 safetensors file (e.g. a training "
                                         "checkpoint's export) instead of the installed one")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from aigif.codecs import get_codec
    codec = get_codec("imclvc")
    extra = {}
    if a.res_weights:
        from safetensors.torch import load_file

        from aigif.codecs.learned import zoo
        zoo.register("lvc-res-1", load_file(a.res_weights), "lvcres")
    if a.intra_only:
        from aigif.codecs.learned import zoo
        extra["gop"] = 1
        if not zoo.available("lvc-res-1"):
            from aigif.codecs.learned.lvc.residual_model import random_tensors
            zoo.register("lvc-res-1", random_tensors(), "lvcres")
    rows = []
    for name in a.clips.split(","):
        frames = load_clip(name, a.frames)
        t = len(frames)
        for crf in a.crf:
            if a.motion:
                for flow in ("zero", "net", "dis"):
                    for rf in sorted({0, a.refine}):
                        m = motion_eval(frames, flow, rf)
                        r = {"clip": name, "flow": flow, "refine": rf,
                             **{k: round(v, 2) for k, v in m.items()}}
                        rows.append(r)
                        print(json.dumps(r), flush=True)
                break
            lr = low_rate(codec, frames, a.fps, crf, refine=a.refine, **extra)
            data, recon = codec.encode_recon(frames, a.fps, crf=crf, refine=a.refine, **extra)
            r = {"clip": name, "frames": t, "crf": crf, "gop": extra.get("gop", 0),
                 "low_rate_kbps": round(lr["kbps"], 1),
                 "low_rate_psnr_sr": round(lr["psnr_sr"], 3),
                 "low_rate_psnr_bicubic": round(lr["psnr_bicubic"], 3),
                 "sr_gain_db": round(lr["psnr_sr"] - lr["psnr_bicubic"], 3),
                 "full_kbps": round(len(data) * 8 * a.fps / t / 1000, 1),
                 "full_psnr": round(psnr(recon, frames), 3)}
            rows.append(r)
            print(json.dumps(r), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
