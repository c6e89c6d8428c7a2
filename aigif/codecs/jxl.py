"""JPEG XL payloads through pillow-jxl-plugin (libjxl), with a header probe.

pillow-jxl-plugin decodes the whole image as soon as it opens a file, so the declared
size is read here first, from the codestream's SizeHeader (ISO/IEC 18181-1, A.2), and an
image over the limits is refused before libjxl allocates anything.
"""
from __future__ import annotations

from typing import Any

from ..errors import CodecError
from ..spec import PixelCodec as CodecCode
from . import Codec

__all__ = ["JxlCodec", "jxl_size"]

_CONTAINER_SIG = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


class _Bits:
    """LSB-first bit reader (JPEG XL's bit order)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        v = 0
        for i in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise CodecError("jxl payload is truncated inside its size header")
            v |= ((self.data[byte] >> (self.pos & 7)) & 1) << i
            self.pos += 1
        return v

    def u32_dim(self) -> int:
        return self.u((9, 13, 18, 30)[self.u(2)]) + 1


def _codestream_start(data: bytes) -> bytes:
    """The first bytes of the codestream, from a bare codestream or an ISOBMFF container."""
    if data[:2] == b"\xff\x0a":
        return data
    if not data.startswith(_CONTAINER_SIG):
        raise CodecError("jxl payload has neither the JPEG XL codestream signature FF 0A "
                         f"nor the container signature (found {data[:12].hex()})")
    pos, n = 12, len(data)
    while pos + 8 <= n:
        size = int.from_bytes(data[pos:pos + 4], "big")
        btype = data[pos + 4:pos + 8]
        head = 8
        if size == 1:
            if pos + 16 > n:
                break
            size, head = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        elif size == 0:
            size = n - pos
        if size < head:
            raise CodecError(f"jxl container box at byte {pos} has a bad size {size}")
        body = data[pos + head:pos + size]
        if btype == b"jxlc":
            return body
        if btype == b"jxlp":
            return body[4:]
        pos += size
    raise CodecError("jxl container holds no codestream box (jxlc/jxlp)")


def jxl_size(data: bytes) -> tuple[int, int]:
    """Declared (width, height) of a JPEG XL file, read from its SizeHeader only."""
    cs = _codestream_start(data)
    if cs[:2] != b"\xff\x0a":
        raise CodecError(f"jxl codestream does not start with FF 0A (found {cs[:2].hex()})")
    b = _Bits(cs[2:32])
    div8 = b.u(1)
    height = (b.u(5) + 1) * 8 if div8 else b.u32_dim()
    ratio = b.u(3)
    if ratio:
        num, den = _RATIOS[ratio]
        width = height * num // den
    else:
        width = (b.u(5) + 1) * 8 if div8 else b.u32_dim()
    return width, height


class JxlCodec(Codec):
    """JPEG XL (lossy or lossless). effort 1..9 is libjxl's effort (default 7).

    quality 100 means lossless (libjxl has no lossy mode at distance 0).
    """

    key, code, mime, extension = "jxl", int(CodecCode.JXL), "image/jxl", ".jxl"
    lossless = True
    effort_range = (1, 9)
    extra = "jxl"
    modes = ("RGB", "RGBA", "L", "LA")

    def available(self) -> bool:
        try:
            import pillow_jxl  # noqa: F401
        except ImportError:
            return False
        return True

    def encode(self, image, quality: int | None = None, lossless: bool = False,
               effort: int | None = None, **opts: Any) -> bytes:
        from PIL import Image
        from pillow_jxl import Encoder

        from ._pillow import _normalize
        if not isinstance(image, Image.Image):
            raise CodecError(f"expected a PIL.Image.Image, got {type(image).__name__}")
        im = _normalize(image, True, self.modes)
        if quality == 100:  # libjxl refuses distance 0 without its lossless mode
            lossless = True
        try:
            enc = Encoder(mode=im.mode, lossless=bool(lossless),
                          quality=100 if lossless else (90 if quality is None else quality),
                          decoding_speed=opts.pop("decoding_speed", 0),
                          effort=7 if effort is None else effort,
                          use_container=False, use_original_profile=False,
                          num_threads=opts.pop("num_threads", -1))
            return enc(im.tobytes(), im.width, im.height, jpeg_encode=False,
                       exif=None, jumb=None, xmp=None, compress=False)
        except Exception as e:
            raise CodecError(f"jxl could not encode a {image.mode} {image.size[0]}x"
                             f"{image.size[1]} image: {e}") from e

    def probe(self, data: bytes) -> tuple[int, int]:
        from ._pillow import check_size
        size = jxl_size(data)
        check_size(size, "jxl payload")
        return size

    def decode(self, data: bytes):
        from PIL import Image
        from pillow_jxl import Decoder

        from ._pillow import _wrap, safe_decode
        size = self.probe(data)
        try:
            jpeg, info, pixels, icc, _boxes = Decoder(num_threads=-1)(data)
        except BaseException as e:  # pyo3 panics derive from BaseException
            if isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                raise
            raise _wrap(e, "jxl payload") from e
        if jpeg:  # a losslessly recompressed JPEG: libjxl handed back the JPEG bytes
            return safe_decode(pixels, ["JPEG"], "jxl payload (reconstructed JPEG)")
        mode = "F" if info.mode == "F;16" else info.mode
        if (info.width, info.height) != size:
            raise CodecError(f"jxl payload: header says {size[0]}x{size[1]}, decoder "
                             f"produced {info.width}x{info.height}")
        try:
            im = Image.frombytes(mode, size, pixels)
        except Exception as e:
            raise _wrap(e, "jxl payload") from e
        if icc:
            im.info["icc_profile"] = icc
        return im

