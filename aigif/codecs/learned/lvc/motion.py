"""Motion for the lvc schemes: estimation (encoder only), block flows, their integer
symbol coding, dense flows and the three warps.

* ``estimate(cur, ref)``: dense backward flow [H, W, 2] in pixels (``cur(x) ~ ref(x +
  flow(x))``) by OpenCV's DIS optical flow on the luma; encoder side only
  (``opencv-python-headless``, the ``learned`` extra). The decoder never needs it.
* ``block_flow(flow, bs)``: the block means in quarter-pel integers, clamped to
  +-``FLOW_MAX`` (63.75 px).
* ``encode_fields`` / ``decode_fields``: integer grids [C, hb, wb] <-> one rANS stream.
  Each component is predicted (a temporal prediction given by the caller, e.g. vlvc's
  ``2 f[t-1] - f[t-2]``, then the MED predictor of JPEG-LS over its left / top /
  top-left neighbours) and the residual coded with one of ``TABLES`` two-sided geometric
  integer tables, its number sent in the stream's first bytes (one byte per component).
  The tables are built with integer arithmetic only, so every machine has the same ones.
* ``dense(grid, h, w)``: block grid [1, C, hb, wb] -> [1, C, hb*bs, wb*bs], each vector at
  its block centre, bilinear (``align_corners=False``).
* ``warp(ref, flow)``: 4-D ``grid_sample`` (bilinear, border) with backward flow in pixels.
* ``scale_space_warp(volume, flow, level)``: 5-D ``grid_sample`` (trilinear) over a
  Gaussian pyramid volume [1, 3, D, H, W] of the reference (``pyramid_volume``): ENVC's
  cross-scale prediction; ``level`` (in pyramid levels, 0 = sharp) blurs the prediction.
* ``voxel_warp(stack, flow, t)``: 5-D ``grid_sample`` over a stack of reference frames
  [1, 3, R, H, W]; ``t`` (in frames, 0 = the newest reference) is VLVC's voxel-flow dt.

Torch and numpy are imported inside the functions that need them; cv2 only in
``estimate``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ....errors import CodecError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

__all__ = ["BLOCK", "FLOW_MAX", "QPEL", "TABLES", "estimate", "block_flow", "med_residual",
           "med_reconstruct", "field_bits", "encode_fields", "decode_fields", "flow_tables",
           "dense", "base_grid", "warp", "pyramid_volume", "scale_space_warp", "voxel_warp",
           "to_tensor", "to_uint8", "refine", "med_residual_map", "rd_fields"]

#: flow block size (pixels)
BLOCK = 16
#: quarter-pel units per pixel
QPEL = 4
#: block flow components are clamped to +-FLOW_MAX quarter pels
FLOW_MAX = 255
#: residual alphabet: -RES_MAX..RES_MAX (the MED residual of a value in +-FLOW_MAX minus
#: a prediction clamped to +-FLOW_MAX)
RES_MAX = 4 * FLOW_MAX
#: number of residual tables (two-sided geometric, increasing spread)
TABLES = 16
_PMF_BITS = 16

_tables_cache: list = []


# --------------------------------------------------------------------------- estimation
def estimate(cur, ref, preset: str = "medium"):
    """Dense backward flow float32 [H, W, 2] (pixels) from frame ``cur`` to reference
    ``ref`` (uint8 [H, W, 3] each): ``cur(x, y) ~ ref(x + u, y + v)``. OpenCV DIS."""
    try:
        import cv2
    except ImportError:
        raise MissingDependencyError(
            "encoding a learned video payload estimates motion with OpenCV: install it with "
            "pip install 'aigif[learned]' (opencv-python-headless)") from None
    import numpy as np
    p = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
         "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
         "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[preset]
    dis = cv2.DISOpticalFlow_create(p)
    a = cv2.cvtColor(np.ascontiguousarray(cur), cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(np.ascontiguousarray(ref), cv2.COLOR_RGB2GRAY)
    return dis.calc(a, b, None).astype(np.float32)


def block_flow(flow, bs: int = BLOCK):
    """Block means of a dense flow [H, W, 2] (H, W multiples of ``bs``) as int32
    [2, H/bs, W/bs] in quarter pels, clamped to +-FLOW_MAX."""
    import numpy as np
    h, w, _ = flow.shape
    m = flow.reshape(h // bs, bs, w // bs, bs, 2).mean(axis=(1, 3))
    q = np.clip(np.rint(m * QPEL), -FLOW_MAX, FLOW_MAX).astype(np.int32)
    return np.ascontiguousarray(q.transpose(2, 0, 1))


def refine(init, predict, target, bounds, iters: int = 20, lr: float = 0.5, anchor=None,
           weight: float = 0.0):
    """Encoder only: integer block fields [C, hb, wb] refined by ``iters`` Adam steps on
    the mean squared error of ``predict(fields float [1, C, hb, wb]) -> [1, 3, H, W]``
    against ``target``, each channel kept in ``bounds[c] = (lo, hi)``, then rounded.
    Block means of a dense flow lose about 2 dB of prediction PSNR to the dense flow; this
    wins most of it back (the prediction interpolates the block vectors, so the best block
    vector is not the block's mean motion). ``anchor`` [C, hb, wb] with ``weight`` > 0 adds
    ``weight`` x the mean squared distance to it (e.g. the temporal prediction the fields
    are coded against: a rate proxy)."""
    import numpy as np
    import torch
    lo = torch.tensor([b[0] for b in bounds], dtype=torch.float32)[None, :, None, None]
    hi = torch.tensor([b[1] for b in bounds], dtype=torch.float32)[None, :, None, None]
    g = torch.tensor(np.asarray(init), dtype=torch.float32)[None]
    if iters > 0:
        g.requires_grad_(True)
        opt = torch.optim.Adam([g], lr=lr)
        target = target.detach().to(torch.float32)
        a = None if anchor is None else torch.tensor(np.asarray(anchor), dtype=torch.float32)[None]
        with torch.enable_grad():
            for _ in range(iters):
                loss = ((predict(g) - target) ** 2).mean()
                if a is not None and weight > 0:
                    loss = loss + weight * ((g - a) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    g.copy_(torch.maximum(torch.minimum(g, hi), lo))
    out = torch.maximum(torch.minimum(g.detach().round(), hi), lo)
    return out[0].numpy().astype(np.int64)


def rd_fields(fields, predict, target, lam: float, groups, bounds, prediction=None,
              passes: int = 2, valid=None, residuals=None):
    """Encoder only: rate-distortion optimised integer block fields [C, hb, wb].

    Minimises D + ``lam`` x R over the blocks' values, where D is the sum over pixels of
    the channel-mean squared error of ``predict(fields float [1, C, hb, wb])`` (any size
    hb*16 x wb*16) against ``target`` (same units as ``lam``: ``lam`` is the distortion one
    bit is worth) and R the bits :func:`encode_fields` spends on the fields (each field's
    best table, MED residuals against ``prediction``). Without a rate term the block fields
    of :func:`refine` are noisy (each block chases its own error), and at low rates their
    bits outweigh the whole residual: a static talking head spent ~10 bits a block.

    Greedy coordinate descent, vectorised: the blocks are split into 4 phases (row and
    column parity). A block's vector changes the prediction only inside the 32 x 32 window
    around its centre (bilinear ``dense``) and the MED residuals only of itself and its
    right, lower and lower-right neighbours, so the blocks of one phase (2 apart) never
    interact: each candidate is tried on all of a phase's blocks in one ``predict`` call
    and each block keeps its best. ``groups``: tuples of channel indices changed together
    (e.g. ``[(0, 1), (2,)]``: the flow vector, then a scale field). Candidates per block:
    the value its MED (and temporal) prediction gives (a zero residual), the left and upper
    neighbours' values, their 3 x 3 median, the temporal prediction itself, zero, the
    block's value in the fields given, and +-1 in each channel. Before the passes the
    fields are replaced by their 3 x 3 median where that costs less; before and after, each
    group's whole field is set to one value (zero, its median) when that costs less (static
    or uniformly moving content). With a temporal prediction p the same candidates are
    tried on f - p too (p + the 3 x 3 median of f - p; p, p + the median of f - p). The
    descent thus starts from the cheap field and adds detail where it pays.
    ``bounds[c] = (lo, hi)``; ``valid`` (h, w): only the first h x w pixels count (the
    rest is padding). ``residuals``: the coder's
    residual map of one field [hb, wb] (default :func:`med_residual_map`); a block's
    residual may depend only on its left, upper and upper-left neighbours."""
    import numpy as np
    import torch
    from torch.nn import functional as F
    f = np.asarray(fields, np.int64).copy()
    if passes <= 0:
        return f
    c_n, hb, wb = f.shape
    lo = np.array([b[0] for b in bounds], np.int64)[:, None, None]
    hi = np.array([b[1] for b in bounds], np.int64)[:, None, None]
    pr = (np.zeros_like(f) if prediction is None
          else np.clip(np.asarray(prediction, np.int64), -FLOW_MAX, FLOW_MAX))
    cost_tab = -np.log2(flow_tables().astype(np.float64) / (1 << _PMF_BITS))
    resid = med_residual_map if residuals is None else residuals
    tgt = target.detach().to(torch.float32)
    mask = None
    if valid is not None and (valid[0] < hb * BLOCK or valid[1] < wb * BLOCK):
        mask = torch.zeros((1, 1, hb * BLOCK, wb * BLOCK))
        mask[..., :valid[0], :valid[1]] = 1

    def errors(g):
        """The channel-mean squared error map [1, 1, H, W] of the fields ``g`` (padding 0)."""
        with torch.no_grad():
            p = predict(torch.from_numpy(g.astype(np.float32))[None]).to(torch.float32)
            e = ((p - tgt) ** 2).mean(1, keepdim=True)
        return e if mask is None else e * mask

    def windows(g):
        """Per block: the error summed over its 32 x 32 window of influence."""
        e = F.pad(errors(g), (BLOCK // 2,) * 4)
        return (F.avg_pool2d(e, 2 * BLOCK, stride=BLOCK)[0, 0].double().numpy()
                * (4 * BLOCK * BLOCK))

    def bits_map(g, tabs):
        """Per block: bits of the MED residuals it takes part in (itself, right, lower,
        lower right), summed over the channels."""
        out = np.zeros((hb + 1, wb + 1))
        for c in range(c_n):
            r = np.clip(resid(g[c] - pr[c]) + RES_MAX, 0, 2 * RES_MAX)
            out[:hb, :wb] += cost_tab[tabs[c], r]
        s = out[:hb, :wb] + out[1:, :wb] + out[:hb, 1:] + out[1:, 1:]
        return s

    def best_tables(g):
        tabs = []
        for c in range(c_n):
            r = np.clip(resid(g[c] - pr[c]) + RES_MAX, 0, 2 * RES_MAX).reshape(-1)
            tabs.append(int(np.argmin(cost_tab[:, r].sum(1))))
        return tabs

    def total(g):
        """The true D + lam x R of the fields ``g`` (each field at its best table)."""
        tabs = best_tables(g)
        r = sum(float(cost_tab[tabs[c], np.clip(resid(g[c] - pr[c]) + RES_MAX, 0,
                                                  2 * RES_MAX)].sum()) for c in range(c_n))
        return float(errors(g).double().sum()) + lam * r

    def flat(f):
        """Each group's field set to one value, or (with a temporal prediction) to the
        prediction plus one value (zero, the median), where that costs less."""
        cur = total(f)
        for grp in groups:
            grp = list(grp)
            offsets = [np.zeros_like(pr[grp])] + ([pr[grp]] if prediction is not None else [])
            for base in offsets:
                d = (f[grp] - base).reshape(len(grp), -1)
                for v in (np.zeros(len(grp), np.int64), np.median(d, 1).round().astype(np.int64)):
                    g = f.copy()
                    g[grp] = np.clip(base + v[:, None, None], lo[grp], hi[grp])
                    c = total(g)
                    if c < cur:
                        f, cur = g, c
        return f

    def median3(g):
        """Each channel's 3 x 3 median (edges replicated)."""
        pad = np.pad(g, ((0, 0), (1, 1), (1, 1)), mode="edge")
        return np.median(np.stack([pad[:, i:i + hb, j:j + wb] for i in range(3)
                                   for j in range(3)]), 0).round().astype(np.int64)

    orig = f.copy()
    for sm in [median3(f)] + ([pr + median3(f - pr)] if prediction is not None else []):
        sm = np.clip(sm, lo, hi)
        if total(sm) < total(f):
            f = sm
    f = flat(f)
    ii, jj = np.meshgrid(np.arange(hb), np.arange(wb), indexing="ij")
    for _ in range(passes):
        for grp in groups:
            grp = list(grp)
            for ph in ((0, 0), (0, 1), (1, 0), (1, 1)):
                sel = (ii % 2 == ph[0]) & (jj % 2 == ph[1])
                tabs = best_tables(f)
                base = windows(f) + lam * bits_map(f, tabs)
                gain = np.zeros((hb, wb))
                best = f[grp].copy()
                cands = []
                res = np.stack([resid(f[c] - pr[c]) for c in grp])
                cands.append(f[grp] - res)
                left = f[grp].copy()
                left[:, :, 1:] = f[grp][:, :, :-1]
                cands.append(left)
                up = f[grp].copy()
                up[:, 1:] = f[grp][:, :-1]
                cands.append(up)
                if prediction is not None:
                    cands.append(pr[grp])
                cands.append(np.zeros_like(f[grp]))
                cands.append(orig[grp])
                cands.append(median3(f[grp]))
                if prediction is not None:
                    cands.append(pr[grp] + median3(f[grp] - pr[grp]))
                for k in range(len(grp)):
                    for d in (-1, 1):
                        v = f[grp].copy()
                        v[k] += d
                        cands.append(v)
                for v in cands:
                    v = np.clip(v, lo[grp], hi[grp])
                    if not (v[:, sel] != f[grp][:, sel]).any():
                        continue
                    g = f.copy()
                    g[grp] = np.where(sel[None], v, f[grp])
                    cost = windows(g) + lam * bits_map(g, tabs)
                    better = sel & (base - cost > gain)
                    gain = np.where(better, base - cost, gain)
                    best = np.where(better[None], v, best)
                f[grp] = np.where(sel[None], best, f[grp])
    f = flat(f)
    return f


