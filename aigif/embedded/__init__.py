"""aigif-tiny: the small text-to-image model trained by the project and shipped inside it.

Submodules load lazily (torch is only imported by ``pipeline`` and ``backend``):

- ``pipeline``  ``AigifTinyPipeline``, a pixel-space diffusers pipeline
- ``backend``   the generator extension registered under ``"aigif_tiny"``
- ``video_unet``, ``video_pipeline``, ``video_backend``  aigif-tiny-video, the text-to-video
  model (``TinyVideoUNet``, ``AigifTinyVideoPipeline``, generator ``"aigif_tiny_video"``;
  models ``"aigif-tiny-video"``, ``"aigif-tiny-video-2"`` and ``"aigif-tiny-video-3"``: the
  second follows motion, the third motion and colour)

Training, the procedural dataset, the pixel checker and the tokenizer builder live outside
the wheel, in ``training/embedded`` (``python -m training.embedded.train``).
"""
from __future__ import annotations

from importlib.resources import files

MODEL_KEY = "aigif-tiny-2"          # the one to use: the newest packaged weights
GENERATOR_KEY = "aigif_tiny"
# Packaged models, model key -> package data directory. Each key has its own frozen model
# code (aigif/spec/models.py), so its weights never change; better weights get a new key.
PACKAGED: dict[str, str] = {"aigif-tiny": "aigif_tiny", "aigif-tiny-2": "aigif_tiny_2"}
# Packaged video models (generator "aigif_tiny_video"), model key -> package data directory.
VIDEO_MODEL_KEY = "aigif-tiny-video"
VIDEO_GENERATOR_KEY = "aigif_tiny_video"
VIDEO_PACKAGED: dict[str, str] = {"aigif-tiny-video": "aigif_tiny_video",
                                  "aigif-tiny-video-2": "aigif_tiny_video_2",
                                  "aigif-tiny-video-3": "aigif_tiny_video_3"}
# A directory without its own text encoder and tokenizer shares these (stage-2 models
# retrain only the UNet on top of the frozen text encoder of aigif-tiny).
BASE_DIR = "aigif_tiny"


def model_path(key: str = MODEL_KEY):
    """Path (a ``Traversable``) of the packaged diffusers directory of model ``key``
    (default: the newest, ``MODEL_KEY``)."""
    try:
        return files(__name__).joinpath({**PACKAGED, **VIDEO_PACKAGED}[key])
    except KeyError:
        raise KeyError(f"no packaged model {key!r}; packaged: "
                       f"{sorted({**PACKAGED, **VIDEO_PACKAGED})}") from None


def base_path():
    """Path of the packaged directory whose text encoder and tokenizer stage-2 models share."""
    return files(__name__).joinpath(BASE_DIR)
