"""Train aigif-tiny from scratch on the procedural shapes dataset (CPU is enough).

    python -m training.embedded.train --out my_tiny      # the shipped run (code 16's weights)
    python -m training.embedded.train --out my_tiny2 --text frozen --schedule linear --steps 4500

Reproducible: the data stream, the initial weights and the noise all come from fixed seeds,
and training runs on one CPU thread by default (``--threads``), so the same command on the
same machine gives the same weights. About 2,400 steps of batch 32 take ~1 hour on one core
of a 2-core machine; ``--device cuda`` uses a GPU where there is one (not bit-identical to
the CPU run).

Recipe (a 5 M-parameter model that follows colour and background words after an hour of
CPU; not yet shape or position: docs/model-card-aigif-tiny.md):

- pixel space, 32 x 32 RGB in [-1, 1]; no VAE; two coordinate channels (x, y) appended
  to the UNet input (CoordConv), so positions are learned quickly;
- text: the real CLIP tokenizer, a 2-layer 64-wide ``CLIPTextModel`` trained from scratch
  with twice the UNet's learning rate;
- conditioning twice: cross-attention at 16 x 16 and 8 x 8, and the prompt pooled by
  attention into the time embedding (``addition_embed_type="text"``), which carries the
  global facts (colour, background) straight to every ResNet block;
- v-prediction with the cosine (``squaredcos_cap_v2``) schedule, DDIM with trailing
  timesteps for sampling; 10 % of captions dropped for classifier-free guidance;
- AdamW, warm-up then cosine decay, gradient clipping, an EMA of the weights (saved);
- weights saved in float16 (halves the package; loaded as float32).

``--text frozen --schedule linear`` (docs/model-card-aigif-tiny.md, third session) is the
first recipe whose UNet reads position words: a text encoder trained with the UNet from
scratch collapses the differences between prompts (position words first) before the UNet
learns to read them, so it stays at its seeded random initialisation (saved as the rows
that differ from the packaged base, 0.2 MB); and the linear schedule leaves the layout
unknown to the UNet over more timesteps than the cosine one. Its colour and background
seemed to fall, but that was the DDIM sampler under guidance (``SAMPLERS``): sampled with
``--sampler dpmpp_2m`` the same weights draw colour, position and background right.

Stage 2 (``--base DIR``) trains further from a saved model and writes only what changed:
``--text frozen|layers|vocab`` (text encoder fixed; trained but for its token embedding;
that plus the embedding rows of the dataset's words), ``--film`` (scale-shift conditioning
in the ResNet blocks), ``--attn32`` (cross-attention at full resolution), ``--t-power``
(more high-noise timesteps). ``pipeline.from_dir`` loads such a directory; what these
options did to prompt following is in docs/model-card-aigif-tiny.md. Example::

    python -m training.embedded.train --base aigif/embedded/aigif_tiny --text vocab --film \
        --out my_tiny --steps 20000 --device cuda
    python benchmarks/tiny_model.py --model my_tiny --quick
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from . import dataset
from aigif.embedded.pipeline import TOKEN_EMBEDDING, TOKEN_ROWS, TOKEN_ROWS_IDS, state_key, unet_input
from .tokenizer import (BOS_ID, EOS_ID, MAX_LENGTH, VOCAB_SIZE, build_tokenizer,
                        write_tokenizer_files)

SEED = 1234
CFG_DROP = 0.1


def unet_config() -> dict:
    return dict(
        sample_size=dataset.SIZE, in_channels=5, out_channels=3,   # RGB + x, y channels
        block_out_channels=(32, 64, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        mid_block_type="UNetMidBlock2DCrossAttn",
        cross_attention_dim=64, attention_head_dim=4, norm_num_groups=8,
        addition_embed_type="text", addition_embed_type_num_heads=4,
    )


def text_config() -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=VOCAB_SIZE, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=MAX_LENGTH,
        bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=EOS_ID,
    )


# Noise schedules (``--schedule``): name -> DDIMScheduler beta arguments. "linear" (DDPM's)
# is far noisier than "cosine" at mid timesteps (SNR 0.03 at t = 600 against t = 890), so
# the layout of a picture (where the object is) is still unknown to the UNet over ~35 % of
# the training timesteps instead of ~6 %: the prompt's position words have to be read.
SCHEDULES: dict[str, dict] = {
    "cosine": dict(beta_schedule="squaredcos_cap_v2"),
    "linear": dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02),
}


# Samplers (``--sampler``): the scheduler saved with the model and used by the evaluations.
# "ddim" clips its x0 prediction to [-1, 1] but keeps the noise estimate of the unclipped one,
# so with guidance > ~2 the clipped excess drives x_t the other way (a "white background"
# prompt drifts to black: measured on the linear-schedule model, background 29 % at guidance
# 3 against 100 %). DPM-Solver++ steps use the x0 prediction alone, and thresholding with
# sample_max_value 1 is a plain clip of it: every step stays consistent with the clip.
SAMPLERS = ("ddim", "dpmpp_2m")


def make_scheduler(schedule: str = "cosine", sampler: str = "ddim"):
    common = dict(num_train_timesteps=1000, **SCHEDULES[schedule],
                  prediction_type="v_prediction", timestep_spacing="trailing", steps_offset=0)
    if sampler == "dpmpp_2m":
        return DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++",
                                           solver_order=2, thresholding=True,
                                           sample_max_value=1.0)
    if sampler != "ddim":
        raise ValueError(f"unknown sampler {sampler!r} (one of {', '.join(SAMPLERS)})")
    return DDIMScheduler(**common, clip_sample=True, set_alpha_to_one=False)


def build(seed: int = SEED):
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**unet_config())
    text_encoder = CLIPTextModel(text_config())
    return unet, text_encoder


class _Tokens:
    """Caption -> token ids, cached (the caption set is small)."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.cache: dict[str, list[int]] = {}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        out = []
        for c in captions:
            ids = self.cache.get(c)
            if ids is None:
                ids = self.tok(c, padding="max_length", truncation=True,
                               max_length=MAX_LENGTH).input_ids
                self.cache[c] = ids
            out.append(ids)
        return torch.tensor(out, dtype=torch.long)


