"""The GIT-SSIC model (torch): group-independent transforms + a shared hyperprior.

After GIT-SSIC (Zhang et al., ICCV 2023), scaled down for CPU training. An image is split
into groups of 16 x 16 pixel blocks (any shape: a group is a set of blocks). The analysis
``g_a`` and synthesis ``g_s`` are built only from per-token layers (patch embedding,
merging, splitting, LayerNorm, MLPs) and group-masked Swin window attention
(:mod:`.swin`), so the latent of a group depends only on its pixels and its pixels only
on its latent:

* g_a: 4x4 patch embed (C1) -> Swin x d1 (/4) -> merge (C2) -> Swin x d2 (/8) -> merge (C3)
  -> Swin x d3 (/16) -> linear to M: one latent vector per 16 x 16 block.
* g_s: the mirror (linear, Swin, split, ..., 4x4 patch un-embed).
* h_a (convs, mixes groups: its hyper-latent z is shared and always decoded), h_s (3x3
  sub-pixel convs, ReLU, 1x1 conv -> means and scales; exported as an integer network, so
  every reader derives the same scale indices and means).

``forward(x, groups, mode, step)``: ``groups`` is the block group map [B, H/16, W/16];
mode "noise" (uniform noise of width ``step`` on y, 1 on z) or "hard" (y = mu + step *
round((y - mu) / step), straight-through). Returns (x_hat, y_lik, z_lik).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .entropy import FactorizedPrior, GaussianConditional
from .layers import subpel_conv
from .models import STEP_ONE, Y_RADIUS, Z_RADIUS, _ste_round, export_frozen
from .swin import PatchEmbed, PatchMerge, PatchSplit, PatchUnembed, SwinBlock, upsample_groups

__all__ = ["GitSsic", "export_gitssic", "GitSsicCoder", "BLOCK", "CONFIG_LEN"]

#: pixels per block side: the group grid and the latent grid
BLOCK = 16
_FLOAT_PARTS = ("g_a.", "h_a.", "g_s.")
_INT_CONVS = ("h_s.0.0", "h_s.2.0", "h_s.4")
CONFIG_LEN = 16


class _Stage(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, window: int):
        super().__init__()
        self.blocks = nn.ModuleList(SwinBlock(dim, heads, window, shift=bool(i % 2))
                                    for i in range(depth))

    def forward(self, x, groups):
        for b in self.blocks:
            x = b(x, groups)
        return x


class GitSsic(nn.Module):
    def __init__(self, C=(32, 64, 96), depths=(2, 2, 2), heads=(2, 4, 4), window: int = 4,
                 M: int = 96, H: int = 32, Mh: int = 64):
        super().__init__()
        self.C, self.depths, self.heads = tuple(C), tuple(depths), tuple(heads)
        self.window, self.M, self.H, self.Mh = window, M, H, Mh
        c1, c2, c3 = C
        self.g_a = nn.ModuleDict(dict(
            embed=PatchEmbed(4, c1), s1=_Stage(c1, depths[0], heads[0], window),
            m1=PatchMerge(c1, c2), s2=_Stage(c2, depths[1], heads[1], window),
            m2=PatchMerge(c2, c3), s3=_Stage(c3, depths[2], heads[2], window),
            out=nn.Linear(c3, M)))
        self.g_s = nn.ModuleDict(dict(
            inp=nn.Linear(M, c3), s3=_Stage(c3, depths[2], heads[2], window),
            p2=PatchSplit(c3, c2), s2=_Stage(c2, depths[1], heads[1], window),
            p1=PatchSplit(c2, c1), s1=_Stage(c1, depths[0], heads[0], window),
            out=PatchUnembed(c1, 4)))
        self.h_a = nn.Sequential(nn.Conv2d(M, H, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(H, H, 5, 2, 2), nn.ReLU(), nn.Conv2d(H, H, 5, 2, 2))
        self.h_s = nn.Sequential(subpel_conv(H, H), nn.ReLU(), subpel_conv(H, Mh), nn.ReLU(),
                                 nn.Conv2d(Mh, 2 * M, 1))
        self.prior = FactorizedPrior(H)
        self.gaussian = GaussianConditional()

    def config(self) -> list[int]:
        return [*self.C, *self.depths, *self.heads, self.window, self.M, self.H, self.Mh]

    # -- transforms -------------------------------------------------------------------------
    def analysis(self, x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        """x [B, 3, 16 hb, 16 wb] in 0..1, groups [B, hb, wb] -> y [B, M, hb, wb]."""
        g, g4, g8 = groups, upsample_groups(groups, 4), upsample_groups(groups, 2)
        a = self.g_a
        t = a["s1"](a["embed"](x), g4)
        t = a["s2"](a["m1"](t), g8)
        t = a["s3"](a["m2"](t), g)
        return a["out"](t).permute(0, 3, 1, 2)

    def synthesis(self, y: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        """y [B, M, hb, wb], groups [B, hb, wb] -> x_hat [B, 3, 16 hb, 16 wb]."""
        g, g4, g8 = groups, upsample_groups(groups, 4), upsample_groups(groups, 2)
        s = self.g_s
        t = s["s3"](s["inp"](y.permute(0, 2, 3, 1)), g)
        t = s["s2"](s["p2"](t), g8)
        t = s["s1"](s["p1"](t), g4)
        return s["out"](t)

    def hyper_analysis(self, y: torch.Tensor) -> torch.Tensor:
        hb, wb = y.shape[-2:]
        return self.h_a(F.pad(y, (0, -wb % 4, 0, -hb % 4)))

    def hyper_synthesis(self, z_hat: torch.Tensor, hb: int, wb: int):
        mu, sc = self.h_s(z_hat)[:, :, :hb, :wb].chunk(2, 1)
        return mu, sc

    def forward(self, x: torch.Tensor, groups: torch.Tensor, mode: str = "noise",
                step: float = 1.0):
        if mode == "noise":
            y = self.analysis(x, groups)
            z = self.hyper_analysis(y)
            z_hat = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        elif mode == "hard":       # phase 2: analysis frozen, rounded like the coder
            with torch.no_grad():
                y = self.analysis(x, groups)
                z = self.hyper_analysis(y)
            z_hat = torch.round(z)
        else:
            raise ValueError(mode)
        mu, sc = self.hyper_synthesis(z_hat, *y.shape[-2:])
        if mode == "noise":
            y_hat = y + step * torch.empty_like(y).uniform_(-0.5, 0.5)
        else:
            y_hat = _ste_round((y - mu) / step) * step + mu
        y_lik = self.gaussian.likelihood(y_hat / step, mu / step, sc / step)
        z_lik = self.prior.likelihood(z_hat)
        return self.synthesis(y_hat, groups), y_lik, z_lik


# --- frozen export and the runtime coder ------------------------------------------------

def export_gitssic(model: GitSsic, float_dtype=torch.float16) -> dict:
    """Frozen tensors: float g_a / h_a / g_s in ``float_dtype``; h_s as an integer network;
    int32 PMF tables; int64 scale thresholds; an int32 config."""
    import numpy as np

    from .intnet import FRAC
    out = export_frozen(model, _FLOAT_PARTS, _INT_CONVS, "int.", float_dtype)
    cfg = model.config() + [Z_RADIUS, Y_RADIUS, FRAC]
    assert len(cfg) == CONFIG_LEN
    out["config"] = torch.tensor(np.array(cfg, dtype=np.int32))
    return out


class GitSsicCoder:
    """A frozen GIT-SSIC model ready to code.

    ``analyse(rgb, blocks, step) -> (z_sym, y_sym)``; ``hyper(z_sym, step) -> (means,
    index)`` (integers: identical on every machine); ``synthesize(y_fixed, blocks, h, w)``
    -> uint8 [h, w, 3]. ``blocks`` is the int group map [hb, wb] of 16 x 16 blocks.
    """

    def __init__(self, tensors: dict, dtype=torch.float32):
        import numpy as np
        cfg = [int(v) for v in tensors["config"].tolist()]
        if len(cfg) != CONFIG_LEN:
            raise ValueError("gitssic weights: bad config")
        C, depths, heads = cfg[0:3], cfg[3:6], cfg[6:9]
        window, self.M, self.H, self.Mh, self.z_radius, self.y_radius, self.frac = cfg[9:]
        self.dtype = dtype
        net = GitSsic(C, depths, heads, window, self.M, self.H, self.Mh)
        sd = {k: v.to(torch.float32) for k, v in tensors.items() if k.startswith(_FLOAT_PARTS)}
        missing = [k for k in net.state_dict() if k.startswith(_FLOAT_PARTS) and k not in sd]
        if missing:
            raise ValueError(f"weights lack {missing[:3]}")
        net.load_state_dict(sd, strict=False)
        self.net = net.to(dtype).eval()
        ints = [(tensors[f"int.{i}.weight"].numpy().astype(np.int64),
                 tensors[f"int.{i}.bias"].numpy().astype(np.int64)) for i in range(3)]
        self.hyper_net = [("conv", *ints[0], 16), ("shuffle", 2), ("relu",),
                          ("conv", *ints[1], 16), ("shuffle", 2), ("relu",),
                          ("conv", *ints[2], 16)]
        self.z_table = np.ascontiguousarray(tensors["prior.table"].numpy())
        self.y_table = np.ascontiguousarray(tensors["gaussian.table"].numpy())
        self.thresholds = tensors["gaussian.thresholds"].numpy().astype(np.int64)

    def _pixels(self, rgb):
        import numpy as np
        h, w, _ = rgb.shape
        x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None]
        x = x.to(self.dtype) / 255.0
        return F.pad(x, (0, -w % BLOCK, 0, -h % BLOCK), mode="replicate")

    def analyse_float(self, rgb, blocks):
        """Float latents y (float64 [M, hb, wb]) and hyper-latent symbols [H, hz, wz]."""
        import numpy as np
        g = torch.from_numpy(np.asarray(blocks, np.int64))[None]
        with torch.no_grad():
            y = self.net.analysis(self._pixels(rgb), g)
            z = self.net.hyper_analysis(y)
        zr = self.z_radius
        z_sym = (np.clip(np.rint(z[0].double().numpy()), -zr, zr) + zr).astype(np.int32)
        return z_sym, y[0].double().numpy()

    def hyper(self, z_sym, hb: int, wb: int, step: int = STEP_ONE):
        """Integer (means [M, hb, wb] fixed point, scale indices [M, hb, wb])."""
        import numpy as np

        from .intnet import run
        z = np.ascontiguousarray(z_sym, dtype=np.int64)
        out = run(self.hyper_net, (z - self.z_radius) << self.frac)[:, :hb, :wb]
        means, scales = out[:self.M], out[self.M:]
        index = np.searchsorted(self.thresholds * int(step), scales * STEP_ONE, side="right")
        return means, index

    def quantize(self, y, means, step: int):
        import numpy as np
        yr = self.y_radius
        q = (y - means / float(1 << self.frac)) * (STEP_ONE / step)
        return (np.clip(np.rint(q), -yr, yr) + yr).astype(np.int32)

    def dequantize(self, sym, means, step: int):
        """Fixed-point latents: mean + r * step * 2^FRAC / 256 (exact integers)."""
        import numpy as np
        unit = int(step) * (1 << self.frac) // STEP_ONE
        return means + (np.asarray(sym, np.int64) - self.y_radius) * unit

    def synthesis_box(self, blocks, groups) -> tuple[int, int, int, int] | None:
        """The block rectangle (r0, r1, c0, c1) the synthesis of ``groups`` runs on, or None
        (run it on the whole grid) when a crop could change a bit of those groups' pixels
        or would not be smaller.

        The rectangle holds every block of the groups (a token's output depends only on its
        group's tokens, and those outside the rectangle are other groups or padding, masked
        either way); its top-left corner is a multiple of ``window`` blocks, so at every
        stage (1, 2, 4 tokens per block) the regular and the shifted windows (padding, no
        roll) fall where they fall on the whole grid, with the same tokens in the same
        places. What else could differ is the kernels' work split, which depends on the
        tensor sizes: with more than one torch thread an elementwise op is chunked by
        size and a chunk's tail takes the scalar code (GELU's differs from the vector
        code by an ulp), so the crop is taken only with one thread, float32/float64, and
        when every MLP activation holds a multiple of 64 values on both grids."""
        import numpy as np
        if self.dtype not in (torch.float32, torch.float64) or torch.get_num_threads() != 1:
            return None
        b = np.asarray(blocks)
        sel = np.isin(b, sorted(groups))
        if not sel.any():
            return None
        hb, wb = b.shape
        rows, cols = np.nonzero(sel.any(1))[0], np.nonzero(sel.any(0))[0]
        a = self.net.window
        r0, r1 = int(rows[0]) // a * a, int(rows[-1]) + 1
        c0, c1 = int(cols[0]) // a * a, int(cols[-1]) + 1
        if (r1 - r0) * (c1 - c0) == hb * wb:
            return None
        s = self.net.g_s
        for stage, r in (("s3", 1), ("s2", 2), ("s1", 4)):
            hid = s[stage].blocks[0].mlp[0].out_features if len(s[stage].blocks) else 0
            if any(n * r * r * hid % 64 for n in ((r1 - r0) * (c1 - c0), hb * wb)):
                return None
        return r0, r1, c0, c1

    def synthesize(self, y_fixed, blocks, h: int, w: int, groups=None):
        """uint8 [h, w, 3]. With ``groups`` (ids), only those groups' pixels are wanted:
        the synthesis may run on a crop of the grid (:meth:`synthesis_box`), the pixels of
        those groups are the whole grid's bit for bit, the rest are 0 or garbage."""
        import numpy as np
        box = None if groups is None else self.synthesis_box(blocks, groups)
        r0, r1, c0, c1 = box or (0, len(blocks), 0, len(blocks[0]))
        y_hat = np.asarray(y_fixed, np.float64)[:, r0:r1, c0:c1] / float(1 << self.frac)
        g = torch.from_numpy(np.ascontiguousarray(np.asarray(blocks, np.int64)[r0:r1, c0:c1]))
        with torch.no_grad():
            x = self.net.synthesis(torch.from_numpy(y_hat)[None].to(self.dtype), g[None])
        y0, x0 = r0 * BLOCK, c0 * BLOCK
        x = x[0, :, :h - y0, :w - x0].clamp(0, 1).mul(255).round().to(torch.uint8)
        x = x.permute(1, 2, 0).contiguous().numpy()
        if box is None:
            return x
        out = np.zeros((h, w, 3), np.uint8)
        out[y0:y0 + x.shape[0], x0:x0 + x.shape[1]] = x
        return out
