"""ComfyUI video workflows: which video family a traced graph ran, and its video fields.

``comfyui.graph_to_draft`` traces a graph's first pass as for an image; this module then
says whether the graph made a video and with which diffusers video family
(``animatediff``, ``cogvideox``, ``ltx_video``, ``wan``, ``text_to_video_sd``,
``hunyuan_video``, ``stable_video_diffusion``), and fills ``Draft.video`` (``aigif.Video``
keyword arguments):

* frames: the ``length`` of the latent the first pass samples (``EmptyHunyuanLatentVideo``,
  ``EmptyLTXVLatentVideo``, ``WanImageToVideo``, ``Wan22ImageToVideoLatent``,
  ``LTXVImgToVideo``, ``EmptyHunyuanVideo15Latent``..., through ``LTXVConcatAVLatent``),
  a ``num_frames`` / ``frame_number`` input, or for AnimateDiff the empty latent's batch;
* fps: the output node fed by the image chain (``CreateVideo`` / ``SaveAnimatedWEBP`` /
  ``SaveAnimatedPNG`` / ``SaveWEBM`` ``fps``, ``VHS_VideoCombine`` ``frame_rate``); for
  LTX-Video the ``LTXVConditioning`` ``frame_rate`` the model is conditioned on, for Stable
  Video Diffusion the ``SVD_img2vid_Conditioning`` ``fps``;
* Stable Video Diffusion (``ImageOnlyCheckpointLoader`` + ``SVD_img2vid_Conditioning``):
  ``motion_bucket_id``, ``augmentation_level`` as ``noise_aug_strength``, the
  ``VideoLinearCFGGuidance`` ``min_cfg`` as ``params["min_guidance_scale"]`` (the sampler's
  cfg is the maximum); the official checkpoint files (``svd.safetensors``,
  ``svd_xt.safetensors``, ``svd_xt_1_1.safetensors``) as the hub repositories they come from;
* flow_shift: ``ModelSamplingSD3`` ``shift`` on the model path (Wan, HunyuanVideo);
* motion_adapter: the AnimateDiff motion model (``ADE_AnimateDiffLoaderGen1``,
  ``ADE_LoadAnimateDiffModel`` via ``ADE_UseEvolvedSampling``, ``AnimateDiffLoaderV1``...);
* the Wan 2.2 two-expert ``KSamplerAdvanced`` hand-over: params ``model_2``,
  ``expert_switch_step``, ``guidance_scale_2`` instead of a Refiner stage, and the LoRAs
  on the low-noise expert's model chain as ``loras_2`` (``name:weight, ...``).

What has no typed field goes to ``params`` (context options, beta schedule, LTX scheduler
shifts, the i2v image names) or ``unmapped``; the graph itself stays verbatim in ``source``.
"""
from __future__ import annotations

import ast
import math
import re
from typing import Any

from .. import spec
from ..errors import MetaError
from ..registry import generators
from ..stages import Refiner
from ..video import frame_rate
from ._common import make_lora, to_float, to_int

__all__ = ["family", "fill", "scheduler_key", "FLOW_FAMILIES", "VIDEO_FAMILIES"]

VIDEO_FAMILIES = ("animatediff", "cogvideox", "ltx_video", "wan", "text_to_video_sd",
                  "hunyuan_video", "stable_video_diffusion")
#: families whose models are flow-matching (ComfyUI euler + simple is flow Euler there)
FLOW_FAMILIES = ("ltx_video", "wan", "hunyuan_video")
_DEPTH = 48

# node classes that say which family a graph runs
_CLASS_FAMILY = (
    (("ADE_", "AnimateDiff"), "animatediff"),
    (("WanVideo", "WanImageToVideo", "WanFirstLastFrame", "WanVace", "WanFun", "Wan22",
      "WanCamera", "WanSound", "WanHuMo", "WanAnimate", "WanTrack", "WanMove", "WanSCAIL",
      "WanInfiniteTalk", "WanDancer"), "wan"),
    (("LTXV", "LTXAV"), "ltx_video"),
    (("HunyuanVideo", "EmptyHunyuanVideo15", "HyVideo"), "hunyuan_video"),
    (("CogVideo",), "cogvideox"),
    (("SVD_img2vid",), "stable_video_diffusion"),
)
_CLIP_TYPES = {"wan": "wan", "ltxv": "ltx_video", "hunyuan_video": "hunyuan_video",
               "hunyuan_video_15": "hunyuan_video", "cogvideox": "cogvideox"}