def save(out: Path, unet, text_encoder, tokenizer_dir: Path, schedule: str = "cosine",
         sampler: str = "ddim") -> None:
    """Write a diffusers directory: model_index.json + float16 safetensors + tokenizer."""
    from aigif.embedded.pipeline import AigifTinyPipeline
    from .tokenizer import build_tokenizer as _bt
    u = copy.deepcopy(unet).to(torch.float16)
    t = copy.deepcopy(text_encoder).to(torch.float16)
    pipe = AigifTinyPipeline(unet=u, text_encoder=t, tokenizer=_bt(tokenizer_dir),
                             scheduler=make_scheduler(schedule, sampler))
    pipe.save_pretrained(str(out), safe_serialization=True)
    # ship the tokenizer as the plain vocab.json + merges.txt derived from CLIP's BPE file
    for f in (out / "tokenizer").iterdir():
        f.unlink()
    write_tokenizer_files(out / "tokenizer")
    idx = json.loads((out / "model_index.json").read_text())
    (out / "model_index.json").write_text(json.dumps(idx, indent=2, sort_keys=True) + "\n")


@torch.no_grad()
def evaluate(unet, text_encoder, tokens, n: int = 36, steps: int = 20, guidance: float = 4.0,
             seed: int = 0, schedule: str = "cosine", sampler: str = "ddim") -> dict[str, float]:
    """Checker accuracy on the first ``n`` held-out prompts (one image each)."""
    from .checker import check
    scenes = dataset.heldout_scenes()
    step = max(1, len(scenes) // n)
    prompts = [s.caption for s in scenes[::step][:n]]
    images = sample(unet, text_encoder, tokens, prompts, steps, guidance, seed, schedule, sampler)
    tot: dict[str, int] = {}
    for img, p in zip(images, prompts):
        for k, v in check(img, p).items():
            tot[k] = tot.get(k, 0) + int(v)
    return {k: v / len(prompts) for k, v in tot.items()}


@torch.no_grad()
def sample(unet, text_encoder, tokens, prompts, steps=20, guidance=4.0, seed=0,
           schedule: str = "cosine", sampler: str = "ddim") -> np.ndarray:
    sched = make_scheduler(schedule, sampler)
    sched.set_timesteps(steps)
    g = torch.Generator("cpu").manual_seed(seed)
    cond = text_encoder(tokens(prompts))[0]
    unc = text_encoder(tokens([""] * len(prompts)))[0]
    x = torch.randn((len(prompts), 3, dataset.SIZE, dataset.SIZE), generator=g)
    for t in sched.timesteps:
        out = unet(unet_input(unet, torch.cat([x, x])), t,
                   encoder_hidden_states=torch.cat([unc, cond])).sample
        u, c = out.chunk(2)
        x = sched.step(u + guidance * (c - u), t, x).prev_sample
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def load_base(base: Path):
    """(UNet, text encoder) of a saved aigif-tiny directory, as float32 (a stage-2 directory
    takes what it lacks from the packaged base: ``pipeline.from_dir``)."""
    from aigif.embedded.pipeline import from_dir
    pipe = from_dir(base, torch_dtype=torch.float32)
    return pipe.unet.float(), pipe.text_encoder.float()


def _partial_text(base: Path) -> bool:
    """Whether ``base`` holds its own text encoder as layers + rows off the packaged one
    (a from-scratch ``--text frozen`` model): stage 2 must then save it again."""
    from aigif.embedded.pipeline import _lacks_token_embedding
    f = base / "text_encoder" / "model.safetensors"
    return f.is_file() and _lacks_token_embedding(f)


def to_attn32(unet):
    """The same UNet with cross-attention to the prompt also at full resolution (the first
    down block and the last up block become cross-attention blocks, ``only_cross_attention``
    there: no 1024 x 1024 self-attention). Every base weight is copied; the new attention
    blocks start as the identity (their output projections are zero). Pixels that still
    carry their coordinate channels can then look up the position words directly."""
    cfg = {k: v for k, v in unet.config.items() if not k.startswith("_")}
    cfg["down_block_types"] = ("CrossAttnDownBlock2D",) + tuple(cfg["down_block_types"][1:])
    cfg["up_block_types"] = tuple(cfg["up_block_types"][:-1]) + ("CrossAttnUpBlock2D",)
    n = len(cfg["down_block_types"])
    cfg["only_cross_attention"] = (True,) + (False,) * (n - 1)
    cfg["mid_block_only_cross_attention"] = False
    new = UNet2DConditionModel(**cfg)
    old, sd = unet.state_dict(), new.state_dict()
    for k, v in sd.items():
        if k in old:
            if old[k].shape != v.shape:
                raise ValueError(f"cannot map {k}: {tuple(old[k].shape)} -> {tuple(v.shape)}")
            sd[k] = old[k].clone()
        elif k.endswith(("proj_out.weight", "proj_out.bias")):
            sd[k] = torch.zeros_like(v)
    new.load_state_dict(sd)
    return new


def to_film(unet):
    """The same UNet with FiLM time/text conditioning (``resnet_time_scale_shift=
    "scale_shift"``: each ResNet block scales and shifts its normalised features by the
    embedding instead of adding it before the norm), initialised from ``unet``: every
    weight copied, the new scale halves of ``time_emb_proj`` zero (scale 1 at the start).
    Multiplicative conditioning lets the prompt gate position-dependent features."""
    cfg = {k: v for k, v in unet.config.items() if not k.startswith("_")}
    cfg["resnet_time_scale_shift"] = "scale_shift"
    new = UNet2DConditionModel(**cfg)      # (from_config keeps the stored value)
    old, sd = unet.state_dict(), new.state_dict()
    for k, v in sd.items():
        if old[k].shape == v.shape:
            sd[k] = old[k].clone()
        elif "time_emb_proj" in k and v.shape[0] == 2 * old[k].shape[0]:
            sd[k] = torch.cat([torch.zeros_like(old[k]), old[k]])
        else:
            raise ValueError(f"cannot map {k}: {tuple(old[k].shape)} -> {tuple(v.shape)}")
    new.load_state_dict(sd)
    return new


class _FrozenText:
    """A frozen text encoder with its outputs cached per caption (captions repeat)."""

    def __init__(self, te, tokens):
        self.te, self.tokens = te.eval(), tokens
        self.cache: dict[str, torch.Tensor] = {}
        for p in te.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def __call__(self, captions: list[str]) -> torch.Tensor:
        new = [c for c in dict.fromkeys(captions) if c not in self.cache]
        if new:
            for c, h in zip(new, self.te(self.tokens(new))[0]):
                self.cache[c] = h
        return torch.stack([self.cache[c] for c in captions])


def vocabulary_ids(tokens) -> list[int]:
    """Token ids of every word the dataset's captions use (the rows ``--text vocab`` trains)."""
    ids = tokens([" ".join(dataset.vocabulary())])[0].tolist()
    return sorted({i for i in ids if i not in (BOS_ID, EOS_ID)})


def save_unet_only(out: Path, unet, text_encoder=None, rows: list[int] | None = None,
                   schedule: str = "cosine", sampler: str = "ddim") -> None:
    """Write a stage-2 directory: ``model_index.json``, the UNet, the scheduler and, when
    given, the text encoder without its token embedding (``TOKEN_EMBEDDING``, 6.3 of its
    6.5 MB, unchanged from the base). The tokenizer, the token embedding and, without
    ``text_encoder``, the whole text encoder are those of the base (``pipeline.from_dir``)."""
    from safetensors.torch import save_file
    u = copy.deepcopy(unet).to(torch.float16)
    out.mkdir(parents=True, exist_ok=True)
    u.save_pretrained(str(out / "unet"), safe_serialization=True)
    cfg = out / "unet" / "config.json"         # no local path of the base in shipped files
    cfg.write_text(json.dumps({k: v for k, v in json.loads(cfg.read_text()).items()
                               if k != "_name_or_path"}, indent=2, sort_keys=True) + "\n")
    if text_encoder is not None:
        (out / "text_encoder").mkdir(exist_ok=True)
        text_encoder.config.to_json_file(str(out / "text_encoder" / "config.json"))
        sd = {k: v.detach().to(torch.float16).contiguous()
              for k, v in text_encoder.state_dict().items()
              if state_key(k) != TOKEN_EMBEDDING}
        if rows:     # the trained rows of the token embedding, and which they are
            table = text_encoder.get_input_embeddings().weight.detach()
            sd[TOKEN_ROWS_IDS] = torch.tensor(rows, dtype=torch.int64)
            sd[TOKEN_ROWS] = table[rows].to(torch.float16).contiguous()
        save_file(sd, str(out / "text_encoder" / "model.safetensors"),
                  metadata={"format": "pt"})   # one key: Rust orders a map at random
    scheduler = make_scheduler(schedule, sampler)
    scheduler.save_pretrained(str(out / "scheduler"))
    from aigif.embedded.pipeline import AigifTinyPipeline
    import diffusers
    idx = {"_class_name": AigifTinyPipeline.__name__, "_diffusers_version": diffusers.__version__,
           "scheduler": ["diffusers", type(scheduler).__name__],
           "text_encoder": ["transformers", "CLIPTextModel"],
           "tokenizer": ["transformers", "CLIPTokenizer"],
           "unet": ["diffusers", "UNet2DConditionModel"]}
    (out / "model_index.json").write_text(json.dumps(idx, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True,
                    help="output directory (a new one: the packaged weights are frozen)")
    ap.add_argument("--base", default=None,
                    help="stage 2: start the UNet from this aigif-tiny directory and keep its "
                         "text encoder frozen; writes only the UNet")
    ap.add_argument("--text", choices=("joint", "frozen", "layers", "vocab"), default=None,
                    help="from scratch: train the text encoder with the UNet (joint, the "
                         "default: the shipped aigif-tiny) or keep it at its seeded random "
                         "initialisation (frozen: a trained encoder can collapse the prompts' "
                         "differences before the UNet reads them). Stage 2: keep the base "
                         "text encoder frozen (the default), train all of it but the token "
                         "embedding (saved without it; it is the base's), or that and the "
                         "embedding rows of the dataset's words (saved as rows)")
    ap.add_argument("--schedule", choices=tuple(SCHEDULES), default="cosine",
                    help="noise schedule (saved with the model; see SCHEDULES)")
    ap.add_argument("--sampler", choices=SAMPLERS, default="ddim",
                    help="the scheduler saved with the model and used by the evaluations "
                         "(see SAMPLERS: dpmpp_2m clips consistently under guidance)")
    ap.add_argument("--film", action="store_true",
                    help="switch the UNet to FiLM (scale-shift) conditioning")
    ap.add_argument("--attn32", action="store_true",
                    help="add cross-attention at full resolution (32 x 32)")
    ap.add_argument("--rows-lr-mult", type=float, default=4.0,
                    help="--text vocab: learning rate of the embedding rows / --lr")
    ap.add_argument("--t-power", type=float, default=1.0,
                    help="timesteps drawn as 1000 * u ** (1 / p): p > 1 favours high noise")
    ap.add_argument("--p-single", type=float, default=dataset.P_SINGLE)
    ap.add_argument("--p-relation", type=float, default=dataset.P_RELATION)
    ap.add_argument("--p-omit", type=float, default=dataset.P_OMIT)
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--text-lr-mult", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--ema", type=float, default=0.998)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--eval-every", type=int, default=500, help="0: never")
    ap.add_argument("--eval-guidance", type=float, default=4.0)
    ap.add_argument("--ckpt", default=None, help="also save the EMA model here at each eval")
    args = ap.parse_args(argv)
    if args.base and Path(args.out).resolve() == Path(args.base).resolve():
        ap.error("--out must differ from --base (the base model is never overwritten)")
    args.text = args.text or ("frozen" if args.base else "joint")
    if args.base and args.text == "joint":
        ap.error("--text joint trains a new text encoder: it is for runs without --base")
    if not args.base and args.text in ("layers", "vocab"):
        ap.error(f"--text {args.text} is a stage-2 option: it needs --base")

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    out = Path(args.out)
    tmp = tempfile.TemporaryDirectory(prefix="aigif_tiny_tokenizer_")  # own dir per run,
    tok_dir = Path(tmp.name)                                   # removed when main returns
    tokens = _Tokens(build_tokenizer(tok_dir))
    dev = torch.device(args.device)
    rows = vocabulary_ids(tokens) if args.text == "vocab" else None
    if args.base:
        unet, te = load_base(Path(args.base))
        if args.film:
            unet = to_film(unet)
        if args.attn32:
            unet = to_attn32(unet)
    else:
        unet, te = build(args.seed)
        unet = to_attn32(unet) if args.attn32 else unet
        unet = to_film(unet) if args.film else unet
    te.to(dev)
    if args.text == "frozen":
        encode = _FrozenText(te, tokens)
    else:       # "joint" trains all of it; stage 2 all but the 49,408-row token embedding
        te.train()
        encode = None
        if args.base:
            te.get_input_embeddings().weight.requires_grad_(False)
    if args.text == "vocab":   # ... and the rows of the dataset's words
        table = te.get_input_embeddings().weight
        mask = torch.zeros((te.config.vocab_size, 1), dtype=table.dtype, device=dev)
        mask[rows] = 1.0
        table.requires_grad_(True)
        table.register_hook(lambda g: g * mask)   # other rows: zero grad, no update
    unet.to(dev).train()
    ema_u, ema_t = copy.deepcopy(unet).eval(), copy.deepcopy(te).eval()
    for p in list(ema_u.parameters()) + list(ema_t.parameters()):
        p.requires_grad_(False)
    groups = [{"params": list(unet.parameters()), "lr": args.lr}]
    vocab = args.base and args.text == "vocab"
    table = te.get_input_embeddings().weight
    if encode is None:
        groups.append({"params": [p for p in te.parameters()
                                  if p.requires_grad and not (vocab and p is table)],
                       "lr": args.lr * args.text_lr_mult})
    if vocab:
        groups.append({"params": [table], "lr": args.lr * args.rows_lr_mult})
    trained = [p for g in groups for p in g["params"]]
    opt = torch.optim.AdamW(groups, betas=(0.9, 0.99), weight_decay=0.0)
    mix = dict(p_single=args.p_single, p_relation=args.p_relation, p_omit=args.p_omit)
    base = [g["lr"] for g in opt.param_groups]
    sched = make_scheduler(args.schedule)
    ac = sched.alphas_cumprod.to(dev)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator("cpu").manual_seed(args.seed)
    print(f"unet {sum(p.numel() for p in unet.parameters()) / 1e6:.2f}M params, "
          f"text encoder {sum(p.numel() for p in te.parameters()) / 1e6:.2f}M", flush=True)
    t0, run = time.time(), 0.0
    for step in range(1, args.steps + 1):
        f = step / args.warmup if step <= args.warmup else \
            0.1 + 0.45 * (1 + math.cos(math.pi * (step - args.warmup) / (args.steps - args.warmup)))
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * f
        imgs, caps = dataset.sample_batch(rng, args.batch, **mix)
        caps = ["" if rng.random() < CFG_DROP else c for c in caps]
        x0 = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(dev)
        if args.t_power == 1.0:
            t = torch.randint(0, 1000, (args.batch,), generator=gen).to(dev)
        else:
            u = torch.rand((args.batch,), generator=gen, dtype=torch.float64)
            t = (1000 * u ** (1 / args.t_power)).long().clamp(0, 999).to(dev)
        eps = torch.randn(x0.shape, generator=gen).to(dev)
        a = ac[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        v = a.sqrt() * eps - (1 - a).sqrt() * x0
        hidden = encode(caps) if encode else te(tokens(caps).to(dev))[0]
        pred = unet(unet_input(unet, xt), t, encoder_hidden_states=hidden).sample
        loss = F.mse_loss(pred, v)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        d = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for m, e in ((unet, ema_u),) if encode else ((unet, ema_u), (te, ema_t)):
                for p, q in zip(m.parameters(), e.parameters()):
                    q.lerp_(p, 1 - d)
        run = loss.item() if step == 1 else 0.98 * run + 0.02 * loss.item()
        if step % 50 == 0:
            print(f"step {step} loss {run:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                  f"{time.time() - t0:.0f}s", flush=True)
        if args.eval_every and (step % args.eval_every == 0 or step == args.steps):
            acc = evaluate(ema_u.cpu(), ema_t.cpu(), tokens, guidance=args.eval_guidance,
                           schedule=args.schedule, sampler=args.sampler)
            ema_u.to(dev), ema_t.to(dev)
            print(f"eval step {step}: " + " ".join(f"{k} {v:.2f}" for k, v in acc.items()),
                  flush=True)
            if args.ckpt:
                _save(args, Path(args.ckpt), ema_u.cpu(), ema_t.cpu(), tok_dir, rows)
                ema_u.to(dev), ema_t.to(dev)
    _save(args, out, ema_u.cpu(), ema_t.cpu(), tok_dir, rows)
    print(f"saved {out} after {time.time() - t0:.0f}s", flush=True)


def _save(args, out: Path, unet, te, tok_dir: Path, rows: list[int] | None) -> None:
    if args.base:
        keep = args.text == "frozen" and not _partial_text(Path(args.base))
        if args.text == "frozen" and not keep:     # a base with its own seeded encoder
            rows = rows_off_base(te)
        save_unet_only(out, unet, None if keep else te, rows, args.schedule, args.sampler)
        return
    if args.text == "frozen":   # the seeded initial encoder: most rows are the base's
        rows = rows_off_base(te)
        if len(rows) <= MAX_SHARED_ROWS:
            save_unet_only(out, unet, te, rows, args.schedule, args.sampler)
            return
    save(out, unet, te, tok_dir, args.schedule, args.sampler)


# A from-scratch model whose token embedding differs from the packaged base's in at most
# this many rows is saved as a stage-2 directory (those rows only: 8 KB, not 6.3 MB).
MAX_SHARED_ROWS = 256


def base_token_embedding() -> torch.Tensor:
    """The token embedding of the packaged base model (as stored: float16)."""
    from importlib.resources import as_file

    from safetensors.torch import load_file

    from aigif.embedded import base_path
    with as_file(base_path()) as b:
        sd = load_file(str(b / "text_encoder" / "model.safetensors"))
    return next(v for k, v in sd.items() if state_key(k) == TOKEN_EMBEDDING)


def rows_off_base(te) -> list[int]:
    """Ids of the rows of ``te``'s token embedding that, saved as float16, differ from the
    packaged base's (all of them when the shapes differ). ``build(SEED)`` initialises the
    same table the base started from, so only the rows base training changed differ."""
    base = base_token_embedding()
    mine = te.get_input_embeddings().weight.detach().cpu().to(base.dtype)
    if mine.shape != base.shape:
        return list(range(mine.shape[0]))
    return (mine != base).any(dim=1).nonzero().flatten().tolist()


if __name__ == "__main__":
    main()
