"""Upscale method names of ComfyUI / SwarmUI -> aigif upscaler keys (``aigif.stages``)."""
from __future__ import annotations

__all__ = ["method_upscaler"]

_LATENT = {"nearest-exact": "latent-nearest-exact", "bilinear": "latent", "area": "latent-area",
           "bicubic": "latent-bicubic", "nearest": "latent-nearest"}
_PIXEL = {"lanczos": "lanczos", "bicubic": "bicubic", "bilinear": "bilinear",
          "nearest": "nearest", "nearest-exact": "nearest"}


def method_upscaler(method: object, latent: bool) -> tuple[str, dict]:
    """(upscaler key, extra params) of a resize method (``upscale_method`` of
    LatentUpscale/ImageScale). A method without its own code gets the nearest one and is
    named in the params (``bislerp``, pixel ``area``...)."""
    m = method.strip().lower() if isinstance(method, str) else ""
    table = _LATENT if latent else _PIXEL
    if m in table:
        exact = latent or m != "nearest-exact"
        return table[m], ({} if exact else {"upscale_method": method})
    return ("latent" if latent else "bilinear"), ({"upscale_method": method}
                                                  if isinstance(method, str) else {})
