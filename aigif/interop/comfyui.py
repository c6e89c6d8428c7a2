"""ComfyUI: trace the executed ``prompt`` graph; build a minimal graph back.

The ``prompt`` text is the API graph ComfyUI executed: ``{node id: {"class_type": ...,
"inputs": {name: value or [source node id, output index]}}}``. Every sampler node
(KSampler, KSamplerAdvanced, SamplerCustom, SamplerCustomAdvanced, and custom nodes that
look like one) is traced upstream to its model (+ LoRAs, clip skip), positive and
negative text, latent size and seed. Chained samplers (hires fix / refiner passes) are
ordered; the first pass fills the core fields and later passes become typed stages
(``aigif.stages``: Hires, Img2Img, Refiner, Upscale; ControlNet and Detailer nodes too). The ``workflow`` text (the editor's layout) is only kept verbatim.
"""
from __future__ import annotations

import json
from typing import Any

from . import samplers as sampler_names
from ..errors import ImportMetadataError
from ..meta import GenerationMeta
from ..errors import MetaError
from ..stages import ControlNet, Detailer, Hires, Img2Img, Refiner, Upscale
from ._common import (_MODEL_FILE, Draft, loads_json, make_lora, model_name, resolve_model, to_float,
                      to_int)
from . import comfyui_video
from ._upscalers import method_upscaler
from ._limits import MAX_GRAPH_TEXT_CHARS, MAX_GRAPH_VISITS

__all__ = ["graph_to_draft", "meta_to_graph", "load_graph", "workflow_to_graph",
           "merge_saver_infotext"]

_SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
_CKPT_LOADERS = {"CheckpointLoaderSimple": "ckpt_name", "CheckpointLoader": "ckpt_name",
                 "unCLIPCheckpointLoader": "ckpt_name", "ImageOnlyCheckpointLoader": "ckpt_name",
                 "CheckpointLoader|pysssss": "ckpt_name", "UNETLoader": "unet_name",
                 "UnetLoaderGGUF": "unet_name", "DiffusersLoader": "model_path",
                 "Checkpoint Loader (Simple)": "ckpt_name", "CheckpointLoaderNF4": "ckpt_name"}
_LORA_LOADERS = {"LoraLoader", "LoraLoaderModelOnly", "LoraLoader|pysssss"}
_TEXT_KEYS = ("text", "text_g", "string", "prompt", "value", "text_positive", "t5xxl",
              "clip_l", "Text", "STRING", "populated_text", "wildcard_text")
_MAX_DEPTH = 64
_SCALAR_NAMES = ("value", "seed", "noise_seed", "seed_value", "int", "float", "number",
                 "integer", "string", "text", "Text", "STRING", "INT", "FLOAT", "sampler_name",
                 "scheduler", "ckpt_name", "cfg", "steps")
_SWITCHES = {"Any Switch (rgthree)", "ImpactSwitch", "Switch any [Crystools]",
             "CR Text Input Switch", "easy anythingIndexSwitch"}
_CTX = ["base_ctx", "model", "clip", "vae", "positive", "negative", "latent", "images", "seed"]
_CONTEXT_OUTPUTS = {
    "Context (rgthree)": _CTX, "Context Switch (rgthree)": _CTX, "Context Merge (rgthree)": _CTX,
    "Context Big (rgthree)": _CTX + [
        "steps", "step_refiner", "cfg", "ckpt_name", "sampler", "scheduler", "clip_width",
        "clip_height", "text_pos_g", "text_pos_l", "text_neg_g", "text_neg_l", "mask",
        "control_net"]}
_CONTEXT_OUTPUTS["Context Switch Big (rgthree)"] = _CONTEXT_OUTPUTS["Context Big (rgthree)"]
_CONTEXT_OUTPUTS["Context Merge Big (rgthree)"] = _CONTEXT_OUTPUTS["Context Big (rgthree)"]
_TEXT_PAIRS = (("text_positive", "text_negative"), ("positive", "negative"),
               ("positive_prompt", "negative_prompt"), ("pos", "neg"))
_LOADER_KEYS = ("ckpt_name", "base_ckpt_name", "unet_name")


def _part_order(k: str) -> tuple:
    """text_a < text_b, text1 < text2 < text10."""
    digits = "".join(ch for ch in k if ch.isdigit())
    return (k.rstrip("0123456789"), int(digits) if digits and len(digits) < 6 else 0, k)


def parse_size(s: Any) -> tuple[int, int] | None:
    """``"1024x768"``, ``"3:4 portrait 896x1152"``, ``"896 x 1152"``: the last
    ``<digits>x<digits>`` in a string (no regex: linear, bounded)."""
    if not isinstance(s, str) or len(s) > 200:
        return None
    t = s.replace("\u00d7", "x").replace(" x ", "x").replace("*", "x")
    for tok in reversed(t.replace(",", " ").replace("(", " ").replace(")", " ").split()):
        a, sep, b = tok.lower().partition("x")
        if sep and a.isdigit() and b.isdigit() and 0 < len(a) < 6 and 0 < len(b) < 6:
            return int(a), int(b)
    return None


def _node_size(g: "_Graph", ins: dict, depth: int = 0) -> tuple[int, int] | None:
    """The size a resolution / aspect-ratio node gives (Comfyroll CR (SDXL) Aspect Ratio,
    SDXL resolution pickers): a preset string wins unless it is "custom"."""
    for k in ("aspect_ratio", "resolution", "dimensions", "size", "preset"):
        v = ins.get(k)
        if isinstance(v, str) and "custom" not in v.lower():
            wh = parse_size(v)
            if wh is not None:
                if str(ins.get("swap_dimensions", "")).lower() in ("on", "true"):
                    wh = (wh[1], wh[0])
                return wh
    return None


def load_graph(text: str) -> dict | None:
    try:
        g = loads_json(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(g, dict):
        return None
    nodes = {str(k): v for k, v in g.items()
             if isinstance(v, dict) and isinstance(v.get("inputs", {}), dict)
             and isinstance(v.get("class_type", ""), str)}
    return nodes or None


def _is_link(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], (str, int)) \
        and isinstance(v[1], int) and not isinstance(v[1], bool)


