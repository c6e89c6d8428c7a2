"""The ``gitssic`` pixel codec (frozen code 13): group-structured learned coding after
GIT-SSIC (ICCV 2023) — an image split into groups of irregular shape whose regions a
receiver decodes independently (docs/model-card-gitssic.md, training/codecs/train_gitssic.py).

Payload syntax (spec/aigif-v1.md, "Syntax: gitssic payload"; integers big-endian)::

    magic "GSSC" | version u8 (1) | model u8 (1 = gitssic-1) | weights: 8 bytes (SHA-256
    prefix of the weights file) | width u16 | height u16 | step u16 (1/256 units) |
    M u16 | H u16 | hb u16 | wb u16 (block grid) | G u8 (groups, 1..255) | f0 u16 | f1 u16 (mask event frequencies) |
    mask_len u32 | z_len u32 | G x len u32 | mask stream | z stream | G group streams

The group of every 16 x 16 block (the "block map", ceil(h/16) x ceil(w/16) ids 0..G-1) is
coded losslessly in the mask stream; the hyper-latent z (shared by all groups) in the z
stream; group g's latents (all M channels of its blocks) in its own sub-stream, so a reader
that wants groups {1, 3} entropy-decodes z and those two sub-streams only. The synthesis is
group-independent (group-masked Swin attention, per-token layers), so the pixels of the
decoded groups equal a full decode's bit for bit; the other pixels are filled with
``fill`` (default mid-gray (128, 128, 128)). With one torch thread a partial decode runs
the synthesis on the groups' bounding rectangle only, aligned to the attention windows
(``GitSsicCoder.synthesis_box``): same pixels, less work.

Groups (``encode(..., groups=...)``, ``aigif.save(..., groups=...)``): a 2-D int array
at block resolution (ceil(h/16) x ceil(w/16)) or at pixel resolution (h x w: each block
takes the most frequent id among its pixels, ties to the smaller id), ids 0..254; an int k
(automatic map with k regions); None (automatic, :func:`auto_groups` with 4 regions).

Everything is checked (size against the pixel budget, shapes against the model, lengths
against the payload) before any tensor is built. Torch, numpy and constriction are imported
only when a payload is encoded or decoded.
"""
from __future__ import annotations

import struct
from typing import Any, ClassVar, Iterable

from ...errors import CodecError
from ._base import ZooCodec, quality_step

__all__ = ["GitssicCodec", "MODEL_IDS", "MAGIC", "HEADER", "BLOCK", "MAX_GROUPS",
           "DEFAULT_FILL", "auto_groups", "snap_groups", "encode_mask", "decode_mask",
           "GROUPS_INFO_KEY", "group_names_json"]

STEP_ONE = 256      # = models.STEP_ONE (models imports torch; this module must not)
BLOCK = 16          # = gitssic_model.BLOCK
MAGIC = b"GSSC"
VERSION = 1
MODEL_IDS: dict[int, str] = {1: "gitssic-1"}
HEADER = struct.Struct(">4sBB8sHHHHHHHBHHII")
MAX_GROUPS = 255
DEFAULT_FILL = (128, 128, 128)
PMF_TOTAL = 1 << 16


