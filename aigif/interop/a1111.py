"""AUTOMATIC1111-family "infotext" (the PNG ``parameters`` text): parse and write.

The format, as A1111 writes it (``modules/processing.py: create_infotext``)::

    <prompt, may span lines>
    Negative prompt: <negative prompt, may span lines>
    Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x768,
    Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "a: 1f2e, b: 3c4d", ...

Values holding ``,`` ``:`` or newlines are JSON-quoted. Forge, reForge, SD.Next, Fooocus'
A1111 scheme and Civitai use the same layout with more keys. Extensions (Dynamic
Prompts) may append lines such as ``Template: ...`` after the parameter line.
"""
from __future__ import annotations

import json
import re
from typing import Any

from . import samplers as sampler_names
from ..meta import GenerationMeta
from ..registry import generators
from ._common import (Draft, loads_json, make_lora, model_hash, model_name, resolve_model,
                      to_float, to_int)
from .a1111_stages import draft_stages, stage_params

__all__ = ["parse_infotext", "infotext_to_draft", "meta_to_infotext", "detect_tool", "quote"]

# What a "key: value," item of the parameter line is. It used to be one regex,
#   \s*(\w[\w \-/+().\[\]]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)
# whose findall is quadratic on a long line without colons (every start position scans
# the rest of the key run). ``_count_params`` finds the same matches in linear time with
# these pieces, each of which matches from one position only and scans each character once.
_RE_WS = re.compile(r"\s*")
_RE_WORD = re.compile(r"\w")
_RE_KEY_RUN = re.compile(r"[\w \-/+().\[\]]*")
_RE_QUOTED = re.compile(r'"[^\\"]*(?:\\.[^\\"]*)*"')
_RE_STRING_BODY = re.compile(r'[^\\"]*(?:\\[\s\S][^\\"]*)*')
_RE_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
_NEG = "Negative prompt:"

# infotext key -> (params key, type); see docs/interop.md
PARAM_KEYS: dict[str, tuple[str, type]] = {
    "Denoising strength": ("denoise", float),
    "Hires upscale": ("hires_scale", float),
    "Hires steps": ("hires_steps", int),
    "Hires upscaler": ("hires_upscaler", str),
    "Hires resize": ("hires_resize", str),
    "Hires sampler": ("hires_sampler", str),
    "Hires schedule type": ("hires_schedule_type", str),
    "Hires CFG Scale": ("hires_cfg", float),
    "Hires Distilled CFG Scale": ("hires_distilled_guidance", float),
    "Hires prompt": ("hires_prompt", str),
    "Hires negative prompt": ("hires_negative_prompt", str),
    "Hires checkpoint": ("hires_checkpoint", str),
    "Hires Module 1": ("hires_module_1", str),
    "VAE": ("vae", str),
    "VAE hash": ("vae_hash", str),
    "ENSD": ("ensd", int),
    "Eta": ("eta", float),
    "Eta DDIM": ("eta_ddim", float),
    "Variation seed": ("variation_seed", int),
    "Variation seed strength": ("variation_strength", float),
    "Seed resize from": ("seed_resize_from", str),
    "RNG": ("rng", str),
    "Lora hashes": ("lora_hashes", str),
    "TI hashes": ("ti_hashes", str),
    "Hashes": ("hashes", str),
    "Distilled CFG Scale": ("distilled_guidance", float),
    "Image CFG scale": ("image_cfg", float),
    "Refiner": ("refiner", str),
    "Refiner switch at": ("refiner_switch", float),
    "NGMS": ("ngms", float),
    "Token merging ratio": ("tome_ratio", float),
    "Schedule max sigma": ("sigma_max", float),
    "Schedule min sigma": ("sigma_min", float),
    "Schedule rho": ("sigma_rho", float),
    "Noise multiplier": ("noise_multiplier", float),
    "Face restoration": ("face_restoration", str),
    "Emphasis": ("emphasis", str),
    "Tiling": ("tiling", bool),
    "Sampler options": ("sampler_options", str),
    "Shift": ("shift", float),
    "Batch size": ("batch_size", int),
    "Batch pos": ("batch_pos", int),
}
_PARAM_TO_KEY = {v[0]: k for k, v in PARAM_KEYS.items()}
_CORE_KEYS = {"Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model hash",
              "Model", "Clip skip", "Version", "Generator"}