class _Graph:
    """The nodes, and the work done on them: every link followed counts against
    MAX_GRAPH_VISITS, so no graph (cycles, shared sub-graphs, thousands of samplers) makes
    a trace run long; over it, ImportMetadataError."""

    def __init__(self, nodes: dict[str, dict]) -> None:
        self.nodes = nodes
        self.visits = 0
        self._texts: dict[str, str | None] = {}   # "node id:slot" -> its text (memo)
        self._open: set[str] = set()              # nodes whose text is being built
        self._switches = 0                        # ComfySwitchNode switches being resolved

    def node(self, link: Any) -> tuple[str, dict] | None:
        hit = self.deref(link)
        return (hit[0], hit[1]) if hit is not None else None

    def deref(self, link: Any) -> tuple[str, dict, int] | None:
        """The node (id, node, output slot) a link reaches, through pass-through nodes:
        reroutes, any-switches (first connected input) and rgthree contexts (the output
        slot names the input it passes on, else the base context)."""
        for _ in range(_MAX_DEPTH):
            if not _is_link(link):
                return None
            self.visits += 1
            if self.visits > MAX_GRAPH_VISITS:
                raise ImportMetadataError(f"ComfyUI graph: tracing it takes over "
                                          f"{MAX_GRAPH_VISITS} node visits "
                                          f"({len(self.nodes)} nodes); refused")
            nid, slot = str(link[0]), link[1]
            n = self.nodes.get(nid)
            if n is None:
                return None
            nxt = self._pass_on(n, slot)
            if nxt is None:
                return nid, n, slot
            link = nxt
        return None

    def _pass_on(self, n: dict, slot: int) -> list | None:
        cls = self.cls(n)
        ins = self.inputs(n)
        if cls == "ComfySwitchNode":
            # core switch: a boolean (set here or on a primitive node) picks a branch
            sw = ins.get("switch")
            if _is_link(sw):
                hit = None
                if self._switches < 4:          # switches fed by switches: bounded
                    self._switches += 1
                    try:
                        hit = self.deref(sw)
                    finally:
                        self._switches -= 1
                sw = self.inputs(hit[1]).get("value") if hit is not None else None
            key = "on_true" if sw is True else "on_false" if sw is False else None
            return ins[key] if key is not None and _is_link(ins.get(key)) else None
        if cls.startswith("Reroute") or cls in _SWITCHES:
            links = [ins[k] for k in sorted(ins) if _is_link(ins[k])
                     and str(ins[k][0]) in self.nodes]
            return links[0] if links else None
        outs = _CONTEXT_OUTPUTS.get(cls)
        if outs is not None:
            if cls == "Context Switch (rgthree)" or cls == "Context Switch Big (rgthree)":
                links = [ins[k] for k in sorted(ins) if k.startswith("ctx_") and _is_link(ins[k])
                         and str(ins[k][0]) in self.nodes]
                return [links[0][0], slot] if links else None
            if 0 < slot < len(outs) and _is_link(ins.get(outs[slot])):
                return ins[outs[slot]]
            if slot > 0 and outs[slot:slot + 1] and outs[slot] in ins:
                return None            # a value set on the context itself
            if _is_link(ins.get("base_ctx")):
                return [ins["base_ctx"][0], slot]
        return None

    def cls(self, n: dict) -> str:
        return str(n.get("class_type", ""))

    def fed_by(self, link: Any, chain: list) -> bool:
        """Is the image ``link`` carries decoded from a sampler of ``chain``?"""
        return _image_source(self, link, {}, set(chain), "") in chain

    order = staticmethod(lambda nid: _ids(nid))

    def inputs(self, n: dict) -> dict:
        i = n.get("inputs")
        return i if isinstance(i, dict) else {}

    def scalar(self, v: Any, names: tuple[str, ...] = (), depth: int = 0) -> Any:
        """Resolve a value that may be a link to a primitive / seed / string node."""
        if not _is_link(v):
            return v
        if depth > 8:
            return None
        hit = self.deref(v)
        if hit is None:
            return None
        _, n, slot = hit
        ins = self.inputs(n)
        if slot in (0, 1) and names[:1] in (("width",), ("height",)):
            size = _node_size(self, ins, depth)
            if size is not None:
                return size[slot]
        if slot in (0, 1) and ("width" in ins and "height" in ins and names[:1] in (
                ("width",), ("height",))):
            return self.scalar(ins["width" if slot == 0 else "height"], names, depth + 1)
        for name in names + _SCALAR_NAMES:
            if name in ins:
                return self.scalar(ins[name], names, depth + 1)
        scal = [x for x in ins.values() if not _is_link(x)]
        if len(scal) == 1:
            return scal[0]
        return None

    def text(self, v: Any, depth: int = 0) -> str | None:
        """Resolve a prompt text: a string, or a link to a string / primitive node, or to a
        concatenation node (``text_a`` + ``text_b`` joined by its ``delimiter``).

        Each node's text is built once (a sub-graph shared by several inputs is not walked
        again); a link back to a node whose text is being built adds nothing (cycle); a
        text over MAX_GRAPH_TEXT_CHARS raises ImportMetadataError."""
        if isinstance(v, str):
            return v
        if not _is_link(v) or depth > 8:
            return None
        hit = self.deref(v)
        if hit is None:
            return None
        nid = f"{hit[0]}:{hit[2]}"
        if nid in self._texts:
            return self._texts[nid]
        if nid in self._open:
            return None
        self._open.add(nid)
        try:
            t = self._node_text(hit[1], depth, hit[2])
        finally:
            self._open.discard(nid)
        if t is not None and len(t) > MAX_GRAPH_TEXT_CHARS:
            raise ImportMetadataError(f"ComfyUI graph: the text of node {nid!r} is over "
                                      f"{MAX_GRAPH_TEXT_CHARS} characters; refused")
        self._texts[nid] = t
        return t

    def _node_text(self, n: dict, depth: int, slot: int = 0) -> str | None:
        ins = self.inputs(n)
        if any(_is_link(ins.get(k)) for k in ("clip", "model", "llm", "llm_model")):
            return None       # a language model writes this text when the graph runs
        # two-output text nodes (SDXL Prompt Styler, Efficiency loaders, prompt pairs):
        # the second output is the negative text
        for pos_key, neg_key in _TEXT_PAIRS:
            if pos_key in ins and neg_key in ins:
                key = neg_key if slot == 1 or (slot == 2 and pos_key == "positive") else pos_key
                return self.text(ins[key], depth + 1)
        for name in ("text", "string", "prompt", "value", "Text", "STRING", "populated_text",
                     "wildcard_text", "text_g", "t5xxl", "positive", "text_positive",
                     "string_field", "multiline_text"):
            if name in ins:
                return self.text(ins[name], depth + 1)
        parts = [k for k in sorted(ins, key=_part_order)
                 if k.lower().startswith(("text", "string", "prompt", "part"))]
        if parts:
            sep = ins.get("delimiter", ins.get("separator", ""))
            sep = {"comma": ", ", "space": " ", "none": "", "newline": "\n"}.get(
                str(sep).lower(), sep if isinstance(sep, str) else "")
            if str(ins.get("linebreak_addition", "")).lower() == "true":
                sep = "\n" + sep
            texts, size = [], 0
            for k in parts:
                t = self.text(ins[k], depth + 1)
                if t:
                    size += len(t) + len(sep)
                    if size > MAX_GRAPH_TEXT_CHARS:
                        raise ImportMetadataError(
                            f"ComfyUI graph: a text joined from {len(parts)} inputs is over "
                            f"{MAX_GRAPH_TEXT_CHARS} characters; refused")
                    texts.append(t)
            return sep.join(texts)
        # a node with one string and nothing linked holds that text (a node that also
        # takes an image or other links computes its text: unknown here)
        scal = [x for x in ins.values() if isinstance(x, str)]
        return scal[0] if len(scal) == 1 and not any(map(_is_link, ins.values())) else None


def _text_of(g: _Graph, link: Any, out: list[str], loras: list, info: dict, depth: int = 0,
             seen: set | None = None, role: str = "positive") -> None:
    """Collect the prompt texts that feed a conditioning input."""
    seen = seen if seen is not None else set()
    hit = g.node(link)
    if hit is None or depth > _MAX_DEPTH or hit[0] in seen:
        return
    nid, n = hit
    seen.add(nid)
    cls = g.cls(n)
    ins = g.inputs(n)
    if cls == "ConditioningZeroOut":
        return
    if role in ins and any(k in ins for k in _LOADER_KEYS):
        # loaders that encode their own text (Efficiency): a string or a text link
        t = g.text(ins[role])
        if isinstance(t, str):
            out.append(t)
        return
    if cls in ("FluxGuidance",) and "guidance" in ins:
        info.setdefault("flux_guidance", to_float(g.scalar(ins["guidance"])))
    if cls.startswith("CLIPTextEncode") or "text" in ins or "text_g" in ins or (
            any(k in ins for k in _TEXT_KEYS)
            and not any(_is_link(v) and k.startswith("conditioning") for k, v in ins.items())):
        if cls == "CLIPTextEncodeSDXL":
            keys = ("text_g",)
            info["sdxl"] = True
            if ins.get("text_l") is not None and ins.get("text_l") != ins.get("text_g"):
                tl = g.text(ins.get("text_l"))
                if isinstance(tl, str) and tl:
                    info.setdefault("text_l", tl)
        elif cls == "CLIPTextEncodeFlux":
            keys = ("t5xxl", "clip_l")
            info["flux"] = True
            if "guidance" in ins:
                info.setdefault("flux_guidance", to_float(g.scalar(ins["guidance"])))
        elif cls == "CLIPTextEncodeSD3":
            keys = ("t5xxl", "clip_g", "clip_l")
            info["sd3"] = True
        else:
            keys = _TEXT_KEYS
        for k in keys:
            if k in ins:
                t = g.text(ins[k])
                if isinstance(t, str):
                    out.append(t)
                    break
        if "clip" in ins:
            _clip_of(g, ins["clip"], loras, info)
        return
    # pass-through nodes: follow every conditioning-like link; a node that passes both
    # (ControlNetApplyAdvanced...) is followed on the side asked for
    if _is_link(ins.get("positive")) and _is_link(ins.get("negative")):
        _text_of(g, ins[role], out, loras, info, depth + 1, seen, role)
        return
    for k, v in ins.items():
        if _is_link(v) and (k.startswith("conditioning") or k in ("positive", "cond", "base_cond")):
            _text_of(g, v, out, loras, info, depth + 1, seen, role)


def _clip_of(g: _Graph, link: Any, loras: list, info: dict, depth: int = 0) -> None:
    hit = g.node(link)
    if hit is None or depth > _MAX_DEPTH:
        return
    _, n = hit
    cls = g.cls(n)
    ins = g.inputs(n)
    if cls == "CLIPSetLastLayer":
        v = to_int(g.scalar(ins.get("stop_at_clip_layer")))
        if v is not None and v < 0:
            info.setdefault("clip_skip", -v - 1)
    elif cls in ("DualCLIPLoader", "TripleCLIPLoader", "CLIPLoader"):
        t = str(ins.get("type", "")).lower()
        if cls == "TripleCLIPLoader" or t == "sd3":
            info["sd3"] = True
        elif t == "flux":
            info["flux"] = True
        elif t == "sdxl":
            info["sdxl"] = True
        return
    if cls in _LORA_LOADERS or cls in _CKPT_LOADERS:
        return  # LoRAs are collected on the model path
    if "clip" in ins:
        _clip_of(g, ins["clip"], loras, info, depth + 1)


def _model_of(g: _Graph, link: Any, loras: list, info: dict, depth: int = 0) -> str | None:
    hit = g.node(link)
    if hit is None or depth > _MAX_DEPTH:
        return None
    _, n = hit
    cls = g.cls(n)
    ins = g.inputs(n)
    if cls in _CKPT_LOADERS or any(k in ins for k in ("ckpt_name", "unet_name", "base_ckpt_name")):
        key = _CKPT_LOADERS.get(cls) or next(k for k in ("ckpt_name", "unet_name", "base_ckpt_name")
                                             if k in ins)
        if isinstance(ins.get("lora_name"), str) and ins["lora_name"] != "None":
            lo = make_lora(ins["lora_name"], g.scalar(ins.get("lora_model_strength", 1.0)),
                           g.scalar(ins.get("lora_clip_strength")))
            if lo is not None:
                loras.insert(0, lo)
        cs = to_int(g.scalar(ins.get("clip_skip")))
        if cs is not None and cs < 0:
            info.setdefault("clip_skip", -cs - 1)
        name = g.scalar(ins.get(key), ("ckpt_name", "unet_name"))
        if cls in ("UNETLoader", "UnetLoaderGGUF"):
            info["unet"] = True
        return name if isinstance(name, str) else None
    if "loader" in cls.lower() and not cls.startswith(("ADE_", "AnimateDiff")):
        # (AnimateDiff loaders name a motion module and pass the checkpoint's model on)
        for k in ("model_name", "model", "model_path", "ckpt", "checkpoint"):
            if isinstance(ins.get(k), str) and ins[k]:
                if _is_link(ins.get("lora")):      # WanVideoModelLoader <- WanVideoLoraSelect
                    loras[0:0] = _lora_chain(g, ins["lora"], info)
                return ins[k]
    if cls in _LORA_LOADERS or "lora_name" in ins:
        lo = make_lora(g.scalar(ins.get("lora_name")), g.scalar(ins.get("strength_model", 1.0)),
                       g.scalar(ins.get("strength_clip")) if "strength_clip" in ins else None)
        if lo is not None:
            loras.insert(0, lo)
    for lo in reversed(_lora_stack(ins)):
        loras.insert(0, lo)
    if cls == "ModelSamplingFlux":
        info["flux"] = True
    elif cls == "ModelSamplingSD3":
        info.setdefault("sd3_or_flow", True)
    nxt = ins.get("model")
    if not _is_link(nxt):
        nxt = next((v for v in ins.values() if _is_link(v)), None)
    return _model_of(g, nxt, loras, info, depth + 1) if nxt is not None else None