_FRAME_KEYS = ("length", "num_frames", "frames", "frame_count", "video_frames",
               "frames_number", "frame_number", "video_length")
#: output nodes and their frame-rate input
_OUTPUTS = {"CreateVideo": "fps", "SaveAnimatedWEBP": "fps", "SaveAnimatedPNG": "fps",
            "SaveWEBM": "fps", "VHS_VideoCombine": "frame_rate", "AnimateDiffCombine":
            "frame_rate", "SaveVideo": None}
#: well-known AnimateDiff motion modules whose diffusers conversion is on the hub
_MOTION = {"mm_sd_v15_v2": "guoyww/animatediff-motion-adapter-v1-5-2",
           "v3_sd15_mm": "guoyww/animatediff-motion-adapter-v1-5-3",
           "mm_sd_v15": "guoyww/animatediff-motion-adapter-v1-5",
           "mm_sd_v14": "guoyww/animatediff-motion-adapter-v1-4"}
#: the official SVD checkpoint files and the hub repositories that hold them
_SVD = {"svd.safetensors": "stabilityai/stable-video-diffusion-img2vid",
        "svd_image_decoder.safetensors": "stabilityai/stable-video-diffusion-img2vid",
        "svd_xt.safetensors": "stabilityai/stable-video-diffusion-img2vid-xt",
        "svd_xt_image_decoder.safetensors": "stabilityai/stable-video-diffusion-img2vid-xt",
        "svd_xt_1_1.safetensors": "stabilityai/stable-video-diffusion-img2vid-xt-1-1"}
_HUB = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}")
_FILE_EXT = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
# LTXVScheduler widgets that equal the schedule of diffusers' LTX-Video scheduler config
_LTX_SCHEDULE = {"max_shift": 2.05, "base_shift": 0.95, "stretch": True, "terminal": 0.1}


def _is_link(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], (str, int)) \
        and isinstance(v[1], int) and not isinstance(v[1], bool)


def _name_family(name: Any) -> str | None:
    n = re.split(r"[\\/]", name)[-1].lower() if isinstance(name, str) else ""
    full = name.lower() if isinstance(name, str) else ""
    if re.search(r"(^|[^a-z])wan([^a-z]|$)", n) or "wan-ai/" in full:
        return "wan"
    if "ltx" in n:
        return "ltx_video"
    if "hunyuan" in n and "video" in n or "hyvideo" in n:
        return "hunyuan_video"
    if "cogvideo" in n:
        return "cogvideox"
    if "text-to-video-ms" in n or "modelscope" in n or "text_to_video_ms" in n:
        return "text_to_video_sd"
    if "animatediff" in n:
        return "animatediff"
    if re.search(r"(^|[^a-z])svd([^a-z]|$)", n) or "stable-video-diffusion" in n or \
            "stable_video_diffusion" in n:
        return "stable_video_diffusion"
    return None


def _class_family(cls: str) -> str | None:
    for prefixes, fam in _CLASS_FAMILY:
        if cls.startswith(prefixes) or any(p in cls for p in prefixes if len(p) > 4):
            return fam
    return None


# --------------------------------------------------------------------------- values
_FUNCS = {"floor": math.floor, "ceil": math.ceil, "round": round, "min": min, "max": max,
          "abs": abs, "int": int, "float": float}


def _calc(expr: str, names: dict) -> float | None:
    """A ComfyUI math node's expression (``floor(a * b) + 1``): numbers, a/b/c..., + - * /
    // % ** (small powers), floor/ceil/round/min/max/abs; None for anything else."""
    if not isinstance(expr, str) or len(expr) > 200:
        return None
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        return None

    def ev(n: ast.AST, depth: int = 0) -> float:
        if depth > 32:
            raise ValueError
        if isinstance(n, ast.Expression):
            return ev(n.body, depth + 1)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) \
                and not isinstance(n.value, bool):
            return n.value
        if isinstance(n, ast.Name) and n.id in names:
            return names[n.id]
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            x = ev(n.operand, depth + 1)
            return -x if isinstance(n.op, ast.USub) else x
        if isinstance(n, ast.BinOp):
            a, b = ev(n.left, depth + 1), ev(n.right, depth + 1)
            op = type(n.op)
            if op is ast.Add:
                return a + b
            if op is ast.Sub:
                return a - b
            if op is ast.Mult:
                return a * b
            if op is ast.Div:
                return a / b
            if op is ast.FloorDiv:
                return a // b
            if op is ast.Mod:
                return a % b
            if op is ast.Pow and abs(b) <= 16 and abs(a) <= 1e6:
                return a ** b
            raise ValueError
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _FUNCS \
                and not n.keywords and 0 < len(n.args) <= 4:
            return _FUNCS[n.func.id](*(ev(x, depth + 1) for x in n.args))
        raise ValueError

    try:
        v = ev(tree)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        return None
    return v if isinstance(v, (int, float)) and math.isfinite(v) and abs(v) < 1e12 else None


