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

__all__ = ["ZooCodec"]


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
        key = self.model_ids.get(model_id)
        if key is None:
            raise CodecError(f"{self.key} payload names unknown model {model_id}")
        if not zoo.available(key):
            raise CodecError(f"{self.key} model {key!r}: weights not installed "
                             f"({zoo.path(key)})")
        return zoo.load(key, dtype)
