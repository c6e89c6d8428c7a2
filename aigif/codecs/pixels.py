"""Pixel arithmetic shared by the codec and render layers: RGB8 views, PSNR and the two
frozen pixel digests (the fingerprint element's and the residual's base digest).

Both digests are frozen by the spec and differ on purpose (they were defined separately
and files hold both): the fingerprint (``spec.FingerprintAlgo.SHA256_RGB8``, section 6.2)
is the first 8 bytes of ``sha256(width as u32be + height as u32be + RGB8 rows)``; the
residual's base digest (section 6.7) is the first 4 bytes of
``sha256(ASCII "W H " + RGB8 rows)``. Pillow and numpy load on first use.
"""
from __future__ import annotations

import hashlib
import math
import struct
from typing import Any

from .. import spec
from ..container import Fingerprint
from ..errors import CodecError, MissingDependencyError

__all__ = ["rgb8", "rgb_bytes", "psnr", "fingerprint", "matches", "base_digest",
           "FINGERPRINT_BYTES", "BASE_DIGEST_BYTES", "video_fingerprint"]

FINGERPRINT_BYTES = 8
BASE_DIGEST_BYTES = 4


def _pil():
    try:
        from PIL import Image
    except ImportError as e:
        raise MissingDependencyError("pixel work needs Pillow: pip install 'aigif[images]'") from e
    return Image


def rgb_bytes(image: Any) -> tuple[int, int, bytes]:
    """``(width, height, RGB8 bytes)`` of a PIL image (or an HxWx3 uint8 array)."""
    Image = _pil()
    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image.width, image.height, image.tobytes()


def rgb8(image: Any):
    """An HxWx3 uint8 numpy array of a PIL image (or the array itself)."""
    import numpy as np
    if isinstance(image, np.ndarray):
        return image
    Image = _pil()
    if not isinstance(image, Image.Image):
        raise CodecError(f"expected a PIL.Image.Image, got {type(image).__name__}")
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)


def psnr(a: Any, b: Any) -> float:
    """PSNR in dB between two RGB8 images (PIL images or arrays; ``inf`` when identical).

    Raises CodecError when the sizes differ."""
    import numpy as np
    x, y = rgb8(a), rgb8(b)
    if x.shape != y.shape:
        raise CodecError(f"images differ in size: {x.shape[1]}x{x.shape[0]} vs "
                         f"{y.shape[1]}x{y.shape[0]}")
    mse = float(np.mean((x.astype(np.int32) - y.astype(np.int32)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def fingerprint(image: Any, algo: int = spec.FingerprintAlgo.SHA256_RGB8) -> Fingerprint:
    """The fingerprint element of an image (raises CodecError for an unknown ``algo``).

    Example::

        fp = fingerprint(PIL.Image.new("RGB", (2, 1)))
        fp.digest.hex()   # 8 bytes
    """
    if algo != spec.FingerprintAlgo.SHA256_RGB8:
        raise CodecError(f"unknown fingerprint algorithm {algo}; this reader knows 1 "
                         f"(SHA256_RGB8)")
    w, h, data = rgb_bytes(image)
    digest = hashlib.sha256(struct.pack(">II", w, h) + data).digest()[:FINGERPRINT_BYTES]
    return Fingerprint(int(algo), w, h, digest)


def _frames(video: Any):
    """Frames (``VideoFrames``, a uint8 array ``[T, H, W, 3]`` or a list of images) as one
    contiguous uint8 RGB array; CodecError when they are not frames."""
    import numpy as np
    a = getattr(video, "frames", video)
    if isinstance(a, (list, tuple)):
        a = np.stack([rgb8(im) for im in a]) if a else np.zeros((0, 0, 0, 3), np.uint8)
    a = np.asarray(a)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] != 3:
        raise CodecError(f"expected video frames (uint8 [T, H, W, 3]), found "
                         f"{a.dtype} {tuple(a.shape)}")
    return np.ascontiguousarray(a)


def video_fingerprint(video: Any,
                      algo: int = spec.FingerprintAlgo.SHA256_RGB8_VIDEO) -> Fingerprint:
    """The fingerprint element of video frames (``VideoFrames``, uint8 ``[T, H, W, 3]`` or
    a list of images): algorithm 2, the first 8 bytes of SHA-256 over width, height and
    frame count (u32 each, big-endian) and then the RGB8 frames in order. Raises
    CodecError for another ``algo`` or what is not frames.

    Example::

        fp = video_fingerprint(np.zeros((8, 32, 32, 3), np.uint8))
        (fp.algo, fp.width, fp.height)      # (2, 32, 32)
    """
    if algo != spec.FingerprintAlgo.SHA256_RGB8_VIDEO:
        raise CodecError(f"fingerprint algorithm {algo} is not one of video frames; this "
                         f"reader knows 2 (SHA256_RGB8_VIDEO)")
    a = _frames(video)
    t, h, w, _ = a.shape
    d = hashlib.sha256(struct.pack(">III", w, h, t))
    d.update(a.data)
    return Fingerprint(int(algo), w, h, d.digest()[:FINGERPRINT_BYTES])


def _is_frames(x: Any) -> bool:
    a = getattr(x, "frames", x)
    return isinstance(a, (list, tuple)) or getattr(a, "ndim", None) == 4


def matches(fp: Fingerprint, image: Any) -> bool | None:
    """True/False when ``image`` has (not) the fingerprinted pixels; None for an algorithm
    this reader does not know. ``image`` may be video frames (``VideoFrames``, uint8
    ``[T, H, W, 3]``, a list of images), which match only a video fingerprint (algorithm
    2), as an image matches only an image fingerprint (algorithm 1)."""
    if fp.algo == spec.FingerprintAlgo.SHA256_RGB8_VIDEO:
        if not _is_frames(image):
            return False
        mine = video_fingerprint(image, fp.algo)
        n = len(fp.digest)
        return (mine.width, mine.height) == (fp.width, fp.height) and \
            n > 0 and mine.digest[:n] == fp.digest[:n]
    if fp.algo != spec.FingerprintAlgo.SHA256_RGB8:
        return None
    if _is_frames(image):
        return False
    mine = fingerprint(image, fp.algo)
    n = len(fp.digest)
    return (mine.width, mine.height) == (fp.width, fp.height) and \
        n > 0 and mine.digest[:n] == fp.digest[:n]


def base_digest(image: Any) -> bytes:
    """The residual element's base digest of an image (or HxWx3 uint8 array)."""
    import numpy as np
    base = rgb8(image)
    h = hashlib.sha256(b"%d %d " % (base.shape[1], base.shape[0]))
    h.update(np.ascontiguousarray(base).tobytes())
    return h.digest()[:BASE_DIGEST_BYTES]