def _value(g: Any, v: Any, names: tuple = (), depth: int = 0) -> Any:
    """A widget value, a link to a primitive node, or to a math-expression node."""
    if not _is_link(v) or depth > 6:
        return g.scalar(v, names) if depth <= 6 else None
    hit = g.node(v)
    if hit is None:
        return None
    ins = g.inputs(hit[1])
    if isinstance(ins.get("expression"), str):
        vals = {}
        for k, x in ins.items():
            key = k.split(".")[-1]
            if k != "expression" and re.fullmatch(r"[a-z]", key):
                y = _value(g, x, (), depth + 1)
                if isinstance(y, (int, float)) and not isinstance(y, bool):
                    vals[key] = y
        return _calc(ins["expression"], vals)
    return g.scalar(v, names)


# --------------------------------------------------------------------------- walks
def _upstream(g: Any, link: Any, keys: tuple | None, limit: int = 256):
    """(id, node) of the nodes upstream of ``link`` (breadth first, each once), following
    the inputs named in ``keys`` (None: every link)."""
    todo, seen = [link], set()
    while todo and len(seen) < limit:
        hit = g.node(todo.pop(0))
        if hit is None or hit[0] in seen:
            continue
        seen.add(hit[0])
        yield hit
        for k, v in g.inputs(hit[1]).items():
            if _is_link(v) and (keys is None or k in keys or k.startswith(keys)):
                todo.append(v)


_MODEL_KEYS = ("model", "m_models", "motion_model", "motion_module", "context_options",
               "unet", "transformer", "base_model")
_COND_KEYS = ("positive", "conditioning", "guider", "cond", "text_embeds", "image_embeds")
_LATENT_KEYS = ("latent_image", "latent", "samples", "video_latent", "latents", "av_latent",
                "image_embeds", "samples_to")


def _latent_nodes(g: Any, sampler: dict) -> list:
    ins = g.inputs(sampler)
    link = next((ins[k] for k in ("latent_image", "latent", "samples", "image_embeds")
                 if _is_link(ins.get(k))), None)
    return list(_upstream(g, link, _LATENT_KEYS, 64)) if link is not None else []


def _load_image(g: Any, link: Any) -> str | None:
    for _, n in _upstream(g, link, None, 32):
        ins = g.inputs(n)
        if isinstance(ins.get("image"), str) and not any(_is_link(x) for x in ins.values()):
            return ins["image"][:1000]
    return None


# --------------------------------------------------------------------------- family
def family(g: Any, nodes: dict, main: list, v: dict, ckpt: Any) -> tuple[str | None, bool]:
    """(video family or None, whether the graph makes a video) for the traced first pass
    ``main[0]`` (sampler values ``v``, checkpoint name ``ckpt``)."""
    first = nodes[main[0]]
    ckpt = ckpt or _loader_name(g, first, v)
    fam = _class_family(g.cls(first)) if "Video" in g.cls(first) or "AnimateDiff" in \
        g.cls(first) else None
    video_nodes = False
    for _, n in _model_nodes(g, first, v):
        cls = g.cls(n)
        f = _class_family(cls)
        if f == "animatediff":
            fam = "animatediff"
            video_nodes = True
            break
    if fam is None:
        fam = _name_family(ckpt)
    for _, n in _latent_nodes(g, first):
        f = _class_family(g.cls(n))
        if f is not None:
            video_nodes = True
            fam = fam or f
    if fam is None:
        for n in nodes.values():
            cls = g.cls(n)
            if cls in ("CLIPLoader", "DualCLIPLoader") and isinstance(g.inputs(n).get("type"), str):
                fam = _CLIP_TYPES.get(g.inputs(n)["type"].lower())
                if fam:
                    break
    frames = _frames(g, first, fam)
    outs = _outputs(g, nodes, main)
    # one frame into an image saver is an image (Wan text-to-image), whatever the nodes
    is_video = bool(outs) or (frames is not None and frames > 1) or (
        frames is None and (video_nodes or "Video" in g.cls(first)))
    return fam, is_video


