"""Alpha/RGB least-significant-bit "stealth" metadata (stealth_pnginfo, NovelAI)."""
from __future__ import annotations

import gzip
import io
import zlib

from ._container import MAX_TEXT_BYTES, TextItem

__all__ = ["read_stealth"]

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


def _read_stealth_mode(image, mode: str, w: int, h: int) -> TextItem | None:
    bits = _lsb_stream(image, mode, w, h)
    sig = _bits_to_bytes(bits, 0, 15)
    kind = _STEALTH.get(sig)
    if kind is None or kind[0] != mode:
        return None
    nbits = int.from_bytes(_bits_to_bytes(bits, 120, 4), "big")
    if nbits <= 0 or nbits % 8 or 152 + nbits > len(bits) or nbits // 8 > MAX_TEXT_BYTES:
        return None
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
