"""Video pixel payloads: a sequence of RGB frames coded with a classical video codec.

A video codec is shaped like ``aigif.codecs.Codec`` (key, frozen code, ``encode``,
``decode``, ``probe``, ``available``) and lives in the same codec registry, but it codes
frames, not one image: ``encode(frames, fps, crf=None, lossless=False, **opts) -> bytes``,
``decode(data) -> (frames, fps)`` with ``frames`` a uint8 array ``[T, H, W, 3]``.
The built-in codecs (frozen codes in ``aigif.spec.PixelCodec``, spec 6.2 "video
payloads") use PyAV, whose wheels bundle FFmpeg (``pip install 'aigif[video]'``):

=====  ====  =========  ==============================================  =============
key    code  container  stream                                          exact
=====  ====  =========  ==============================================  =============
av1    8     WebM       AV1 (SVT-AV1 encoder, dav1d decoder), 4:2:0      no
vp9    9     WebM       VP9 (libvpx), 4:2:0; lossless: planar RGB        lossless mode
h264   10    MP4        H.264 (x264), 4:2:0; lossless: RGB at QP 0       lossless mode
h265   11    MP4        H.265 (x265), 4:2:0                              no
ffv1   12    Matroska   FFV1 level 3, RGB, slice CRCs                    always
=====  ====  =========  ==============================================  =============

The payload bytes are exactly the container file PyAV writes (so it plays in any player once
written out), encoded with one thread and FFmpeg's ``bitexact`` flags: the same frames give
the same bytes. Decoding reads the frame size from the stream header and counts the packets
(demuxing, no decoding) and checks size x count against the limits and the decode budget
(``video_budget``) before it decodes a frame; whatever the bytes, it raises only
``CodecError`` / ``LimitExceededError``.

Nothing here imports PyAV or numpy at module level.

Example::

    >>> import numpy as np
    >>> from aigif.codecs import video
    >>> frames = np.zeros((8, 64, 64, 3), np.uint8)
    >>> p = video.encode_video_payload(frames, fps=8, codec="ffv1")
    >>> out, fps = video.decode_video_payload(p)
    >>> (out == frames).all(), fps
    (True, Fraction(8, 1))
"""
from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, Sequence, Union

from ...container import Payload
from ...errors import AigifError, CodecError, LimitExceededError, MetaError
from ...errors import MissingDependencyError, RegistryError
from ...spec import MAX_DECOMPRESSED_PIXELS, MAX_DIMENSION, MAX_VIDEO_FRAMES
from ...video import frame_rate
from .. import codec_for_code, codecs, get_codec

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

__all__ = ["VideoCodec", "encode_video_payload", "decode_video_payload",
           "probe_video_payload", "video_codecs", "available_video_codecs", "video_budget",
           "check_video_size", "as_frames", "DEFAULT_VIDEO_CODEC"]

#: Codec used when none is named.
DEFAULT_VIDEO_CODEC = "av1"

Frames = Union["np.ndarray", Sequence["Image.Image"]]


class VideoCodec:
    """One video codec. Subclass it and set ``key``, ``code`` and the methods.

    ``crf`` is the codec's own constant-quality scale (``crf_range``; lower is better,
    None: ``default_crf``); ``lossless`` asks for exact frames (CodecError if the codec
    cannot). ``encode`` returns the container's bytes; ``decode`` returns ``(frames, fps)``
    (uint8 ``[T, H, W, 3]``, a Fraction) and raises only ``CodecError`` or
    ``LimitExceededError``; ``probe`` returns the declared ``(width, height, frames, fps)``
    without decoding a frame.
    """

    kind: ClassVar[str] = "video"
    key: ClassVar[str] = ""
    code: ClassVar[int] = 0
    mime: ClassVar[str] = "application/octet-stream"
    extension: ClassVar[str] = ""
    lossy: ClassVar[bool] = True
    lossless: ClassVar[bool] = False
    #: the crf scale (None: the codec has none, e.g. a lossless-only codec)
    crf_range: ClassVar[tuple[int, int] | None] = None
    default_crf: ClassVar[int | None] = None
    effort_range: ClassVar[tuple[int, int] | None] = None
    #: pip extra that provides the codec when ``available()`` is False
    extra: ClassVar[str] = "video"

    def available(self) -> bool:
        """True when the libraries this codec needs are installed."""
        return True

    def encode(self, frames: Frames, fps: Any, crf: int | None = None, lossless: bool = False,
               **opts: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> "tuple[np.ndarray, Fraction]":
        raise NotImplementedError

    def probe(self, data: bytes) -> tuple[int, int, int, Fraction]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r} code={self.code}>"


