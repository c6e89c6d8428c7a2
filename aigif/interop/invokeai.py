"""InvokeAI: 2.x ``sd-metadata`` JSON and ``Dream`` command line, 3+ ``invokeai_metadata``."""
from __future__ import annotations

import re
import shlex

from . import samplers as sampler_names
from ..errors import MetaError
from ..stages import Refiner
from ._common import Draft, make_lora, resolve_model, to_float, to_int, loads_json

__all__ = ["sd_metadata_to_draft", "dream_to_draft", "invokeai_metadata_to_draft"]

_BRACKET = re.compile(r"[\[\]]")
_BASES = {"sd-1": "sd", "sd-2": "sd", "sdxl": "sdxl", "sdxl-refiner": "sdxl", "sd-3": "sd3",
          "flux": "flux"}


def _prompt_text(p) -> str | None:
    if isinstance(p, str):
        return p
    if isinstance(p, list):
        parts = [x.get("prompt") for x in p
                 if isinstance(x, dict) and isinstance(x.get("prompt"), str)]
        if len(parts) == 1:
            return parts[0]
        if parts:
            return " ".join(f"{x['prompt']}:{x.get('weight', 1)}" for x in p if isinstance(x, dict))
    return None


def split_negative(prompt: str) -> tuple[str, str]:
    """InvokeAI 2.x puts the negative prompt in top-level square brackets:
    ``"a cat [blurry, dog]"`` -> ``("a cat", "blurry, dog")``. Brackets inside
    parentheses or nested ones stay in the prompt."""
    if "[" not in prompt:
        return prompt, ""
    # the "]" that closes each "[" (one pass with a stack; scanning forward from every "["
    # would be quadratic on a prompt of unclosed brackets)
    close: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACKET.finditer(prompt):
        if m.group() == "[":
            stack.append(m.start())
        elif stack:
            close[stack.pop()] = m.start()
    pos, neg = [], []
    depth_round = 0
    i, n = 0, len(prompt)
    while i < n:
        ch = prompt[i]
        if ch == "(":
            depth_round += 1
        elif ch == ")" and depth_round:
            depth_round -= 1
        if ch == "[" and depth_round == 0 and i in close:
            j = close[i] + 1
            neg.append(prompt[i + 1:j - 1].strip())
            i = j
            continue
        pos.append(ch)
        i += 1
    if not neg:
        return prompt, ""
    return " ".join("".join(pos).split()), ", ".join(x for x in neg if x)


def _set_prompt(d: Draft, text: str) -> None:
    p, neg = split_negative(text)
    d.set("prompt", p)
    if neg:
        d.set("negative_prompt", neg)


def _core(d: Draft, img: dict, *, keys: dict) -> None:
    for field_, names in keys.items():
        for n in names:
            if n in img:
                v = img[n]
                x = to_float(v) if field_ == "guidance_scale" else to_int(v)
                if x is not None and (field_ != "seed" or x >= 0):
                    d.set(field_, x)
                else:
                    d.keep(n, v)
                break


def sd_metadata_to_draft(text: str) -> Draft | None:
    """InvokeAI 2.x ``sd-metadata``."""
    try:
        j = loads_json(text)
    except ValueError:
        return None
    if not isinstance(j, dict):
        return None
    d = Draft()
    img = j.get("image") if isinstance(j.get("image"), dict) else {}
    p = _prompt_text(img.get("prompt"))
    if p is not None:
        _set_prompt(d, p)
    _core(d, img, keys={"steps": ("steps",), "guidance_scale": ("cfg_scale",),
                        "seed": ("seed",), "width": ("width",), "height": ("height",)})
    key = sampler_names.from_invokeai(img.get("sampler"))
    if key:
        d.set("scheduler", key)
    elif img.get("sampler") is not None:
        d.param("sampler", str(img["sampler"]))
    d.model, d.generator, d.model_revision = resolve_model(
        j.get("model_weights"), j.get("model_hash"), width=img.get("width") if isinstance(
            img.get("width"), int) else None, height=img.get("height") if isinstance(
            img.get("height"), int) else None)
    if isinstance(img.get("strength"), (int, float)) and img.get("type") == "img2img":
        d.param("denoise", float(img["strength"]))
    for k in ("threshold", "perlin"):
        if to_float(img.get(k)):
            d.param(k, to_float(img[k]))
    if img.get("seamless"):
        d.param("seamless", True)
    if img.get("hires_fix"):
        d.param("hires_fix", True)
    for k in ("postprocessing", "variations", "type", "init_image_path"):
        if img.get(k):
            d.keep(k, img[k])
    for k in ("model", "app_id", "app_version"):
        if k in j:
            d.keep(k, j[k])
    return d


