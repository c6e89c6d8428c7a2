"""Regenerate the image an AIGIF file describes, and create files by generating images.

``render_file(f)`` resolves the model (well-known code -> hub id + pinned revision, local
content hash -> registered directory, hub id + revision), loads the pipeline once per
(model, revision, dtype, device) through the LRU ``pipeline_cache``, applies the file's
recorded platform where it can (dtype, RNG device, CPU threads, determinism flags), draws
the initial noise from a seeded ``torch.Generator`` (CPU by default), runs the family's
backend and checks the result against the file's fingerprint. A file with generation
stages (``meta.stages``) or LoRAs renders through ``aigif.render.stages`` (every pass on the
loaded pipeline's shared components; the stages' other models held with it); a video file's
LoRAs are applied by its video family's backend around its one pipeline call.
"""
from __future__ import annotations

import re
import secrets
from contextlib import nullcontext
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..codecs import decode_payload
from ..codecs.video import decode_video_payload
from ..codecs.pixels import fingerprint as _fingerprint, matches, psnr as _psnr
from ..codecs.pixels import video_fingerprint as _video_fingerprint
from ..container import FileData
from ..io import dumps
from ..errors import (AigifWarning, MissingDependencyError, ModelNotAvailableError, PlatformMismatchWarning,
                      RenderError)
from ..meta import GenerationMeta, Platform
from ..registry import lookup_model, models
from .cache import PipelineCache, pipeline_cache
from .backends import get_backend
from .backends.base import ModelSource, _diffusers, _is_missing, dtype_kwarg
from .local import content_hash, find_local_model
from .video import VideoFrames
from .platform import (RenderSettings, applied, differences, effective_platform,
                       resolve_settings, torch_dtype)
from . import stages as _stages

__all__ = ["RenderResult", "render_file", "render_meta", "generate", "resolve_model"]

_LOCAL = re.compile(r"^local:([0-9a-f]{32})$")
_HUB_AT = re.compile(r"^([^@\s]+/[^@\s]+)@([^@\s]+)$")
_STAGE_MODELS = 4      # other models (refiner, hires checkpoint, ControlNets) held per pipeline
_FALLBACKS = ("error", "payload")


@dataclass
class RenderResult:
    """What ``render_file`` returns.

    ``image``: PIL image; ``exact``: True/False when the file has a fingerprint (the
    pixels match it or not), None when it has none; ``psnr``: dB against ``reference``
    (None without one); ``platform_differences``: one string per difference between the
    file's recorded platform and this render's; ``platform``: this render's platform;
    ``source``: ``"render"``, or ``"payload"`` when the pixels came from the file's
    payload; ``cache_hit``: the pipeline was already loaded; ``timings``: seconds
    (``load``, ``generate``, ``total``); ``stages``: ``(step, seconds)`` for each step of
    a file with generation stages (``"txt2img"``, ``"stages[0] (hires) upscale"``,
    ``"stages[0] (hires)"``...); ``approximate``: some stage was skipped or approximated
    (only with ``render_file(..., approximate=True)``), ``skipped`` says which and why.
    ``video``: for a video generation (``meta.video``), the ``VideoFrames`` (uint8
    frames ``[T, H, W, 3]`` and ``fps``); ``image`` is None then.
    """

    image: Any
    exact: bool | None
    psnr: float | None = None
    platform_differences: list[str] = field(default_factory=list)
    platform: Platform | None = None
    source: str = "render"
    cache_hit: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    meta: GenerationMeta | None = None
    stages: list[tuple[str, float]] = field(default_factory=list)
    approximate: bool = False
    skipped: list[str] = field(default_factory=list)
    video: VideoFrames | None = None


def resolve_model(meta: GenerationMeta) -> ModelSource:
    """Where ``meta``'s model weights come from; ModelNotAvailableError if nowhere here."""
    return _resolve(meta.model, meta.model_revision, meta.generator)


