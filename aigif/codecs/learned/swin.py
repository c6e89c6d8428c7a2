"""Group-masked Swin layers (torch): transforms that never mix tokens of different groups.

Tokens are ``[B, H, W, C]`` (channels last) with a group map ``[B, H, W]`` (int64, >= 0).

* ``WindowAttention(dim, heads, window)``: multi-head self-attention inside square windows
  of ``window`` x ``window`` tokens with a learned relative-position bias (Swin); the
  logits between tokens of different groups are set to ``-inf`` (``masked_fill``), so their
  softmax weights are exactly 0 and a token's output is computed from its own group only.
* ``SwinBlock(dim, heads, window, shift)``: LayerNorm, windowed attention (regular windows,
  or windows shifted by ``window // 2`` when ``shift``), residual, LayerNorm, MLP,
  residual. Instead of Swin's cyclic roll, the token map is zero-padded (top/left by the
  shift, bottom/right to a whole number of windows) and the padding tokens get group -1,
  which no real token may attend to: windows never wrap around the image.
* ``PatchEmbed(p, dim)`` / ``PatchUnembed(dim, p)``: non-overlapping p x p pixel patches
  <-> tokens; ``PatchMerge(c_in, c_out)`` / ``PatchSplit(c_in, c_out)``: 2 x 2 tokens <->
  1 token (Swin's patch merging and its transpose).

Everything except the attention is per token, and the attention is group-masked, so when
groups are unions of aligned blocks (each merge/split window inside one group), a token's
output depends only on the tokens of its group: zero-filling the other groups' inputs
changes none of its bits (same shapes, same kernels, and 0 * v adds exact zeros).

Example::

    blk = SwinBlock(32, 2, 4, shift=True)
    y = blk(torch.randn(1, 8, 8, 32), torch.zeros(1, 8, 8, dtype=torch.long))
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["WindowAttention", "SwinBlock", "PatchEmbed", "PatchUnembed", "PatchMerge",
           "PatchSplit", "upsample_groups"]


def upsample_groups(groups: torch.Tensor, r: int) -> torch.Tensor:
    """A group map [B, h, w] at r x the resolution (each cell repeated r x r)."""
    return groups.repeat_interleave(r, 1).repeat_interleave(r, 2)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.heads, self.window = heads, window
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        c = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                       indexing="ij")).flatten(1)
        rel = (c[:, :, None] - c[:, None, :]) + window - 1
        self.register_buffer("rel_index", rel[0] * (2 * window - 1) + rel[1], persistent=False)

    def forward(self, x: torch.Tensor, blocked: torch.Tensor) -> torch.Tensor:
        """x [N, T, C] (N windows of T tokens), blocked [N, T, T] bool -> [N, T, C]."""
        n, t, c = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        logits = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.bias_table[self.rel_index.reshape(-1)].reshape(t, t, -1).permute(2, 0, 1)
        logits = (logits + bias[None]).masked_fill(blocked[:, None], float("-inf"))
        out = torch.softmax(logits, -1) @ v
        return self.proj(out.transpose(1, 2).reshape(n, t, c))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: bool = False,
                 mlp_ratio: float = 2.0):
        super().__init__()
        self.window, self.shift = window, (window // 2 if shift else 0)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        hid = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hid), nn.GELU(), nn.Linear(hid, dim))

    def forward(self, x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        ws, s = self.window, self.shift
        ph, pw = (-(h + s)) % ws, (-(w + s)) % ws
        hh, ww = h + s + ph, w + s + pw
        t = F.pad(self.norm1(x), (0, 0, s, pw, s, ph))
        g = F.pad(groups, (s, pw, s, ph), value=-1)
        t = t.reshape(b, hh // ws, ws, ww // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
        t = t.reshape(-1, ws * ws, c)
        g = g.reshape(b, hh // ws, ws, ww // ws, ws).permute(0, 1, 3, 2, 4).reshape(-1, ws * ws)
        out = self.attn(t, g[:, :, None] != g[:, None, :])
        out = out.reshape(b, hh // ws, ww // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
        out = out.reshape(b, hh, ww, c)[:, s:s + h, s:s + w]
        x = x + out
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """[B, 3, H, W] pixels -> [B, H/p, W/p, dim] tokens (p x p non-overlapping patches)."""

    def __init__(self, p: int, dim: int, cin: int = 3):
        super().__init__()
        self.p = p
        self.lin = nn.Linear(cin * p * p, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.p
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return self.norm(self.lin(x.reshape(b, h // p, w // p, c * p * p)))


class PatchUnembed(nn.Module):
    """[B, h, w, dim] tokens -> [B, 3, h p, w p] pixels."""

    def __init__(self, dim: int, p: int, cout: int = 3):
        super().__init__()
        self.p, self.cout = p, cout
        self.lin = nn.Linear(dim, cout * p * p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        p, c = self.p, self.cout
        x = self.lin(x).reshape(b, h, w, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(b, c, h * p, w * p)


class PatchMerge(nn.Module):
    """2 x 2 tokens -> 1: [B, H, W, c_in] -> [B, H/2, W/2, c_out]."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * c_in)
        self.lin = nn.Linear(4 * c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        x = x.reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5)
        return self.lin(self.norm(x.reshape(b, h // 2, w // 2, 4 * c)))


class PatchSplit(nn.Module):
    """1 token -> 2 x 2: [B, H, W, c_in] -> [B, 2H, 2W, c_out]."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.c_out = c_out
        self.lin = nn.Linear(c_in, 4 * c_out)
        self.norm = nn.LayerNorm(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        c = self.c_out
        x = self.lin(x).reshape(b, h, w, 2, 2, c).permute(0, 1, 3, 2, 4, 5)
        return self.norm(x.reshape(b, 2 * h, 2 * w, c))
