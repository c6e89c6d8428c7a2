"""Later passes of an A1111-family infotext <-> typed stages (``aigif.stages``).

The core fields of an infotext are its first pass. What ran after it is spelled in keys
of the parameter line:

* hires fix: ``Hires upscale`` (scale) or ``Hires resize: WxH`` (size), ``Hires steps``
  (0 = the first pass's), ``Hires upscaler``, ``Denoising strength``, ``Hires CFG Scale``,
  ``Hires prompt`` / ``Hires negative prompt``, ``Hires sampler`` / ``Hires schedule type``,
  ``Hires checkpoint``; SD.Next ``Second pass`` / ``Hires scale`` / ``Hires strength``;
* SDXL refiner: ``Refiner: name [hash]``, ``Refiner switch at``;
* ControlNet units: ``ControlNet 0: "Module: canny, Model: name [hash], Weight: 1, ..."``;
* ADetailer: ``ADetailer model``, ``ADetailer confidence``... (later units suffixed
  `` 2nd``, `` 3rd``...).

Stages are listed in execution order: ControlNets of the first pass, the refiner (it
finishes the first pass), the hires fix, the detailers. Keys mapped to a stage leave
``params``/``unmapped``; the verbatim infotext keeps them all.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from . import samplers as sampler_names
from ..errors import MetaError
from ..meta import GenerationMeta
from ..stages import ControlNet, Detailer, Hires, Refiner
from ._common import Draft, to_float, to_int

__all__ = ["UPSCALER_NAMES", "upscaler_of", "upscaler_name", "draft_stages", "stage_params"]

#: A1111 "Hires upscaler" names with their own upscaler code
UPSCALER_NAMES: dict[str, str] = {
    "Latent": "latent", "Latent (antialiased)": "latent-antialiased",
    "Latent (bicubic)": "latent-bicubic",
    "Latent (bicubic antialiased)": "latent-bicubic-antialiased",
    "Latent (nearest)": "latent-nearest", "Latent (nearest-exact)": "latent-nearest-exact",
    "Lanczos": "lanczos", "Nearest": "nearest",
}
_UPSCALER_LABEL = {v: k for k, v in UPSCALER_NAMES.items()}
_SIZE = re.compile(r"^\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*$")
_ORDINALS = (" 2nd", " 3rd") + tuple(f" {i}th" for i in range(4, 10))
_HIRES_KEYS = ("Hires upscale", "Hires resize", "Hires steps", "Hires upscaler",
               "Hires sampler", "Hires schedule type", "Hires CFG Scale", "Hires prompt",
               "Hires negative prompt", "Hires checkpoint", "Hires scale", "Hires strength",
               "Second pass")
_HIRES_PARAMS = ("hires_scale", "hires_steps", "hires_upscaler", "hires_resize",
                 "hires_sampler", "hires_schedule_type", "hires_cfg", "hires_prompt",
                 "hires_negative_prompt", "hires_checkpoint")
# ADetailer keys with a typed field (the rest of a unit goes to the stage's params)
_AD_TYPED = ("model", "confidence", "mask blur", "denoising strength", "prompt",
             "negative prompt", "steps", "CFG scale", "checkpoint", "sampler", "scheduler",
             "use separate steps", "use separate CFG scale", "use separate checkpoint",
             "use separate sampler")


def upscaler_of(name: str) -> tuple[str, str | None, dict]:
    """(upscaler key, upscaler model, extra params) of an A1111 upscaler name: Latent
    variants and Lanczos/Nearest have codes, ``None`` is a plain Lanczos resize, any other
    name is an upscaler network known by that name."""
    name = name.strip()
    if name in UPSCALER_NAMES:
        return UPSCALER_NAMES[name], None, {}
    if name.lower() == "none":
        return "lanczos", None, {"upscaler": name}
    return "model", "ckpt:" + name, {}


def upscaler_name(st: Any) -> str:
    """The A1111 name of a stage's upscaler (inverse of ``upscaler_of``)."""
    if isinstance(st.params.get("upscaler"), str):
        return st.params["upscaler"]
    if st.upscaler == "model":
        m = st.upscaler_model or ""
        return m[5:] if m.startswith("ckpt:") else m
    return _UPSCALER_LABEL.get(st.upscaler, st.upscaler)


