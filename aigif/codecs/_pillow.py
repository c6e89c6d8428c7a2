"""Codecs that Pillow provides itself: PNG, WebP, AVIF, JPEG; and the safe decode path.

Decoding always names the one Pillow format the payload must be in (a file's bytes never
pick a decoder), checks the declared size against the format's limits before any pixel is
decoded, and turns whatever the library raises into ``CodecError``.
"""
from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import Image, features

from ..errors import AigifError, CodecError, LimitExceededError
from ..spec import MAX_DECOMPRESSED_PIXELS, MAX_DIMENSION
from ..spec import PixelCodec as CodecCode
from . import Codec

__all__ = ["PillowCodec", "PngCodec", "WebpCodec", "AvifCodec", "JpegCodec",
           "check_size", "pixel_budget", "safe_decode", "open_image_file"]


def pixel_budget() -> int:
    """Most pixels a payload may declare before it is decoded.

    The spec limit ``MAX_DECOMPRESSED_PIXELS`` and, when Pillow's
    ``Image.MAX_IMAGE_PIXELS`` is set, Pillow's own decompression-bomb threshold (twice
    it, where ``Image.open`` raises): every codec, Pillow's or not, answers to the same
    budget. Set ``Image.MAX_IMAGE_PIXELS = None`` to allow up to the spec limit.
    """
    mp = Image.MAX_IMAGE_PIXELS
    return MAX_DECOMPRESSED_PIXELS if not mp else min(MAX_DECOMPRESSED_PIXELS, 2 * int(mp))


def check_size(size: tuple[int, int], what: str) -> None:
    """Raise LimitExceededError when ``size`` is over the pixel payload limits or budget."""
    w, h = size
    if w <= 0 or h <= 0:
        raise CodecError(f"{what} declares an empty image ({w}x{h})")
    if w > MAX_DIMENSION or h > MAX_DIMENSION or w * h > MAX_DECOMPRESSED_PIXELS:
        raise LimitExceededError(
            f"{what} declares {w}x{h} pixels: over the limit of {MAX_DIMENSION} per side "
            f"and {MAX_DECOMPRESSED_PIXELS} pixels in all (aigif.spec.MAX_DECOMPRESSED_PIXELS)")
    budget = pixel_budget()
    if w * h > budget:
        raise LimitExceededError(
            f"{what} declares {w}x{h} = {w * h} pixels: over the decode budget of {budget} "
            f"(2 x PIL.Image.MAX_IMAGE_PIXELS, Pillow's decompression-bomb threshold); "
            f"refused before decoding")


def _wrap(e: BaseException, what: str) -> AigifError:
    if isinstance(e, AigifError):
        return e
    if isinstance(e, Image.DecompressionBombError):
        return LimitExceededError(f"{what}: {e}")
    if isinstance(e, MemoryError):
        return LimitExceededError(f"{what}: out of memory while decoding")
    return CodecError(f"{what} could not be decoded: {type(e).__name__}: {e}")


def safe_decode(data: bytes, formats: list[str] | None, what: str,
                probe_only: bool = False) -> Image.Image:
    """Open ``data`` with Pillow restricted to ``formats``, check limits, then load it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=formats)
            check_size(im.size, what)
            if not probe_only:
                im.load()
        return im
    except Exception as e:  # third-party decoders raise anything; wrap it
        raise _wrap(e, what) from e


def open_image_file(path: str) -> Image.Image:
    """Read an image file of any format Pillow knows (input of ``aigif encode --image``)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CodecError(f"cannot read image {path!r}: {e}") from e
    try:
        import pillow_jxl  # noqa: F401  (registers .jxl with Pillow when installed)
    except ImportError:
        pass
    return safe_decode(data, None, f"image {path!r}")


def _normalize(image: Image.Image, alpha_ok: bool, modes: tuple[str, ...]) -> Image.Image:
    if image.mode in modes:
        return image
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    if has_alpha and alpha_ok:
        return image.convert("RGBA")
    if image.mode in ("1", "I;16", "I", "F") and "L" in modes:
        return image.convert("L")
    return image.convert("RGB")


