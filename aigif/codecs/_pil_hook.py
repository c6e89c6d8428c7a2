"""Register the Pillow plugin when Pillow is imported, without importing it ourselves.

``install()`` registers at once when ``PIL.Image`` is already loaded; otherwise it puts a
one-shot finder on ``sys.meta_path`` that lets the normal import of ``PIL.Image`` run and
then calls ``aigif.codecs.pil_plugin.register()``. Nothing here imports Pillow.
"""
from __future__ import annotations

import sys
import threading
from importlib.abc import Loader, MetaPathFinder

__all__ = ["install"]

_lock = threading.Lock()
_TARGET = "PIL.Image"


def _register() -> None:
    try:
        from .pil_plugin import register
        register()
    except Exception:  # pragma: no cover - a broken Pillow must not break `import PIL`
        pass


class _Loader(Loader):
    def __init__(self, inner: Loader):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:
        self.inner.exec_module(module)
        _register()


class _Finder(MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        with _lock:
            if self in sys.meta_path:
                sys.meta_path.remove(self)
        from importlib.util import find_spec
        spec = find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


_finder = _Finder()


def install() -> None:
    """Make sure ``PIL.Image.open`` will know .aigif files (idempotent, imports no Pillow)."""
    if _TARGET in sys.modules:
        _register()
        return
    with _lock:
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)

