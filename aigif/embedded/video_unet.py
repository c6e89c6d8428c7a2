"""``TinyVideoUNet``: the denoiser of aigif-tiny-video, a small factorised (2D + temporal)
UNet written as a diffusers ``ModelMixin`` (``from_pretrained`` / ``save_pretrained`` with
safetensors, a JSON config).

Why not ``UNet3DConditionModel``: its smallest useful configuration runs a spatial and a
temporal transformer at full resolution in every block, several times the work of this
network, and it has no pooled-prompt (scale-shift) conditioning, which is what made
aigif-tiny-2 learn colour and position in minutes. This one:

- works on 2 x 2 pixel patches (``pixel_unshuffle``: 32 x 32 RGB -> 16 x 16 x 12), plus
  three coordinate channels x, y and t (frame index in [-1, 1]), so "moving from left to
  right" is a function of t the convolutions can read;
- two levels (16 x 16, 8 x 8); each block is a ResNet block with FiLM (scale-shift by the
  timestep embedding plus the attention-pooled prompt), a temporal convolution (kernel 3
  over frames); the 8 x 8 level adds cross-attention to the prompt's tokens and temporal
  self-attention (each position attends over all frames);
- ``input_skip``: the noisy input, scaled per channel by a learned function of the
  timestep, is added to the output (EDM's ``c_skip``, learned), so the near-identity maps
  of low noise levels need not pass through the network;
- input and output ``(batch, channels, frames, height, width)`` as diffusers' 3D UNets.

aigif-tiny-video-2 adds two options (off by default, so aigif-tiny-video's configuration
builds the network its frozen weights were trained as):

- ``prompt_layers``: a trainable prompt pathway (projection, learned position embeddings,
  transformer blocks) over the frozen text encoder's token states, read by the FiLM pooling
  and the cross-attention. The frozen random CLIP states of "from left to right" and "from
  right to left" are 99.9 % alike when pooled (cosine), which is why aigif-tiny-video could
  not follow directions;
- ``trajectory_slots``: the prompt, pooled once per object slot, gives a colour and a path
  ``a + b * tau + c * |tau|`` per slot, drawn as input channels of each frame (coordinates
  relative to the slot's centre and a soft colour disc): a sketch of the clip the
  convolutions read directly (``_Trajectories``), learned from the denoising loss only.

Deterministic on CPU: plain convolutions, matmuls and ``scaled_dot_product_attention``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

__all__ = ["TinyVideoUNet", "TinyVideoUNetOutput"]


@dataclass
class TinyVideoUNetOutput(BaseOutput):
    sample: torch.Tensor


def _timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32,
                                                        device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _zero(m: nn.Module) -> nn.Module:
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb, 2 * c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = _zero(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        # x: (N, C, H, W) with N = batch * frames; emb: (N, E)
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class _TemporalConv(nn.Module):
    def __init__(self, c: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.conv = _zero(nn.Conv3d(c, c, (3, 1, 1), padding=(1, 0, 0)))

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        n, c, h, w = x.shape
        y = F.silu(self.norm(x)).view(n // frames, frames, c, h, w).transpose(1, 2)
        y = self.conv(y).transpose(1, 2).reshape(n, c, h, w)
        return x + y


class _Attention(nn.Module):
    """Self-attention over frames (``context`` None) or cross-attention to the prompt."""

    def __init__(self, c: int, heads: int, groups: int, context_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, c)
        self.q = nn.Linear(c, c, bias=False)
        self.kv = nn.Linear(context_dim or c, 2 * c, bias=False)
        self.out = _zero(nn.Linear(c, c))

    def _attend(self, q, k, v):
        b, lq, c = q.shape
        d = c // self.heads
        q, k, v = (z.reshape(b, -1, self.heads, d).transpose(1, 2) for z in (q, k, v))
        o = F.scaled_dot_product_attention(q, k, v)
        return o.transpose(1, 2).reshape(b, lq, c)

    def forward(self, x: torch.Tensor, frames: int, context: torch.Tensor | None = None
                ) -> torch.Tensor:
        n, c, h, w = x.shape
        y = self.norm(x)
        if context is None:      # temporal: sequences of `frames` tokens, one per position
            y = y.view(n // frames, frames, c, h * w).permute(0, 3, 1, 2)
            y = y.reshape(-1, frames, c)
            k, v = self.kv(y).chunk(2, dim=-1)
            o = self.out(self._attend(self.q(y), k, v))
            o = o.view(n // frames, h * w, frames, c).permute(0, 2, 3, 1).reshape(n, c, h, w)
        else:                    # cross: every frame's positions attend to the tokens
            y = y.flatten(2).transpose(1, 2)
            k, v = self.kv(context).chunk(2, dim=-1)
            o = self.out(self._attend(self.q(y), k, v)).transpose(1, 2).reshape(n, c, h, w)
        return x + o


class _Pool(nn.Module):
    """Attention pooling of the prompt's token states into one vector (a learned query)."""

    def __init__(self, dim: int, out: int, heads: int, queries: int = 1) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Parameter(torch.randn(1, queries, dim) / dim ** 0.5)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, out)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, out) for one query, else (B, queries, out)."""
        b, length, dim = tokens.shape
        d = dim // self.heads
        nq = self.query.shape[1]
        k, v = self.kv(tokens).chunk(2, dim=-1)
        q = self.query.expand(b, nq, dim)
        q, k, v = (z.reshape(b, -1, self.heads, d).transpose(1, 2) for z in (q, k, v))
        o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, nq, dim)
        o = self.proj(o)
        return o[:, 0] if nq == 1 else o


class _Block(nn.Module):
    """Pre-norm transformer block (bidirectional self-attention + MLP) of ``_PromptEncoder``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, dim = x.shape
        d = dim // self.heads
        q, k, v = (z.reshape(b, length, self.heads, d).transpose(1, 2)
                   for z in self.qkv(self.norm1(x)).chunk(3, dim=-1))
        o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, length, dim)
        x = x + self.proj(o)
        return x + self.mlp(self.norm2(x))


