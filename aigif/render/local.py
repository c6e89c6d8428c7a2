"""Local diffusers model directories: ``aigif.register_model`` and the weights content hash.

A local model is identified in files by a 16-byte content hash of its weights, so another
machine that has the same weights under any name (or in a configured model folder) finds
them:

    content hash = sha256 over, for each ``*.safetensors`` file below the directory in
    sorted order of its relative POSIX path:
        utf-8(relative path) + b"\\0" + sha256(file bytes)
    truncated to its first 16 bytes.

Only the safetensors weights count (configs, tokenizers and READMEs may differ). A
directory without safetensors weights is refused: aigif never loads pickled weights.
This module imports no torch.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from ..errors import RegistryError, RenderError
from ..registry import ModelInfo, model_for_hash, models, register_local_model
from .backends import generator_for_pipeline_class

__all__ = ["register_model", "content_hash", "find_local_model", "MODEL_PATH_ENV"]

#: Folders (``os.pathsep``-separated) whose sub-directories are searched for a local model
#: that a file names by content hash but that was not registered in this process.
MODEL_PATH_ENV = "AIGIF_MODEL_PATH"

_CHUNK = 1 << 20
_hash_memo: dict[tuple, bytes] = {}
_lock = threading.Lock()


def _weight_files(root: Path) -> list[Path]:
    return sorted((p for p in root.rglob("*.safetensors") if p.is_file()),
                  key=lambda p: p.relative_to(root).as_posix())


def content_hash(path: str | os.PathLike) -> bytes:
    """The 16-byte content hash of a diffusers directory's safetensors weights.

    Raises RenderError when the directory has no ``*.safetensors`` file.
    """
    root = Path(path)
    files = _weight_files(root)
    if not files:
        raise RenderError(f"{root} holds no *.safetensors weights; aigif loads only "
                          f"safetensors (convert .bin/.ckpt weights with diffusers first)")
    stamp = tuple((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in files)
    key = (str(root.resolve()), stamp)
    with _lock:
        if key in _hash_memo:
            return _hash_memo[key]
    outer = hashlib.sha256()
    for p in files:
        inner = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                inner.update(chunk)
        outer.update(p.relative_to(root).as_posix().encode("utf-8") + b"\0" + inner.digest())
    h = outer.digest()[:16]
    with _lock:
        _hash_memo[key] = h
    return h


def _generator_of(root: Path) -> str:
    try:
        index = json.loads((root / "model_index.json").read_text("utf-8"))
        cls = index["_class_name"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RenderError(f"{root} is not a diffusers pipeline directory (no readable "
                          f"model_index.json with _class_name); pass generator=") from e
    key = generator_for_pipeline_class(cls)
    if key is None:
        raise RenderError(f"{root}: no generator family renders {cls}; pass generator= "
                          f"(or register an extension for it)")
    return key


def register_model(name: str, path: str | os.PathLike, *, generator: str | None = None,
                   override: bool = False) -> ModelInfo:
    """Register a local diffusers directory under ``name``; return its ModelInfo.

    Afterwards ``GenerationMeta(model=name)`` refers to it, and files store it as
    ``local:<content hash>``. The generator family is read from ``model_index.json``
    unless given. Registering the same weights again is a no-op; different weights under
    a name already registered raise RegistryError (unless ``override=True``).

    Example::

        aigif.register_model("my-model", "/models/my-sd15")
        meta = aigif.GenerationMeta(model="my-model", prompt="a fox", seed=1)
    """
    root = Path(path)
    if not root.is_dir():
        raise RenderError(f"model directory {root} does not exist")
    h = content_hash(root)
    gen = generator or _generator_of(root)
    if name in models:
        old = models.get(name)
        if old.content_hash == h and old.generator == gen:
            if old.path != str(root):
                info = ModelInfo(name, gen, path=str(root), content_hash=h)
                register_local_model(info, override=True)
                return info
            return old
        if not override:
            what = ("a well-known model" if old.code is not None else
                    f"different weights (local:{old.content_hash.hex()}, {old.path})"
                    if old.content_hash is not None else "another model")
            raise RegistryError(f"model name {name!r} is already registered for {what}; "
                                f"{root} has weights local:{h.hex()}. Use another name or "
                                f"override=True")
        if old.code is not None:
            raise RegistryError(f"{name!r} is a well-known model and cannot be overridden")
    info = ModelInfo(name, gen, path=str(root), content_hash=h)
    register_local_model(info, override=override)
    return info


def find_local_model(h: bytes, generator: str | None = None) -> ModelInfo | None:
    """The registered model with content hash ``h``, else one found in the folders of
    ``$AIGIF_MODEL_PATH`` (registered under ``local-<hex>`` once found), else None.

    The hash covers the weights only, so two directories (say an SD model and an
    AnimateDiff pipeline built on it) can share it. With ``generator`` (the file's family)
    a registered model or a folder of that family wins; one of another family is the
    last resort."""
    if generator is not None:
        info = model_for_hash(h, generator)
        if info is not None:
            return info
    other = model_for_hash(h)
    if other is not None and generator is None:
        return other
    for folder in filter(None, os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep)):
        base = Path(folder)
        if not base.is_dir():
            continue
        for d in sorted(base.iterdir()):
            if not (d / "model_index.json").is_file():
                continue
            try:
                if content_hash(d) != h:
                    continue
                if other is not None and _generator_of(d) != generator:
                    continue
                return register_model(f"local-{h.hex()}", d)
            except (RenderError, RegistryError, OSError):
                continue
    return other
