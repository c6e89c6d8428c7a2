"""SpyNet-mini: the small pyramid optical-flow network of the ``imclvc`` scheme's motion
estimation (Ranjan & Black, "Optical Flow Estimation using a Spatial Pyramid Network",
CVPR 2017; IMCLVC uses a SpyNet for its motion search).

ENCODER SIDE ONLY: the flow it returns is turned into block flows that the bitstream
carries as integers (``lvc/motion.py``); a decoder never runs it, so its float rounding
cannot change a decoded symbol.

The network: an average pyramid of both frames (``levels`` = as many halvings as keep the
coarsest side >= ``min_side`` = 16 px, at most ``max_levels`` = 6); at the coarsest level
the flow starts at zero; at each level the flow of the level below is upsampled x2 (values
x2), the reference is warped by it (``grid_sample``, bilinear, border,
``align_corners=False``, the codecs' warp) and the level adds a residual flow: the
soft-argmin of a small cost volume (matching costs of the two high-passed frames over
+-2 px, 3x3-aggregated, normalized per pixel; a learned sharpness per level kind) plus a
small convolutional net ``G`` reading (current, warped reference, flow, cost volume).
SpyNet has no cost volume; without one this tiny net, trained for minutes on a CPU, never
left the zero-flow solution (measured: EPE = zero flow's after 150 steps), so the
matching term gives it a start and ``G`` learns the corrections. ``G`` is shared by every
coarse level (the residual task is the same at each scale); the finest level has its own.
Each ``G``: four convolutions, 33 -> 24 -> 32 -> 24 -> 2 channels, ReLU between, 5x5 at
the coarse levels and 3x3 at the finest (which only corrects sub-pixel residuals and
costs most: it runs on every pixel); its last layer starts at zero. ~81k parameters
(float16 in ``lvc-flow-1.safetensors``).

The shipped weights (``lvc-flow-1``) are the ``init="dis"`` variant: the flow starts as
OpenCV DIS (preset medium, luma; ``motion.estimate``) and only the two finest levels run,
without the soft-argmin term: the nets learn to correct DIS (held-out synthetic EPE 0.895
vs DIS's 0.981 at 128 px). The plain pyramid above, trained as long, stayed far behind DIS
(EPE 3.32): see ``docs/model-card-lvc-flow.md``.

Flow convention: BACKWARD flow in pixels, x then y: pixel (x, y) of the current frame is
predicted from the reference at (x + dx, y + dy).

Trained on ``training/codecs/lvc_data.py`` synthetic sequences with ground-truth flow
(end-point error); ``training/codecs/train_lvc_flow.py``; model card
``docs/model-card-lvc-flow.md``.
"""
from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .motion import estimate as dis_estimate

__all__ = ["SpyNetMini", "FlowEstimator", "export_flow", "warp", "cost_volume", "CONFIG"]

#: search radius of the cost volume at each level (pixels of that level)
RADIUS = 2

#: default architecture (stored in the weights file's ``__config__``)
CONFIG = {"ch": [24, 32, 24], "k": 5, "k_fine": 3, "max_levels": 6, "min_side": 16}


