"""SSVC-small (``ssvc``, frozen code 17): a semantically structured video bitstream.

After SSVC (a video bitstream whose optical flow and residual are reorganised per object so
that analysis tasks run on a partially decoded stream), built on the lvc container
(:mod:`.bitstream`) and the group-structured image codec gitssic (code 13).

Groups: a frame (padded to a multiple of 64 by replicating its border) is cut into 64 x 64
*tiles*; every tile belongs to one group (ids 0..254; the *tile map*, fixed for the whole
clip). A group is an object (a user mask, ``groups="objects"`` through ``aigif.save``) or a
region of the automatic map of the first frame (``groups=k``, default 4).

* I frames: one gitssic payload of the padded frame whose 16 x 16 block map is the tile map
  (each tile = 4 x 4 blocks); gitssic decodes a set of groups alone, exactly. Or, with
  ``intra="sth"``, sth-rdc-1 (envc's intra codec) with each tile coded alone, one
  sub-stream per group (better pictures than the small gitssic-1; the tiles pay for
  their borders).
* P frames: one sub-stream per group, holding that group's block flows (16 x 16 blocks,
  quarter pels, +-255) and the residuals of its tiles, each tile coded alone by the lvc
  residual coder (``lvc-res-1``: one 64 x 64 tile = one hyper-latent; the symbols of a
  group's coded tiles share one z stream and one y stream) or skipped (the prediction).
  The prediction of a group reads only its own tiles of the reference: the dense flow of a
  tile is the bilinear upsampling of the tile's own 4 x 4 block vectors (edges replicated
  inside the tile), and a pixel whose four bilinear taps are not all inside its group is
  sampled with its position clamped into its own tile (*motion-constrained tile sets*).
  Flow and warp are integer arithmetic (1/4096 pel positions, 2^24 weights), so the
  prediction is the same on every machine.

Decoding the groups S over the whole clip reads the header, the gitssic I frames' header,
mask and z streams and the sub-streams of S only, and gives, inside S, exactly the pixels
of a full decode (``decode(data, groups=S)``; the rest is ``fill``).

Sub-stream of group g in a P frame (g with n tiles, raster order)::

    kx u8 | ky u8 (flow residual tables) | flags: ceil(n/8) bytes (bit 7 of byte 0 = tile 0:
    1 coded, 0 skipped) | mv_len varint | mv stream (rANS) | z_len varint | z stream |
    y stream (the rest)

Varints are unsigned LEB128 (7 bits a byte, low first, at most 4 bytes). The lvc header's
extension (``ext``) of an ssvc payload is ``G u8 (1..255) | tile ids, ceil(h/64) x
ceil(w/64) bytes, raster order``, max id = G - 1.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, ClassVar, Iterable

from ....errors import CodecError
from ...video import as_fps, as_frames, check_video_size
from .._base import load_model, load_weights
from ..gitssic import DEFAULT_FILL, MAX_GROUPS, GitssicCodec, kmeans_cells
from . import motion as mo
from .bitstream import (COMMON_OPTIONS, INTRA_MODELS, KIND_I, KIND_P, RES_MODELS, STEP_ONE,
                        Header, LvcCodec, crf_step, intra_step, pack_frame, pack_header,
                        parse, parse_header)

__all__ = ["SsvcCodec", "TILE", "tile_groups", "predict", "dense_flow", "SSVC_CODE",
           "moving_objects"]

SSVC_CODE = 17
TILE = 64
BLOCK = 16
TB = TILE // BLOCK          # blocks per tile side
FLOW_MAX = 255
POS_BITS = 12               # sample positions in 1/4096 pel
LAMBDA0 = 0.013             # the residual coder's training trade (train_lvc_res --lmbda)
INTRA_GITSSIC = 2           # lvc intra_model id of gitssic-1
INTRA_STH = 1               # lvc intra_model id of sth-rdc-1 (ssvc: each tile coded alone)
_RES_KEY = 1                # lvc res_model id of lvc-res-1


# --------------------------------------------------------------------------- tile maps
def _tgrid(w: int, h: int) -> tuple[int, int]:
    return -(-h // TILE), -(-w // TILE)


def _majority(ids, cell: int, th: int, tw: int, objects: bool = False):
    """Most frequent id per cell x cell cell of an int map (ties: the smaller id); with
    ``objects``, id 0 is the background: a cell with any other id takes its most frequent
    other id (an object's tiles hold all of it)."""
    import numpy as np
    h, w = ids.shape
    n = int(ids.max()) + 1
    ci = (np.arange(h) // cell)[:, None] * tw + (np.arange(w) // cell)[None, :]
    counts = np.zeros((th * tw, n), np.int64)
    np.add.at(counts, (ci.reshape(-1), ids.reshape(-1)), 1)
    if objects and n > 1:
        counts[:, 0] = np.where(counts[:, 1:].sum(1) > 0, -1, counts[:, 0])
    return counts.argmax(1).reshape(th, tw)


def tile_groups(groups, frame0, width: int, height: int):
    """The tile map (int64 [ceil(h/64), ceil(w/64)]) of an encode's ``groups``: None (the
    automatic map of 4 compact regions of ``frame0``: k-means of the tiles' colours and
    positions, ids renumbered in raster order of first appearance), an int k (k regions),
    or a 2-D
    int array at tile, 16 x 16 block or pixel resolution, id 0 the background: a tile with
    any object (id > 0) takes its most frequent object id, so an object's tiles hold all of
    it; a tile of background only is 0. CodecError otherwise."""
    import numpy as np
    th, tw = _tgrid(width, height)
    if groups is None or (isinstance(groups, int) and not isinstance(groups, bool)):
        k = 4 if groups is None else groups
        if not 1 <= k <= MAX_GROUPS:
            raise CodecError(f"ssvc: automatic groups k must be 1..{MAX_GROUPS}, got {k}")
        f = np.pad(np.asarray(frame0), ((0, th * TILE - height), (0, tw * TILE - width),
                                        (0, 0)), mode="edge")
        t = _auto_tiles(f, k, th, tw)
        _, first = np.unique(t, return_index=True)
        order = np.argsort(np.argsort(first))
        remap = np.zeros(int(t.max()) + 1, np.int64)
        remap[np.unique(t)] = order
        return remap[t]
    if isinstance(groups, (str, bytes)):
        raise CodecError(f"ssvc groups: a mask, an int k or None, not {groups!r} "
                         f"('objects' is aigif.save's: it makes the mask)")
    try:
        g = np.asarray(groups)
    except Exception as e:  # noqa: BLE001 (anything array-like or not)
        raise CodecError(f"ssvc groups: not an array ({e})") from e
    if g.ndim != 2 or not (np.issubdtype(g.dtype, np.integer) or g.dtype == bool):
        raise CodecError(f"ssvc groups must be a 2-D integer array, got {g.dtype} {g.shape}")
    g = g.astype(np.int64)
    if g.size and (g.min() < 0 or g.max() >= MAX_GROUPS):
        raise CodecError(f"ssvc group ids must be 0..{MAX_GROUPS - 1}, got "
                         f"{int(g.min())}..{int(g.max())}")
    if g.shape == (th, tw):
        return g
    hb, wb = -(-height // BLOCK), -(-width // BLOCK)
    if g.shape == (hb, wb):
        return _majority(g, TB, th, tw, objects=True)
    if g.shape == (height, width):
        return _majority(g, TILE, th, tw, objects=True)
    raise CodecError(f"ssvc groups of shape {g.shape}: expected the tile grid {(th, tw)} "
                     f"(64 x 64 tiles), the block grid {(hb, wb)} or the pixel grid "
                     f"{(height, width)}")


def moving_objects(frames, max_objects: int = 8, threshold: float = 1.0,
                   min_area: int = 64):
    """Encoder side (OpenCV): the moving objects of a clip as a pixel mask int64 [H, W]
    (0 the background, 1..n the objects, largest first), or None when nothing moves apart
    from the camera. Each frame's DIS flow to the previous one (``motion.estimate``, preset
    "fast") minus its median (the camera's motion) marks the pixels moving more than
    ``threshold`` px; the union over the clip, opened (3 x 3) to drop noise, is cut into
    connected components (8-connected) of at least ``min_area`` pixels: each component is
    an object's tube (the places it passes through), the ``max_objects`` largest kept.
    Objects whose paths touch share a group. ``frames``: as the encoder takes them
    (CodecError otherwise). For ``aigif.save(..., video=...,
    fallback="ssvc", groups="objects")``: ssvc then gives each tube its own sub-stream."""
    import numpy as np
    f = as_frames(frames, "ssvc objects: video")
    if f.shape[0] < 2:
        return None
    moving = np.zeros(f.shape[1:3], np.uint8)
    for t in range(1, f.shape[0]):
        flow = mo.estimate(f[t], f[t - 1], "fast")
        d = flow - np.median(flow.reshape(-1, 2), 0)
        moving |= (np.hypot(d[..., 0], d[..., 1]) > threshold).astype(np.uint8)
    import cv2                      # present: motion.estimate needs it
    moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
    comps = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not comps:
        return None
    comps.sort(key=lambda i: -int(stats[i, cv2.CC_STAT_AREA]))
    mask = np.zeros(f.shape[1:3], np.int64)
    for j, i in enumerate(comps[:max_objects]):
        mask[labels == i] = j + 1
    return mask


def _auto_tiles(frame, k: int, th: int, tw: int, iters: int = 12):
    """k-means of the tiles' mean colours (weight 1) and positions (weight 1.5: compact
    regions, whose borders the motion constraint makes costly), deterministic (farthest
    point initialisation from tile 0)."""
    import numpy as np
    x = np.asarray(frame, np.float64) / 255.0
    return kmeans_cells(x[:th * TILE, :tw * TILE], TILE, k, 1.5, iters)


# --------------------------------------------------------------------------- prediction
def _axis_taps(n_tiles: int):
    """Per pixel of an axis of n_tiles tiles: (block i0, block i1, weight of i1 in 1/32)."""
    import numpy as np
    p = np.arange(TILE)
    s = np.clip(2 * p - (BLOCK - 1), 0, 32 * (TB - 1))     # (p + 0.5) / 16 - 0.5, in 1/32
    i0, lam = s >> 5, s & 31
    i1 = np.minimum(i0 + 1, TB - 1)
    base = (np.arange(n_tiles) * TB)[:, None]
    return (base + i0).reshape(-1), (base + i1).reshape(-1), np.tile(lam, n_tiles)


def dense_flow(v):
    """Block flows int [2, hb, wb] (quarter pels; hb, wb multiples of 4) -> the tile-local
    dense flow int64 [2, 16hb, 16wb] in 1/4096 pel: bilinear upsampling (align_corners
    False) of each tile's own 4 x 4 vectors, edges replicated inside the tile."""
    import numpy as np
    v = np.asarray(v, np.int64)
    _, hb, wb = v.shape
    r0, r1, ly = _axis_taps(hb // TB)
    c0, c1, lx = _axis_taps(wb // TB)
    a = v[:, r0][:, :, c0] * (32 - lx) + v[:, r0][:, :, c1] * lx
    b = v[:, r1][:, :, c0] * (32 - lx) + v[:, r1][:, :, c1] * lx
    return a * (32 - ly)[:, None] + b * ly[:, None]          # units 1/(4 * 32 * 32)


def predict(ref, v, tiles, sel=None):
    """The motion-constrained prediction of a frame: int64 [H, W, 3], 2^24 x the bilinear
    sample of ``ref`` (uint8 [H, W, 3], H, W multiples of 64) at the tile-local dense flow
    of ``v`` (int [2, H/16, W/16] quarter pels); a pixel whose taps leave its group
    (``tiles``: int [H/64, W/64]) samples at its position clamped into its own tile.
    ``sel`` (bool [H/64, W/64]): compute only those tiles (the others 0). Integer
    arithmetic, one row of tiles at a time (memory: a band, not the frame), so a tile's
    values do not depend on which others are computed."""
    import numpy as np
    h, w, _ = ref.shape
    tiles = np.asarray(tiles, np.int64)
    keep = np.ones(tiles.shape, bool) if sel is None else np.asarray(sel, bool)
    v = np.asarray(v, np.int64)
    r = np.asarray(ref)
    out = np.zeros((h, w, 3), np.int64)
    for band in range(tiles.shape[0]):
        if keep[band].any():
            y0 = band * TILE
            out[y0:y0 + TILE] = _predict_band(r, v[:, band * TB:(band + 1) * TB], tiles,
                                              keep[band], band)
    return out


def _predict_band(r, vb, tiles, keep_row, band: int):
    """:func:`predict` of tile row ``band`` (its block vectors ``vb`` [2, 4, W/16])."""
    import numpy as np
    h, w, _ = r.shape
    ys, xs = np.nonzero(np.broadcast_to(keep_row.repeat(TILE)[None], (TILE, w)))
    f = dense_flow(vb)
    one = 1 << POS_BITS
    px = np.clip(xs * one + f[0, ys, xs], 0, (w - 1) * one)
    ys = ys + band * TILE
    py = np.clip(ys * one + f[1, ys - band * TILE, xs], 0, (h - 1) * one)
    own = tiles[band, xs // TILE]

    def taps(px, py, xmax, ymax):
        x0, y0 = px >> POS_BITS, py >> POS_BITS
        return x0, y0, np.minimum(x0 + 1, xmax), np.minimum(y0 + 1, ymax)

    x0, y0, x1, y1 = taps(px, py, w - 1, h - 1)
    tx0, ty0, tx1, ty1 = x0 // TILE, y0 // TILE, x1 // TILE, y1 // TILE
    ok = (tiles[ty0, tx0] == own) & (tiles[ty0, tx1] == own) & \
        (tiles[ty1, tx0] == own) & (tiles[ty1, tx1] == own)
    if not ok.all():
        lo_x, lo_y = (xs // TILE) * TILE, band * TILE
        cx = np.clip(px, lo_x * one, (lo_x + TILE - 1) * one)
        cy = np.clip(py, lo_y * one, (lo_y + TILE - 1) * one)
        qx0, qy0, qx1, qy1 = taps(cx, cy, lo_x + TILE - 1, lo_y + TILE - 1)
        px, py = np.where(ok, px, cx), np.where(ok, py, cy)
        x0, y0 = np.where(ok, x0, qx0), np.where(ok, y0, qy0)
        x1, y1 = np.where(ok, x1, qx1), np.where(ok, y1, qy1)
    ax, ay = (px & (one - 1))[:, None], (py & (one - 1))[:, None]
    top = r[y0, x0].astype(np.int64) * (one - ax) + r[y0, x1] * ax
    bot = r[y1, x0].astype(np.int64) * (one - ax) + r[y1, x1] * ax
    out = np.zeros((TILE, w, 3), np.int64)
    out[ys - band * TILE, xs] = top * (one - ay) + bot * ay
    return out


def _bits(coder, z_sym, y_sym, index) -> float:
    """The information content (bits) of a tile's residual symbols under their tables."""
    import numpy as np
    zt = coder.z_table[np.arange(coder.H)[:, None], np.asarray(z_sym).reshape(coder.H, -1)]
    yt = coder.y_table[np.asarray(index).reshape(-1), np.asarray(y_sym).reshape(-1)]
    return float(-np.log2(zt / 65536.0).sum() - np.log2(yt / 65536.0).sum())


def _proxy(ref):
    """A float proxy of :func:`predict` without the group constraint (tile-local dense
    flow, 0..255): block fields [1, 2, hb, wb] -> [1, 3, H, W]."""
    import torch
    from torch.nn import functional as F
    th, tw = ref.shape[0] // TILE, ref.shape[1] // TILE
    ref_t = mo.to_tensor(ref, torch.float32) * 255.0

    def pred(g):
        t = g[0].reshape(2, th, TB, tw, TB).permute(1, 3, 0, 2, 4).reshape(th * tw, 2, TB, TB)
        up = F.interpolate(t, scale_factor=BLOCK, mode="bilinear", align_corners=False)
        d = up.reshape(th, tw, 2, TILE, TILE).permute(2, 0, 3, 1, 4)
        return mo.warp(ref_t, d.reshape(1, 2, th * TILE, tw * TILE) / 4.0)

    return pred


def _refine(v, ref, cur, iters: int):
    """Encoder only: block fields refined by :func:`motion.refine` on the prediction error
    of the tile-local dense flow (:func:`_proxy`; the caller's per-tile choices then see
    the group constraint)."""
    import torch
    cur_t = mo.to_tensor(cur, torch.float32) * 255.0
    return mo.refine(v, _proxy(ref), cur_t, [(-FLOW_MAX, FLOW_MAX)] * 2, iters)


def _group_residuals(blocks):
    """The residual map of one block field [hb, wb] as the group sub-streams code it
    (:func:`_flow_residuals`: the left block if it is in the same group, else the upper
    one if it is, else 0), for every group at once; ``blocks`` int [hb, wb] group ids."""
    import numpy as np
    b = np.asarray(blocks)
    left = np.zeros(b.shape, bool)
    left[:, 1:] = b[:, 1:] == b[:, :-1]
    up = np.zeros(b.shape, bool)
    up[1:] = b[1:] == b[:-1]
    up &= ~left

    def residuals(g):
        g = np.asarray(g, np.int64)
        pred = np.zeros_like(g)
        pred[:, 1:] = np.where(left[:, 1:], g[:, :-1], 0)
        pred[1:] = np.where(up[1:], g[:-1], pred[1:])
        return g - pred

    return residuals


def _rd(v, ref, cur, blocks, step: int, passes: int, valid):
    """Encoder only: rate-distortion optimised block vectors (:func:`motion.rd_fields`) on
    the tile-local proxy, their bits as the group sub-streams code them, at the tile
    coding's trade (bits + (LAMBDA0 / D^2) x SSE, D = step / 256)."""
    import torch
    cur_t = mo.to_tensor(cur, torch.float32) * 255.0
    lam = (step / STEP_ONE) ** 2 / LAMBDA0          # channel-mean SSE (0..255) per bit
    return mo.rd_fields(v, _proxy(ref), cur_t, lam, [(0, 1)], [(-FLOW_MAX, FLOW_MAX)] * 2,
                        passes=passes, valid=valid, residuals=_group_residuals(blocks))


def _rounded(pred_int):
    import numpy as np
    return ((pred_int + (1 << 23)) >> 24).astype(np.uint8)


def _as_tensor(pred_int, dtype):
    import numpy as np
    import torch
    x = torch.from_numpy(np.ascontiguousarray(pred_int.transpose(2, 0, 1)) / float(255 << 24))
    return x[None].to(dtype)


# --------------------------------------------------------------------------- group flows
def _put_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _get_varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    n = shift = 0
    for i in range(4):
        if pos >= len(data):
            raise CodecError(f"{what}: truncated in a length")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos
    raise CodecError(f"{what}: a length of more than 4 varint bytes")


def _group_blocks(tiles, g: int):
    """(rows, cols) of group g's 16 x 16 blocks, raster order, and its tile indices."""
    import numpy as np
    sel = np.asarray(tiles) == g
    bsel = sel.repeat(TB, 0).repeat(TB, 1)
    r, c = np.nonzero(bsel)
    return r, c, np.flatnonzero(sel), bsel


def _flow_residuals(v, r, c, bsel):
    """Residuals int64 [2, n] of the group's vectors: prediction = the left block if it is
    the group's, else the top block if it is, else 0."""
    import numpy as np
    v = np.asarray(v, np.int64)
    pred = np.zeros((2, len(r)), np.int64)
    left = (c > 0) & bsel[r, np.maximum(c - 1, 0)]
    up = ~left & (r > 0) & bsel[np.maximum(r - 1, 0), c]
    pred[:, left] = v[:, r[left], c[left] - 1]
    pred[:, up] = v[:, r[up] - 1, c[up]]
    return v[:, r, c] - pred


def _flow_reconstruct(res, r, c, bsel, hb: int, wb: int):
    import numpy as np
    v = np.zeros((2, hb, wb), np.int64)
    res = res.tolist()
    for i, (y, x) in enumerate(zip(r.tolist(), c.tolist())):
        if x > 0 and bsel[y, x - 1]:
            p0, p1 = v[0, y, x - 1], v[1, y, x - 1]
        elif y > 0 and bsel[y - 1, x]:
            p0, p1 = v[0, y - 1, x], v[1, y - 1, x]
        else:
            p0 = p1 = 0
        v[0, y, x], v[1, y, x] = p0 + res[0][i], p1 + res[1][i]
    if np.abs(v).max(initial=0) > FLOW_MAX:
        raise CodecError("ssvc sub-stream decodes a flow outside +-255 quarter pels (corrupt)")
    return v


def _encode_flows(res) -> bytes:
    import numpy as np

    from ..coding import TableEncoder
    RES_MAX, flow_tables = mo.RES_MAX, mo.flow_tables
    if not np.asarray(res).any():
        return b"\0\0", b""                # every residual 0: no stream
    tables = flow_tables()
    cost = -np.log2(tables.astype(np.float64) / (1 << 16))
    syms = [np.asarray(x, np.int64) + RES_MAX for x in res]
    ks = [int(np.argmin(cost[:, s].sum(1))) if s.size else 0 for s in syms]
    enc = TableEncoder(tables)
    for s, k in reversed(list(zip(syms, ks))):
        enc.push(s, np.full(s.size, k))
    return bytes(ks), enc.bytes()


def _decode_flows(ks, data: bytes, n: int, what: str):
    import numpy as np

    from ..coding import CodingError, TableDecoder
    RES_MAX, TABLES, flow_tables = mo.RES_MAX, mo.TABLES, mo.flow_tables
    if max(ks) >= TABLES:
        raise CodecError(f"{what}: flow table {max(ks)} (0..{TABLES - 1})")
    if not data:
        if any(ks):
            raise CodecError(f"{what}: no flow stream but flow tables {ks} (must be 0)")
        return np.zeros((len(ks), n), np.int64)
    try:
        dec = TableDecoder(bytes(data), flow_tables())
        return np.stack([dec.pop(np.full(n, k)).astype(np.int64) - RES_MAX for k in ks])
    except CodingError as e:
        raise CodecError(f"{what}: flow stream: {e}") from e


# --------------------------------------------------------------------------- sth I frames
def _sth_encode(sth, cur, tiles, n_groups: int, step: int, level: int):
    """I frame by sth-rdc-1, each 64 x 64 tile coded alone: (G sub-streams, the decoded
    padded frame). Group g's sub-stream: per tile of g (raster order) varint z_len | z |
    varint y_len | y."""
    import numpy as np
    tw = tiles.shape[1]
    subs = [bytearray() for _ in range(n_groups)]
    recon = np.empty_like(cur)
    for ti, g in enumerate(tiles.reshape(-1).tolist()):
        y0, x0 = ti // tw * TILE, ti % tw * TILE
        sl = (slice(y0, y0 + TILE), slice(x0, x0 + TILE))
        zb, yb, _ = sth.encode(np.ascontiguousarray(cur[sl]), step, level)
        subs[g] += _put_varint(len(zb)) + zb + _put_varint(len(yb)) + yb
        recon[sl] = sth.synthesize(sth.decode_latents(zb, yb, 1, 1, step, level), TILE, TILE)
    return [bytes(s) for s in subs], recon


def _sth_decode(sth, streams, tiles, want, head, i: int, trace):
    """The groups ``want`` of an sth I frame (the other pixels 0)."""
    import numpy as np

    from ..coding import CodingError
    th, tw = tiles.shape
    cur = np.zeros((th * TILE, tw * TILE, 3), np.uint8)
    what = f"ssvc payload I frame {i}"
    for g in sorted(want):
        s, pos = streams[g], 0
        for ti in np.flatnonzero(tiles.reshape(-1) == g).tolist():
            parts = []
            for _ in range(2):
                n, pos = _get_varint(s, pos, f"{what} group {g}")
                if n > len(s) - pos:
                    raise CodecError(f"{what} group {g}: a {n}-byte stream, "
                                     f"{len(s) - pos} left")
                parts.append(s[pos:pos + n])
                pos += n
            try:
                y = sth.decode_latents(parts[0], parts[1], 1, 1, head.intra_step,
                                       head.intra_level)
            except (CodingError, ValueError, RuntimeError, OverflowError) as e:
                raise CodecError(f"{what} group {g}: {e}") from e
            if trace is not None:
                trace.append(y)
            y0, x0 = ti // tw * TILE, ti % tw * TILE
            cur[y0:y0 + TILE, x0:x0 + TILE] = sth.synthesize(y, TILE, TILE)
        if pos != len(s):
            raise CodecError(f"{what} group {g}: {len(s) - pos} bytes after its tiles")
    return cur


# --------------------------------------------------------------------------- the codec
class SsvcCodec(LvcCodec):
    """``encode(frames, fps, crf=None, gop=0, groups=None, motion="medium")``;
    ``decode(data, groups=None, fill=(128, 128, 128), dtype=None) -> (frames, fps)``: with
    ``groups`` (ids), only those groups are decoded, their pixels exactly a full decode's,
    the rest ``fill``; ``tile_map(data)``, ``group_map(data)``, ``read_ranges(data,
    groups)`` (the bytes a partial decode reads)."""

    key: ClassVar[str] = "ssvc"
    code: ClassVar[int] = SSVC_CODE
    mime: ClassVar[str] = "application/x-aigif-ssvc"
    extension: ClassVar[str] = "ssvc"
    scheme_ref: ClassVar[str] = "aigif.codecs.learned.lvc.ssvc:SsvcCodec"
    #: decode(data, groups=[...]) gives only those regions
    partial: ClassVar[bool] = True

    # -- models ----------------------------------------------------------------------------
    @staticmethod
    def _intra():
        return GitssicCodec()

    @staticmethod
    def _sth(dtype=None):
        """(sth-rdc-1 coder, weights hash8): the tile-local I frames' coder."""
        return load_weights("ssvc", INTRA_MODELS[INTRA_STH], dtype, "intra")

    @staticmethod
    def _residual(model_id: int, dtype=None):
        return load_model("ssvc", RES_MODELS, model_id, dtype, "residual")

    # -- encoder ---------------------------------------------------------------------------
    def encode(self, frames, fps, crf: int | None = None, lossless: bool = False,
               gop: int = 0, groups: Any = None, motion: str = "medium",
               intra: str = "gitssic", intra_level: int | None = None, refine: int = 20,
               rd: int = 2, **opts: Any) -> bytes:
        return self.encode_recon(frames, fps, crf, lossless, gop, groups, motion, intra,
                                 intra_level, refine, rd, **opts)[0]

    def encode_recon(self, frames, fps, crf: int | None = None, lossless: bool = False,
                     gop: int = 0, groups: Any = None, motion: str = "medium",
                     intra: str = "gitssic", intra_level: int | None = None, refine: int = 20,
                     rd: int = 2, **opts: Any):
        """``(payload, the encoder's reconstruction uint8 [T, h, w, 3])`` (what a decode
        gives on this machine); options as ``encode``."""
        import numpy as np

        if lossless:
            raise CodecError("ssvc has no lossless mode")
        if opts:
            raise CodecError(f"ssvc: unknown option(s) {', '.join(sorted(opts))}")
        crf = self.default_crf if crf is None else crf
        if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
            raise CodecError(f"ssvc crf must be an integer 0..51, got {crf!r}")
        if isinstance(gop, bool) or not isinstance(gop, int) or not 0 <= gop <= 0xFFFF:
            raise CodecError(f"ssvc gop must be an integer 0..65535, got {gop!r}")
        if motion not in ("ultrafast", "fast", "medium"):
            raise CodecError(f"ssvc motion must be ultrafast, fast or medium, not {motion!r}")
        if isinstance(refine, bool) or not isinstance(refine, int) or not 0 <= refine <= 1000:
            raise CodecError(f"ssvc refine must be an integer 0..1000, got {refine!r}")
        if isinstance(rd, bool) or not isinstance(rd, int) or not 0 <= rd <= 16:
            raise CodecError(f"ssvc rd must be an integer 0..16 (passes), got {rd!r}")
        if intra not in ("gitssic", "sth"):
            raise CodecError(f"ssvc intra must be 'gitssic' or 'sth', not {intra!r}")
        if intra_level is None:
            intra_level = COMMON_OPTIONS["intra_level"]
        if isinstance(intra_level, bool) or not isinstance(intra_level, int) or \
                not 0 <= intra_level <= 3:
            raise CodecError(f"ssvc intra_level must be 0..3, got {intra_level!r}")
        arr = as_frames(frames)
        rate = as_fps(fps)
        t, h, w, _ = arr.shape
        check_video_size(w, h, t, "ssvc video")
        if t > 0xFFFF:
            raise CodecError(f"ssvc codes at most 65535 frames, not {t}")
        tiles = tile_groups(groups, arr[0], w, h)
        n_groups = int(tiles.max()) + 1
        th, tw = tiles.shape
        hp, wp = th * TILE, tw * TILE
        step, istep = crf_step(crf), intra_step(crf)
        intra_model = INTRA_GITSSIC if intra == "gitssic" else INTRA_STH
        level = 0 if intra_model == INTRA_GITSSIC else intra_level
        gitssic = self._intra()
        sth, sth_h8 = self._sth() if intra_model == INTRA_STH else (None, None)
        coder, res_h8 = self._residual(_RES_KEY)
        blocks = tiles.repeat(TB, 0).repeat(TB, 1)
        records, ref, intra_h8 = [], None, sth_h8
        recons = np.empty_like(arr)
        for i in range(t):
            cur = np.pad(arr[i], ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")
            if ref is None or (gop and i % gop == 0):
                if sth is not None:
                    subs, ref = _sth_encode(sth, cur, tiles, n_groups, istep, level)
                    records.append(pack_frame(KIND_I, subs))
                else:
                    payload = gitssic.encode_blocks(cur, blocks, istep)
                    intra_h8 = gitssic._parse(payload)["h8"]
                    ref = np.array(gitssic.decode(payload))
                    records.append(pack_frame(KIND_I, [payload]))
                recons[i] = ref[:h, :w]
                continue
            v = mo.block_flow(mo.estimate(cur, ref, motion))
            if refine:
                v = _refine(v, ref, cur, refine)
            if rd:
                v = _rd(v, ref, cur, blocks, step, rd, (h, w))
            pred = predict(ref, v, tiles)
            zero = np.asarray(ref, np.int64) << 24
            err = ((pred - (np.asarray(cur, np.int64) << 24)) >> 12) ** 2
            err0 = ((zero - (np.asarray(cur, np.int64) << 24)) >> 12) ** 2
            tile_err = err.reshape(th, TILE, tw, TILE, 3).sum((1, 3, 4)) / float(1 << 24)
            tile_err0 = err0.reshape(th, TILE, tw, TILE, 3).sum((1, 3, 4)) / float(1 << 24)
            # zero motion unless the flow's gain pays for its bits (about 1 + 2 log2(1 + |c|)
            # a component, at the tile coding's trade mu)
            mv_bits = (1 + 2 * np.log2(1 + np.abs(v))).sum(0)
            mv_bits = mv_bits.reshape(th, TB, tw, TB).sum((1, 3))
            mu = 3 * (step / STEP_ONE) ** 2 / LAMBDA0
            still = (tile_err0 <= tile_err + mu * mv_bits).repeat(TB, 0).repeat(TB, 1)
            if still.any():
                v = np.where(still[None], 0, v)
                pred = predict(ref, v, tiles)
            recon = np.empty_like(cur)
            subs = []
            for g in range(n_groups):
                subs.append(self._encode_group(g, tiles, v, cur, pred, coder, step, recon))
            ref = recon
            recons[i] = ref[:h, :w]
            records.append(pack_frame(KIND_P, subs))
        ext = bytes([n_groups]) + bytes(tiles.reshape(-1).astype(np.uint8).tolist())
        head = Header(self.code, w, h, t, rate, crf, step, istep, gop, level, intra_model,
                      intra_h8, _RES_KEY, res_h8, ext)
        return pack_header(head) + b"".join(records), recons

    @staticmethod
    def _encode_group(g, tiles, v, cur, pred, coder, step, recon) -> bytes:
        """Group g's sub-stream of a P frame; writes its tiles' reconstruction in recon."""
        import numpy as np

        from ..coding import TableEncoder
        r, c, tidx, bsel = _group_blocks(tiles, g)
        if not len(tidx):
            return b""
        # rate-distortion trade of coding a tile vs skipping it: the residual coder's
        # training loss, bits + (LAMBDA0 / D^2) * MSE (D = step / 256), per tile in SSE
        mu = 3 * (step / STEP_ONE) ** 2 / LAMBDA0
        ks, mv = _encode_flows(_flow_residuals(v, r, c, bsel))
        tw = tiles.shape[1]
        flags, zs, ys, yidx = [], [], [], []
        for ti in tidx.tolist():
            y0, x0 = ti // tw * TILE, ti % tw * TILE
            sl = (slice(y0, y0 + TILE), slice(x0, x0 + TILE))
            x = cur[sl]
            p_int = pred[sl]
            skip = _rounded(p_int)
            pt = _as_tensor(p_int, coder.dtype)
            z_sym, y_sym, pred_p, _, _ = coder.analyse(x, pt, step)
            means, index = coder.hyper(z_sym, step)
            x_hat = coder._synth(coder._fixed(means, y_sym, step), pred_p, TILE, TILE)
            d_skip = int(((skip.astype(np.int64) - x) ** 2).sum())
            d_code = int(((x_hat.astype(np.int64) - x) ** 2).sum())
            coded = d_code + mu * _bits(coder, z_sym, y_sym, index) < d_skip
            flags.append(coded)
            recon[sl] = x_hat if coded else skip
            if coded:
                zs.append(z_sym.reshape(coder.H, 1))
                ys.append(y_sym.reshape(-1))
                yidx.append(index.reshape(-1))
        fl = bytearray((len(flags) + 7) // 8)
        for i, f in enumerate(flags):
            if f:
                fl[i // 8] |= 0x80 >> (i % 8)
        zb = yb = b""
        if zs:
            z = np.concatenate(zs, 1)
            ez = TableEncoder(coder.z_table)
            ez.push(z, np.broadcast_to(np.arange(coder.H)[:, None], z.shape))
            zb = ez.bytes()
            ey = TableEncoder(coder.y_table)
            ey.push(np.concatenate(ys), np.concatenate(yidx))
            yb = ey.bytes()
        return b"".join([ks, bytes(fl), _put_varint(len(mv)), mv, _put_varint(len(zb)), zb,
                         yb])

    # -- parsing ---------------------------------------------------------------------------
    def _parse(self, data: bytes):
        """(header, frames, tile map, layout): everything checked, no model loaded;
        layout[i] = [(start, end) of each sub-stream of frame i]."""
        import numpy as np
        what = "ssvc payload"
        head, frames = parse(data, what)
        if head.scheme != self.code:
            raise CodecError(f"{what} declares scheme {head.scheme} (expected {self.code})")
        if head.intra_model not in (INTRA_GITSSIC, INTRA_STH):
            raise CodecError(f"{what} names intra model {head.intra_model} (ssvc: "
                             f"{INTRA_GITSSIC}, gitssic, or {INTRA_STH}, sth-rdc-1 by tile)")
        if head.intra_model == INTRA_GITSSIC and head.intra_level:
            raise CodecError(f"{what}: intra level {head.intra_level} with gitssic I frames "
                             f"(must be 0)")
        th, tw = _tgrid(head.width, head.height)
        ext = head.ext
        if len(ext) != 1 + th * tw:
            raise CodecError(f"{what}: header extension of {len(ext)} bytes, expected "
                             f"{1 + th * tw} (G + a {th}x{tw} tile map)")
        n_groups = ext[0]
        tiles = np.frombuffer(ext[1:], np.uint8).astype(np.int64).reshape(th, tw)
        if n_groups < 1 or int(tiles.max()) != n_groups - 1:
            raise CodecError(f"{what}: {n_groups} groups, but the tile map's largest id is "
                             f"{int(tiles.max())} (must be G - 1)")
        present = set(np.unique(tiles).tolist())
        layout, pos = [], len(data) - sum(2 + 4 * len(f.streams) + sum(map(len, f.streams))
                                          for f in frames)
        for i, f in enumerate(frames):
            pos += 2 + 4 * len(f.streams)
            spans = []
            for s in f.streams:
                spans.append((pos, pos + len(s)))
                pos += len(s)
            layout.append(spans)
            if f.kind == KIND_I and head.intra_model == INTRA_GITSSIC:
                if len(f.streams) != 1:
                    raise CodecError(f"{what}: I frame {i} has {len(f.streams)} sub-streams "
                                     f"(1: a gitssic payload)")
            elif f.kind in (KIND_I, KIND_P):
                if i == 0 and f.kind == KIND_P:
                    raise CodecError(f"{what}: frame 0 is a P frame")
                if len(f.streams) != n_groups:
                    raise CodecError(f"{what}: frame {i} has {len(f.streams)} sub-streams, "
                                     f"the payload {n_groups} groups")
                for g, s in enumerate(f.streams):
                    if (g in present) != bool(len(s)):
                        raise CodecError(f"{what}: frame {i} group {g}: "
                                         f"{len(s)}-byte sub-stream for a group of "
                                         f"{'some' if g in present else 'no'} tiles")
            else:
                raise CodecError(f"{what}: frame {i} of unknown kind {f.kind}")
        return head, frames, tiles, layout

    def _intra_parse(self, payload: bytes, head: Header, n_groups: int, i: int):
        p = self._intra()._parse(payload)
        th, tw = _tgrid(head.width, head.height)
        if (p["w"], p["h"]) != (tw * TILE, th * TILE) or p["G"] != n_groups or \
                p["step"] != head.intra_step or p["h8"] != head.intra_hash:
            raise CodecError(f"ssvc payload: I frame {i}'s gitssic payload does not match "
                             f"the header (size {p['w']}x{p['h']}, {p['G']} groups, step "
                             f"{p['step']}, weights {p['h8'].hex()})")
        return p

    def probe(self, data: bytes) -> tuple[int, int, int, Fraction]:
        head, _ = parse_header(bytes(data), "ssvc payload")
        if head.scheme != self.code:
            raise CodecError(f"ssvc payload declares scheme {head.scheme} (expected "
                             f"{self.code})")
        return head.width, head.height, head.frames, head.fps

    def tile_map(self, data: bytes):
        """The group of every 64 x 64 tile: int64 [ceil(h/64), ceil(w/64)] (no decoding)."""
        return self._parse(bytes(data))[2]

    def group_map(self, data: bytes):
        """The group id of every pixel: int64 [h, w] (no decoding)."""
        head, _, tiles, _ = self._parse(bytes(data))
        return tiles.repeat(TILE, 0).repeat(TILE, 1)[:head.height, :head.width]

    @staticmethod
    def _wanted(groups, n_groups: int) -> set[int]:
        if groups is None:
            return set(range(n_groups))
        if isinstance(groups, (str, bytes)):
            raise CodecError(f"ssvc: groups must be a list of group ids, got {groups!r}")
        try:
            want = set()
            for g in groups:
                if isinstance(g, bool) or int(g) != g:
                    raise TypeError(f"{g!r} is not an integer")
                want.add(int(g))
        except (TypeError, ValueError) as e:
            raise CodecError(f"ssvc: groups must be a list of group ids, got "
                             f"{groups!r}") from e
        if not want:
            raise CodecError("ssvc: groups=[] decodes nothing (name at least one group)")
        bad = sorted(g for g in want if not 0 <= g < n_groups)
        if bad:
            raise CodecError(f"ssvc: no group {bad[0]} in this payload (it has groups "
                             f"0..{n_groups - 1})")
        return want

    def read_ranges(self, data: bytes, groups: Iterable[int] | None = None):
        """The byte ranges [(start, end)] of ``data`` a decode of ``groups`` reads: the
        header, each record's kind and lengths, each I frame's gitssic header, mask and z
        streams and the groups' latent sub-streams, each P frame's sub-streams of the
        groups."""
        data = bytes(data)
        head, frames, tiles, layout = self._parse(data)
        n_groups = int(tiles.max()) + 1
        want = self._wanted(groups, n_groups)
        pos = len(data) - sum(2 + 4 * len(f.streams) + sum(map(len, f.streams))
                              for f in frames)
        out = [(0, pos)]
        for i, (f, spans) in enumerate(zip(frames, layout)):
            out.append((spans[0][0] - 2 - 4 * len(f.streams), spans[0][0]))  # kind, lengths
            if f.kind == KIND_I and head.intra_model == INTRA_GITSSIC:
                a = spans[0][0]
                p = self._intra_parse(f.streams[0], head, n_groups, i)
                out.append((a, a + p["z"][1]))
                out.extend((a + s, a + e) for g, (s, e) in enumerate(p["subs"]) if g in want)
            else:
                out.extend(spans[g] for g in sorted(want))
        return [(a, b) for a, b in out if b > a]

    # -- decoder ---------------------------------------------------------------------------
    def decode(self, data: bytes, groups: Iterable[int] | None = None,
               fill: tuple[int, int, int] = DEFAULT_FILL, dtype=None, **opts: Any):
        """``(frames uint8 [T, h, w, 3], fps)``; with ``groups``, only those groups' pixels
        (equal to a full decode's), the rest ``fill``. Raises CodecError /
        LimitExceededError."""
        if opts:
            raise CodecError(f"ssvc decode: unknown option(s) {', '.join(sorted(opts))}")
        return self._decode(bytes(data), groups, fill, dtype, None)

    def decode_integers(self, data: bytes, dtype=None):
        """``(integer arrays, frames)``: every integer the full decoder derives, in decoding
        order (I frames: gitssic's fixed-point latents; P frames: the flow field, the tile
        flags and each coded tile's fixed-point latents), the same on every machine, and
        the decoded frames (conformance vectors, drift checks)."""
        trace: list = []
        frames, _ = self._decode(bytes(data), None, DEFAULT_FILL, dtype, trace)
        return trace, frames

    def _decode(self, data: bytes, groups, fill, dtype, trace):
        import numpy as np
        head, frames, tiles, _ = self._parse(data)
        n_groups = int(tiles.max()) + 1
        want = self._wanted(groups, n_groups)
        try:
            fillv = np.asarray(fill, np.int64).reshape(3)
            if fillv.min() < 0 or fillv.max() > 255:
                raise ValueError
        except (ValueError, TypeError, OverflowError) as e:
            raise CodecError(f"ssvc: fill must be an (r, g, b) triple of 0..255, got "
                             f"{fill!r}") from e
        fillv = fillv.astype(np.uint8)
        intra = self._intra()
        gitssic_i = head.intra_model == INTRA_GITSSIC
        blocks = tiles.repeat(TB, 0).repeat(TB, 1)
        for i, f in enumerate(frames):
            if f.kind == KIND_I and gitssic_i:
                self._intra_parse(f.streams[0], head, n_groups, i)
                if not np.array_equal(intra.block_map(f.streams[0]), blocks):
                    raise CodecError(f"ssvc payload: I frame {i}'s gitssic block map is not "
                                     f"the tile map")
        sth = None
        if not gitssic_i:
            sth, sth_h8 = self._sth(dtype)
            if sth_h8 != head.intra_hash:
                raise CodecError(f"ssvc payload was made with other intra weights (hash "
                                 f"{head.intra_hash.hex()}, installed {sth_h8.hex()})")
        coder, res_h8 = self._residual(head.res_model, dtype)
        if res_h8 != head.res_hash:
            raise CodecError(f"ssvc payload was made with other residual weights (hash "
                             f"{head.res_hash.hex()}, installed {res_h8.hex()})")
        th, tw = tiles.shape
        keep = np.isin(tiles, sorted(want)).repeat(TILE, 0).repeat(TILE, 1)
        out = np.empty((head.frames, head.height, head.width, 3), np.uint8)
        ref = None
        for i, f in enumerate(frames):
            if f.kind == KIND_I and not gitssic_i:
                cur = _sth_decode(sth, f.streams, tiles, want, head, i, trace)
            elif f.kind == KIND_I:
                gw = None if groups is None else sorted(want)
                cur = np.array(intra.decode(f.streams[0], groups=gw, dtype=dtype))
                if trace is not None:
                    trace.append(intra.decode_latents(f.streams[0], None, dtype)[2])
            else:
                cur = self._decode_p(f, i, ref, tiles, want, coder, head.step, trace)
            if groups is not None:
                cur[~keep] = fillv
            out[i] = cur[:head.height, :head.width]
            ref = cur
        return out, head.fps

    @staticmethod
    def _decode_p(f, i, ref, tiles, want, coder, step, trace=None):
        """P frame i (the groups ``want``) from reference ``ref``: uint8 [H64, W64, 3]."""
        import numpy as np

        from ..coding import CodingError, TableDecoder
        th, tw = tiles.shape
        hb, wb = th * TB, tw * TB
        what = f"ssvc payload P frame {i}"
        v = np.zeros((2, hb, wb), np.int64)
        parts = {}
        for g in sorted(want):
            s = f.streams[g]
            if not s:
                continue
            r, c, tidx, bsel = _group_blocks(tiles, g)
            n = len(tidx)
            nf = (n + 7) // 8
            if len(s) < 2 + nf:
                raise CodecError(f"{what} group {g}: sub-stream truncated")
            ks = list(s[:2])
            flags = [bool(s[2 + k // 8] & (0x80 >> (k % 8))) for k in range(n)]
            if n % 8 and s[1 + nf] & (0xFF >> (n % 8)):
                raise CodecError(f"{what} group {g}: unused tile flag bits are set")
            pos = 2 + nf
            ml, pos = _get_varint(s, pos, f"{what} group {g}")
            if ml > len(s) - pos:
                raise CodecError(f"{what} group {g}: flow stream of {ml} bytes, "
                                 f"{len(s) - pos} left")
            res = _decode_flows(ks, s[pos:pos + ml], len(r), f"{what} group {g}")
            pos += ml
            vg = _flow_reconstruct(res, r, c, bsel, hb, wb)
            v[:, bsel] = vg[:, bsel]
            zl, pos = _get_varint(s, pos, f"{what} group {g}")
            if zl > len(s) - pos:
                raise CodecError(f"{what} group {g}: z stream of {zl} bytes, "
                                 f"{len(s) - pos} left")
            zb, yb = s[pos:pos + zl], s[pos + zl:]
            if not any(flags) and (zb or yb):
                raise CodecError(f"{what} group {g}: residual streams but no coded tile")
            parts[g] = (tidx, flags, zb, yb)
        pred = predict(ref, v, tiles, np.isin(tiles, sorted(want)))
        cur = np.zeros_like(ref)
        if trace is not None:
            trace.append(v.copy())
            trace.append(np.array([fl for g in sorted(parts) for fl in parts[g][1]],
                                  np.int64))
        for g, (tidx, flags, zb, yb) in parts.items():
            coded = [t for t, fl in zip(tidx.tolist(), flags) if fl]
            for t, fl in zip(tidx.tolist(), flags):
                if not fl:
                    y0, x0 = t // tw * TILE, t % tw * TILE
                    cur[y0:y0 + TILE, x0:x0 + TILE] = _rounded(pred[y0:y0 + TILE,
                                                                   x0:x0 + TILE])
            if not coded:
                continue
            n = len(coded)
            try:
                z_index = np.broadcast_to(np.arange(coder.H)[:, None], (coder.H, n))
                z = TableDecoder(bytes(zb), coder.z_table).pop(z_index).reshape(coder.H, n)
                hyp = [coder.hyper(z[:, k].reshape(coder.H, 1, 1), step) for k in range(n)]
                idx = np.concatenate([ix.reshape(-1) for _, ix in hyp])
                y = TableDecoder(bytes(yb), coder.y_table).pop(idx)
            except (CodingError, ValueError, RuntimeError, OverflowError) as e:
                raise CodecError(f"{what} group {g}: residual stream: {e}") from e
            per = len(idx) // n
            for k, t in enumerate(coded):
                y0, x0 = t // tw * TILE, t % tw * TILE
                sl = (slice(y0, y0 + TILE), slice(x0, x0 + TILE))
                means, ix = hyp[k]
                ys = y[k * per:(k + 1) * per].reshape(ix.shape)
                pt, _, _ = coder._pred(_as_tensor(pred[sl], coder.dtype))
                y_fixed = coder._fixed(means, ys, step)
                if trace is not None:
                    trace.append(y_fixed)
                cur[sl] = coder._synth(y_fixed, pt, TILE, TILE)
        return cur