def _loader_name(g: Any, first: dict, v: dict) -> str | None:
    """The model a custom video loader names (``DownloadAndLoadCogVideoModel`` ``model``:
    a hub id...), for graphs whose trace found no checkpoint loader."""
    for _, n in _model_nodes(g, first, v, 32):
        ins = g.inputs(n)
        for k in ("model", "model_name", "ckpt_name", "unet_name"):
            if isinstance(ins.get(k), str) and ins[k].strip():
                return ins[k][:900]
    return None


def _model_links(g: Any, first: dict, v: dict) -> list:
    """The model links of the first pass: its guider's model (SamplerCustomAdvanced: the
    model that samples), then the sampler's own (or its scheduler's)."""
    out = []
    guider = g.node(g.inputs(first).get("guider"))
    if guider is not None and _is_link(g.inputs(guider[1]).get("model")):
        out.append(g.inputs(guider[1])["model"])
    if v.get("model") is not None:
        out.append(v["model"])
    return out


def _model_nodes(g: Any, first: dict, v: dict, limit: int = 128):
    seen = set()
    for link in _model_links(g, first, v):
        for nid, n in _upstream(g, link, _MODEL_KEYS, limit):
            if nid not in seen:
                seen.add(nid)
                yield nid, n


def scheduler_key(fam: str, sampler: Any, schedule: Any) -> str | None:
    """The aigif scheduler of a ComfyUI sampler + schedule on a video family's model, where
    the general table (``samplers.from_comfyui``) has none: UniPC on Wan's flow sigmas
    (``uni_pc`` + ``simple``/``normal``/``sgm_uniform``) is Wan's own ``unipc``; Euler
    with ``LTXVScheduler`` is LTX-Video's flow-matching Euler."""
    s, k = str(sampler or ""), str(schedule or "")
    if fam in FLOW_FAMILIES and s in ("uni_pc", "uni_pc_bh2") and k in (
            "simple", "normal", "sgm_uniform"):
        return "unipc"
    if fam == "ltx_video" and s == "euler" and k == "LTXVScheduler":
        return "flow_euler"
    if fam == "cogvideox":     # CogVideoXWrapper's scheduler names
        return {"CogVideoXDDIM": "cogvideox_ddim", "CogVideoXDPMScheduler": "cogvideox_dpm",
                "DDIM": "cogvideox_ddim", "DPM": "cogvideox_dpm"}.get(k)
    return None


# --------------------------------------------------------------------------- fields
def _frames(g: Any, sampler: dict, fam: str | None, size: list | None = None) -> int | None:
    """Frames of the first pass: a frame-count input of the sampler or of the latent it
    samples (upstream through latent inputs); ``size`` gets that latent's [width, height]
    when it has them."""
    ins = g.inputs(sampler)
    for k in _FRAME_KEYS:
        if k in ins:
            n = to_int(_value(g, ins[k], (k,)))
            if n:
                return n
    for _, n in _latent_nodes(g, sampler):
        li = g.inputs(n)
        for k in _FRAME_KEYS:
            if k in li:
                x = to_int(_value(g, li[k], (k,)))
                if x:
                    if size is not None and "width" in li and "height" in li:
                        size[:] = [to_int(_value(g, li["width"], ("width",))),
                                   to_int(_value(g, li["height"], ("height",)))]
                    return x
        if fam == "animatediff" and "batch_size" in li and "width" in li:
            return to_int(_value(g, li["batch_size"], ("batch_size",)))
    return None


def _outputs(g: Any, nodes: dict, main: list) -> list:
    """[(id, node, fps input name)] of the video output nodes fed by the chain ``main``
    (every video output when none is); ``g.fed_by(link, main)`` says whether an image
    comes from the chain, ``g.order`` sorts node ids."""
    found, fed = [], []
    for nid in sorted(nodes, key=g.order):
        n = nodes[nid]
        cls = g.cls(n)
        if cls in _OUTPUTS or "VideoCombine" in cls:
            ins = g.inputs(n)
            key = _OUTPUTS.get(cls, "frame_rate")
            if cls == "SaveVideo":
                src = g.node(ins.get("video"))
                if src is None or g.cls(src[1]) not in _OUTPUTS:
                    found.append((nid, n, None))
                continue
            found.append((nid, n, key))
            link = next((ins[k] for k in ("images", "image", "frames") if _is_link(ins.get(k))),
                        None)
            if link is not None and g.fed_by(link, main):
                fed.append((nid, n, key))
    return fed or found


