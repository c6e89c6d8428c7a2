"""NovelAI: ``Description`` (prompt), ``Software``, ``Source`` (model), ``Comment`` JSON;
the same keys inside alpha-channel stealth data (``stealth_pngcomp``)."""
from __future__ import annotations


from .. import spec
from . import samplers as sampler_names
from ._common import Draft, to_float, to_int, loads_json

__all__ = ["novelai_to_draft"]


def novelai_to_draft(description: str | None, source: str | None, comment: str) -> Draft | None:
    try:
        j = loads_json(comment)
    except ValueError:
        return None
    if not isinstance(j, dict):
        return None
    d = Draft()
    # the flat "prompt"/"uc" first; V4 files may carry only the base caption of
    # "v4_prompt"/"v4_negative_prompt" (character captions stay in unmapped); the PNG
    # Description (the prompt NovelAI shows) last
    prompt = _first_text(j.get("prompt"), _base_caption(j.get("v4_prompt")), description)
    if prompt is not None:
        d.set("prompt", prompt)
    neg = _first_text(j.get("uc"), _base_caption(j.get("v4_negative_prompt")))
    if neg is not None:
        d.set("negative_prompt", neg)
    for k, f in (("steps", "steps"), ("seed", "seed"), ("width", "width"), ("height", "height")):
        x = to_int(j.get(k))
        if x is not None and x >= 0:
            d.set(f, x)
        elif k in j:
            d.keep(k, j[k])
    if to_float(j.get("scale")) is not None:
        d.set("guidance_scale", to_float(j["scale"]))
    key = sampler_names.from_novelai(j.get("sampler"), j.get("noise_schedule"))
    if key:
        d.set("scheduler", key)
    elif j.get("sampler") is not None:
        d.param("sampler", str(j["sampler"]))
        if j.get("noise_schedule") is not None:
            d.param("schedule_type", str(j["noise_schedule"]))
    src = (source or "NovelAI").strip() or "NovelAI"
    d.model = "ckpt:" + src[: spec.MAX_STRING_BYTES - 8]
    low = src.lower()
    # NAI v1 ("Stable Diffusion 1D44365E") is SD 1.x based; v3 ("Stable Diffusion XL ...")
    # SDXL based; V4 has its own architecture (recorded as sdxl, the nearest family).
    d.generator = "sd" if ("stable diffusion" in low and "xl" not in low) else "sdxl"
    typed = {"strength": ("denoise", float), "noise": ("noise", float),
             "cfg_rescale": ("cfg_rescale", float), "uncond_scale": ("uncond_scale", float),
             "sm": ("smea", bool), "sm_dyn": ("smea_dyn", bool)}
    for k, (pk, typ) in typed.items():
        if k not in j:
            continue
        v = j[k]
        if typ is float and to_float(v) is not None:
            d.param(pk, to_float(v))
        elif typ is bool and isinstance(v, bool):
            d.param(pk, v)
        else:
            d.keep(k, v)
    known = set(typed) | {"prompt", "uc", "steps", "seed", "width", "height", "scale",
                          "sampler", "noise_schedule"}
    for k, v in j.items():
        if k not in known:
            d.keep(k, v)
    return d


def _base_caption(v) -> str | None:
    """``v4_prompt.caption.base_caption`` (NovelAI V4/V4.5), or None."""
    cap = v.get("caption") if isinstance(v, dict) else None
    base = cap.get("base_caption") if isinstance(cap, dict) else None
    return base if isinstance(base, str) else None


def _first_text(*vals) -> str | None:
    """The first non-empty string (else the first string, else None)."""
    strs = [v for v in vals if isinstance(v, str)]
    return next((v for v in strs if v), strs[0] if strs else None)
