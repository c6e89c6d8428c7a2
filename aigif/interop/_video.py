"""The metadata texts of MP4/MOV and Matroska/WebM files (what ComfyUI's video savers and
VideoHelperSuite write): container-level tags, read with PyAV.

* ``VHS_VideoCombine`` (ComfyUI-VideoHelperSuite) passes ``-metadata comment=<JSON>`` to
  ffmpeg: one ``comment`` tag holding ``{"prompt": graph (or its JSON text), "workflow":
  {...}}`` (MP4 ``©cmt``, Matroska ``COMMENT``), and saves the first frame as a PNG with
  the usual ``prompt``/``workflow`` chunks.
* ComfyUI's ``SaveVideo`` / ``SaveWEBM`` set container tags ``prompt`` and ``workflow``
  (MP4 with ``movflags=use_metadata_tags``).

PyAV (the ``video`` extra) is imported when a video file is read, never before; without
it the file is reported as unreadable metadata. Only the container header is read (no
frame is decoded: FFmpeg's ``max_pixels`` caps a probe decode at one small frame), and
every text is charged to the file's text budget (``MAX_TEXT_BYTES`` one,
``MAX_FILE_TEXT_BYTES`` all, at most ``MAX_CONTAINER_TAGS`` tags).
"""
from __future__ import annotations

import io

from ._container import Container, TextItem
from ._limits import MAX_CONTAINER_TAGS, MAX_TEXT_BYTES

__all__ = ["sniff_video", "scan_video"]

#: container tags every muxer writes: no generation metadata
_TECHNICAL = frozenset(("major_brand", "minor_version", "compatible_brands", "creation_time",
                        "handler_name", "vendor_id", "duration", "language", "timecode",
                        "encoder"))
_DEMUXER = {"mp4": "mov", "matroska": "matroska"}


def sniff_video(data: bytes) -> str | None:
    """``"mp4"`` (ISO base media: MP4, MOV, M4V), ``"matroska"`` (MKV, WebM) or None."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    return None


def scan_video(data: bytes, c: Container) -> None:
    """Add the container's metadata tags to ``c`` (and the video size); damage and a
    missing PyAV go to ``c.problems``."""
    kind = sniff_video(data) or "mp4"
    try:
        import av
    except ImportError:
        c.problems.append("reading MP4/WebM/MKV metadata needs PyAV: pip install 'aigif[video]'")
        return
    try:
        f = av.open(io.BytesIO(data), "r", format=_DEMUXER[kind],
                    options={"max_pixels": str(64 * 64)},
                    container_options={"probesize": "32768", "analyzeduration": "0"},
                    metadata_errors="replace", timeout=(10.0, 10.0))
    except Exception as e:  # noqa: BLE001 - FFmpeg raises many types for bad bytes
        c.problems.append(f"{kind} container could not be read: {type(e).__name__}: {e}")
        return
    try:
        for s in f.streams:
            if s.type == "video":
                cc = s.codec_context
                if cc is not None and cc.width and cc.height:
                    c.width, c.height = int(cc.width), int(cc.height)
                break
        tags = dict(f.metadata or {})
    except Exception as e:  # noqa: BLE001
        c.problems.append(f"{kind} metadata could not be read: {type(e).__name__}: {e}")
        return
    finally:
        f.close()
    where = "mp4" if kind == "mp4" else "matroska"
    n = 0
    for key, text in tags.items():
        if not isinstance(key, str) or not isinstance(text, str) or key.lower() in _TECHNICAL:
            continue
        n += 1
        if n > MAX_CONTAINER_TAGS:
            c.problems.append(f"{kind}: over {MAX_CONTAINER_TAGS} metadata tags; the rest skipped")
            break
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_TEXT_BYTES:
            c.problems.append(f"{kind} tag {key!r} is over {MAX_TEXT_BYTES} bytes; skipped")
            continue
        if not c.take(size, f"{kind} tag {key!r}"):
            break
        # Matroska tag names are upper case (PROMPT, COMMENT): the readers look for the
        # lower-case keys; ``where`` keeps the name as stored
        c.texts.append(TextItem(key.lower() if kind == "matroska" else key, text,
                                f"{where}:{key}"))
