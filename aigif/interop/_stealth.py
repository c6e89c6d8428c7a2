"""Alpha/RGB least-significant-bit "stealth" metadata (stealth_pnginfo, NovelAI)."""
from __future__ import annotations

import gzip
import io
import struct
import zlib

from ._container import MAX_TEXT_BYTES, PNG_SIG, TextItem
from ._limits import MAX_STEALTH_SCAN_BYTES

__all__ = ["read_stealth", "png_stealth_signature"]

_STEALTH = {b"stealth_pnginfo": ("alpha", False), b"stealth_pngcomp": ("alpha", True),
            b"stealth_rgbinfo": ("rgb", False), b"stealth_rgbcomp": ("rgb", True)}


def read_stealth(image) -> TextItem | None:
    """Decode "stealth" metadata hidden in the least significant bits of an image's
    alpha channel (or RGB channels), column by column, as the stealth_pnginfo extension
    and NovelAI write it. Returns None when there is none. Needs Pillow."""
    w, h = image.size
    if w * h < 152:
        return None
    bands = image.getbands()
    modes = []
    if "A" in bands:
        modes.append("alpha")
    if set("RGB") <= set(bands):
        modes.append("rgb")
    for mode in modes:
        item = _read_stealth_mode(image, mode, w, h)
        if item is not None:
            return item
    return None


def _lsb_stream(image, mode: str, w: int, h: int):
    """Yield the LSBs in stealth order: x outer, y inner; RGB mode gives 3 bits/pixel."""
    if mode == "alpha":
        planes = [image.getchannel("A").tobytes()]
    else:
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        planes = [rgb.getchannel(b).tobytes() for b in "RGB"]
    try:
        import numpy as np
        arrs = [np.frombuffer(p, dtype=np.uint8).reshape(h, w).T.reshape(-1) & 1 for p in planes]
        if len(arrs) == 1:
            bits = arrs[0]
        else:
            bits = np.stack(arrs, axis=1).reshape(-1)
        return bits.tobytes()
    except ImportError:
        out = bytearray()
        for x in range(w):
            for y in range(h):
                for p in planes:
                    out.append(p[y * w + x] & 1)
        return bytes(out)


def _bits_to_bytes(bits: bytes, start: int, nbytes: int) -> bytes:
    out = bytearray()
    for k in range(nbytes):
        v = 0
        for b in bits[start + 8 * k:start + 8 * k + 8]:
            v = (v << 1) | b
        out.append(v)
    return bytes(out)


def _columns_bits(image, mode: str, w: int, h: int, nbits: int) -> bytes:
    """The first ``nbits`` LSBs (or all there are), from the few columns that hold them."""
    per_col = h * (1 if mode == "alpha" else 3)
    ncols = min(w, -(-nbits // per_col))
    part = image if ncols == w else image.crop((0, 0, ncols, h))
    return _lsb_stream(part, mode, ncols, h)


def _read_stealth_mode(image, mode: str, w: int, h: int) -> TextItem | None:
    bits = _columns_bits(image, mode, w, h, 152)
    sig = _bits_to_bytes(bits, 0, 15)
    kind = _STEALTH.get(sig)
    if kind is None or kind[0] != mode:
        return None
    nbits = int.from_bytes(_bits_to_bytes(bits, 120, 4), "big")
    capacity = w * h * (1 if mode == "alpha" else 3)
    if nbits <= 0 or nbits % 8 or 152 + nbits > capacity or nbits // 8 > MAX_TEXT_BYTES:
        return None
    bits = _columns_bits(image, mode, w, h, 152 + nbits)
    raw = _bits_to_bytes(bits, 152, nbits // 8)
    compressed = kind[1]
    if compressed:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as g:
                raw = g.read(MAX_TEXT_BYTES + 1)
        except (OSError, EOFError, zlib.error):
            return None
        if len(raw) > MAX_TEXT_BYTES:
            return None
    text = raw.decode("utf-8", "replace")
    return TextItem("stealth", text, "stealth:" + sig.decode()[8:])


_ALPHA_SIGS = {k for k, v in _STEALTH.items() if v[0] == "alpha"}
_RGB_SIGS = {k for k, v in _STEALTH.items() if v[0] == "rgb"}


def png_stealth_signature(data: bytes) -> bool | None:
    """Whether a PNG's first column starts with a stealth signature, found without
    decoding the image: only the first 152 (alpha) or 51 (RGB) scanlines are inflated and
    only their first pixel is unfiltered (column 0 depends on nothing to its left).
    None when this cannot tell cheaply (interlaced, palette, 16-bit, short images...)."""
    if not data.startswith(PNG_SIG) or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", data[16:29])
    chans = {2: 3, 4: 2, 6: 4}.get(ctype)
    if chans is None or depth != 8 or interlace or w < 1:
        return None
    alpha, rgb = ctype in (4, 6), True      # LA is read as RGBA: R = G = B = L
    rows = 152 if alpha else 51
    rowbytes = 1 + w * chans
    if h < rows or rows * rowbytes > MAX_STEALTH_SCAN_BYTES:
        return None
    need = rows * rowbytes
    d = zlib.decompressobj()
    out = bytearray()
    i = 8
    try:
        while i + 8 <= len(data) and len(out) < need:
            length, kind = struct.unpack(">I4s", data[i:i + 8])
            if kind == b"tRNS" and ctype == 2:
                return None          # the alpha would come from a colour key
            if kind == b"IDAT":
                chunk = data[i + 8:i + 8 + length]
                while chunk and len(out) < need:
                    out += d.decompress(chunk, need - len(out))
                    chunk = d.unconsumed_tail
            elif kind == b"IEND":
                break
            i += 12 + length
    except zlib.error:
        return None
    if len(out) < need:
        return None
    prev = [0] * chans
    abits, rbits = [], []
    for r in range(rows):
        f = out[r * rowbytes]
        if f > 4:
            return None
        px = out[r * rowbytes + 1:r * rowbytes + 1 + chans]
        # no left neighbour: Sub adds 0, Average adds above // 2, Up and Paeth add above
        add = prev if f in (2, 4) else [b // 2 for b in prev] if f == 3 else [0] * chans
        prev = [(x + a) & 0xFF for x, a in zip(px, add)]
        abits.append(prev[-1] & 1)
        rbits.extend(b & 1 for b in (prev[:3] if chans >= 3 else prev[:1] * 3))
    found = False
    if alpha:
        found |= _bits_to_bytes(bytes(abits), 0, 15) in _ALPHA_SIGS
    if rgb:
        found |= _bits_to_bytes(bytes(rbits), 0, 15) in _RGB_SIGS
    return found
