"""Train aigif-tiny-video (and aigif-tiny-video-2) from scratch on the procedural motion clips (CPU is enough).

    OMP_NUM_THREADS=1 nice -n 5 python -m training.embedded.train_video --out runs/tiny_video \
        --steps 1600 --max-minutes 44

Reproducible: the data stream, the initial weights and the noise come from fixed seeds and
training runs on one CPU thread (``--threads``). Resumable: every ``--ckpt-every`` steps the
model, its EMA, the optimiser and the random states go to ``OUT/ckpt.pt``; ``--resume``
continues from there (same result as an uninterrupted run). ``--max-minutes`` stops early
(a checkpoint and the EMA model are saved either way).

Recipe (what worked for aigif-tiny-2, carried over; docs/model-card-aigif-tiny-video.md):

- the **text encoder and tokenizer are aigif-tiny-2's**, frozen (a seeded random 2-layer CLIP
  text model and the real CLIP BPE); prompts' token states are cached per caption;
- ``aigif.embedded.video_unet.TinyVideoUNet`` (1.2 M params): 2 x 2 patches + x, y, t
  coordinate channels, FiLM by the pooled prompt, temporal convolutions and attention,
  cross-attention at 8 x 8;
- v-prediction, linear DDPM betas, DPM-Solver++ 2M with x0 thresholding to sample;
  10 % of captions dropped for classifier-free guidance;
- AdamW, warm-up then cosine decay, gradient clipping, an EMA of the weights (saved, float16).

The output directory is a diffusers directory without ``text_encoder/`` and ``tokenizer/``
(``aigif.embedded.video_pipeline.from_dir`` takes them from aigif-tiny-2).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aigif.embedded.video_unet import TinyVideoUNet

from . import video_checker, video_dataset
from .train import make_scheduler

SEED = 4321
CFG_DROP = 0.1
UNET_CONFIG = dict(sample_size=video_dataset.SIZE, num_frames=video_dataset.FRAMES,
                   block_out_channels=(48, 96))


class TextCache:
    """Caption -> frozen token states (L, 64), cached (the caption set is small)."""

    def __init__(self, tokenizer, text_encoder):
        self.tok, self.te = tokenizer, text_encoder
        self.cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, captions: list[str]) -> torch.Tensor:
        missing = sorted({c for c in captions if c not in self.cache})
        if missing:
            ids = self.tok(missing, padding="max_length", truncation=True,
                           max_length=self.tok.model_max_length, return_tensors="pt").input_ids
            states = self.te(ids)[0]
            for c, s in zip(missing, states):
                self.cache[c] = s
        return torch.stack([self.cache[c] for c in captions])


def frozen_text():
    """aigif-tiny-2's tokenizer and text encoder (frozen, float32, eval mode)."""
    from aigif.embedded.pipeline import load
    base = load(key="aigif-tiny-2")
    te = base.text_encoder.float().eval().requires_grad_(False)
    return base.tokenizer, te


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(B, T, H, W, 3) uint8 -> (B, 3, T, H, W) float in [-1, 1]."""
    return torch.from_numpy(frames).float().div(127.5).sub(1).permute(0, 4, 1, 2, 3).contiguous()


@torch.no_grad()
def sample(unet, text: TextCache, prompts: list[str], steps: int = 20, guidance: float = 3.0,
           seed: int = 0, frames: int = video_dataset.FRAMES) -> np.ndarray:
    """(N, T, H, W, 3) uint8 clips of ``prompts`` (the pipeline's loop, batched)."""
    sched = make_scheduler("linear", "dpmpp_2m")
    sched.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    n, s = len(prompts), unet.config.sample_size
    x = torch.randn((n, 3, frames, s, s), generator=g)
    cond = torch.cat([text([""] * n), text(prompts)])
    for t in sched.timesteps:
        out = unet(torch.cat([x, x]), t, cond).sample
        u, c = out.chunk(2)
        x = sched.step(u + guidance * (c - u), t, x).prev_sample
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1).numpy()


def evaluate(unet, text: TextCache, n_single: int = 16, n_pair: int = 8, **kw) -> dict:
    singles, pairs = video_dataset.heldout_clips()
    rng = np.random.default_rng(0)
    pick = [singles[i] for i in rng.permutation(len(singles))[:n_single]] + \
           [pairs[i] for i in rng.permutation(len(pairs))[:n_pair]]
    prompts = [c.caption for c in pick]
    clips = sample(unet, text, prompts, **kw)
    tally: dict[str, list[bool]] = {}
    for clip, p in zip(clips, prompts):
        for k, v in video_checker.check(clip, p).items():
            tally.setdefault(k, []).append(v)
    return {k: round(float(np.mean(v)), 3) for k, v in tally.items()}