def warp(ref: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``ref`` [N,C,H,W] sampled at (x + flow_x, y + flow_y) (pixels, backward flow),
    bilinear, border padding, ``align_corners=False``."""
    n, _, h, w = ref.shape
    ys = torch.arange(h, dtype=ref.dtype, device=ref.device)
    xs = torch.arange(w, dtype=ref.dtype, device=ref.device)
    gx = (xs[None, None, :] + flow[:, 0]) * (2.0 / w) + (1.0 / w - 1.0)
    gy = (ys[None, :, None] + flow[:, 1]) * (2.0 / h) + (1.0 / h - 1.0)
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(ref, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def cost_volume(c: torch.Tensor, wr: torch.Tensor, r: int = 2) -> torch.Tensor:
    """Matching costs of ``c`` against ``wr`` shifted by every (dx, dy) in [-r, r]^2:
    [N, (2r+1)^2, H, W], each the negative mean absolute difference of the two frames'
    high-passed colours (frame minus its 3x3 mean), summed over a 3x3 window."""
    def hp(x):
        return x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
    a, b = hp(c), hp(wr)
    h, w = c.shape[2:]
    bp = F.pad(b, (r, r, r, r), mode="replicate")
    out = []
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            d = (a - bp[:, :, r + dy:r + dy + h, r + dx:r + dx + w]).abs().mean(1, keepdim=True)
            out.append(d)
    cost = -F.avg_pool2d(F.pad(torch.cat(out, 1), (1, 1, 1, 1), mode="replicate"), 3, 1)
    # per pixel: zero mean, unit spread over the displacements
    cost = cost - cost.mean(1, keepdim=True)
    return cost / (cost.std(1, keepdim=True) + 1e-3)


def _displacements(r: int) -> torch.Tensor:
    d = torch.arange(-r, r + 1, dtype=torch.float32)
    dy, dx = torch.meshgrid(d, d, indexing="ij")
    return torch.stack([dx.reshape(-1), dy.reshape(-1)], 0)      # [2, (2r+1)^2]


def _g(ch: list[int], k: int) -> nn.Sequential:
    c = [8 + (2 * RADIUS + 1) ** 2] + list(ch) + [2]
    layers: list[nn.Module] = []
    for i in range(len(c) - 1):
        layers.append(nn.Conv2d(c[i], c[i + 1], k, padding=k // 2))
        if i < len(c) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SpyNetMini(nn.Module):
    """See the module docstring. ``forward(cur, ref)`` (float [N,3,H,W] in 0..1, H and W
    multiples of ``2^(levels-1)``) returns the flows of every level, finest first
    (``[N,2,H/2^k,W/2^k]`` in that level's pixels)."""

    def __init__(self, ch=(24, 32, 24), k: int = 5, k_fine: int = 3, max_levels: int = 6,
                 min_side: int = 16, init: str | None = None, init_levels: int = 2):
        super().__init__()
        self.cfg = {"ch": list(ch), "k": int(k), "k_fine": int(k_fine),
                    "max_levels": int(max_levels), "min_side": int(min_side),
                    "init": init, "init_levels": int(init_levels)}
        self.fine = _g(list(ch), k_fine)
        self.coarse = _g(list(ch), k)
        # soft-argmin sharpness of the cost volume (fine, coarse levels)
        self.beta = nn.Parameter(torch.tensor([10.0, 10.0]))
        self.register_buffer("disp", _displacements(RADIUS), persistent=False)
        for g in (self.fine, self.coarse):         # start as pure coarse-to-fine matching
            nn.init.zeros_(g[-1].weight)
            nn.init.zeros_(g[-1].bias)

    def n_levels(self, h: int, w: int) -> int:
        n = 1
        while n < self.cfg["max_levels"] and min(h, w) >> n >= self.cfg["min_side"]:
            n += 1
        return n

    def forward(self, cur: torch.Tensor, ref: torch.Tensor, levels: int | None = None,
                init: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``init`` [N,2,H,W]: an initial flow (the "dis" variant): only the finest
        ``init_levels`` levels run, starting from it (no matching term: the net only
        corrects it)."""
        levels = levels or self.n_levels(cur.shape[2], cur.shape[3])
        if init is not None:
            levels = min(levels, self.cfg["init_levels"])
        cs, rs = [cur - 0.5], [ref - 0.5]
        for _ in range(levels - 1):
            cs.append(F.avg_pool2d(cs[-1], 2))
            rs.append(F.avg_pool2d(rs[-1], 2))
        flows: list[torch.Tensor] = []
        flow = None
        for lv in range(levels - 1, -1, -1):
            c, r = cs[lv], rs[lv]
            if flow is None and init is not None:
                flow = F.avg_pool2d(init, 1 << lv) / (1 << lv) if lv else init
                wr = warp(r, flow)
            elif flow is None:
                flow = torch.zeros(c.shape[0], 2, c.shape[2], c.shape[3], dtype=c.dtype,
                                   device=c.device)
                wr = r
            else:
                flow = 2.0 * F.interpolate(flow, size=c.shape[2:], mode="bilinear",
                                           align_corners=False)
                wr = warp(r, flow)
            g = self.fine if lv == 0 else self.coarse
            cost = cost_volume(c, wr, RADIUS)
            if init is None:
                p = torch.softmax(self.beta[0 if lv == 0 else 1] * cost, 1)
                flow = flow + torch.einsum("nkhw,ck->nchw", p, self.disp.to(p.dtype))
            flow = flow + g(torch.cat([c, wr, flow, cost], 1))
            flows.append(flow)
        return flows[::-1]


def export_flow(model: SpyNetMini, dtype=torch.float16) -> dict:
    """The weights file's tensors: every parameter in ``dtype`` and the architecture as
    JSON bytes under ``__config__``."""
    t = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    t["__config__"] = torch.tensor(list(json.dumps(model.cfg).encode()), dtype=torch.uint8)
    return t


class FlowEstimator:
    """The encoder's flow net (zoo arch ``"lvcflow"``, key ``lvc-flow-1``).

    ``estimate(cur, ref)``: uint8 [H,W,3] frames (any size; replicate-padded to a multiple
    of the pyramid's ``2^(levels-1)``) -> backward flow float32 numpy [2,H,W] in pixels
    (pixel (x, y) of ``cur`` comes from ``ref`` at (x + dx, y + dy)).

    >>> fe, _ = zoo.load("lvc-flow-1")
    >>> flow = fe.estimate(frame1, frame0)       # [2, H, W]
    """

    def __init__(self, tensors: dict, dtype=torch.float32):
        cfg = json.loads(bytes(tensors["__config__"].tolist()).decode())
        self.net = SpyNetMini(cfg["ch"], cfg["k"], cfg["k_fine"], cfg["max_levels"],
                              cfg["min_side"], cfg.get("init"), cfg.get("init_levels", 2))
        self.net.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()
                                  if k != "__config__"})
        self.net = self.net.to(dtype).eval()
        self.dtype = dtype

    @torch.no_grad()
    def estimate_tensor(self, cur: torch.Tensor, ref: torch.Tensor,
                        init: torch.Tensor | None = None) -> torch.Tensor:
        """Float [N,3,H,W] (0..1) frames (and, for the "dis" variant, the initial flow
        [N,2,H,W]) -> flow [N,2,H,W] (pixels)."""
        h, w = cur.shape[2:]
        levels = self.net.n_levels(h, w)
        if init is not None:
            levels = min(levels, self.net.cfg["init_levels"])
        m = 1 << (levels - 1)
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            cur = F.pad(cur, (0, pw, 0, ph), mode="replicate")
            ref = F.pad(ref, (0, pw, 0, ph), mode="replicate")
            if init is not None:
                init = F.pad(init, (0, pw, 0, ph), mode="replicate")
        if init is not None:
            init = init.to(self.dtype)
        flow = self.net(cur.to(self.dtype), ref.to(self.dtype), levels, init)[0]
        return flow[:, :, :h, :w].float()

    def estimate(self, cur, ref):
        """uint8 [H,W,3] (numpy or torch) ``cur`` and ``ref`` -> float32 numpy [2,H,W]."""
        def t(a):
            a = torch.as_tensor(a)
            return a.permute(2, 0, 1)[None].float() / 255.0
        init = None
        if self.net.cfg.get("init") == "dis":
            init = torch.from_numpy(dis_estimate(np.asarray(cur), np.asarray(ref), "medium")
                                    ).permute(2, 0, 1)[None]
        return self.estimate_tensor(t(cur), t(ref), init)[0].numpy()