def _latent_of(g: _Graph, link: Any, info: dict, samplers: set, own: str,
               depth: int = 0) -> str | None:
    """Walk the latent input; return the id of an upstream sampler (chained pass) other
    than ``own`` (the sampler walked from)."""
    hit = g.node(link)
    if hit is None or depth > _MAX_DEPTH:
        return None
    nid, n = hit
    cls = g.cls(n)
    ins = g.inputs(n)
    if nid in samplers and nid != own:
        return nid
    if cls.startswith(("VAEEncode", "InpaintModelConditioning")):
        # img2img: from a loaded image, or from an earlier pass decoded, upscaled in pixel
        # space and encoded again (a hires fix in pixels)
        up = _image_source(g, ins.get("pixels", ins.get("image")), info, samplers, own)
        if up is not None:
            info["via_pixels"] = True
            return up
        info["img2img"] = True
        return None
    if "empty_latent_width" in ins and "empty_latent_height" in ins:
        w = to_int(g.scalar(ins["empty_latent_width"], ("width",)))
        h = to_int(g.scalar(ins["empty_latent_height"], ("height",)))
        if w and h:
            info["width"], info["height"] = w, h
        return None
    has_src = any(_is_link(v) for k, v in ins.items()
                  if k in ("pixels", "image") or _latent_key(k))
    size = _node_size(g, ins)
    if size is None and "width" in ins and "height" in ins:
        w = to_int(g.scalar(ins["width"], ("width",)))
        h = to_int(g.scalar(ins["height"], ("height",)))
        size = (w, h) if w and h else None
    if not has_src and size is None and (
            ("width" in ins and "height" in ins) or (cls.startswith("Empty") and "Latent" in cls)):
        # a fresh latent whose size is not written here (it links to an image's size):
        # text-to-image all the same; its width/height links lead to no earlier pass
        info["empty"] = True
        return None
    if size is not None and not has_src:
        info["width"], info["height"] = size
        bs = to_int(g.scalar(ins.get("batch_size")))
        if bs and bs > 1:
            info["batch_size"] = bs
        if cls == "EmptySD3LatentImage":
            info.setdefault("sd3_or_flow", True)
        return None
    ops = info.setdefault("ops", [])           # what the walk passed, last op first
    if size is not None:                       # a resize of an earlier latent
        info.setdefault("upscale_size", size)
        if cls != "LatentUpscale":
            ops.append(("latent_size", g.scalar(ins.get("upscale_method")), size))
    if cls == "LatentUpscale":
        w, h = to_int(g.scalar(ins.get("width"))), to_int(g.scalar(ins.get("height")))
        if w and h:
            info.setdefault("upscale_size", (w, h))
        ops.append(("latent_size", g.scalar(ins.get("upscale_method")), (w, h)))
    elif cls == "LatentUpscaleBy":
        s = to_float(g.scalar(ins.get("scale_by")))
        if s:
            info.setdefault("upscale_by", s)
        ops.append(("latent_scale", g.scalar(ins.get("upscale_method")), s))
    elif size is None:
        ops.append(("other", cls, None))
    for k in ("samples", "latent", "latent_image", "source", "samples_to"):
        if _is_link(ins.get(k)):
            return _latent_of(g, ins[k], info, samplers, own, depth + 1)
    # other latent nodes: a latent-named input first (video_latent, shape_latent,
    # samples1), then any link that is no conditioning, model or scalar
    links = [k for k, v in ins.items() if _is_link(v) and k not in _NOT_LATENT]
    nxt = next((k for k in links if _latent_key(k)), links[0] if links else None)
    if nxt is None:
        return None
    if "image" in nxt.lower() or "pixels" in nxt.lower():
        # a latent made from pixels (InstructPixToPixConditioning...)
        up = _image_source(g, ins[nxt], info, samplers, own, depth + 1)
        if up is not None:
            info["via_pixels"] = True
        return up
    return _latent_of(g, ins[nxt], info, samplers, own, depth + 1)


_NOT_LATENT = frozenset((
    "positive", "negative", "conditioning", "model", "clip", "vae", "control_net",
    "clip_vision", "clip_vision_output", "audio_vae", "audio_encoder_output", "upscale_model",
    "mask", "width", "height", "length", "batch_size", "frames_number", "frame_rate",
    "seed", "noise_seed", "steps", "cfg", "guider", "sampler", "sigmas", "noise"))


def _latent_key(k: str) -> bool:
    k = k.lower()
    return "latent" in k or k.startswith("samples")


def _image_source(g: _Graph, link: Any, info: dict, samplers: set, own: str,
                  depth: int = 0) -> str | None:
    """Walk an image input up to the sampler whose latent was decoded into it (through
    upscalers, detailers, image scaling), or to the loaded image (``init_image``)."""
    hit = g.node(link)
    if hit is None or depth > _MAX_DEPTH:
        return None
    nid, n = hit
    ins = g.inputs(n)
    if nid in samplers and nid != own:
        return nid
    cls = g.cls(n)
    if cls.startswith("VAEDecode"):
        return _latent_of(g, ins.get("samples"), info, samplers, own, depth + 1)
    ops = info.setdefault("ops", [])
    if cls == "ImageScale":
        ops.append(("pixel_size", g.scalar(ins.get("upscale_method")),
                    (to_int(g.scalar(ins.get("width"))), to_int(g.scalar(ins.get("height"))))))
    elif cls == "ImageScaleBy":
        ops.append(("pixel_scale", g.scalar(ins.get("upscale_method")),
                    to_float(g.scalar(ins.get("scale_by")))))
    elif cls == "ImageUpscaleWithModel":
        um = g.node(ins.get("upscale_model"))
        ops.append(("model", None, g.inputs(um[1]).get("model_name") if um else None))
    elif any(_is_link(v) for v in ins.values()):
        ops.append(("other", cls, None))
    if isinstance(ins.get("image"), str) and not any(_is_link(v) for v in ins.values()):
        info["init_image"] = ins["image"]
        return None
    for k in ("image", "images", "pixels", "samples", "upscaled_image"):
        if _is_link(ins.get(k)):
            return _image_source(g, ins[k], info, samplers, own, depth + 1)
    nxt = next((v for v in ins.values() if _is_link(v)), None)
    return _image_source(g, nxt, info, samplers, own, depth + 1) if nxt is not None else None


_COND_KEYS = ("positive", "guider", "text_embeds", "conditioning", "embeds", "sdxl_tuple")


def _lora_stack(ins: dict) -> list:
    """LoRAs of stack nodes: rgthree Power Lora Loader (``lora_1: {"on", "lora",
    "strength"}``) and Lora Loader Stack (``lora_01`` + ``strength_01``)."""
    out = []
    for k in sorted(ins):
        v = ins[k]
        if isinstance(v, dict) and isinstance(v.get("lora"), str) and v.get("on", True):
            lo = make_lora(v["lora"], v.get("strength", 1.0), v.get("strengthTwo"))
        elif k.startswith("lora_") and k[5:].isdigit() and isinstance(v, str) and v != "None":
            n = k[5:]
            lo = make_lora(v, ins.get(f"strength_{n}", ins.get(f"model_strength_{n}", 1.0)),
                           ins.get(f"clip_strength_{n}"))
        else:
            continue
        if lo is not None:
            out.append(lo)
    return out


def _strength(g: _Graph, raw: Any) -> tuple[Any, list | None]:
    """A ``WanVideoLoraSelect`` strength: ``(weight, None)`` for one number; for a
    per-step list (literal or from a primitive node) ``(first value, the list)``; a list
    of one repeated value is that value; ``(None, None)`` for a link to a node that is no
    value node (a schedule builder: its widgets are not the strength)."""
    if _is_link(raw):
        hit = g.deref(raw)
        plain = [] if hit is None else [x for x in g.inputs(hit[1]).values() if not _is_link(x)]
        if hit is None or (len(plain) != 1 and not any(
                k in g.inputs(hit[1]) for k in ("strength", "value", "float", "FLOAT", "number"))):
            return None, None
    v = raw if isinstance(raw, list) and not _is_link(raw) else g.scalar(raw, ("strength",))
    if isinstance(v, (list, tuple)) and v and len(v) <= 10_000 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and
            abs(x) != float("inf") for x in v):
        vals = [float(x) for x in v]
        return vals[0], (vals if len(set(vals)) > 1 else None)
    return v, None


def _lora_chain(g: _Graph, link: Any, info: dict | None = None) -> list:
    """LoRAs of a model loader's ``lora`` input (ComfyUI-WanVideoWrapper): a chain of
    ``WanVideoLoraSelect`` nodes (``lora`` + ``strength``; ``prev_lora`` applies first)
    or ``WanVideoLoraSelectMulti`` (``lora_0``.. + ``strength_0``..), in the order they
    apply. A strength given per step (a list) gives the LoRA its first value as weight;
    ``info["lora_schedules"]`` gets ``(name, the list)``, and a strength that is no
    number ``info["lora_strength_unread"]`` ``(name, verbatim)`` (weight 1.0)."""
    out: list = []
    seen: set = set()
    while _is_link(link) and len(seen) < _MAX_DEPTH:
        hit = g.node(link)
        if hit is None or hit[0] in seen:
            break
        seen.add(hit[0])
        ins = g.inputs(hit[1])
        here = [lo for lo in _lora_stack(ins) if lo.name.lower() != "none"]
        name = g.scalar(ins.get("lora"))
        if isinstance(name, str) and name.lower() != "none":
            raw = ins.get("strength", 1.0)
            w, schedule = _strength(g, raw)
            lo = make_lora(name, w)
            if lo is not None:
                here.insert(0, lo)
                if info is not None and schedule is not None:
                    info.setdefault("lora_schedules", []).append((lo.name, schedule))
                elif info is not None and to_float(w) is None:
                    info.setdefault("lora_strength_unread", []).append((lo.name, raw))
        out[0:0] = here
        link = ins.get("prev_lora")
    return out


