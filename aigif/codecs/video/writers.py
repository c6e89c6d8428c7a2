"""Video files for people: what ``aigif render`` writes for a video, chosen by extension.

=========  ==================================================  =====================
extension  what                                                through
=========  ==================================================  =====================
.mp4       H.264 4:2:0 (``codec="h265"`` / ``"av1"`` also)    PyAV (FFmpeg)
.webm      VP9 4:2:0 (``codec="av1"`` also)                    PyAV (FFmpeg)
.mkv       FFV1 RGB, exact frames                              PyAV (FFmpeg)
.webp      animated WebP (lossy ``quality``, or ``lossless``)  Pillow
.gif       animated GIF (256 colours a frame)                  Pillow
.apng      animated PNG, exact frames                          Pillow
=========  ==================================================  =====================

Every file goes through ``aigif._atomic.write_atomic`` (a temporary file in the target's
folder, then a rename; never through a planted link). H.264 and H.265 in 4:2:0 need an
even width and height: odd frames are padded by one row / column (edge copy) there, and
only there. GIF and WebP time frames in centiseconds / milliseconds: frame i starts at i / fps
rounded to that unit, so the clip keeps its length.

Example::

    >>> from aigif.codecs.video.writers import write_video
    >>> write_video("out/cat.mp4", frames, fps=8)              # doctest: +SKIP
    >>> write_video("out/cat.gif", frames, fps=8)              # doctest: +SKIP
"""
from __future__ import annotations

import io
import os
from typing import Any

from ..._atomic import write_atomic
from ...errors import CodecError
from . import Frames, _resolve, as_fps, as_frames

__all__ = ["write_video", "encode_video_file", "VIDEO_EXTENSIONS"]

#: extension -> (default codec, codecs allowed) for the PyAV formats; Pillow's below
_AV = {".mp4": ("h264", ("h264", "h265", "av1")), ".webm": ("vp9", ("vp9", "av1")),
       ".mkv": ("ffv1", ("ffv1", "h264", "h265", "vp9", "av1"))}
_MUXER = {".mp4": "mp4", ".webm": "webm", ".mkv": "matroska"}
_PIL = {".webp": "WEBP", ".gif": "GIF", ".apng": "PNG"}
#: the extensions ``write_video`` knows
VIDEO_EXTENSIONS = tuple(_AV) + tuple(_PIL)


def _ext(path_or_ext: str) -> str:
    s = os.fspath(path_or_ext)
    base = os.path.basename(s)
    # ".mp4" alone is an extension (splitext takes it for a dot-file name with none)
    e = base if base.startswith(".") and base.count(".") == 1 else \
        os.path.splitext(s)[1] if "." in base else s
    e = e.lower() if e.startswith(".") else "." + e.lower()
    if e not in VIDEO_EXTENSIONS:
        raise CodecError(f"cannot write a video as {e!r}: known extensions are "
                         f"{', '.join(VIDEO_EXTENSIONS)}")
    return e


def _times(n: int, fps: Any, unit_ms: int) -> list[int]:
    """Frame durations in ms, each a multiple of ``unit_ms``: frame i starts at i / fps."""
    starts = [round(i * 1000 / (fps * unit_ms)) * unit_ms for i in range(n + 1)]
    return [max(unit_ms, b - a) for a, b in zip(starts, starts[1:])]


def _even(arr):
    import numpy as np
    t, h, w, _ = arr.shape
    if w % 2 or h % 2:
        arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return arr


def encode_video_file(frames: Frames, fps: Any, ext: str, *, codec: str | None = None,
                      crf: int | None = None, quality: int | None = None,
                      lossless: bool = False) -> bytes:
    """The bytes of a video file of type ``ext`` (".mp4", ".webm", ".mkv", ".webp", ".gif",
    ".apng"; a path works too) holding ``frames`` at ``fps``.

    ``codec`` picks the stream of .mp4 / .webm / .mkv (defaults: h264, vp9, ffv1); ``crf``
    its quality; ``quality`` (0..100) and ``lossless`` are for .webp. Raises CodecError
    (unknown extension, bad frames or settings), MissingDependencyError (PyAV missing).
    """
    e = _ext(ext)
    arr = as_frames(frames)
    rate = as_fps(fps)
    if e in _AV:
        default, allowed = _AV[e]
        key = codec or default
        if key not in allowed:
            raise CodecError(f"{e} holds {', '.join(allowed)}, not {key!r}")
        c = _resolve(key)
        if getattr(c, "even", False) and not lossless:
            arr = _even(arr)
        return c.encode(arr, rate, crf=crf, lossless=lossless, _muxer=_MUXER[e])
    if codec is not None or crf is not None:
        raise CodecError(f"{e} files take no codec or crf (quality= / lossless= for .webp)")
    from PIL import Image
    ims = [Image.fromarray(a, "RGB") for a in arr]
    buf = io.BytesIO()
    kw: dict[str, Any] = {"save_all": True, "append_images": ims[1:], "loop": 0}
    if e == ".gif":
        kw.update(duration=_times(len(ims), rate, 10), disposal=1, optimize=False)
    elif e == ".webp":
        kw.update(duration=_times(len(ims), rate, 1), lossless=bool(lossless),
                  quality=90 if quality is None else quality, method=4)
    else:
        kw.update(duration=_times(len(ims), rate, 1), default_image=False)
    if quality is not None and (e != ".webp" or not isinstance(quality, int)
                                or not 0 <= quality <= 100):
        raise CodecError(f"quality must be an integer 0..100 and is for .webp only, got "
                         f"{quality!r} for {e}")
    try:
        ims[0].save(buf, format=_PIL[e], **kw)
    except Exception as ex:
        raise CodecError(f"could not write {len(ims)} frames as {e}: {type(ex).__name__}: "
                         f"{ex}") from ex
    return buf.getvalue()


def write_video(path: str | os.PathLike, frames: Frames, fps: Any, *, codec: str | None = None,
                crf: int | None = None, quality: int | None = None, lossless: bool = False,
                overwrite: bool = True, within: str | os.PathLike | None = None,
                replace_symlink: bool = False) -> int:
    """Write ``frames`` at ``fps`` to ``path`` as the video file its extension names.

    Returns the number of bytes written. Raises CodecError (as ``encode_video_file``),
    FileAccessError / OutputExistsError (as ``aigif._atomic.write_atomic``: ``overwrite``,
    ``within`` and ``replace_symlink`` are passed on).

    >>> write_video("clip.webm", frames, 8, crf=30)            # doctest: +SKIP
    """
    data = encode_video_file(frames, fps, os.fspath(path), codec=codec, crf=crf,
                             quality=quality, lossless=lossless)
    return write_atomic(path, data, overwrite=overwrite, within=within,
                        replace_symlink=replace_symlink)