_DREAM_FLAGS = {"-s": "steps", "--steps": "steps", "-S": "seed", "--seed": "seed",
                "-W": "width", "--width": "width", "-H": "height", "--height": "height",
                "-C": "guidance_scale", "--cfg_scale": "guidance_scale",
                "-A": "sampler", "--sampler": "sampler", "-f": "denoise", "--strength": "denoise"}


def dream_to_draft(text: str) -> Draft | None:
    """InvokeAI 2.x / lstein ``Dream`` command line: ``"prompt" -s 50 -S 42 -W 512 ...``."""
    try:
        toks = shlex.split(text)
    except ValueError:
        toks = text.split()
    if not toks:
        return None
    d = Draft()
    _set_prompt(d, toks[0])
    i = 1
    while i < len(toks):
        t = toks[i]
        name = _DREAM_FLAGS.get(t)
        vals = []
        j = i + 1
        while j < len(toks) and not (toks[j].startswith("-") and not _num(toks[j])):
            vals.append(toks[j])
            j += 1
        if name in ("steps", "seed", "width", "height") and vals:
            x = to_int(vals[0])
            d.set(name, x) if x is not None and x >= 0 else d.keep(t, " ".join(vals))
        elif name == "guidance_scale" and vals:
            x = to_float(vals[0])
            d.set(name, x) if x is not None else d.keep(t, vals[0])
        elif name == "sampler" and vals:
            key = sampler_names.from_invokeai(vals[0])
            d.set("scheduler", key) if key else d.param("sampler", vals[0])
        elif name == "denoise" and vals and to_float(vals[0]) is not None:
            d.param("denoise", to_float(vals[0]))
        else:
            d.keep(t, " ".join(vals) if vals else "true")
        i = j
    w, h = d.fields.get("width"), d.fields.get("height")
    d.model, d.generator, d.model_revision = resolve_model(None, None, width=w, height=h)
    return d


def _num(s: str) -> bool:
    return to_float(s) is not None


