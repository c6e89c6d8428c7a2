"""Frozen dataclasses of the generation syntax: what users build and read.

``GenerationMeta`` resolves defaults at construction: a value left as ``None`` takes the
model's frozen default, so ``aigif.open(aigif.save(m)).meta == m`` holds whether a value
was given or not.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

from . import spec
from .errors import MetaError
from .registry import (generators, lookup_model, model_defaults, model_for_hash, models,
                       schedulers)
from .video import Video

__all__ = ["GenerationMeta", "Platform", "Lora", "Stage", "Video", "SCHEDULERS",
           "scheduler_code", "scheduler_key"]

#: The spec's scheduler keys (``"dpmpp_2m_karras"``) -> frozen code. Third-party keys are
#: in the scheduler registry (``aigif.registry.schedulers``), which these functions read.
SCHEDULERS: Mapping[str, int] = MappingProxyType(
    {s.name.lower(): int(s) for s in spec.Scheduler})

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}$")
_LOCAL = re.compile(r"^local:([0-9a-f]{32})$")
_CKPT = re.compile(r"^ckpt:(.+)$", re.S)


def scheduler_code(key: str) -> int:
    """Frozen code of a scheduler key; raise MetaError naming the known keys."""
    code = SCHEDULERS.get(key)
    if code is None:
        info = schedulers.get(key) if key in schedulers else None
        if info is None:
            raise MetaError(f"unknown scheduler {key!r}; expected one of: "
                            f"{', '.join(schedulers.keys())}", field="scheduler")
        code = info.code
    return code


def scheduler_key(code: int) -> str | None:
    """Key of a scheduler code, or None when no registered scheduler has it."""
    return schedulers.key_for_code(code)


# --------------------------------------------------------------------------- platform
_DEVICES = {d.name.lower(): int(d) for d in spec.Device}
_DTYPES = {d.name.lower(): int(d) for d in spec.DType}


@dataclass(frozen=True)
class Platform:
    """Everything about the machine that changes the regenerated pixels.

    ``device``: "cpu", "cuda", "mps", ...; ``accelerator``: e.g. "NVIDIA H100 80GB HBM3"
    or "x86_64"; versions of torch / diffusers / transformers; ``dtype`` of the compute;
    ``rng_device`` where the initial noise was drawn; ``flags``: a set of determinism
    flag names (``spec.DeterminismFlag``); ``threads``: CPU threads (0 = unknown).
    """

    device: str = "unknown"
    accelerator: str = ""
    torch: str = ""
    diffusers: str = ""
    transformers: str = ""
    dtype: str = "unknown"
    rng_device: str = "cpu"
    flags: frozenset = frozenset()
    threads: int = 0

    def __post_init__(self) -> None:
        for name in ("device", "rng_device"):
            if getattr(self, name) not in _DEVICES:
                raise MetaError(f"unknown device {getattr(self, name)!r}; expected one of "
                                f"{', '.join(_DEVICES)}", field=f"platform.{name}")
        if self.dtype not in _DTYPES:
            raise MetaError(f"unknown dtype {self.dtype!r}; expected one of "
                            f"{', '.join(_DTYPES)}", field="platform.dtype")
        for name in ("accelerator", "torch", "diffusers", "transformers"):
            v = getattr(self, name)
            if not isinstance(v, str) or len(v.encode("utf-8", "surrogatepass")) > spec.MAX_STRING_BYTES:
                raise MetaError(f"expected a string of at most {spec.MAX_STRING_BYTES} bytes",
                                field=f"platform.{name}")
        flags = frozenset(self.flags)
        known = {f.name.lower() for f in spec.DeterminismFlag}
        bad = flags - known
        if bad:
            raise MetaError(f"unknown determinism flags {sorted(bad)}; expected some of "
                            f"{sorted(known)}", field="platform.flags")
        object.__setattr__(self, "flags", flags)
        if not isinstance(self.threads, int) or not 0 <= self.threads <= spec.MAX_THREADS:
            raise MetaError(f"threads must be an int in 0..{spec.MAX_THREADS}",
                            field="platform.threads")

    @property
    def device_code(self) -> int:
        return _DEVICES[self.device]

    @property
    def rng_code(self) -> int:
        return _DEVICES[self.rng_device]

    @property
    def dtype_code(self) -> int:
        return _DTYPES[self.dtype]

    @property
    def flag_bits(self) -> int:
        return sum(int(spec.DeterminismFlag[f.upper()]) for f in self.flags)

    @classmethod
    def from_codes(cls, device: int, dtype: int, rng: int, flags: int, threads: int,
                   accelerator: str, torch: str, diffusers: str, transformers: str) -> "Platform":
        names = frozenset(f.name.lower() for f in spec.DeterminismFlag if flags & f)
        return cls(spec.Device(device).name.lower(), accelerator, torch, diffusers,
                   transformers, spec.DType(dtype).name.lower(),
                   spec.Device(rng).name.lower(), names, threads)

    def differences(self, other: "Platform") -> list[str]:
        """Names and values of the fields that differ from ``other`` (for warnings)."""
        out = []
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a != b:
                out.append(f"{f.name}: file {a!r} vs here {b!r}")
        return out


# --------------------------------------------------------------------------- loras
@dataclass(frozen=True)
class Lora:
    """A LoRA/adapter applied during generation. ``sha256`` is hex (may be a prefix)."""

    name: str
    weight: float = 1.0
    clip_weight: float | None = None
    sha256: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise MetaError("a LoRA needs a non-empty name", field="loras.name")
        _check_real(self.weight, "loras.weight", -1000, 1000)
        if self.clip_weight is not None:
            _check_real(self.clip_weight, "loras.clip_weight", -1000, 1000)
        if not re.fullmatch(r"[0-9a-f]{0,64}", self.sha256 or ""):
            raise MetaError("sha256 must be lowercase hex (at most 64 digits)",
                            field="loras.sha256")


def _check_real(v: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MetaError(f"expected a number, found {type(v).__name__}", field=name)
    v = float(v)
    if not math.isfinite(v) or not lo <= v <= hi:
        raise MetaError(f"expected a finite number in {lo}..{hi}, found {v!r}", field=name)
    return v


def _check_int(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise MetaError(f"expected an int, found {type(v).__name__} {v!r}", field=name)
    if not lo <= v <= hi:
        raise MetaError(f"expected {lo}..{hi}, found {v}", field=name)
    return v


def _check_text(v: Any, name: str) -> None:
    if not isinstance(v, str):
        raise MetaError(f"expected a str, found {type(v).__name__}", field=name)
    if len(v) > spec.MAX_TEXT_CHARS:
        raise MetaError(f"text is {len(v)} characters, the limit is {spec.MAX_TEXT_CHARS}",
                        field=name)
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise MetaError(f"text is not valid Unicode (lone surrogate at index {e.start})",
                        field=name) from e


_PARAM_TYPES = (type(None), bool, int, float, str, bytes)


def _checked_params(params: Any) -> Mapping[str, Any]:
    """``params`` checked, as the read-only mapping sorted by key that a meta holds."""
    params = dict(params)
    for k, v in params.items():
        if not isinstance(k, str) or not k or len(k.encode()) > spec.MAX_STRING_BYTES:
            raise MetaError(f"param key {k!r} must be a short non-empty string",
                            field="params")
        if not isinstance(v, _PARAM_TYPES) or (isinstance(v, int) and not isinstance(v, bool)
                                               and not -2**64 < v < 2**64):
            raise MetaError(f"param {k!r}: expected None, bool, int (64-bit), float, str "
                            f"or bytes, found {type(v).__name__}", field=f"params.{k}")
    if len(params) > spec.MAX_ENTRIES:
        raise MetaError(f"at most {spec.MAX_ENTRIES} params", field="params")
    return MappingProxyType(dict(sorted(params.items())))


_EMPTY_PARAMS: Mapping[str, Any] = MappingProxyType({})
_INT = int


# --------------------------------------------------------------------------- stages
class Stage:
    """Base of the stages that follow the text-to-image pass (``GenerationMeta.stages``).

    The stage classes (``Hires``, ``Upscale``, ``Img2Img``, ``Refiner``, ``ControlNet``,
    ``Detailer``, ``UnknownStages``) live in ``aigif.stages``, which imports this module and
    registers each class by its ``name`` (the ``"kind"`` key of ``to_dict``)."""

    #: frozen stage kind code (spec "Codes: stage kinds"; UnknownStages: its own)
    kind: ClassVar[int] = 0
    #: lowercase name of the kind ("hires", ...)
    name: ClassVar[str] = ""

    def to_dict(self) -> dict:  # pragma: no cover - every stage class overrides it
        raise NotImplementedError

    def _resolve(self, meta: "GenerationMeta", index: int) -> "Stage":
        """This stage with values equal to the first pass's set to None (canonical)."""
        return self


