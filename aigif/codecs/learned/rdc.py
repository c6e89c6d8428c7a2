"""Rate-distortion-complexity (RDC) hyperprior: one model, several decoding complexity
levels chosen per file by how much spatial context the entropy model uses.

The latent map is split into *passes* by a periodic pattern (a P x P Bayer / ordered-dither
matrix of pass numbers). Every latent position is coded with a mean and scale predicted
from the hyper-prior features and a context of the latents of EARLIER passes in its 5x5
neighbourhood (one shared 5x5 context convolution whose taps are masked to the neighbours
already decoded, plus an "inside the image" channel so borders are known). Levels:

====== ========== ================================ =========================
level  passes     pattern (pass of each phase)     context a position sees
====== ========== ================================ =========================
0      1          [[0]]                            none (plain hyperprior)
1      2          checkerboard [[0,1],[1,0]]       anchors' 4-neighbours
2      4          Bayer 2x2 [[0,2],[3,1]]          up to 3/4 of neighbours
3      16         Bayer 4x4                        up to 15/16 of neighbours
====== ========== ================================ =========================

More passes = more context = fewer bits, and more sequential steps at decode time (the
complexity the RDC paper trades). Training samples a level (and a quantization step) per
batch, so one set of weights serves every level and rate.

Decoding anywhere: the hyper-synthesis, the context convolution and the entropy-parameter
network are exported as integer networks (:mod:`.intnet`); latents are fixed-point
integers (mean + r * step), so means, scale indices and therefore the decoded symbols are
the same integers on every machine. Only the pixel synthesis ``g_s`` is float.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .models import (_FLOAT_PARTS, STEP_ONE, Y_RADIUS, Z_RADIUS, MeanScaleHyperprior, _ste_round,
                     export_frozen)

__all__ = ["RdcHyperprior", "LEVELS", "pass_map", "tap_mask", "export_rdc", "RdcCoder",
           "KERNEL"]

_B4 = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]
#: level -> pass number of each phase (a, b) = (row % P, col % P)
LEVELS: dict[int, list[list[int]]] = {0: [[0]], 1: [[0, 1], [1, 0]], 2: [[0, 2], [3, 1]],
                                      3: _B4}
KERNEL = 5


def pass_map(level: int) -> list[list[int]]:
    return LEVELS[level]


def tap_mask(level: int, a: int, b: int) -> list[list[int]]:
    """KERNEL x KERNEL 0/1 mask of the context taps available to phase (a, b)."""
    pm = LEVELS[level]
    p = len(pm)
    r = KERNEL // 2
    me = pm[a][b]
    return [[int(pm[(a + dy) % p][(b + dx) % p] < me) for dx in range(-r, r + 1)]
            for dy in range(-r, r + 1)]


def phases(level: int) -> list[list[tuple[int, int]]]:
    """Phases (a, b) grouped by pass, in pass order."""
    pm = LEVELS[level]
    p = len(pm)
    n = max(max(row) for row in pm) + 1
    return [[(a, b) for a in range(p) for b in range(p) if pm[a][b] == k] for k in range(n)]


class RdcHyperprior(MeanScaleHyperprior):
    """The mean-scale hyperprior's transforms (its h_s output, 2M channels, becomes the
    features of the entropy-parameter network) + a masked 5x5 spatial context with
    selectable pass patterns."""

    def __init__(self, N: int = 96, M: int = 128, H: int = 64, C: int = 128):
        super().__init__(N, M, H)
        self.C = C
        self.ctx = nn.Conv2d(M + 1, C, KERNEL)
        self.ep = nn.Sequential(nn.Conv2d(2 * M + C, 2 * M, 1), nn.ReLU(),
                                nn.Conv2d(2 * M, 2 * M, 1), nn.ReLU(),
                                nn.Conv2d(2 * M, 2 * M, 1))
        masks = {}
        for lv, pm in LEVELS.items():
            p = len(pm)
            for a in range(p):
                for b in range(p):
                    masks[f"{lv}_{a}_{b}"] = torch.tensor(tap_mask(lv, a, b), dtype=torch.float32)
        self._masks = masks

    def code_latents(self, y: torch.Tensor, feats: torch.Tensor, level: int, mode: str,
                     step: float = 1.0):
        """Pass by pass: (y_hat, means, scales). ``mode`` "noise" (y + step * U) or "hard"
        (mean + step * round((y - mean) / step), straight-through)."""
        b, m, h, w = y.shape
        pm = LEVELS[level]
        p = len(pm)
        y_hat = torch.zeros_like(y)
        ones = torch.ones(b, 1, h, w, dtype=y.dtype, device=y.device)
        means = torch.zeros_like(y)
        scales = torch.zeros_like(y)
        r = KERNEL // 2
        for group in phases(level):
            xp = F.pad(torch.cat([y_hat, ones], 1), (r, r, r, r))
            add_y, add_mu, add_sc = (torch.zeros_like(y) for _ in range(3))
            for a, bb in group:
                wm = self.ctx.weight * self._masks[f"{level}_{a}_{bb}"].to(y.dtype)
                c = F.conv2d(xp[:, :, a:, bb:], wm, self.ctx.bias, stride=p)
                c = c[:, :, :h // p, :w // p]
                par = self.ep(torch.cat([feats[:, :, a::p, bb::p], c], 1))
                mu, sc = par.chunk(2, 1)
                yv = y[:, :, a::p, bb::p]
                if mode == "noise":
                    yh = yv + step * torch.empty_like(yv).uniform_(-0.5, 0.5)
                else:
                    yh = _ste_round((yv - mu) / step) * step + mu
                add_y[:, :, a::p, bb::p] = yh
                add_mu[:, :, a::p, bb::p] = mu
                add_sc[:, :, a::p, bb::p] = sc
            y_hat = y_hat + add_y
            means = means + add_mu
            scales = scales + add_sc
        return y_hat, means, scales

    def forward(self, x: torch.Tensor, mode: str = "noise", level: int = 0, step: float = 1.0):
        if mode == "noise":
            y = self.g_a(x)
            z = self.h_a(y)
            z_hat = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        elif mode == "hard":
            with torch.no_grad():  # the analysis transforms are frozen in phase 2
                y = self.g_a(x)
                z = self.h_a(y)
            z_hat = torch.round(z)
        elif mode == "ste":        # ablation: hard rounding from the start, nothing frozen
            y = self.g_a(x)
            z = self.h_a(y)
            z_hat = _ste_round(z)
        else:
            raise ValueError(mode)
        feats = self.h_s(z_hat)
        y_hat, means, scales = self.code_latents(y, feats, level,
                                                 "noise" if mode == "noise" else "hard", step)
        # likelihood of the step-quantized residual: a unit-step Gaussian of (y - mu) / step
        y_lik = self.gaussian.likelihood(y_hat / step, means / step, scales / step)
        z_lik = self.prior.likelihood(z_hat)
        return self.g_s(y_hat), y_lik, z_lik


# --- frozen export and the integer runtime ----------------------------------------------

#: integer layers in export order: (name in the state dict, kernel)
_INT_CONVS = ("h_s.0.0", "h_s.2.0", "h_s.4", "ctx", "ep.0", "ep.2", "ep.4")


def export_rdc(model: RdcHyperprior, float_dtype=torch.float16) -> dict:
    """Frozen tensors: float g_a / h_a / g_s; h_s, ctx and ep as integer networks;
    int32 PMF tables and int64 scale thresholds."""
    import numpy as np

    from .intnet import FRAC
    out = export_frozen(model, _FLOAT_PARTS, _INT_CONVS, "int.", float_dtype)
    out["config"] = torch.tensor(np.array([model.N, model.M, model.H, model.C, Z_RADIUS,
                                           Y_RADIUS, FRAC, 16], dtype=np.int32))
    return out


class RdcCoder:
    """A frozen RDC model ready to code. ``analyse(rgb, step, level) -> (z_sym, y_sym)``,
    ``encode(...)``/``decode(...)`` for the two sub-streams, ``synthesize``. Everything up
    to ``synthesize`` is integer arithmetic on the decoder side."""

    levels = tuple(LEVELS)

    def __init__(self, tensors: dict, dtype=torch.float32):
        import numpy as np
        cfg = [int(v) for v in tensors["config"].tolist()]
        (self.N, self.M, self.H, self.C, self.z_radius, self.y_radius, self.frac,
         self.shift) = cfg
        self.dtype = dtype
        net = RdcHyperprior(self.N, self.M, self.H, self.C)
        sd = {k: v.to(torch.float32) for k, v in tensors.items() if k.startswith(_FLOAT_PARTS)}
        missing = [k for k in net.state_dict() if k.startswith(_FLOAT_PARTS) and k not in sd]
        if missing:
            raise ValueError(f"weights lack {missing[:3]}")
        net.load_state_dict(sd, strict=False)
        self.g_a = net.g_a.to(dtype).eval()
        self.h_a = net.h_a.to(dtype).eval()
        self.g_s = net.g_s.to(dtype).eval()
        ints = [(tensors[f"int.{i}.weight"].numpy().astype(np.int64),
                 tensors[f"int.{i}.bias"].numpy().astype(np.int64)) for i in range(7)]
        s = self.shift
        self.hyper_net = [("conv", *ints[0], s), ("shuffle", 2), ("relu",),
                          ("conv", *ints[1], s), ("shuffle", 2), ("relu",),
                          ("conv", *ints[2], s)]
        self.ctx_w, self.ctx_b = ints[3]
        self.ep_net = [("conv", *ints[4], s), ("relu",), ("conv", *ints[5], s), ("relu",),
                       ("conv", *ints[6], s)]
        self.z_table = np.ascontiguousarray(tensors["prior.table"].numpy())
        self.y_table = np.ascontiguousarray(tensors["gaussian.table"].numpy())
        self.thresholds = tensors["gaussian.thresholds"].numpy().astype(np.int64)

    # -- integer parts -------------------------------------------------------------------
    def hyper_features(self, z_sym):
        import numpy as np

        from .intnet import run
        z = np.ascontiguousarray(z_sym, dtype=np.int64)
        return run(self.hyper_net, (z - self.z_radius) << self.frac)

    def _index(self, scales, step: int):
        import numpy as np
        return np.searchsorted(self.thresholds * int(step), scales * STEP_ONE, side="right")

    def _params(self, feats, y_fixed, level: int, a: int, b: int):
        """Integer (means, scales) at phase (a, b) from the fixed-point latents decoded so far."""
        import numpy as np

        from .intnet import conv_phase, run
        p = len(LEVELS[level])
        m, h, w = y_fixed.shape
        x = np.concatenate([y_fixed, np.full((1, h, w), 1 << self.frac, np.int64)])
        # masked here, per phase: keeping all 25 masked copies would hold ~80 MB of int64
        mask = np.array(tap_mask(level, a, b), dtype=np.int64)
        ctx = conv_phase(x, self.ctx_w * mask, self.ctx_b, self.shift, a, b, p)
        out = run(self.ep_net, np.concatenate([feats[:, a::p, b::p], ctx]))
        return out[:m], out[m:]

    def _walk(self, feats, level: int, step: int, take):
        """Visit the passes in order; ``take(pass_index, [(a, b, means, index)]) -> list of
        integer residual arrays r`` (one per phase); returns the fixed-point latents."""
        import numpy as np
        m = self.M
        _, h, w = feats.shape
        p = len(LEVELS[level])
        y_fixed = np.zeros((m, h, w), np.int64)
        unit = int(step) * (1 << self.frac) // STEP_ONE  # exact: step/256 in FRAC bits
        for k, group in enumerate(phases(level)):
            params = []
            for a, b in group:
                mu, sc = self._params(feats, y_fixed, level, a, b)
                params.append((a, b, mu, self._index(sc, step)))
            rs = take(k, params)
            for (a, b, mu, _), r in zip(params, rs):
                y_fixed[:, a::p, b::p] = mu + (np.asarray(r, np.int64) - self.y_radius) * unit
        return y_fixed

    # -- encoder -------------------------------------------------------------------------
    def analyse(self, rgb):
        """Float analysis: (z_sym [H,hz,wz], y float64 [M,hy,wy])."""
        import numpy as np
        h, w, _ = rgb.shape
        ph, pw = -h % 64, -w % 64
        x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].to(self.dtype)
        x = F.pad(x / 255.0, (0, pw, 0, ph), mode="replicate")
        with torch.no_grad():
            y = self.g_a(x)
            z = self.h_a(y)
        zr = self.z_radius
        z_sym = (np.clip(np.rint(z[0].double().numpy()), -zr, zr) + zr).astype(np.int32)
        return z_sym, y[0].double().numpy()

    def encode(self, rgb, step: int = STEP_ONE, level: int = 1) -> tuple[bytes, bytes, tuple]:
        """(z stream, y stream, z shape)."""
        import numpy as np

        from .coding import TableEncoder, encode_tables
        z_sym, y = self.analyse(rgb)
        feats = self.hyper_features(z_sym)
        p = len(LEVELS[level])
        yr = self.y_radius
        passes = []

        def take(k, params):
            rs = []
            for a, b, mu, index in params:
                q = (y[:, a::p, b::p] - mu / float(1 << self.frac)) * (STEP_ONE / step)
                r = (np.clip(np.rint(q), -yr, yr) + yr).astype(np.int32)
                rs.append(r)
                passes.append((r, index))
            return rs

        self._walk(feats, level, step, take)
        enc = TableEncoder(self.y_table)
        for r, index in reversed(passes):
            enc.push(r, index)
        z_index = np.broadcast_to(np.arange(self.H)[:, None, None], z_sym.shape)
        return encode_tables(z_sym, z_index, self.z_table), enc.bytes(), z_sym.shape

    # -- decoder -------------------------------------------------------------------------
    def decode_latents(self, z_bytes: bytes, y_bytes: bytes, hz: int, wz: int,
                       step: int = STEP_ONE, level: int = 1):
        """Integer decode: the fixed-point latents [M, 4hz, 4wz] (int64)."""
        import numpy as np

        from .coding import TableDecoder, decode_tables
        z_index = np.broadcast_to(np.arange(self.H)[:, None, None], (self.H, hz, wz))
        z_sym = decode_tables(z_bytes, z_index, self.z_table).reshape(self.H, hz, wz)
        feats = self.hyper_features(z_sym)
        dec = TableDecoder(y_bytes, self.y_table)

        def take(k, params):
            return [dec.pop(index).reshape(index.shape) for _a, _b, _mu, index in params]

        return self._walk(feats, level, step, take)

    def synthesize(self, y_fixed, h: int, w: int):
        import numpy as np
        y_hat = np.asarray(y_fixed, np.float64) / float(1 << self.frac)   # exact
        with torch.no_grad():
            x = self.g_s(torch.from_numpy(y_hat)[None].to(self.dtype))
        x = x[0, :, :h, :w].clamp(0, 1).mul(255).round().to(torch.uint8)
        return x.permute(1, 2, 0).contiguous().numpy()