def _resolve(m: str, revision: str | None, generator: str | None,
             field_: str = "model") -> ModelSource:
    mo = _LOCAL.match(m)
    hub = _HUB_AT.match(m)
    if hub:                   # a stage's "owner/name@revision"
        m, revision = hub.group(1), hub.group(2)
    if mo:
        info = find_local_model(bytes.fromhex(mo.group(1)), generator)
        if info is None:
            raise ModelNotAvailableError(
                f"local model {m} (generator {generator!r}) is not on this machine; "
                f"{ModelSource(m, None, local=True).how_to_get()}", field=field_)
    elif m.startswith("ckpt:"):
        raise ModelNotAvailableError(
            f"model {m!r} is a checkpoint known only by name"
            f"{' and hash ' + revision if revision else ''}; convert it to "
            f"a diffusers directory and register it with aigif.register_model(name, path)",
            field=field_)
    elif m in models:
        info = lookup_model(m)
    else:  # hub id
        return ModelSource(m, m, revision)
    if info.path is not None:
        return ModelSource(m if not mo else info.key, info.path,
                           f"local:{info.content_hash.hex()}", local=True)
    return ModelSource(info.key, info.hub_id, revision or info.revision)


def _cache_key(backend, source: ModelSource, settings: RenderSettings,
               extra: dict | None = None) -> tuple:
    ident = source.revision if source.local else (source.location, source.revision)
    key = (backend.key, source.key if not source.local else None, ident, settings.dtype,
           settings.device)
    if extra:   # other models loaded into the pipeline (AnimateDiff's motion adapter)
        key += tuple((n, s.revision if s.local else (s.location, s.revision))
                     for n, s in sorted(extra.items()))
    return key


def _check_local(source: ModelSource) -> None:
    if source.local and source.location is not None:
        # the directory must still hold the weights the file names
        here = f"local:{content_hash(source.location).hex()}"
        if here != source.revision:
            raise ModelNotAvailableError(
                f"{source.location} now holds weights {here}, not {source.revision}; "
                f"register the right directory with aigif.register_model(name, path, "
                f"override=True)")


def _load(backend, source: ModelSource, settings: RenderSettings, cache: PipelineCache,
          download: bool, extra: dict | None = None):
    dt = torch_dtype(settings.dtype)

    def load():
        _check_local(source)
        if not extra:
            return backend.load(source, dtype=dt, device=settings.device, download=download)
        for s in extra.values():
            _check_local(s)
        return backend.load(source, dtype=dt, device=settings.device, download=download,
                            models=extra)

    return cache.get(_cache_key(backend, source, settings, extra), load)


def _extra_models(backend, meta: GenerationMeta, strict: bool) -> dict[str, ModelSource]:
    """The other models a backend loads into its pipeline (``backend.extra_models(meta)``:
    name -> model string, e.g. AnimateDiff's ``motion_adapter``), resolved."""
    refs = backend.extra_models(meta) if hasattr(backend, "extra_models") else {}
    out = {}
    for name, ref in refs.items():
        src = _resolve(ref, None, None, f"video.{name}")
        if not src.local and src.location is not None and src.revision is None:
            _unpinned(src, strict, f"video.{name}")
        out[name] = src
    return out


def _unpinned(source: ModelSource, strict: bool, field_: str) -> None:
    msg = (f"model {source.key!r} has no pinned revision: loading the hub's current "
           f"files, which may have changed since the file was made")
    if strict:
        raise RenderError(msg, field=field_)
    warnings.warn(msg, AigifWarning, stacklevel=4)


def _held(root, key: tuple, load):
    """A stage's other model, held by the loaded pipeline ``root`` (so the pipeline cache
    frees them together; at most ``_STAGE_MODELS`` of them, least recently used first
    out)."""
    memo = root.__dict__.setdefault("_aigif_stage_models", {})
    if key in memo:
        memo[key] = memo.pop(key)
        return memo[key]
    obj = load()
    memo[key] = obj
    while len(memo) > _STAGE_MODELS:
        memo.pop(next(iter(memo)))
    return obj