#: name -> stage class, filled by ``aigif.stages`` at import
STAGE_CLASSES: dict[str, type] = {}


def stage_from_dict(d: Any, index: int = 0) -> Stage:
    """A stage from its ``to_dict`` form; MetaError naming the field for a bad one."""
    where = f"stages[{index}]"
    if not isinstance(d, Mapping) or not isinstance(d.get("kind"), str):
        raise MetaError("a stage is a JSON object with a 'kind' string", field=where)
    cls = STAGE_CLASSES.get(d["kind"])
    if cls is None:
        raise MetaError(f"unknown stage kind {d['kind']!r}; expected one of "
                        f"{', '.join(STAGE_CLASSES)}", field=f"{where}.kind")
    return cls.from_dict(d, where)


def _check_stages(meta: "GenerationMeta") -> tuple:
    stages = meta.stages
    if isinstance(stages, (str, bytes, Mapping)) or not hasattr(stages, "__iter__"):
        raise MetaError("stages must be a sequence of aigif stages (aigif.Hires...)",
                        field="stages")
    stages = tuple(stages)
    if len(stages) > spec.MAX_STAGES:
        raise MetaError(f"{len(stages)} stages, the limit is {spec.MAX_STAGES}", field="stages")
    out = []
    for i, s in enumerate(stages):
        if not isinstance(s, Stage):
            raise MetaError(f"expected an aigif stage (aigif.Hires, aigif.Refiner...), found "
                            f"{type(s).__name__}", field=f"stages[{i}]")
        if s.name == "unknown" and i != len(stages) - 1:
            raise MetaError("UnknownStages holds the rest of the list: it must be last",
                            field=f"stages[{i}]")
        out.append(s._resolve(meta, i))
    return tuple(out)