def _is_sampler(cls: str, ins: dict) -> bool:
    if cls in _SAMPLERS:
        return True
    has_seed = any(k in ins for k in ("seed", "noise_seed", "noise"))
    has_cond = any(_is_link(ins.get(k)) for k in _COND_KEYS)
    has_latent = any(k in ins for k in ("latent_image", "latent", "samples"))
    # KSampler-like custom nodes; video samplers (WanVideoSampler: model + text_embeds)
    return has_seed and "steps" in ins and has_cond and (has_latent or "model" in ins)


def _sampler_values(g: _Graph, n: dict, info: dict) -> dict:
    """seed/steps/cfg/sampler/scheduler/denoise and the model/positive/negative links."""
    ins = g.inputs(n)
    cls = g.cls(n)
    v: dict[str, Any] = {"class": cls}
    v["seed"] = to_int(g.scalar(ins.get("seed", ins.get("noise_seed")), ("seed", "noise_seed")))
    v["steps"] = to_int(g.scalar(ins.get("steps")))
    v["cfg"] = to_float(g.scalar(ins.get("cfg")))
    v["sampler_name"] = g.scalar(ins.get("sampler_name"), ("sampler_name",))
    v["scheduler"] = g.scalar(ins.get("scheduler"), ("scheduler",))
    v["denoise"] = to_float(g.scalar(ins.get("denoise")))
    v["model"] = ins.get("model")
    v["positive"] = ins.get("positive")
    v["negative"] = ins.get("negative")
    if v["positive"] is None and _is_link(ins.get("sdxl_tuple")):
        # KSampler SDXL (Eff.): model and both texts come from Eff. Loader SDXL
        v["model"] = v["positive"] = v["negative"] = ins["sdxl_tuple"]
    if v["positive"] is None:
        for k in ("text_embeds", "embeds", "conditioning"):
            hit = g.node(ins.get(k))
            if hit is not None:
                bi = g.inputs(hit[1])
                if "positive" in bi:
                    v["positive"], v["negative"] = bi.get("positive"), bi.get("negative")
                else:
                    v["positive"] = ins[k]
                break
    if cls == "KSamplerAdvanced":
        s0 = to_int(g.scalar(ins.get("start_at_step")))
        s1 = to_int(g.scalar(ins.get("end_at_step")))
        if s0 or (s1 is not None and v["steps"] is not None and s1 < v["steps"]):
            v["start_at_step"], v["end_at_step"] = s0, s1
        if str(g.scalar(ins.get("add_noise"))) == "disable":
            v["add_noise"] = False
    # SamplerCustom(Advanced): sampler / sigmas / noise / guider sub-nodes
    smp = g.node(ins.get("sampler"))
    if smp is not None:
        si = g.inputs(smp[1])
        if "sampler_name" in si:
            v["sampler_name"] = g.scalar(si["sampler_name"])
        else:
            v["sampler_name"] = g.cls(smp[1])
    sig = g.node(ins.get("sigmas"))
    if sig is not None:
        si = g.inputs(sig[1])
        v["scheduler"] = g.scalar(si.get("scheduler")) if "scheduler" in si else \
            {"KarrasScheduler": "karras", "ExponentialScheduler": "exponential",
             "BetaSamplingScheduler": "beta"}.get(g.cls(sig[1]), g.cls(sig[1]))
        v["steps"] = v["steps"] or to_int(g.scalar(si.get("steps")))
        if v["denoise"] is None:
            v["denoise"] = to_float(g.scalar(si.get("denoise")))
        if v["model"] is None:
            v["model"] = si.get("model")
    noise = g.node(ins.get("noise"))
    if noise is not None and v["seed"] is None:
        v["seed"] = to_int(g.scalar(g.inputs(noise[1]).get("noise_seed"), ("noise_seed", "seed")))
    guider = g.node(ins.get("guider"))
    if guider is not None:
        gi = g.inputs(guider[1])
        v["cfg"] = v["cfg"] if v["cfg"] is not None else to_float(g.scalar(gi.get("cfg")))
        v["model"] = v["model"] or gi.get("model")
        v["positive"] = v["positive"] or gi.get("positive") or gi.get("conditioning")
        v["negative"] = v["negative"] or gi.get("negative")
    return v


def graph_to_draft(nodes: dict[str, dict]) -> Draft:
    """Trace an API graph into a Draft; what it cannot map is kept. Raises
    ImportMetadataError only for a graph whose trace is over the work limits
    (MAX_GRAPH_VISITS node visits, MAX_GRAPH_TEXT_CHARS of joined text)."""
    g = _Graph(nodes)
    d = Draft()
    found = {nid for nid, n in nodes.items() if _is_sampler(g.cls(n), g.inputs(n))}
    if not found:
        d.keep("graph", f"no sampler node among {len(nodes)} nodes")
        _fallback_texts(g, d)
        return d
    # detailers (Impact FaceDetailer, SEGS detailers, Ultimate SD Upscale...) sample an
    # image after the generation: never the first pass while a latent sampler exists
    latent_samplers = {nid for nid in found if not _works_on_image(g.inputs(nodes[nid]))}
    samplers = latent_samplers or found
    # order samplers: upstream[nid] = sampler feeding its latent
    info_by: dict[str, dict] = {}
    upstream: dict[str, str | None] = {}
    for nid in samplers:
        info: dict = {}
        ins = g.inputs(nodes[nid])
        link = ins.get("latent_image", ins.get("latent"))
        upstream[nid] = _latent_of(g, link, info, samplers, nid)
        info_by[nid] = info
    for nid in samplers:
        if upstream[nid] is None and not info_by[nid].get("img2img"):
            # a pass conditioned on an earlier pass's latent (PiD / reference-latent
            # upscalers): it comes after that pass
            pos = _sampler_values(g, nodes[nid], {})["positive"]
            upstream[nid] = _cond_pass(g, pos, samplers, nid, 0, set())

    def chain(nid: str) -> list[str]:
        out, seen = [nid], {nid}
        while upstream.get(out[-1]) and upstream[out[-1]] not in seen and len(out) < 32:
            out.append(upstream[out[-1]])
            seen.add(out[-1])
        return out[::-1]

    def fresh(nid: str) -> bool:
        """Does the chain start from an empty latent (text-to-image)?"""
        i = info_by[chain(nid)[0]]
        return bool(i.get("width") or i.get("empty")) and not i.get("img2img")

    # a full-denoise pass on the encoded picture of an earlier pass that is no
    # text-to-image (a depth map or other preprocessing of a loaded image) starts the
    # image: the earlier pass only made its input
    cut = [nid for nid in samplers if upstream[nid] and info_by[nid].get("via_pixels")
           and not fresh(upstream[nid]) and _full_denoise(g, nodes[nid])]
    fed = {upstream[nid] for nid in cut}
    for nid in cut:
        upstream[nid] = None
    consumed = {u for u in upstream.values() if u} | fed

    # the image: a chain from an empty latent, the longest, then the lowest node id
    # (parallel generations: the first one made)
    finals = [nid for nid in samplers if nid not in consumed]
    finals.sort(key=lambda nid: (not fresh(nid), -len(chain(nid)), _ids(nid)))
    main = chain(finals[0]) if finals else sorted(samplers, key=_ids)[:1]
    first = main[0]
    info = dict(info_by[first])
    v = _sampler_values(g, nodes[first], info)
    loras: list = []
    ckpt = _model_of(g, v["model"], loras, info)
    pos: list[str] = []
    neg: list[str] = []
    _text_of(g, v["positive"], pos, loras, info)
    _text_of(g, v["negative"], neg, [], info, role="negative")
    if pos:
        d.set("prompt", "\n".join(dict.fromkeys(pos)) if len(pos) > 1 else pos[0])
        if len(pos) > 1:
            d.keep("positive", f"{len(pos)} text encodes combined")
    if neg:
        d.set("negative_prompt", "\n".join(dict.fromkeys(neg)) if len(neg) > 1 else neg[0])
    w, h = info.get("width"), info.get("height")
    hint = None
    if info.get("flux"):
        hint = "flux"
    elif info.get("sd3"):
        hint = "sd3"
    elif info.get("sdxl"):
        hint = "sdxl"
    d.model, d.generator, d.model_revision = resolve_model(ckpt, None, width=w, height=h,
                                                           hint=hint)
    if d.generator is None and d.model.startswith("ckpt:") is False:
        d.generator = None
    gen = d.generator or ("flux" if d.model.startswith("flux") else None)
    fam, is_video = comfyui_video.family(g, nodes, main, v, ckpt)
    flow = gen in ("flux", "sd3") or d.model.startswith(("flux", "sd3", "sd35")) or (
        is_video and fam in comfyui_video.FLOW_FAMILIES)
    d.set("seed", v["seed"] if v["seed"] is not None and v["seed"] >= 0 else None)
    d.set("steps", v["steps"])
    if flow and info.get("flux_guidance") is not None:
        d.set("guidance_scale", info["flux_guidance"])
        if v["cfg"] is not None and v["cfg"] != 1.0:
            d.param("cfg", v["cfg"])
    else:
        d.set("guidance_scale", v["cfg"])
        if info.get("flux_guidance") is not None:
            d.param("distilled_guidance", info["flux_guidance"])
    key = sampler_names.from_comfyui(v["sampler_name"], v["scheduler"], flow=flow)
    if key is None and is_video:
        key = comfyui_video.scheduler_key(fam, v["sampler_name"], v["scheduler"])
    if key is not None:
        d.set("scheduler", key)
    else:
        if v["sampler_name"] is not None:
            d.param("sampler", str(v["sampler_name"]))
        if v["scheduler"] is not None:
            d.param("schedule_type", str(v["scheduler"]))
    if w and h:
        d.set("width", w)
        d.set("height", h)
    if info.get("clip_skip"):
        d.set("clip_skip", info["clip_skip"])
    if v["denoise"] is not None and v["denoise"] != 1.0:
        d.param("denoise", v["denoise"])
    for k in ("start_at_step", "end_at_step"):
        if v.get(k) is not None:
            d.param(k, v[k])
    if info.get("init_image"):
        d.param("init_image", info["init_image"])
    if info.get("batch_size"):
        d.param("batch_size", info["batch_size"])
    if info.get("text_l"):
        d.param("prompt_2", info["text_l"])
    d.loras = _dedupe(loras)
    _lora_strength_notes(info, d)
    # later passes (hires fix, refiner, img2img), ControlNets, detailers: typed stages
    first_pass = {"v": v, "ckpt": ckpt, "pos": pos, "neg": neg, "loras": d.loras,
                  "flow": flow}
    stages = _stages(g, nodes, main, info_by, first_pass, found - samplers, d)
    if is_video:   # frames, fps, motion fields, the video family (comfyui_video)
        stages = comfyui_video.fill(g, nodes, main, v, ckpt, d, fam, stages)
    d.stages.extend(stages)
    return _others(d, found, main)


