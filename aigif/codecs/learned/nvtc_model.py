"""NVTC model (Feng et al., "NVTC: Nonlinear Vector Transform Coding", CVPR 2023), small.

Multi-stage vector quantization at /4, /8 and /16 of the image. At each stage the map is
cut into 4x4 blocks; every quantization layer is a pair of vector-transform (VT) stacks
(encoder and decoder side), a projection to the codebook dimension and an
entropy-constrained vector quantizer (ECVQ) with one codebook per block position. Layers
code residuals coarse to fine: the decoder's running reconstruction is subtracted from
the encoder's transformed vector, the residual is quantized, and the decoded codeword is
added back before the decoder VT stack.

Written from the paper and the structure of the official model; this module is the
torch part only (no entropy coding): ``NVTC.quantize_all`` (encoder: indices) and
``NVTC.synthesize`` (decoder: indices -> image) are what the codec calls, ``NVTC.forward``
is what training calls. Everything runs at the dtype of the parameters.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["NvtcConfig", "NVTC", "VTUnit", "ChannelFC", "DepthwiseBlockFC", "BLOCK"]

#: spatial block size (blocks are BLOCK x BLOCK vectors; one codebook per position)
BLOCK = 4


@dataclass(frozen=True)
class NvtcConfig:
    """Architecture hyper-parameters (stored as JSON in the weights' metadata)."""

    vt_dim: tuple = (64, 96, 128)        # channels of the VT units, per stage (/4, /8, /16)
    n_layer: tuple = (1, 2, 2)          # quantization layers per stage
    vt_nunit: tuple = (1, 1, 1)         # VT units per layer (encoder side; decoder same)
    cb_dim: tuple = (4, 8, 16)          # codebook (vector) dimension per stage
    cb_size: tuple = (128, 256, 512)    # codewords per codebook per stage
    n_res: int = 2                      # residual blocks in the /4 down/up-scaling
    factors: tuple = field(default=(4, 2, 2))  # resolution factor into each stage

    @property
    def n_stage(self) -> int:
        return len(self.vt_dim)

    @property
    def stride(self) -> int:
        """Input side must be a multiple of this (coarsest stage /16 x 4x4 blocks)."""
        return math.prod(self.factors) * BLOCK

    def layers(self) -> list[tuple[int, int]]:
        """(stage, layer) of every quantization layer in coding order (coarse to fine)."""
        return [(s, l) for s in reversed(range(self.n_stage))
                for l in reversed(range(self.n_layer[s]))]

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "NvtcConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class ChannelFC(nn.Module):
    """Per-vector MLP over channels (1x1 convolutions), the VT unit's intra transform."""

    def __init__(self, c: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Conv2d(c, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, c, 1)
        for m in (self.fc1, self.fc2):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class DepthwiseBlockFC(nn.Module):
    """One (b*b x b*b) matrix per channel mixing the positions of a block (inter transform)."""

    def __init__(self, c: int, b: int = BLOCK):
        super().__init__()
        n = b * b
        self.weight = nn.Parameter(torch.empty(c, n, n))
        self.bias = nn.Parameter(torch.empty(c, n))
        bound = 1 / math.sqrt(n)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):  # x: (N, C, b, b)
        shape = x.shape
        y = torch.einsum("bcn,cnm->bcm", x.flatten(2), self.weight) + self.bias
        return y.reshape(shape)


class VTUnit(nn.Module):
    """Vector-transform unit: channel-wise FC residual, then depthwise block FC residual."""

    def __init__(self, c: int, b: int = BLOCK, ratio: float = 0.5):
        super().__init__()
        self.intra = ChannelFC(c, max(1, int(c * ratio)))
        self.inter = DepthwiseBlockFC(c, b)

    def forward(self, x):
        x = x + self.intra(x)
        return x + self.inter(x)


class _ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, 1, 1)
        self.c2 = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return x + self.c2(F.gelu(self.c1(x)))