def _check_video(meta: "GenerationMeta", d: spec.models.Defaults) -> Video | None:
    """``meta.video`` resolved against the family's video defaults (None: an image family),
    with frames x width x height checked against ``MAX_DECOMPRESSED_PIXELS``."""
    v = meta.video
    if d.video is None:
        if v is not None:
            video_families = [k for k in generators.keys()
                              if generators.get(k).defaults.video is not None]
            raise MetaError(f"generator {meta.generator!r} makes images; a video needs a video "
                            f"family ({', '.join(video_families)})", field="video")
        return None
    if v is None:
        v = Video()
    elif not isinstance(v, Video):
        raise MetaError(f"video must be an aigif.Video, found {type(v).__name__}", field="video")
    v = v.resolve(d.video)
    if v.frames * meta.width * meta.height > spec.MAX_DECOMPRESSED_PIXELS:
        raise MetaError(f"{v.frames} frames of {meta.width} x {meta.height} is "
                        f"{v.frames * meta.width * meta.height} pixels, the limit is "
                        f"{spec.MAX_DECOMPRESSED_PIXELS} (MAX_DECOMPRESSED_PIXELS)",
                        field="video.frames")
    return v


# --------------------------------------------------------------------------- meta
def _model_info_of(m: str, generator: str | None = None):
    """ModelInfo of a model string (None for hub ids, checkpoints, unregistered local
    hashes); raises MetaError / UnknownModelError for a string that names no model.
    ``generator``: for ``local:<hash>``, the registration of that family (the same weights
    may be registered for two families)."""
    if m in models:
        return models.get(m)   # lookup_model(m), without asking twice
    mo = _LOCAL.match(m)
    if mo:
        return model_for_hash(bytes.fromhex(mo.group(1)), generator)  # may be None
    mo = _CKPT.match(m)
    if mo:
        name = mo.group(1)
        if not name.strip() or len(name.encode("utf-8", "surrogatepass")) > spec.MAX_STRING_BYTES:
            raise MetaError("a 'ckpt:' model needs a checkpoint name of at most "
                            f"{spec.MAX_STRING_BYTES} bytes", field="model")
        return None
    if _HUB_ID.match(m):
        return None
    return lookup_model(m)  # raises UnknownModelError with guidance


