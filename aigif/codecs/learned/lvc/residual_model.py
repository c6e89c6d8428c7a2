"""The conditional residual model of the learned video codecs' P frames (torch).

``ConditionalHyperprior(N, M, H, C)`` codes a frame ``x`` given its motion-compensated
prediction ``pred`` (DCVC-style conditional coding instead of coding ``x - pred``):

* context net on ``pred``: a feature pyramid at /2, /4, /8 (5x5 stride-2 convs, ReLU;
  ``C`` = (c1, c2, c3) channels): ENVC's reference feature pyramid / IMCLVC's "context
  mining". Both transforms read it, so the latent only carries what the prediction lacks.
* g_a(x, ctx): [x, pred] -> 4 x [conv 5x5 stride 2, GDN], each stage's output fused with
  the context of its scale by a 1x1 conv           -> y [B, M, H/16, W/16]
* h_a / h_s as :class:`..models.MeanScaleHyperprior` (z at /64: one hyper-latent per 64x64
  pixels); h_s has only 3x3 convs, ReLU and pixel shuffle so it is exported as an integer
  network (:mod:`..intnet`): entropy parameters depend on the z symbols only, never on the
  float prediction (platform-safe symbols).
* g_s(y_hat, ctx): 4 x [transposed conv 5x5 stride 2, IGDN], fused with the context at
  /8, /4, /2; the last stage gives a correction added to ``pred``: x_hat = pred + g_s(...).

``forward(x, pred, mode, step)``: mode "noise" (y + step * U(-1/2, 1/2), z + U: phase 1 of
soft-then-hard) or "hard" (context net, g_a and h_a frozen; z rounded; y = mu + step *
round((y - mu) / step), straight-through: phase 2). Returns (x_hat, y_lik, z_lik).

``export(model) -> tensors`` freezes it for safetensors (float parts float16, h_s int32,
int32 PMF tables), loaded by :class:`.residual.ResidualCoder`.
"""
from __future__ import annotations

import torch
from torch import nn

from ..entropy import FactorizedPrior, GaussianConditional
from ..layers import GDN, IGDN, conv, deconv, subpel_conv
from ..models import STEP_ONE, Y_RADIUS, Z_RADIUS, _ste_round, export_frozen

__all__ = ["ConditionalHyperprior", "export", "random_tensors", "FLOAT_PARTS", "VERSION",
           "STEP_ONE"]

#: the float parts (exported in float16); the rest is the integer h_s and the tables
FLOAT_PARTS = ("ctx.", "g_a.", "h_a.", "g_s.")
#: the export format of the frozen tensors (config[0])
VERSION = 1


class _Down(nn.Module):
    """conv 5x5 stride 2 -> GDN -> (optionally) fuse the context of that scale (1x1)."""

    def __init__(self, cin: int, cout: int, cctx: int, gdn: bool = True):
        super().__init__()
        self.conv = conv(cin, cout)
        self.gdn = GDN(cout) if gdn else nn.Identity()
        self.fuse = nn.Conv2d(cout + cctx, cout, 1) if cctx else None

    def forward(self, x, c=None):
        x = self.gdn(self.conv(x))
        return x if self.fuse is None else self.fuse(torch.cat([x, c], 1))


class _Up(nn.Module):
    """(optionally) fuse the context (1x1) -> IGDN -> transposed conv 5x5 stride 2."""

    def __init__(self, cin: int, cout: int, cctx: int, igdn: bool = True):
        super().__init__()
        self.fuse = nn.Conv2d(cin + cctx, cin, 1) if cctx else None
        self.igdn = IGDN(cin) if igdn else nn.Identity()
        self.deconv = deconv(cin, cout)

    def forward(self, x, c=None):
        if self.fuse is not None:
            x = self.fuse(torch.cat([x, c], 1))
        return self.deconv(self.igdn(x))


class ContextNet(nn.Module):
    """The prediction's feature pyramid: [B,3,H,W] -> features at /2, /4, /8."""

    def __init__(self, C: tuple[int, int, int]):
        super().__init__()
        self.c1 = conv(3, C[0])
        self.c2 = conv(C[0], C[1])
        self.c3 = conv(C[1], C[2])
        self.act = nn.LeakyReLU(0.1)

    def forward(self, pred):
        f1 = self.act(self.c1(pred))
        f2 = self.act(self.c2(f1))
        f3 = self.act(self.c3(f2))
        return f1, f2, f3


