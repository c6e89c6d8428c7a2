"""The generator extension of aigif-tiny-video (generator ``"aigif_tiny_video"``, a video
family; model: the packaged ``"aigif-tiny-video"``, ``aigif.embedded.VIDEO_PACKAGED``).

Registered like the other families (``aigif.render.backends.BUILTIN_BACKENDS`` maps
``"aigif_tiny_video"`` to ``"aigif.embedded.video_backend:backend"``). A ``VideoBackend``:
``run`` calls ``AigifTinyVideoPipeline`` with ``num_frames`` = ``meta.video.frames`` and
``output_type="np"`` and returns ``aigif.render.VideoFrames`` (the fps is playback only;
the model does not condition on it). The weights are package data; a local directory
registered with ``aigif.register_model(name, path, generator="aigif_tiny_video")`` (a
retrained model, ``python -m training.embedded.train_video``) loads the same way.
"""
from __future__ import annotations

from typing import Any

from ..errors import ModelNotAvailableError, RenderError
from ..render.backends.base import ModelSource, dtype_kwarg
from ..render.backends.video import VideoBackend
from . import VIDEO_PACKAGED, model_path
from .backend import _quiet_loading

__all__ = ["AigifTinyVideo", "backend"]


class AigifTinyVideo(VideoBackend):
    """aigif-tiny-video: 32 x 32, 8-frame pixel-space motion model shipped in the package."""

    key = "aigif_tiny_video"
    pipeline_class = "AigifTinyVideoPipeline"
    pipeline_classes = ("AigifTinyVideoPipeline",)
    uses = frozenset({"prompt", "negative_prompt", "seed", "steps", "guidance_scale",
                      "scheduler", "width", "height"})
    video_uses = frozenset({"frames", "fps"})
    call_params = {"eta": (float, int)}
    well_known = tuple(VIDEO_PACKAGED)

    def load(self, source: ModelSource, *, dtype: Any, device: str, download: bool = True):
        from importlib.resources import as_file

        from .video_pipeline import from_dir      # torch, diffusers

        def _from(path) -> Any:
            try:
                with _quiet_loading():
                    return from_dir(path, **dtype_kwarg(dtype))
            except (OSError, ValueError) as e:
                raise ModelNotAvailableError(
                    f"model {source.key!r} could not be loaded from {path}: {e}; "
                    f"reinstall aigif (the weights are package data)") from e

        if source.location is None:
            if source.key not in VIDEO_PACKAGED:
                raise ModelNotAvailableError(
                    f"model {source.key!r} is not packaged with this aigif "
                    f"(packaged: {', '.join(sorted(VIDEO_PACKAGED))}); upgrade aigif")
            with as_file(model_path(source.key)) as p:
                if not (p / "model_index.json").is_file():
                    raise ModelNotAvailableError(
                        f"the packaged {source.key} weights are missing from {p}; reinstall "
                        f"aigif (pip install --force-reinstall aigif)")
                pipe = _from(p)
        elif source.local:
            pipe = _from(source.location)
        else:
            raise RenderError(f"aigif-tiny-video is not on the hub ({source.location!r})")
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        pipe._aigif_scheduler_config = dict(pipe.scheduler.config)
        return pipe


backend = AigifTinyVideo()
