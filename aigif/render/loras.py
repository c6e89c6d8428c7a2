"""LoRA files for rendering: ``aigif.register_lora`` and applying a pass's LoRAs.

A file names a LoRA by name (``Lora.name``, as the tool wrote it: ``add_detail``,
``DetailTweaker v2``) and, where the tool recorded it, by the SHA-256 of the LoRA file (a
hex prefix: A1111's "AutoV2" hash is its first 10 digits). ``register_lora(name, path)``
tells this machine where such a file is. Only ``.safetensors`` files are accepted (read
with safetensors, never unpickled).

Applying: ``LoraSession`` loads each LoRA once per pipeline (``load_lora_weights`` with a
state dict read by safetensors, under an adapter name of its own), activates a pass's
set with ``set_adapters(names, weights)`` (``disable_lora()`` for a pass without), and
``unload_lora_weights()`` at the end of the render, so the cached pipeline is as it was.
This module imports no torch at import time.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, ModelNotAvailableError, RegistryError, RenderError

__all__ = ["LoraFile", "register_lora", "unregister_lora", "find_lora", "LoraSession"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class LoraFile:
    """A registered LoRA: the name files use, the path, the file's SHA-256 (hex)."""

    name: str
    path: str
    sha256: str


_by_name: dict[str, LoraFile] = {}
_lock = threading.Lock()
_memo: dict[tuple, str] = {}


def _file_sha256(p: Path) -> str:
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _memo:
            return _memo[key]
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    with _lock:
        _memo[key] = h.hexdigest()
    return h.hexdigest()


def _check_safetensors(p: Path) -> None:
    """A safetensors file starts with an 8-byte little-endian header length and a JSON
    header; refuse anything else (pickles above all) before torch sees it."""
    if p.suffix != ".safetensors":
        raise RenderError(f"{p}: aigif loads LoRAs only as .safetensors files (never "
                          f"pickled .pt/.ckpt/.bin); convert it first")
    with open(p, "rb") as fh:
        head = fh.read(9)
    if len(head) < 9 or int.from_bytes(head[:8], "little") > p.stat().st_size - 8 or \
            head[8:9] != b"{":
        raise RenderError(f"{p} is not a safetensors file")


def register_lora(name: str, path: str | os.PathLike, *, override: bool = False) -> LoraFile:
    """Register the LoRA file ``path`` (``.safetensors``) under ``name``; return its
    LoraFile (with the file's SHA-256).

    Files that name the LoRA ``name``, or give a SHA-256 (prefix) of this file, render
    with it. Registering the same file again is a no-op; another file under a name already
    registered raises RegistryError unless ``override=True``. Raises RenderError for a
    missing or non-safetensors file.

    Example::

        aigif.register_lora("add_detail", "/loras/add_detail.safetensors")
        meta = aigif.GenerationMeta(model="sd15", prompt="a fox", seed=1,
                                    loras=(aigif.Lora("add_detail", 0.8),))
    """
    if not isinstance(name, str) or not name:
        raise RegistryError("a LoRA needs a non-empty name")
    p = Path(path)
    if not p.is_file():
        raise RenderError(f"LoRA file {p} does not exist")
    _check_safetensors(p)
    info = LoraFile(name, str(p), _file_sha256(p))
    with _lock:
        old = _by_name.get(name)
        if old is not None and old.sha256 != info.sha256 and not override:
            raise RegistryError(f"LoRA name {name!r} is already registered for {old.path} "
                                f"(sha256 {old.sha256[:10]}); {p} has {info.sha256[:10]}. "
                                f"Use another name or override=True")
        _by_name[name] = info
    return info


def unregister_lora(name: str) -> None:
    """Forget LoRA ``name`` (no error when it is not registered)."""
    with _lock:
        _by_name.pop(name, None)


def find_lora(lora: Any) -> LoraFile:
    """The registered file of ``lora`` (an ``aigif.Lora``): by its SHA-256 prefix when the
    file gives one (any registered name), else by name. ModelNotAvailableError naming it
    when there is none, or when the file registered under its name has another hash."""
    with _lock:
        entries = list(_by_name.values())
        named = _by_name.get(lora.name)
    want = lora.sha256 or ""
    if want:
        for e in ([named] if named else []) + entries:
            if e.sha256.startswith(want):
                return e
    elif named is not None:
        return named
    what = f"LoRA {lora.name!r}" + (f" (sha256 {want})" if want else "")
    if named is not None:
        raise ModelNotAvailableError(
            f"{what} is not on this machine: the file registered as {lora.name!r} "
            f"({named.path}) has sha256 {named.sha256[:max(10, len(want))]}",
            field="loras")
    raise ModelNotAvailableError(
        f"{what} is not on this machine; register its .safetensors file with "
        f"aigif.register_lora({lora.name!r}, path)", field="loras")


