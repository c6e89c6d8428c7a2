"""What the learned pixel codecs share: payloads name frozen zoo weights by a model id.

No torch here: ``available()`` only looks the libraries up, and ``_coder`` loads the
weights (``zoo.load``, which imports torch) when a payload is encoded or decoded.
"""
from __future__ import annotations

import importlib.util
from typing import ClassVar

from ...errors import CodecError
from .. import Codec
from . import zoo

__all__ = ["ZooCodec", "quality_step", "load_model", "load_weights"]


def load_weights(codec_key: str, key: str, dtype=None, what: str = ""):
    """``(coder, weights_hash8)`` of the zoo weights ``key`` for codec ``codec_key``;
    CodecError when they are not installed (``what``: which of the codec's models)."""
    if not zoo.available(key):
        raise CodecError(f"{codec_key} {what + ' ' if what else ''}model {key!r}: weights not "
                         f"installed ({zoo.path(key)})")
    return zoo.load(key, dtype)


def load_model(codec_key: str, table: dict, model_id: int, dtype=None, what: str = ""):
    """``(coder, weights_hash8)`` of the model a payload names by ``model_id`` in ``table``
    (id -> zoo key); CodecError when the id is unknown or its weights are not installed."""
    key = table.get(model_id)
    if key is None:
        raise CodecError(f"{codec_key} payload names unknown {what + ' ' if what else ''}"
                         f"model {model_id}")
    return load_weights(codec_key, key, dtype, what)


class ZooCodec(Codec):
    """A learned codec whose payload header names its weights by a model id
    (``model_ids``: id -> ``zoo`` key)."""

    #: model id -> zoo key of its weights (frozen per codec: the spec's model table)
    model_ids: ClassVar[dict[int, str]] = {}
    #: the libraries encode/decode import
    needs: ClassVar[tuple[str, ...]] = ("torch", "numpy", "constriction", "safetensors")

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.needs)

    def _coder(self, model_id: int, dtype=None):
        """``(coder, weights_hash8)`` of model ``model_id``; CodecError when the id is
        unknown or its weights are not installed."""
        return load_model(self.key, self.model_ids, model_id, dtype)

    def _rgb_input(self, image):
        """``image`` as RGB (alpha and palettes through RGBA), its size checked against
        the pixel budget and the payloads' 16-bit sides: ``(image, width, height)``."""
        from .._pillow import check_size
        if image.mode != "RGB":
            image = image.convert("RGBA").convert("RGB") if "A" in image.mode or \
                image.mode == "P" else image.convert("RGB")
        w, h = image.size
        check_size((w, h), f"{self.key} image")
        if not (1 <= w <= 0xFFFF and 1 <= h <= 0xFFFF):
            raise CodecError(f"{self.key} codes 1..65535 pixels per side, not {w}x{h}")
        return image, w, h


def quality_step(quality: int | None, step_one: int) -> int:
    """The latent quantization step, in 1/256 units, of ``quality`` (None: ``step_one``,
    the trained step): ``step_one * 2^((75 - quality) / 25)``, clamped to 1..65535."""
    if quality is None:
        return step_one
    return max(1, min(0xFFFF, round(step_one * 2 ** ((75 - quality) / 25))))