def invokeai_metadata_to_draft(text: str) -> Draft | None:
    """InvokeAI 3+ ``invokeai_metadata`` JSON."""
    try:
        j = loads_json(text)
    except ValueError:
        return None
    if not isinstance(j, dict):
        return None
    d = Draft()
    for src, dst in (("positive_prompt", "prompt"), ("negative_prompt", "negative_prompt")):
        if isinstance(j.get(src), str):
            d.set(dst, j[src])
    _core(d, j, keys={"steps": ("steps",), "guidance_scale": ("cfg_scale",), "seed": ("seed",),
                      "width": ("width",), "height": ("height",)})
    if to_int(j.get("clip_skip")):
        d.set("clip_skip", to_int(j["clip_skip"]))
    key = sampler_names.from_invokeai(j.get("scheduler"))
    if key:
        d.set("scheduler", key)
    elif j.get("scheduler") is not None:
        d.param("sampler", str(j["scheduler"]))
    m = j.get("model") if isinstance(j.get("model"), dict) else {}
    name = m.get("model_name") or m.get("name")
    base = m.get("base_model") or m.get("base")
    d.model, d.generator, d.model_revision = resolve_model(
        name, m.get("hash") if isinstance(m.get("hash"), str) and ":" not in m.get("hash", "")
        else None, width=d.fields.get("width"), height=d.fields.get("height"),
        hint=_BASES.get(base) if isinstance(base, str) else None)
    if isinstance(m.get("hash"), str) and ":" in m["hash"]:
        d.param("model_hash", m["hash"][:200])
    loras = []
    for lo in j.get("loras") or []:
        if not isinstance(lo, dict):
            continue
        lm = lo.get("lora") or lo.get("model") or {}
        if isinstance(lm, dict):
            x = make_lora(lm.get("model_name") or lm.get("name"), lo.get("weight", 1.0))
            if x is not None:
                loras.append(x)
    d.loras = loras
    typed = {"cfg_rescale_multiplier": ("cfg_rescale", float), "strength": ("denoise", float),
             "hrf_strength": ("hires_denoise", float), "hrf_method": ("hires_upscaler", str),
             "hrf_enabled": ("hires_fix", bool), "rand_device": ("rng", str),
             "positive_style_prompt": ("prompt_2", str),
             "negative_style_prompt": ("negative_prompt_2", str),
             "seamless_x": ("seamless_x", bool), "seamless_y": ("seamless_y", bool),
             "generation_mode": ("generation_mode", str)}
    for k, (pk, typ) in typed.items():
        v = j.get(k)
        if v is None or v == "":
            continue
        if typ is float and to_float(v) is not None:
            if k == "cfg_rescale_multiplier" and not to_float(v):
                continue
            d.param(pk, to_float(v))
        elif typ is bool and isinstance(v, bool):
            if v:
                d.param(pk, v)
        elif typ is str and isinstance(v, str):
            d.param(pk, v)
        else:
            d.keep(k, v)
    if isinstance(j.get("vae"), dict):
        vn = j["vae"].get("model_name") or j["vae"].get("name")
        if isinstance(vn, str):
            d.param("vae", vn)
    known = set(typed) | {"positive_prompt", "negative_prompt", "steps", "cfg_scale", "seed",
                          "width", "height", "clip_skip", "scheduler", "model", "loras", "vae"}
    for k, v in j.items():
        if k not in known:
            d.keep(k, v)
    _refiner_stage(d, j)
    return d


_REFINER = ("refiner_model", "refiner_start", "refiner_steps", "refiner_cfg_scale",
            "refiner_scheduler", "refiner_positive_aesthetic_score",
            "refiner_negative_aesthetic_score")


def _refiner_stage(d: Draft, j: dict) -> None:
    """InvokeAI's SDXL refiner (``refiner_model`` + ``refiner_start``...) as a Refiner
    stage. Its hires fix (``hrf_*``) stays in params: the metadata records the final size,
    and InvokeAI computes the first pass's size itself."""
    rm = j.get("refiner_model")
    start = to_float(j.get("refiner_start"))
    name = (rm.get("model_name") or rm.get("name")) if isinstance(rm, dict) else None
    if not isinstance(name, str) or not name or start is None:
        return
    kw: dict = {"model": resolve_model(name)[0], "switch": start}
    steps = to_int(j.get("refiner_steps"))
    if steps is not None and steps >= 0:
        kw["steps"] = steps
    if to_float(j.get("refiner_cfg_scale")) is not None:
        kw["guidance_scale"] = to_float(j["refiner_cfg_scale"])
    key = sampler_names.from_invokeai(j.get("refiner_scheduler"))
    if key:
        kw["scheduler"] = key
    for k, a in (("refiner_positive_aesthetic_score", "aesthetic_score"),
                 ("refiner_negative_aesthetic_score", "negative_aesthetic_score")):
        if to_float(j.get(k)) is not None:
            kw[a] = to_float(j[k])
    try:
        st = Refiner(**kw)
    except MetaError as e:
        d.keep("refiner stage", f"not typed: {e.message}")
        return
    d.stages.append(st)
    for k in _REFINER:
        if k != "refiner_scheduler" or key:
            d.unmapped.pop(k, None)