def _ckpt(name: str) -> str:
    return "ckpt:" + name.strip()


def _scheduler(sampler: str | None, sched: str | None, params: dict, prefix: str
               ) -> str | None:
    key = sampler_names.from_a1111(sampler, sched) if sampler else None
    if key is None and sampler:
        params[f"{prefix}sampler"] = sampler
        if sched:
            params[f"{prefix}schedule_type"] = sched
    return key


def _stage(d: Draft, what: str, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except (MetaError, TypeError, ValueError) as e:
        d.keep(f"{what} stage", f"not typed: {getattr(e, 'message', e)}")
        return None


def draft_stages(d: Draft, params: dict[str, str], parse_line: Callable[[str], dict]) -> None:
    """Add the stages an infotext's parameters describe to ``d``; the keys they hold leave
    ``d.params`` / ``d.unmapped``. ``parse_line`` parses a ``"key: value, ..."`` text
    (a ControlNet unit)."""
    stages: list = []
    taken: set[str] = set()
    sampler, sched = params.get("Sampler"), params.get("Schedule type")
    # ControlNet units of the first pass
    for k in sorted((k for k in params if k.startswith("ControlNet ")), key=_unit_order):
        st = _controlnet(d, params[k], parse_line)
        if st is not None:
            stages.append(st)
            taken.add(k)
    # refiner
    if params.get("Refiner"):
        sw = to_float(params.get("Refiner switch at", "0.8"))
        st = _stage(d, "refiner", lambda: Refiner(model=_ckpt(params["Refiner"]),
                                                  switch=0.8 if sw is None else sw))
        if st is not None:
            stages.append(st)
            taken |= {"Refiner", "Refiner switch at"}
    # hires fix
    hires = [k for k in _HIRES_KEYS if k in params]
    if hires and params.get("Second pass", "True") != "False":
        st = _hires(d, params, sampler, sched)
        if st is not None:
            stages.append(st)
            taken |= set(hires) | {"Denoising strength"}
    # ADetailer
    for suffix in ("",) + _ORDINALS:
        if f"ADetailer model{suffix}" not in params:
            continue
        st, keys = _adetailer(d, params, suffix, sampler, sched)
        if st is not None:
            stages.append(st)
            taken |= keys
    if not stages:
        return
    d.stages.extend(stages)
    from_params = {"Denoising strength": "denoise", "Refiner": "refiner",
                   "Refiner switch at": "refiner_switch", "Hires upscale": "hires_scale",
                   "Hires steps": "hires_steps", "Hires upscaler": "hires_upscaler",
                   "Hires resize": "hires_resize", "Hires sampler": "hires_sampler",
                   "Hires schedule type": "hires_schedule_type", "Hires CFG Scale": "hires_cfg",
                   "Hires prompt": "hires_prompt",
                   "Hires negative prompt": "hires_negative_prompt",
                   "Hires checkpoint": "hires_checkpoint"}
    for k in taken:
        d.unmapped.pop(k, None)
        if k in from_params:
            d.params.pop(from_params[k], None)


def _unit_order(k: str) -> tuple:
    n = k[len("ControlNet "):].strip()
    return (0, int(n)) if n.isdigit() and len(n) < 6 else (1, n)


def _hires(d: Draft, params: dict[str, str], sampler: str | None, sched: str | None) -> Any:
    kw: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    m = _SIZE.match(params.get("Hires resize", ""))
    w, h = d.fields.get("width"), d.fields.get("height")
    if m:
        x, y = int(m.group(1)), int(m.group(2))
        if (x == 0 or y == 0) and w and h and (x or y):   # one side 0: keep the aspect ratio
            x, y = (x, x * h // w) if y == 0 else (y * w // h, y)
        if x and y:
            kw["size"] = (x, y)
        else:
            extra["resize"] = params["Hires resize"]
    if "size" not in kw:
        scale = to_float(params.get("Hires upscale", params.get("Hires scale")))
        if scale is not None:
            kw["scale"] = scale
        elif m is None and "Size-1" in params and "Size-2" in params:   # SD.Next target
            x, y = to_int(params["Size-1"]), to_int(params["Size-2"])
            if x and y:
                kw["size"] = (x, y)
    up = params.get("Hires upscaler")
    if up:
        kw["upscaler"], kw["upscaler_model"], more = upscaler_of(up)
        extra.update(more)
    strength = to_float(params.get("Denoising strength", params.get("Hires strength")))
    if strength is not None:
        kw["strength"] = strength
    steps = to_int(params.get("Hires steps"))
    if steps is not None and steps >= 0:
        kw["steps"] = steps
    cfg = to_float(params.get("Hires CFG Scale"))
    if cfg is not None:
        kw["guidance_scale"] = cfg
    if "Hires prompt" in params:
        kw["prompt"] = params["Hires prompt"]
    if "Hires negative prompt" in params:
        kw["negative_prompt"] = params["Hires negative prompt"]
    if "Hires sampler" in params or "Hires schedule type" in params:
        key = _scheduler(params.get("Hires sampler", sampler),
                         params.get("Hires schedule type", sched), extra, "")
        if key is not None:
            kw["scheduler"] = key
    if params.get("Hires checkpoint") and params["Hires checkpoint"] != "Use same checkpoint":
        kw["model"] = _ckpt(params["Hires checkpoint"])
    for k in ("Hires Distilled CFG Scale", "Hires Module 1", "Hires force"):
        if k in params:
            extra[k] = params[k]
            d.params.pop({"Hires Distilled CFG Scale": "hires_distilled_guidance",
                          "Hires Module 1": "hires_module_1"}.get(k, ""), None)
            d.unmapped.pop(k, None)
    if extra:
        kw["params"] = extra
    return _stage(d, "hires", lambda: Hires(**kw))


def _controlnet(d: Draft, text: str, parse_line: Callable[[str], dict]) -> Any:
    unit = parse_line(text)
    model = unit.get("Model")
    if not model or model.lower() == "none":
        return None
    kw: dict[str, Any] = {"model": _ckpt(model)}
    extra: dict[str, Any] = {}
    for key, attr in (("Weight", "scale"), ("Guidance Start", "start"),
                      ("Guidance End", "end")):
        v = to_float(unit.get(key))
        if v is not None:
            kw[attr] = v
        elif key in unit:
            extra[key] = unit[key]
    module = unit.get("Module", unit.get("Preprocessor"))
    if module and module.lower() != "none":
        extra["preprocessor"] = module
    for k, v in unit.items():
        if k not in ("Model", "Weight", "Guidance Start", "Guidance End", "Module",
                     "Preprocessor"):
            extra[k] = v
    kw["params"] = extra
    return _stage(d, "controlnet", lambda: ControlNet(**kw))


def _adetailer(d: Draft, params: dict[str, str], suffix: str, sampler: str | None,
               sched: str | None) -> tuple[Any, set]:
    def get(name: str) -> str | None:
        return params.get(f"ADetailer {name}{suffix}")

    keys = {k for k in params if k.startswith("ADetailer ") and
            (k.endswith(suffix) if suffix else not k.endswith(_ORDINALS))
            and k != "ADetailer version"}
    kw: dict[str, Any] = {"detector": get("model")}
    extra: dict[str, Any] = {}
    for name, attr, conv in (("confidence", "confidence", to_float),
                             ("mask blur", "mask_blur", to_int),
                             ("denoising strength", "strength", to_float)):
        v = conv(get(name)) if get(name) is not None else None
        if v is not None:
            kw[attr] = v
        elif get(name) is not None:
            extra[name] = get(name)
    if get("prompt") is not None:
        kw["prompt"] = get("prompt")
    if get("negative prompt") is not None:
        kw["negative_prompt"] = get("negative prompt")
    steps = to_int(get("steps"))
    if steps is not None and steps >= 0:
        kw["steps"] = steps
    cfg = to_float(get("CFG scale"))
    if cfg is not None:
        kw["guidance_scale"] = cfg
    if get("checkpoint") and get("checkpoint") != "Use same checkpoint":
        kw["model"] = _ckpt(get("checkpoint"))
    if get("sampler") is not None:
        key = _scheduler(get("sampler"), get("scheduler") or sched, extra, "")
        if key is not None:
            kw["scheduler"] = key
    for k in sorted(keys):
        name = k[len("ADetailer "):len(k) - len(suffix)]
        if name not in _AD_TYPED:
            extra[name] = params[k]
        elif name.startswith("use separate"):
            extra[name] = params[k]
    if extra:
        kw["params"] = extra
    return _stage(d, "detailer", lambda: Detailer(**kw)), keys


# --------------------------------------------------------------------------- export
def _num(v: float) -> str:
    return f"{v:g}" if v == int(v) and abs(v) < 1e15 else repr(v)


def _name(model: str) -> str:
    return model[5:] if model.startswith("ckpt:") else model


def stage_params(meta: GenerationMeta) -> list[tuple[str, Any]]:
    """The infotext keys of ``meta.stages`` (inverse of ``draft_stages``)."""
    out: list[tuple[str, Any]] = []
    cn = ad = 0
    for st in meta.stages:
        if st.name == "controlnet":
            unit = [("Module", st.params.get("preprocessor", "none")),
                    ("Model", _name(st.model)), ("Weight", _num(st.scale)),
                    ("Guidance Start", _num(st.start)), ("Guidance End", _num(st.end))]
            unit += [(k, v) for k, v in st.params.items() if k != "preprocessor"]
            out.append((f"ControlNet {cn}", ", ".join(f"{k}: {v}" for k, v in unit)))
            cn += 1
        elif st.name == "refiner":
            out += [("Refiner", _name(st.model)), ("Refiner switch at", _num(st.switch))]
        elif st.name == "hires":
            out += _hires_params(meta, st)
        elif st.name == "detailer":
            sfx = "" if ad == 0 else _ORDINALS[ad - 1] if ad <= len(_ORDINALS) else f" {ad + 1}th"
            ad += 1
            p = dict(st.params)
            out += [(f"ADetailer model{sfx}", st.detector),
                    (f"ADetailer confidence{sfx}", _num(st.confidence)),
                    (f"ADetailer mask blur{sfx}", st.mask_blur),
                    (f"ADetailer denoising strength{sfx}", _num(st.strength))]
            if st.prompt is not None:
                out += [(f"ADetailer prompt{sfx}", st.prompt),
                        (f"ADetailer negative prompt{sfx}", st.negative_prompt)]
            if st.steps:
                out.append((f"ADetailer steps{sfx}", st.steps))
            if st.guidance_scale is not None:
                out.append((f"ADetailer CFG scale{sfx}", _num(st.guidance_scale)))
            if st.model is not None:
                out.append((f"ADetailer checkpoint{sfx}", _name(st.model)))
            if st.scheduler is not None:
                pair = sampler_names.to_a1111(st.scheduler)
                if pair is not None:
                    out += [(f"ADetailer sampler{sfx}", pair[0]),
                            (f"ADetailer scheduler{sfx}", pair[1])]
            elif "sampler" in p:
                out.append((f"ADetailer sampler{sfx}", p.pop("sampler")))
            for k, v in p.items():
                out.append((f"ADetailer {k}{sfx}", v))
    return out


def _hires_params(meta: GenerationMeta, st: Any) -> list[tuple[str, Any]]:
    p = dict(st.params)
    out: list[tuple[str, Any]] = [("Denoising strength", _num(st.strength))]
    if st.size is not None:
        out.append(("Hires resize", f"{st.size[0]}x{st.size[1]}"))
    else:
        out.append(("Hires upscale", _num(st.scale)))
    out += [("Hires steps", st.steps), ("Hires upscaler", upscaler_name(st))]
    p.pop("upscaler", None)
    if st.guidance_scale is not None:
        out.append(("Hires CFG Scale", _num(st.guidance_scale)))
    if st.prompt is not None:
        out += [("Hires prompt", st.prompt), ("Hires negative prompt", st.negative_prompt)]
    if st.scheduler is not None:
        pair = sampler_names.to_a1111(st.scheduler)
        if pair is not None:
            out += [("Hires sampler", pair[0]), ("Hires schedule type", pair[1])]
    elif "sampler" in p:
        out.append(("Hires sampler", p.pop("sampler")))
        if "schedule_type" in p:
            out.append(("Hires schedule type", p.pop("schedule_type")))
    if st.model is not None:
        out.append(("Hires checkpoint", _name(st.model)))
    for k, v in p.items():
        out.append((k, v))
    return out