_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _guess_value(v: str):
    x = to_int(v) if re.fullmatch(r"-?\d+", v.strip()) else None
    if x is not None:
        return x
    if re.fullmatch(r"-?(\d+\.\d*|\.\d+|\d+)(e[-+]?\d+)?", v.strip(), re.I):
        f = to_float(v)
        if f is not None:
            return f
    return {"True": True, "False": False}.get(v, v)


def _fmt_float(v: float) -> str:
    return f"{v:g}" if v == int(v) and abs(v) < 1e15 else repr(v)


def unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        try:
            out = loads_json(v)
            if isinstance(out, str):
                return out
        except ValueError:
            pass
    return v


def quote(text: str) -> str:
    """Quote a value the way A1111 does (JSON) when it holds ``,`` ``:`` or a newline;
    also when the reader would otherwise misread it (leading quote/brace, outer spaces)."""
    if "," not in text and "\n" not in text and ":" not in text and text == text.strip() \
            and not text.startswith(('"', "{", "[")) and "\r" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def parse_params_line(line: str) -> dict[str, str]:
    """``'Steps: 20, Sampler: Euler a, Lora hashes: "a: 1, b: 2"'`` -> ordered dict.

    Values may be JSON-quoted strings (A1111's ``quote``) or bare JSON objects/arrays
    (``Hashes: {...}`` as some tools write it); both keep their commas."""
    out: dict[str, str] = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " ,":
            i += 1
        j = line.find(":", i)
        if j < 0:
            break
        key = line[i:j].rsplit(",", 1)[-1].strip()
        k = j + 1
        while k < n and line[k] == " ":
            k += 1
        if k < n and line[k] == '"':
            end = _end_of_string(line, k)
            raw = line[k:end]
            val = unquote(raw)
        elif k < n and line[k] in "{[":
            end = _end_of_json(line, k)
            val = line[k:end]
        else:
            end = line.find(",", k)
            end = n if end < 0 else end
            val = line[k:end].strip()
        if key and _KEY_OK.match(key) and key not in out:
            out[key] = val
        i = end + 1 if end < n and line[end:end + 1] == "," else end
        if end == k and k >= n:
            break
    return out


_KEY_OK = re.compile(r"^\w[\w \-/+().\[\]']*$")


def _end_of_string(s: str, k: int) -> int:
    """End (after the closing quote) of the JSON-ish string opening at ``s[k]``; len(s)
    when it is not closed."""
    i = _RE_STRING_BODY.match(s, k + 1).end()
    return i + 1 if i < len(s) and s[i] == '"' else len(s)


def _end_of_json(s: str, k: int) -> int:
    depth, i = 0, k
    while i < len(s):
        c = s[i]
        if c == '"':
            i = _end_of_string(s, i)
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(s)


def _at_end(line: str, i: int) -> bool:
    """The regex ``$``: the end, or a final newline."""
    return i == len(line) or (i == len(line) - 1 and line[i] == "\n")


def _count_params(line: str, need: int = 3) -> int:
    """How many "key: value" items the old ``_RE_PARAM.findall`` found in ``line`` (at most
    ``need``), in linear time.

    A match starts where, after optional whitespace, a word character begins a run of key
    characters that ends at ``:``. When the run ends at anything else, every start inside
    the run fails the same way, so the scan resumes at the run's end instead of the next
    character. The value is a closed quoted string followed by ``,`` or the end, else
    everything up to the next comma.
    """
    n = len(line)
    p = count = 0
    while p < n:
        q = _RE_WS.match(line, p).end()
        if q >= n or not _RE_WORD.match(line, q):
            p = q + 1
            continue
        b = _RE_KEY_RUN.match(line, q + 1).end()
        if b >= n or line[b] != ":":
            p = max(b, p + 1)
            continue
        v = _RE_WS.match(line, b + 1).end()
        end = -1
        if v < n and line[v] == '"':
            m = _RE_QUOTED.match(line, v)
            if m is not None and (_at_end(line, m.end()) or line[m.end()] == ","):
                end = m.end() + (1 if m.end() < n and line[m.end()] == "," else 0)
        if end < 0:
            c = line.find(",", v)
            end = n if c < 0 else c + 1
        count += 1
        if count >= need:
            return count
        p = end
    return count


