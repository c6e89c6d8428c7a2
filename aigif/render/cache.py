"""LRU cache of loaded pipelines, keyed by (model, revision or content hash, dtype, device).

Rendering many files of one model loads it once. The size comes from
``$AIGIF_PIPELINE_CACHE`` (default 1: SD-size pipelines are several GB each); 0 disables
caching.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

__all__ = ["PipelineCache", "pipeline_cache"]


class PipelineCache:
    """A thread-safe LRU of loaded pipelines.

    ``get(key, load)`` returns ``(pipeline, hit)``; ``load()`` runs on a miss, outside
    any other key's way. ``hits`` / ``misses`` count lookups.
    """

    def __init__(self, maxsize: int = 1):
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, load: Callable[[], Any]) -> tuple[Any, bool]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key], True
            self.misses += 1
            pipe = load()
            if self.maxsize > 0:
                self._items[key] = pipe
                while len(self._items) > self.maxsize:
                    self._items.popitem(last=False)
            return pipe, False

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        """Drop every cached pipeline (and free GPU memory where torch allows)."""
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0
        try:
            import torch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass


def _size() -> int:
    try:
        return max(0, int(os.environ.get("AIGIF_PIPELINE_CACHE", "1")))
    except ValueError:
        return 1


#: The process-wide cache ``render_file`` uses by default.
pipeline_cache = PipelineCache(_size())
