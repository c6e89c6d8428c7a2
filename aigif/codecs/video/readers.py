"""Video files people have, read as frames: the inverse of ``writers`` for the inputs of
``aigif hybrid --video`` (and any caller that has a clip on disk).

=================================  ==============================  ===============
extension                          what                            through
=================================  ==============================  ===============
.mp4 .m4v .mov .webm .mkv          the first video stream          PyAV (FFmpeg)
.gif .webp .apng .png              the frames of an animation      Pillow
=================================  ==============================  ===============

Frames come back as RGB uint8 ``[T, H, W, 3]`` (a YUV stream converted by FFmpeg, as any
player would show it), with the clip's frame rate: the stream's average rate, or for an
animation the rate its total duration gives, frames x 1000 / milliseconds; GIF times
frames in 10 ms steps (8 fps is 120, 130, 130, 120... ms), so a whole or NTSC rate that
the rounding explains is taken; None when the file has no durations (the caller says the
rate). The frame size is checked against the limits
before any frame is decoded, and the frame count as frames are decoded
(``check_video_size``: ``MAX_VIDEO_FRAMES``, ``MAX_DIMENSION``, the decode budget).

Example::

    >>> from aigif.codecs.video.readers import read_video_file
    >>> frames, fps = read_video_file("clip.mkv")              # doctest: +SKIP
    >>> frames.shape, fps                                     # doctest: +SKIP
    ((16, 480, 832, 3), Fraction(16, 1))
"""
from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

from ...errors import AigifError, CodecError, LimitExceededError, MissingDependencyError
from . import as_fps, check_video_size

__all__ = ["read_video_file", "READ_EXTENSIONS"]

_AV = (".mp4", ".m4v", ".mov", ".webm", ".mkv")
_PIL = (".gif", ".webp", ".apng", ".png")
#: the extensions ``read_video_file`` reads
READ_EXTENSIONS = _AV + _PIL


def read_video_file(path: str | os.PathLike) -> "tuple[Any, Fraction | None]":
    """The frames of the video file ``path`` and its frame rate: ``(uint8 [T, H, W, 3],
    Fraction or None)``.

    Raises CodecError for an unknown extension, a file that is not a readable video or
    holds no video stream, LimitExceededError when the declared size or the frames
    decoded so far are over the limits, MissingDependencyError when PyAV (containers) or
    Pillow (animations) is not installed.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in READ_EXTENSIONS:
        raise CodecError(f"cannot read {p!r} as a video: known extensions are "
                         f"{', '.join(READ_EXTENSIONS)}")
    try:
        return (_read_av if ext in _AV else _read_pil)(p)
    except (AigifError, OSError):
        raise
    except MemoryError:
        raise CodecError(f"{p}: out of memory while decoding") from None
    except Exception as e:   # a damaged file: whatever the library raises
        raise CodecError(f"{p} could not be read as a video: {type(e).__name__}: {e}") from e


def _read_av(p: str):
    try:
        import av
    except ImportError as e:
        raise MissingDependencyError("reading MP4 / WebM / Matroska needs PyAV: "
                                     "pip install 'aigif[video]'") from e
    import numpy as np
    try:
        c = av.open(p, "r")
    except av.FFmpegError as e:
        raise CodecError(f"{p} could not be opened: {e}") from e
    with c:
        streams = [s for s in c.streams if s.type == "video"]
        if not streams:
            raise CodecError(f"{p} holds no video stream")
        s = streams[0]
        w, h = int(s.codec_context.width or 0), int(s.codec_context.height or 0)
        check_video_size(w, h, max(int(s.frames or 0), 1), p)
        rate = s.average_rate or s.guessed_rate or s.base_rate
        fps = as_fps(Fraction(rate)) if rate else None
        frames = []
        for fr in c.decode(s):
            if (fr.width, fr.height) != (w, h):
                raise CodecError(f"{p}: frame {len(frames)} is {fr.width}x{fr.height}, the "
                                 f"stream header says {w}x{h}")
            frames.append(fr.to_ndarray(format="rgb24"))
            check_video_size(w, h, len(frames), p)
    if not frames:
        raise CodecError(f"{p}: its video stream has no frame")
    return np.stack(frames), fps


def _read_pil(p: str):
    try:
        from PIL import Image, ImageSequence
    except ImportError as e:
        raise MissingDependencyError("reading GIF / WebP / APNG needs Pillow: "
                                     "pip install 'aigif[images]'") from e
    import numpy as np
    try:
        opened = Image.open(p)
    except Image.DecompressionBombError as e:     # Pillow's own size check, at open
        raise LimitExceededError(f"{p}: {e}") from None
    with opened as im:
        fmt = im.format
        w, h = im.size
        check_video_size(w, h, int(getattr(im, "n_frames", 1)), p)
        frames, durations = [], []
        for fr in ImageSequence.Iterator(im):
            frames.append(np.asarray(fr.convert("RGB")))
            durations.append(fr.info.get("duration"))
    fps = None
    if all(isinstance(d, (int, float)) and d > 0 for d in durations):
        fps = _mean_rate(len(frames), sum(durations), 10 if fmt == "GIF" else 1)
    return np.stack(frames), fps


def _mean_rate(n: int, total_ms: float, unit_ms: int) -> Fraction:
    """The frame rate of ``n`` frames lasting ``total_ms``, each start rounded to
    ``unit_ms``: a whole rate, else an NTSC one (k x 1000 / 1001), that such rounding
    explains (the clip's end within half a unit), else the mean rate itself."""
    total = Fraction(total_ms).limit_denominator(1000)
    half = Fraction(unit_ms, 2)
    mean = Fraction(1000 * n) / total
    for r in range(max(1, int(mean) - 1), int(mean) + 3):
        if abs(Fraction(1000 * n, r) - total) <= half:
            return as_fps(r)
    k = round(mean * 1001 / 1000)
    if k > 0 and abs(Fraction(1000 * n) / Fraction(k * 1000, 1001) - total) <= half:
        return as_fps(Fraction(k * 1000, 1001))
    return as_fps(mean.limit_denominator(1001))