def _stage_loader(root, backend, meta: GenerationMeta, settings: RenderSettings,
                  download: bool) -> _stages.Loader:
    dt = torch_dtype(settings.dtype)

    def where(model: str):
        info = models.get(model) if model in models else None
        source = _resolve(model, None, info.generator if info else None, "stages")
        return source, (info.generator if info else backend.key)

    def pipeline(model: str, pipeline_class: str):
        if model == meta.model:     # the first pass's weights, in another pipeline class
            return _stages._sub(root, pipeline_class), backend
        source, gen = where(model)
        be = get_backend(gen)

        def load():
            _check_local(source)
            return be.load(source, dtype=dt, device=settings.device, download=download,
                           pipeline_class=pipeline_class)
        return _held(root, ("pipeline", source.key, source.revision, pipeline_class),
                     load), be

    def controlnet(model: str):
        source, _ = where(model)

        def load():
            _check_local(source)
            cls = _diffusers().ControlNetModel
            kw = dict(dtype_kwarg(dt), use_safetensors=True)
            if not source.local:
                kw.update(revision=source.revision, local_files_only=not download)
            try:
                cn = cls.from_pretrained(source.location, **kw)
            except (OSError, ValueError) as e:
                if _is_missing(e):
                    raise ModelNotAvailableError(
                        f"ControlNet {source.key!r} ({source.location}) is not available on "
                        f"this machine; {source.how_to_get()}", field="stages") from e
                raise RenderError(f"could not load ControlNet {source.key!r} from "
                                  f"{source.location}: {e}") from e
            return cn.to(settings.device)
        return _held(root, ("controlnet", source.key, source.revision), load)

    return _stages.Loader(pipeline=pipeline, controlnet=controlnet,
                          rng=lambda seed: _rng(settings, seed))


def _rng(settings: RenderSettings, seed: int):
    import torch
    dev = settings.rng_device
    return torch.Generator(device=dev).manual_seed(seed)


def _payload_image(f: FileData):
    return decode_payload(f.payload)


def _render(meta: GenerationMeta, settings: RenderSettings, *, cache: PipelineCache,
            download: bool, strict: bool, approximate: bool = False, observe=None):
    """(image, cache hit, timings, stages run). ``observe``: called with the loaded
    pipeline, returns a context manager the generation runs in (``aigif.render.objects``
    records cross-attention with it; it must not change the computation)."""
    if meta.seed is None:
        raise RenderError("the file records no seed, so its image cannot be regenerated",
                          field="seed")
    backend = get_backend(meta.generator)
    backend.check(meta, strict=strict)
    source = resolve_model(meta)
    if not source.local and source.location is not None and source.revision is None:
        pinned = getattr(backend, "hub_models", {}).get(source.location)
        if pinned:      # a video family's well-known hub model, pinned in its backend
            source = ModelSource(source.key, source.location, pinned)
        else:
            _unpinned(source, strict, "model_revision")
    extra = _extra_models(backend, meta, strict)
    t0 = time.perf_counter()
    pipe, hit = _load(backend, source, settings, cache, download, extra)
    t1 = time.perf_counter()
    run = None
    with applied(settings), (observe(pipe) if observe is not None else nullcontext()):
        # a video family applies the file's LoRAs in its own run (VideoBackend.run)
        if meta.stages or (meta.loras and meta.video is None):
            run = _stages.run(backend, pipe, meta,
                              _stage_loader(pipe, backend, meta, settings, download),
                              strict=strict, approximate=approximate)
            image = run.image
            if strict and run.skipped:
                raise RenderError("stages were skipped: " + "; ".join(run.skipped))
        else:
            image = backend.run(pipe, meta, _rng(settings, meta.seed))
    t2 = time.perf_counter()
    return image, hit, {"load": t1 - t0, "generate": t2 - t1}, run


