"""The P-frame residual coder of the learned video codecs (``zoo`` arch ``"lvcres"``, key
``lvc-res-1``): a frozen :class:`.residual_model.ConditionalHyperprior`.

``coder.encode(x, pred, step) -> (streams, x_hat)`` codes frame ``x`` (uint8 [H, W, 3])
given its prediction ``pred`` (float torch [1, 3, H, W] in 0..1, the same H, W; the coder
pads both to a multiple of 64 by replicating the border and crops the output);
``streams = [z_bytes, y_bytes]``; ``x_hat`` (uint8 [H, W, 3]) is exactly what
``coder.decode(streams, pred, step)`` returns on the same machine and dtype. ``step`` is the
latent quantization step in 1/256 units (256 = the trained step), 1..65535.

Platform safety: the hyper-latent symbols z are coded with the factorized prior's frozen
integer table; the means and the scale-table indices of the latents come from z alone
through the integer hyper-synthesis (:mod:`..intnet`); latents are fixed-point integers
``mean + (r - Y_RADIUS) * step * 16`` (12 fractional bits). So every decoded symbol is the
same on every machine, thread count and dtype; only the synthesis g_s (float, reading the
prediction) may differ by rounding. Any size works; a 64 x 64 tile is one hyper-latent
(what ssvc's tile-local coding calls per tile).

Errors: a stream that does not decode, a wrong stream count or shapes -> ``CodecError``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from ....errors import CodecError
from ..coding import CodingError, TableDecoder, TableEncoder
from .residual_model import FLOAT_PARTS, STEP_ONE, VERSION, ConditionalHyperprior

__all__ = ["ResidualCoder", "STEP_ONE"]

#: the padding unit (the hyper-latent stride)
TILE = 64


class ResidualCoder:
    tile = TILE

    def __init__(self, tensors: dict, dtype=torch.float32):
        cfg = [int(v) for v in tensors["config"].tolist()]
        if len(cfg) != 11 or cfg[0] != VERSION:
            raise ValueError(f"lvcres weights: unknown config {cfg[:2]}")
        (_, self.N, self.M, self.H, c1, c2, c3, self.z_radius, self.y_radius, self.frac,
         self.shift) = cfg
        self.C = (c1, c2, c3)
        self.dtype = dtype
        net = ConditionalHyperprior(self.N, self.M, self.H, self.C)
        sd = {k: v.to(torch.float32) for k, v in tensors.items() if k.startswith(FLOAT_PARTS)}
        missing = [k for k in net.state_dict() if k.startswith(FLOAT_PARTS) and k not in sd]
        if missing:
            raise ValueError(f"lvcres weights lack {missing[:3]}")
        net.load_state_dict(sd, strict=False)
        self.ctx = net.ctx.to(dtype).eval()
        self.g_a = net.g_a.to(dtype).eval()
        self.h_a = net.h_a.to(dtype).eval()
        self.g_s = net.g_s.to(dtype).eval()
        ints = [(tensors[f"h_s.int.{i}.weight"].numpy().astype(np.int64),
                 tensors[f"h_s.int.{i}.bias"].numpy().astype(np.int64)) for i in range(3)]
        s = self.shift
        self.hyper_net = [("conv", *ints[0], s), ("shuffle", 2), ("relu",),
                          ("conv", *ints[1], s), ("shuffle", 2), ("relu",),
                          ("conv", *ints[2], s)]
        self.z_table = np.ascontiguousarray(tensors["prior.table"].numpy())
        self.y_table = np.ascontiguousarray(tensors["gaussian.table"].numpy())
        self.thresholds = tensors["gaussian.thresholds"].numpy().astype(np.int64)

    # -- shapes and inputs -----------------------------------------------------------------
    @staticmethod
    def _step(step) -> int:
        step = int(step)
        if not 1 <= step <= 0xFFFF:
            raise CodecError(f"lvc residual step {step} outside 1..65535")
        return step

    def _pred(self, pred, h: int | None = None, w: int | None = None):
        """``pred`` as a padded [1, 3, H64, W64] tensor of the coder's dtype, and (h, w)."""
        if not isinstance(pred, torch.Tensor):
            pred = torch.as_tensor(np.asarray(pred))
        if pred.dim() != 4 or pred.shape[0] != 1 or pred.shape[1] != 3 or \
                pred.shape[2] < 1 or pred.shape[3] < 1:
            raise CodecError(f"lvc residual: prediction must be [1, 3, H, W], not "
                             f"{list(pred.shape)}")
        ph, pw = int(pred.shape[2]), int(pred.shape[3])
        if h is not None and (ph, pw) != (h, w):
            raise CodecError(f"lvc residual: prediction {pw}x{ph} and frame {w}x{h} differ")
        p = pred.detach().to(self.dtype)
        return F.pad(p, (0, -pw % TILE, 0, -ph % TILE), mode="replicate"), ph, pw

    # -- the integer hyper path: identical on every machine ----------------------------------
    def hyper(self, z_sym, step: int):
        """z symbols [H, hz, wz] -> (fixed-point means int64 [M, 4hz, 4wz], table indices)."""
        from ..intnet import run
        z = np.ascontiguousarray(z_sym, dtype=np.int64)
        out = run(self.hyper_net, (z - self.z_radius) << self.frac)
        means, scales = out[:self.M], out[self.M:]
        index = np.searchsorted(self.thresholds * int(step), scales * STEP_ONE, side="right")
        return means, index

    def _fixed(self, means, y_sym, step: int):
        """Fixed-point latents (FRAC bits): mean + (symbol - radius) * step / 256, exact."""
        unit = int(step) * (1 << self.frac) // STEP_ONE
        return means + (np.asarray(y_sym, np.int64) - self.y_radius) * unit

    def _synth(self, y_fixed, pred_p, h: int, w: int):
        y_hat = torch.from_numpy(np.asarray(y_fixed, np.float64) / float(1 << self.frac))
        with torch.no_grad():
            ctx = self.ctx(pred_p)
            x = self.g_s(y_hat[None].to(self.dtype), pred_p, ctx)
        x = x[0, :, :h, :w].clamp(0, 1).mul(255).round().to(torch.uint8)
        return x.permute(1, 2, 0).contiguous().numpy()

    # -- encoder -----------------------------------------------------------------------------
    def analyse(self, x, pred, step):
        """Encoder float analysis: (z_sym int32 [H,hz,wz], y_sym int32 [M,hy,wy], padded
        prediction, h, w)."""
        step = self._step(step)
        x = np.asarray(x)
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
            raise CodecError(f"lvc residual: frame must be uint8 [H, W, 3], not {x.dtype} "
                             f"{list(x.shape)}")
        h, w, _ = x.shape
        pred_p, _, _ = self._pred(pred, h, w)
        xt = torch.from_numpy(np.array(x, dtype=np.uint8)).permute(2, 0, 1)[None].to(self.dtype)
        xt = F.pad(xt / 255.0, (0, -w % TILE, 0, -h % TILE), mode="replicate")
        with torch.no_grad():
            ctx = self.ctx(pred_p)
            y = self.g_a(xt, pred_p, ctx)
            z = self.h_a(y)
        zr, yr = self.z_radius, self.y_radius
        z_sym = (np.clip(np.rint(z[0].double().numpy()), -zr, zr) + zr).astype(np.int32)
        means, _ = self.hyper(z_sym, step)
        q = (y[0].double().numpy() - means / float(1 << self.frac)) * (STEP_ONE / step)
        y_sym = (np.clip(np.rint(q), -yr, yr) + yr).astype(np.int32)
        return z_sym, y_sym, pred_p, h, w

    def encode(self, x, pred, step: int = STEP_ONE):
        """Code frame ``x`` given ``pred``: ``([z_bytes, y_bytes], x_hat uint8 [H, W, 3])``."""
        step = self._step(step)
        z_sym, y_sym, pred_p, h, w = self.analyse(x, pred, step)
        means, index = self.hyper(z_sym, step)
        z_index = np.broadcast_to(np.arange(self.H)[:, None, None], z_sym.shape)
        ez = TableEncoder(self.z_table)
        ez.push(z_sym, z_index)
        ey = TableEncoder(self.y_table)
        ey.push(y_sym, index)
        x_hat = self._synth(self._fixed(means, y_sym, step), pred_p, h, w)
        return [ez.bytes(), ey.bytes()], x_hat

    # -- decoder -----------------------------------------------------------------------------
    def decode_symbols(self, streams, h: int, w: int, step: int):
        """Integer decode of ``streams`` for an h x w frame: (z_sym, y_sym, fixed-point
        latents). CodecError if the streams do not decode."""
        step = self._step(step)
        if not isinstance(streams, (list, tuple)) or len(streams) != 2 or \
                not all(isinstance(s, (bytes, bytearray, memoryview)) for s in streams):
            raise CodecError("lvc residual: expected 2 byte streams (z, y)")
        hz, wz = -(-h // TILE), -(-w // TILE)
        z_index = np.broadcast_to(np.arange(self.H)[:, None, None], (self.H, hz, wz))
        try:
            z_sym = TableDecoder(bytes(streams[0]), self.z_table).pop(z_index)
            z_sym = z_sym.reshape(self.H, hz, wz)
            means, index = self.hyper(z_sym, step)
            y_sym = TableDecoder(bytes(streams[1]), self.y_table).pop(index)
        except (CodingError, ValueError, RuntimeError, OverflowError) as e:
            raise CodecError(f"lvc residual stream does not decode: {e}") from e
        y_sym = y_sym.reshape(index.shape)
        return z_sym, y_sym, self._fixed(means, y_sym, step)

    def decode(self, streams, pred, step: int = STEP_ONE):
        """The frame coded in ``streams`` (uint8 [H, W, 3], H, W those of ``pred``)."""
        pred_p, h, w = self._pred(pred)
        _, _, y_fixed = self.decode_symbols(streams, h, w, step)
        return self._synth(y_fixed, pred_p, h, w)
