"""VLVC-small (codec ``vlvc``, code 16): voxel flows with flow prediction.

A P frame is predicted from a stack of the 2 previous decoded frames ([1, 3, 2, H, W],
index 0 = frame t-1, 1 = frame t-2; after an I frame, while only one exists, both are
it) by K = 2 **voxel flows** per 16 x 16 block: (dx, dy) in quarter pels and a time
symbol t in 0..4 (dt = t / 4 frames back from t-1), each sampled trilinearly with a 5-D
``grid_sample`` (``motion.voxel_warp``), mixed by a per-block weight symbol w in 0..4
(pred = w/4 * p1 + (1 - w/4) * p2; all seven block fields interpolated bilinearly to
dense fields first). One model covers single- and multi-reference prediction alike: the
encoder points flow 1 at t-1 (t = 0) and flow 2 at t-2 (t = 4) and picks the weights.

**Flow prediction** (option ``flow_prediction``, default True): each of the seven block
fields of frame t is coded against a temporal prediction from the fields decoded in the
previous P frames (since the last I frame) of an order the encoder picks per field and
sends (one byte each): 0 none, 1 f[t-1], 2 the polynomial (linear) extrapolation
2 f[t-1] - f[t-2] (a lower order where the history is shorter), clamped to +-255; only
the difference is coded. The encoder starts the refinement of a block from f[t-1] where
that predicts it better than the estimate and pulls the refined fields gently towards
f[t-1], so steady motion costs little. (Also snapping a block to the predicted values where
they predicted it about as well cost more bits than it saved: the fields became a
patchwork.) False codes the fields alone (all orders 0: the ablation).
Option ``refine`` (default 20): encoder iterations of ``motion.refine`` on all seven fields
(0: the DIS block means with t1 = 0, t2 = 4, w = 2). Where the second flow's gain is not
worth its bits (prediction MSE + lambda x estimated bits, lambda as the residual skip's),
the encoder sends one flow (w = 4 everywhere, flow 2 all zeros: nearly free).

Header extension: 2 bytes, flags u8 (bit 0: flow_prediction; others 0) | K u8 (= 2).
P frame sub-streams: [flow, z, y], or [flow] alone (residual skipped: the frame is the
prediction rounded to 8 bits, ``Scheme.res_code``); flow = 7 order bytes (0..2; all 0 without flow
prediction) + ``motion.encode_fields`` of the 7 fields [dx1, dy1, t1, dx2, dy2, t2, w]
on the ceil(H/16) x ceil(W/16) grid with the per-field temporal predictions.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ....errors import CodecError
from .motion import (FLOW_MAX, QPEL, block_flow, decode_fields, dense, encode_fields, estimate,
                     field_bits, rd_fields, refine, to_tensor, voxel_warp)
from .scheme import Scheme

__all__ = ["VlvcScheme", "K", "TIMES", "WEIGHTS"]

#: voxel flows per block
K = 2
#: time symbols 0..TIMES-1 (dt = t / 4 frames)
TIMES = 5
#: weight symbols 0..WEIGHTS-1 (flow 1 weight = w / 4)
WEIGHTS = 5
_C = 3 * K + 1
#: weight of the refinement's pull towards the previous fields (flow prediction)
_ANCHOR = 1e-6


class VlvcScheme(Scheme):
    key: ClassVar[str] = "vlvc"
    options: ClassVar[dict[str, Any]] = {"flow_prediction": True, "refine": 20, "rd": 2}
    n_refs: ClassVar[int] = 2

    def __init__(self, head, dtype, opts):
        super().__init__(head, dtype, opts)
        self.history: list = []     # decoded block fields of the last P frames, newest last

    # -- header ------------------------------------------------------------------------------
    def ext(self) -> bytes:
        return bytes([1 if self.opts["flow_prediction"] else 0, K])

    def read_ext(self, ext: bytes) -> None:
        if len(ext) != 2 or ext[0] > 1 or ext[1] != K:
            raise CodecError(f"vlvc payload: header extension must be flags (0 or 1) and "
                             f"K = {K}, got {bytes(ext).hex() or 'nothing'}")
        self.opts["flow_prediction"] = bool(ext[0])

    def reset(self) -> None:
        self.history = []

    # -- prediction (encoder and decoder) ------------------------------------------------
    def _blocks(self) -> tuple[int, int]:
        return -(-self.height // 16), -(-self.width // 16)

    def _field_prediction(self, order: int):
        """The temporal prediction of order 0 (none), 1 (f[t-1]) or 2 (2 f[t-1] - f[t-2]),
        lower where the history is shorter; None for none."""
        import numpy as np
        order = min(order, len(self.history))
        if order == 0:
            return None
        if order == 1:
            return self.history[-1].copy()
        return np.clip(2 * self.history[-1] - self.history[-2], -255, 255)

    def _combined(self, orders):
        """Per-field temporal prediction [C, hb, wb] for the field orders (None: all 0)."""
        import numpy as np
        if not any(orders):
            return None
        hb, wb = self._blocks()
        out = np.zeros((_C, hb, wb), np.int64)
        for c, o in enumerate(orders):
            p = self._field_prediction(o)
            if p is not None:
                out[c] = p[c]
        return out

    def _stack(self):
        import torch

        refs = self.padded_refs()
        r1 = to_tensor(refs[-1], self.dtype)
        r2 = to_tensor(refs[-2], self.dtype) if len(refs) > 1 else r1
        return torch.stack([r1, r2], 2)

    def _warps(self, fields, stack):
        """The two voxel-flow predictions and the dense weight, padded size."""
        import torch
        g = torch.from_numpy(fields.astype("float64")).to(self.dtype)[None]
        return self._warps_grid(g, stack)

    @staticmethod
    def _warps_grid(g, stack):
        d = dense(g)
        p1 = voxel_warp(stack, d[:, 0:2] / QPEL, d[:, 2:3] / 4)
        p2 = voxel_warp(stack, d[:, 3:5] / QPEL, d[:, 5:6] / 4)
        return p1, p2, d[:, 6:7] / 4

    @classmethod
    def _blend_grid(cls, g, stack):
        p1, p2, wgt = cls._warps_grid(g, stack)
        return wgt * p1 + (1 - wgt) * p2

    def _predict(self, fields, stack):
        p1, p2, wgt = self._warps(fields, stack)
        p = wgt * p1 + (1 - wgt) * p2
        return p[:, :, :self.height, :self.width]

    # -- coding ------------------------------------------------------------------------------
    def encode_inter(self, x):
        import numpy as np
        import torch
        from torch.nn import functional as F

        hb, wb = self._blocks()
        refs = self.padded_refs()
        xp = np.pad(x, ((0, hb * 16 - self.height), (0, wb * 16 - self.width), (0, 0)),
                    mode="edge")
        xt = to_tensor(xp, self.dtype)
        stack = self._stack()
        motion = self.opts["motion"]
        f1 = block_flow(estimate(xp, refs[-1], motion))
        two = len(refs) > 1
        f2 = block_flow(estimate(xp, refs[-2], motion)) if two else f1
        t2 = TIMES - 1 if two else 0
        fields = np.concatenate([f1, np.zeros((1, hb, wb), np.int32), f2,
                                 np.full((1, hb, wb), t2, np.int32),
                                 np.full((1, hb, wb), WEIGHTS // 2, np.int32)]).astype(np.int64)
        bounds = [(-FLOW_MAX, FLOW_MAX)] * 2 + [(0, TIMES - 1)]
        bounds = bounds * 2 + [(0, WEIGHTS - 1)]
        stack32 = stack.to(torch.float32)

        def block_err(f):
            p = self._blend_grid(torch.from_numpy(f.astype("float64")).to(self.dtype)[None],
                                 stack)
            return F.avg_pool2d(((p - xt) ** 2).sum(1, keepdim=True), 16)[0, 0].numpy()

        anchor = None
        if self.opts["flow_prediction"] and self.history:
            # start from the last fields where they predict better than the estimate, and
            # keep the refined fields near them (cheap to code against the prediction)
            anchor = self._field_prediction(1)
            better = block_err(anchor) < block_err(fields)
            fields = np.where(better[None], anchor, fields)
        fields = refine(fields, lambda g: self._blend_grid(g, stack32), xt, bounds,
                        self.opts["refine"], anchor=anchor, weight=_ANCHOR)
        # one flow (w = 4: flow 2 unused, its fields constant and almost free) where the
        # second flow's gain is not worth its bits
        single = fields.copy()
        single[3:6] = 0
        single[6] = WEIGHTS - 1
        lam = self.lam / (hb * wb * 256)
        cost = [float(block_err(f).mean()) / 3 + lam * sum(field_bits(c) for c in f)
                for f in (fields, single)]
        if cost[1] <= cost[0]:
            fields = single
        if self.opts["rd"]:
            # rate-distortion optimised fields at the crf's lambda, their bits counted
            # against f[t-1] (the usual temporal prediction; each field's order is picked
            # below)
            fields = rd_fields(fields, lambda g: self._blend_grid(g, stack32), xt,
                               self.lam,
                               [(0, 1), (2,), (3, 4), (5,), (6,)], bounds,
                               prediction=anchor, passes=self.opts["rd"],
                               valid=(self.height, self.width))

        orders = [0] * _C
        if self.opts["flow_prediction"] and self.history:
            # each field's cheapest prediction order
            preds = [self._field_prediction(o) for o in range(len(self.history) + 1)]
            for c in range(_C):
                bits = [field_bits(fields[c], None if p is None else p[c]) for p in preds]
                orders[c] = int(np.argmin(bits))
        data = bytes(orders) + encode_fields(fields, self._combined(orders))
        pred = self._predict(fields, stack)
        res, x_hat = self.res_code(x, pred)
        self.history = (self.history + [fields])[-2:]
        return [data, *res], x_hat

    def decode_inter(self, streams: list):
        if len(streams) < 1:
            raise CodecError(f"vlvc payload frame {self.index}: a P frame has a flow "
                             f"sub-stream and the residual's")
        hb, wb = self._blocks()
        flow = streams[0]
        if len(flow) < _C:
            raise CodecError(f"vlvc payload frame {self.index}: flow sub-stream truncated")
        orders = list(flow[:_C])
        if max(orders) > 2 or (not self.opts["flow_prediction"] and any(orders)):
            raise CodecError(f"vlvc payload frame {self.index}: flow prediction orders "
                             f"{orders} (0..2; 0 without flow prediction)")
        fields = decode_fields(flow[_C:], _C, hb, wb, self._combined(orders))
        for c, n, what in ((2, TIMES, "time"), (5, TIMES, "time"), (6, WEIGHTS, "weight")):
            if fields[c].min() < 0 or fields[c].max() >= n:
                raise CodecError(f"vlvc payload frame {self.index}: {what} symbol outside "
                                 f"0..{n - 1}")
        self.note(fields)
        x_hat = self.res_uncode(streams[1:], self._predict(fields, self._stack()))
        self.history = (self.history + [fields])[-2:]
        return x_hat
