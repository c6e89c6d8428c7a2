"""Entropy models for learned codecs (torch for training, numpy tables for coding).

Training uses differentiable likelihoods; coding uses only frozen 16-bit integer tables
(``PMF_BITS``), produced once at export by :func:`quantize_pmf` and stored with the
weights, so the probabilities the coder sees never depend on floating point at run time.

* ``FactorizedPrior(C)``: Balle's non-parametric per-channel density (the hyper-latent
  prior). ``likelihood(z)``; ``pmf_table(radius)`` -> int32 [C, 2*radius+1] over the
  integers -radius..radius (tails folded into the end symbols).
* ``GaussianConditional``: ``likelihood(y, means, scales)``; the scale table
  (:func:`scale_table`), one integer PMF per table entry over residuals -radius..radius
  (:func:`gaussian_pmf_table`), and integer thresholds (:func:`scale_thresholds`) that map
  a fixed-point scale to its table index with integer comparisons only.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .tables import (PMF_BITS, SCALE_MIN, gaussian_pmf_table, quantize_pmf, scale_table,
                     scale_thresholds)

__all__ = ["PMF_BITS", "FactorizedPrior", "GaussianConditional", "quantize_pmf",
           "scale_table", "gaussian_pmf_table", "scale_thresholds", "LIKELIHOOD_MIN", "SCALE_MIN"]

LIKELIHOOD_MIN = 1e-9

class FactorizedPrior(nn.Module):
    """Balle 2018 univariate non-parametric density, one per channel (filters (3,3,3,3))."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3, 3),
                 init_scale: float = 10.0):
        super().__init__()
        self.channels = channels
        dims = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def _logits_cdf(self, x: torch.Tensor) -> torch.Tensor:
        # x: [C, 1, L] -> logits of the CDF, [C, 1, L]
        for i, m in enumerate(self.matrices):
            x = torch.matmul(nn.functional.softplus(m), x) + self.biases[i]
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """P(round(z) = v) as the CDF difference over [z - .5, z + .5]; z is [B, C, H, W]."""
        b, c, h, w = z.shape
        v = z.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lo = self._logits_cdf(v - 0.5)
        up = self._logits_cdf(v + 0.5)
        sign = -torch.sign(lo + up).detach()
        lik = torch.abs(torch.sigmoid(sign * up) - torch.sigmoid(sign * lo))
        lik = lik.reshape(c, b, h, w).permute(1, 0, 2, 3)
        return torch.clamp(lik, min=LIKELIHOOD_MIN)

    @torch.no_grad()
    def pmf_table(self, radius: int) -> np.ndarray:
        """int32 [C, 2*radius+1]: the frozen PMF over -radius..radius (tails folded in)."""
        v = torch.arange(-radius, radius + 1, dtype=torch.float64)
        edges = torch.cat([v - 0.5, v[-1:] + 0.5]).to(torch.float32)
        x = edges.reshape(1, 1, -1).expand(self.channels, 1, -1)
        cdf = torch.sigmoid(self._logits_cdf(x)).reshape(self.channels, -1).double().numpy()
        cdf[:, 0], cdf[:, -1] = 0.0, 1.0  # fold the tails into the end symbols
        return quantize_pmf(np.diff(cdf, axis=1))


class GaussianConditional(nn.Module):
    """Gaussian likelihoods for training; its coding tables come from the functions below."""

    def likelihood(self, y: torch.Tensor, means: torch.Tensor, scales: torch.Tensor
                   ) -> torch.Tensor:
        scales = torch.clamp(scales, min=SCALE_MIN)
        v = torch.abs(y - means)
        sq = math.sqrt(0.5)
        up = 0.5 * torch.erfc(-sq * (0.5 - v) / scales)
        lo = 0.5 * torch.erfc(-sq * (-0.5 - v) / scales)
        return torch.clamp(up - lo, min=LIKELIHOOD_MIN)