def _is_params_line(line: str) -> bool:
    return _count_params(line, 3) >= 3


def parse_infotext(text: str) -> tuple[str, str, dict[str, str], list[str]]:
    """(prompt, negative prompt, parameters, extra lines) of an infotext.

    The prompt and negative prompt keep their exact text (A1111's own parser strips each
    line; this one does not, so regeneration sees what was typed).
    """
    lines = text.split("\n")
    # CRLF line ends (Windows tools): only when every line break is one; then the "\r"
    # before "Negative prompt:" and before the parameter line is the separator's. A text
    # with plain "\n" breaks keeps a prompt's own trailing "\r" (prompts are byte-exact).
    crlf = len(lines) > 1 and all(ln.endswith("\r") for ln in lines[:-1])
    idx = None
    for i in range(len(lines) - 1, -1, -1):
        ln = lines[i].strip()
        if ln.startswith("Steps:") and _is_params_line(ln):
            idx = i
            break
    if idx is None and lines and _is_params_line(lines[-1]) and not lines[-1].startswith(_NEG):
        idx = len(lines) - 1
    if idx is None:
        head, params, extra = text, {}, []
    else:
        head = "\n".join(lines[:idx])
        if crlf and head.endswith("\r"):
            head = head[:-1]
        params = parse_params_line(lines[idx].strip())
        extra = [ln for ln in lines[idx + 1:] if ln.strip()]
    if head.startswith(_NEG):
        prompt, neg = "", head[len(_NEG):]
    else:
        pos = head.find("\n" + _NEG)
        if pos < 0:
            prompt, neg = head, None
        else:
            prompt, neg = head[:pos], head[pos + 1 + len(_NEG):]
            if crlf and prompt.endswith("\r"):
                prompt = prompt[:-1]
    if neg is not None and neg.startswith(" "):
        neg = neg[1:]
    return prompt, neg or "", params, extra


def _version_tuple(v: str | None) -> tuple[int, int] | None:
    if not v:
        return None
    m = re.search(r"v(\d+)\.(\d+)", v) or re.match(r"\s*(\d+)\.(\d+)", v)
    return (int(m.group(1)), int(m.group(2))) if m else None


def detect_tool(params: dict[str, str], extra: list[str] | None = None) -> str:
    """Which member of the A1111 family wrote an infotext."""
    version = params.get("Version", "")
    if "App" in params and "sd.next" in params["App"].lower() or "Backend" in params \
            or "Pipeline" in params or "Operations" in params:
        return "sdnext"
    if version.lower().startswith("fooocus"):
        return "fooocus"
    if re.match(r"^f\d", version):
        return "forge"
    if version.lower().startswith("comfyui"):
        return "comfyui"
    if "Civitai resources" in params or "Civitai metadata" in params:
        return "civitai"
    if "Created Date" in params and not version:
        return "civitai"
    if version.lower().startswith("swarm"):
        return "swarmui"
    return "a1111"


