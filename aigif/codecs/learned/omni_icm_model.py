"""The Omni-ICM model (torch): image coding for machines (after Feng et al., ECCV 2022).

The payload is the entropy-coded latent itself; machines read it as features without
pixel synthesis (``aigif.features``). The codec class is :mod:`.omni_icm` (no torch).

* ``g_a``: conv 5x5/2, GDN, conv 5x5/2, GDN, conv 5x5/2   x [B,3,H,W] -> y [B,M,H/8,W/8]
* information-filtering module (``filter=True``): a per-position, per-channel gate
  g = sigmoid(conv3x3(y) + linear(mean_hw(y))), y <- y * g, before quantization. It runs in
  the encoder only: a decoder never needs it (the payload holds the gated latent).
* quantization y_hat = step * round(y / step); ``LEVELS`` steps (the rate points).
* entropy model: a factorized prior (one learned density per channel), frozen at export
  as one 16-bit integer PMF table per channel and step: decoding is integer-only, so the
  decoded symbols, and the features (symbol * step, exact), are the same everywhere.
* ``g_p``: a light preview decoder (3 transposed convs, IGDN) trained on pixels with a
  stop-gradient into the encoder: the features stay purely task-driven; its pixels are a
  preview, not a reconstruction.
* ``head``: the projection head of the instance-discrimination objective (InfoNCE over
  two augmentations of one crop, on the spatially pooled quantized features); training
  only, not exported.

``export_omni(model)`` freezes a trained model into tensors for safetensors;
``OmniCoder(tensors)`` is the runtime coder the codec uses.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .entropy import LIKELIHOOD_MIN, FactorizedPrior
from .layers import GDN, IGDN, conv, deconv
from .tables import quantize_pmf

__all__ = ["OmniIcm", "export_omni", "OmniCoder", "STEPS", "STEP_ONE", "RADIUS", "STRIDE",
           "info_nce"]

STRIDE = 8
#: quantization steps of the rate points (level 0 = coarsest), in 1/STEP_ONE units
STEP_ONE = 256
STEPS = (512, 362, 256, 181, 128)
#: symbols are round(y / step) clamped to -RADIUS..RADIUS (tails folded into the ends)
RADIUS = 63
_FLOAT_PARTS = ("g_a.", "gate_s.", "gate_c.", "g_p.")


def _ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


class OmniIcm(nn.Module):
    def __init__(self, N: int = 64, M: int = 96, filter: bool = True, proj: int = 128):
        super().__init__()
        self.N, self.M, self.filter = N, M, filter
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        if filter:
            self.gate_s = nn.Conv2d(M, M, 3, padding=1)
            self.gate_c = nn.Linear(M, M)
            nn.init.constant_(self.gate_c.bias, 2.0)   # start (nearly) open
        self.g_p = nn.Sequential(deconv(M, N), IGDN(N), deconv(N, N), IGDN(N), deconv(N, 3))
        self.prior = FactorizedPrior(M)
        self.head = nn.Sequential(nn.Linear(2 * M, 256), nn.ReLU(), nn.Linear(256, proj))

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] -> the (filtered) latent before quantization."""
        y = self.g_a(x)
        if self.filter:
            g = torch.sigmoid(self.gate_s(y) + self.gate_c(y.mean((2, 3)))[:, :, None, None])
            y = y * g
        return y

    def likelihood(self, y: torch.Tensor, step: float) -> torch.Tensor:
        """P(the bin of width ``step`` around y) under the factorized prior."""
        b, c, h, w = y.shape
        v = y.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lo = self.prior._logits_cdf(v - step / 2)
        up = self.prior._logits_cdf(v + step / 2)
        sign = -torch.sign(lo + up).detach()
        lik = torch.abs(torch.sigmoid(sign * up) - torch.sigmoid(sign * lo))
        return torch.clamp(lik.reshape(c, b, h, w).permute(1, 0, 2, 3), min=LIKELIHOOD_MIN)

    def forward(self, x: torch.Tensor, step: float = 1.0):
        """(y_hat, likelihoods): y_hat is quantized with a straight-through round (what the
        task sees); the rate is measured on the noisy latent (additive uniform noise)."""
        y = self.analyse(x)
        noisy = y + torch.empty_like(y).uniform_(-step / 2, step / 2)
        y_hat = _ste_round(y / step) * step
        return y_hat, self.likelihood(noisy, step)

    def embed(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Projection-head output of the pooled features (mean and max over space)."""
        pooled = torch.cat([y_hat.mean((2, 3)), y_hat.amax((2, 3))], 1)
        return self.head(pooled)

    @torch.no_grad()
    def pmf_tables(self, radius: int = RADIUS, steps=STEPS) -> np.ndarray:
        """int32 [len(steps), M, 2*radius+1]: the frozen PMFs of round(y / step)."""
        out = []
        v = torch.arange(-radius, radius + 1, dtype=torch.float64)
        edges = torch.cat([v - 0.5, v[-1:] + 0.5])
        for s in steps:
            e = (edges * (s / STEP_ONE)).to(torch.float32)
            xx = e.reshape(1, 1, -1).expand(self.M, 1, -1)
            cdf = torch.sigmoid(self.prior._logits_cdf(xx)).reshape(self.M, -1).double().numpy()
            cdf[:, 0], cdf[:, -1] = 0.0, 1.0
            out.append(quantize_pmf(np.diff(cdf, axis=1)))
        return np.stack(out)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """NT-Xent (SimCLR): each of the 2B embeddings must pick its pair among the others."""
    z = nn.functional.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.t() / temperature
    n = a.shape[0]
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return nn.functional.cross_entropy(sim, target)


def export_omni(model: OmniIcm, float_dtype=torch.float16) -> dict:
    """Tensors for safetensors: float analysis / gate / preview decoder in ``float_dtype``,
    int32 PMF tables [LEVELS, M, 2R+1], int32 steps, int32 config [N, M, R, filter,
    STRIDE]."""
    out = {k: v.detach().to(float_dtype).contiguous() for k, v in model.state_dict().items()
           if k.startswith(_FLOAT_PARTS)}
    out["prior.tables"] = torch.from_numpy(model.pmf_tables())
    out["steps"] = torch.tensor(STEPS, dtype=torch.int32)
    out["config"] = torch.tensor([model.N, model.M, RADIUS, int(model.filter), STRIDE],
                                 dtype=torch.int32)
    return out


class OmniCoder:
    """A frozen Omni-ICM model ready to code.

    ``analyse(rgb, level) -> symbols`` int32 [M, hy, wy] (0..2R); ``stream(symbols, level)
    -> bytes``; ``parse(data, level, hy, wy) -> symbols`` (integer-only);
    ``features(symbols, level) -> float32`` (exact: (symbol - R) * step / 256);
    ``preview(symbols, level, h, w) -> uint8 [h, w, 3]``.
    """

    def __init__(self, tensors: dict, dtype=torch.float32):
        self.N, self.M, self.radius, filt, self.stride = \
            [int(v) for v in tensors["config"].tolist()]
        self.dtype = dtype
        net = OmniIcm(self.N, self.M, bool(filt))
        sd = {k: v.to(torch.float32) for k, v in tensors.items() if k.startswith(_FLOAT_PARTS)}
        missing = [k for k in net.state_dict() if k.startswith(_FLOAT_PARTS) and k not in sd]
        if missing:
            raise ValueError(f"weights lack {missing[:3]}")
        net.load_state_dict(sd, strict=False)
        self.net = net.to(dtype).eval()
        self.tables = np.ascontiguousarray(tensors["prior.tables"].numpy().astype(np.int32))
        self.steps = tuple(int(s) for s in tensors["steps"].tolist())
        if self.tables.shape != (len(self.steps), self.M, 2 * self.radius + 1):
            raise ValueError(f"weights: PMF tables of shape {self.tables.shape}")
        self.levels = len(self.steps)

    def analyse(self, rgb, level: int) -> np.ndarray:
        h, w, _ = rgb.shape
        s = self.stride
        x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].to(self.dtype)
        x = nn.functional.pad(x / 255.0, (0, -w % s, 0, -h % s), mode="replicate")
        with torch.no_grad():
            y = self.net.analyse(x)[0].double().numpy()
        q = np.rint(y * (STEP_ONE / self.steps[level]))
        r = self.radius
        return (np.clip(q, -r, r) + r).astype(np.int32)

    def _index(self, shape) -> np.ndarray:
        return np.broadcast_to(np.arange(self.M)[:, None, None], shape)

    def stream(self, symbols: np.ndarray, level: int) -> bytes:
        from .coding import encode_tables
        return encode_tables(symbols, self._index(symbols.shape), self.tables[level])

    def parse(self, data: bytes, level: int, hy: int, wy: int) -> np.ndarray:
        from .coding import decode_tables
        shape = (self.M, hy, wy)
        return decode_tables(data, self._index(shape), self.tables[level]).reshape(shape)

    def features(self, symbols: np.ndarray, level: int) -> np.ndarray:
        q = np.asarray(symbols, np.int64) - self.radius
        return (q * self.steps[level] / float(STEP_ONE)).astype(np.float32)

    def preview(self, symbols: np.ndarray, level: int, h: int, w: int) -> np.ndarray:
        y = torch.from_numpy(self.features(symbols, level))[None].to(self.dtype)
        with torch.no_grad():
            x = self.net.g_p(y)
        x = x[0, :, :h, :w].clamp(0, 1).mul(255).round().to(torch.uint8)
        return x.permute(1, 2, 0).contiguous().numpy()