def fill(g: Any, nodes: dict, main: list, v: dict, ckpt: Any, d: Any, fam: str | None,
         stages: list) -> list:
    """Fill ``d.video`` (and the family's params) for a video graph; returns the stages
    left (Wan 2.2's second expert is no stage). ``fam`` None: a video of a model no video
    family holds: frames and fps go to ``params``."""
    first = nodes[main[0]]
    ckpt = ckpt or _loader_name(g, first, v)
    vid: dict[str, Any] = {}
    size: list = []
    frames = _frames(g, first, fam, size)
    if frames is not None:
        vid["frames"] = frames
    if len(size) == 2 and size[0] and size[1] and "width" not in d.fields:
        d.set("width", size[0])           # an image-to-video latent (the size is its own)
        d.set("height", size[1])
    if fam == "animatediff" and frames is not None:
        d.params.pop("batch_size", None)
    fps, more = _fps(g, nodes, main, first, v, fam, d)
    if fps is not None:
        vid["fps"] = fps
    shift = None
    for _, n in _model_nodes(g, first, v):
        cls, ins = g.cls(n), g.inputs(n)
        if cls in ("ModelSamplingSD3", "ModelSamplingAuraFlow") and shift is None:
            shift = to_float(_value(g, ins.get("shift"), ("shift",)))
        elif cls.startswith(("ADE_", "AnimateDiff")):
            _animatediff(g, n, vid, d)
    if shift is None and "shift" in g.inputs(first):     # WanVideoSampler and the like
        shift = to_float(_value(g, g.inputs(first)["shift"], ("shift",)))
    if fam == "animatediff":
        ins = g.inputs(first)
        mm = g.node(ins.get("motion_module"))            # AnimateDiffSampler (ArtVentureX)
        if mm is not None:
            _animatediff(g, mm[1], vid, d)
    if shift is not None and shift > 0:
        defaults = generators.get(fam).defaults if fam else None
        if defaults is not None and defaults.video is not None and \
                defaults.video.flow_shift is not None:
            vid["flow_shift"] = shift
        else:
            d.param("shift", shift)
    _i2v(g, first, d)
    if fam == "stable_video_diffusion":
        _svd(g, first, v, vid, d)
    if fam == "ltx_video":
        _ltx_schedule(g, first, d)
    if fam == "hunyuan_video" and "cfg" in d.params:
        d.params["true_cfg_scale"] = d.params.pop("cfg")
    if fam == "wan":
        stages = _experts(g, nodes, main, v, d, stages, shift)
    if fam is None:
        if frames is not None:
            d.param("frames", frames)
        if fps is not None:
            d.param("fps", str(fps) if fps.denominator != 1 else fps.numerator)
        return stages
    for k, x in more.items():
        d.param(k, x)
    _model(d, fam, ckpt)
    d.video = vid
    return stages


def _fps(g: Any, nodes: dict, main: list, first: dict, v: dict, fam: str | None,
         d: Any) -> tuple:
    more: dict[str, Any] = {}
    out_fps = None
    outs = _outputs(g, nodes, main)
    for nid, n, key in outs:
        ins = g.inputs(n)
        if key is not None and out_fps is None:
            out_fps = _value(g, ins.get(key), (key, "fps", "frame_rate"))
            if g.cls(n) == "VHS_VideoCombine" or "VideoCombine" in g.cls(n):
                if isinstance(ins.get("format"), str):
                    more["output_format"] = ins["format"]
                if ins.get("pingpong") is True:
                    more["pingpong"] = True
        elif key is not None:
            x = _value(g, ins.get(key), (key,))
            if x != out_fps and x is not None:
                d.keep(f"{g.cls(n)} {nid} fps", x)
    cond = None
    if fam == "ltx_video":
        for _, n in _upstream(g, v.get("positive"), _COND_KEYS, 64):
            if g.cls(n) == "LTXVConditioning":
                cond = _value(g, g.inputs(n).get("frame_rate"), ("frame_rate", "fps"))
                break
    if fam == "stable_video_diffusion":      # SVD conditions on its fps too
        n = _svd_node(g, first)
        if n is not None:
            cond = _value(g, g.inputs(n).get("fps"), ("fps", "frame_rate"))
    fps = cond if cond is not None else out_fps
    if cond is not None and out_fps is not None and to_float(cond) != to_float(out_fps):
        more["output_fps"] = out_fps
    if fps is None or isinstance(fps, bool):
        return None, more
    try:
        return frame_rate(fps), more
    except MetaError as e:
        d.keep("fps", f"{fps} ({e.message})")
        return None, more