class GA(nn.Module):
    def __init__(self, N: int, M: int, C):
        super().__init__()
        self.d1 = _Down(6, N, C[0])
        self.d2 = _Down(N, N, C[1])
        self.d3 = _Down(N, N, C[2])
        self.d4 = _Down(N, M, 0, gdn=False)

    def forward(self, x, pred, ctx):
        f1, f2, f3 = ctx
        h = self.d1(torch.cat([x, pred], 1), f1)
        h = self.d2(h, f2)
        h = self.d3(h, f3)
        return self.d4(h)


class GS(nn.Module):
    def __init__(self, N: int, M: int, C):
        super().__init__()
        self.u1 = _Up(M, N, 0, igdn=False)
        self.u2 = _Up(N, N, C[2])
        self.u3 = _Up(N, N, C[1])
        self.u4 = _Up(N, 3, C[0])

    def forward(self, y_hat, pred, ctx):
        f1, f2, f3 = ctx
        h = self.u1(y_hat)
        h = self.u2(h, f3)
        h = self.u3(h, f2)
        return pred + self.u4(h, f1)


class ConditionalHyperprior(nn.Module):
    def __init__(self, N: int = 48, M: int = 64, H: int = 32,
                 C: tuple[int, int, int] = (24, 32, 48)):
        super().__init__()
        self.N, self.M, self.H, self.C = N, M, H, tuple(C)
        self.ctx = ContextNet(self.C)
        self.g_a = GA(N, M, self.C)
        self.g_s = GS(N, M, self.C)
        self.h_a = nn.Sequential(conv(M, H, 3, 1), nn.ReLU(), conv(H, H), nn.ReLU(), conv(H, H))
        self.h_s = nn.Sequential(subpel_conv(H, H), nn.ReLU(), subpel_conv(H, M), nn.ReLU(),
                                 nn.Conv2d(M, 2 * M, 3, padding=1))
        self.prior = FactorizedPrior(H)
        self.gaussian = GaussianConditional()

    def forward(self, x: torch.Tensor, pred: torch.Tensor, mode: str = "noise",
                step: float = 1.0):
        if mode == "noise":
            ctx = self.ctx(pred)
            y = self.g_a(x, pred, ctx)
            z = self.h_a(y)
            z_hat = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        elif mode == "hard":
            with torch.no_grad():   # phase 2: the context net and the analysis are frozen
                ctx = self.ctx(pred)
                y = self.g_a(x, pred, ctx)
                z = self.h_a(y)
            z_hat = torch.round(z)
        else:
            raise ValueError(mode)
        means, scales = self.h_s(z_hat).chunk(2, dim=1)
        if mode == "noise":
            y_hat = y + step * torch.empty_like(y).uniform_(-0.5, 0.5)
        else:
            y_hat = _ste_round((y - means) / step) * step + means
        # likelihood of the step-quantized residual: a unit-step Gaussian of (y - mu) / step
        y_lik = self.gaussian.likelihood(y_hat / step, means / step, scales / step)
        z_lik = self.prior.likelihood(z_hat)
        return self.g_s(y_hat, pred, ctx), y_lik, z_lik


# --- frozen export ------------------------------------------------------------------------

_INT_CONVS = ("h_s.0.0", "h_s.2.0", "h_s.4")


def export(model: ConditionalHyperprior, float_dtype=torch.float16) -> dict:
    """Freeze ``model`` into tensors for safetensors: the context net, g_a, h_a and g_s in
    ``float_dtype``; h_s as an integer network (``h_s.int.{0,1,2}.{weight,bias}``); the
    factorized prior and the Gaussian scale table as int32 PMF tables; int64 scale
    thresholds; ``config`` int32 [VERSION, N, M, H, c1, c2, c3, Z_RADIUS, Y_RADIUS, FRAC,
    shift]."""
    import numpy as np

    from ..intnet import FRAC
    out = export_frozen(model, FLOAT_PARTS, _INT_CONVS, "h_s.int.", float_dtype)
    out["config"] = torch.tensor(np.array([VERSION, model.N, model.M, model.H, *model.C,
                                           Z_RADIUS, Y_RADIUS, FRAC, 16], dtype=np.int32))
    return out


def random_tensors(seed: int = 0, **sizes) -> dict:
    """Frozen tensors of a randomly initialised model (tests, and callers' stand-in until
    trained weights exist): ``zoo.register("lvc-res-1", random_tensors(), "lvcres")``.
    ``sizes``: N, M, H, C as :class:`ConditionalHyperprior` (smaller = faster tests)."""
    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(seed)
        model = ConditionalHyperprior(**sizes)
        # a plausible hyper-synthesis: positive scales around 1, so symbols fit the tables
        with torch.no_grad():
            model.h_s[4].bias[model.M:] += 1.0
    return export(model.eval())
