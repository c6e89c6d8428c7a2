"""aigif-tiny: the small text-to-image model trained by the project and shipped inside it.

Submodules load lazily (torch is only imported by ``pipeline``, ``train`` and ``backend``):

- ``dataset``   procedural captioned shapes dataset (pure numpy + Pillow)
- ``checker``   pixel-based prompt-following checker (colour, shape, position)
- ``tokenizer`` the real CLIP BPE tokenizer files, from open-clip-torch's vocabulary
- ``pipeline``  ``AigifTinyPipeline``, a pixel-space diffusers pipeline
- ``train``     the reproducible training script (``python -m aigif.embedded.train``)
- ``backend``   the generator extension registered under ``"aigif_tiny"``
"""
from __future__ import annotations

from importlib.resources import files

MODEL_KEY = "aigif-tiny"
GENERATOR_KEY = "aigif_tiny"


def model_path():
    """Path (a ``Traversable``) of the packaged diffusers directory of aigif-tiny."""
    return files(__name__).joinpath("aigif_tiny")
