"""AnimateDiff: a Stable Diffusion 1.5 model animated by a motion module
(``AnimateDiffPipeline`` with a ``MotionAdapter``).

The file's ``model`` is the SD 1.5 base (a hub id, a registered local directory, or a
saved ``AnimateDiffPipeline``) and ``video.motion_adapter`` the motion module: a hub id
(``"owner/name"``, with ``"@revision"`` or pinned here for the well-known adapters), a
registered model name or ``"local:<hash>"``. Both load through ``from_pretrained``
(safetensors only), as diffusers documents::

    adapter = MotionAdapter.from_pretrained("guoyww/animatediff-motion-adapter-v1-5-2")
    pipe = AnimateDiffPipeline.from_pretrained(base, motion_adapter=adapter)
"""
from __future__ import annotations

from typing import Any, Mapping

from ...errors import ModelNotAvailableError, RenderError
from .base import ModelSource, _diffusers, _is_missing, dtype_kwarg
from .video import VideoBackend

__all__ = ["AnimateDiffBackend", "MOTION_ADAPTERS"]

#: Well-known motion adapters: hub id -> pinned revision (the commit public code loads
#: them at; not checked here, as this machine cannot reach the hub).
MOTION_ADAPTERS: Mapping[str, str | None] = {
    "guoyww/animatediff-motion-adapter-v1-5-2": "6167b88ffe39b4441fdf2113e77b99a6f56b7906",
}


class AnimateDiffBackend(VideoBackend):
    """AnimateDiff on SD 1.5. The safety checker of an SD base is not loaded (as for
    ``sd``); ``video.decode_chunk_size`` is the call's ``decode_chunk_size`` (0: all
    frames at once)."""

    key = "animatediff"
    pipeline_class = "AnimateDiffPipeline"
    pipeline_classes = ("AnimateDiffPipeline",)
    call_params = {"eta": (float, int)}
    video_uses = frozenset({"frames", "fps", "motion_adapter", "decode_chunk_size",
                            "vae_tiling"})
    hub_models = {"stable-diffusion-v1-5/stable-diffusion-v1-5":
                  "451f4fe16113bff5a5d2269ed5ad43b0592e9a14"}

    def extra_models(self, meta) -> dict[str, str]:
        """Models this render loads besides ``meta.model``: the motion adapter (a
        well-known hub id without ``@revision`` gets its pinned revision)."""
        ref = meta.video.motion_adapter
        if ref is None:
            raise RenderError("an AnimateDiff generation needs video.motion_adapter",
                              field="video.motion_adapter")
        rev = MOTION_ADAPTERS.get(ref)
        return {"motion_adapter": f"{ref}@{rev}" if rev else ref}

    def load(self, source: ModelSource, *, dtype: Any, device: str, download: bool = True,
             pipeline_class: str | None = None, components: Mapping[str, Any] | None = None,
             models: Mapping[str, ModelSource] | None = None):
        """Load the motion adapter named in ``models``, then the pipeline with it."""
        comps = dict(components or {})
        if models and "motion_adapter" in models:
            comps["motion_adapter"] = self._adapter(models["motion_adapter"], dtype, download)
        elif "motion_adapter" not in comps and (pipeline_class or self.pipeline_class) == \
                self.pipeline_class:
            raise RenderError("an AnimateDiff pipeline needs its motion adapter",
                              field="video.motion_adapter")
        return super().load(source, dtype=dtype, device=device, download=download,
                            pipeline_class=pipeline_class, components=comps)

    @staticmethod
    def _adapter(src: ModelSource, dtype: Any, download: bool):
        cls = _diffusers().MotionAdapter
        kw = dict(dtype_kwarg(dtype), use_safetensors=True)
        if not src.local:
            kw.update(revision=src.revision, local_files_only=not download)
        try:
            return cls.from_pretrained(src.location, **kw)
        except (OSError, ValueError) as e:
            rev = f" at revision {src.revision}" if src.revision and not src.local else ""
            if _is_missing(e):
                raise ModelNotAvailableError(
                    f"motion adapter {src.key!r} ({src.location}{rev}) is not available on "
                    f"this machine; {src.how_to_get()}", field="video.motion_adapter") from e
            raise RenderError(f"could not load motion adapter {src.key!r} from "
                              f"{src.location}: {e}", field="video.motion_adapter") from e


backend = AnimateDiffBackend()
