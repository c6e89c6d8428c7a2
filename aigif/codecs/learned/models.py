"""Learned codec models (torch).

``MeanScaleHyperprior(N, M, H)`` (Minnen et al. 2018 without the autoregressive context):

* g_a: 4 x [conv 5x5 stride 2], GDN between           x [B,3,H,W] -> y [B,M,H/16,W/16]
* h_a: conv 3x3, ReLU, 2 x [conv 5x5 stride 2]         y -> z [B,H',H/64,W/64]
* h_s: sub-pixel conv, ReLU, sub-pixel conv, ReLU, conv 3x3 -> (means, scales) [B,2M,...]
  (only 3x3 convs, ReLU and pixel shuffle: exported as an integer network, :mod:`.intnet`)
* g_s: 4 x [transposed conv 5x5 stride 2], IGDN between  y_hat -> x_hat

``forward(x, mode)``: mode "noise" (additive uniform noise, phase 1 of soft-then-hard) or
"hard" (rounded latents, phase 2: the analysis transforms are frozen by the trainer).
Returns (x_hat, y_likelihoods, z_likelihoods).
"""
from __future__ import annotations

import torch
from torch import nn

from .entropy import FactorizedPrior, GaussianConditional
from .layers import GDN, IGDN, conv, deconv, subpel_conv

__all__ = ["MeanScaleHyperprior", "export_mshp", "export_frozen", "MshpCoder"]


def _ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