def _lora_strength_notes(info: dict, d: Draft) -> None:
    """Per-step LoRA strengths (WanVideoWrapper) into ``params["lora_schedules"]`` (JSON:
    LoRA name -> list of strengths, one per step) with a warning (a render applies one
    weight per LoRA: the first value); a strength that could not be read is kept in
    ``unmapped`` with a warning."""
    sched = dict(info.get("lora_schedules", ()))
    if sched:
        d.param("lora_schedules", json.dumps(sched, separators=(",", ":"), ensure_ascii=False))
        for name, vals in sched.items():
            d.warnings.append(f"LoRA {name!r}: WanVideoLoraSelect strength is a per-step "
                              f"schedule ({len(vals)} values, {vals[0]:g} to {vals[-1]:g}); "
                              f"meta.loras has its first value {vals[0]:g} as the weight, "
                              f"which a render applies to every step; the schedule is in "
                              f"params['lora_schedules']")
    for name, raw in info.get("lora_strength_unread", ()):
        d.keep(f"lora strength {name}", raw)
        d.warnings.append(f"LoRA {name!r}: WanVideoLoraSelect strength {raw!r} is not a "
                          f"number that could be read; meta.loras has weight 1.0 for it")


# --------------------------------------------------------------------------- stages
_MAX_CN = 8          # ControlNets followed per pass


def _stages(g: _Graph, nodes: dict, main: list, info_by: dict, fp: dict, image_samplers: set,
            d: Draft) -> list:
    """The stages of the chain ``main`` after its first pass: each later sampler is a
    Hires (a resize before it), a Refiner (another model finishing the same schedule), or
    an Img2Img; ControlNets of each pass follow it; detailers of the final image last."""
    out: list = []

    def add(make, what: str) -> Any:
        try:
            st = make()
        except (MetaError, TypeError, ValueError) as e:
            d.keep(f"{what} stage", f"not typed: {getattr(e, 'message', e)}")
            return None
        out.append(st)
        return st

    out.extend(_controlnets(g, fp["v"]["positive"], 0, d))
    for nid in main[1:]:
        for st in _pass_stages(g, nodes[nid], info_by[nid], fp, d):
            add(lambda: st, st.name)
        if out:
            out.extend(_controlnets(g, _sampler_values(g, nodes[nid], {})["positive"],
                                    len(out), d))
    for nid in sorted(image_samplers, key=_ids):
        n = nodes[nid]
        if "Detailer" not in g.cls(n):
            continue
        if _image_source(g, g.inputs(n).get("image"), {}, set(main), nid) != main[-1]:
            continue
        kw = _detailer_kw(g, n, fp)
        if kw is not None:
            add(lambda: Detailer(**kw), "detailer")
    return out[:16]


def _pass_stages(g: _Graph, n: dict, info: dict, fp: dict, d: Draft) -> list:
    v0 = fp["v"]
    lv = _sampler_values(g, n, {})
    lloras: list = []
    lck = _model_of(g, lv["model"], lloras, {})
    kw: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if lck and lck != fp["ckpt"]:
        kw["model"] = resolve_model(lck)[0]
    key = sampler_names.from_comfyui(lv["sampler_name"], lv["scheduler"], flow=fp["flow"])
    if key is not None:
        kw["scheduler"] = key
    elif lv["sampler_name"] is not None:
        extra["sampler"] = str(lv["sampler_name"])
        if lv["scheduler"] is not None:
            extra["schedule_type"] = str(lv["scheduler"])
    if lv["cfg"] is not None:
        kw["guidance_scale"] = lv["cfg"]
    lpos: list[str] = []
    lneg: list[str] = []
    _text_of(g, lv["positive"], lpos, [], {})
    _text_of(g, lv["negative"], lneg, [], {}, role="negative")
    p0, n0 = _joined(fp["pos"]), _joined(fp["neg"])
    p1, n1 = (_joined(lpos) if lpos else p0), (_joined(lneg) if lneg else n0)
    if (p1, n1) != (p0, n0):
        kw["prompt"], kw["negative_prompt"] = p1, n1
    ops = list(reversed(info.get("ops", [])))
    resize = [o for o in ops if o[0] != "other"]
    others = [o[1] for o in ops if o[0] == "other"]
    steps = lv["steps"] or 0
    total = v0["steps"]
    if not resize and lv.get("start_at_step") and "model" in kw and steps:
        # SDXL base + refiner: the second model finishes the same schedule
        kw.pop("guidance_scale", None) if lv["cfg"] == v0["cfg"] else None
        return [Refiner(switch=min(lv["start_at_step"] / steps, 1.0),
                        steps=0 if steps == total else steps,
                        params=extra, **kw)]
    if lv.get("add_noise") is not False and lv["seed"] is not None and lv["seed"] >= 0:
        kw["seed"] = lv["seed"]
    dn = lv["denoise"] if lv["denoise"] is not None else 1.0
    dn = min(max(dn, 0.0), 1.0)
    if lv.get("start_at_step") and steps:
        dn = max(0.0, 1.0 - lv["start_at_step"] / steps)
        extra["start_at_step"] = lv["start_at_step"]
    # a stage's steps are the steps the pass runs (spec: stage fields): ComfyUI's KSampler
    # `steps` with `denoise` (it builds an int(steps / denoise)-step schedule and runs the
    # last `steps`), as A1111's "Hires steps"
    kw["steps"] = 0 if steps == total else min(steps, 10_000)
    if lloras and [lo.name for lo in lloras] != [lo.name for lo in fp["loras"]]:
        kw["loras"] = tuple(_dedupe(lloras))
    resize_kw = _resize_kw(resize, extra)
    if resize_kw is None:
        if extra:
            kw["params"] = extra
        return [Img2Img(strength=dn, **kw)]
    if others:        # other nodes between the resize and the pass: two stages
        rk = {k: v for k, v in resize_kw.items() if k != "params"}
        extra["between"] = ", ".join(str(o) for o in others[:8])[:200]
        kw["params"] = extra
        return [Upscale(**rk), Img2Img(strength=dn, **kw)]
    extra.update(resize_kw.pop("params", {}))
    if extra:
        kw["params"] = extra
    return [Hires(strength=dn, **resize_kw, **kw)]


def _joined(texts: list) -> str:
    """Texts of several encodes as the first pass joins them (duplicates once)."""
    return "\n".join(dict.fromkeys(texts)) if len(texts) > 1 else (texts[0] if texts else "")


def _resize_kw(resize: list, extra: dict) -> dict | None:
    """scale/size/upscaler of the resize ops met between two passes (execution order)."""
    if not resize:
        return None
    kw: dict[str, Any] = {"params": {}}
    scale, size = 1.0, None
    model = next((o[2] for o in resize if o[0] == "model"), None)
    for kind, method, val in resize:
        if kind == "model":
            m = _MODEL_SCALE(val)
            scale *= m
            if size is not None:
                size = (size[0] * m, size[1] * m)
            continue
        if kind.endswith("_scale"):
            if not val:
                return None
            scale *= val
            if size is not None:
                size = (int(size[0] * val), int(size[1] * val))
        elif isinstance(val, tuple) and val[0] and val[1]:
            size = val
        else:
            return None
        if model is None:
            kw["upscaler"], more = method_upscaler(method, kind.startswith("latent"))
            kw["params"].update(more)
    if model is not None:
        kw["upscaler"], kw["upscaler_model"] = "model", "ckpt:" + str(model)
    if size is not None:
        kw["size"] = size
    else:
        kw["scale"] = round(scale, 6)
    if not kw["params"]:
        kw.pop("params")
    return kw


def _MODEL_SCALE(name: Any) -> float:
    """The factor of an upscale model, from its name (``4x-UltraSharp``, ``RealESRGAN_x2``);
    4 when the name does not say (most ESRGAN-family networks)."""
    s = str(name or "").lower()
    for f in (8, 4, 3, 2, 1):
        if f"{f}x" in s or f"x{f}" in s:
            return float(f)
    return 4.0


def _controlnets(g: _Graph, link: Any, pass_index: int, d: Draft) -> list:
    """ControlNet stages applied to a positive conditioning (ControlNetApply,
    ControlNetApplyAdvanced, ControlNetApplySD3...), in the order they apply. The control
    image comes from a LoadImage the file does not carry: params name it."""
    found: list = []
    seen: set = set()
    for _ in range(_MAX_DEPTH):
        hit = g.node(link)
        if hit is None or hit[0] in seen:
            break
        nid, n = hit
        seen.add(nid)
        ins = g.inputs(n)
        if "control_net" in ins and len(found) < _MAX_CN:
            st = _controlnet(g, ins, pass_index, d)
            if st is not None:
                found.append(st)
        link = next((ins[k] for k in ("conditioning", "positive", "conditioning_to",
                                      "conditioning_1") if _is_link(ins.get(k))), None)
        if link is None:
            break
    return found[::-1]