def infotext_to_draft(text: str) -> tuple[Draft, str, dict[str, str]]:
    """Parse an infotext into a Draft; also return the tool detected and the raw params."""
    prompt, neg, params, extra = parse_infotext(text)
    d = Draft()
    d.set("prompt", prompt)
    d.set("negative_prompt", neg)
    tool = detect_tool(params, extra)
    for k in ("Steps",):
        if k in params:
            v = to_int(params[k])
            d.set("steps", v) if v is not None else d.keep(k, params[k])
    if "CFG scale" in params:
        v = to_float(params["CFG scale"])
        d.set("guidance_scale", v) if v is not None else d.keep("CFG scale", params["CFG scale"])
    if "Seed" in params:
        v = to_int(params["Seed"])
        d.set("seed", v) if v is not None and v >= 0 else d.keep("Seed", params["Seed"])
    w = h = None
    if "Size" in params:
        m = _RE_SIZE.match(params["Size"])
        if m:
            w, h = int(m.group(1)), int(m.group(2))
            d.set("width", w)
            d.set("height", h)
        else:
            d.keep("Size", params["Size"])
    if "Clip skip" in params:
        v = to_int(params["Clip skip"])
        # A1111 "Clip skip: 2" = stop at the penultimate layer = diffusers clip_skip=1
        d.set("clip_skip", max(v - 1, 0)) if v is not None and v >= 1 else d.keep(
            "Clip skip", params["Clip skip"])
    # sampler
    sampler = params.get("Sampler")
    sched = params.get("Schedule type")
    version = params.get("Version")
    vt = _version_tuple(version)
    if sched is None and (tool == "forge" or (vt is not None and vt >= (1, 9))):
        sched = "Automatic"
    if sampler is not None:
        key = sampler_names.from_a1111(sampler, sched)
        if key is None and tool in ("sdnext", "fooocus", "swarmui", "civitai"):
            key = sampler_names.from_any(sampler, None if sched in (None, "Automatic", "Default")
                                      else sched.lower())
        if key is None:
            d.param("sampler", sampler)
            if params.get("Schedule type") is not None:
                d.param("schedule_type", params["Schedule type"])
        else:
            d.set("scheduler", key)
    # model
    mhash = params.get("Model hash")
    if mhash is None and "Hashes" in params:
        try:
            hj = loads_json(params["Hashes"])
            if isinstance(hj, dict) and isinstance(hj.get("model"), str):
                mhash = hj["model"]
        except ValueError:
            pass
    hint = _pipeline_hint(params)
    d.model, d.generator, d.model_revision = resolve_model(params.get("Model"), mhash,
                                                           width=w, height=h, hint=hint)
    flow = d.generator in ("flux", "sd3") or d.model.startswith(("flux", "sd3", "sd35"))
    if flow and isinstance(sampler, str) and sampler.strip().lower() in (
            "euler", "euler flowmatch", "flow match euler") and (sched or "automatic").lower() in (
            "automatic", "simple", "normal", "sgm uniform", "uniform", "default"):
        d.fields["scheduler"] = "flow_euler"
        d.params.pop("sampler", None)
        d.params.pop("schedule_type", None)
    if d.model.startswith("ckpt:") and d.model_revision and mhash and \
            d.model_revision != mhash.strip().lower():
        d.keep("Model hash", mhash)
    # typed extras
    for k, v in params.items():
        if k in _CORE_KEYS:
            continue
        spec_ = PARAM_KEYS.get(k)
        if spec_ is None and _SNAKE.match(k):
            # a params key written back by aigif's own exporter
            d.param(k, _guess_value(v))
            continue
        if spec_ is None:
            d.keep(k, v)
            continue
        pk, typ = spec_
        if typ is int:
            x = to_int(v)
        elif typ is float:
            x = to_float(v)
        elif typ is bool:
            x = {"true": True, "false": False}.get(v.strip().lower())
        else:
            x = v
        if x is None:
            d.keep(k, v)
        else:
            d.param(pk, x)
    for i, line in enumerate(extra):
        d.keep(f"line {i + 1}", line)
    draft_stages(d, params, parse_params_line)
    d.loras = prompt_loras(prompt, params.get("Lora hashes"))
    return d, tool, params


# <lora:name:weight> / <lyco:name:weight[:...]> prompt tags (the tags stay in the prompt)
_LORA_TAG = re.compile(r"<(?:lora|lyco):([^:<>\n]{1,255}):([^:<>\n]{0,32})(?::[^<>\n]{0,64})?>")
_MAX_TAGS = 64