def _animatediff(g: Any, n: dict, vid: dict, d: Any) -> None:
    """Motion model, beta schedule, motion scale and context options of an AnimateDiff
    node on the model path (AnimateDiff-Evolved, ArtVentureX)."""
    ins = g.inputs(n)
    name = ins.get("model_name")
    if isinstance(name, str) and name and "motion_adapter" not in vid:
        stem = re.split(r"[\\/]", name)[-1].rsplit(".", 1)[0].lower()
        vid["motion_adapter"] = _MOTION.get(stem) or "ckpt:" + name[:900]
    for k in ("beta_schedule", "motion_scale", "apply_v2_models_properly"):
        x = ins.get(k)
        if isinstance(x, (str, int, float)) and k not in d.params:
            d.param(k, x)
    for k in ("m_models", "motion_model", "motion_module"):
        for _, m in _upstream(g, ins.get(k), None, 16):
            mn = g.inputs(m).get("model_name")
            if isinstance(mn, str) and mn and "motion_adapter" not in vid:
                stem = re.split(r"[\\/]", mn)[-1].rsplit(".", 1)[0].lower()
                vid["motion_adapter"] = _MOTION.get(stem) or "ckpt:" + mn[:900]
            for kk in ("scale_multival", "motion_lora"):
                if _is_link(g.inputs(m).get(kk)):
                    d.keep(f"animatediff {kk}", "linked (see source)")
    ctx = g.node(ins.get("context_options"))
    if ctx is not None:
        d.param("context_options", g.cls(ctx[1]))
        for k, x in g.inputs(ctx[1]).items():
            if isinstance(x, (bool, int, float, str)) and not _is_link(x):
                d.param(k if k.startswith("context_") else f"context_{k}", x)


def _i2v(g: Any, first: dict, d: Any) -> None:
    """Image-to-video: the conditioning images the graph loads (their names; the pixels
    are not in the file) and the i2v node's strength."""
    for _, n in _latent_nodes(g, first):
        ins = g.inputs(n)
        for k, p in (("start_image", "init_image"), ("image", "init_image"),
                     ("init_image", "init_image"),
                     ("end_image", "end_image"), ("reference_image", "reference_image"),
                     ("ref_image", "reference_image")):
            if _is_link(ins.get(k)) and p not in d.params:
                name = _load_image(g, ins[k])
                if name:
                    d.param(p, name)
        if "strength" in ins and "image_strength" not in d.params and (
                "image" in ins or "start_image" in ins):
            s = to_float(_value(g, ins["strength"], ("strength",)))
            if s is not None and s != 1.0:
                d.param("image_strength", s)


def _svd_node(g: Any, first: dict) -> dict | None:
    return next((n for _, n in _latent_nodes(g, first)
                 if g.cls(n) == "SVD_img2vid_Conditioning"), None)


def _svd(g: Any, first: dict, v: dict, vid: dict, d: Any) -> None:
    """Stable Video Diffusion's micro-conditioning (``SVD_img2vid_Conditioning``) and the
    linear CFG ramp's minimum (``VideoLinearCFGGuidance`` ``min_cfg``)."""
    n = _svd_node(g, first)
    if n is not None:
        ins = g.inputs(n)
        b = to_int(_value(g, ins.get("motion_bucket_id"), ("motion_bucket_id",)))
        if b is not None:
            vid["motion_bucket_id"] = b
        a = to_float(_value(g, ins.get("augmentation_level"), ("augmentation_level",)))
        if a is not None:
            vid["noise_aug_strength"] = a
    for _, m in _model_nodes(g, first, v):
        cls = g.cls(m)
        if cls == "VideoLinearCFGGuidance":
            c = to_float(_value(g, g.inputs(m).get("min_cfg"), ("min_cfg",)))
            if c is not None:
                d.param("min_guidance_scale", c)
            break
        if cls == "VideoTriangleCFGGuidance":     # a ramp up and down: diffusers has none
            d.keep("VideoTriangleCFGGuidance min_cfg", g.inputs(m).get("min_cfg"))
            break


