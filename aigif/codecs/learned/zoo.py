"""A small zoo of frozen learned-codec weights, loaded by key without network access.

``load(key, dtype=None) -> (coder, weights_hash8)``: the weights are safetensors files in
``aigif/codecs/learned/weights/`` (package data); ``weights_hash8`` is the first 8 bytes
of the file's SHA-256, which payloads carry so a reader refuses foreign weights.
``register(key, tensors)`` adds in-memory weights (tests, experiments); ``path(key)``.

Imports torch and safetensors lazily (inside ``load``).
"""
from __future__ import annotations

import hashlib
import importlib
import threading
from pathlib import Path

__all__ = ["MODELS", "ARCHS", "load", "register", "path", "available", "WEIGHTS_DIR"]

WEIGHTS_DIR = Path(__file__).parent / "weights"

#: key -> (file name, architecture)
MODELS: dict[str, tuple[str, str]] = {
    "sth-mshp-1": ("sth-mshp-1.safetensors", "mshp"),
    "sth-rdc-1": ("sth-rdc-1.safetensors", "rdc"),
    "gitssic-1": ("gitssic-1.safetensors", "gitssic"),
    "omni-icm-1": ("omni-icm-1.safetensors", "omni"),
    "lvc-res-1": ("lvc-res-1.safetensors", "lvcres"),
    "lvc-sr-1": ("lvc-sr-1.safetensors", "lvcsr"),
    "lvc-flow-1": ("lvc-flow-1.safetensors", "lvcflow"),
}

#: architecture -> (module relative to this package, coder class taking (tensors, dtype))
ARCHS: dict[str, tuple[str, str]] = {
    "mshp": (".models", "MshpCoder"),
    "rdc": (".rdc", "RdcCoder"),
    "gitssic": (".gitssic_model", "GitSsicCoder"),
    "omni": (".omni_icm_model", "OmniCoder"),
    "lvcres": (".lvc.residual", "ResidualCoder"),
    "lvcsr": (".lvc.sr", "SrCoder"),
    "lvcflow": (".lvc.flownet", "FlowEstimator"),
}

_memory: dict[str, tuple[dict, bytes]] = {}
_cache: dict[tuple, tuple] = {}
_lock = threading.Lock()


def path(key: str) -> Path:
    return WEIGHTS_DIR / MODELS[key][0]


def available(key: str) -> bool:
    return key in _memory or (key in MODELS and path(key).is_file())


def register(key: str, tensors: dict | None, arch: str = "mshp") -> bytes | None:
    """Add (or with None remove) in-memory weights under ``key``; returns their hash8."""
    with _lock:
        for k in [k for k in _cache if k[0] == key]:
            del _cache[k]
        if tensors is None:
            _memory.pop(key, None)
            return None
        from safetensors.torch import save
        h = hashlib.sha256(save(tensors)).digest()[:8]
        _memory[key] = (tensors, h)
        MODELS.setdefault(key, (f"{key}.safetensors", arch))
        return h


def load(key: str, dtype=None):
    """The coder for weights ``key`` and their 8-byte hash. KeyError if unknown,
    FileNotFoundError if the weights are not installed."""
    import torch
    dtype = dtype or torch.float32
    with _lock:
        hit = _cache.get((key, dtype))
        if hit is not None:
            return hit
        if key in _memory:
            tensors, h = _memory[key]
        else:
            p = path(key)
            data = p.read_bytes()
            h = hashlib.sha256(data).digest()[:8]
            from safetensors.torch import load as st_load
            tensors = st_load(data)
        arch = MODELS[key][1]
        if arch not in ARCHS:
            raise KeyError(f"unknown architecture {arch!r}")
        module, name = ARCHS[arch]
        coder = getattr(importlib.import_module(module, __package__), name)(tensors, dtype=dtype)
        _cache[(key, dtype)] = (coder, h)
        return coder, h