class MeanScaleHyperprior(nn.Module):
    def __init__(self, N: int = 96, M: int = 128, H: int = 64):
        super().__init__()
        self.N, self.M, self.H = N, M, H
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N),
                                 conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), IGDN(N), deconv(N, N), IGDN(N), deconv(N, N),
                                 IGDN(N), deconv(N, 3))
        self.h_a = nn.Sequential(conv(M, H, 3, 1), nn.ReLU(), conv(H, H),
                                 nn.ReLU(), conv(H, H))
        self.h_s = nn.Sequential(subpel_conv(H, H), nn.ReLU(), subpel_conv(H, M), nn.ReLU(),
                                 nn.Conv2d(M, 2 * M, 3, padding=1))
        self.prior = FactorizedPrior(H)
        self.gaussian = GaussianConditional()

    def hyper(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        means, scales = self.h_s(z_hat).chunk(2, dim=1)
        return means, scales

    def forward(self, x: torch.Tensor, mode: str = "noise"):
        if mode == "noise":
            y = self.g_a(x)
            z = self.h_a(y)
            z_hat = z + torch.empty_like(z).uniform_(-0.5, 0.5)
            means, scales = self.hyper(z_hat)
            y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        elif mode == "hard":
            with torch.no_grad():  # the analysis transforms are frozen in phase 2
                y = self.g_a(x)
                z = self.h_a(y)
            z_hat = torch.round(z)
            means, scales = self.hyper(z_hat)
            y_hat = _ste_round(y - means) + means
        else:
            raise ValueError(mode)
        y_lik = self.gaussian.likelihood(y_hat, means, scales)
        z_lik = self.prior.likelihood(z_hat)
        return self.g_s(y_hat), y_lik, z_lik


# --- frozen export and the runtime coder ------------------------------------------------

#: Integer support of the hyper-latent symbols (-Z_RADIUS..Z_RADIUS) and of the latent
#: residuals round(y - mean) (-Y_RADIUS..Y_RADIUS); values outside are clamped.
Z_RADIUS = 31
Y_RADIUS = 127
_FLOAT_PARTS = ("g_a.", "h_a.", "g_s.")
#: quantization steps are coded in 1/STEP_ONE units (STEP_ONE = the trained step, 1.0)
STEP_ONE = 256


def export_mshp(model: MeanScaleHyperprior, float_dtype=torch.float16) -> dict:
    """Freeze a trained model into tensors for safetensors: float transforms (g_a, h_a,
    g_s) in ``float_dtype``; the hyper-synthesis as an integer network; the factorized
    prior and the Gaussian scale table as int32 PMF tables; int64 scale thresholds."""
    import numpy as np

    from .intnet import FRAC
    out = export_frozen(model, _FLOAT_PARTS, ("h_s.0.0", "h_s.2.0", "h_s.4"), "h_s.int.",
                        float_dtype)
    out["config"] = torch.tensor(np.array([model.N, model.M, model.H, Z_RADIUS, Y_RADIUS, FRAC,
                                           16], dtype=np.int32))
    return out


def export_frozen(model: nn.Module, float_parts: tuple[str, ...], int_convs: tuple[str, ...],
                  int_prefix: str, float_dtype=torch.float16) -> dict:
    """The tensors every hyperprior export shares: the state-dict entries under
    ``float_parts`` in ``float_dtype``; the convolutions ``int_convs`` (state-dict names) as
    an integer network ``{int_prefix}{i}.weight/bias`` (:func:`.intnet.quantize_conv`); the
    factorized prior (``prior.table``) and the Gaussian scale table (``gaussian.table``) as
    int32 PMF tables and their int64 ``gaussian.thresholds``. The caller adds its config."""
    from .intnet import FRAC, quantize_conv
    from .tables import gaussian_pmf_table, scale_table, scale_thresholds
    sd = model.state_dict()
    out = {k: v.detach().to(float_dtype).contiguous() for k, v in sd.items()
           if k.startswith(float_parts)}
    for i, name in enumerate(int_convs):
        w, b = quantize_conv(sd[name + ".weight"].detach().double().numpy(),
                             sd[name + ".bias"].detach().double().numpy())
        out[f"{int_prefix}{i}.weight"] = torch.from_numpy(w)
        out[f"{int_prefix}{i}.bias"] = torch.from_numpy(b)
    scales = scale_table()
    out["prior.table"] = torch.from_numpy(model.prior.pmf_table(Z_RADIUS))
    out["gaussian.table"] = torch.from_numpy(gaussian_pmf_table(scales, Y_RADIUS))
    out["gaussian.thresholds"] = torch.from_numpy(scale_thresholds(scales, FRAC))
    return out


class MshpCoder:
    """A frozen mean-scale hyperprior ready to code: float analysis/synthesis (torch),
    integer hyper-synthesis (:mod:`.intnet`), integer tables (:mod:`.coding`).

    ``analyse(rgb) -> (z_sym, y_sym)`` (symbols as int arrays, shapes [H,hz,wz] / [M,hy,wy]);
    ``streams(z_sym, y_sym) -> (z_bytes, y_bytes)``;
    ``parse(z_bytes, y_bytes, hz, wz) -> (z_sym, y_sym)``; ``synthesize(z_sym, y_sym, h, w)
    -> uint8 [h, w, 3]``. The decoder side depends only on integers until ``synthesize``.
    """

    def __init__(self, tensors: dict, dtype=torch.float32):
        import numpy as np
        cfg = [int(v) for v in tensors["config"].tolist()]
        self.N, self.M, self.H, self.z_radius, self.y_radius, self.frac, shift = cfg
        self.dtype = dtype
        net = MeanScaleHyperprior(self.N, self.M, self.H)
        sd = {k: v.to(torch.float32) for k, v in tensors.items() if k.startswith(_FLOAT_PARTS)}
        missing = [k for k in net.state_dict() if k.startswith(_FLOAT_PARTS) and k not in sd]
        if missing:
            raise ValueError(f"weights lack {missing[:3]}")
        net.load_state_dict(sd, strict=False)
        self.net = net.to(dtype).eval()
        ints = [(tensors[f"h_s.int.{i}.weight"].numpy(), tensors[f"h_s.int.{i}.bias"].numpy())
                for i in range(3)]
        self.hyper_net = [("conv", *ints[0], shift), ("shuffle", 2), ("relu",),
                          ("conv", *ints[1], shift), ("shuffle", 2), ("relu",),
                          ("conv", *ints[2], shift)]
        self.z_table = np.ascontiguousarray(tensors["prior.table"].numpy())
        self.y_table = np.ascontiguousarray(tensors["gaussian.table"].numpy())
        self.thresholds = tensors["gaussian.thresholds"].numpy().astype(np.int64)
        self._last = None

    # -- the integer hyper path: identical on every machine --------------------------------
    def hyper(self, z_sym, step: int = STEP_ONE):
        """Hyper-latent symbols -> (fixed-point means int64 [M,hy,wy], scale indices).

        ``step`` is the quantization step in 1/STEP_ONE units: the index compares
        scale / step with the thresholds as ``S * STEP_ONE >= T * step`` (exact integers)."""
        import hashlib

        import numpy as np

        from .intnet import run
        z = np.ascontiguousarray(z_sym, dtype=np.int64)
        key = (hashlib.sha256(z.tobytes()).digest(), z.shape, int(step))
        hit = self._last
        if hit is not None and hit[0] == key:
            return hit[1]
        out = run(self.hyper_net, (z - self.z_radius) << self.frac)
        means, scales = out[:self.M], out[self.M:]
        index = np.searchsorted(self.thresholds * int(step), scales * STEP_ONE, side="right")
        self._last = (key, (means, index))   # encode and decode each need it twice
        return means, index

    def analyse(self, rgb, step: int = STEP_ONE):
        import numpy as np
        h, w, _ = rgb.shape
        ph, pw = -h % 64, -w % 64
        x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].to(self.dtype)
        x = torch.nn.functional.pad(x / 255.0, (0, pw, 0, ph), mode="replicate")
        with torch.no_grad():
            y = self.net.g_a(x)
            z = self.net.h_a(y)
        zr, yr = self.z_radius, self.y_radius
        z_sym = (np.clip(np.rint(z[0].double().numpy()), -zr, zr) + zr).astype(np.int32)
        means, _ = self.hyper(z_sym, step)
        mu = means.astype(np.float64) / (1 << self.frac)
        q = (y[0].double().numpy() - mu) * (STEP_ONE / step)
        y_sym = (np.clip(np.rint(q), -yr, yr) + yr).astype(np.int32)
        return z_sym, y_sym

    def streams(self, z_sym, y_sym, step: int = STEP_ONE):
        import numpy as np

        from .coding import encode_tables
        z_index = np.broadcast_to(np.arange(self.H)[:, None, None], z_sym.shape)
        _, y_index = self.hyper(z_sym, step)
        return (encode_tables(z_sym, z_index, self.z_table),
                encode_tables(y_sym, y_index, self.y_table))

    def parse(self, z_bytes, y_bytes, hz, wz, step: int = STEP_ONE):
        import numpy as np

        from .coding import decode_tables
        z_index = np.broadcast_to(np.arange(self.H)[:, None, None], (self.H, hz, wz))
        z_sym = decode_tables(z_bytes, z_index, self.z_table).reshape(self.H, hz, wz)
        _, y_index = self.hyper(z_sym, step)
        y_sym = decode_tables(y_bytes, y_index, self.y_table).reshape(y_index.shape)
        return z_sym, y_sym

    def synthesize(self, z_sym, y_sym, h, w, step: int = STEP_ONE):
        import numpy as np
        means, _ = self.hyper(z_sym, step)
        # exact in float64: integer * step / 2^8 + integer / 2^12
        r = (np.asarray(y_sym, np.int64) - self.y_radius) * int(step)
        y_hat = r / float(STEP_ONE) + means / float(1 << self.frac)
        with torch.no_grad():
            x = self.net.g_s(torch.from_numpy(y_hat)[None].to(self.dtype))
        x = x[0, :, :h, :w].clamp(0, 1).mul(255).round().to(torch.uint8)
        return x.permute(1, 2, 0).contiguous().numpy()