def _ltx_schedule(g: Any, first: dict, d: Any) -> None:
    sig = g.node(g.inputs(first).get("sigmas"))
    if sig is None or g.cls(sig[1]) != "LTXVScheduler":
        return
    ins = g.inputs(sig[1])
    for k, default in _LTX_SCHEDULE.items():
        x = _value(g, ins.get(k), (k,))
        if x is not None and x != default:
            d.param(k, x)
    if d.fields.get("scheduler") == "flow_euler":
        d.params.pop("sampler", None)
        d.params.pop("schedule_type", None)


def _experts(g: Any, nodes: dict, main: list, v: dict, d: Any, stages: list,
             shift: float | None) -> list:
    """Wan 2.2 A14B: the low-noise expert finishing the high-noise expert's schedule
    (KSamplerAdvanced hand-over) is the pipeline's second transformer, not a stage."""
    if len(main) < 2 or not stages or not isinstance(stages[0], Refiner):
        return stages
    st = stages[0]
    second = nodes[main[1]]
    ins = g.inputs(second)
    start = to_int(_value(g, ins.get("start_at_step"), ("start_at_step",)))
    d.param("model_2", st.model)
    if start is not None:
        d.param("expert_switch_step", start)
    for k in ("start_at_step", "end_at_step"):
        d.params.pop(k, None)
    if st.guidance_scale is not None and st.guidance_scale != d.fields.get("guidance_scale"):
        d.param("guidance_scale_2", st.guidance_scale)
    if st.scheduler is not None and st.scheduler != d.fields.get("scheduler"):
        d.param("scheduler_2", st.scheduler)
    if st.steps and st.steps != d.fields.get("steps"):
        d.param("steps_2", st.steps)
    for k, x in st.params.items():
        d.param(f"{k}_2", x)
    # the low-noise expert's own LoRAs (a Refiner stage has no LoRAs, so they are read
    # from its model chain here): loader-nearest first, as the first pass's in meta.loras
    # (one walk up its model chain: the LoRAs, and the first model-sampling node's shift)
    loras, s2 = [], None
    shift_seen = False
    for _, n in _upstream(g, ins.get("model"), _MODEL_KEYS, 64):
        li = g.inputs(n)
        if "lora_name" in li:
            lo = make_lora(_value(g, li.get("lora_name"), ("lora_name",)),
                           _value(g, li.get("strength_model", 1.0), ("strength_model",)))
            if lo is not None and lo.name != "None":
                loras.insert(0, lo)
        if not shift_seen and g.cls(n) in ("ModelSamplingSD3", "ModelSamplingAuraFlow"):
            shift_seen = True
            s2 = to_float(_value(g, li.get("shift"), ("shift",)))
    if loras:
        d.param("loras_2", ", ".join(f"{lo.name}:{lo.weight:g}" for lo in loras))
    if s2 is not None and s2 != shift:
        d.param("flow_shift_2", s2)
    return stages[1:]


def _model(d: Any, fam: str, ckpt: Any) -> None:
    """The model of a video family: a hub id as recorded (no file extension), the hub
    repo of a well-known key of another family (AnimateDiff's SD 1.5 base), else the
    checkpoint name."""
    d.generator = fam
    m = d.model or ""
    if fam == "stable_video_diffusion" and isinstance(ckpt, str):
        hub = _SVD.get(re.split(r"[\\/]", ckpt)[-1].lower())
        if hub:
            d.model, d.model_revision = hub, None
            return
    if isinstance(ckpt, str) and _HUB.fullmatch(ckpt) and not ckpt.lower().endswith(_FILE_EXT):
        d.model, d.model_revision = ckpt, None
        return
    if m == "ckpt:unknown" and isinstance(ckpt, str):
        d.model, d.model_revision = "ckpt:" + ckpt, None
        return
    if m.startswith("ckpt:") or "/" in m or not m:
        return
    ms = next((x for x in spec.MODELS if x.key == m), None)
    if ms is not None and ms.generator != fam:
        if fam == "animatediff" and ms.hub_id:
            d.model, d.model_revision = ms.hub_id, None
        else:
            d.model, d.model_revision = "ckpt:" + (ckpt if isinstance(ckpt, str) else m), None