# --------------------------------------------------------------------------- symbols
def _med(a: int, b: int, c: int) -> int:
    """JPEG-LS median edge detector: a = left, b = top, c = top-left."""
    if c >= max(a, b):
        return min(a, b)
    if c <= min(a, b):
        return max(a, b)
    return a + b - c


def med_residual(g):
    """int [hb, wb] -> residuals of the MED prediction in raster order (int64)."""
    import numpy as np
    g = np.asarray(g, np.int64)
    hb, wb = g.shape
    pad = np.zeros((hb + 1, wb + 1), np.int64)
    pad[1:, 1:] = g
    out = np.empty_like(g)
    for i in range(hb):
        for j in range(wb):
            out[i, j] = g[i, j] - _med(int(pad[i + 1, j]), int(pad[i, j + 1]), int(pad[i, j]))
    return out


def med_residual_map(g):
    """Vectorised :func:`med_residual`: int [hb, wb] -> its MED residuals (int64)."""
    import numpy as np
    g = np.asarray(g, np.int64)
    hb, wb = g.shape
    pad = np.zeros((hb + 1, wb + 1), np.int64)
    pad[1:, 1:] = g
    a, b, c = pad[1:, :-1], pad[:-1, 1:], pad[:-1, :-1]
    mx, mn = np.maximum(a, b), np.minimum(a, b)
    return g - np.where(c >= mx, mn, np.where(c <= mn, mx, a + b - c))


