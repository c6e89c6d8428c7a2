"""Fallback for tools that store plain key/value pairs: one PNG text chunk per field
(Easy Diffusion) or a flat JSON object (Fooocus forks, Easy Diffusion's JSON, scripts).
Only well-known field names are mapped; everything else is kept verbatim."""
from __future__ import annotations

from typing import Any, Mapping

from . import samplers as sampler_names
from ._common import Draft, resolve_model, to_float, to_int

__all__ = ["fields_to_draft", "looks_like_fields"]

_ALIASES = {
    "prompt": ("prompt", "Prompt", "positive_prompt", "positive", "text_prompt", "c"),
    "negative_prompt": ("negative_prompt", "Negative", "negative", "negativeprompt",
                        "Negative prompt", "Negative Prompt", "negative prompt", "uc"),
    "seed": ("seed", "Seed", "noise_seed"),
    "steps": ("steps", "Steps", "num_inference_steps", "sampling_steps"),
    "guidance_scale": ("guidance_scale", "Guidance Scale", "cfg", "cfg_scale", "CFG scale",
                       "cfgscale", "scale", "guidance"),
    "size": ("size", "Size", "resolution"),
    "width": ("width", "Width", "W"),
    "height": ("height", "Height", "H"),
    "sampler": ("sampler", "sampler_name", "Sampler", "scheduler_name"),
    "scheduler": ("scheduler", "Scheduler", "schedule_type", "Schedule type"),
    "model": ("model", "Model", "base_model", "base_model_name", "use_stable_diffusion_model",
              "Stable Diffusion model",
              "model_name", "checkpoint", "ckpt_name", "sd_model_name"),
    "clip_skip": ("clip_skip", "Clip skip", "Clip Skip"),
}

_ALIASES_FLAT = {n for names in _ALIASES.values() for n in names}


def _pick(d: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any] | None:
    for n in names:
        if n in d and d[n] not in (None, ""):
            return n, d[n]
    return None


def tool_name(d: Mapping[str, Any], default: str) -> str:
    if any(k in d for k in ("use_stable_diffusion_model", "Stable Diffusion model",
                            "num_inference_steps", "use_vae_model")):
        return "easydiffusion"
    if "c" in d and "uc" in d:
        return "drawthings"
    return default


def looks_like_fields(d: Mapping[str, Any]) -> bool:
    """At least a prompt and two generation parameters under well-known names."""
    if _pick(d, _ALIASES["prompt"]) is None:
        return False
    hits = sum(1 for k in ("seed", "steps", "guidance_scale", "sampler", "model", "size")
               if _pick(d, _ALIASES[k]) is not None)
    return hits >= 2


def fields_to_draft(d: Mapping[str, Any]) -> Draft:
    out = Draft()
    used = set()
    for f in ("prompt", "negative_prompt"):
        hit = _pick(d, _ALIASES[f])
        if hit and isinstance(hit[1], str):
            out.set(f, hit[1])
            used.add(hit[0])
    for f in ("seed", "steps", "width", "height"):
        hit = _pick(d, _ALIASES[f])
        if hit:
            x = to_int(hit[1])
            if x is not None and x >= 0:
                out.set(f, x)
                used.add(hit[0])
    hit = _pick(d, _ALIASES["size"])
    if hit and isinstance(hit[1], str) and "width" not in out.fields:
        import re
        m = re.match(r"^\(?\s*(\d+)\s*[x×,]\s*(\d+)\s*\)?$", hit[1].strip())
        if m:
            out.set("width", int(m.group(1)))
            out.set("height", int(m.group(2)))
            used.add(hit[0])
    hit = _pick(d, _ALIASES["guidance_scale"])
    if hit and to_float(hit[1]) is not None:
        out.set("guidance_scale", to_float(hit[1]))
        used.add(hit[0])
    hit = _pick(d, _ALIASES["clip_skip"])
    if hit and str(hit[1]).lower() in ("true", "false"):
        # Easy Diffusion: a checkbox that skips the last CLIP layer
        out.set("clip_skip", 1 if str(hit[1]).lower() == "true" else 0)
        used.add(hit[0])
    elif hit and to_int(hit[1]) is not None and to_int(hit[1]) >= 1:
        out.set("clip_skip", to_int(hit[1]) - 1)
        used.add(hit[0])
    s = _pick(d, _ALIASES["sampler"])
    sc = _pick(d, _ALIASES["scheduler"])
    sname = str(s[1]) if s else None
    scname = str(sc[1]) if sc else None
    key = sampler_names.from_any(sname, scname) if sname else None
    if key:
        out.set("scheduler", key)
        used.update(x[0] for x in (s, sc) if x)
    m = _pick(d, _ALIASES["model"])
    name = m[1] if m and isinstance(m[1], str) else None
    if m:
        used.add(m[0])
    out.model, out.generator, out.model_revision = resolve_model(
        name, None, width=out.fields.get("width"), height=out.fields.get("height"))
    for k, v in d.items():
        if k not in used:
            out.keep(str(k), v)
    return out