def prompt_loras(prompt: str, hashes: str | None = None) -> list:
    """LoRAs of the ``<lora:name:weight>`` tags of a prompt (first tag of a name wins),
    with the short hashes of ``Lora hashes: "name: hash, ..."``."""
    sha: dict[str, str] = {}
    for item in (hashes or "").split(",")[:_MAX_TAGS * 2]:
        name, sep, h = item.rpartition(":")
        if sep and name.strip():
            sha.setdefault(name.strip(), h.strip())
    out, seen = [], set()
    for m in _LORA_TAG.finditer(prompt):
        name = m.group(1).strip()
        w = to_float(m.group(2)) if m.group(2).strip() else 1.0
        if name in seen or w is None:
            continue
        lo = make_lora(name, w, None, sha.get(name, ""))
        if lo is not None:
            seen.add(name)
            out.append(lo)
            if len(out) >= _MAX_TAGS:
                break
    return out


def _pipeline_hint(params: dict[str, str]) -> str | None:
    """Generator family from Forge/SD.Next keys (Distilled CFG, Pipeline class name)."""
    if params.get("Generator") in generators:   # written by aigif's own exporter
        return params["Generator"]
    if "Distilled CFG Scale" in params:
        return "flux"
    pipe = params.get("Pipeline", "")
    for needle, gen in (("Flux", "flux"), ("StableDiffusion3", "sd3"), ("XL", "sdxl"),
                        ("PixArtSigma", "pixart_sigma"), ("StableDiffusion", "sd")):
        if needle in pipe:
            return gen
    return None


def meta_to_infotext(meta: GenerationMeta, *, version: str | None = None) -> str:
    """An A1111 1.9+ infotext for a GenerationMeta (typed params written back under their
    A1111 names; LoRAs of ``meta.loras`` become ``<lora:name:weight>`` prompt tags)."""
    prompt = meta.prompt
    tagged = {m.group(1).strip() for m in _LORA_TAG.finditer(prompt)}
    for lo in meta.loras:
        tag = f"<lora:{lo.name}:{lo.weight:g}>"
        if lo.name not in tagged and tag not in prompt:
            prompt = f"{prompt}, {tag}" if prompt else tag
    out = [prompt]
    if meta.negative_prompt:
        out.append(f"{_NEG} {meta.negative_prompt}")
    p: list[tuple[str, Any]] = [("Steps", meta.steps)]
    pair = sampler_names.to_a1111(meta.scheduler)
    params = dict(meta.params)
    if pair is not None and "sampler" not in params:
        p += [("Sampler", pair[0]), ("Schedule type", pair[1])]
    else:
        p += [("Sampler", params.pop("sampler", meta.scheduler)),
              ("Schedule type", params.pop("schedule_type", None))]
    params.pop("sampler", None)
    params.pop("schedule_type", None)
    p += [("CFG scale", _fmt_float(meta.guidance_scale)), ("Seed", meta.seed),
          ("Size", f"{meta.width}x{meta.height}"), ("Model hash", model_hash(meta)),
          ("Model", model_name(meta))]
    if meta.clip_skip:
        p.append(("Clip skip", meta.clip_skip + 1))
    if meta.model.startswith("ckpt:") or "/" in meta.model:
        p.append(("Generator", meta.generator))   # A1111 does not say; keeps the family
    p += stage_params(meta)
    written = {k for k, _ in p}
    for k, v in params.items():
        name = _PARAM_TO_KEY.get(k, k)
        if name in written:
            continue
        if isinstance(v, bool):
            v = "True" if v else "False"
        elif isinstance(v, float):
            v = _fmt_float(v)
        elif isinstance(v, bytes):
            v = v.hex()
        p.append((name, v))
    p.append(("Version", version or "aigif"))
    line = ", ".join(f"{k}: {quote(str(v))}" for k, v in p if v is not None)
    out.append(line)
    return "\n".join(out)


def _strip_ext(name: str) -> str:
    return re.sub(r"\.(safetensors|ckpt|pt|pth|bin|gguf)$", "", name, flags=re.I)