def _load_state_dict(path: str) -> dict:
    from safetensors.torch import load_file
    return load_file(path)


def _drop_adapter(pipe: Any, name: str) -> None:
    """Remove adapter ``name`` from whichever components of ``pipe`` a failed
    ``load_lora_weights`` left it in (nothing when none has it)."""
    try:
        left = pipe.get_list_adapters()
    except Exception:   # noqa: BLE001 - no PEFT backend / no component with adapters
        return
    if any(name in names for names in left.values()):
        try:
            pipe.delete_adapters(name)
        except Exception:   # noqa: BLE001 - a component without delete_adapters
            pipe.unload_lora_weights()


class LoraSession:
    """The LoRAs of one render: ``activate(pipe, loras)`` before each pass, ``close()``
    at the end (unloads every LoRA it loaded, leaving the pipelines clean).

    ``output``: what the render makes (``"image"`` or ``"video"``), for the messages.
    ``activate`` raises RenderError (field ``loras``) when a pipeline cannot load a LoRA:
    no ``load_lora_weights``, or the loader fails (a LoRA for another model, a component
    without ``load_lora_adapter``); an adapter left half-loaded is removed first."""

    def __init__(self, output: str = "image") -> None:
        self._output = output
        # id(pipe) -> (pipe, {sha256: adapter name})
        self._loaded: dict[int, tuple[Any, dict[str, str]]] = {}

    def activate(self, pipe: Any, loras: tuple) -> None:
        """Make ``loras`` (a tuple of ``aigif.Lora``) the active adapters of ``pipe``."""
        if not loras and id(pipe) not in self._loaded:
            return
        if loras and not callable(getattr(pipe, "load_lora_weights", None)):
            raise RenderError(f"{type(pipe).__name__} cannot load LoRAs; the {self._output} "
                              f"would differ", field="loras")
        files = [find_lora(lo) for lo in loras]
        _, adapters = self._loaded.setdefault(id(pipe), (pipe, {}))
        for lo, f in zip(loras, files):
            if f.sha256 in adapters:
                continue
            if _file_sha256(Path(f.path)) != f.sha256:
                raise ModelNotAvailableError(
                    f"LoRA {lo.name!r}: {f.path} changed since it was registered (sha256 "
                    f"{f.sha256[:10]}); register it again", field="loras")
            name = f"aigif_{f.sha256[:16]}"
            try:
                pipe.load_lora_weights(_load_state_dict(f.path), adapter_name=name)
            except ImportError as e:
                raise MissingDependencyError(f"applying LoRA {lo.name!r} needs peft: "
                                             f"pip install peft") from e
            except (ValueError, KeyError, RuntimeError) as e:
                _drop_adapter(pipe, name)
                if "peft" in str(e).lower():
                    raise MissingDependencyError(
                        f"applying LoRA {lo.name!r}: {e} (pip install -U peft)") from e
                raise RenderError(f"LoRA {lo.name!r} ({f.path}) does not fit "
                                  f"{type(pipe).__name__}: {e}", field="loras") from e
            except Exception as e:   # AttributeError: a component without load_lora_adapter
                _drop_adapter(pipe, name)
                raise RenderError(f"LoRA {lo.name!r} ({f.path}) cannot be loaded into "
                                  f"{type(pipe).__name__} ({type(e).__name__} in its "
                                  f"load_lora_weights: {e}); the {self._output} would differ "
                                  f"without it", field="loras") from e
            adapters[f.sha256] = name
        if not loras:
            pipe.disable_lora()
            return
        names, weights = [], []
        lists = pipe.get_list_adapters() if any(lo.clip_weight is not None and
                                                lo.clip_weight != lo.weight
                                                for lo in loras) else {}
        for lo, f in zip(loras, files):
            name = adapters[f.sha256]
            if name in names:
                raise RenderError(f"LoRA {lo.name!r} is listed twice for one pass",
                                  field="loras")
            names.append(name)
            if lo.clip_weight is None or lo.clip_weight == lo.weight:
                weights.append(float(lo.weight))
            else:
                # diffusers takes a weight per component: the denoiser's and the text
                # encoders' (only components the LoRA has layers for may be named)
                weights.append({c: (float(lo.weight) if c in ("unet", "transformer") else
                                    float(lo.clip_weight))
                                for c, ad in lists.items() if name in ad})
        pipe.enable_lora()
        pipe.set_adapters(names, adapter_weights=weights)

    def close(self) -> None:
        """Unload every LoRA this session loaded."""
        loaded, self._loaded = self._loaded, {}
        for pipe, adapters in loaded.values():
            if adapters:
                pipe.unload_lora_weights()
