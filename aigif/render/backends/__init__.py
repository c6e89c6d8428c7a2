"""Rendering backends: one per generator family (model family).

The format layer's ``aigif.registry.generators`` holds each family's ``GeneratorInfo``;
its ``backend`` (an object, a class, or a ``"module:attr"`` string) says how to render it.
The built-in families' infos carry no backend (the format layer never names torch code),
so this module maps them to the backends below; ``register_backend`` sets or replaces one
(the embedded model and tests use it), and third-party generators registered with
``aigif.register_generator(..., backend=...)`` or the ``aigif.generators`` entry-point
group bring their own.
"""
from __future__ import annotations

import threading
from typing import Any

from ...errors import RegistryError, RenderError
from ...registry import generators, load_ref
from .base import ALL_FIELDS, DiffusersBackend, ModelSource

__all__ = ["DiffusersBackend", "ModelSource", "ALL_FIELDS", "BUILTIN_BACKENDS",
           "get_backend", "register_backend", "generator_for_pipeline_class"]

#: Built-in family -> backend reference (loaded on first use).
BUILTIN_BACKENDS: dict[str, str] = {
    "sd": "aigif.render.backends.sd:backend",
    "sdxl": "aigif.render.backends.sdxl:backend",
    "sd3": "aigif.render.backends.sd3:backend",
    "flux": "aigif.render.backends.flux:backend",
    "pixart_sigma": "aigif.render.backends.pixart:backend",
    "lcm": "aigif.render.backends.lcm:backend",
    "aigif_tiny": "aigif.embedded.backend:backend",   # shipped in the package
    # video families (aigif.render.backends.video.VideoBackend: run() gives VideoFrames)
    "animatediff": "aigif.render.backends.animatediff:AnimateDiffBackend",
    "cogvideox": "aigif.render.backends.cogvideox:CogVideoXBackend",
    "ltx_video": "aigif.render.backends.ltx:LTXBackend",
    "wan": "aigif.render.backends.wan:WanBackend",
    "text_to_video_sd": "aigif.render.backends.t2vsd:TextToVideoSDBackend",
    "hunyuan_video": "aigif.render.backends.hunyuanvideo:HunyuanVideoBackend",
    "aigif_tiny_video": "aigif.embedded.video_backend:backend",   # shipped in the package
    "stable_video_diffusion": "aigif.render.backends.svd:StableVideoDiffusionBackend",
}

_overrides: dict[str, Any] = {}
_loaded: dict[str, Any] = {}
_lock = threading.RLock()


def register_backend(key: str, backend: Any, *, override: bool = False) -> None:
    """Set the rendering backend of generator ``key`` (object, class or "module:attr").

    Raises RegistryError if ``key`` is not a registered generator, or already has a
    backend set here and ``override`` is false.
    """
    if key not in generators:
        raise RegistryError(f"no generator named {key!r}; register it first with "
                            f"aigif.register_generator(...)")
    with _lock:
        if key in _overrides and not override:
            raise RegistryError(f"generator {key!r} already has a backend "
                                f"(pass override=True to replace it)")
        _overrides[key] = backend
        _loaded.pop(key, None)


def _materialize(key: str, ref: Any) -> Any:
    obj = ref
    if isinstance(obj, str):
        try:
            obj = load_ref(obj)
        except Exception as e:
            raise RenderError(f"the backend of generator {key!r} could not be loaded from "
                              f"{ref!r}: {e}") from e
    if isinstance(obj, type):
        obj = obj()
    if not callable(getattr(obj, "run", None)) or not callable(getattr(obj, "load", None)):
        raise RenderError(f"the backend of generator {key!r} ({obj!r}) has no load()/run(); "
                          f"subclass aigif.render.DiffusersBackend")
    return obj


def get_backend(key: str) -> DiffusersBackend:
    """The rendering backend of generator ``key``; RenderError if it has none."""
    with _lock:
        if key in _loaded:
            return _loaded[key]
        info = generators.get(key)
        ref = _overrides.get(key) or info.backend or BUILTIN_BACKENDS.get(key)
        if ref is None:
            raise RenderError(f"generator {key!r} has no rendering backend here; install the "
                              f"extension that provides it")
        obj = _materialize(key, ref)
        _loaded[key] = obj
        return obj


def generator_for_pipeline_class(class_name: str) -> str | None:
    """The generator key whose backend renders diffusers pipeline ``class_name``."""
    for key in generators.keys():
        try:
            b = get_backend(key)
        except (RenderError, RegistryError):
            continue
        if class_name in getattr(b, "pipeline_classes", ()) or \
                class_name == getattr(b, "pipeline_class", None):
            return key
    return None
