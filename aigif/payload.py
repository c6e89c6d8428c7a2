"""``Payload``: a pixel payload as plain data (codec key + the codec's own bytes).

Its own module at the bottom of the meta layer, so that the syntax classes that hold one
(a ControlNet stage's control image, a video's conditioning image) and the container's
pixel payload share one class without an import cycle.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Payload"]


@dataclass(frozen=True)
class Payload:
    """Pixel payload: codec key (``"png"``, ``"webp"``, ``"avif"``, ``"jxl"``...) and the
    codec's own bytes. The file's pixel payload (``AigifFile.payload``), a ControlNet
    stage's control image and a video's conditioning image are all Payloads."""

    codec: str
    data: bytes