class PillowCodec(Codec):
    """A codec Pillow implements: subclasses give the format name and save options."""

    pil_format: str = ""
    feature: str | None = None
    modes: tuple[str, ...] = ("RGB", "RGBA", "L", "LA")
    alpha: bool = True

    def available(self) -> bool:
        return self.feature is None or bool(features.check(self.feature))

    def save_options(self, quality: int | None, lossless: bool, effort: int | None) -> dict:
        raise NotImplementedError

    def encode(self, image: Image.Image, quality: int | None = None, lossless: bool = False,
               effort: int | None = None, **opts: Any) -> bytes:
        if not isinstance(image, Image.Image):
            raise CodecError(f"expected a PIL.Image.Image, got {type(image).__name__}")
        params = self.save_options(quality, lossless, effort)
        params.update(opts)
        im = _normalize(image, self.alpha, self.modes)
        buf = io.BytesIO()
        try:
            im.save(buf, format=self.pil_format, **params)
        except Exception as e:
            raise CodecError(f"{self.key} could not encode a {image.mode} {image.size[0]}x"
                             f"{image.size[1]} image with {params}: {e}") from e
        return buf.getvalue()

    def decode(self, data: bytes) -> Image.Image:
        return safe_decode(data, [self.pil_format], f"{self.key} payload")

    def probe(self, data: bytes) -> tuple[int, int]:
        return safe_decode(data, [self.pil_format], f"{self.key} payload", probe_only=True).size


class PngCodec(PillowCodec):
    """PNG (lossless). effort 0..9 is the zlib level; 9 also runs Pillow's optimizer."""

    key, code, mime, extension = "png", int(CodecCode.PNG), "image/png", ".png"
    pil_format = "PNG"
    lossy, lossless = False, True
    effort_range = (0, 9)
    modes = ("RGB", "RGBA", "L", "LA", "P", "1", "I;16")

    def decode(self, data: bytes) -> Image.Image:
        if not bytes(data[-12:]) == b"\x00\x00\x00\x00IEND\xaeB`\x82":
            raise CodecError("png payload is truncated or has trailing bytes: it does not end "
                             f"with the IEND chunk (last bytes {bytes(data[-12:]).hex()})")
        return super().decode(data)

    def save_options(self, quality, lossless, effort):
        level = 6 if effort is None else effort
        return {"compress_level": level, "optimize": level >= 9}


class WebpCodec(PillowCodec):
    """WebP (lossy or lossless). effort 0..6 is libwebp's method (default 4)."""

    key, code, mime, extension = "webp", int(CodecCode.WEBP), "image/webp", ".webp"
    pil_format, feature = "WEBP", "webp"
    lossless = True
    effort_range = (0, 6)
    modes = ("RGB", "RGBA")

    def save_options(self, quality, lossless, effort):
        q = 80 if quality is None else quality
        if lossless and quality is None:
            q = 100  # in lossless mode quality is the compression effort
        return {"quality": q, "lossless": bool(lossless), "method": 4 if effort is None else effort,
                "exact": bool(lossless)}


class AvifCodec(PillowCodec):
    """AVIF through Pillow's own libavif (lossy only: Pillow cannot ask for RGB identity).

    effort 0..10 maps to libavif speed ``10 - effort`` (default effort 4 = speed 6);
    ``subsampling`` ("4:2:0" default, "4:4:4") passes through.
    """

    key, code, mime, extension = "avif", int(CodecCode.AVIF), "image/avif", ".avif"
    pil_format, feature = "AVIF", "avif"
    effort_range = (0, 10)
    modes = ("RGB", "RGBA", "L")

    def save_options(self, quality, lossless, effort):
        return {"quality": 75 if quality is None else quality,
                "speed": 6 if effort is None else 10 - effort}


class JpegCodec(PillowCodec):
    """Baseline JPEG. effort 0 = plain, 1 = optimized Huffman tables (default), 2 = progressive."""

    key, code, mime, extension = "jpeg", int(CodecCode.JPEG), "image/jpeg", ".jpg"
    pil_format, feature = "JPEG", "jpg"
    effort_range = (0, 2)
    modes = ("RGB", "L")
    alpha = False

    def save_options(self, quality, lossless, effort):
        e = 1 if effort is None else effort
        return {"quality": 75 if quality is None else quality, "optimize": e >= 1,
                "progressive": e >= 2}

