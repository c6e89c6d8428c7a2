"""Fooocus: the JSON ``parameters`` of its "fooocus" metadata scheme (the "a1111" scheme
is an infotext, read by ``a1111``)."""
from __future__ import annotations

import re

from . import samplers as sampler_names
from ._common import Draft, make_lora, resolve_model, to_float, to_int, loads_json

__all__ = ["fooocus_to_draft", "is_fooocus_json"]


def is_fooocus_json(j: object) -> bool:
    return isinstance(j, dict) and ("base_model" in j or "metadata_scheme" in j or
                                    str(j.get("version", "")).lower().startswith("fooocus"))


def fooocus_to_draft(j: dict) -> Draft:
    d = Draft()
    for k in ("prompt", "negative_prompt"):
        if isinstance(j.get(k), str):
            d.set(k, j[k])
    x = to_int(j.get("steps"))
    d.set("steps", x)
    x = to_float(j.get("guidance_scale", j.get("cfg")))
    d.set("guidance_scale", x)
    x = to_int(j.get("seed"))
    if x is not None and x >= 0:
        d.set("seed", x)
    w = h = None
    res = j.get("resolution")
    if isinstance(res, str):
        m = re.match(r"^\(?\s*(\d+)\s*[,x×]\s*(\d+)\s*\)?$", res.strip())
        if m:
            w, h = int(m.group(1)), int(m.group(2))
    elif isinstance(res, list) and len(res) == 2:
        w, h = to_int(res[0]), to_int(res[1])
    if not (w and h):
        w, h = to_int(j.get("width")), to_int(j.get("height"))
    if w and h:
        d.set("width", w)
        d.set("height", h)
    cs = to_int(j.get("clip_skip"))
    if cs is not None and cs >= 1:
        d.set("clip_skip", cs - 1)  # Fooocus counts like A1111 (2 = penultimate layer)
    key = sampler_names.from_comfyui(j.get("sampler"), j.get("scheduler"))
    if key:
        d.set("scheduler", key)
    else:
        if j.get("sampler") is not None:
            d.param("sampler", str(j["sampler"]))
        if j.get("scheduler") is not None:
            d.param("schedule_type", str(j["scheduler"]))
    d.model, d.generator, d.model_revision = resolve_model(
        j.get("base_model"), j.get("base_model_hash"), width=w, height=h, hint="sdxl")
    loras = []
    for lo in j.get("loras") or []:
        if isinstance(lo, (list, tuple)) and lo:
            x = make_lora(lo[0], lo[1] if len(lo) > 1 else 1.0, None,
                          lo[2] if len(lo) > 2 else "")
        elif isinstance(lo, str) and " : " in lo:
            n, _, wt = lo.rpartition(" : ")
            x = make_lora(n, wt)
        else:
            x = None
        if x is not None:
            loras.append(x)
        else:
            d.keep("loras", j.get("loras"))
    d.loras = loras
    typed = {"sharpness": ("sharpness", float), "refiner_switch": ("refiner_switch", float),
             "refiner_model": ("refiner", str), "vae": ("vae", str),
             "adm_guidance": ("adm_guidance", str), "performance": ("performance", str),
             "styles": ("styles", str), "prompt_expansion": ("prompt_expansion", str),
             "adaptive_cfg": ("adaptive_cfg", float), "overwrite_switch": ("overwrite_switch", int),
             "refiner_swap_method": ("refiner_swap_method", str)}
    for k, (pk, typ) in typed.items():
        v = j.get(k)
        if v is None:
            continue
        if typ is float and to_float(v) is not None:
            d.param(pk, to_float(v))
        elif typ is int and to_int(v) is not None:
            d.param(pk, to_int(v))
        elif typ is str and isinstance(v, str):
            if v not in ("None", "Default (model)") or pk not in ("refiner", "vae"):
                d.param(pk, v)
        else:
            d.keep(k, v)
    known = set(typed) | {"prompt", "negative_prompt", "steps", "guidance_scale", "seed",
                          "resolution", "clip_skip", "sampler", "scheduler", "base_model",
                          "base_model_hash", "loras", "metadata_scheme", "version", "cfg",
                          "width", "height"}
    for k, v in j.items():
        if k not in known:
            d.keep(k, v)
    return d


def parse_json(text: str):
    try:
        return loads_json(text)
    except (ValueError, RecursionError):
        return None
