"""Reusable layers for learned codecs (torch).

``GDN(C)`` / ``IGDN(C)``: y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2) (inverse: times),
with beta and gamma kept non-negative by Balle's reparametrization (the stored parameter
is sqrt(value + pedestal), lower-bounded). ``conv(i, o, k, s)`` a same-padded conv,
``deconv(i, o, k, s)`` its transposed twin, ``subpel_conv(i, o, r)`` a 3x3 conv followed
by pixel shuffle (upsampling that integer networks can run, see :mod:`.intnet`).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["GDN", "IGDN", "NonNegative", "conv", "deconv", "subpel_conv"]


class NonNegative(nn.Module):
    """Balle's non-negative reparametrization: value = max(p, bound)^2 - pedestal."""

    def __init__(self, minimum: float = 0.0, reparam_offset: float = 2 ** -18):
        super().__init__()
        self.pedestal = reparam_offset ** 2
        self.bound = (minimum + self.pedestal) ** 0.5

    def init(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(torch.clamp(x + self.pedestal, min=self.pedestal))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        # straight-through lower bound: the gradient still pulls a parameter back up
        q = p + (torch.clamp(p, min=self.bound) - p).detach()
        return q * q - self.pedestal


class GDN(nn.Module):
    """Generalized divisive normalization (Balle et al. 2016); ``inverse=True`` is IGDN."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_re = NonNegative(beta_min)
        self.gamma_re = NonNegative(0.0)
        self.beta = nn.Parameter(self.beta_re.init(torch.ones(channels)))
        self.gamma = nn.Parameter(self.gamma_re.init(gamma_init * torch.eye(channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        beta = self.beta_re(self.beta)
        gamma = self.gamma_re(self.gamma).reshape(c, c, 1, 1)
        norm = nn.functional.conv2d(x * x, gamma, beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


def IGDN(channels: int) -> GDN:  # noqa: N802 (a layer name)
    """Inverse GDN (the synthesis transform's normalization)."""
    return GDN(channels, inverse=True)


def conv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def deconv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=kernel // 2,
                              output_padding=stride - 1)


def subpel_conv(cin: int, cout: int, r: int = 2) -> nn.Sequential:
    """3x3 conv to ``cout * r * r`` channels, then pixel shuffle (upsample by ``r``)."""
    return nn.Sequential(nn.Conv2d(cin, cout * r * r, 3, padding=1), nn.PixelShuffle(r))