def _grid(width: int, height: int) -> tuple[int, int]:
    return -(-height // BLOCK), -(-width // BLOCK)


# --- group maps ---------------------------------------------------------------------------

def snap_groups(groups, width: int, height: int):
    """A user group map -> the block map (int64 [hb, wb]); CodecError when it fits neither
    the block grid nor the pixel grid or has ids outside 0..254."""
    import numpy as np
    hb, wb = _grid(width, height)
    try:
        g = np.asarray(groups)
    except Exception as e:  # noqa: BLE001 (anything array-like or not)
        raise CodecError(f"gitssic groups: not an array ({e})") from e
    if g.ndim != 2 or not (np.issubdtype(g.dtype, np.integer) or g.dtype == bool):
        raise CodecError(f"gitssic groups must be a 2-D integer array, got {g.dtype} "
                         f"{g.shape}")
    g = g.astype(np.int64)
    if g.size and (g.min() < 0 or g.max() >= MAX_GROUPS):
        raise CodecError(f"gitssic group ids must be 0..{MAX_GROUPS - 1}, got "
                         f"{int(g.min())}..{int(g.max())}")
    if g.shape == (hb, wb):
        return g
    if g.shape != (height, width):
        raise CodecError(f"gitssic groups of shape {g.shape}: expected the block grid "
                         f"{(hb, wb)} (16 x 16 blocks) or the pixel grid {(height, width)}")
    # each block: the most frequent id among its pixels (ties: the smaller id)
    n = int(g.max()) + 1
    bi = (np.arange(height) // BLOCK)[:, None] * wb + (np.arange(width) // BLOCK)[None, :]
    counts = np.zeros((hb * wb, n), np.int64)
    np.add.at(counts, (bi.reshape(-1), g.reshape(-1)), 1)
    return counts.argmax(1).reshape(hb, wb)


def kmeans_cells(x, cell: int, k: int, pos_weight: float, iters: int = 12):
    """k-means labels (int64 [H/cell, W/cell], raw ids < k) of the ``cell`` x ``cell``
    cells of ``x`` (float [H, W, 3] in 0..1, H and W multiples of ``cell``): features are
    the cells' mean colours (weight 1) and positions normalized by the longer side (weight
    ``pos_weight``); deterministic (farthest-point initialisation from the first cell).
    gitssic's automatic block map and ssvc's automatic tile groups."""
    import numpy as np
    hc, wc = x.shape[0] // cell, x.shape[1] // cell
    col = x.reshape(hc, cell, wc, cell, 3).mean((1, 3)).reshape(-1, 3)
    ii, jj = np.meshgrid(np.arange(hc), np.arange(wc), indexing="ij")
    s = max(hc, wc)
    feat = np.concatenate([col, pos_weight * np.stack([ii.ravel() / s, jj.ravel() / s], 1)],
                          1)
    k = max(1, min(int(k), len(feat)))
    cent = [feat[0]]
    for _ in range(1, k):
        d = np.min([((feat - c) ** 2).sum(1) for c in cent], 0)
        cent.append(feat[int(np.argmax(d))])
    cent = np.array(cent)
    lab = np.zeros(len(feat), np.int64)
    for _ in range(iters):
        lab = np.argmin(((feat[:, None] - cent[None]) ** 2).sum(2), 1)
        for c in range(k):
            if (lab == c).any():
                cent[c] = feat[lab == c].mean(0)
    return lab.reshape(hc, wc)


def auto_groups(rgb, k: int = 4, iters: int = 12):
    """An automatic block map (int64 [hb, wb], ids 0..k'-1, k' <= k): k-means of the blocks'
    mean colours (weighted 1) and positions (weighted 0.5, normalized), deterministic
    initialisation (farthest point from the first block), ids renumbered in order of first
    appearance (raster order)."""
    import numpy as np
    rgb = np.asarray(rgb, np.float64)
    h, w, _ = rgb.shape
    hb, wb = _grid(w, h)
    ph, pw = hb * BLOCK - h, wb * BLOCK - w
    x = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge") / 255.0
    lab = kmeans_cells(x, BLOCK, min(int(k), MAX_GROUPS), 0.5, iters).reshape(-1)
    _, first = np.unique(lab, return_index=True)
    order = np.argsort(np.argsort(first))
    remap = np.zeros(int(lab.max()) + 1, np.int64)
    remap[np.unique(lab)] = order
    return remap[lab].reshape(hb, wb)


# --- lossless coding of the block map -------------------------------------------------------

def _uniform(n: int):
    import numpy as np
    f = np.full(n, (PMF_TOTAL - n) // n + 1, np.int64)
    f[0] += PMF_TOTAL - f.sum()
    return f


def _events(blocks):
    """(events of blocks 1.., explicit ids of block 0 and of every event-2 block)."""
    import numpy as np
    b = np.asarray(blocks, np.int64)
    hb, wb = b.shape
    left = np.full_like(b, -1)
    left[:, 1:] = b[:, :-1]
    up = np.full_like(b, -1)
    up[1:] = b[:-1]
    ev = np.where(b == left, 0, np.where(b == up, 1, 2)).ravel()
    ev[0] = 2
    return ev[1:], b.ravel()[ev == 2]


def encode_mask(blocks, n_groups: int) -> tuple[int, int, bytes]:
    """(f0, f1, stream) for a block map with ids 0..n_groups-1 (spec: mask stream)."""
    import constriction
    import numpy as np
    if n_groups == 1:
        return 0, 0, b""
    ev, ids = _events(blocks)
    counts = np.bincount(ev, minlength=3)
    n = max(1, len(ev))
    f = counts * (PMF_TOTAL - 3) // n + 1
    f[int(np.argmax(f))] += PMF_TOTAL - f.sum()
    coder = constriction.stream.stack.AnsCoder()
    from .coding import _model
    coder.encode_reverse(ids.astype(np.int32), _model(_uniform(n_groups)))
    if len(ev):
        coder.encode_reverse(ev.astype(np.int32), _model(f))
    return int(f[0]), int(f[1]), coder.get_compressed().astype("<u4").tobytes()


def decode_mask(data: bytes, hb: int, wb: int, n_groups: int, f0: int, f1: int):
    """The block map (int64 [hb, wb]) of a mask stream; CodecError when it is corrupt."""
    import numpy as np
    if n_groups == 1:
        if data or f0 or f1:
            raise CodecError("gitssic payload: one group, but a mask stream or mask "
                             "frequencies are present")
        return np.zeros((hb, wb), np.int64)
    if not (f0 >= 1 and f1 >= 1 and f0 + f1 <= PMF_TOTAL - 1):
        raise CodecError(f"gitssic payload: mask frequencies {f0}, {f1} are not valid "
                         f"(each >= 1, sum <= 65535)")
    if len(data) % 4:
        raise CodecError("gitssic payload: mask stream is not a whole number of 32-bit words")
    import constriction

    from .coding import _model
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, "<u4").astype(np.uint32))
        n = hb * wb - 1
        ev = coder.decode(_model(np.array([f0, f1, PMF_TOTAL - f0 - f1])), n) if n else \
            np.zeros(0, np.int32)
        n_ids = 1 + int((np.asarray(ev) == 2).sum())
        ids = coder.decode(_model(_uniform(n_groups)), n_ids)
    except (ValueError, RuntimeError, AssertionError) as e:
        raise CodecError(f"gitssic payload: mask stream is corrupt: {e}") from e
    ev = np.concatenate([[2], np.asarray(ev, np.int64)])
    ids = np.asarray(ids, np.int64)
    i_pos = np.arange(hb * wb) // wb
    j_pos = np.arange(hb * wb) % wb
    if ((ev == 0) & (j_pos == 0)).any() or ((ev == 1) & (i_pos == 0)).any():
        raise CodecError("gitssic payload: mask stream refers to a neighbour outside the "
                         "block grid (corrupt)")
    out = np.empty(hb * wb, np.int64)
    it = iter(ids.tolist())
    evl = ev.tolist()
    for p in range(hb * wb):       # ints only: cheap even for the largest grids
        e = evl[p]
        out[p] = next(it) if e == 2 else (out[p - 1] if e == 0 else out[p - wb])
    return out.reshape(hb, wb)



#: The file-info key (spec 6.3) under which a file names its gitssic groups: JSON
#: {"id": "name"} (``aigif.save(..., groups="objects")``, ``AigifFile.group_names``).
GROUPS_INFO_KEY = "gitssic.groups"


def group_names_json(groups: dict[int, str]) -> str:
    """The canonical JSON text of a group-name table (keys ascending)."""
    import json
    return json.dumps({str(k): groups[k] for k in sorted(groups)}, ensure_ascii=False,
                      separators=(",", ":"))

# --- the codec ------------------------------------------------------------------------------

class GitssicCodec(ZooCodec):
    key: ClassVar[str] = "gitssic"
    code: ClassVar[int] = 13
    mime: ClassVar[str] = "application/x-aigif-gitssic"
    extension: ClassVar[str] = "gssc"
    lossy: ClassVar[bool] = True
    lossless: ClassVar[bool] = False
    extra: ClassVar[str] = "learned"
    #: decode(data, groups=[...]) gives only those regions
    partial: ClassVar[bool] = True
    #: the model id new payloads use (tests may point it at in-memory weights)
    default_model: ClassVar[int] = 1

    model_ids: ClassVar[dict[int, str]] = MODEL_IDS

    def encode(self, image, quality: int | None = None, lossless: bool = False,
               effort: int | None = None, groups: Any = None, model: int | None = None,
               **opts: Any) -> bytes:
        import numpy as np
        if lossless:
            raise CodecError("gitssic has no lossless mode")
        if effort is not None:
            raise CodecError("gitssic has no effort levels")
        if opts:
            raise CodecError(f"gitssic: unknown option(s) {', '.join(sorted(opts))}")
        model_id = self.default_model if model is None else model
        step = quality_step(quality, STEP_ONE)
        image, w, h = self._rgb_input(image)
        rgb = np.asarray(image)
        if groups is None or (isinstance(groups, int) and not isinstance(groups, bool)):
            k = 4 if groups is None else groups
            if not 1 <= k <= MAX_GROUPS:
                raise CodecError(f"gitssic: automatic groups k must be 1..{MAX_GROUPS}, "
                                 f"got {k}")
            blocks = auto_groups(rgb, k)
        else:
            blocks = snap_groups(groups, w, h)
        return self.encode_blocks(rgb, blocks, step, model_id)

    def encode_blocks(self, rgb, blocks, step: int, model: int | None = None) -> bytes:
        """The payload of ``rgb`` (uint8 [h, w, 3]) with the block map ``blocks`` (int
        [ceil(h/16), ceil(w/16)], ids 0..254, checked by the caller) at latent step
        ``step`` (1/256 units, 1..65535): what ``encode`` writes once it has resolved
        quality and groups (the ssvc video codec codes its I frames with it)."""
        import numpy as np

        from .coding import encode_tables
        model_id = self.default_model if model is None else model
        h, w = rgb.shape[:2]
        n_groups = int(blocks.max()) + 1
        coder, h8 = self._coder(model_id)
        hb, wb = blocks.shape
        z_sym, y = coder.analyse_float(rgb, blocks)
        means, index = coder.hyper(z_sym, hb, wb, step)
        y_sym = coder.quantize(y, means, step)
        z_index = np.broadcast_to(np.arange(coder.H)[:, None, None], z_sym.shape)
        zb = encode_tables(z_sym, z_index, coder.z_table)
        subs = []
        for g in range(n_groups):
            sel = blocks == g
            subs.append(encode_tables(y_sym[:, sel], index[:, sel], coder.y_table)
                        if sel.any() else b"")
        f0, f1, mb = encode_mask(blocks, n_groups)
        head = HEADER.pack(MAGIC, VERSION, model_id, h8, w, h, step, coder.M, coder.H, hb, wb,
                           n_groups, f0, f1, len(mb), len(zb))
        return b"".join([head, struct.pack(f">{n_groups}I", *map(len, subs)), mb, zb, *subs])

    def _parse(self, data: bytes) -> dict:
        from .._pillow import check_size
        if len(data) < 6:
            raise CodecError(f"gitssic payload truncated: {len(data)} bytes")
        if data[:4] != MAGIC:
            raise CodecError("not a gitssic payload (bad magic)")
        if data[4] != VERSION:
            raise CodecError(f"gitssic payload version {data[4]} is not supported (1)")
        if len(data) < HEADER.size:
            raise CodecError(f"gitssic payload truncated: {len(data)} bytes, header is "
                             f"{HEADER.size}")
        (_, _, model_id, h8, w, h, step, m, hh, hb, wb, n_groups, f0, f1, ml,
         zl) = HEADER.unpack_from(data)
        check_size((w, h), "gitssic payload")
        if (hb, wb) != _grid(w, h):
            raise CodecError(f"gitssic payload block grid {hb}x{wb} does not match a {w}x{h} "
                             f"image ({_grid(w, h)[0]}x{_grid(w, h)[1]})")
        if step < 1:
            raise CodecError("gitssic payload declares quantization step 0")
        if n_groups < 1:
            raise CodecError("gitssic payload declares 0 groups")
        if model_id not in MODEL_IDS:
            raise CodecError(f"gitssic payload names unknown model {model_id}")
        table_end = HEADER.size + 4 * n_groups
        if len(data) < table_end:
            raise CodecError(f"gitssic payload truncated: {len(data)} bytes, its header and "
                             f"sub-stream table are {table_end}")
        lens = struct.unpack_from(f">{n_groups}I", data, HEADER.size)
        if ml % 4 or zl % 4 or any(n % 4 for n in lens) or \
                table_end + ml + zl + sum(lens) != len(data):
            raise CodecError(f"gitssic payload stream lengths {ml} + {zl} + {sum(lens)} do "
                             f"not match its {len(data) - table_end} bytes (truncated or "
                             f"forged)")
        offs, o = [], table_end + ml + zl
        for n in lens:
            offs.append((o, o + n))
            o += n
        return dict(model=model_id, h8=h8, w=w, h=h, step=step, M=m, H=hh, G=n_groups,
                    f=(f0, f1), hb=hb, wb=wb, mask=(table_end, table_end + ml),
                    z=(table_end + ml, table_end + ml + zl), subs=offs)

    def probe(self, data: bytes) -> tuple[int, int]:
        p = self._parse(bytes(data))
        return p["w"], p["h"]

    def block_map(self, data: bytes):
        """The block map (int64 [ceil(h/16), ceil(w/16)]) of a payload: decodes the mask
        stream only (no model, no latents)."""
        data = bytes(data)
        p = self._parse(data)
        return decode_mask(data[slice(*p["mask"])], p["hb"], p["wb"], p["G"], *p["f"])

    def group_map(self, data: bytes):
        """The group id of every pixel (int64 [h, w])."""
        data = bytes(data)
        p = self._parse(data)
        b = decode_mask(data[slice(*p["mask"])], p["hb"], p["wb"], p["G"], *p["f"])
        return b.repeat(BLOCK, 0).repeat(BLOCK, 1)[:p["h"], :p["w"]]

    def decode_latents(self, data: bytes, groups: Iterable[int] | None = None, dtype=None):
        """(coder, block map, fixed-point latents int64 [M, hb, wb] with the groups not
        asked for left at 0, parsed header). Integer work only."""
        import numpy as np

        from .coding import CodingError, decode_tables
        data = bytes(data)
        p = self._parse(data)
        want = self._wanted(groups, p["G"])
        coder, mine = self._coder(p["model"], dtype)
        if p["h8"] != mine:
            raise CodecError(f"gitssic payload was made with other weights (hash "
                             f"{p['h8'].hex()}, installed {mine.hex()})")
        if p["M"] != coder.M or p["H"] != coder.H:
            raise CodecError(f"gitssic payload channel counts {p['M']}/{p['H']} do not "
                             f"match the model ({coder.M}/{coder.H})")
        hb, wb = p["hb"], p["wb"]
        blocks = decode_mask(data[slice(*p["mask"])], hb, wb, p["G"], *p["f"])
        hz, wz = -(-hb // 4), -(-wb // 4)
        step = p["step"]
        y_fixed = np.zeros((coder.M, hb, wb), np.int64)
        try:
            z_index = np.broadcast_to(np.arange(coder.H)[:, None, None], (coder.H, hz, wz))
            z_sym = decode_tables(data[slice(*p["z"])], z_index, coder.z_table)
            means, index = coder.hyper(z_sym.reshape(coder.H, hz, wz), hb, wb, step)
            for g, (a, b) in enumerate(p["subs"]):
                sel = blocks == g
                if not sel.any():
                    if b > a:
                        raise CodecError(f"gitssic payload: group {g} has no blocks but a "
                                         f"{b - a}-byte sub-stream")
                    continue
                if g not in want:
                    continue
                sym = decode_tables(data[a:b], index[:, sel], coder.y_table)
                y_fixed[:, sel] = coder.dequantize(sym.reshape(coder.M, -1), means[:, sel],
                                                   step)
        except CodingError as e:
            raise CodecError(f"gitssic payload: {e}") from e
        p["want"] = want
        return coder, blocks, y_fixed, p

    @staticmethod
    def _wanted(groups, n_groups: int) -> set[int]:
        if groups is None:
            return set(range(n_groups))
        try:
            want = {int(g) for g in groups}
        except (TypeError, ValueError) as e:
            raise CodecError(f"gitssic: groups must be a list of group ids, got "
                             f"{groups!r}") from e
        bad = sorted(g for g in want if not 0 <= g < n_groups)
        if bad:
            raise CodecError(f"gitssic: no group {bad[0]} in this payload (it has groups "
                             f"0..{n_groups - 1})")
        return want

    def decode(self, data: bytes, groups: Iterable[int] | None = None,
               fill: tuple[int, int, int] = DEFAULT_FILL, dtype=None):
        """The image; with ``groups``, only those groups' pixels (equal to a full decode's),
        the rest ``fill``. Raises CodecError / LimitExceededError."""
        import numpy as np
        from PIL import Image
        coder, blocks, y_fixed, p = self.decode_latents(data, groups, dtype)
        want = None if groups is None else p["want"]
        rgb = coder.synthesize(y_fixed, blocks, p["h"], p["w"], want)
        if groups is not None:
            keep = np.isin(blocks, sorted(want)).repeat(BLOCK, 0).repeat(BLOCK, 1)
            try:
                rgb[~keep[:p["h"], :p["w"]]] = np.asarray(fill, np.uint8).reshape(3)
            except (ValueError, TypeError, OverflowError) as e:
                raise CodecError(f"gitssic: fill must be an (r, g, b) triple of 0..255, got "
                                 f"{fill!r}") from e
        return Image.fromarray(rgb, "RGB")