def _partition(x, b=BLOCK):
    """(B, C, H, W) -> (B * H/b * W/b, C, b, b), blocks in raster order per image."""
    n, c, h, w = x.shape
    x = x.view(n, c, h // b, b, w // b, b).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(n * (h // b) * (w // b), c, b, b)


def _combine(x, hw, b=BLOCK):
    """Inverse of ``_partition`` for maps of size ``hw``."""
    h, w = hw
    c = x.shape[1]
    x = x.view(-1, h // b, w // b, c, b, b).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(-1, c, h, w)


class NVTC(nn.Module):
    """Small NVTC. Input: (B, 3, H, W) in [0, 1], H and W multiples of ``config.stride``."""

    def __init__(self, config: NvtcConfig = NvtcConfig()):
        super().__init__()
        cfg = self.config = config
        P = BLOCK * BLOCK
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        self.vt_enc, self.vt_dec = nn.ModuleList(), nn.ModuleList()
        self.proj_in, self.proj_out = nn.ModuleList(), nn.ModuleList()
        self.codebooks, self.logits = nn.ParameterList(), nn.ParameterList()
        for s in range(cfg.n_stage):
            f = cfg.factors[s]
            c_up = 3 if s == 0 else cfg.vt_dim[s - 1]
            c = cfg.vt_dim[s]
            res = [_ResBlock(c) for _ in range(cfg.n_res)] if s == 0 else []
            self.down.append(nn.Sequential(nn.PixelUnshuffle(f), nn.Conv2d(c_up * f * f, c, 1),
                                           *res))
            res = [_ResBlock(c) for _ in range(cfg.n_res)] if s == 0 else []
            self.up.append(nn.Sequential(*res, nn.Conv2d(c, c_up * f * f, 1), nn.PixelShuffle(f)))
            ve, vd, pi, po = (nn.ModuleList() for _ in range(4))
            for _ in range(cfg.n_layer[s]):
                ve.append(nn.Sequential(*[VTUnit(c) for _ in range(cfg.vt_nunit[s])]))
                vd.append(nn.Sequential(*[VTUnit(c) for _ in range(cfg.vt_nunit[s])]))
                pi.append(nn.Conv2d(c, cfg.cb_dim[s], 1))
                po.append(nn.Conv2d(cfg.cb_dim[s], c, 1))
                d, k = cfg.cb_dim[s], cfg.cb_size[s]
                self.codebooks.append(nn.Parameter(torch.randn(P, k, d) / math.sqrt(d)))
                self.logits.append(nn.Parameter(torch.zeros(P, k)))
            self.vt_enc.append(ve)
            self.vt_dec.append(vd)
            self.proj_in.append(pi)
            self.proj_out.append(po)
        # flat index of (stage, layer) into codebooks/logits
        self._flat = {}
        for s in range(cfg.n_stage):
            for l in range(cfg.n_layer[s]):
                self._flat[(s, l)] = len(self._flat)

    def qindex(self, s: int, l: int) -> int:
        return self._flat[(s, l)]

    # -- encoder analysis ------------------------------------------------------------------
    def analysis(self, x):
        """Transformed vectors per stage and layer, as blocks, and each stage's map size."""
        x = x - 0.5
        vecs, sizes = [], []
        for s in range(self.config.n_stage):
            x = self.down[s](x)
            hw = tuple(x.shape[-2:])
            sizes.append(hw)
            x = _partition(x)
            v = []
            for l in range(self.config.n_layer[s]):
                x = self.vt_enc[s][l](x)
                v.append(x)
            vecs.append(v)
            x = _combine(x, hw)
        return vecs, sizes

    # -- one ECVQ layer ----------------------------------------------------------------------
    @staticmethod
    def ecvq(r, codebook, bits=None, lam=None):
        """Indices argmin_k ||r - c_pk||^2 + bits_pk / lam.  r: (N, P, d) -> (N, P) int64."""
        dist = (r * r).sum(-1, keepdim=True) + (codebook * codebook).sum(-1)[None] \
            - 2 * torch.einsum("npd,pkd->npk", r, codebook)
        if bits is not None and lam is not None:
            dist = dist + bits[None] / lam
        return dist.argmin(-1)

    @staticmethod
    def lookup(codebook, idx):
        """Codewords of indices ``idx`` (N, P) -> (N, P, d)."""
        P = codebook.shape[0]
        return codebook[torch.arange(P, device=idx.device)[None, :], idx]

    def _residual(self, s, l, target, x_hat):
        r = self.proj_in[s][l](target if x_hat is None else target - x_hat)  # (N, d, b, b)
        return r.flatten(2).transpose(1, 2)                                  # (N, P, d)

    def _add_codeword(self, s, l, rq, x_hat, shape):
        q = self.proj_out[s][l](rq.transpose(1, 2).reshape(shape))
        return q if x_hat is None else x_hat + q

    # -- coding (codec) ----------------------------------------------------------------------
    @torch.no_grad()
    def quantize_all(self, x, bits_of, lam: float):
        """Encoder: indices of every quantization layer in coding order.

        ``bits_of(q)`` gives the (P, K) code lengths of flat layer ``q`` (from the frozen
        integer tables); ``lam`` weighs them. Returns ``[(N, P) int64 tensor, ...]`` in
        ``config.layers()`` order (batch of one image: N = blocks in raster order).
        """
        vecs, sizes = self.analysis(x)
        out = []
        x_hat = None
        for s in reversed(range(self.config.n_stage)):
            if x_hat is not None:
                x_hat = _partition(x_hat)
            for l in reversed(range(self.config.n_layer[s])):
                q = self.qindex(s, l)
                t = vecs[s][l]
                r = self._residual(s, l, t, x_hat)
                idx = self.ecvq(r, self.codebooks[q], bits_of(q), lam)
                out.append(idx)
                rq = self.lookup(self.codebooks[q], idx)
                x_hat = self._add_codeword(s, l, rq, x_hat, (t.shape[0], -1) + t.shape[2:])
                x_hat = self.vt_dec[s][l](x_hat)
            x_hat = self.up[s](_combine(x_hat, sizes[s]))
        return out

    def stage_sizes(self, h: int, w: int) -> list[tuple[int, int]]:
        sizes = []
        for f in self.config.factors:
            h, w = h // f, w // f
            sizes.append((h, w))
        return sizes

    @torch.no_grad()
    def synthesize(self, indices, h: int, w: int):
        """Decoder: image (1, 3, h, w) in [0, 1] (unclamped) from indices in coding order."""
        sizes = self.stage_sizes(h, w)
        it = iter(indices)
        x_hat = None
        for s in reversed(range(self.config.n_stage)):
            if x_hat is not None:
                x_hat = _partition(x_hat)
            n = (sizes[s][0] // BLOCK) * (sizes[s][1] // BLOCK)
            for l in reversed(range(self.config.n_layer[s])):
                q = self.qindex(s, l)
                rq = self.lookup(self.codebooks[q], next(it))
                x_hat = self._add_codeword(s, l, rq, x_hat, (n, -1, BLOCK, BLOCK))
                x_hat = self.vt_dec[s][l](x_hat)
            x_hat = self.up[s](_combine(x_hat, sizes[s]))
        return x_hat + 0.5

    # -- training ----------------------------------------------------------------------------
    def forward(self, x, lam: float | None, stages_on=None, residual_sink=None):
        """Training pass with hard ECVQ and straight-through gradients.

        ``lam``: rate weight in the ECVQ argmin (None: plain nearest-codeword VQ).
        ``stages_on``: set of stages whose layers quantize (others pass the residual
        unquantized). ``residual_sink(q, r)`` sees every layer's residual (for codeword
        init / reactivation). Returns x_hat, bits (total, per image batch), vq_loss sum,
        per-layer indices.
        """
        vecs, sizes = self.analysis(x)
        bits = x.new_zeros(())
        vq = x.new_zeros(())
        idxs = {}
        x_hat = None
        for s in reversed(range(self.config.n_stage)):
            if x_hat is not None:
                x_hat = _partition(x_hat)
            for l in reversed(range(self.config.n_layer[s])):
                q = self.qindex(s, l)
                t = vecs[s][l]
                r = self._residual(s, l, t, x_hat)
                if stages_on is None or s in stages_on:
                    cb = self.codebooks[q]
                    logp = F.log_softmax(self.logits[q], -1) / -math.log(2)   # bits (P, K)
                    if residual_sink is not None:
                        residual_sink(q, r.detach())
                    idx = self.ecvq(r.detach(), cb.detach(), logp.detach(), lam)
                    idxs[q] = idx
                    rq = self.lookup(cb, idx)
                    vq = vq + ((r - rq) ** 2).sum()
                    bits = bits + logp.gather(1, idx.t()).sum()
                    rq = r + (rq - r).detach()
                else:
                    rq = r
                x_hat = self._add_codeword(s, l, rq, x_hat, (t.shape[0], -1) + t.shape[2:])
                x_hat = self.vt_dec[s][l](x_hat)
            x_hat = self.up[s](_combine(x_hat, sizes[s]))
        return x_hat + 0.5, bits, vq, idxs