class _PromptEncoder(nn.Module):
    """Trainable prompt pathway over the frozen text encoder's token states: a projection,
    learned position embeddings and ``layers`` bidirectional transformer blocks. The frozen
    states of "from left to right" and "from right to left" differ by a few per cent (the
    same tokens in another order); this pathway can learn to tell them apart."""

    def __init__(self, text_dim: int, dim: int, layers: int, heads: int,
                 max_tokens: int) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(text_dim)
        self.proj_in = nn.Linear(text_dim, dim)
        self.pos = nn.Parameter(torch.randn(1, max_tokens, dim) * 0.02)
        self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(layers))
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.proj_in(self.norm_in(tokens)) + self.pos[:, :tokens.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.norm_out(x)


class _Trajectories(nn.Module):
    """Prompt -> a sketch of the clip: ``slots`` objects, each a colour and a path
    ``centre(tau) = a + b * tau + c * |tau|`` (tau = frame in [-1, 1]: straight motion and
    out-and-back bounces), drawn as input channels per frame: the coordinates relative to
    the slot's centre (dx, dy) and the slot's colour times a soft disc around the centre.
    The UNet reads where each object should be from these channels instead of having to
    compute it from the prompt and the t channel; everything is learned from the denoising
    loss (attention pooling of the prompt with one query per slot)."""

    def __init__(self, dim: int, slots: int, heads: int, width: float = 0.35) -> None:
        super().__init__()
        self.slots, self.width = slots, width
        self.pool = _Pool(dim, 9, heads, queries=slots)
        nn.init.normal_(self.pool.proj.weight, std=1e-3)
        nn.init.zeros_(self.pool.proj.bias)

    @property
    def channels(self) -> int:
        return 5 * self.slots

    def forward(self, tokens: torch.Tensor, frames: int, h: int, w: int) -> torch.Tensor:
        b = tokens.shape[0]
        prm = self.pool(tokens).reshape(b, self.slots, 9)                  # (B, S, 9)
        tau = torch.linspace(-1, 1, frames, dtype=tokens.dtype, device=tokens.device)
        basis = torch.stack([torch.ones_like(tau), tau, tau.abs()], dim=-1)  # (T, 3)
        cx = torch.einsum("tk,bsk->bts", basis, prm[..., 0:3])              # (B, T, S)
        cy = torch.einsum("tk,bsk->bts", basis, prm[..., 3:6])
        rgb = prm[..., 6:9]                                                 # (B, S, 3)
        ys = torch.linspace(-1, 1, h, dtype=tokens.dtype, device=tokens.device).view(h, 1)
        xs = torch.linspace(-1, 1, w, dtype=tokens.dtype, device=tokens.device).view(1, w)
        shape = (b, frames, self.slots, h, w)
        dx = (xs - cx[..., None, None]).expand(shape)                      # (B, T, S, H, W)
        dy = (ys - cy[..., None, None]).expand(shape)
        disc = torch.exp(-(dx * dx + dy * dy) / (2 * self.width ** 2))
        col = disc[:, :, :, None] * rgb[:, None, :, :, None, None]          # (B, T, S, 3, H, W)
        maps = torch.cat([dx[:, :, :, None], dy[:, :, :, None], col], dim=3)
        return maps.reshape(b * frames, self.channels, h, w)


class TinyVideoUNet(ModelMixin, ConfigMixin):
    """Factorised space-time UNet for small pixel-space text-to-video (module docstring).

    ``forward(sample, timestep, encoder_hidden_states)``: ``sample`` (B, C, T, H, W) with
    H and W multiples of ``4 * patch_size``; ``encoder_hidden_states`` (B, L, ``text_dim``).
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(self, sample_size: int = 32, num_frames: int = 8, in_channels: int = 3,
                 out_channels: int = 3, patch_size: int = 2,
                 block_out_channels: tuple[int, int] = (48, 96), text_dim: int = 64,
                 embed_dim: int = 128, attention_heads: int = 4, norm_num_groups: int = 8,
                 input_skip: bool = False, prompt_layers: int = 0, prompt_dim: int = 64,
                 max_tokens: int = 77, trajectory_slots: int = 0):
        super().__init__()
        c0, c1 = block_out_channels
        g, e, p = norm_num_groups, embed_dim, patch_size
        self.time_mlp = nn.Sequential(nn.Linear(c0, e), nn.SiLU(), nn.Linear(e, e))
        # aigif-tiny-video-2: a trainable prompt pathway between the frozen text encoder and
        # everything that reads the prompt (FiLM pooling, cross-attention, trajectories)
        self.prompt = (_PromptEncoder(text_dim, prompt_dim, prompt_layers, attention_heads,
                                      max_tokens) if prompt_layers else None)
        ctx_dim = prompt_dim if prompt_layers else text_dim
        self.traj = (_Trajectories(ctx_dim, trajectory_slots, attention_heads)
                     if trajectory_slots else None)
        extra = self.traj.channels if self.traj is not None else 0
        self.pool = _Pool(ctx_dim, e, attention_heads)
        self.conv_in = nn.Conv2d(in_channels * p * p + 3 + extra, c0, 3, padding=1)
        self.down0 = _ResBlock(c0, c0, e, g)
        self.tconv_d0 = _TemporalConv(c0, g)
        self.down = nn.Conv2d(c0, c1, 3, stride=2, padding=1)
        self.down1 = _ResBlock(c1, c1, e, g)
        self.tconv_d1 = _TemporalConv(c1, g)
        self.cross_d1 = _Attention(c1, attention_heads, g, ctx_dim)
        self.tattn_d1 = _Attention(c1, attention_heads, g)
        self.mid = _ResBlock(c1, c1, e, g)
        self.cross_mid = _Attention(c1, attention_heads, g, ctx_dim)
        self.tattn_mid = _Attention(c1, attention_heads, g)
        self.up1 = _ResBlock(2 * c1, c1, e, g)
        self.tconv_u1 = _TemporalConv(c1, g)
        self.cross_u1 = _Attention(c1, attention_heads, g, ctx_dim)
        self.up = nn.Conv2d(c1, c0, 3, padding=1)
        self.up0 = _ResBlock(2 * c0, c0, e, g)
        self.tconv_u0 = _TemporalConv(c0, g)
        self.norm_out = nn.GroupNorm(g, c0)
        self.conv_out = _zero(nn.Conv2d(c0, out_channels * p * p, 3, padding=1))
        # the noisy input, scaled per channel by a function of the timestep, added to the
        # output (EDM's c_skip, learned): near-identity maps at low noise cost nothing
        self.skip_scale = _zero(nn.Linear(e, out_channels * p * p)) if input_skip else None

    def _coords(self, n: int, frames: int, h: int, w: int, dtype, device) -> torch.Tensor:
        ys = torch.linspace(-1, 1, h, dtype=dtype, device=device).view(1, 1, h, 1).expand(
            frames, 1, h, w)
        xs = torch.linspace(-1, 1, w, dtype=dtype, device=device).view(1, 1, 1, w).expand(
            frames, 1, h, w)
        ts = torch.linspace(-1, 1, frames, dtype=dtype, device=device).view(
            frames, 1, 1, 1).expand(frames, 1, h, w)
        grid = torch.cat([xs, ys, ts], dim=1)
        return grid.repeat(n, 1, 1, 1)

    def forward(self, sample: torch.Tensor, timestep, encoder_hidden_states: torch.Tensor,
                return_dict: bool = True, **_ignored):
        b, c, frames, height, width = sample.shape
        p = self.config.patch_size
        dtype = sample.dtype
        t = torch.as_tensor(timestep, device=sample.device)
        if t.dim() == 0:
            t = t[None]
        t = t.expand(b)
        emb = self.time_mlp(_timestep_embedding(t, self.config.block_out_channels[0]).to(dtype))
        tokens = encoder_hidden_states.to(dtype)
        if self.prompt is not None:
            tokens = self.prompt(tokens)
        emb = emb + self.pool(tokens)
        emb = F.silu(emb).repeat_interleave(frames, dim=0)                   # (B*T, E)
        ctx = tokens.repeat_interleave(frames, dim=0)

        x = sample.transpose(1, 2).reshape(b * frames, c, height, width)
        patches = F.pixel_unshuffle(x, p)
        ph, pw = patches.shape[2], patches.shape[3]
        inputs = [patches, self._coords(b, frames, ph, pw, dtype, x.device)]
        if self.traj is not None:
            inputs.append(self.traj(tokens, frames, ph, pw))
        x = torch.cat(inputs, dim=1)
        h0 = self.conv_in(x)
        h0 = self.tconv_d0(self.down0(h0, emb), frames)
        h1 = self.down1(self.down(h0), emb)
        h1 = self.tattn_d1(self.cross_d1(self.tconv_d1(h1, frames), frames, ctx), frames)
        m = self.mid(h1, emb)
        m = self.tattn_mid(self.cross_mid(m, frames, ctx), frames)
        u = self.up1(torch.cat([m, h1], dim=1), emb)
        u = self.cross_u1(self.tconv_u1(u, frames), frames, ctx)
        u = self.up(F.interpolate(u, scale_factor=2.0, mode="nearest"))
        u = self.tconv_u0(self.up0(torch.cat([u, h0], dim=1), emb), frames)
        out = self.conv_out(F.silu(self.norm_out(u)))
        if self.skip_scale is not None and out.shape[1] == patches.shape[1]:
            out = out + self.skip_scale(emb)[:, :, None, None] * patches
        out = F.pixel_shuffle(out, p)
        out = out.reshape(b, frames, -1, height, width).transpose(1, 2)
        if not return_dict:
            return (out,)
        return TinyVideoUNetOutput(sample=out)