# --------------------------------------------------------------------------- descriptions
#: Midjourney / niji・journey parameter flags (``--ar 16:9 --seed 1 --v 6.1``)
_MJ_FLAGS = {"ar", "aspect", "v", "version", "niji", "seed", "sameseed", "no", "s", "stylize",
             "c", "chaos", "q", "quality", "style", "w", "weird", "tile", "iw", "sref", "cref",
             "cw", "sw", "sv", "p", "profile", "personalize", "raw", "r", "repeat", "stop",
             "turbo", "relax", "fast", "draft", "exp", "oref", "ow", "video", "hd", "test",
             "testp", "creative", "upbeta", "uplight"}
_JOB_ID = "Job ID:"


def description_flags(text: str) -> tuple[str, list[tuple[str, str]], str] | None:
    """(prompt, [(flag, value)], job id) of a Midjourney-style description
    (``"<prompt> --ar 3:2 --seed 7 --v 6.1 Job ID: <uuid>"``), or None when the text has
    neither a known ``--flag`` nor a job id. Linear: one split on ``" --"``."""
    body, sep, job = text.partition(_JOB_ID)
    job = job.strip() if sep else ""
    if sep and body.endswith(" "):
        body = body[:-1]
    parts = body.split(" --")
    flags: list[tuple[str, str]] = []
    k = len(parts)
    for i in range(1, len(parts)):
        name, _, value = parts[i].partition(" ")
        if name.lower() not in _MJ_FLAGS:
            continue
        k = min(k, i)
    if k == len(parts) and not sep:
        return None
    prompt = " --".join(parts[:k])
    for part in parts[k:]:
        name, _, value = part.partition(" ")
        flags.append((name.lower(), value.strip()))
    return prompt, flags, job


def description_to_draft(text: str) -> Draft | None:
    """A Draft from a Midjourney-style description, or None (see ``description_flags``):
    the prompt as typed, ``--seed`` -> seed, ``--no`` -> negative prompt, ``--ar`` ->
    ``params["aspect_ratio"]``; the other flags and the job id stay in ``unmapped``."""
    got = description_flags(text)
    if got is None:
        return None
    prompt, flags, job = got
    d = Draft()
    d.set("prompt", prompt)
    for name, value in flags:
        if name in ("seed", "sameseed") and to_int(value) is not None and to_int(value) >= 0 \
                and "seed" not in d.fields:
            d.set("seed", to_int(value))
        elif name == "no" and "negative_prompt" not in d.fields:
            d.set("negative_prompt", value)
        elif name in ("ar", "aspect") and value:
            d.param("aspect_ratio", value)
        else:
            d.keep("--" + name, value or "true")
    if job:
        d.keep("job_id", job)
    d.model, d.generator, d.model_revision = resolve_model("midjourney")
    return d
