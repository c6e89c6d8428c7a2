"""aigif: AI-generated images stored as their generation syntax.

    import aigif
    meta = aigif.GenerationMeta(model="sd15", prompt="a castle on a hill", seed=1234)
    n = aigif.save(meta, "castle.aigif")
    f = aigif.open("castle.aigif")
    assert f.meta == meta

Reading, writing and validating never import torch, diffusers or numpy; rendering and
pixel codecs load lazily.
"""
from __future__ import annotations

from typing import Any

from .document import AigifFile, Fingerprint, Payload, RawElement, loads, open_file as open, save
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .io import dumps
from .meta import GenerationMeta, Lora, Platform
from .video import Video
from .stages import (ControlNet, Detailer, Hires, Img2Img, Refiner, Stage,
                     UnknownStages, Upscale)
from .registry import (register_extension, register_generator, register_scheduler,
                       unregister_extension)
from .validate import ValidationReport, validate

__version__ = "0.1.0"

# name -> "module:attr", loaded on first access (keeps torch/Pillow out of plain reads)
_LAZY = {
    "render_file": "aigif.render:render_file",
    "render_meta": "aigif.render:render_meta",
    "RenderResult": "aigif.render:RenderResult",
    "register_backend": "aigif.render:register_backend",
    "pipeline_cache": "aigif.render:pipeline_cache",
    "generate": "aigif.render:generate",
    "register_model": "aigif.render:register_model",
    "register_lora": "aigif.render:register_lora",
    "interop": "aigif.interop:",
    "codecs": "aigif.codecs:",
    "encode_image": "aigif.codecs:encode_image",
    "features": "aigif.featuremap:features",
}

__all__ = [
    "GenerationMeta", "Platform", "Lora", "Stage", "Hires", "Upscale", "Img2Img", "Refiner",
    "ControlNet", "Detailer", "UnknownStages", "Video", "AigifFile", "Payload", "Fingerprint", "RawElement",
    "save", "open", "dumps", "loads", "validate", "ValidationReport", "register_extension",
    "unregister_extension", "register_generator", "register_scheduler", "__version__",
    *_LAZY, *_errors_all,
]


def __getattr__(name: str) -> Any:
    ref = _LAZY.get(name)
    if ref is None:
        raise AttributeError(f"module 'aigif' has no attribute {name!r}")
    from importlib import import_module
    mod, _, attr = ref.partition(":")
    try:
        m = import_module(mod)
    except ImportError as e:
        raise MissingDependencyError(  # noqa: F405
            f"aigif.{name} needs optional dependencies that are not installed: {e}. "
            f"Install them with: pip install 'aigif[render]'") from e
    value = getattr(m, attr) if attr else m
    globals()[name] = value
    return value


# Pillow plugin: PIL.Image.open("x.aigif") works after `import aigif` (when Pillow is
# installed: it is the `images` extra).
try:
    from . import pillow as _pillow  # noqa: E402,F401
except ImportError:  # pragma: no cover - no Pillow
    pass
