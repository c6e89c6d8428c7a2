"""IMCLVC-small (codec ``imclvc``, code 18): learned motion estimation, conditional coding
with context mining, and a super-resolution low-rate mode (after the IMCLVC entry of the
CLIC 2024 video track).

* **Motion**: the encoder estimates a dense backward flow with SpyNet-mini
  (:mod:`.flownet`, weights ``lvc-flow-1``: a learned correction of OpenCV DIS; option
  ``flow="dis"``: DIS alone, the ablation), takes its 16 x 16 block means in quarter pels (``motion.block_flow``),
  optionally refines them on the prediction error (option ``refine``, encoder only,
  ``motion.refine``) and codes them as integers (``motion.encode_fields``, no temporal
  prediction). The decoder never runs a flow network: it reads the integer block flows,
  makes them dense (``motion.dense``) and warps the previous decoded frame
  (``motion.warp``).
* **Conditional coding / context mining**: the frame is coded by the conditional
  residual coder ``lvc-res-1`` given the warped prediction (its context net mines a
  multi-scale feature pyramid of the prediction that both g_a and g_s read).
* **Low-rate mode** (option ``sr=True``, or automatically when ``sr_from`` > 0 and crf >=
  ``sr_from``): every frame, I and P, is coded at half size (``ceil(W/2) x ceil(H/2)``,
  ``sr.downscale``: 2x2 means) and the P frames are predicted from the previous decoded
  HALF-size frame; each decoded half-size frame is brought back to full size by the
  spatial-temporal super-resolution head ``lvc-sr-1`` (:mod:`.sr`), which reads the
  half-size frame and the previous full-size output warped by the frame's flow (half-size
  dense flow upsampled x2). ``sr=False`` at the same crf is the ablation. The mode is
  off by default (``sr_from=0``): at crf 51 it cuts the rate ~3.5x (USC-SIPI 6.1 / 6.2:
  ~30 kbps instead of ~100-110) for 2.6 dB of PSNR, and its head gains only +0.28 /
  -0.04 dB over bicubic there (docs/model-card-lvc-sr.md); ask for it with ``sr=True``
  or ``sr_from=N``.

Header extension: ``flags`` u8 (bit 0: low-rate mode; other bits 0); when bit 0 is set,
``sr_model`` u8 (1 = ``lvc-sr-1``) and ``sr_hash`` (8 bytes, the SR weights' hash8) follow
(10 bytes in all; else 1 byte). P-frame sub-streams: ``[flow, z, y]``, or ``[flow]`` alone when the residual does not pay
for its bits (``Scheme.res_code``'s rule; the frame is then the prediction rounded); flow =
``motion.encode_fields`` of [dx, dy] on the ``ceil(h/16) x ceil(w/16)`` block grid of the
CODED size (half size in the low-rate mode). I frames: the ``sth-rdc-1`` payload streams of
the coded-size frame.

Platform safety: the symbols are the lvc family's (integer flow tables, the intra and
residual coders' integer hyper-networks). The SR head and the flow net only make pixels or
encoder decisions: the SR output is never a reference of the coded frames (the P frames of
the low-rate mode are predicted from the half-size decoded frames), so it moves output
pixels only, and each output is rounded to 8 bits.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ....errors import CodecError
from .._base import load_weights
from ..coding import CodingError
from .motion import (FLOW_MAX, QPEL, block_flow, decode_fields, dense, encode_fields,
                     estimate, rd_fields, refine, to_tensor, warp)
from .scheme import Scheme

__all__ = ["ImclvcScheme", "SR_MODELS", "FLOW_KEY"]

#: sr_model id -> zoo key (frozen: the spec's table)
SR_MODELS: dict[int, str] = {1: "lvc-sr-1"}
#: the encoder's flow network weights
FLOW_KEY = "lvc-flow-1"


def _load(key: str, dtype, what: str):
    return load_weights("imclvc", key, dtype, what)


class ImclvcScheme(Scheme):
    key: ClassVar[str] = "imclvc"
    options: ClassVar[dict[str, Any]] = {"sr": False, "sr_from": 0, "flow": "net",
                                         "refine": 30, "rd": 2}
    n_refs: ClassVar[int] = 1

    def __init__(self, head, dtype, opts: dict):
        super().__init__(head, dtype, opts)
        self.half = None            # the previous decoded coded-size frame (low-rate mode)
        self.sr = self.sr_hash = None
        if opts and opts.get("flow", "net") not in ("net", "dis"):
            raise CodecError(f"imclvc flow must be 'net' or 'dis', got {opts['flow']!r}")

    # -- header ------------------------------------------------------------------------------
    @property
    def low_rate(self) -> bool:
        o = self.opts
        return bool(o.get("sr")) or bool(o.get("sr_from") and self.head.crf >= o["sr_from"])

    def _coded_size(self) -> tuple[int, int]:
        if self.low_rate:
            return -(-self.height // 2), -(-self.width // 2)
        return self.height, self.width

    def ext(self) -> bytes:
        if not self.low_rate:
            return b"\0"
        self.sr, self.sr_hash = _load(SR_MODELS[1], self.dtype, "super-resolution")
        return bytes([1, 1]) + self.sr_hash

    def read_ext(self, ext: bytes) -> None:
        ext = bytes(ext)
        if ext == b"\0":
            self.opts["sr"] = False
            return
        if len(ext) != 10 or ext[0] != 1:
            raise CodecError(f"imclvc payload: header extension must be flags 0, or flags 1 + "
                             f"sr model + 8-byte hash, got {ext.hex() or 'nothing'}")
        key = SR_MODELS.get(ext[1])
        if key is None:
            raise CodecError(f"imclvc payload names unknown super-resolution model {ext[1]}")
        self.opts["sr"] = True
        self.sr, self.sr_hash = _load(key, self.dtype, "super-resolution")
        if self.sr_hash != ext[2:]:
            raise CodecError(f"imclvc payload was made with other super-resolution weights "
                             f"({ext[2:].hex()}, installed {self.sr_hash.hex()})")

    # -- frames ------------------------------------------------------------------------------
    def reset(self) -> None:
        self.half = None

    def _down(self, x):
        from .sr import downscale
        return downscale(x) if self.low_rate else x

    def _out(self, d, flow_half=None):
        """The decoded coded-size frame ``d`` -> the output frame (the SR head in the
        low-rate mode; ``flow_half`` [1, 2, h, w] its dense flow or None)."""
        self.half = d
        if not self.low_rate:
            return d
        prev = self.refs[-1] if (self.refs and flow_half is not None) else None
        return self.sr.upscale(d, prev, flow_half, (self.height, self.width))

    def encode_intra(self, x):
        h, w = self._coded_size()
        d = self._down(x)
        zb, yb, _ = self.intra.encode(d, self.head.intra_step, self.head.intra_level)
        return [zb, yb], self._out(self._intra_decode([zb, yb], h, w))

    def decode_intra(self, streams: list):
        h, w = self._coded_size()
        return self._out(self._intra_decode(streams, h, w))

    def _intra_decode(self, streams, h: int, w: int):
        if len(streams) != 2:
            raise CodecError(f"imclvc payload frame {self.index}: an I frame has 2 "
                             f"sub-streams, not {len(streams)}")
        head = self.head
        try:
            y = self.intra.decode_latents(streams[0], streams[1], -(-h // 64), -(-w // 64),
                                          head.intra_step, head.intra_level)
        except CodingError as e:
            raise CodecError(f"imclvc payload frame {self.index} (I): {e}") from e
        self.note(y)
        return self.intra.synthesize(y, h, w)

    # -- motion ------------------------------------------------------------------------------
    def _ref(self):
        """The coded-size reference padded to multiples of 16 (uint8)."""
        import numpy as np
        h, w = self._coded_size()
        r = self.half if self.half is not None else self.refs[-1]
        return np.pad(r, ((0, -h % 16), (0, -w % 16), (0, 0)), mode="edge")

    def _dense(self, fields):
        """Integer block fields [2, hb, wb] -> dense flow [1, 2, hb*16, wb*16] (pixels)."""
        import torch
        g = torch.from_numpy(fields.astype("float64")).to(self.dtype)[None]
        return dense(g) / QPEL

    def _estimate(self, xp, refp):
        """Encoder: dense backward flow [H, W, 2] of the padded frames."""
        if self.opts["flow"] == "dis":
            return estimate(xp, refp, self.opts["motion"])
        net, _ = _load(FLOW_KEY, self.dtype, "flow")
        return net.estimate(xp, refp).transpose(1, 2, 0)

    def encode_inter(self, x):
        import numpy as np
        import torch
        h, w = self._coded_size()
        d = self._down(x)
        refp = self._ref()
        dp = np.pad(d, ((0, refp.shape[0] - h), (0, refp.shape[1] - w), (0, 0)), mode="edge")
        fields = block_flow(self._estimate(dp, refp))
        ref = to_tensor(refp, self.dtype)
        ref32 = ref.to(torch.float32)
        fields = refine(fields, lambda g: warp(ref32, dense(g) / QPEL), to_tensor(dp),
                        [(-FLOW_MAX, FLOW_MAX)] * 2, self.opts["refine"])
        if self.opts["rd"]:
            # rate-distortion optimised block vectors at the crf's lambda (a coded-size
            # pixel stands for height x width / (h x w) output pixels)
            lam = self.lam * h * w / (self.height * self.width)
            fields = rd_fields(fields, lambda g: warp(ref32, dense(g) / QPEL), to_tensor(dp),
                               lam, [(0, 1)], [(-FLOW_MAX, FLOW_MAX)] * 2,
                               passes=self.opts["rd"], valid=(h, w))
        data = encode_fields(fields)
        flow = self._dense(fields)
        pred = warp(ref, flow)[:, :, :h, :w]
        # the residual, or none where it does not pay (at the coded size)
        res, d_hat = self.res_code(d, pred)
        return [data, *res], self._out(d_hat, flow[:, :, :h, :w])

    def decode_inter(self, streams: list):
        if len(streams) not in (1, 3):
            raise CodecError(f"imclvc payload frame {self.index}: a P frame has 3 sub-streams "
                             f"(flow, z, y) or the flow alone, not {len(streams)}")
        h, w = self._coded_size()
        fields = decode_fields(streams[0], 2, -(-h // 16), -(-w // 16))
        self.note(fields)
        flow = self._dense(fields)
        pred = warp(to_tensor(self._ref(), self.dtype), flow)[:, :, :h, :w]
        d = self.res_uncode(streams[1:], pred)
        return self._out(d, flow[:, :, :h, :w])
