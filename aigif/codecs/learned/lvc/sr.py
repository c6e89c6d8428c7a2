"""The spatial-temporal super-resolution head of the ``imclvc`` scheme's low-rate mode
(zoo arch ``"lvcsr"``, key ``lvc-sr-1``).

In the low-rate mode every frame is coded at half size (``ceil(W/2) x ceil(H/2)``); the
decoder brings each decoded half-size frame ``d_t`` back to full size with this head, which
reads two things: ``d_t`` itself and the previous full-size output ``o_{t-1}`` warped to
frame t by the frame's motion (its half-size dense flow upsampled x2, values x2:
:func:`upflow`). Where the motion is right, the warped previous output carries detail the
half-size frame lost; where it is wrong (occlusions, new content), the head falls back on
``d_t``. The first frame of a GOP (no previous output) reads ``bicubic(d_t)`` in place of
the warped frame.

Network (:class:`SrNet`): ``up = bicubic x2 (d_t)``; at half resolution the features
``[d_t, unshuffle(w), unshuffle(w - up)]`` (3 + 12 + 12 channels, ``unshuffle`` = pixel
unshuffle by 2) go through five 3x3 convolutions (27 -> 48 -> 48 -> 48 -> 48 -> 12, ReLU
between); the 12 channels are pixel-shuffled to a full-size residual: ``o_t = up +
residual``, clamped to 0..1 and rounded to uint8 (the next frame's ``o_{t-1}``). ~80k
parameters, float16 in ``lvc-sr-1.safetensors``.

Platform safety: the head only makes pixels. The coded symbols of a low-rate payload never
depend on it (the P frames are predicted from the half-size decoded frames, not from its
output), so its float rounding can only move output pixels (by a level, and not
cumulatively past the uint8 rounding of each output).

Training: ``training/codecs/train_lvc_sr.py`` (model card ``docs/model-card-lvc-sr.md``).
"""
from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SrNet", "SrCoder", "export_sr", "upflow", "bicubic_up", "downscale"]


def upflow(flow_half: torch.Tensor) -> torch.Tensor:
    """Half-size flow [N,2,h,w] (half-size pixels) -> full-size flow [N,2,2h,2w] (pixels):
    bilinear x2 (``align_corners=False``), values x2."""
    return 2.0 * F.interpolate(flow_half, scale_factor=2, mode="bilinear",
                               align_corners=False)


def bicubic_up(d: torch.Tensor) -> torch.Tensor:
    """[N,3,h,w] -> [N,3,2h,2w], bicubic (``align_corners=False``), clamped to 0..1."""
    return F.interpolate(d, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)


def downscale(x: np.ndarray) -> np.ndarray:
    """uint8 [H,W,3] -> uint8 [ceil(H/2), ceil(W/2), 3]: 2x2 means (odd sides edge-padded),
    rounded half up with integer arithmetic (the encoder's half-size frames)."""
    h, w = x.shape[:2]
    x = np.pad(x, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge").astype(np.uint16)
    s = x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]
    return ((s + 2) // 4).astype(np.uint8)


def _warp(ref: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    n, _, h, w = ref.shape
    ys = torch.arange(h, dtype=ref.dtype, device=ref.device)
    xs = torch.arange(w, dtype=ref.dtype, device=ref.device)
    gx = (xs[None, None, :] + flow[:, 0]) * (2.0 / w) + (1.0 / w - 1.0)
    gy = (ys[None, :, None] + flow[:, 1]) * (2.0 / h) + (1.0 / h - 1.0)
    return F.grid_sample(ref, torch.stack([gx, gy], -1), mode="bilinear",
                         padding_mode="border", align_corners=False)


class SrNet(nn.Module):
    """``forward(d, w)``: half-size frame ``d`` [N,3,h,w] and the warped previous output
    ``w`` [N,3,2h,2w] (or None: ``bicubic(d)``), both 0..1 -> full-size [N,3,2h,2w]
    (not clamped)."""

    def __init__(self, ch: int = 48, layers: int = 5):
        super().__init__()
        self.cfg = {"ch": int(ch), "layers": int(layers)}
        c = [27] + [ch] * (layers - 1) + [12]
        mods: list[nn.Module] = []
        for i in range(len(c) - 1):
            mods.append(nn.Conv2d(c[i], c[i + 1], 3, padding=1))
            if i < len(c) - 2:
                mods.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*mods)

    def forward(self, d: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        up = bicubic_up(d)
        if w is None:
            w = up
        f = torch.cat([d - 0.5, F.pixel_unshuffle(w - 0.5, 2), F.pixel_unshuffle(w - up, 2)], 1)
        return up + F.pixel_shuffle(self.body(f), 2)


def export_sr(model: SrNet, dtype=torch.float16) -> dict:
    t = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    t["__config__"] = torch.tensor(list(json.dumps(model.cfg).encode()), dtype=torch.uint8)
    return t


class SrCoder:
    """The frozen SR head (zoo arch ``"lvcsr"``).

    ``upscale(d, prev, flow_half, size)``: ``d`` uint8 [h,w,3] (the decoded half-size
    frame), ``prev`` uint8 [H,W,3] (the previous full-size output, or None at a GOP's first
    frame), ``flow_half`` float torch [1,2,h,w] (the frame's dense flow at half size, or
    None), ``size`` = (H, W) with ``h = ceil(H/2)``, ``w = ceil(W/2)`` -> uint8 [H,W,3].

    >>> sr, _ = zoo.load("lvc-sr-1")
    >>> o1 = sr.upscale(d1, o0, flow_half, (H, W))
    """

    def __init__(self, tensors: dict, dtype=torch.float32):
        cfg = json.loads(bytes(tensors["__config__"].tolist()).decode())
        net = SrNet(cfg["ch"], cfg["layers"])
        net.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()
                             if k != "__config__"})
        self.net = net.to(dtype).eval()
        self.dtype = dtype

    @torch.no_grad()
    def upscale(self, d, prev, flow_half, size: tuple[int, int]) -> np.ndarray:
        H, W = size
        h, w = d.shape[:2]
        if h != -(-H // 2) or w != -(-W // 2):
            raise ValueError(f"half-size frame {w}x{h} does not match {W}x{H}")
        dt = torch.from_numpy(np.ascontiguousarray(d)).permute(2, 0, 1)[None].to(
            self.dtype) / 255.0
        warped = None
        if prev is not None:
            p = np.pad(prev, ((0, 2 * h - H), (0, 2 * w - W), (0, 0)), mode="edge")
            pt = torch.from_numpy(np.ascontiguousarray(p)).permute(2, 0, 1)[None].to(
                self.dtype) / 255.0
            warped = pt if flow_half is None else _warp(pt, upflow(flow_half.to(self.dtype)))
        out = self.net(dt, warped)[:, :, :H, :W]
        return out[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0) \
            .contiguous().numpy()
