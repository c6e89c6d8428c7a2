"""Stages after the text-to-image pass: hires fix, upscale, img2img, refiner, ControlNet,
detailer (spec/aigif-v1.md, "Syntax: stages").

A ``GenerationMeta`` describes the text-to-image pass; ``meta.stages`` lists what was done
after it, in order, each stage taking the previous result. The classes are frozen
dataclasses a user writes by hand::

    meta = GenerationMeta(model="sd15", prompt="a castle", seed=1,
                          stages=(Hires(scale=2.0, strength=0.45, steps=20),))

A value left ``None`` means "the same as the first pass" (its guidance, scheduler, seed,
prompts, model, LoRAs, clip skip); ``steps=0`` means the first pass's steps. Values equal to
the first pass's are held as ``None`` once in a ``GenerationMeta`` (that is what the file
stores), so ``aigif.open(aigif.save(m)).meta == m`` holds. ``effective(meta)`` gives a pass's
values with every default resolved (what a renderer runs).

Fractions (strength, switch, ControlNet start/end, detector confidence) are stored to
1/10000: a value is rounded to the nearest multiple of 0.0001 at construction.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

from . import spec
from .errors import MetaError
from .meta import (STAGE_CLASSES, Lora, Stage, _check_int, _check_real, _check_text,
                   _checked_params, _model_info_of, scheduler_code)
from .payload import Payload
from .registry import codec_code

__all__ = ["Stage", "Hires", "Upscale", "Img2Img", "Refiner", "ControlNet", "Detailer",
           "UnknownStages", "Payload", "PassSettings", "UPSCALERS", "STAGE_KINDS",
           "FRACTION_UNIT", "fraction"]

#: Upscaler keys -> frozen codes (spec "Syntax: stage fields", upscaler codes).
UPSCALERS: Mapping[str, int] = MappingProxyType(
    {u.name.lower().replace("_", "-"): int(u) for u in spec.Upscaler})
UPSCALER_KEYS: Mapping[int, str] = MappingProxyType({v: k for k, v in UPSCALERS.items()})

#: Fractions are multiples of 1 / FRACTION_UNIT.
FRACTION_UNIT = 10_000
_MAX_MASK_BLUR = 256
_CODEC_N = re.compile(r"codec-(0|[1-9][0-9]{0,18})")   # a codec code this reader does not know
_HUB_AT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95})"
                     r"@([^@\s]+)$")


def fraction(v: Any, name: str) -> float:
    """``v`` checked to be in 0..1 and rounded to the nearest 1/10000 (MetaError naming
    ``name`` otherwise)."""
    v = _check_real(v, name, 0.0, 1.0)
    return round(v * FRACTION_UNIT) / FRACTION_UNIT


def _check_model(v: Any, name: str) -> None:
    if not isinstance(v, str) or not v:
        raise MetaError("expected a model string (a well-known key, 'owner/name[@revision]', "
                        "'local:<hash>' or 'ckpt:<name>')", field=name)
    m = _HUB_AT.match(v)
    if m:
        if len(m.group(2).encode()) > spec.MAX_STRING_BYTES:
            raise MetaError("revision is too long", field=name)
        return
    try:
        _model_info_of(v)
    except MetaError as e:
        raise MetaError(e.message, field=name) from None


def _check_opt_real(self: Any, attr: str, lo: float, hi: float) -> None:
    v = getattr(self, attr)
    if v is not None:
        object.__setattr__(self, attr, _check_real(v, f"{self.name}.{attr}", lo, hi))


def _loras(v: Any, name: str) -> tuple | None:
    if v is None:
        return None
    if isinstance(v, (str, bytes, Mapping)):
        raise MetaError("loras must be a sequence of aigif.Lora", field=name)
    out = tuple(v)
    for lo in out:
        if not isinstance(lo, Lora):
            raise MetaError(f"loras must hold aigif.Lora values, found {type(lo).__name__}",
                            field=name)
    if len(out) > spec.MAX_ENTRIES:
        raise MetaError(f"at most {spec.MAX_ENTRIES} LoRAs", field=name)
    return out


@dataclass(frozen=True)
class PassSettings:
    """The values a denoising stage runs with, every default resolved against the first
    pass (``stage.effective(meta)``)."""

    strength: float
    steps: int
    guidance_scale: float
    scheduler: str
    seed: int | None
    prompt: str
    negative_prompt: str
    model: str
    loras: tuple
    clip_skip: int


class _StageBase(Stage):
    """Shared checks, dict conversion and first-pass resolution of the stage classes."""

    #: attributes whose None means "the first pass's value" (in resolution order)
    _INHERITED: ClassVar[tuple] = ()

    def _check_pass_fields(self) -> None:
        n = self.name
        set_ = object.__setattr__
        if "strength" in self._FIELDS:
            set_(self, "strength", fraction(self.strength, f"{n}.strength"))
        _check_int(self.steps, f"{n}.steps", 0, spec.MAX_STEPS)
        _check_opt_real(self, "guidance_scale", 0.0, spec.MAX_GUIDANCE)
        if self.scheduler is not None:
            if not isinstance(self.scheduler, str):
                raise MetaError("scheduler must be a lowercase key", field=f"{n}.scheduler")
            try:
                scheduler_code(self.scheduler)
            except MetaError as e:
                raise MetaError(e.message, field=f"{n}.scheduler") from None
        if self.seed is not None:
            _check_int(self.seed, f"{n}.seed", 0, spec.MAX_SEED)
        for t in ("prompt", "negative_prompt"):
            if getattr(self, t) is not None:
                _check_text(getattr(self, t), f"{n}.{t}")
        if self.model is not None:
            _check_model(self.model, f"{n}.model")
        if "loras" in self._FIELDS:
            set_(self, "loras", _loras(self.loras, f"{n}.loras"))
        if "clip_skip" in self._FIELDS and self.clip_skip is not None:
            _check_int(self.clip_skip, f"{n}.clip_skip", 0, spec.MAX_CLIP_SKIP)

    def _check_params(self) -> None:
        try:
            object.__setattr__(self, "params", _checked_params(self.params))
        except MetaError as e:
            raise MetaError(e.message, field=f"{self.name}.{e.field}") from None

    def _resolve(self, meta: Any, index: int) -> "Stage":
        """This stage with every value equal to the first pass's held as None."""
        changes: dict[str, Any] = {}
        for attr in self._INHERITED:
            v = getattr(self, attr)
            if v is not None and v == getattr(meta, attr):
                changes[attr] = None
        if "prompt" in self._FIELDS and (self.prompt is not None or
                                         self.negative_prompt is not None):
            p = meta.prompt if self.prompt is None else self.prompt
            n = meta.negative_prompt if self.negative_prompt is None else self.negative_prompt
            if (p, n) == (meta.prompt, meta.negative_prompt):
                changes["prompt"] = changes["negative_prompt"] = None
            else:
                changes["prompt"], changes["negative_prompt"] = p, n
        if not changes or all(getattr(self, k) == v for k, v in changes.items()):
            return self
        try:
            return replace(self, **changes)
        except MetaError as e:   # cannot happen for values that passed once; say where
            raise MetaError(e.message, field=f"stages[{index}]") from None

    def effective(self, meta: Any) -> PassSettings:
        """The values this pass runs with: each None (and ``steps=0``) resolved to the
        first pass's value in ``meta`` (a GenerationMeta)."""
        def get(attr: str) -> Any:
            known = attr in self._FIELDS or (attr == "negative_prompt" and "prompt" in self._FIELDS)
            v = getattr(self, attr, None) if known else None
            return getattr(meta, attr) if v is None else v
        return PassSettings(
            strength=getattr(self, "strength", 1.0), steps=self.steps or meta.steps,
            guidance_scale=get("guidance_scale"), scheduler=get("scheduler"),
            seed=get("seed"), prompt=get("prompt"), negative_prompt=get("negative_prompt"),
            model=get("model"), loras=get("loras"), clip_skip=get("clip_skip"))

    def summary(self) -> str:
        """One line: the kind and the values that differ from their defaults, e.g.
        ``"hires: strength=0.45, steps=20"`` (what ``aigif info`` shows)."""
        parts = []
        for f in fields(self):
            v = getattr(self, f.name)
            default = f.default_factory() if callable(f.default_factory) else f.default
            if v == default or (f.name == "scale" and v is None):
                continue
            if f.name == "image":
                v = f"{v.codec}, {len(v.data)} bytes"
            elif f.name == "loras":
                v = "[" + ", ".join(f"{lo.name}:{lo.weight:g}" for lo in v) + "]"
            elif f.name == "params":
                v = dict(v)
            elif f.name == "data":
                v = f"{len(v)} bytes"
            parts.append(f"{f.name}={v!r}" if isinstance(v, str) and f.name in (
                "prompt", "negative_prompt") else f"{f.name}={v}")
        return f"{self.name}: {', '.join(parts)}" if parts else self.name

    # ----------------------------------------------------------------- dict form
    def to_dict(self) -> dict:
        """JSON-ready dict: ``{"kind": "hires", <field>: value...}``."""
        out: dict[str, Any] = {"kind": self.name}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "loras" and v is not None:
                v = [{g.name: getattr(lo, g.name) for g in fields(lo)} for lo in v]
            elif f.name == "params":
                v = {k: {"bytes": x.hex()} if isinstance(x, bytes) else x for k, x in v.items()}
            elif f.name == "size" and v is not None:
                v = list(v)
            elif f.name == "image" and v is not None:
                v = {"codec": v.codec, "data": v.data.hex()}
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "stage") -> "Stage":
        """Inverse of ``to_dict``; MetaError for unknown keys or bad values."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k != "kind"}
        unknown = set(kw) - names
        if unknown:
            raise MetaError(f"unknown keys {sorted(unknown)} for a {cls.name} stage; expected "
                            f"some of {sorted(names)}", field=where)
        try:
            if kw.get("loras") is not None:
                kw["loras"] = tuple(Lora(**x) for x in kw["loras"])
            if "params" in kw:
                kw["params"] = {k: (bytes.fromhex(v["bytes"]) if isinstance(v, dict) and
                                    set(v) == {"bytes"} else v)
                                for k, v in dict(kw["params"]).items()}
            if kw.get("size") is not None:
                kw["size"] = tuple(kw["size"])
            if kw.get("image") is not None:
                kw["image"] = Payload(kw["image"]["codec"],
                                           bytes.fromhex(kw["image"]["data"]))
            if "data" in kw and isinstance(kw["data"], str):
                kw["data"] = bytes.fromhex(kw["data"])
            return cls(**kw)
        except (TypeError, ValueError, KeyError) as e:
            if isinstance(e, MetaError):
                raise MetaError(e.message, field=f"{where}.{(e.field or '').split('.')[-1]}"
                                ) from None
            raise MetaError(f"bad {cls.name} stage: {e}", field=where) from None


def _register(cls: type) -> type:
    STAGE_CLASSES[cls.name] = cls
    return cls


def _check_resize(self: Any) -> None:
    n = self.name
    if self.size is not None:
        if self.scale is not None and self.scale != 2.0:
            raise MetaError("scale and size are exclusive: give one", field=f"{n}.size")
        object.__setattr__(self, "scale", None)
        size = tuple(self.size) if not isinstance(self.size, (str, bytes)) else ()
        if len(size) != 2:
            raise MetaError("size is (width, height)", field=f"{n}.size")
        for i, v in enumerate(size):
            _check_int(v, f"{n}.size", 1, spec.MAX_DIMENSION)
        object.__setattr__(self, "size", size)
    else:
        if self.scale is None:
            object.__setattr__(self, "scale", 2.0)
        v = _check_real(self.scale, f"{n}.scale", 0.0, 16.0)
        if v <= 0:
            raise MetaError("scale must be > 0", field=f"{n}.scale")
        object.__setattr__(self, "scale", v)
    if self.upscaler not in UPSCALERS:
        raise MetaError(f"unknown upscaler {self.upscaler!r}; expected one of "
                        f"{', '.join(UPSCALERS)}", field=f"{n}.upscaler")
    if self.upscaler == "model":
        _check_model(self.upscaler_model, f"{n}.upscaler_model")
    elif self.upscaler_model is not None:
        raise MetaError("upscaler_model is given only with upscaler='model'",
                        field=f"{n}.upscaler_model")


class _Resize:
    """Mixin: the target size of an upscaling stage."""

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """Width and height after the upscale of a ``width`` x ``height`` input:
        ``size``, or each side times ``scale`` rounded down (as A1111)."""
        if self.size is not None:
            return self.size
        return int(width * self.scale), int(height * self.scale)


_PASS_INHERITED = ("guidance_scale", "scheduler", "seed", "model", "loras", "clip_skip")


@_register
@dataclass(frozen=True)
class Hires(_Resize, _StageBase):
    """Upscale, then a new denoising pass at the larger size (A1111 "hires fix").

    ``scale`` (default 2.0) or ``size`` (width, height) say the target; ``upscaler`` is a
    key of ``UPSCALERS`` (``"model"`` with ``upscaler_model``: an ESRGAN-family network).

    Example::

        Hires(scale=2.0, upscaler="latent", strength=0.45, steps=20)
    """

    kind: ClassVar[int] = int(spec.StageKind.HIRES)
    name: ClassVar[str] = "hires"
    _FIELDS: ClassVar[tuple] = ("scale", "size", "upscaler", "strength", "steps",
                                "guidance_scale", "scheduler", "seed", "prompt", "model",
                                "loras", "clip_skip", "params")
    _INHERITED: ClassVar[tuple] = _PASS_INHERITED

    scale: float | None = 2.0
    size: tuple | None = None
    upscaler: str = "latent"
    upscaler_model: str | None = None
    strength: float = 0.7
    steps: int = 0
    guidance_scale: float | None = None
    scheduler: str | None = None
    seed: int | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    model: str | None = None
    loras: tuple | None = None
    clip_skip: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_resize(self)
        self._check_pass_fields()
        self._check_params()


@_register
@dataclass(frozen=True)
class Upscale(_Resize, _StageBase):
    """Upscale only, no new denoising.

    Example::

        Upscale(scale=4.0, upscaler="model", upscaler_model="ckpt:4x-UltraSharp")
    """

    kind: ClassVar[int] = int(spec.StageKind.UPSCALE)
    name: ClassVar[str] = "upscale"
    _FIELDS: ClassVar[tuple] = ("scale", "size", "upscaler", "params")

    scale: float | None = 2.0
    size: tuple | None = None
    upscaler: str = "latent"
    upscaler_model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_resize(self)
        self._check_params()

    def effective(self, meta: Any) -> PassSettings:  # no denoising
        raise MetaError("an upscale stage has no denoising pass", field="upscale")


@_register
@dataclass(frozen=True)
class Img2Img(_StageBase):
    """A new denoising pass over the previous result at the same size.

    Example::

        Img2Img(strength=0.3, prompt="a castle at night")
    """

    kind: ClassVar[int] = int(spec.StageKind.IMG2IMG)
    name: ClassVar[str] = "img2img"
    _FIELDS: ClassVar[tuple] = ("strength", "steps", "guidance_scale", "scheduler", "seed",
                                "prompt", "model", "loras", "clip_skip", "params")
    _INHERITED: ClassVar[tuple] = _PASS_INHERITED

    strength: float = 0.7
    steps: int = 0
    guidance_scale: float | None = None
    scheduler: str | None = None
    seed: int | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    model: str | None = None
    loras: tuple | None = None
    clip_skip: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_pass_fields()
        self._check_params()


@_register
@dataclass(frozen=True)
class Refiner(_StageBase):
    """SDXL-style hand-over: the previous pass stops at ``switch`` of its schedule (its
    latents, not decoded) and ``model`` finishes it (diffusers ``denoising_end`` /
    ``denoising_start``, A1111 "Refiner switch at").

    Example::

        Refiner(model="stabilityai/stable-diffusion-xl-refiner-1.0", switch=0.8)
    """

    kind: ClassVar[int] = int(spec.StageKind.REFINER)
    name: ClassVar[str] = "refiner"
    _FIELDS: ClassVar[tuple] = ("steps", "guidance_scale", "scheduler", "seed", "prompt",
                                "model", "params", "switch", "aesthetic_score",
                                "negative_aesthetic_score")
    _INHERITED: ClassVar[tuple] = ("guidance_scale", "scheduler", "seed")

    model: str = ""
    switch: float = 0.8
    steps: int = 0
    guidance_scale: float | None = None
    scheduler: str | None = None
    seed: int | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    aesthetic_score: float = 6.0
    negative_aesthetic_score: float = 2.5
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.model:
            raise MetaError("a refiner stage needs its model", field="refiner.model")
        self._check_pass_fields()
        object.__setattr__(self, "switch", fraction(self.switch, "refiner.switch"))
        for a in ("aesthetic_score", "negative_aesthetic_score"):
            object.__setattr__(self, a, _check_real(getattr(self, a), f"refiner.{a}",
                                                    -1000, 1000))
        self._check_params()

    def effective(self, meta: Any) -> PassSettings:
        s = super().effective(meta)
        return replace(s, model=self.model, strength=1.0 - self.switch, loras=(),
                       clip_skip=meta.clip_skip)


@_register
@dataclass(frozen=True)
class ControlNet(_StageBase):
    """A ControlNet conditioning pass ``pass_index`` (0: the text-to-image pass, n: the
    n-th stage of the list, counting every stage from 1). ``image``: the control image
    (``aigif.Payload`` or Payload); None when ``params["preprocessor"]`` names how a
    renderer makes it.

    Example::

        ControlNet(model="lllyasviel/control_v11p_sd15_canny", scale=0.8,
                   image=aigif.Payload("png", png_bytes))
    """

    kind: ClassVar[int] = int(spec.StageKind.CONTROLNET)
    name: ClassVar[str] = "controlnet"
    _FIELDS: ClassVar[tuple] = ("params", "model", "scale", "start", "pass_index", "image")

    model: str = ""
    scale: float = 1.0
    start: float = 0.0
    end: float = 1.0
    pass_index: int = 0
    image: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.model:
            raise MetaError("a controlnet stage needs its ControlNet model",
                            field="controlnet.model")
        _check_model(self.model, "controlnet.model")
        object.__setattr__(self, "scale", _check_real(self.scale, "controlnet.scale",
                                                      -1000, 1000))
        start = fraction(self.start, "controlnet.start")
        end = fraction(self.end, "controlnet.end")
        if start > end:
            raise MetaError(f"start {start} is after end {end}", field="controlnet.start")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        _check_int(self.pass_index, "controlnet.pass_index", 0, spec.MAX_STAGES)
        img = self.image
        if img is not None:
            if not hasattr(img, "codec") or not hasattr(img, "data"):
                raise MetaError("image must be an aigif.Payload (codec, data) or None",
                                field="controlnet.image")
            if not isinstance(img.codec, str) or (codec_code(img.codec) is None and
                                                  not _CODEC_N.fullmatch(img.codec)):
                raise MetaError(f"unknown pixel codec {img.codec!r}", field="controlnet.image")
            if not isinstance(img.data, (bytes, bytearray, memoryview)) or not img.data:
                raise MetaError("the control image needs its encoded bytes",
                                field="controlnet.image")
            if not isinstance(img, Payload) or not isinstance(img.data, bytes):
                object.__setattr__(self, "image", Payload(img.codec, bytes(img.data)))
        self._check_params()

    def effective(self, meta: Any) -> PassSettings:  # conditions another pass
        raise MetaError("a controlnet stage conditions another pass", field="controlnet")


@_register
@dataclass(frozen=True)
class Detailer(_StageBase):
    """Detect regions (faces, hands) and re-denoise each (ADetailer, Impact FaceDetailer).

    Example::

        Detailer(detector="face_yolov8n.pt", strength=0.4)
    """

    kind: ClassVar[int] = int(spec.StageKind.DETAILER)
    name: ClassVar[str] = "detailer"
    _FIELDS: ClassVar[tuple] = ("strength", "steps", "guidance_scale", "scheduler", "seed",
                                "prompt", "model", "params", "detector", "confidence",
                                "mask_blur")
    _INHERITED: ClassVar[tuple] = ("guidance_scale", "scheduler", "seed", "model")

    detector: str = ""
    strength: float = 0.4
    confidence: float = 0.3
    mask_blur: int = 4
    steps: int = 0
    guidance_scale: float | None = None
    scheduler: str | None = None
    seed: int | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.detector, str) or not self.detector or \
                len(self.detector.encode("utf-8", "surrogatepass")) > spec.MAX_STRING_BYTES:
            raise MetaError("a detailer stage needs its detector name (at most "
                            f"{spec.MAX_STRING_BYTES} bytes)", field="detailer.detector")
        _check_text(self.detector, "detailer.detector")
        self._check_pass_fields()
        object.__setattr__(self, "confidence", fraction(self.confidence,
                                                        "detailer.confidence"))
        _check_int(self.mask_blur, "detailer.mask_blur", 0, _MAX_MASK_BLUR)
        self._check_params()


@_register
@dataclass(frozen=True)
class UnknownStages(_StageBase):
    """The rest of a stage list from a kind this reader does not know: ``kind`` (its
    code) and ``data`` (the bytes after the kind code, to the end of the element), kept so
    a rewrite gives the same bytes. A file holding one cannot be rendered exactly."""

    name: ClassVar[str] = "unknown"
    _FIELDS: ClassVar[tuple] = ()

    kind: int
    data: bytes = b""

    def __post_init__(self) -> None:
        _check_int(self.kind, "unknown.kind", 0, 2**64 - 1)
        if self.kind in STAGE_KINDS:
            raise MetaError(f"stage kind {self.kind} is known ({STAGE_KINDS[self.kind].name})",
                            field="unknown.kind")
        if not isinstance(self.data, (bytes, bytearray, memoryview)):
            raise MetaError("data must be bytes", field="unknown.data")
        object.__setattr__(self, "data", bytes(self.data))

    def to_dict(self) -> dict:
        return {"kind": self.name, "code": self.kind, "data": self.data.hex()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "stage") -> "Stage":
        if set(d) - {"kind", "code", "data"}:
            raise MetaError("an unknown stage has only 'code' and 'data'", field=where)
        try:
            return cls(d["code"], bytes.fromhex(d.get("data", "")))
        except (KeyError, TypeError, ValueError) as e:
            raise MetaError(f"bad unknown stage: {e}", field=where) from None

    def effective(self, meta: Any) -> PassSettings:
        raise MetaError(f"unknown stage kind {self.kind}", field="unknown")


#: frozen kind code -> stage class
STAGE_KINDS: Mapping[int, type] = MappingProxyType(
    {c.kind: c for c in (Hires, Upscale, Img2Img, Refiner, ControlNet, Detailer)})
