"""ENVC-small (codec ``envc``, code 15): cross-scale flow P frames.

A P frame is predicted from the previous decoded frame by one **cross-scale flow** per
16 x 16 block: (dx, dy) in quarter pels and a scale symbol s in 0..4, the level s / 2 of a
3-level Gaussian pyramid volume of the reference (``motion.pyramid_volume``: sharp, /2,
/4 brought back to full size). The block vectors are interpolated bilinearly to a dense
field and the volume is sampled trilinearly with a 5-D ``grid_sample``
(``motion.scale_space_warp``): where motion is unreliable (occlusions, blur, noise) the
encoder picks a coarser scale and the prediction gets smoother, ENVC's "scale sets the
precision of the prediction". The frame is then coded by the conditional residual coder
``lvc-res-1`` given that prediction.

Option ``cross_scale`` (default True): False forces scale level 0 everywhere (plain
bilinear warp of the reference, no scale symbols: the single-scale ablation). Option
``refine`` (default 20): encoder iterations that refine the block fields (DIS block means,
best scale per block) by gradient descent on the prediction error of the interpolated
fields (``motion.refine``); 0 takes them as they are. Where the scales' gain is not worth
their bits at the crf (prediction MSE + lambda x bits, lambda as the residual skip's), a
frame's scale symbols are all 0 (nearly free).

Option ``weights`` (default True): ENVC's cross-scale **weight map** for weighted prediction
from one reference: one more per-block symbol w in 0..WEIGHTS (4), interpolated bilinearly
like the flow (``motion.dense``), and prediction = m + (dense(w) / 4) x (warp - m), with m
the reference's per-channel mean (``ref_mean``: the integer sum of the uint8 reference's
channel over its H x W pixels, divided by 255 H W). w = 4 everywhere is the plain warp;
lower w fades the prediction toward the mean (fades, occlusions, noise). The encoder picks
each block's w (the best of the 5 on the block's prediction error after refinement) and
sends w = 4 everywhere (nearly free) where the map's gain is not worth its bits, as for the
scales. False (the ablation): no weight field.

Header extension: 1 byte, flags (bit 0: cross_scale; bit 1: weights; other bits 0).
P frame sub-streams: [flow, z, y], or [flow] alone (residual skipped: the frame is the
prediction rounded to 8 bits, ``Scheme.res_code``); flow = ``motion.encode_fields`` of [dx, dy],
then s with cross_scale, then w with weights (C = 2, 3 or 4) on the ceil(H/16) x
ceil(W/16) block grid, no temporal prediction.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ....errors import CodecError
from .motion import (FLOW_MAX, QPEL, block_flow, decode_fields, dense, encode_fields, estimate,
                     field_bits, pyramid_volume, rd_fields, refine, scale_space_warp,
                     to_tensor, warp)
from .scheme import Scheme

__all__ = ["EnvcScheme", "SCALES", "PYRAMID", "WEIGHTS", "ref_mean"]

#: scale symbols 0..SCALES-1 (level = s / 2)
SCALES = 5
#: pyramid levels of the reference volume
PYRAMID = 3
#: weight symbols 0..WEIGHTS (prediction weight w / WEIGHTS)
WEIGHTS = 4


def ref_mean(ref, height: int, width: int, dtype):
    """Per-channel mean [1, 3, 1, 1] of the uint8 reference [H', W', 3] over its first
    ``height`` x ``width`` pixels, in 0..1: the exact integer sum / (255 H W)."""
    import numpy as np
    import torch
    sums = np.asarray(ref[:height, :width], np.int64).sum(axis=(0, 1))
    m = [int(v) / (255 * height * width) for v in sums]
    return torch.tensor(m, dtype=dtype).view(1, 3, 1, 1)


class EnvcScheme(Scheme):
    key: ClassVar[str] = "envc"
    options: ClassVar[dict[str, Any]] = {"cross_scale": True, "weights": True, "refine": 20,
                                         "rd": 2}
    n_refs: ClassVar[int] = 1

    # -- header ------------------------------------------------------------------------------
    @property
    def cross(self) -> bool:
        return bool(self.opts["cross_scale"])

    @property
    def weighted(self) -> bool:
        return bool(self.opts["weights"])

    def ext(self) -> bytes:
        return bytes([(1 if self.cross else 0) | (2 if self.weighted else 0)])

    def read_ext(self, ext: bytes) -> None:
        if len(ext) != 1 or ext[0] > 3:
            raise CodecError(f"envc payload: header extension must be 1 flag byte (0..3), "
                             f"got {bytes(ext).hex() or 'nothing'}")
        self.opts["cross_scale"] = bool(ext[0] & 1)
        self.opts["weights"] = bool(ext[0] & 2)

    # -- prediction (encoder and decoder) ------------------------------------------------
    def _blocks(self) -> tuple[int, int]:
        return -(-self.height // 16), -(-self.width // 16)

    def _ref(self):
        (refp,) = self.padded_refs()[-1:]
        ref = to_tensor(refp, self.dtype)
        return ref, (pyramid_volume(ref, PYRAMID) if self.cross else None)

    def _mean(self):
        (refp,) = self.padded_refs()[-1:]
        return ref_mean(refp, self.height, self.width, self.dtype)

    def _warp(self, fields, ref, vol, crop: bool = True, mean=None):
        """Prediction [1, 3, H, W] from integer block fields [C, hb, wb] (``crop`` False:
        the padded size hb*16 x wb*16). ``mean`` (weights on): the last field is w."""
        import torch
        g = torch.from_numpy(fields.astype("float64")).to(self.dtype)[None]
        if mean is not None:
            p = self._warp_grid(g[:, :-1], ref, vol)
            p = mean + dense(g[:, -1:]) / WEIGHTS * (p - mean)
        else:
            p = self._warp_grid(g, ref, vol)
        return p[:, :, :self.height, :self.width] if crop else p

    @staticmethod
    def _warp_grid(g, ref, vol):
        """Prediction (padded size) from a float block grid [1, C, hb, wb]."""
        d = dense(g)
        flow = d[:, :2] / QPEL
        if vol is None:
            return warp(ref, flow)
        return scale_space_warp(vol, flow, d[:, 2:3] / 2)

    # -- coding ------------------------------------------------------------------------------
    def encode_inter(self, x):
        import numpy as np
        import torch
        from torch.nn import functional as F

        hb, wb = self._blocks()
        (refp,) = self.padded_refs()[-1:]
        xp = np.pad(x, ((0, hb * 16 - self.height), (0, wb * 16 - self.width), (0, 0)),
                    mode="edge")
        xt = to_tensor(xp, self.dtype)
        fields = block_flow(estimate(xp, refp, self.opts["motion"]))
        ref, vol = self._ref()
        bounds = [(-FLOW_MAX, FLOW_MAX)] * 2
        if vol is not None:
            errs = []
            for s in range(SCALES):
                f = np.concatenate([fields, np.full((1, hb, wb), s, np.int32)])
                p = self._warp(f, ref, vol, crop=False)
                errs.append(F.avg_pool2d(((p - xt) ** 2).sum(1, keepdim=True), 16)[0, 0])
            best = torch.stack(errs).argmin(0).numpy().astype(np.int32)
            fields = np.concatenate([fields, best[None]])
            bounds.append((0, SCALES - 1))
        ref32 = ref.to(torch.float32)
        vol32 = None if vol is None else vol.to(torch.float32)
        fields = refine(fields, lambda g: self._warp_grid(g, ref32, vol32), xt, bounds,
                        self.opts["refine"])
        if vol is not None and fields[2].any():
            # scale level 0 everywhere (nearly free) where the scales' gain is not worth
            # their bits at the crf's lambda
            flat = fields.copy()
            flat[2] = 0
            lam = self.lam / (hb * wb * 256)
            cost = [float(((self._warp(f, ref, vol, crop=False) - xt) ** 2).mean())
                    + lam * field_bits(f[2]) for f in (fields, flat)]
            if cost[1] <= cost[0]:
                fields = flat
        mean = None
        if self.weighted:
            mean = self._mean()
            p = self._warp(fields, ref, vol, crop=False)
            errs = [F.avg_pool2d(((mean + w / WEIGHTS * (p - mean) - xt) ** 2)
                                 .sum(1, keepdim=True), 16)[0, 0] for w in range(WEIGHTS + 1)]
            wmap = torch.stack(errs).argmin(0).numpy().astype(np.int64)
            full = np.full((1, hb, wb), WEIGHTS, np.int64)
            fields = np.concatenate([fields, full])
            if (wmap != WEIGHTS).any():
                # w = WEIGHTS everywhere (nearly free) where the map's gain is not worth
                # its bits at the crf's lambda
                cand = np.concatenate([fields[:-1], wmap[None]])
                lam = self.lam / (hb * wb * 256)
                cost = [float(((self._warp(f, ref, vol, crop=False, mean=mean) - xt) ** 2)
                              .mean()) + lam * field_bits(f[-1]) for f in (cand, fields)]
                if cost[0] < cost[1]:
                    fields = cand
        if self.opts["rd"]:
            fields = self._rd(fields, ref32, vol32, xt, mean)
        data = encode_fields(fields)
        pred = self._warp(fields, ref, vol, mean=mean)
        res, x_hat = self.res_code(x, pred)
        return [data, *res], x_hat

    def _rd(self, fields, ref32, vol32, xt, mean):
        """Rate-distortion optimised fields (``motion.rd_fields``, ``rd`` passes) at the
        crf's lambda, the one of the residual skip."""
        import torch
        lam = self.lam
        groups = [(0, 1)] + [(c,) for c in range(2, fields.shape[0])]
        bounds = [(-FLOW_MAX, FLOW_MAX)] * 2
        if self.cross:
            bounds.append((0, SCALES - 1))
        m32 = None if mean is None else mean.to(torch.float32)
        if m32 is not None:
            bounds.append((0, WEIGHTS))

        def predict(g):
            if m32 is None:
                return self._warp_grid(g, ref32, vol32)
            p = self._warp_grid(g[:, :-1], ref32, vol32)
            return m32 + dense(g[:, -1:]) / WEIGHTS * (p - m32)

        return rd_fields(fields, predict, xt, lam, groups, bounds, passes=self.opts["rd"],
                         valid=(self.height, self.width))

    def decode_inter(self, streams: list):
        if len(streams) < 1:
            raise CodecError(f"envc payload frame {self.index}: a P frame has a flow "
                             f"sub-stream and the residual's")
        hb, wb = self._blocks()
        c = 2 + int(self.cross) + int(self.weighted)
        fields = decode_fields(streams[0], c, hb, wb)
        if self.cross and (fields[2].min() < 0 or fields[2].max() >= SCALES):
            raise CodecError(f"envc payload frame {self.index}: scale symbol outside "
                             f"0..{SCALES - 1}")
        if self.weighted and (fields[-1].min() < 0 or fields[-1].max() > WEIGHTS):
            raise CodecError(f"envc payload frame {self.index}: weight symbol outside "
                             f"0..{WEIGHTS}")
        self.note(fields)
        ref, vol = self._ref()
        mean = self._mean() if self.weighted else None
        return self.res_uncode(streams[1:], self._warp(fields, ref, vol, mean=mean))
