"""SwarmUI: ``{"sui_image_params": {...}, "sui_extra_data": {...}, "sui_models": [...]}``
in the PNG ``parameters`` text (or the JPEG/WebP EXIF UserComment)."""
from __future__ import annotations

from . import samplers as sampler_names
from ..errors import MetaError
from ..stages import Hires, Img2Img, Refiner
from ._common import Draft, make_lora, resolve_model, to_float, to_int
from ._upscalers import method_upscaler

__all__ = ["swarm_to_draft"]


def swarm_to_draft(j: dict) -> Draft:
    p = j.get("sui_image_params") if isinstance(j.get("sui_image_params"), dict) else {}
    d = Draft()
    if isinstance(p.get("prompt"), str):
        d.set("prompt", p["prompt"])
    if isinstance(p.get("negativeprompt"), str):
        d.set("negative_prompt", p["negativeprompt"])
    for k, f in (("steps", "steps"), ("width", "width"), ("height", "height")):
        x = to_int(p.get(k))
        d.set(f, x if x is not None and x > 0 else None)
    x = to_int(p.get("seed"))
    if x is not None and x >= 0:
        d.set("seed", x)
    if to_float(p.get("cfgscale")) is not None:
        d.set("guidance_scale", to_float(p["cfgscale"]))
    csl = to_int(p.get("clipstopatlayer"))
    if csl is not None and csl < 0:
        d.set("clip_skip", -csl - 1)
    sampler = p.get("sampler") or p.get("comfyuisampler")
    sched = p.get("scheduler") or p.get("comfyuischeduler")
    if not sampler and isinstance(p.get("autowebuisampler"), str):
        sampler = None
        key = sampler_names.from_a1111(p["autowebuisampler"])
        if key:
            d.set("scheduler", key)
    hint = None
    model = p.get("model")
    if isinstance(model, str) and "flux" in model.lower():
        hint = "flux"
    key = sampler_names.from_comfyui(sampler or "euler", sched or "normal",
                                  flow=hint == "flux") if sampler or sched else None
    if key:
        d.set("scheduler", key)
    elif "scheduler" in d.fields:
        pass
    else:
        if sampler is not None:
            d.param("sampler", str(sampler))
        if sched is not None:
            d.param("schedule_type", str(sched))
    mhash = None
    for m in j.get("sui_models") or []:
        if isinstance(m, dict) and m.get("param") == "model" and isinstance(m.get("hash"), str):
            mhash = m["hash"].removeprefix("0x")
    d.model, d.generator, d.model_revision = resolve_model(
        model, mhash, width=d.fields.get("width"), height=d.fields.get("height"), hint=hint)
    names = p.get("loras") if isinstance(p.get("loras"), list) else []
    weights = p.get("loraweights") if isinstance(p.get("loraweights"), list) else []
    loras = []
    for i, n in enumerate(names):
        x = make_lora(n, weights[i] if i < len(weights) else 1.0)
        if x is not None:
            loras.append(x)
    d.loras = loras
    typed = {"initimagecreativity": ("denoise", float), "refinerupscale": ("hires_scale", float),
             "refinersteps": ("hires_steps", int),
             "refinercontrolpercentage": ("hires_denoise", float),
             "refinermodel": ("hires_checkpoint", str), "vae": ("vae", str),
             "fluxguidancescale": ("distilled_guidance", float), "sigmashift": ("shift", float),
             "variationseed": ("variation_seed", int),
             "variationseedstrength": ("variation_strength", float),
             "aspectratio": ("aspect_ratio", str)}
    for k, (pk, typ) in typed.items():
        v = p.get(k)
        if v is None:
            continue
        x = to_float(v) if typ is float else to_int(v) if typ is int else (
            v if isinstance(v, str) else None)
        if x is None:
            d.keep(k, v)
        else:
            d.param(pk, x)
    known = set(typed) | {"prompt", "negativeprompt", "steps", "width", "height", "seed",
                          "cfgscale", "clipstopatlayer", "sampler", "scheduler", "model",
                          "loras", "loraweights", "comfyuisampler", "comfyuischeduler"}
    for k, v in p.items():
        if k not in known:
            d.keep(k, v)
    if "sui_extra_data" in j:
        d.keep("sui_extra_data", j["sui_extra_data"])
    _refiner_stage(d, p, flow=hint == "flux")
    return d


_REFINER_KEYS = ("refinercontrolpercentage", "refinermethod", "refinerupscale",
                 "refinerupscalemethod", "refinersteps", "refinercfgscale", "refinermodel",
                 "refinersampler", "refinerscheduler")


def _refiner_stage(d: Draft, p: dict, flow: bool) -> None:
    """SwarmUI's "Refine / Upscale" group: ``StepSwap`` hands the same schedule over to
    the refiner model (Refiner); ``PostApply`` (the default) re-noises the result by the
    control percentage, upscaled by ``refinerupscale`` (Hires) or not (Img2Img)."""
    pct = to_float(p.get("refinercontrolpercentage"))
    if pct is None or not 0 <= pct <= 1:
        return
    kw: dict = {}
    model = p.get("refinermodel")
    if isinstance(model, str) and model and model.lower() != "(none)":
        kw["model"] = resolve_model(model)[0]
    steps = to_int(p.get("refinersteps"))
    if steps is not None and steps >= 0:
        kw["steps"] = steps
    cfg = to_float(p.get("refinercfgscale"))
    if cfg is not None:
        kw["guidance_scale"] = cfg
    smp, sch = p.get("refinersampler"), p.get("refinerscheduler")
    if smp or sch:
        key = sampler_names.from_comfyui(smp or p.get("sampler") or "euler",
                                         sch or p.get("scheduler") or "normal", flow=flow)
        if key:
            kw["scheduler"] = key
    method = str(p.get("refinermethod") or "PostApply")
    up = to_float(p.get("refinerupscale"))
    try:
        if method.startswith("StepSwap"):
            kw.setdefault("model", d.model or "ckpt:unknown")
            st = Refiner(switch=1.0 - pct, params={"refinermethod": method} if method != "StepSwap"
                         else {}, **kw)
        elif up is not None and up != 1.0:
            um = str(p.get("refinerupscalemethod") or "pixel-lanczos")
            if um.startswith("model-"):
                kw["upscaler"], kw["upscaler_model"] = "model", "ckpt:" + um[6:]
            else:
                kind, _, m = um.partition("-")
                kw["upscaler"], extra = method_upscaler(m, kind == "latent")
                if extra:
                    kw["params"] = {"refinerupscalemethod": um}
            st = Hires(scale=up, strength=pct, **kw)
        else:
            st = Img2Img(strength=pct, **kw)
    except MetaError as e:
        d.keep("refiner stage", f"not typed: {e.message}")
        return
    d.stages.append(st)
    for k in _REFINER_KEYS:
        d.unmapped.pop(k, None)
    for k in ("hires_scale", "hires_steps", "hires_denoise", "hires_checkpoint"):
        d.params.pop(k, None)