def _controlnet(g: _Graph, ins: dict, pass_index: int, d: Draft) -> Any:
    params: dict[str, Any] = {}
    name = None
    cn = g.node(ins.get("control_net"))
    for _ in range(8):
        if cn is None:
            break
        ci = g.inputs(cn[1])
        name = ci.get("control_net_name", name)
        if isinstance(ci.get("type"), str):
            params["union_type"] = ci["type"]
        cn = g.node(ci.get("control_net")) if _is_link(ci.get("control_net")) else None
    if not isinstance(name, str) or not name:
        return None
    img = g.node(ins.get("image"))
    for _ in range(8):
        if img is None:
            break
        ii = g.inputs(img[1])
        if isinstance(ii.get("image"), str) and not _is_link(ii.get("image")):
            params["image"] = ii["image"]
            break
        pre = ii.get("preprocessor")
        params.setdefault("preprocessor", pre if isinstance(pre, str) else g.cls(img[1]))
        img = g.node(next((ii[k] for k in ("image", "images", "pixels") if _is_link(ii.get(k))),
                          None))
    kw: dict[str, Any] = {"model": "ckpt:" + name, "pass_index": min(pass_index, 16),
                          "params": params}
    for k, a in (("strength", "scale"), ("start_percent", "start"), ("end_percent", "end")):
        x = to_float(g.scalar(ins.get(k)))
        if x is not None:
            kw[a] = x
    try:
        return ControlNet(**kw)
    except MetaError as e:
        d.keep("controlnet stage", f"not typed: {e.message}")
        return None


def _detailer_kw(g: _Graph, n: dict, fp: dict) -> dict | None:
    """Impact FaceDetailer-like nodes: detector (bbox model), threshold, feather, and the
    sampler widgets."""
    ins = g.inputs(n)
    det = g.node(ins.get("bbox_detector"))
    name = g.inputs(det[1]).get("model_name") if det is not None else None
    if not isinstance(name, str) or not name:
        return None
    v = _sampler_values(g, n, {})
    kw: dict[str, Any] = {"detector": name[:200]}
    for k, a, conv in (("bbox_threshold", "confidence", to_float),
                       ("feather", "mask_blur", to_int), ("denoise", "strength", to_float)):
        x = conv(g.scalar(ins.get(k)))
        if x is not None:
            kw[a] = x
    if v["steps"]:
        kw["steps"] = 0 if v["steps"] == fp["v"]["steps"] else v["steps"]
    if v["cfg"] is not None:
        kw["guidance_scale"] = v["cfg"]
    if v["seed"] is not None and v["seed"] >= 0:
        kw["seed"] = v["seed"]
    key = sampler_names.from_comfyui(v["sampler_name"], v["scheduler"], flow=fp["flow"])
    if key is not None:
        kw["scheduler"] = key
    extra = {k: ins[k] for k in ("guide_size", "bbox_dilation", "bbox_crop_factor",
                                 "noise_mask", "force_inpaint") if isinstance(
        ins.get(k), (bool, int, float, str))}
    if extra:
        kw["params"] = extra
    return kw


def _works_on_image(ins: dict) -> bool:
    return not any(k in ins for k in ("latent_image", "latent", "samples", "sdxl_tuple")) and \
        any(_is_link(ins.get(k)) for k in ("image", "images", "upscaled_image", "pixels"))


def _others(d: Draft, samplers: set, main: list) -> Draft:
    rest = sorted((s for s in samplers if s not in main), key=_num)
    if rest:
        d.keep("other samplers", ", ".join(rest))
    return d


def _fallback_texts(g: _Graph, d: Draft) -> None:
    texts = [g.inputs(n).get("text") for n in g.nodes.values()
             if g.cls(n).startswith("CLIPTextEncode")]
    texts = [t for t in texts if isinstance(t, str)]
    if texts:
        d.set("prompt", texts[0])
    for n in g.nodes.values():
        ins = g.inputs(n)
        if g.cls(n) in _CKPT_LOADERS:
            name = ins.get(_CKPT_LOADERS[g.cls(n)])
            if isinstance(name, str):
                d.model, d.generator, d.model_revision = resolve_model(name)
                break


def _dedupe(loras: list) -> list:
    seen, out = set(), []
    for lo in loras:
        if lo.name not in seen:
            seen.add(lo.name)
            out.append(lo)
    return out


def _cond_pass(g: _Graph, link: Any, samplers: set, own: str, depth: int,
               seen: set) -> str | None:
    """The sampler whose latent a conditioning is built on (through its latent inputs)."""
    hit = g.node(link)
    if hit is None or depth > 16 or hit[0] in seen:
        return None
    nid, n = hit
    seen.add(nid)
    ins = g.inputs(n)
    for k, v in ins.items():
        if _is_link(v) and _latent_key(k):
            up = _latent_of(g, v, {}, samplers, own)
            if up is not None:
                return up
    for k, v in ins.items():
        if _is_link(v) and (k.startswith("conditioning") or k in ("positive", "cond",
                                                                    "base_cond")):
            up = _cond_pass(g, v, samplers, own, depth + 1, seen)
            if up is not None:
                return up
    return None


def _full_denoise(g: _Graph, n: dict) -> bool:
    """Does the sampler noise its latent fully (its content then only gives the size)?"""
    ins = g.inputs(n)
    v = _sampler_values(g, n, {})
    noise = g.node(ins.get("noise"))
    if v.get("add_noise") is False or v.get("start_at_step") or (
            noise is not None and g.cls(noise[1]) == "DisableNoise"):
        return False
    return v["denoise"] is None or v["denoise"] >= 1.0


def _ids(nid: str) -> tuple:
    """``"89:73:66"`` -> ((0, 89), (0, 73), (0, 66)): subgraph node ids in order."""
    out = []
    for part in nid.split(":")[:8]:
        out.append((0, int(part)) if part.isdigit() and len(part) < 12 else (1, part))
    return tuple(out)


def _num(nid: str) -> tuple:
    try:
        return (0, float(nid.split(":")[-1]))
    except ValueError:
        return (1, nid)


def merge_saver_infotext(d: Draft, info: Draft) -> Draft:
    """Add to a graph's Draft what a saver node's A1111 infotext has and the graph lacks.

    Saver nodes (comfy-image-saver's Image Saver and its forks) write the infotext from
    their own inputs: prompts rewritten for Civitai (whitespace flattened, ``<lora:>``
    tags and embedding paths stripped), Civitai sampler names, and widget defaults
    (seed 0, 512x512, "unknown" prompts) for what is not wired to the graph. The
    executed graph keeps its fields; the infotext fills a field the trace could not
    resolve, the model hash (when it names the graph's checkpoint), LoRAs and its other
    parameters (``hashes``, Civitai resources); a value that differs from the graph's is
    kept in ``unmapped`` as ``infotext <field>``. Returns ``d``."""
    for k, v in info.fields.items():
        if k not in d.fields:
            d.fields[k] = v
        elif d.fields[k] != v:
            d.keep(f"infotext {k}", v)
    for k, v in info.params.items():
        d.params.setdefault(k, v)
    if not d.loras:
        d.loras = list(info.loras)
    mine = (d.model or "ckpt:unknown")
    theirs = info.model or ""
    stem = mine[5:].replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if mine == "ckpt:unknown" and theirs:
        d.model, d.generator, d.model_revision = info.model, info.generator, info.model_revision
    elif mine.startswith("ckpt:") and theirs[5:] == stem and info.model_revision:
        d.model, gen, d.model_revision = resolve_model(mine[5:], info.model_revision,
                                                       hint=d.generator)
        d.generator = d.generator or gen
    elif theirs and theirs != mine and theirs.startswith("ckpt:") and theirs[5:] != stem:
        d.keep("infotext model", theirs[5:])
    return d


# --------------------------------------------------------------------------- workflow
# widget order of the core nodes in the editor's ``workflow`` JSON
_WIDGETS = {
    "KSampler": ["seed", None, "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "KSamplerAdvanced": ["add_noise", "noise_seed", None, "steps", "cfg", "sampler_name",
                         "scheduler", "start_at_step", "end_at_step", "return_with_leftover_noise"],
    "CheckpointLoaderSimple": ["ckpt_name"],
    "CheckpointLoader": ["config_name", "ckpt_name"],
    "unCLIPCheckpointLoader": ["ckpt_name"],
    "ImageOnlyCheckpointLoader": ["ckpt_name"],
    "CLIPTextEncodeSDXL": ["width", "height", "crop_w", "crop_h", "target_width", "target_height",
                           "text_g", "text_l"],
    "KSamplerSelect": ["sampler_name"],
    "BasicScheduler": ["scheduler", "steps", "denoise"],
    "RandomNoise": ["noise_seed", None],
    "CFGGuider": ["cfg"],
    "UNETLoader": ["unet_name", "weight_dtype"],
    "CLIPTextEncode": ["text"],
    "EmptyLatentImage": ["width", "height", "batch_size"],
    "EmptySD3LatentImage": ["width", "height", "batch_size"],
    "LoraLoader": ["lora_name", "strength_model", "strength_clip"],
    "LoraLoaderModelOnly": ["lora_name", "strength_model"],
    "CLIPSetLastLayer": ["stop_at_clip_layer"],
    "FluxGuidance": ["guidance"],
    "LatentUpscale": ["upscale_method", "width", "height", "crop"],
    "LatentUpscaleBy": ["upscale_method", "scale_by"],
}


