"""The generator extension of aigif-tiny (generator ``"aigif_tiny"``; models: the packaged
ones, ``aigif.embedded.PACKAGED``).

Registered like the hub families (``aigif.render.backends.BUILTIN_BACKENDS`` maps
``"aigif_tiny"`` to ``"aigif.embedded.backend:backend"``). The difference: the packaged
models have no hub id; their weights are package data, loaded with
``AigifTinyPipeline.from_pretrained`` from the ``importlib.resources`` path (a stage-2
directory shares the text encoder and tokenizer of aigif-tiny: ``pipeline.from_dir``). A local
directory registered with ``aigif.register_model(name, path)`` whose ``model_index.json``
names ``AigifTinyPipeline`` (a retrained aigif-tiny) loads the same way from that path.
"""
from __future__ import annotations

from typing import Any

from ..errors import ModelNotAvailableError, RenderError
from ..render.backends.base import DiffusersBackend, ModelSource, dtype_kwarg
from . import PACKAGED, model_path


class AigifTiny(DiffusersBackend):
    """aigif-tiny: 32 x 32 pixel-space shapes model shipped in the package."""

    key = "aigif_tiny"
    pipeline_class = "AigifTinyPipeline"
    pipeline_classes = ("AigifTinyPipeline",)
    uses = frozenset({"prompt", "negative_prompt", "seed", "steps", "guidance_scale",
                      "scheduler", "width", "height"})
    call_params = {"eta": (float, int)}
    well_known = tuple(PACKAGED)

    def load(self, source: ModelSource, *, dtype: Any, device: str, download: bool = True):
        from importlib.resources import as_file

        from .pipeline import from_dir      # torch, diffusers

        def _from(path) -> Any:
            try:
                with _quiet_loading():      # a few MB from disk: no progress bars
                    return from_dir(path, use_safetensors=True, **dtype_kwarg(dtype))
            except (OSError, ValueError) as e:
                raise ModelNotAvailableError(
                    f"model {source.key!r} could not be loaded from {path}: {e}; "
                    f"reinstall aigif (the weights are package data)") from e

        if source.location is None:
            if source.key not in PACKAGED:
                raise ModelNotAvailableError(
                    f"model {source.key!r} is not packaged with this aigif "
                    f"(packaged: {', '.join(sorted(PACKAGED))}); upgrade aigif")
            with as_file(model_path(source.key)) as p:
                if not (p / "model_index.json").is_file():
                    raise ModelNotAvailableError(
                        f"the packaged {source.key} weights are missing from {p}; reinstall "
                        f"aigif (pip install --force-reinstall aigif)")
                pipe = _from(p)
        elif source.local:
            pipe = _from(source.location)
        else:
            raise RenderError(f"aigif-tiny models are not on the hub ({source.location!r})")
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        pipe._aigif_scheduler_config = dict(pipe.scheduler.config)
        return pipe


class _quiet_loading:
    """Turn off diffusers' and transformers' loading progress bars for the block (restored
    after: they stay on for the multi-GB hub models)."""

    def __enter__(self):
        from diffusers.utils import logging as dl
        from transformers.utils import logging as tl
        self.mods = [m for m in (dl, tl) if m.is_progress_bar_enabled()]
        for m in self.mods:
            m.disable_progress_bar()

    def __exit__(self, *exc):
        for m in self.mods:
            m.enable_progress_bar()


backend = AigifTiny()
