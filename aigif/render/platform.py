"""Record the rendering platform, and apply a file's recorded platform where possible.

``current_platform()`` records the platform this process renders on. ``applied(...)`` is a
context manager that sets torch's thread count and determinism flags to what a file
records, restores them afterwards, and yields the list of differences it could not remove
(each one a ``"field: file X vs here Y"`` string for ``PlatformMismatchWarning``).
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform as _pyplatform
from dataclasses import replace
from typing import Iterator

from ..errors import MissingDependencyError, RenderError
from ..meta import Platform

__all__ = ["current_platform", "default_device", "resolve_settings", "applied",
           "torch_dtype", "RenderSettings"]

_DTYPE_NAMES = {"float32": "float32", "fp32": "float32", "float16": "float16",
                "fp16": "float16", "half": "float16", "bfloat16": "bfloat16",
                "bf16": "bfloat16", "float64": "float64", "fp64": "float64"}


def _torch():
    try:
        import torch
    except ImportError as e:
        raise MissingDependencyError(
            "rendering needs torch and diffusers: pip install 'aigif[render]'") from e
    return torch


@functools.lru_cache(maxsize=None)
def _version(mod: str) -> str:
    try:
        from importlib.metadata import version
        return version(mod)
    except Exception:
        return ""


def _device_class(device: str) -> str:
    torch = _torch()
    d = torch.device(device).type
    if d == "cuda" and getattr(torch.version, "hip", None):
        return "rocm"
    return d if d in ("cpu", "cuda", "mps", "xpu", "npu") else "unknown"


@functools.lru_cache(maxsize=None)
def _accelerator(device_class: str, device: str) -> str:
    torch = _torch()
    try:
        if device_class in ("cuda", "rocm"):
            return torch.cuda.get_device_name(torch.device(device))
        if device_class == "xpu":
            return torch.xpu.get_device_name(torch.device(device))
    except Exception:  # pragma: no cover - driver trouble
        return ""
    if device_class == "mps":
        return f"apple-{_pyplatform.machine()}"
    return _cpu_name()


def _cpu_name() -> str:
    """CPU model and the kernel ISA torch picked (``"AMD EPYC (x86_64, AVX512)"``): CPU
    results can differ between instruction sets."""
    name = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware")):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    name = name or _pyplatform.processor()
    try:
        isa = _torch().backends.cpu.get_cpu_capability()
    except Exception:  # pragma: no cover - old torch
        isa = ""
    parts = ", ".join(x for x in (_pyplatform.machine(), isa) if x)
    return f"{name} ({parts})" if name else parts


def _flags(device_class: str) -> frozenset:
    """Determinism flags in force. The CUDA switches only matter (and are only recorded)
    when rendering on a CUDA/ROCm device."""
    torch = _torch()
    out = set()
    if torch.are_deterministic_algorithms_enabled():
        out.add("deterministic_algorithms")
    if device_class in ("cuda", "rocm"):
        if torch.backends.cudnn.benchmark:
            out.add("cudnn_benchmark")
        if torch.backends.cuda.matmul.allow_tf32:
            out.add("tf32_matmul")
        if torch.backends.cudnn.allow_tf32:
            out.add("tf32_cudnn")
        if torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction:
            out.add("reduced_precision_reduction")
    return frozenset(out)


def current_platform(device: str = "cpu", dtype: str = "float32",
                     rng_device: str = "cpu") -> Platform:
    """The platform this process renders on with ``device``/``dtype`` (imports torch).

    Example::

        p = current_platform("cpu", "float32")
        p.torch        # "2.13.0+cpu"
    """
    torch = _torch()
    dc = _device_class(device)
    dtype = _DTYPE_NAMES.get(str(dtype).replace("torch.", ""), "unknown")
    threads = torch.get_num_threads() if dc == "cpu" else 0
    return Platform(device=dc, accelerator=_accelerator(dc, device)[:255],
                    torch=torch.__version__, diffusers=_version("diffusers"),
                    transformers=_version("transformers"), dtype=dtype,
                    rng_device=_device_class(rng_device), flags=_flags(dc),
                    threads=min(threads, 65535))


def default_device() -> str:
    """``"cuda"`` when a GPU is available, then ``"mps"``, else ``"cpu"``."""
    torch = _torch()
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _available(device_class: str) -> bool:
    torch = _torch()
    if device_class == "cpu":
        return True
    if device_class in ("cuda", "rocm"):
        return torch.cuda.is_available()
    if device_class == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if device_class == "xpu":
        return hasattr(torch, "xpu") and torch.xpu.is_available()
    return False


def torch_dtype(name: str):
    torch = _torch()
    n = _DTYPE_NAMES.get(str(name).replace("torch.", ""))
    if n is None:
        raise RenderError(f"unknown dtype {name!r}; expected float32, float16, bfloat16 "
                          f"or float64")
    return getattr(torch, n)


class RenderSettings:
    """Device, dtype, RNG device and threads chosen for one render."""

    __slots__ = ("device", "dtype", "rng_device", "threads", "flags")

    def __init__(self, device: str, dtype: str, rng_device: str, threads: int,
                 flags: frozenset | None):
        self.device, self.dtype, self.rng_device = device, dtype, rng_device
        self.threads, self.flags = threads, flags

    def __repr__(self) -> str:
        return (f"RenderSettings(device={self.device!r}, dtype={self.dtype!r}, "
                f"rng_device={self.rng_device!r}, threads={self.threads}, "
                f"flags={None if self.flags is None else sorted(self.flags)})")


def resolve_settings(recorded: Platform | None, device: str | None = None,
                     dtype: str | None = None, rng_device: str | None = None) -> RenderSettings:
    """What to render with: explicit arguments win, then the file's record, then defaults
    (GPU when available, CPU otherwise; float32, the reproducible choice: pass
    ``dtype="float16"`` for speed, and it is recorded; noise from a CPU generator)."""
    if device is None:
        if recorded is not None and recorded.device not in ("unknown",) and \
                _available(recorded.device):
            device = "cuda" if recorded.device == "rocm" else recorded.device
        else:
            device = default_device()
    dc = _device_class(device)
    if dtype is None:
        if recorded is not None and recorded.dtype in ("float32", "float16", "bfloat16",
                                                       "float64"):
            dtype = recorded.dtype
            if dc == "cpu" and dtype == "float16":
                dtype = "float32"    # fp16 on CPU is slow and partly unsupported
        else:
            dtype = "float32"
    dtype = _DTYPE_NAMES.get(str(dtype).replace("torch.", ""))
    if dtype is None:
        raise RenderError("dtype must be one of float32, float16, bfloat16, float64")
    if rng_device is None:
        rng_device = "cpu"
        if recorded is not None and recorded.rng_device not in ("cpu", "unknown") and \
                _available(recorded.rng_device):
            rng_device = "cuda" if recorded.rng_device == "rocm" else recorded.rng_device
    threads = 0
    if recorded is not None and dc == "cpu" and recorded.device == "cpu" and recorded.threads:
        threads = recorded.threads if recorded.threads <= (os.cpu_count() or 1) else 0
    # None: leave torch's flags as this process set them (nothing recorded to apply)
    flags = recorded.flags if recorded is not None else None
    return RenderSettings(device, dtype, rng_device, threads, flags)


@contextlib.contextmanager
def applied(settings: RenderSettings) -> Iterator[None]:
    """Set torch threads and determinism flags for the duration of a render, then restore."""
    torch = _torch()
    dc = _device_class(settings.device)
    saved_threads = torch.get_num_threads()
    saved_det = torch.are_deterministic_algorithms_enabled()
    saved_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cuda = dc in ("cuda", "rocm")
    if cuda:
        saved_cuda = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
                      torch.backends.cudnn.allow_tf32,
                      torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction)
    try:
        if settings.threads and settings.threads != saved_threads:
            torch.set_num_threads(settings.threads)
        if settings.flags is None:
            yield
            return
        want_det = "deterministic_algorithms" in settings.flags
        if want_det != saved_det:
            torch.use_deterministic_algorithms(want_det, warn_only=True)
        if cuda:
            f = settings.flags
            torch.backends.cudnn.benchmark = "cudnn_benchmark" in f
            torch.backends.cuda.matmul.allow_tf32 = "tf32_matmul" in f
            torch.backends.cudnn.allow_tf32 = "tf32_cudnn" in f
            torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = \
                "reduced_precision_reduction" in f
        yield
    finally:
        if torch.get_num_threads() != saved_threads:
            torch.set_num_threads(saved_threads)
        if torch.are_deterministic_algorithms_enabled() != saved_det or saved_det:
            torch.use_deterministic_algorithms(saved_det, warn_only=saved_warn)
        if cuda:
            (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction) = saved_cuda


def effective_platform(settings: RenderSettings) -> Platform:
    """The platform a render with ``settings`` runs on (flags and threads as applied)."""
    p = current_platform(settings.device, settings.dtype, settings.rng_device)
    if settings.flags is None:
        return p if not settings.threads else replace(p, threads=settings.threads)
    dc = p.device
    flags = set(settings.flags) if dc in ("cuda", "rocm") else \
        ({"deterministic_algorithms"} & set(settings.flags))
    threads = settings.threads or p.threads
    return replace(p, flags=frozenset(flags), threads=threads)


def differences(recorded: Platform | None, here: Platform) -> list[str]:
    """What differs between the file's platform and this render's, one string each.

    Threads only count when both sides render on the CPU (GPU kernels do not depend on
    them); an empty ``recorded`` field (unknown) never counts.
    """
    if recorded is None:
        return []
    out = []
    for name in ("device", "accelerator", "torch", "diffusers", "transformers", "dtype",
                 "rng_device", "flags", "threads"):
        a, b = getattr(recorded, name), getattr(here, name)
        if a in ("", "unknown", 0) and name != "flags":
            continue
        if name == "threads" and not (recorded.device == "cpu" and here.device == "cpu"):
            continue
        if a != b:
            if name == "flags":
                a, b = sorted(a), sorted(b)
            out.append(f"{name}: file {a!r} vs here {b!r}")
    return out