_WIDGETS.update({
    # comfy-image-saver
    "Seed Generator": ["seed", None], "Int Literal": ["int"], "Float Literal": ["float"],
    "String Literal": ["string"], "Cfg Literal": ["float"], "Width/Height Literal": ["int"],
    "Sampler Selector": ["sampler_name"], "Scheduler Selector": ["scheduler"],
    "Checkpoint Selector": ["ckpt_name"],
    # frontend primitives and core primitive nodes
    "PrimitiveNode": ["value", None], "PrimitiveInt": ["value", None],
    "PrimitiveFloat": ["value"], "PrimitiveString": ["value"],
    "PrimitiveStringMultiline": ["value"], "PrimitiveBoolean": ["value"],
    # rgthree, Comfyroll, WAS, Efficiency, Impact
    "Seed (rgthree)": ["seed"], "CR Seed": ["seed", None], "CR Prompt Text": ["prompt"],
    "CR Integer": ["integer"], "CR Float": ["float"], "Text Multiline": ["text"],
    "Power Prompt (rgthree)": ["prompt"], "Power Prompt - Simple (rgthree)": ["prompt"],
    "CR SDXL Aspect Ratio": ["width", "height", "aspect_ratio", "swap_dimensions",
                            "upscale_factor", "batch_size"],
    "CR Aspect Ratio": ["width", "height", "aspect_ratio", "swap_dimensions",
                        "upscale_factor", "prescale_factor", "batch_size"],
    "Efficient Loader": ["ckpt_name", "vae_name", "clip_skip", "lora_name",
                         "lora_model_strength", "lora_clip_strength", "positive", "negative",
                         "token_normalization", "weight_interpretation", "empty_latent_width",
                         "empty_latent_height", "batch_size"],
    "KSampler (Efficient)": ["seed", None, "steps", "cfg", "sampler_name", "scheduler",
                             "denoise", "preview_method", "vae_decode"],
    "KSampler Adv. (Efficient)": ["add_noise", "noise_seed", None, "steps", "cfg",
                                  "sampler_name", "scheduler", "start_at_step", "end_at_step",
                                  "return_with_leftover_noise", "preview_method", "vae_decode"],
    "ImpactWildcardEncode": ["wildcard_text", "populated_text", "mode", None, None, "seed",
                             None],
    "ImpactWildcardProcessor": ["wildcard_text", "populated_text", "mode", "seed", None],
    "SamplerCustom": ["add_noise", "noise_seed", None, "cfg"],
    "KarrasScheduler": ["steps", "sigma_max", "sigma_min", "rho"],
    "ModelSamplingFlux": ["max_shift", "base_shift", "width", "height"],
    "EmptyHunyuanLatentVideo": ["width", "height", "length", "batch_size"],
    "EmptyFlux2LatentImage": ["width", "height", "batch_size"],
    "SDXL Prompt Styler": ["text_positive", "text_negative", "style", "log_prompt"],
    # core schedulers and latent nodes that older frontends saved without widget inputs
    "LTXVScheduler": ["steps", "max_shift", "base_shift", "stretch", "terminal"],
    "Flux2Scheduler": ["steps", "width", "height"],
    "BetaSamplingScheduler": ["steps", "alpha", "beta"],
    "SDTurboScheduler": ["steps", "denoise"],
    "ManualSigmas": ["sigmas"], "SplitSigmas": ["step"],
    "StringConcatenate": ["string_a", "string_b", "delimiter"],
    "StringReplace": ["string", "find", "replace"],
    "TextEncodeQwenImageEdit": ["prompt"], "TextEncodeQwenImageEditPlus": ["prompt"],
    "TextEncodeMOSSImageEdit": ["prompt", "edit_format", "image_strength"],
    "CLIPTextEncodeFlux": ["clip_l", "t5xxl", "guidance"],
    "ModelSamplingSD3": ["shift"], "ModelSamplingAuraFlow": ["shift"],
    "EmptyChromaRadianceLatentImage": ["width", "height", "batch_size"],
    "EmptyHiDreamO1LatentImage": ["width", "height", "batch_size"],
    "EmptyQwenImageLayeredLatentImage": ["width", "height", "layers", "batch_size"],
    "LTXVImgToVideo": ["width", "height", "length", "batch_size", "strength"],
    # video: frame rate of outputs and conditioning, AnimateDiff-Evolved loaders
    "CreateVideo": ["fps"], "LTXVConditioning": ["frame_rate"], "ComfyMathExpression": ["expression"],
    "SaveAnimatedWEBP": ["filename_prefix", "fps", "lossless", "quality", "method"],
    "SaveAnimatedPNG": ["filename_prefix", "fps", "compress_level"],
    "SaveWEBM": ["filename_prefix", "codec", "fps", "crf"],
    "SaveVideo": ["filename_prefix", "format", "codec"],
    "ADE_AnimateDiffLoaderGen1": ["model_name", "beta_schedule"],
    "ADE_LoadAnimateDiffModel": ["model_name"], "ADE_UseEvolvedSampling": ["beta_schedule"],
    "LoadImage": ["image", "upload"],
    "WanVaceToVideo": ["width", "height", "length", "batch_size", "strength"],
    **{k: ["width", "height", "length", "batch_size"] for k in (
        "EmptyLTXVLatentVideo", "EmptyHunyuanVideo15Latent", "HunyuanVideo15ImageToVideo",
        "WanImageToVideo", "WanFirstLastFrameToVideo", "WanSoundImageToVideo",
        "WanFunControlToVideo", "WanFunInpaintToVideo", "WanHuMoImageToVideo",
        "WanCameraImageToVideo", "Wan22FunControlToVideo", "Wan22ImageToVideoLatent",
        "Kandinsky5ImageToVideo")},
})
_CONTROL = ("fixed", "increment", "decrement", "randomize")
_MAX_WORKFLOW_NODES = 20_000
_MAX_SUBGRAPH_DEPTH = 4


def _widget_names(n: dict, widgets: list) -> list | None:
    """Widget names of a node the tables above do not know: the inputs that name a
    widget (the frontend lists every widget there since 2025), when they account for
    every value (a seed widget may be followed by its control_after_generate value)."""
    names = [i["widget"].get("name") for i in n.get("inputs") or []
             if isinstance(i, dict) and isinstance(i.get("widget"), dict)]
    out: list = []
    j = 0
    for name in names:
        if j >= len(widgets):
            return None
        out.append(name)
        j += 1
        if j < len(widgets) and widgets[j] in _CONTROL and isinstance(widgets[j - 1], int):
            out.append(None)
            j += 1
    return out if j == len(widgets) else None


class _Level:
    """One graph level of an editor workflow: the top graph or a subgraph instance
    (node ids prefixed ``<instance id>:``)."""

    def __init__(self, nodes: list, links: Any, prefix: str, subs: dict, out: dict,
                 depth: int, io_in: Any) -> None:
        self.prefix, self.subs, self.out, self.depth, self.io_in = prefix, subs, out, depth, io_in
        self.links: dict = {}
        for ln in links if isinstance(links, list) else []:
            if isinstance(ln, list) and len(ln) >= 5:
                self.links[ln[0]] = (ln[1], ln[2])
            elif isinstance(ln, dict) and "id" in ln:
                self.links[ln["id"]] = (ln.get("origin_id"), ln.get("origin_slot"))
        self.inst: dict = {}
        self.sg: dict = {}
        self.nodes = [n for n in nodes if isinstance(n, dict)]
        self.by_id = {n.get("id"): n for n in self.nodes if isinstance(n.get("id"), (int, str))}

    def ref(self, origin: Any, slot: Any, hops: int = 0) -> Any:
        """What a link from (origin, slot) carries: a link into the flat graph, or the
        value of a subgraph's widget."""
        if origin == -10 and self.io_in is not None:
            return self.io_in(slot)
        n = self.by_id.get(origin)
        if n is not None and n.get("mode") == 4 and hops < 8:
            # bypassed: the input of the output's type passes through
            outs = n.get("outputs") or []
            want = outs[slot].get("type") if isinstance(slot, int) and 0 <= slot < len(outs) \
                and isinstance(outs[slot], dict) else None
            for i in n.get("inputs") or []:
                if isinstance(i, dict) and want is not None and i.get("type") == want \
                        and i.get("link") in self.links:
                    return self.ref(*self.links[i["link"]], hops + 1)
            return None
        if origin in self.inst and self.inst[origin] is None:
            return None
        inner = self.inst.get(origin)
        if inner is not None and hops < 8:
            outs = inner.sg.get("outputs") or []
            if isinstance(slot, int) and 0 <= slot < len(outs) and isinstance(outs[slot], dict):
                for lid in outs[slot].get("linkIds") or []:
                    src = inner.links.get(lid)
                    if src is not None:
                        return inner.ref(src[0], src[1], hops + 1)
            return None
        return [self.prefix + str(origin), slot if isinstance(slot, int) else 0]

    def build(self) -> None:
        for n in self.nodes:
            sg = self.subs.get(n.get("type"))
            if sg is not None and n.get("mode") in (2, 4):
                self.inst[n.get("id")] = None     # a muted subgraph: none of it runs
            elif sg is not None and self.depth < _MAX_SUBGRAPH_DEPTH:
                self.inst[n.get("id")] = self._instance(n, sg)
        for n in self.nodes:
            if len(self.out) >= _MAX_WORKFLOW_NODES:
                return
            if n.get("mode") in (2, 4) or n.get("id") in self.inst:  # muted / bypassed
                continue
            cls = str(n.get("type", ""))
            ins: dict[str, Any] = {}
            widgets = n.get("widgets_values")
            if isinstance(widgets, dict):             # some custom nodes save a dict
                ins.update({str(k): v for k, v in widgets.items()})
            elif isinstance(widgets, list):
                names = _WIDGETS.get(cls) or _widget_names(n, widgets) or []
                for name, val in zip(names, widgets):
                    if name:
                        ins[name] = val
            for i in n.get("inputs") or []:
                if isinstance(i, dict) and i.get("link") in self.links:
                    v = self.ref(*self.links[i["link"]])
                    if v is not None:
                        ins[str(i.get("name"))] = v
            self.out[self.prefix + str(n.get("id"))] = {"class_type": cls, "inputs": ins}
        for lvl in self.inst.values():
            if lvl is not None:
                lvl.build()

    def _instance(self, n: dict, sg: dict) -> "_Level":
        sins = [i for i in sg.get("inputs") or [] if isinstance(i, dict)]
        linked = {}
        for i in n.get("inputs") or []:
            if isinstance(i, dict) and i.get("link") in self.links:
                linked[i.get("name")] = self.links[i["link"]]
        # promoted widgets: the instance's widgets_values, in the order of the subgraph
        # inputs that are widgets (not linked sockets of a connection type)
        widgets = n.get("widgets_values") if isinstance(n.get("widgets_values"), list) else []
        values: dict = {}
        j = 0
        for i in sins:
            if str(i.get("type", "")) not in ("INT", "FLOAT", "STRING", "COMBO", "BOOLEAN"):
                continue
            if j < len(widgets):
                values[i.get("name")] = widgets[j]
                j += 1
                if j < len(widgets) and widgets[j] in _CONTROL and isinstance(widgets[j - 1], int):
                    j += 1

        def io_in(slot: Any) -> Any:
            if not isinstance(slot, int) or not 0 <= slot < len(sins):
                return None
            name = sins[slot].get("name")
            if name in linked:
                return self.ref(*linked[name])
            return values.get(name)

        lvl = _Level(sg.get("nodes") or [], sg.get("links"), f"{self.prefix}{n.get('id')}:",
                     self.subs, self.out, self.depth + 1, io_in)
        lvl.sg = sg
        return lvl


