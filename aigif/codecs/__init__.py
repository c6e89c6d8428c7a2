"""Pixel payload codecs behind one small interface.

A codec turns a Pillow image into bytes and back. Built-in codecs carry frozen numeric
codes (``aigif.spec.PixelCodec``: png=1, webp=2, avif=3, jxl=4, jpeg=5); third parties register
through the ``aigif.codecs`` entry-point group with a code in the private range 64..127.
The bytes a codec writes are exactly what the codec library writes (a complete .png,
.webp, .avif, .jxl or .jpg file), so a pixel payload costs only the element framing over
calling the codec directly.

Video payloads (av1=8, vp9=9, h264=10, h265=11, ffv1=12: frames in a WebM / MP4 / Matroska
file; the learned envc=15, vlvc=16, ssvc=17, imclvc=18: ``aigif.codecs.learned.lvc``) are in the same registry behind ``aigif.codecs.video.VideoCodec`` (``kind == "video"``)
and go through ``aigif.codecs.video.encode_video_payload`` / ``decode_video_payload``.

Nothing here imports Pillow at module level: ``aigif.open(...).meta`` never loads it.

Example::

    >>> from PIL import Image
    >>> import aigif.codecs as codecs
    >>> p = codecs.encode_payload(Image.new("RGB", (64, 64), "red"), codec="webp", quality=80)
    >>> p.codec, codecs.decode_payload(p).size
    ('webp', (64, 64))
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from .. import io as _io
from ..container import FileData, Payload
from ..errors import AigifError, CodecError, MissingDependencyError, RegistryError
from ..registry import codec_code as _code_of, codec_key as _key_of, codecs
from ..spec import CODEC_PRIVATE as PRIVATE_CODES
from ..spec import PixelCodec as CodecCode

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "Codec", "codecs", "register_codec", "get_codec", "codec_for_code", "available_codecs",
    "encode_payload", "decode_payload", "cli_payload",
    "codec_code", "codec_key", "encode_image", "PRIVATE_CODES", "DEFAULT_CODEC",
]

#: Codec used when none is named.
DEFAULT_CODEC = "avif"


class Codec:
    """One pixel codec. Subclass it and set ``key``, ``code`` and the two methods.

    ``quality`` is 0..100 (None: the codec's default); ``lossless`` asks for exact pixels
    (CodecError if the codec cannot); ``effort`` is the codec's own speed/size trade-off
    scale, higher is slower and smaller (None: the codec's default; ``effort_range``).
    ``encode`` returns the codec's bytes; ``decode`` returns a loaded Pillow image and
    raises only ``CodecError`` (or ``LimitExceededError`` for images over the limits).
    """

    #: "image"; a video codec (``aigif.codecs.video.VideoCodec``) says "video"
    kind: ClassVar[str] = "image"
    key: ClassVar[str] = ""
    code: ClassVar[int] = 0
    mime: ClassVar[str] = "application/octet-stream"
    extension: ClassVar[str] = ""
    lossy: ClassVar[bool] = True
    lossless: ClassVar[bool] = False
    effort_range: ClassVar[tuple[int, int] | None] = None
    #: pip extra that provides the codec when ``available()`` is False
    extra: ClassVar[str] = "images"

    def available(self) -> bool:
        """True when the libraries this codec needs are installed."""
        return True

    def encode(self, image: "Image.Image", quality: int | None = None, lossless: bool = False,
               effort: int | None = None, **opts: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> "Image.Image":
        raise NotImplementedError

    def probe(self, data: bytes) -> tuple[int, int]:
        """The declared (width, height) of ``data`` without decoding the pixels."""
        return self.decode(data).size

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r} code={self.code}>"


# The built-in codecs, in the one codec registry (``aigif.registry.codecs``: key -> Codec
# class, instance or "module:attr"; entry-point group ``aigif.codecs``).
for _key, _ref in (("png", "aigif.codecs._pillow:PngCodec"),
                   ("webp", "aigif.codecs._pillow:WebpCodec"),
                   ("avif", "aigif.codecs._pillow:AvifCodec"),
                   ("jxl", "aigif.codecs.jxl:JxlCodec"),
                   ("jpeg", "aigif.codecs._pillow:JpegCodec"),
                   ("sth", "aigif.codecs.learned.sth:SthCodec"),
                   ("nvtc", "aigif.codecs.learned.nvtc:NvtcCodec"),
                   ("gitssic", "aigif.codecs.learned.gitssic:GitssicCodec"),
                   ("omni-icm", "aigif.codecs.learned.omni_icm:OmniIcmCodec"),
                   ("av1", "aigif.codecs.video._av:Av1Codec"),
                   ("vp9", "aigif.codecs.video._av:Vp9Codec"),
                   ("h264", "aigif.codecs.video._av:H264Codec"),
                   ("h265", "aigif.codecs.video._av:H265Codec"),
                   ("ffv1", "aigif.codecs.video._av:Ffv1Codec"),
                   ("envc", "aigif.codecs.learned.lvc.bitstream:EnvcCodec"),
                   ("vlvc", "aigif.codecs.learned.lvc.bitstream:VlvcCodec"),
                   ("ssvc", "aigif.codecs.learned.lvc.ssvc:SsvcCodec"),
                   ("imclvc", "aigif.codecs.learned.lvc.bitstream:ImclvcCodec")):
    codecs.register(_key, _ref, code=int(CodecCode[_key.upper().replace("-", "_")]))

_instances: dict[str, Codec] = {}
_lock = threading.Lock()


def register_codec(codec: type[Codec] | Codec, *, override: bool = False) -> None:
    """Register a codec class or instance under its ``key`` and ``code``.

    Third-party codes must lie in 64..127. Raises RegistryError on a bad or duplicate entry.
    """
    codecs.register(codec.key, codec, code=codec.code, override=override)
    _instances.pop(codec.key, None)


def get_codec(key: str) -> Codec:
    """The codec instance registered under ``key``; RegistryError if there is none."""
    with _lock:
        inst = _instances.get(key)
        if inst is None:
            entry = codecs.get(key)
            inst = entry() if isinstance(entry, type) else entry
            _instances[key] = inst
        return inst


def codec_for_code(code: int) -> Codec:
    """The codec with numeric ``code`` (as stored in a file); CodecError if none is known.

    Built-in codes load only their own module; a private code (64..127) is looked up
    among registered and entry-point codecs (the file's bytes never name a module).
    """
    key = _key_of(code) if isinstance(code, int) else None
    if key is None:
        raise CodecError(f"unknown pixel codec code {code}: expected one of "
                         f"{sorted(int(c) for c in CodecCode)} or a registered private codec "
                         f"({PRIVATE_CODES.start}..{PRIVATE_CODES.stop - 1})")
    return get_codec(key)


def codec_code(key: str) -> int:
    """The numeric code of the codec named ``key`` (what ``aigif.dumps`` writes).

    Raises CodecError when no codec has that key.
    """
    code = _code_of(key)
    if code is None:
        raise CodecError(f"no codec named {key!r}; known: {', '.join(codecs.keys())}",
                         field="payload")
    return code


def codec_key(code: int) -> str | None:
    """The key of the codec with numeric ``code``, or None when none is registered."""
    return _key_of(code)


def available_codecs(kind: str | None = "image") -> list[str]:
    """Keys of the registered codecs of ``kind`` ("image", "video"; None: all) whose
    libraries are installed."""
    out = []
    for k in codecs.keys():
        try:
            c = get_codec(k)
            if (kind is None or getattr(c, "kind", "image") == kind) and c.available():
                out.append(k)
        except RegistryError:
            continue
    return out


def _resolve(codec: str | int) -> Codec:
    try:
        c = codec_for_code(codec) if isinstance(codec, int) else get_codec(codec)
    except RegistryError as e:
        raise CodecError(str(e)) from e
    if getattr(c, "kind", "image") != "image":
        raise CodecError(f"pixel codec {c.key!r} is a {c.kind} codec: use "
                         f"aigif.codecs.video.encode_video_payload / decode_video_payload")
    if not c.available():
        raise MissingDependencyError(
            f"pixel codec {c.key!r} is not available: install it with "
            f"pip install 'aigif[{c.extra}]'")
    return c


def encode_payload(image: "Image.Image", codec: str = DEFAULT_CODEC, quality: int | None = None,
                   lossless: bool = False, effort: int | None = None, **opts: Any) -> Payload:
    """Encode a Pillow image as a pixel payload.

    A lossless-only codec (png) ignores ``quality``.
    Returns ``Payload(codec=key, data=bytes)``. Raises CodecError if the codec cannot
    encode the image with these settings, MissingDependencyError if its library is missing.

    >>> encode_payload(img, "jxl", quality=80).codec   # doctest: +SKIP
    'jxl'
    """
    c = _resolve(codec)
    if lossless and not c.lossless:
        raise CodecError(f"codec {c.key!r} has no lossless mode; use png, webp or jxl")
    if quality is not None and not (isinstance(quality, int) and 0 <= quality <= 100):
        raise CodecError(f"quality must be an integer 0..100, got {quality!r}")
    if effort is not None and c.effort_range is not None:
        lo, hi = c.effort_range
        if not (isinstance(effort, int) and lo <= effort <= hi):
            raise CodecError(f"{c.key} effort must be an integer {lo}..{hi}, got {effort!r}")
    return Payload(c.key, c.encode(image, quality=quality, lossless=lossless, effort=effort,
                                   **opts))


def decode_payload(payload: Payload, **opts: Any) -> "Image.Image":
    """Decode a pixel payload to a loaded Pillow image.

    ``opts`` go to the codec's ``decode`` (e.g. ``groups=[1, 3]`` for a codec with
    ``partial = True``, gitssic: only those regions); a codec without them raises CodecError.
    Raises CodecError for corrupt, truncated or mislabelled bytes, LimitExceededError when
    the declared size is over ``aigif.spec.MAX_DECOMPRESSED_PIXELS`` (checked before any
    pixel is decoded), MissingDependencyError when the codec is not installed.
    """
    from ._pillow import _wrap, check_size
    c = _resolve(payload.codec)
    what = f"{c.key} payload"
    opts = {k: v for k, v in opts.items() if v is not None}
    if opts.get("groups") is not None and not getattr(c, "partial", False):
        raise CodecError(f"pixel codec {c.key!r} has no groups: only a group-structured "
                         f"codec (gitssic) decodes regions alone")
    try:
        im = c.decode(bytes(payload.data), **opts)
        check_size(im.size, what)  # a third-party codec's output answers to the budget too
    except AigifError:
        raise
    except Exception as e:  # a third-party codec raises anything: wrap it
        raise _wrap(e, what) from e
    return im


def cli_payload(image_path: str, fallback: str = DEFAULT_CODEC, quality: int | None = None,
                lossless: bool = False, effort: int | None = None) -> Payload:
    """Read an image file and encode it as a payload (what ``aigif encode --image`` uses).

    Raises CodecError when the file is not a readable image.
    """
    from ._pillow import open_image_file
    return encode_payload(open_image_file(image_path), fallback, quality, lossless, effort)


def encode_image(image: "Image.Image", fallback: str = DEFAULT_CODEC, quality: int | None = None,
                 lossless: bool = False, effort: int | None = None, meta: Any = None) -> bytes:
    """A complete AIGIF file holding ``image`` as a pixel payload (pixels-only by default).

    For images with no generation syntax (closed generators, edited images). Same as
    ``aigif.dumps(AigifFile(meta, payload=encode_payload(...)))``.

    >>> data = encode_image(img, "avif", quality=60)          # doctest: +SKIP
    >>> aigif.loads(data).payload.codec
    'avif'
    """
    return _io.dumps(FileData(meta=meta, payload=encode_payload(image, fallback, quality,
                                                                lossless, effort)))
