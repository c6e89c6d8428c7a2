"""VLVC-small (codec ``vlvc``, code 16): voxel flows with flow prediction.

A P frame is predicted from a stack of the 2 previous decoded frames ([1, 3, 2, H, W],
index 0 = frame t-1, 1 = frame t-2; after an I frame, while only one exists, both are
it) by K = 2 **voxel flows** per 16 x 16 block: (dx, dy) in quarter pels and a time
symbol t in 0..4 (dt = t / 4 frames back from t-1), each sampled trilinearly with a 5-D
``grid_sample`` (``motion.voxel_warp``), mixed by a per-block weight symbol w in 0..4
(pred = w/4 * p1 + (1 - w/4) * p2; all seven block fields interpolated bilinearly to
dense fields first). One model covers single- and multi-reference prediction alike: the
encoder points flow 1 at t-1 (t = 0) and flow 2 at t-2 (t = 4) and picks the weights.

**Flow prediction** (option ``flow_prediction``, default True): the seven block fields of
frame t are predicted from the decoded fields of the two previous P frames by the
polynomial (linear) extrapolation 2 f[t-1] - f[t-2] (f[t-1] when only one exists, none
after an I frame), clamped to +-255; only the difference is coded (the encoder takes the
predicted vector of a block whenever it predicts that block about as well as the
estimated one, so smooth motion costs almost nothing). False codes the fields alone (the
ablation).

Header extension: 2 bytes, flags u8 (bit 0: flow_prediction; others 0) | K u8 (= 2).
P frame sub-streams: [flow, z, y]; flow = ``motion.encode_fields`` of the 7 fields
[dx1, dy1, t1, dx2, dy2, t2, w] on the ceil(H/16) x ceil(W/16) grid with the prediction
above.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ....errors import CodecError
from .scheme import Scheme

__all__ = ["VlvcScheme", "K", "TIMES", "WEIGHTS"]

#: voxel flows per block
K = 2
#: time symbols 0..TIMES-1 (dt = t / 4 frames)
TIMES = 5
#: weight symbols 0..WEIGHTS-1 (flow 1 weight = w / 4)
WEIGHTS = 5
_C = 3 * K + 1
#: the encoder keeps the predicted vector when its block error is within this factor
_KEEP = 1.05


class VlvcScheme(Scheme):
    key: ClassVar[str] = "vlvc"
    options: ClassVar[dict[str, Any]] = {"flow_prediction": True}
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

    def _field_prediction(self):
        import numpy as np
        if not self.opts["flow_prediction"] or not self.history:
            return None
        if len(self.history) == 1:
            return self.history[-1].copy()
        return np.clip(2 * self.history[-1] - self.history[-2], -255, 255)

    def _stack(self):
        import torch

        from .motion import to_tensor
        refs = self.padded_refs()
        r1 = to_tensor(refs[-1], self.dtype)
        r2 = to_tensor(refs[-2], self.dtype) if len(refs) > 1 else r1
        return torch.stack([r1, r2], 2)

    def _warps(self, fields, stack):
        """The two voxel-flow predictions and the dense weight, padded size."""
        import torch

        from .motion import QPEL, dense, voxel_warp
        g = torch.from_numpy(fields.astype("float64")).to(self.dtype)[None]
        d = dense(g)
        p1 = voxel_warp(stack, d[:, 0:2] / QPEL, d[:, 2:3] / 4)
        p2 = voxel_warp(stack, d[:, 3:5] / QPEL, d[:, 5:6] / 4)
        return p1, p2, d[:, 6:7] / 4

    def _predict(self, fields, stack):
        p1, p2, wgt = self._warps(fields, stack)
        p = wgt * p1 + (1 - wgt) * p2
        return p[:, :, :self.height, :self.width]

    # -- coding ------------------------------------------------------------------------------
    def encode_inter(self, x):
        import numpy as np
        import torch
        from torch.nn import functional as F

        from .motion import block_flow, encode_fields, estimate, to_tensor
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
        t2 = 4 if two else 0
        fields = np.concatenate([f1, np.zeros((1, hb, wb), np.int32), f2,
                                 np.full((1, hb, wb), t2, np.int32),
                                 np.full((1, hb, wb), 2, np.int32)]).astype(np.int64)

        def block_err(p):
            return F.avg_pool2d(((p - xt) ** 2).sum(1, keepdim=True), 16)[0, 0].numpy()

        prediction = self._field_prediction()
        if prediction is not None:
            # per flow: keep the predicted vector (and time) of a block where it predicts
            # about as well as the estimate
            for k in range(K):
                sl = slice(3 * k, 3 * k + 3)
                cand = fields.copy()
                cand[sl] = prediction[sl]
                cand[sl.start + 2] = np.clip(cand[sl.start + 2], 0, TIMES - 1)
                pa = self._warps(fields, stack)[k]
                pb = self._warps(cand, stack)[k]
                keep = block_err(pb) <= _KEEP * block_err(pa)
                fields[sl] = np.where(keep[None], cand[sl], fields[sl])
        p1, p2, _ = self._warps(fields, stack)
        errs = [block_err(w / 4 * p1 + (1 - w / 4) * p2) for w in range(WEIGHTS)]
        fields[6] = np.argmin(np.stack(errs), 0)
        data = encode_fields(fields, prediction)
        pred = self._predict(fields, stack)
        res, x_hat = self.res_encode(x, pred)
        self.history = (self.history + [fields])[-2:]
        return [data, *res], x_hat

    def decode_inter(self, streams: list):
        from .motion import decode_fields
        if len(streams) < 1:
            raise CodecError(f"vlvc payload frame {self.index}: a P frame has a flow "
                             f"sub-stream and the residual's")
        hb, wb = self._blocks()
        fields = decode_fields(streams[0], _C, hb, wb, self._field_prediction())
        for c, n, what in ((2, TIMES, "time"), (5, TIMES, "time"), (6, WEIGHTS, "weight")):
            if fields[c].min() < 0 or fields[c].max() >= n:
                raise CodecError(f"vlvc payload frame {self.index}: {what} symbol outside "
                                 f"0..{n - 1}")
        self.note(fields)
        x_hat = self.res_decode(streams[1:], self._predict(fields, self._stack()))
        self.history = (self.history + [fields])[-2:]
        return x_hat