def med_reconstruct(r):
    """Inverse of :func:`med_residual`."""
    import numpy as np
    r = np.asarray(r, np.int64)
    hb, wb = r.shape
    pad = np.zeros((hb + 1, wb + 1), np.int64)
    for i in range(hb):
        for j in range(wb):
            pad[i + 1, j + 1] = r[i, j] + _med(int(pad[i + 1, j]), int(pad[i, j + 1]),
                                               int(pad[i, j]))
    return pad[1:, 1:].copy()


def flow_tables():
    """int32 [TABLES, 2*RES_MAX+1]: table k is a two-sided geometric PMF, decay 1/256
    (k = 0) up to ~0.988 (k = 15), built with integer arithmetic only (each entry >= 1, rows sum to
    2^16), so the same on every machine."""
    if _tables_cache:
        return _tables_cache[0]
    import numpy as np
    n = 2 * RES_MAX + 1
    total = 1 << _PMF_BITS
    rows = []
    for k in range(TABLES):
        # decay ratio num/den: 1/256, 1/64, 1/16 (k = 0..2: near-constant fields), then
        # 1/4 (k = 3) up to ~0.988 (k = 15) in half-octave steps of 1 - decay
        den = 1 << 20
        if k < 3:
            num = den >> (8 - 2 * k)
        else:
            j = k - 3
            num = den - (den * 3 // 4 >> (j // 2)) // (2 if j % 2 else 1)
        f = [0] * (RES_MAX + 1)
        v = 1 << 62
        for i in range(RES_MAX + 1):
            f[i] = v
            v = v * num // den
        full = [f[abs(i)] for i in range(-RES_MAX, RES_MAX + 1)]
        s = sum(full)
        q = [1 + x * (total - n) // s for x in full]
        q[RES_MAX] += total - sum(q)
        rows.append(q)
    t = np.array(rows, dtype=np.int32)
    assert (t >= 1).all() and (t.sum(1) == total).all()
    _tables_cache.append(t)
    return t


def field_bits(field, prediction=None) -> float:
    """Encoder estimate: the bits ``encode_fields`` spends on one field [hb, wb] (its best
    table)."""
    import numpy as np
    f = np.asarray(field, np.int64)
    if prediction is not None:
        f = f - np.clip(np.asarray(prediction, np.int64), -FLOW_MAX, FLOW_MAX)
    r = (med_residual(f) + RES_MAX).reshape(-1)
    cost = -np.log2(flow_tables().astype(np.float64) / (1 << _PMF_BITS))
    return float(cost[:, np.clip(r, 0, 2 * RES_MAX)].sum(1).min())


def encode_fields(fields, prediction=None) -> bytes:
    """int [C, hb, wb] (each in +-FLOW_MAX) -> bytes: C table bytes + one rANS stream.
    ``prediction``: int [C, hb, wb] the decoder knows too (None: zeros)."""
    import numpy as np

    from ..coding import TableEncoder
    f = np.asarray(fields, np.int64)
    if prediction is not None:
        f = f - np.clip(np.asarray(prediction, np.int64), -FLOW_MAX, FLOW_MAX)
    tables = flow_tables()
    cost = -np.log2(tables.astype(np.float64) / (1 << _PMF_BITS))
    res = [med_residual(c) + RES_MAX for c in f]
    for r in res:
        if r.size and (r.min() < 0 or r.max() > 2 * RES_MAX):
            raise CodecError("flow residual out of range (flows must be in +-255 quarter pels)")
    ks = [int(np.argmin(cost[:, r.reshape(-1)].sum(1))) for r in res]
    enc = TableEncoder(tables)
    for r, k in reversed(list(zip(res, ks))):
        enc.push(r, np.full(r.size, k))
    return bytes(ks) + enc.bytes()


def decode_fields(data: bytes, c: int, hb: int, wb: int, prediction=None):
    """Inverse of :func:`encode_fields`: int64 [c, hb, wb]; CodecError on a corrupt stream
    or a value outside +-FLOW_MAX."""
    import numpy as np

    from ..coding import CodingError, TableDecoder
    if len(data) < c:
        raise CodecError(f"flow sub-stream truncated: {len(data)} bytes, {c} table bytes")
    ks = list(data[:c])
    if max(ks, default=0) >= TABLES:
        raise CodecError(f"flow sub-stream names table {max(ks)} (0..{TABLES - 1})")
    try:
        dec = TableDecoder(bytes(data[c:]), flow_tables())
        res = [dec.pop(np.full(hb * wb, k)).reshape(hb, wb).astype(np.int64) - RES_MAX
               for k in ks]
    except CodingError as e:
        raise CodecError(f"flow sub-stream: {e}") from e
    out = np.stack([med_reconstruct(r) for r in res]) if c else np.zeros((0, hb, wb), np.int64)
    if prediction is not None:
        out = out + np.clip(np.asarray(prediction, np.int64), -FLOW_MAX, FLOW_MAX)
    if out.size and np.abs(out).max() > FLOW_MAX:
        raise CodecError("flow sub-stream decodes a vector outside +-255 quarter pels "
                         "(corrupt)")
    return out


# --------------------------------------------------------------------------- tensors
def to_tensor(rgb, dtype=None) -> "torch.Tensor":
    """uint8 [H, W, 3] -> float [1, 3, H, W] in 0..1."""
    import numpy as np
    import torch
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    return x.to(dtype or torch.float32) / 255.0


def to_uint8(x) -> "np.ndarray":
    """float [1, 3, H, W] in 0..1 -> uint8 [H, W, 3] (clamped, rounded)."""
    import torch
    return x[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def dense(grid, bs: int = BLOCK) -> "torch.Tensor":
    """Block grid [1, C, hb, wb] (float) -> dense [1, C, hb*bs, wb*bs]: each vector at its
    block centre, bilinear in between (``align_corners=False``), edges held."""
    from torch.nn import functional as F
    return F.interpolate(grid, scale_factor=bs, mode="bilinear", align_corners=False)


def base_grid(h: int, w: int, dtype=None) -> "torch.Tensor":
    """[1, H, W, 2] pixel centres (x, y)."""
    import torch
    ys = torch.arange(h, dtype=dtype or torch.float32)
    xs = torch.arange(w, dtype=dtype or torch.float32)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1)[None]


def _norm(v, n: int):
    """Pixel coordinate -> grid_sample's [-1, 1] (align_corners=False)."""
    return (2 * v + 1) / n - 1


def warp(ref, flow) -> "torch.Tensor":
    """``ref`` [1, C, H, W] sampled at (x + u, y + v): ``flow`` [1, 2, H, W] in pixels."""
    import torch
    from torch.nn import functional as F
    _, _, h, w = ref.shape
    g = base_grid(h, w, ref.dtype) + flow.permute(0, 2, 3, 1)
    grid = torch.stack([_norm(g[..., 0], w), _norm(g[..., 1], h)], -1)
    return F.grid_sample(ref, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def pyramid_volume(ref, levels: int = 3) -> "torch.Tensor":
    """Gaussian-pyramid volume [1, C, levels, H, W] of ``ref`` [1, C, H, W] (H, W
    multiples of 2^(levels-1)): level l = ``ref`` averaged over 2^l x 2^l and brought back
    to full size bilinearly (l = 0: ``ref`` itself)."""
    import torch
    from torch.nn import functional as F
    out = [ref]
    x = ref
    for _ in range(1, levels):
        x = F.avg_pool2d(x, 2)
        out.append(F.interpolate(x, size=ref.shape[-2:], mode="bilinear",
                                 align_corners=False))
    return torch.stack(out, 2)


def _warp5(volume, flow, z) -> "torch.Tensor":
    import torch
    from torch.nn import functional as F
    _, _, d, h, w = volume.shape
    g = base_grid(h, w, volume.dtype) + flow.permute(0, 2, 3, 1)
    grid = torch.stack([_norm(g[..., 0], w), _norm(g[..., 1], h), _norm(z[:, 0], d)], -1)
    return F.grid_sample(volume, grid[:, None], mode="bilinear", padding_mode="border",
                         align_corners=False)[:, :, 0]


def scale_space_warp(volume, flow, level) -> "torch.Tensor":
    """Cross-scale warp: ``volume`` [1, C, D, H, W] (``pyramid_volume``) sampled
    trilinearly at (x + u, y + v, ``level``): ``flow`` [1, 2, H, W] in pixels, ``level``
    [1, 1, H, W] in pyramid levels (0 = sharp .. D-1). Returns [1, C, H, W]."""
    return _warp5(volume, flow, level)


def voxel_warp(stack, flow, t) -> "torch.Tensor":
    """Voxel-flow warp: ``stack`` [1, C, R, H, W] of reference frames (index 0 = the
    newest) sampled trilinearly at (x + u, y + v, ``t``): ``t`` [1, 1, H, W] in frames
    (0 = newest .. R-1). Returns [1, C, H, W]."""
    return _warp5(stack, flow, t)
