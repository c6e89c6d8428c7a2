"""Find every metadata text in an image or video file's bytes (PNG, JPEG, WebP walkers;
MP4/MOV and Matroska/WebM container tags through PyAV)."""
from __future__ import annotations

from ._container import Container, sniff
from ._exif import scan_jpeg, scan_webp
from ._png import scan_png
from ._video import scan_video, sniff_video

__all__ = ["scan"]


def scan(data: bytes) -> Container:
    """Find every metadata text in an image file's bytes; never raises for bad bytes."""
    fmt = sniff(data)
    if fmt == "unknown":
        fmt = sniff_video(data) or fmt
    c = Container(format=fmt)
    try:
        if fmt == "png":
            scan_png(data, c)
        elif fmt == "jpeg":
            scan_jpeg(data, c)
        elif fmt == "webp":
            scan_webp(data, c)
        elif fmt in ("mp4", "matroska"):
            scan_video(data, c)
    except Exception as e:  # defensive: a walker bug must not stop a batch
        c.problems.append(f"{fmt} structure could not be read: {type(e).__name__}: {e}")
    return c
