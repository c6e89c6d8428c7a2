"""Regeneration engine: diffusers backends per model family, determinism, pipeline cache.

Importing this package is cheap: torch and diffusers load when something renders.

Example::

    import aigif
    res = aigif.open("castle.aigif").render()          # -> RenderResult
    image, data = aigif.generate(meta, device="cuda")   # -> (PIL image, AIGIF bytes)
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["render_file", "render_meta", "generate", "RenderResult", "resolve_model",
           "register_model", "register_lora", "content_hash", "pipeline_cache", "PipelineCache",
           "current_platform", "image_fingerprint", "video_fingerprint", "psnr", "DiffusersBackend", "ModelSource",
           "register_backend", "get_backend", "VideoFrames",
           "scheduler_class", "scheduler_key_for", "make_scheduler",
           "object_map", "object_groups", "video_object_groups", "ObjectMap"]

_WHERE = {
    "render_file": "engine", "render_meta": "engine", "generate": "engine",
    "RenderResult": "engine", "resolve_model": "engine",
    "register_model": "local", "content_hash": "local", "register_lora": "loras",
    "pipeline_cache": "cache", "PipelineCache": "cache",
    "current_platform": "platform",
    "image_fingerprint": "..codecs.pixels:fingerprint", "psnr": "..codecs.pixels",
    "video_fingerprint": "..codecs.pixels",
    "DiffusersBackend": "backends", "ModelSource": "backends",
    "register_backend": "backends", "get_backend": "backends", "VideoFrames": "video",
    "scheduler_class": "schedulers", "scheduler_key_for": "schedulers",
    "make_scheduler": "schedulers",
    "object_map": "objects", "object_groups": "objects", "video_object_groups": "objects",
    "ObjectMap": "objects",
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'aigif.render' has no attribute {name!r}")
    mod, _, attr = mod.partition(":")
    value = getattr(import_module(mod if mod.startswith("..") else f".{mod}", __name__),
                    attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
