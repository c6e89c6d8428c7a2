"""Train the small NVTC codec (aigif/codecs/learned/nvtc_model.py) and export its weights.

Data: the training photos in ../shared/data/images (wikipedia-photos and
imagecompression-info; the last three wikipedia photos are held out for validation).
Kodak is never read here. 128x128 random crops with flips, seeded.

Quantization during training (the relaxation): hard ECVQ assignments with a
straight-through gradient to the encoder (r + sg(c - r)), the codewords pulled by the VQ
loss lambda * ||r - c||^2 (which also commits the encoder) and the per-position index
logits by the rate term -log2 p(index). The argmin is plain nearest-codeword VQ for the
first ``--vq-frac`` of the steps and entropy-constrained (||r - c||^2 + bits / lambda_latent)
afterwards, as the official code switches rate_constrain on late. Codebooks start from
data (residuals of the first batches, with noise) and codewords unused over a window are
re-seeded from recent residuals during the plain-VQ phase (cf. the official
reactivate_codeword, also only before the rate constraint).

    python training/codecs/train_nvtc.py --out /tmp/nvtc-run --steps 3000
    python training/codecs/train_nvtc.py --out /tmp/nvtc-run --export aigif/codecs/learned/nvtc_small.safetensors

Resumable: ``--out`` holds ckpt.pt (model, optimizer, step, RNG, codeword usage), written
every ``--ckpt-every`` steps and on exit; a rerun continues from it. One torch thread.
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

from aigif.codecs.learned.nvtc_model import NVTC, NvtcConfig  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "images"


def load_images(held_out: int = 3):
    from PIL import Image
    wiki = sorted((DATA / "wikipedia-photos").glob("*.png"))
    extra = sorted((DATA / "imagecompression-info").glob("*.png"))
    train_files = wiki[:-held_out] + extra
    val_files = wiki[-held_out:]
    for f in train_files + val_files:
        assert "kodak" not in str(f).lower()

    def load(fs):
        out = []
        for f in fs:
            im = Image.open(f).convert("RGB")
            out.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).contiguous())
        return out
    return load(train_files), load(val_files)


def random_batch(images, n, size, gen):
    batch = []
    for _ in range(n):
        im = images[int(torch.randint(len(images), (1,), generator=gen))]
        _, h, w = im.shape
        y = int(torch.randint(h - size + 1, (1,), generator=gen))
        x = int(torch.randint(w - size + 1, (1,), generator=gen))
        c = im[:, y:y + size, x:x + size]
        if torch.rand((), generator=gen) < 0.5:
            c = c.flip(-1)
        if torch.rand((), generator=gen) < 0.5:
            c = c.flip(-2)
        batch.append(c)
    return torch.stack(batch).float() / 255


class CodebookKeeper:
    """Data init of codebooks and reactivation of unused codewords from recent residuals."""

    def __init__(self, model: NVTC, keep: int = 4096):
        self.model = model
        self.keep = keep
        self.buf = {}
        self.usage = [torch.zeros(cb.shape[:2]) for cb in model.codebooks]
        self.initialized = [False] * len(model.codebooks)

    def sink(self, q, r):  # r: (N, P, d)
        b = self.buf.get(q)
        b = r if b is None else torch.cat([b, r])[-self.keep:]
        self.buf[q] = b
        if not self.initialized[q]:
            self._seed(q, torch.ones(self.usage[q].shape, dtype=torch.bool))
            self.initialized[q] = True

    def _seed(self, q, dead, gen=None):
        cb = self.model.codebooks[q]
        lg = self.model.logits[q]
        r = self.buf[q]
        with torch.no_grad():
            for p in range(cb.shape[0]):
                k = int(dead[p].sum())
                if k == 0:
                    continue
                pick = torch.randint(r.shape[0], (k,), generator=gen)
                noise = 0.01 * r[:, p].std() * torch.randn(k, cb.shape[2], generator=gen)
                cb[p, dead[p]] = r[pick, p] + noise
                alive = ~dead[p]
                lg[p, dead[p]] = lg[p, alive].mean() if alive.any() else 0.0

    def count(self, idxs):
        for q, idx in idxs.items():
            self.usage[q] += torch.nn.functional.one_hot(idx, self.usage[q].shape[1]).sum(0).float()

    def reactivate(self, gen):
        n = 0
        for q in range(len(self.usage)):
            if q in self.buf:
                dead = self.usage[q] == 0
                n += int(dead.sum())
                self._seed(q, dead, gen)
            self.usage[q].zero_()
        return n


def export(model: NVTC, path: Path, meta: dict):
    from aigif.codecs.learned.nvtc import save_weights
    save_weights(model, path, meta)
    print(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB)")


@torch.no_grad()
def validate(model, val, lam_lat, gen):
    crops = random_batch(val, 4, 256, gen)
    x_hat, bits, _, _ = model(crops, lam_lat)
    mse = ((x_hat.clamp(0, 1) - crops) ** 2).mean()
    return float(bits) / (crops.shape[0] * 256 * 256), float(10 * torch.log10(1 / mse))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--lmbda", type=float, default=0.013, help="CompressAI scale: loss = bpp + lmbda*255^2*MSE")
    ap.add_argument("--logit-lr", type=float, default=1e-2)
    ap.add_argument("--vq-frac", type=float, default=0.3)
    ap.add_argument("--react-every", type=int, default=100)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--single-stage", action="store_true", help="ablation: one stage (/16) only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export", type=Path, default=None, help="write the weights and stop")
    ap.add_argument("--deadline", type=float, default=None, help="stop (checkpointed) at this unix time")
    a = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    cfg = NvtcConfig(vt_dim=(64,), n_layer=(3,), vt_nunit=(1,), cb_dim=(16,), cb_size=(512,),
                     factors=(16,), n_res=2) if a.single_stage else NvtcConfig()
    model = NVTC(cfg)
    # the index logits get their own, larger step: they are a plain categorical fit and
    # must follow the codeword usage within a short run
    logit_ids = {id(p) for p in model.logits}
    opt = torch.optim.Adam([
        {"params": [p for p in model.parameters() if id(p) not in logit_ids], "lr": a.lr},
        {"params": list(model.logits), "lr": a.logit_lr, "is_logits": True}])
    keeper = CodebookKeeper(model)
    lam_pix = a.lmbda * 255 ** 2
    lam_lat = lam_pix / 3          # latent ECVQ weight: bits + (lam_pix / 3) * SSE
    a.out.mkdir(parents=True, exist_ok=True)
    ck = a.out / "ckpt.pt"
    step = 0
    log = []
    if ck.exists():
        st = torch.load(ck, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        gen.set_state(st["gen"])
        torch.set_rng_state(st["rng"])
        keeper.usage = st["usage"]
        keeper.initialized = [True] * len(keeper.initialized)
        step, log = st["step"], st["log"]
        print(f"resumed at step {step}", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    if a.export:
        export(model, a.export, {"steps": step, "lmbda": a.lmbda, "lam_latent": lam_lat,
                                 "params": n_params, "seed": a.seed,
                                 "data": "wikipedia-photos[:-3] + imagecompression-info, 128x128 crops"})
        return
    train, val = load_images()
    print(f"params {n_params}  train images {len(train)}  lam_pix {lam_pix:.1f}", flush=True)

    def save():
        tmp = ck.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                    "rng": torch.get_rng_state(), "usage": keeper.usage, "step": step,
                    "log": log, "args": vars(a) | {"out": str(a.out), "export": None}}, tmp)
        os.replace(tmp, ck)

    t0 = t_start = time.time()
    npix = a.batch * a.crop * a.crop
    while step < a.steps:
        if a.deadline and time.time() > a.deadline:
            print("deadline reached", flush=True)
            break
        frac = step / a.steps
        if a.deadline:
            frac = max(frac, (time.time() - t_start) / (a.deadline - t_start))
        lr = a.lr * (0.1 if frac >= 0.85 else 1.0)
        for g in opt.param_groups:
            g["lr"] = (a.logit_lr if g.get("is_logits") else lr)
        lam = None if step < a.vq_frac * a.steps else lam_lat
        x = random_batch(train, a.batch, a.crop, gen)
        x_hat, bits, vq, idxs = model(x, lam, residual_sink=keeper.sink)
        mse = ((x_hat - x) ** 2).mean()
        bpp = bits / npix
        loss = bpp + lam_pix * mse + lam_pix * vq / (3 * npix)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        keeper.count({q: i.detach() for q, i in idxs.items()})
        step += 1
        # reseeding stops when ECVQ starts: ECVQ leaves codewords unused on purpose
        # (the official code reactivates only before its rate constraint is on)
        if step % a.react_every == 0 and lam is None:
            nd = keeper.reactivate(gen)
        else:
            nd = None
        if step % 20 == 0:
            psnr = float(10 * torch.log10(1 / ((x_hat.detach().clamp(0, 1) - x) ** 2).mean()))
            rec = {"step": step, "loss": float(loss.detach()), "bpp": float(bpp.detach()), "psnr": psnr,
                   "ecvq": lam is not None, "s": round(time.time() - t0, 1)}
            if nd is not None:
                rec["reseeded"] = nd
            log.append(rec)
            print(json.dumps(rec), flush=True)
        if step % a.ckpt_every == 0:
            save()
    save()
    vb, vp = validate(model, val, lam_lat, torch.Generator().manual_seed(1))
    print(json.dumps({"val_bpp_est": vb, "val_psnr": vp, "step": step}), flush=True)


if __name__ == "__main__":
    main()
