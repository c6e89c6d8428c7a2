"""``AigifFile.image(policy=...)``: the best image a file can give, and how it was made."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import CodecError, MissingDependencyError, RenderError

__all__ = ["ImageResult", "read_image", "POLICIES"]

#: auto: pixels when the file has them (cheap, platform-independent), else regenerate;
#: pixels: the payload only; render: regeneration only (plus the residual, if any);
#: prefer_render: regenerate, and fall back to the payload when regeneration fails.
POLICIES = ("auto", "pixels", "render", "prefer_render")


@dataclass(frozen=True)
class ImageResult:
    """An image and the path that produced it.

    ``path`` is ``"pixels"`` (decoded payload), ``"render"`` (regenerated) or
    ``"render+residual"`` (regenerated, then refined by the residual layer); ``note`` says
    why a fallback was taken, if one was.
    """

    image: Any
    path: str
    note: str = ""
    render_result: Any = None


def _render(f, strict: bool, kwargs: dict) -> ImageResult:
    if f.meta is None:
        raise RenderError("this file has no generation syntax to regenerate from")
    out = f.render(**kwargs)
    img = getattr(out, "image", out)
    if getattr(out, "source", "render") == "payload":  # render_file(fallback="payload")
        return ImageResult(img, "pixels", note="model not available: used the pixel payload",
                           render_result=out)
    if f.residual is None:
        return ImageResult(img, "render", render_result=out)
    from .residual import apply_residual
    return ImageResult(apply_residual(img, f.residual, strict=strict), "render+residual",
                       render_result=out)


def read_image(f, policy: str = "auto", *, strict: bool = False, **render_kwargs: Any
               ) -> ImageResult:
    """The image of AigifFile ``f`` under ``policy`` (see POLICIES).

    Raises CodecError when the policy allows no path this file has (e.g. "pixels" on a
    file without a payload), and whatever decoding or regeneration raises (AigifError).
    """
    from . import decode_payload
    if policy not in POLICIES:
        raise CodecError(f"unknown image policy {policy!r}; expected one of {', '.join(POLICIES)}")
    if policy == "pixels" or (policy == "auto" and f.payload is not None):
        if f.payload is None:
            raise CodecError("this file has no pixel payload (policy='pixels')")
        return ImageResult(decode_payload(f.payload), "pixels")
    if policy == "prefer_render" and f.payload is not None:
        try:
            return _render(f, strict, render_kwargs)
        except (RenderError, MissingDependencyError) as e:
            return ImageResult(decode_payload(f.payload), "pixels",
                               note=f"regeneration failed, used the pixel payload: {e}")
    return _render(f, strict, render_kwargs)