@dataclass(frozen=True)
class GenerationMeta:
    """The generation syntax of one image.

    ``model`` is a well-known key (``"sd15"``, ``"sdxl"``, ``"flux1-schnell"``,
    ``"aigif-tiny"``...), a name given to ``aigif.register_model``, ``"local:<hash>"``,
    a hub id ``"owner/name"`` (then ``generator`` and ``model_revision`` say which
    family and which commit), or ``"ckpt:<checkpoint name>"`` for a checkpoint known only
    by the name (and short hash, in ``model_revision``) another tool recorded. Values left ``None`` take the model's frozen defaults.

    ``video``: the video fields (``aigif.Video``: frames, fps, conditioning image, motion
    parameters) of a video generator family (``wan``, ``ltx_video``, ``cogvideox``,
    ``animatediff``, ``text_to_video_sd``, ``hunyuan_video``); always set, resolved
    against the family's defaults, for those families (``Video()`` when left ``None``), and
    ``None`` for image families (setting it there is a MetaError).

    Example::

        meta = GenerationMeta(model="sd15", prompt="a castle", seed=1234)
        assert meta.steps == 50
    """

    model: str
    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None
    width: int | None = None
    height: int | None = None
    clip_skip: int | None = None
    generator: str | None = None
    model_revision: str | None = None
    loras: tuple = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)
    platform: Platform | None = None
    stages: tuple = ()
    video: Video | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.model, str) or not self.model:
            raise MetaError("model must be a non-empty string", field="model")
        info = _model_info_of(self.model, self.generator)
        if self.generator is None:
            set_(self, "generator", info.generator if info else None)
        if self.generator is None or self.generator not in generators:
            raise MetaError(f"model {self.model!r} needs a generator family; expected one of "
                            f"{', '.join(generators.keys())}", field="generator")
        if info is not None and info.generator != self.generator:
            raise MetaError(f"model {self.model!r} belongs to generator {info.generator!r}, "
                            f"not {self.generator!r}", field="generator")
        if info is not None and info.code is not None and self.model_revision is None:
            set_(self, "model_revision", info.revision)
        if self.model_revision is not None and (
                not isinstance(self.model_revision, str)
                or len(self.model_revision.encode()) > spec.MAX_STRING_BYTES):
            raise MetaError("model_revision must be a short string", field="model_revision")
        d = model_defaults(info) if info is not None else generators.get(self.generator).defaults
        for name in ("steps", "guidance_scale", "scheduler", "width", "height", "clip_skip"):
            if getattr(self, name) is None:
                set_(self, name, getattr(d, name))
        _check_text(self.prompt, "prompt")
        _check_text(self.negative_prompt, "negative_prompt")
        if self.seed is not None:
            _check_int(self.seed, "seed", 0, spec.MAX_SEED)
        _check_int(self.steps, "steps", 1, spec.MAX_STEPS)
        set_(self, "guidance_scale",
             _check_real(self.guidance_scale, "guidance_scale", 0.0, spec.MAX_GUIDANCE))
        if not isinstance(self.scheduler, str):
            raise MetaError("scheduler must be a lowercase key such as 'dpmpp_2m_karras'",
                            field="scheduler")
        scheduler_code(self.scheduler)
        _check_int(self.width, "width", 1, spec.MAX_DIMENSION)
        _check_int(self.height, "height", 1, spec.MAX_DIMENSION)
        _check_int(self.clip_skip, "clip_skip", 0, spec.MAX_CLIP_SKIP)
        loras = tuple(self.loras)
        for lo in loras:
            if not isinstance(lo, Lora):
                raise MetaError(f"loras must hold aigif.Lora values, found {type(lo).__name__}",
                                field="loras")
        if len(loras) > spec.MAX_ENTRIES:
            raise MetaError(f"at most {spec.MAX_ENTRIES} LoRAs", field="loras")
        set_(self, "loras", loras)
        set_(self, "params", _checked_params(self.params))
        set_(self, "extensions", MappingProxyType(dict(self.extensions)))
        if self.platform is not None and not isinstance(self.platform, Platform):
            raise MetaError("platform must be an aigif.Platform", field="platform")
        set_(self, "stages", _check_stages(self) if self.stages != () else ())
        set_(self, "video", _check_video(self, d))

    @classmethod
    def _from_reader(cls, kw: dict) -> "GenerationMeta | None":
        """``cls(**kw)`` without re-running the checks that the reader's values already
        passed, for ``kw`` as ``aigif.io`` builds it; None when a value needs the full
        checks (the caller then constructs normally, which raises the MetaError).

        Every check of ``__post_init__`` still runs, with plain-type tests in place of the
        generic ones (an int subclass, a float steps... gets None) and without building the
        object twice; ``tests/test_io_fast.py`` holds both equal (``==``, ``repr``, vars)."""
        model = kw["model"]
        generator = kw.get("generator")
        try:
            info = _model_info_of(model, generator)
            if generator is None:
                generator = info.generator if info else None
            if generator is None or generator not in generators or (
                    info is not None and info.generator != generator):
                return None
            revision = kw.get("model_revision")
            if info is not None and info.code is not None and revision is None:
                revision = info.revision
            if revision is not None and (type(revision) is not str or len(revision.encode())
                                         > spec.MAX_STRING_BYTES):
                return None
            d = model_defaults(info) if info is not None else generators.get(generator).defaults
            steps, guidance, scheduler = kw.get("steps"), kw.get("guidance_scale"), kw.get("scheduler")
            width, height, clip_skip = kw.get("width"), kw.get("height"), kw.get("clip_skip")
            if steps is None:
                steps = d.steps
            if guidance is None:
                guidance = d.guidance_scale
            if scheduler is None:
                scheduler = d.scheduler
            if width is None:
                width = d.width
            if height is None:
                height = d.height
            if clip_skip is None:
                clip_skip = d.clip_skip
            prompt, negative, seed = kw["prompt"], kw["negative_prompt"], kw["seed"]
            if type(prompt) is not str or type(negative) is not str or \
                    len(prompt) > spec.MAX_TEXT_CHARS or len(negative) > spec.MAX_TEXT_CHARS:
                return None
            prompt.encode("utf-8")
            negative.encode("utf-8")
            if seed is not None and not (type(seed) is _INT and 0 <= seed <= spec.MAX_SEED):
                return None
            if not (type(steps) is _INT and 1 <= steps <= spec.MAX_STEPS and
                    type(width) is _INT and 1 <= width <= spec.MAX_DIMENSION and
                    type(height) is _INT and 1 <= height <= spec.MAX_DIMENSION and
                    type(clip_skip) is _INT and 0 <= clip_skip <= spec.MAX_CLIP_SKIP):
                return None
            if type(guidance) not in (float, _INT):
                return None
            guidance = float(guidance)
            if not 0.0 <= guidance <= spec.MAX_GUIDANCE:   # False for nan
                return None
            if type(scheduler) is not str:
                return None
            scheduler_code(scheduler)
            params = kw["params"]
            params = _checked_params(params) if params else _EMPTY_PARAMS
        except Exception:  # noqa: BLE001 - the full constructor says what is wrong
            return None
        platform = kw["platform"]
        loras = kw["loras"]
        if type(loras) is not tuple or (loras and (len(loras) > spec.MAX_ENTRIES or not all(
                isinstance(lo, Lora) for lo in loras))) or (
                platform is not None and not isinstance(platform, Platform)):
            return None
        stages = kw.get("stages", ())
        if stages:
            return None   # the full constructor resolves the stages against the first pass
        if kw.get("video") is not None or d.video is not None:
            return None   # the full constructor resolves the video against its defaults
        self = object.__new__(cls)
        self.__dict__.update(
            model=model, prompt=prompt, negative_prompt=negative, seed=seed, steps=steps,
            guidance_scale=guidance, scheduler=scheduler, width=width, height=height,
            clip_skip=clip_skip, generator=generator, model_revision=revision, loras=loras,
            params=params, extensions=MappingProxyType(dict(kw["extensions"])),
            platform=platform, stages=(), video=None)
        return self

    def _model_info(self):
        return _model_info_of(self.model, self.generator)

    @property
    def defaults(self) -> spec.models.Defaults:
        """The frozen defaults of this meta's model."""
        info = _model_info_of(self.model, self.generator)
        return model_defaults(info) if info is not None else generators.get(self.generator).defaults

    def replace(self, **changes: Any) -> "GenerationMeta":
        """A copy with some fields changed (defaults re-resolved for fields set to None)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready dict with the same keys as the dataclass (used by ``aigif info --json``);
        ``video`` only for video generations."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "platform":
                v = None if v is None else {**{g.name: getattr(v, g.name) for g in fields(v)},
                                            "flags": sorted(v.flags)}
            elif f.name == "loras":
                v = [{g.name: getattr(lo, g.name) for g in fields(lo)} for lo in v]
            elif f.name == "params":   # bytes as {"bytes": hex} so from_dict can restore them
                v = {k: {"bytes": x.hex()} if isinstance(x, bytes) else x for k, x in v.items()}
            elif f.name == "extensions":
                v = {k: x.hex() if isinstance(x, bytes) else x for k, x in v.items()}
            elif f.name == "stages":
                v = [s.to_dict() for s in v]
            elif f.name == "video":
                if v is None:
                    continue   # images: no key, so image JSON is what it was before video
                v = v.to_dict()
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "GenerationMeta":
        """Inverse of ``to_dict``; unknown keys raise MetaError naming them."""
        if not isinstance(d, Mapping):
            raise MetaError(f"expected a JSON object, found {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise MetaError(f"unknown keys {sorted(unknown)}; expected some of {sorted(names)}")
        kw = dict(d)
        if "model" not in kw:
            raise MetaError("missing required key 'model'", field="model")
        if kw.get("platform") is not None:
            p = dict(kw["platform"])
            p["flags"] = frozenset(p.get("flags", ()))
            try:
                kw["platform"] = Platform(**p)
            except TypeError as e:
                raise MetaError(f"bad platform object: {e}", field="platform") from e
        if "loras" in kw:
            try:
                kw["loras"] = tuple(Lora(**x) for x in kw["loras"])
            except TypeError as e:
                raise MetaError(f"bad LoRA object: {e}", field="loras") from e
        if "params" in kw:
            kw["params"] = {k: (bytes.fromhex(v["bytes"]) if isinstance(v, dict) and
                                set(v) == {"bytes"} else v) for k, v in dict(kw["params"]).items()}
        if "stages" in kw:
            st = kw["stages"]
            if not isinstance(st, (list, tuple)):
                raise MetaError("stages must be a JSON list", field="stages")
            kw["stages"] = tuple(stage_from_dict(x, i) for i, x in enumerate(st))
        if kw.get("video") is not None:
            kw["video"] = Video.from_dict(kw["video"])
        try:
            return cls(**kw)
        except TypeError as e:
            raise MetaError(str(e)) from e