def workflow_to_graph(text: str) -> dict | None:
    """An API-style graph rebuilt from an editor ``workflow``, for files that carry no
    ``prompt`` graph: widget values named by the tables above (core and common custom
    nodes) or by the node's widget inputs; links followed through reroutes and
    primitive nodes; subgraphs (``definitions.subgraphs``) flattened, their inner
    nodes named ``<instance id>:<node id>``."""
    try:
        wf = loads_json(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(wf, dict) or not isinstance(wf.get("nodes"), list):
        return None
    defs = wf.get("definitions")
    subs = {}
    if isinstance(defs, dict) and isinstance(defs.get("subgraphs"), list):
        subs = {sg["id"]: sg for sg in defs["subgraphs"]
                if isinstance(sg, dict) and isinstance(sg.get("id"), str)}
    nodes: dict[str, dict] = {}
    _Level(wf["nodes"], wf.get("links"), "", subs, nodes, 0, None).build()
    return nodes or None


# --------------------------------------------------------------------------- export
def meta_to_graph(meta: GenerationMeta) -> dict:
    """A minimal ComfyUI API graph that generates ``meta`` with core nodes."""
    sk = sampler_names.to_comfyui(meta.scheduler) or (
        str(meta.params.get("sampler", "euler")), str(meta.params.get("schedule_type", "normal")))
    g: dict[str, dict] = {}
    g["4"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": model_name(meta)}}
    model, clip = ["4", 0], ["4", 1]
    nid = 20
    for lo in meta.loras:
        g[str(nid)] = {"class_type": "LoraLoader", "inputs": {
            "lora_name": lo.name, "strength_model": lo.weight,
            "strength_clip": lo.weight if lo.clip_weight is None else lo.clip_weight,
            "model": model, "clip": clip}}
        model, clip = [str(nid), 0], [str(nid), 1]
        nid += 1
    if meta.clip_skip:
        g["10"] = {"class_type": "CLIPSetLastLayer",
                   "inputs": {"stop_at_clip_layer": -(meta.clip_skip + 1), "clip": clip}}
        clip = ["10", 0]
    g["5"] = {"class_type": "EmptyLatentImage",
              "inputs": {"width": meta.width, "height": meta.height, "batch_size": 1}}
    g["6"] = {"class_type": "CLIPTextEncode", "inputs": {"text": meta.prompt, "clip": clip}}
    g["7"] = {"class_type": "CLIPTextEncode", "inputs": {"text": meta.negative_prompt,
                                                         "clip": clip}}
    g["3"] = {"class_type": "KSampler", "inputs": {
        "seed": meta.seed if meta.seed is not None else 0, "steps": meta.steps,
        "cfg": meta.guidance_scale, "sampler_name": sk[0], "scheduler": sk[1],
        "denoise": float(meta.params.get("denoise", 1.0)) if isinstance(
            meta.params.get("denoise", 1.0), (int, float)) else 1.0,
        "model": model, "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}}
    last = _export_stages(meta, g, model, ("6", "7"), clip)
    g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": last, "vae": ["4", 2]}}
    g["9"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "aigif",
                                                    "images": ["8", 0]}}
    return dict(sorted(g.items(), key=lambda kv: int(kv[0])))


_TO_LATENT_METHOD = {"latent": "bilinear", "latent-antialiased": "bilinear",
                     "latent-bicubic": "bicubic", "latent-bicubic-antialiased": "bicubic",
                     "latent-nearest": "nearest-exact", "latent-nearest-exact": "nearest-exact",
                     "latent-area": "area"}
_TO_PIXEL_METHOD = {"lanczos": "lanczos", "bicubic": "bicubic", "bilinear": "bilinear",
                    "nearest": "nearest-exact"}


def _ckpt_name(model: str) -> str:
    return model[5:] if model.startswith("ckpt:") else _MODEL_FILE.get(model, model)


def _export_stages(meta: GenerationMeta, g: dict, model: list, texts: tuple,
                   clip: list) -> list:
    """Append the nodes of meta's Hires, Img2Img and Refiner stages after the first
    sampler (node 3); the latent link of the last pass. ControlNet (no control image in
    the graph), Upscale-only and Detailer stages are not written."""
    latent = ["3", 0]
    nid = [40]

    def add(cls: str, inputs: dict) -> str:
        k = str(nid[0])
        nid[0] += 1
        g[k] = {"class_type": cls, "inputs": inputs}
        return k

    denoising = [st for st in meta.stages if st.name != "controlnet"]
    for i, st in enumerate(denoising):
        if st.name not in ("hires", "img2img", "refiner"):
            continue
        e = st.effective(meta)
        sk = sampler_names.to_comfyui(e.scheduler) or (g["3"]["inputs"]["sampler_name"],
                                                       g["3"]["inputs"]["scheduler"])
        smodel, sclip, pos, neg = model, clip, [texts[0], 0], [texts[1], 0]
        if e.model != meta.model or st.name == "refiner":
            ck = add("CheckpointLoaderSimple", {"ckpt_name": _ckpt_name(e.model)})
            smodel, sclip = [ck, 0], [ck, 1]
        if sclip is not clip or (e.prompt, e.negative_prompt) != (meta.prompt,
                                                                  meta.negative_prompt):
            pos = [add("CLIPTextEncode", {"text": e.prompt, "clip": sclip}), 0]
            neg = [add("CLIPTextEncode", {"text": e.negative_prompt, "clip": sclip}), 0]
        if st.name == "refiner":
            if i != 0 or g["3"]["class_type"] != "KSampler":
                continue       # only a hand-over from the first pass is written
            base = g["3"]["inputs"]
            end = round(st.switch * base["steps"])
            g["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
                "add_noise": "enable", "noise_seed": base["seed"], "steps": base["steps"],
                "cfg": base["cfg"], "sampler_name": base["sampler_name"],
                "scheduler": base["scheduler"], "start_at_step": 0, "end_at_step": end,
                "return_with_leftover_noise": "enable", "model": base["model"],
                "positive": base["positive"], "negative": base["negative"],
                "latent_image": base["latent_image"]}}
            latent = [add("KSamplerAdvanced", {
                "add_noise": "disable", "noise_seed": base["seed"], "steps": e.steps,
                "cfg": e.guidance_scale, "sampler_name": sk[0], "scheduler": sk[1],
                "start_at_step": end, "end_at_step": 10000,
                "return_with_leftover_noise": "disable", "model": smodel, "positive": pos,
                "negative": neg, "latent_image": latent}), 0]
            continue
        if st.name == "hires":
            latent = _export_resize(st, latent, add)
        latent = [add("KSampler", {
            "seed": e.seed if e.seed is not None else 0,
            "steps": e.steps, "cfg": e.guidance_scale,
            "sampler_name": sk[0], "scheduler": sk[1], "denoise": e.strength,
            "model": smodel, "positive": pos, "negative": neg, "latent_image": latent}), 0]
    return latent


def _export_resize(st: Any, latent: list, add: Any) -> list:
    method = st.params.get("upscale_method")
    if st.upscaler in _TO_LATENT_METHOD:
        m = method if isinstance(method, str) else _TO_LATENT_METHOD[st.upscaler]
        if st.size is not None:
            return [add("LatentUpscale", {"upscale_method": m, "width": st.size[0],
                                          "height": st.size[1], "crop": "disabled",
                                          "samples": latent}), 0]
        return [add("LatentUpscaleBy", {"upscale_method": m, "scale_by": st.scale,
                                        "samples": latent}), 0]
    img = [add("VAEDecode", {"samples": latent, "vae": ["4", 2]}), 0]
    scale = st.scale
    m = method if isinstance(method, str) else _TO_PIXEL_METHOD.get(st.upscaler, "lanczos")
    if st.upscaler == "model":
        um = add("UpscaleModelLoader", {"model_name": _ckpt_name(st.upscaler_model)})
        img = [add("ImageUpscaleWithModel", {"upscale_model": [um, 0], "image": img}), 0]
        m = "lanczos"
        if scale is not None:
            scale = scale / _MODEL_SCALE(st.upscaler_model)
    if st.size is not None:
        img = [add("ImageScale", {"upscale_method": m, "width": st.size[0],
                                  "height": st.size[1], "crop": "disabled", "image": img}), 0]
    elif scale != 1.0:
        img = [add("ImageScaleBy", {"upscale_method": m, "scale_by": scale, "image": img}), 0]
    return [add("VAEEncode", {"pixels": img, "vae": ["4", 2]}), 0]
