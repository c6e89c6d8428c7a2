"""Shared pieces of the importers: the result object, safe value conversion, building a
GenerationMeta that never fails on one bad field, and naming the model."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .. import spec
from ..document import AigifFile
from ..errors import ImportMetadataError, MetaError
from ..meta import GenerationMeta, Lora
from ..registry import generators
from ..video import Video

__all__ = ["ImportResult", "Draft", "to_int", "to_float", "resolve_model", "guess_generator",
           "make_lora"]


@dataclass
class ImportResult:
    """What ``aigif.interop.read`` found in one image.

    ``tool``: the tool detected (``"a1111"``, ``"forge"``, ``"sdnext"``, ``"comfyui"``,
    ``"invokeai"``, ``"novelai"``, ``"fooocus"``, ``"swarmui"``, ``"civitai"``...);
    ``meta``: the typed GenerationMeta; ``unmapped``: field name -> verbatim value of what
    had no typed home (it stays in ``source`` too); ``source``: the verbatim metadata
    texts, keyed by their chunk keyword, plus ``"tool"`` and ``"container"`` (how they
    were stored, so export writes them back byte for byte); ``info``: software, version;
    ``warnings``: damage found on the way (truncated chunks...), and values the typed
    meta holds only approximately (a per-step LoRA strength rendered as one weight).
    """

    tool: str
    meta: GenerationMeta
    unmapped: dict[str, str] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    image_size: tuple[int, int] | None = None
    #: how many of seed/steps/guidance/scheduler/size/clip skip the import set
    core_set: int = 0

    @property
    def mapped_count(self) -> int:
        """How many typed fields the import filled (core fields set + params + LoRAs)."""
        m = self.meta
        n = sum(1 for name in ("prompt", "negative_prompt") if getattr(m, name))
        n += 1  # model
        n += len(m.params) + len(m.loras)
        return n + self.core_set

    def to_aigif(self, payload=None) -> AigifFile:
        """The AigifFile: meta + info + the verbatim source (+ an optional pixel payload).

        A source text over the format's per-value limit (1 MiB) is stored in parts
        (``key``, ``key~part2``...) that ``export`` joins back. Raises
        ImportMetadataError when the texts do not fit the format at all.
        """
        return AigifFile(meta=self.meta, info=self.info, source=split_source(self.source),
                         payload=payload)

    @property
    def file(self) -> AigifFile:
        return self.to_aigif()


# --------------------------------------------------------------------------- JSON
_LONE = re.compile("[\ud800-\udfff]")


def clean_text(s: str) -> str:
    """Lone UTF-16 surrogates (JSON ``"\\ud800"``) cannot be stored: U+FFFD instead."""
    return _LONE.sub("\ufffd", s) if _LONE.search(s) else s


def _clean(v: Any) -> Any:
    if isinstance(v, str):
        return clean_text(v)
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {clean_text(k) if isinstance(k, str) else k: _clean(x) for k, x in v.items()}
    return v


def loads_json(text: str) -> Any:
    """json.loads that raises ValueError for bad or too deeply nested JSON, and returns
    strings without lone surrogates."""
    import json
    try:
        return _clean(json.loads(text))
    except RecursionError as e:
        raise ValueError("JSON nested too deeply") from e


# --------------------------------------------------------------------------- source parts
_PART = "~part"


def split_source(source: dict[str, str]) -> dict[str, str]:
    """Split texts over the per-value limit into parts of at most that many bytes."""
    limit = spec.MAX_INFO_VALUE_BYTES
    out: dict[str, str] = {}
    for k, v in source.items():
        raw = v.encode("utf-8", "surrogatepass")
        if len(raw) <= limit:
            out[k] = v
            continue
        parts, start = [], 0
        while start < len(raw):
            end = min(start + limit, len(raw))
            while end < len(raw) and (raw[end] & 0xC0) == 0x80:   # not inside a character
                end -= 1
            parts.append(raw[start:end].decode("utf-8", "surrogatepass"))
            start = end
        for i, part in enumerate(parts):
            out[k if i == 0 else f"{k}{_PART}{i + 1}"] = part
    if len(out) > spec.MAX_ENTRIES:
        raise ImportMetadataError(f"the metadata has {len(out)} texts or parts; AIGIF keeps at "
                                  f"most {spec.MAX_ENTRIES}", field="source")
    return out


def join_source(source) -> dict[str, str]:
    """Inverse of ``split_source``."""
    out: dict[str, str] = {}
    parts: dict[str, list] = {}
    for k, v in source.items():
        base, sep, n = k.rpartition(_PART)
        if sep and n.isdigit() and base in source:
            parts.setdefault(base, []).append((int(n), v))
        else:
            out[k] = v
    for base, ps in parts.items():
        out[base] = out[base] + "".join(v for _, v in sorted(ps))
    return out


# --------------------------------------------------------------------------- values
_INT = re.compile(r"^\s*[+-]?\d+\s*$")


def to_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v) and v == int(v):
        return int(v)
    if isinstance(v, str) and _INT.match(v) and len(v) < 40:
        return int(v)
    if isinstance(v, str):
        f = to_float(v)
        if f is not None and f == int(f):
            return int(f)
    return None


def to_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str) and len(v) < 64:
        try:
            f = float(v.strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def make_lora(name: Any, weight: Any = 1.0, clip_weight: Any = None, sha: Any = "") -> Lora | None:
    if not isinstance(name, str) or not name.strip():
        return None
    w = to_float(weight)
    cw = to_float(clip_weight) if clip_weight is not None else None
    sha = sha.lower() if isinstance(sha, str) else ""
    if not re.fullmatch(r"[0-9a-f]{2,64}", sha) or len(sha) % 2:
        sha = ""
    try:
        return Lora(name=name[:1000], weight=1.0 if w is None else w, clip_weight=cw, sha256=sha)
    except MetaError:
        return None


# --------------------------------------------------------------------------- draft
_CORE = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "scheduler", "width",
         "height", "clip_skip")


class Draft:
    """Collects what an importer found, then builds a GenerationMeta field by field: a
    value the format refuses moves to ``unmapped`` with the reason instead of failing."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        self.loras: list[Lora] = []
        self.unmapped: dict[str, str] = {}
        #: what the import could not carry over exactly (ImportResult.warnings)
        self.warnings: list[str] = []
        self.model: str | None = None
        self.generator: str | None = None
        self.model_revision: str | None = None
        #: later passes (aigif.stages), in execution order
        self.stages: list = []
        #: a video generation's fields (``aigif.Video`` keyword arguments), or None
        self.video: dict[str, Any] | None = None

    def set(self, name: str, value: Any) -> None:
        if value is not None:
            self.fields[name] = value

    def param(self, key: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > 64 * 1024:
            self.unmapped[key] = value[:200] + "…"
            return
        if isinstance(value, (bool, int, float, str, bytes)):
            self.params[key] = value
        else:
            self.unmapped[key] = str(value)

    def keep(self, key: str, value: Any) -> None:
        """Record a value that has no typed home (it stays verbatim in the source)."""
        if value is None:
            return
        s = value if isinstance(value, str) else _short_repr(value)
        self.unmapped[key] = s if len(s) <= 2000 else s[:2000] + "…"

    def build(self) -> tuple[GenerationMeta, int]:
        """The GenerationMeta and how many core fields were set."""
        fields_ = dict(self.fields)
        params = dict(self.params)
        loras = list(self.loras)
        model = self.model or "ckpt:unknown"
        generator = self.generator
        if model.startswith("ckpt:") or "/" in model:
            generator = generator or "sd"
        revision = self.model_revision
        stages = tuple(self.stages)
        video = dict(self.video) if self.video is not None else None
        for _ in range(len(fields_) + len(params) + len(video or ()) + 8):
            try:
                vid = None
                if video is not None:
                    vid = Video(**video)
                    d = generators.get(generator).defaults if generator in generators else None
                    if d is None or d.video is None:     # the family fell back to an image one
                        self.unmapped["video"] = _short_repr(vid.to_dict())
                        video = vid = None
                meta = GenerationMeta(model=model, generator=generator, model_revision=revision,
                                      loras=tuple(loras), params=params, stages=stages,
                                      video=vid, **fields_)
                return meta, sum(1 for k in fields_ if k in _CORE and k not in
                                 ("prompt", "negative_prompt"))
            except MetaError as e:
                f = (e.field or "").split(".")
                head = f[0]
                if head in fields_:
                    v = fields_.pop(head)
                    if head in ("prompt", "negative_prompt"):
                        self.unmapped[head] = f"(not stored: {e.message}) " + str(v)[:200] + "…"
                    else:
                        self.unmapped[head] = f"{v} ({e.message})"
                elif head == "params" and len(f) > 1 and f[1] in params:
                    self.unmapped[f[1]] = str(params.pop(f[1]))
                elif head == "params":
                    params = {}
                elif head.startswith("stages"):
                    self.unmapped["stages"] = f"({e.message}) " + ", ".join(
                        st.name for st in stages)
                    stages = ()
                elif head == "loras":
                    self.unmapped["loras"] = ", ".join(lo.name for lo in loras)
                    loras = []
                elif head == "video" and video is not None:
                    name = f[1] if len(f) > 1 and f[1] in video else None
                    if name is None:
                        self.unmapped["video"] = f"({e.message}) {_short_repr(video)}"
                        video = None
                    else:
                        self.unmapped[f"video.{name}"] = f"{video.pop(name)} ({e.message})"
                elif head in ("model", "generator", "model_revision"):
                    if head == "model_revision" and revision is not None:
                        self.unmapped["model_revision"] = str(revision)
                        revision = None
                    elif model != "ckpt:unknown":
                        self.unmapped["model"] = model
                        model, generator, revision = "ckpt:unknown", generator or "sd", None
                    else:
                        generator = "sd"
                else:
                    raise ImportMetadataError(f"cannot build the metadata: {e}") from e
        raise ImportMetadataError("cannot build the metadata")  # pragma: no cover


def _short_repr(v: Any) -> str:
    import json
    try:
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(v)


# --------------------------------------------------------------------------- models
#: Short hashes tools record for the official checkpoints (A1111 "Model hash": first 10
#: hex digits of the file's SHA-256, or the 8-digit legacy hash of A1111 < 1.0). Only
#: hashes of the exact official files are listed; anything else stays "ckpt:<name>".
KNOWN_HASHES: dict[str, str] = {
    "6ce0161689": "sd15",   # v1-5-pruned-emaonly.safetensors
    "cc6cb27103": "sd15",   # v1-5-pruned-emaonly.ckpt
    "e1441589a6": "sd15",   # v1-5-pruned.ckpt
    "1a189f0be6": "sd15",   # v1-5-pruned.safetensors
    "81761151": "sd15",     # v1-5-pruned-emaonly.ckpt (legacy hash)
    "a9263745": "sd15",     # v1-5-pruned.ckpt (legacy hash)
    "7460a6fa": "sd14",     # sd-v1-4.ckpt (legacy hash)
    "fe4efff1e1": "sd14",   # sd-v1-4.ckpt
    "31e35c80fc": "sdxl",   # sd_xl_base_1.0.safetensors
    "ad2a33c361": "sd21",   # v2-1_768-ema-pruned.ckpt
    "88ecb78256": "sd21-base",  # v2-1_512-ema-pruned.ckpt
}

#: Exact file names of the official checkpoints (ComfyUI and others record only names).
KNOWN_FILES: dict[str, str] = {
    "v1-5-pruned-emaonly.safetensors": "sd15", "v1-5-pruned-emaonly.ckpt": "sd15",
    "v1-5-pruned.safetensors": "sd15", "v1-5-pruned.ckpt": "sd15",
    "v1-5-pruned-emaonly-fp16.safetensors": "sd15",
    "sd-v1-4.ckpt": "sd14", "sd-v1-4.safetensors": "sd14",
    "v2-1_768-ema-pruned.ckpt": "sd21", "v2-1_768-ema-pruned.safetensors": "sd21",
    "v2-1_512-ema-pruned.ckpt": "sd21-base", "v2-1_512-ema-pruned.safetensors": "sd21-base",
    "sd_xl_base_1.0.safetensors": "sdxl", "sd_xl_base_1.0_0.9vae.safetensors": "sdxl",
    "sd_xl_turbo_1.0.safetensors": "sdxl-turbo", "sd_xl_turbo_1.0_fp16.safetensors": "sdxl-turbo",
    "sd3_medium.safetensors": "sd3-medium", "sd3.5_large.safetensors": "sd35-large",
    "sd3.5_medium.safetensors": "sd35-medium",
    "sd3.5_large_turbo.safetensors": "sd35-large-turbo",
    "flux1-dev.safetensors": "flux1-dev", "flux1-schnell.safetensors": "flux1-schnell",
    "pixart-sigma-xl-2-1024-ms.pth": "pixart-sigma",
    # diffusers folders of the official weights (InvokeAI starter models, hub repo names)
    "stable-diffusion-v1-5": "sd15", "stable-diffusion-v1-4": "sd14",
    "stable-diffusion-2-1": "sd21", "stable-diffusion-2-1-base": "sd21-base",
    "stable-diffusion-xl-base-1-0": "sdxl", "stable-diffusion-xl-base-1.0": "sdxl",
    "sdxl-turbo": "sdxl-turbo",
}
_MODEL_FILE = {v: k for k, v in reversed(list(KNOWN_FILES.items()))}

_XL = re.compile(r"xl|pony|illustrious|noob|animagine|playground|kolors", re.I)


def guess_generator(name: str | None, width: int | None = None, height: int | None = None,
                    hint: str | None = None) -> str:
    """Generator family of a checkpoint known only by name: from the name (flux, sd3,
    xl/pony/illustrious...), else the generation size (>= ~1 megapixel: SDXL), else sd."""
    n = (name or "").lower()
    if hint:
        return hint
    if "flux" in n:
        return "flux"
    if re.search(r"sd3|sd_3|stable[-_ ]?diffusion[-_ ]?3", n):
        return "sd3"
    if "pixart" in n:
        return "pixart_sigma"
    if _XL.search(n):
        return "sdxl"
    if width and height and width * height >= 975_000:  # SDXL buckets; SD 1.x tops out lower
        return "sdxl"
    return "sd"


def _basename(name: str) -> str:
    return re.split(r"[\\/]", name)[-1]


def resolve_model(name: Any = None, short_hash: Any = None, *, width: int | None = None,
                  height: int | None = None,
                  hint: str | None = None) -> tuple[str, str | None, str | None]:
    """(model, generator, model_revision) for a checkpoint a tool recorded.

    A known hash or official file name gives a well-known key; otherwise
    ``"ckpt:<name>"`` with a guessed generator and the short hash as the revision.
    """
    h = short_hash.strip().lower() if isinstance(short_hash, str) else ""
    if h and not re.fullmatch(r"[0-9a-f]{6,64}", h):
        h = ""
    name = name if isinstance(name, str) and name.strip() else ""
    for cand in (h[:10], h[:8]):
        if cand in KNOWN_HASHES:
            return KNOWN_HASHES[cand], None, None
    base = _basename(name).strip().lower()
    if not h:
        for cand in (base, base + ".safetensors", base + ".ckpt"):
            if cand in KNOWN_FILES:
                return KNOWN_FILES[cand], None, None
    if not name:
        name = h or "unknown"
    if len(name.encode("utf-8")) > spec.MAX_STRING_BYTES - 8:
        name = name.encode("utf-8")[: spec.MAX_STRING_BYTES - 8].decode("utf-8", "ignore")
    return "ckpt:" + name, guess_generator(name, width, height, hint), h or None


def model_name(meta: GenerationMeta) -> str:
    """The checkpoint name to write for a model (ckpt name, hub id, official file name)."""
    m = meta.model
    if m.startswith("ckpt:"):
        return m[5:]
    return _MODEL_FILE.get(m, m)


def model_hash(meta: GenerationMeta) -> str | None:
    if meta.model.startswith("ckpt:"):
        return meta.model_revision
    for h, k in KNOWN_HASHES.items():
        if k == meta.model and len(h) == 10:
            return h
    return None
