"""``VideoFrames``: what rendering a video file gives — the frames and their frame rate.

The frames are one numpy uint8 array ``[T, H, W, 3]`` (RGB), the pixels diffusers gives for
``output_type="pil"`` (its float frames in 0..1, times 255, rounded). This module imports
numpy only when frames are made.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = ["VideoFrames", "to_uint8"]


@dataclass(frozen=True, eq=False)
class VideoFrames:
    """Rendered video: ``frames`` (numpy uint8 ``[T, H, W, 3]``) and ``fps`` (exact).

    ``len(v)`` is the frame count, ``v.size`` is ``(width, height)`` as PIL's, and
    ``v.images()`` gives the frames as PIL images.

    Example::

        res = aigif.open("fox.aigif").render()
        v = res.video                       # VideoFrames
        v.frames.shape, float(v.fps)        # (16, 512, 512, 3), 8.0
        v.images()[0].save("first.png")
    """

    frames: Any
    fps: Fraction

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def duration(self) -> float:
        """Seconds the frames last at ``fps``."""
        return len(self) / float(self.fps) if self.fps else 0.0

    def images(self) -> list:
        """The frames as RGB PIL images."""
        from PIL import Image
        return [Image.fromarray(f, "RGB") for f in self.frames]

    def __repr__(self) -> str:
        w, h = self.size
        return f"<VideoFrames {len(self)} frames {w}x{h} at {self.fps} fps>"


def to_uint8(video: Any):
    """One video of a diffusers pipeline's ``output_type="np"`` output (float frames in
    0..1, ``[T, H, W, C]``) as uint8 RGB, rounded as diffusers' ``numpy_to_pil`` does, so the
    pixels equal those of ``output_type="pil"``."""
    import numpy as np
    a = np.asarray(video)
    if a.dtype != np.uint8:
        a = (a * 255).round().astype("uint8")
    if a.ndim != 4 or a.shape[-1] not in (1, 3):
        raise ValueError(f"expected frames [T, H, W, 3], found shape {a.shape}")
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.ascontiguousarray(a)