# --------------------------------------------------------------------------- limits
def video_budget() -> int | None:
    """Most pixels (frames x width x height) a video payload may declare before decoding,
    or None for no budget beyond the spec limits (``MAX_VIDEO_FRAMES`` frames, each within
    ``MAX_DIMENSION`` and ``MAX_DECOMPRESSED_PIXELS``).

    The image codecs' budget: twice Pillow's ``Image.MAX_IMAGE_PIXELS``, its
    decompression-bomb threshold (about 179 million pixels, 537 MB of RGB frames, by
    default: 86 frames of 1920 x 1080, 194 of 1280 x 720). ``Image.MAX_IMAGE_PIXELS = None``
    lifts it.
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - the video extra installs Pillow
        return None
    mp = Image.MAX_IMAGE_PIXELS
    return 2 * int(mp) if mp else None


def check_video_size(width: int, height: int, frames: int, what: str) -> None:
    """Raise LimitExceededError when a declared video is over the limits or the budget.

    CodecError for an empty size or no frame.
    """
    if width <= 0 or height <= 0:
        raise CodecError(f"{what} declares an empty frame size ({width}x{height})")
    if frames <= 0:
        raise CodecError(f"{what} has no frame")
    if width > MAX_DIMENSION or height > MAX_DIMENSION or width * height > MAX_DECOMPRESSED_PIXELS:
        raise LimitExceededError(
            f"{what} declares {width}x{height} frames: over the limit of {MAX_DIMENSION} per "
            f"side (aigif.spec.MAX_DIMENSION)")
    if frames > MAX_VIDEO_FRAMES:
        raise LimitExceededError(f"{what} declares {frames} frames or more: over the limit "
                                 f"of {MAX_VIDEO_FRAMES} (aigif.spec.MAX_VIDEO_FRAMES)")
    total = frames * width * height
    budget = video_budget()
    if budget is not None and total > budget:
        raise LimitExceededError(
            f"{what} declares {frames} x {width}x{height} = {total} pixels or more: over the "
            f"decode budget of {budget} (2 x PIL.Image.MAX_IMAGE_PIXELS, the image codecs' "
            f"decompression-bomb threshold); refused before decoding")


# --------------------------------------------------------------------------- inputs
def as_frames(frames: Frames, what: str = "frames") -> "np.ndarray":
    """``frames`` (a uint8 array ``[T, H, W, 3]`` or a list of PIL images of one size) as a
    C-contiguous uint8 array ``[T, H, W, 3]``. Raises CodecError for anything else."""
    import numpy as np
    if isinstance(frames, np.ndarray):
        arr = frames
        if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
            raise CodecError(f"{what}: expected a uint8 array [T, H, W, 3], got "
                             f"{arr.dtype} {list(arr.shape)}")
    else:
        try:
            from PIL import Image
            items = list(frames)
        except TypeError:
            raise CodecError(f"{what}: expected a uint8 array [T, H, W, 3] or a list of PIL "
                             f"images, got {type(frames).__name__}") from None
        if not items:
            raise CodecError(f"{what}: no frame")
        size = None
        rows = []
        for i, im in enumerate(items):
            if not isinstance(im, Image.Image):
                raise CodecError(f"{what}[{i}]: expected a PIL image, got {type(im).__name__}")
            if size is None:
                size = im.size
            elif im.size != size:
                raise CodecError(f"{what}[{i}] is {im.size[0]}x{im.size[1]}, frame 0 is "
                                 f"{size[0]}x{size[1]}: all frames must have one size")
            rows.append(np.asarray(im if im.mode == "RGB" else im.convert("RGB")))
        arr = np.stack(rows)
    t, h, w, _ = arr.shape
    if t == 0 or h == 0 or w == 0:
        raise CodecError(f"{what}: empty ({t} frames of {w}x{h})")
    if w > MAX_DIMENSION or h > MAX_DIMENSION or t > MAX_VIDEO_FRAMES:
        raise CodecError(f"{what}: {t} frames of {w}x{h} is over the limits "
                         f"({MAX_VIDEO_FRAMES} frames, {MAX_DIMENSION} per side)")
    return np.ascontiguousarray(arr)


def as_fps(fps: Any) -> Fraction:
    """``fps`` as the exact frame rate it names (``aigif.video.frame_rate``: an int, a
    Fraction, a float for its shortest decimal, or a string such as ``"24000/1001"``), in
    (0, MAX_FPS]. Raises CodecError."""
    try:
        return frame_rate(fps, "fps")
    except MetaError as e:
        raise CodecError(str(e)) from None


# --------------------------------------------------------------------------- payloads
def video_codecs() -> list[str]:
    """Keys of the registered video codecs (installed or not)."""
    out = []
    for k in codecs.keys():
        try:
            if getattr(get_codec(k), "kind", "image") == "video":
                out.append(k)
        except RegistryError:
            continue
    return out


def available_video_codecs() -> list[str]:
    """Keys of the registered video codecs whose libraries are installed."""
    return [k for k in video_codecs() if get_codec(k).available()]


def _resolve(codec: str | int) -> VideoCodec:
    try:
        c = codec_for_code(codec) if isinstance(codec, int) else get_codec(codec)
    except RegistryError as e:
        raise CodecError(str(e)) from e
    if getattr(c, "kind", "image") != "video":
        raise CodecError(f"pixel codec {c.key!r} is an image codec, not a video codec; video "
                         f"codecs: {', '.join(video_codecs())}")
    if not c.available():
        raise MissingDependencyError(
            f"video codec {c.key!r} is not available: install it with "
            f"pip install 'aigif[{c.extra}]'")
    return c


def encode_video_payload(frames: Frames, fps: Any, codec: str = DEFAULT_VIDEO_CODEC,
                         crf: int | None = None, lossless: bool = False,
                         **opts: Any) -> Payload:
    """Encode frames as a video pixel payload.

    ``frames``: a uint8 array ``[T, H, W, 3]`` or a list of PIL images of one size; ``fps``:
    the frame rate (a Fraction keeps 30000/1001 exact). Returns ``Payload(codec=key,
    data=container bytes)``. Raises CodecError for bad frames or settings (a crf outside
    the codec's ``crf_range``, ``lossless`` where the codec has no exact mode),
    MissingDependencyError when PyAV (or its encoder) is missing.

    >>> encode_video_payload(frames, 8, "vp9", crf=30).codec   # doctest: +SKIP
    'vp9'
    """
    c = _resolve(codec)
    if lossless and not c.lossless:
        raise CodecError(f"video codec {c.key!r} has no exact (lossless) mode; use ffv1, or "
                         f"vp9 / h264 with lossless=True")
    if crf is not None:
        lo, hi = c.crf_range or (0, -1)
        if lossless or isinstance(crf, bool) or not isinstance(crf, int) or not lo <= crf <= hi:
            raise CodecError(f"{c.key} crf must be an integer {lo}..{hi}, got {crf!r}"
                             if c.crf_range and not lossless else
                             f"{c.key}{' lossless' if lossless else ''} takes no crf")
    arr = as_frames(frames)
    return Payload(c.key, c.encode(arr, as_fps(fps), crf=crf, lossless=lossless, **opts))


def _check_payload(payload: Payload) -> VideoCodec:
    if not isinstance(payload, Payload):
        raise CodecError(f"expected a Payload, got {type(payload).__name__}")
    return _resolve(payload.codec)


def decode_video_payload(payload: Payload, **opts: Any) -> "tuple[np.ndarray, Fraction]":
    """Decode a video payload to ``(frames, fps)``: uint8 ``[T, H, W, 3]`` and a Fraction.

    ``opts`` (None values dropped) go to the codec's ``decode``: ``groups=[1, 3]`` (and
    ``fill=``) for a group-structured codec (``partial = True``: ssvc) decodes only those
    groups, their pixels equal to a full decode's; any other codec raises CodecError.
    Raises CodecError for corrupt, truncated or mislabelled bytes, LimitExceededError when
    the declared frames x size is over the limits or ``video_budget()`` (checked before any
    frame is decoded), MissingDependencyError when the codec is not installed.
    """
    c = _check_payload(payload)
    opts = {k: v for k, v in opts.items() if v is not None}
    if opts.get("groups") is None and opts:
        raise CodecError(f"{', '.join(sorted(opts))}= is for a partial decode (groups=[...])")
    if opts and not getattr(c, "partial", False):
        raise CodecError(f"video codec {c.key!r} has no groups: only a group-structured "
                         f"codec (ssvc) decodes regions alone")
    try:
        return c.decode(bytes(payload.data), **opts)
    except AigifError:
        raise
    except MemoryError:
        raise LimitExceededError(f"{c.key} payload: out of memory while decoding") from None
    except Exception as e:  # a third-party codec raises anything: wrap it
        raise CodecError(f"{c.key} payload could not be decoded: {type(e).__name__}: {e}") \
            from e


def probe_video_payload(payload: Payload) -> tuple[int, int, int, Fraction]:
    """The declared ``(width, height, frames, fps)`` of a video payload, no frame decoded.

    Raises as ``decode_video_payload``.
    """
    c = _check_payload(payload)
    try:
        return c.probe(bytes(payload.data))
    except AigifError:
        raise
    except Exception as e:
        raise CodecError(f"{c.key} payload could not be read: {type(e).__name__}: {e}") from e
