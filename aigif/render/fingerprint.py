"""Fingerprints of the intended pixels, and PSNR against a reference.

Algorithm 1 (``spec.FingerprintAlgo.SHA256_RGB8``): the first 8 bytes of
``sha256(width as 4-byte big-endian + height as 4-byte big-endian + RGB8 pixels, rows top
to bottom, left to right)``. The image is converted to RGB first (alpha dropped).
"""
from __future__ import annotations

import hashlib
import math
import struct

from .. import spec
from ..document import Fingerprint
from ..errors import MissingDependencyError, RenderError

__all__ = ["fingerprint", "image_fingerprint", "matches", "psnr", "rgb_bytes"]

DIGEST_BYTES = 8


def _pil():
    try:
        from PIL import Image
    except ImportError as e:
        raise MissingDependencyError("fingerprints need Pillow: pip install 'aigif[images]'") from e
    return Image


def rgb_bytes(image) -> tuple[int, int, bytes]:
    """``(width, height, RGB8 bytes)`` of a PIL image (or an HxWx3 uint8 array)."""
    Image = _pil()
    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image.width, image.height, image.tobytes()


def fingerprint(image, algo: int = spec.FingerprintAlgo.SHA256_RGB8) -> Fingerprint:
    """The fingerprint of an image.

    Example::

        fp = fingerprint(PIL.Image.new("RGB", (2, 1)))
        fp.digest.hex()   # 8 bytes
    """
    if algo != spec.FingerprintAlgo.SHA256_RGB8:
        raise RenderError(f"unknown fingerprint algorithm {algo}; this reader knows 1 "
                          f"(SHA256_RGB8)")
    w, h, data = rgb_bytes(image)
    digest = hashlib.sha256(struct.pack(">II", w, h) + data).digest()[:DIGEST_BYTES]
    return Fingerprint(int(algo), w, h, digest)


#: Alias exported as ``aigif.render.image_fingerprint``.
image_fingerprint = fingerprint


def matches(fp: Fingerprint, image) -> bool | None:
    """True/False when ``image`` has (not) the fingerprinted pixels; None for an algorithm
    this reader does not know."""
    if fp.algo != spec.FingerprintAlgo.SHA256_RGB8:
        return None
    mine = fingerprint(image, fp.algo)
    n = len(fp.digest)
    return (mine.width, mine.height) == (fp.width, fp.height) and \
        n > 0 and mine.digest[:n] == fp.digest[:n]


def psnr(image, reference) -> float:
    """PSNR in dB of ``image`` against ``reference`` over RGB8 (``inf`` when identical).

    Raises RenderError when the sizes differ.
    """
    import numpy as np
    w1, h1, a = rgb_bytes(image)
    w2, h2, b = rgb_bytes(reference)
    if (w1, h1) != (w2, h2):
        raise RenderError(f"reference is {w2}x{h2}, the rendered image is {w1}x{h1}")
    x = np.frombuffer(a, np.uint8).astype(np.float64)
    y = np.frombuffer(b, np.uint8).astype(np.float64)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)