def render_file(f: FileData, device: str | None = None, dtype: str | None = None,
                reference: Any = None, strict: bool = False, *, rng_device: str | None = None,
                fallback: str = "error", cache: PipelineCache | None = None,
                download: bool = True, approximate: bool = False) -> RenderResult:
    """Regenerate the image of ``f``; return a RenderResult.

    ``device``/``dtype``/``rng_device`` default to what the file records where this
    machine has it (else GPU when available, CPU otherwise). Differences from the recorded
    platform warn ``PlatformMismatchWarning`` naming each one; with ``strict=True`` they,
    a fingerprint mismatch, ignored fields or params raise RenderError instead.
    ``fallback="payload"`` returns the file's pixel payload when the model (or torch /
    diffusers) is not available. ``download=False`` never touches the network.

    Generation stages (``meta.stages``) run in order after the first pass; a stage aigif
    cannot render (a detailer, an unknown stage kind, a ControlNet without its control
    image) raises RenderError naming it, unless ``approximate=True``: then it is skipped
    and the result says ``approximate=True`` and ``skipped`` (never the first pass passed
    off as the file's image).

    Raises RenderError, ModelNotAvailableError (says which model/revision and how to get
    it), MissingDependencyError (names the pip extra).

    Example::

        res = aigif.open("castle.aigif").render()
        res.image.save("castle.png"); print(res.exact)
    """
    if fallback not in _FALLBACKS:
        raise RenderError(f"fallback must be one of {_FALLBACKS}, not {fallback!r}")
    if isinstance(f, GenerationMeta):
        f = FileData(meta=f)
    cache = pipeline_cache if cache is None else cache
    t0 = time.perf_counter()
    meta = f.meta
    if meta is None:
        if f.payload is None:
            raise RenderError("the file holds neither generation syntax nor pixels")
        return _from_payload(f, reference, t0)
    try:
        settings = resolve_settings(meta.platform, device, dtype, rng_device)
        here = effective_platform(settings)
        diffs = differences(meta.platform, here)
        if diffs:
            msg = "rendering on a different platform than the file records, pixels may " \
                  "differ: " + "; ".join(diffs)
            if strict:
                raise RenderError(msg, field="platform")
            warnings.warn(msg, PlatformMismatchWarning, stacklevel=2)
        image, hit, timings, run = _render(meta, settings, cache=cache, download=download,
                                           strict=strict, approximate=approximate)
    except (ModelNotAvailableError, MissingDependencyError):
        if fallback == "payload" and f.payload is not None:
            return _from_payload(f, reference, t0)
        raise
    video = image if isinstance(image, VideoFrames) else None
    if video is not None:   # frames match a video fingerprint (algorithm 2) only
        image = None
    exact = None if f.fingerprint is None else matches(f.fingerprint,
                                                        image if video is None else video)
    if strict and exact is False:
        raise RenderError("the regenerated pixels do not match the file's fingerprint")
    timings["total"] = time.perf_counter() - t0
    return RenderResult(image=image, exact=exact, video=video,
                        psnr=None if reference is None or video else _psnr(image, reference),
                        platform_differences=diffs, platform=here, cache_hit=hit,
                        timings=timings, meta=meta,
                        stages=run.timings if run else [],
                        approximate=bool(run and run.skipped),
                        skipped=run.skipped if run else [])


def _from_payload(f: FileData, reference: Any, t0: float) -> RenderResult:
    if f.is_video:   # a video payload: its frames (checked against a video fingerprint)
        frames, fps = decode_video_payload(f.payload)
        video = VideoFrames(frames, fps)
        return RenderResult(image=None, video=video,
                            exact=None if f.fingerprint is None else matches(f.fingerprint,
                                                                             video),
                            source="payload", timings={"total": time.perf_counter() - t0},
                            meta=f.meta)
    image = _payload_image(f)
    exact = None if f.fingerprint is None else matches(f.fingerprint, image)
    return RenderResult(image=image, exact=exact,
                        psnr=None if reference is None else _psnr(image, reference),
                        source="payload", timings={"total": time.perf_counter() - t0},
                        meta=f.meta)


def render_meta(meta: GenerationMeta, **kwargs: Any) -> RenderResult:
    """``render_file`` for a bare GenerationMeta (no fingerprint to check)."""
    return render_file(FileData(meta=meta), **kwargs)


def generate(meta: GenerationMeta, device: str | None = None, dtype: str | None = None, *,
             rng_device: str = "cpu", fingerprint: bool = True, info: dict | None = None,
             cache: PipelineCache | None = None, download: bool = True):
    """Generate the image ``meta`` describes; return ``(PIL image, AIGIF bytes)``
    (``(VideoFrames, AIGIF bytes)`` for a video generation).

    The bytes carry ``meta`` with the platform it was generated on and (by default) the
    fingerprint of the pixels (of the frames, algorithm 2, for a video), so a reader can
    tell an exact regeneration. A meta without a
    seed gets a random 32-bit one (recorded in the file).

    Example::

        image, data = aigif.generate(aigif.GenerationMeta(model="sd15", prompt="a fox",
                                                          seed=7))
        open("fox.aigif", "wb").write(data)
    """
    if not isinstance(meta, GenerationMeta):
        raise RenderError(f"expected a GenerationMeta, found {type(meta).__name__}")
    if meta.seed is None:
        meta = meta.replace(seed=secrets.randbits(32))
    settings = resolve_settings(None, device, dtype, rng_device)
    meta = meta.replace(platform=effective_platform(settings))
    image, _, _, _ = _render(meta, settings, cache=pipeline_cache if cache is None else cache,
                          download=download, strict=False)
    fp = None
    if fingerprint:
        fp = _video_fingerprint(image) if isinstance(image, VideoFrames) else \
            _fingerprint(image)
    f = FileData(meta=meta, info=info or {}, fingerprint=fp)
    return image, dumps(f)