def trajectory_targets(clips, slots: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What ``TinyVideoUNet``'s trajectory slots should predict for ``clips``, known from the
    procedural generator: per slot (the movers in caption order) the centre in every frame
    in the network's patch-grid coordinates (``(px - 16) / 15``: -1 and 1 are the first and
    last 2 x 2 patch's centres), its colour in [-1, 1], and a mask of the slots in use.
    Returns ``(centres (B, S, T, 2), rgb (B, S, 3), mask (B, S))``."""
    from .dataset import COLORS
    b, t = len(clips), len(clips[0].tracks[0])
    centres = torch.zeros(b, slots, t, 2)
    rgb = torch.zeros(b, slots, 3)
    mask = torch.zeros(b, slots)
    for i, clip in enumerate(clips):
        for j, (m, tr) in enumerate(zip(clip.movers[:slots], clip.tracks)):
            centres[i, j] = (torch.tensor(tr, dtype=torch.float32) - 16.0) / 15.0
            rgb[i, j] = torch.tensor(COLORS[m.color], dtype=torch.float32) / 127.5 - 1
            mask[i, j] = 1.0
    return centres, rgb, mask


def trajectory_loss(unet: TinyVideoUNet, cond: torch.Tensor, clips, keep: torch.Tensor
                    ) -> torch.Tensor:
    """Auxiliary loss of the trajectory slots (``--traj-aux``): squared error of the
    predicted paths (slots in use) and colours (every slot: 0 where unused) against the
    generator's own (``trajectory_targets``), over captions not dropped (``keep``)."""
    slots = unet.traj.slots
    tokens = unet.prompt(cond) if unet.prompt is not None else cond
    prm = unet.traj.pool(tokens).reshape(len(clips), slots, 9)
    centres, rgb, mask = trajectory_targets(clips, slots)
    frames = centres.shape[2]
    tau = torch.linspace(-1, 1, frames)
    basis = torch.stack([torch.ones_like(tau), tau, tau.abs()], dim=-1)      # (T, 3)
    px = torch.einsum("tk,bsk->bst", basis, prm[..., 0:3])
    py = torch.einsum("tk,bsk->bst", basis, prm[..., 3:6])
    pos = ((px - centres[..., 0]) ** 2 + (py - centres[..., 1]) ** 2).mean(-1)   # (B, S)
    col = ((prm[..., 6:9] - rgb) ** 2).mean(-1)                                  # (B, S)
    per = (pos * mask).sum(-1) / mask.sum(-1).clamp(min=1) + col.mean(-1)         # (B,)
    return (per * keep).sum() / keep.sum().clamp(min=1)


def save(out: Path, ema: TinyVideoUNet) -> None:
    """The EMA model as a diffusers directory: ``unet/`` (float16 safetensors),
    ``scheduler/``, ``model_index.json``."""
    out.mkdir(parents=True, exist_ok=True)
    copy.deepcopy(ema).half().save_pretrained(str(out / "unet"), safe_serialization=True)
    make_scheduler("linear", "dpmpp_2m").save_pretrained(str(out / "scheduler"))
    index = {"_class_name": "AigifTinyVideoPipeline", "_diffusers_version": "0.42.1",
             "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
             "unet": ["aigif.embedded.video_unet", "TinyVideoUNet"]}
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory (checkpoint, model)")
    ap.add_argument("--steps", type=int, default=1600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=80)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--eval-every", type=int, default=400, help="0: never")
    ap.add_argument("--eval-guidance", type=float, default=3.0)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--max-minutes", type=float, default=0, help="stop after this (0: never)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    ap.add_argument("--input-skip", action="store_true",
                    help="TinyVideoUNet(input_skip=True): a learned, timestep-scaled skip "
                         "from the noisy input to the output (zero at the start)")
    ap.add_argument("--prompt-layers", type=int, default=0,
                    help="aigif-tiny-video-2: a trainable prompt pathway (this many transformer "
                         "blocks with learned positions) over the frozen token states")
    ap.add_argument("--trajectory-slots", type=int, default=0,
                    help="aigif-tiny-video-2: prompt -> per-object colour and path sketch "
                         "channels at the UNet's input (this many objects)")
    ap.add_argument("--traj-aux", type=float, default=0.0,
                    help="weight of the auxiliary loss that teaches the trajectory slots "
                         "the generator's own paths and colours (trajectory_loss)")
    ap.add_argument("--p-pair", type=float, default=video_dataset.P_PAIR,
                    help="share of two-object clips in training")
    ap.add_argument("--fg-weight", type=float, default=0.0,
                    help="extra weight of the v-loss on the objects' pixels (those that differ "
                         "from the clip's background): loss weight 1 + this there, 1 elsewhere")
    ap.add_argument("--init", default=None,
                    help="stage 2: start from this saved model directory's unet/ (its EMA "
                         "weights), with a fresh optimiser and schedule")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer, te = frozen_text()
    text = TextCache(tokenizer, te)
    torch.manual_seed(args.seed)
    extra = {}
    if args.prompt_layers or args.trajectory_slots:
        extra = dict(prompt_layers=args.prompt_layers, trajectory_slots=args.trajectory_slots,
                     max_tokens=tokenizer.model_max_length)
    unet = TinyVideoUNet(**UNET_CONFIG, input_skip=args.input_skip, **extra)
    if args.init:
        from safetensors.torch import load_file
        sd = load_file(str(Path(args.init) / "unet" / "diffusion_pytorch_model.safetensors"))
        missing, unexpected = unet.load_state_dict({k: v.float() for k, v in sd.items()},
                                                   strict=False)
        if unexpected or any(not k.startswith("skip_scale.") for k in missing):
            raise SystemExit(f"--init {args.init}: missing {missing}, unexpected {unexpected}")
        print(f"initialised from {args.init} (new: {missing})", flush=True)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = make_scheduler("linear", "dpmpp_2m")
    alphas = sched.alphas_cumprod
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    step = 0
    ckpt = out / "ckpt.pt"
    if args.resume and ckpt.is_file():
        st = torch.load(ckpt, weights_only=False)   # our own checkpoint, never a user's file
        unet.load_state_dict(st["unet"])
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["opt"])
        rng.bit_generator.state = st["rng"]
        gen.set_state(st["gen"])
        step = st["step"]
        print(f"resumed at step {step}", flush=True)
    n_params = sum(p.numel() for p in unet.parameters())
    print(f"TinyVideoUNet {n_params / 1e6:.2f} M params; {args.steps} steps of batch "
          f"{args.batch}", flush=True)

    def lr_at(i: int) -> float:
        if i < args.warmup:
            return args.lr * (i + 1) / args.warmup
        p = (i - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    def checkpoint() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"unet": unet.state_dict(), "ema": ema.state_dict(),
                    "opt": opt.state_dict(), "rng": rng.bit_generator.state,
                    "gen": gen.get_state(), "step": step}, tmp)
        tmp.replace(ckpt)

    t_start = time.time()
    losses: list[float] = []
    aux_losses: list[float] = []
    log = open(out / "log.jsonl", "a")
    while step < args.steps:
        clips = [video_dataset.sample_clip(rng, args.p_pair) for _ in range(args.batch)]
        frames = np.stack([video_dataset.render_clip(c) for c in clips])
        captions = [c if rng.random() >= CFG_DROP else "" for c in (c.caption for c in clips)]
        x0 = to_tensor(frames)
        cond = text(captions)
        t = torch.randint(0, sched.config.num_train_timesteps, (args.batch,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        a = alphas[t].view(-1, 1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        v = a.sqrt() * noise - (1 - a).sqrt() * x0
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step)
        if args.fg_weight:
            from .dataset import BACKGROUNDS
            bg = torch.tensor([BACKGROUNDS[c.background] for c in clips], dtype=torch.float32)
            bg = bg.div(127.5).sub(1).view(-1, 3, 1, 1, 1)
            fg = ((x0 - bg).abs().amax(dim=1, keepdim=True) > 1e-3).float()
            w = 1 + args.fg_weight * fg
            loss = ((unet(xt, t, cond).sample - v) ** 2 * w).mean() / w.mean()
        else:
            loss = F.mse_loss(unet(xt, t, cond).sample, v)
        total = loss
        if args.traj_aux:
            keep = torch.tensor([float(bool(c)) for c in captions])
            aux = trajectory_loss(unet, cond, clips, keep)
            aux_losses.append(aux.item())
            total = loss + args.traj_aux * aux
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(args.ema, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), unet.parameters()):
                pe.mul_(d).add_(p.detach(), alpha=1 - d)
        step += 1
        losses.append(loss.item())
        elapsed = (time.time() - t_start) / 60
        if step % 50 == 0:
            rec = {"step": step, "loss": round(float(np.mean(losses[-50:])), 5),
                   "lr": lr_at(step), "minutes": round(elapsed, 2)}
            if aux_losses:
                rec["traj"] = round(float(np.mean(aux_losses[-50:])), 5)
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if step % args.ckpt_every == 0:
            checkpoint()
        if args.eval_every and step % args.eval_every == 0:
            t0 = time.time()
            res = evaluate(ema.eval(), text, guidance=args.eval_guidance)
            rec = {"step": step, "eval": res, "eval_s": round(time.time() - t0, 1)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            save(out / f"model-{step}", ema)
        if args.max_minutes and elapsed > args.max_minutes:
            print(f"stopping at step {step}: {elapsed:.1f} min", flush=True)
            break
    checkpoint()
    save(out / "model", ema)
    print(f"saved {out / 'model'} after {step} steps, "
          f"{(time.time() - t_start) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
