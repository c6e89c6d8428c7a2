"""Typed-field accuracy of ``aigif.interop.read`` on real ComfyUI workflows and on the
interop fixtures.

Set 1, ``templates``: every UI workflow of the ``comfyui-workflow-templates-json``
package (MIT; ``pip install comfyui-workflow-templates-json``), written into a PNG
``workflow`` chunk without the package's own ``widgets_values_named`` helper (real files
do not have it) and read back. The reference is taken from that helper, independently
of the importer: the first-pass sampler is the ``KSampler`` / ``KSamplerAdvanced`` /
``SamplerCustomAdvanced`` whose latent input is linked straight to an empty-latent node
(the lowest id when several); its seed / steps / cfg / sampler + scheduler widgets (or
those of its ``RandomNoise`` / ``CFGGuider`` / ``KSamplerSelect`` / ``BasicScheduler``),
the empty latent's width / height, and the text of a ``CLIPTextEncode`` linked straight
to its positive / negative input. A widget that is itself fed by a link is not a
reference (its saved value may be stale) and is not counted. Candidates are the samplers
of the top graph and of every subgraph that runs; a sampler whose latent comes from
another sampler's output (through LATENT links) is a later pass; among the rest, one fed
by an empty latent first, then the lowest flattened id (``<instance id>:<node id>``).

The same workflows are also converted into API graphs (the ``prompt`` chunk real files
carry) the way the frontend's graphToPrompt does: widget names from the package's own
``widgets_values_named`` (or the names its other nodes of that type were saved with),
reroutes and frontend primitives resolved, muted nodes dropped, bypassed nodes passed
through, subgraphs flattened; read with the reference above, and the typed fields of the
two readings compared ("files whose workflow and prompt readings differ").

Video fields: every template whose file name names a video family (``wan``, ``ltx``,
``hunyuan_video``...; API-node templates excluded) also gets a reference of its video
fields from the widgets (``video_reference``: the family, the first-pass latent's
``length``, ``ModelSamplingSD3`` ``shift``, the ``LTXVConditioning`` or output frame rate),
read both as the UI workflow and as the API graph.

Set 2, ``fixtures``: tests/fixtures/interop/*.json (each a file's text chunks and the
values its writer records), read back from rebuilt PNGs.

Set 3, ``writers``: tests/fixtures/interop/writers/*.json, one table row per tool (the
A1111 family, Fooocus, SwarmUI, InvokeAI, NovelAI, Draw Things, Easy Diffusion,
Midjourney-style descriptions, web-service JPEG/WebP), rebuilt as the PNG, JPEG or WebP
file each writer makes.

    python benchmarks/import_accuracy.py [--verbose]
"""
from __future__ import annotations

import functools
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from aigif import interop
from aigif.errors import ImportMetadataError
from aigif.interop import samplers as sn

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "interop"
FIELDS = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "scheduler",
          "width", "height")
_SAMPLERS = ("KSampler", "KSamplerAdvanced", "SamplerCustomAdvanced")
_EMPTY = ("EmptyLatentImage", "EmptySD3LatentImage", "EmptyFlux2LatentImage",
          "EmptyHunyuanLatentVideo", "EmptyHunyuanImageLatent", "EmptyChromaRadianceLatentImage")


def png(texts: list[tuple[str, str]], size=(8, 8)) -> bytes:
    """A tiny grey PNG with tEXt / iTXt chunks (no Pillow needed): the fixtures' own
    builder (tests/fixtures/interop/writers/build.py)."""
    return _load_build().png(texts, size)


# ------------------------------------------------------------------ set 1: templates
def _levels(wf: dict):
    """(nodes, links, path) of the top graph and of every subgraph that runs: ``path`` is
    the ids of the instance nodes down to it (the flattened node id is path + own id); a
    subgraph whose instances are all muted or bypassed runs nothing and is left out."""
    defs = {sg.get("id"): sg for sg in (wf.get("definitions") or {}).get("subgraphs") or []
            if isinstance(sg, dict)}
    todo, done = [(wf.get("nodes") or [], wf.get("links") or [], ())], set()
    while todo:
        nodes, links, path = todo.pop(0)
        yield nodes, links, path
        for n in sorted((n for n in nodes if isinstance(n, dict)), key=lambda n: str(n.get("id"))):
            sg = defs.get(n.get("type"))
            if sg is not None and n.get("mode", 0) not in (2, 4) and sg["id"] not in done \
                    and len(path) < 4:
                done.add(sg["id"])
                todo.append((sg.get("nodes") or [], sg.get("links") or [], path + (n.get("id"),)))


def _link_map(links) -> dict:
    out = {}
    for ln in links:
        if isinstance(ln, list) and len(ln) >= 5:
            out[ln[0]] = ln[1]
        elif isinstance(ln, dict):
            out[ln.get("id")] = ln.get("origin_id")
    return out


# widget order of the reference nodes, for templates without ``widgets_values_named``
_ORDER = {
    "KSampler": ["seed", None, "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "KSamplerAdvanced": ["add_noise", "noise_seed", None, "steps", "cfg", "sampler_name",
                         "scheduler"],
    "RandomNoise": ["noise_seed"], "CFGGuider": ["cfg"], "KSamplerSelect": ["sampler_name"],
    "BasicScheduler": ["scheduler", "steps", "denoise"], "CLIPTextEncode": ["text"],
    **{k: ["width", "height"] for k in _EMPTY},
}


def _named(n: dict) -> dict:
    """widget name -> value, without the widgets fed by a link."""
    v = dict(n.get("widgets_values_named") or {})
    wv = n.get("widgets_values")
    if not v and isinstance(wv, list) and n.get("type") in _ORDER:
        v = {k: x for k, x in zip(_ORDER[n["type"]], wv) if k}
    for i in n.get("inputs") or []:
        if isinstance(i, dict) and isinstance(i.get("widget"), dict) and i.get("link") is not None:
            v.pop(i["widget"].get("name"), None)
    return v


def _is_empty(t: str) -> bool:
    return t in _EMPTY or (t.startswith("Empty") and "Latent" in t)


def _src(by_id: dict, lm: dict, n: dict, name: str, hops: int = 0) -> dict | None:
    """The node linked to input ``name`` of ``n`` (through reroutes)."""
    for i in n.get("inputs") or []:
        if isinstance(i, dict) and i.get("name") in (name, "") and i.get("link") in lm:
            s = by_id.get(lm[i["link"]])
            if s is not None and s.get("type") == "Reroute" and hops < 8:
                return _src(by_id, lm, s, "", hops + 1)
            return s
    return None


def _after_sampler(by_id: dict, lm: dict, lat: dict) -> bool:
    """Is a latent made from a sampler's output (upstream through LATENT links)?"""
    todo, seen = [lat], set()
    while todo and len(seen) < 200:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if x.get("type") in _SAMPLERS + ("SamplerCustom",):
            return True
        for i in x.get("inputs") or []:
            if isinstance(i, dict) and i.get("type") in ("LATENT", "*") and \
                    by_id.get(lm.get(i.get("link"))) is not None:
                todo.append(by_id[lm[i["link"]]])
    return False


def _first_pass(wf: dict, samplers=_SAMPLERS):
    """(sampler node, its empty latent or None, nodes by id, link map, links) of the
    reference first pass (see the module docstring), or None."""
    cands = []
    for nodes, links, path in _levels(wf):
        by_id = {n.get("id"): n for n in nodes if isinstance(n, dict)}
        lm = _link_map(links)
        for n in by_id.values():
            if n.get("type") in samplers and n.get("mode", 0) == 0:
                lat = _src(by_id, lm, n, "latent_image")
                t = "" if lat is None else str(lat.get("type"))
                if lat is None or t in samplers or "Upscale" in t or \
                        _after_sampler(by_id, lm, lat):
                    continue
                cands.append((0 if _is_empty(t) else 1, path + (n.get("id"),), n,
                              lat if _is_empty(t) else None, by_id, lm, links))
    if not cands:
        return None
    return min(cands, key=lambda c: c[:2])[2:]


def reference(wf: dict) -> dict | None:
    fp = _first_pass(wf)
    if fp is None:
        return None
    n, lat, by_id, lm, _ = fp

    def src(x: dict, name: str) -> dict | None:
        return _src(by_id, lm, x, name)

    ref: dict = {}
    w = _named(n)
    if n["type"] == "SamplerCustomAdvanced":
        for inp, keys in (("noise", ("noise_seed",)), ("guider", ("cfg",)),
                          ("sampler", ("sampler_name",)), ("sigmas", ("steps", "scheduler"))):
            s = src(n, inp)
            if s is not None:
                for k in keys:
                    if k in _named(s):
                        w[k] = _named(s)[k]
        g = src(n, "guider")
        pos = src(g, "positive") if g is not None else None
        neg = src(g, "negative") if g is not None else None
        if g is not None and g.get("type") == "BasicGuider":
            pos = src(g, "conditioning")
    else:
        pos, neg = src(n, "positive"), src(n, "negative")
    seed = w.get("seed", w.get("noise_seed"))
    if isinstance(seed, int):
        ref["seed"] = seed
    for k, f in (("steps", "steps"), ("cfg", "guidance_scale")):
        if isinstance(w.get(k), (int, float)) and not isinstance(w.get(k), bool):
            ref[f] = w[k]
    if isinstance(w.get("sampler_name"), str) and isinstance(w.get("scheduler"), str):
        ref["scheduler"] = (w["sampler_name"], w["scheduler"])
    lw = _named(lat) if lat is not None else {}
    if isinstance(lw.get("width"), int) and isinstance(lw.get("height"), int):
        ref["width"], ref["height"] = lw["width"], lw["height"]
    for f, enc in (("prompt", pos), ("negative_prompt", neg)):
        if enc is not None and enc.get("type") == "CLIPTextEncode" and isinstance(
                _named(enc).get("text"), str):
            ref[f] = _named(enc)["text"]
    return ref


# ------------------------------------------------------------------ video fields
#: the video family a template's file name names (templates of API-only nodes excluded)
_NAME_FAMILY = (("animatediff", "animatediff"), ("cogvideo", "cogvideox"),
                ("hunyuan_video", "hunyuan_video"), ("ltx", "ltx_video"), ("wan", "wan"))
_FLOW_VIDEO = ("wan", "ltx_video", "hunyuan_video")
_OUT_FPS = {"CreateVideo": "fps", "SaveAnimatedWEBP": "fps", "SaveAnimatedPNG": "fps",
            "SaveWEBM": "fps", "VHS_VideoCombine": "frame_rate"}


def name_family(name: str) -> str | None:
    n = name.lower()
    if n.startswith("api_"):
        return None
    for key, fam in _NAME_FAMILY:
        if re.search(r"(^|[_.-])wan" if key == "wan" else re.escape(key), n):
            return fam
    return None


def _walk_up(by_id: dict, lm: dict, start: dict | None, types: tuple, limit: int = 64):
    """Nodes upstream of ``start`` through inputs of the given link types, breadth first."""
    todo, seen = [start] if start is not None else [], set()
    while todo and len(seen) < limit:
        x = todo.pop(0)
        if id(x) in seen:
            continue
        seen.add(id(x))
        yield x
        for i in x.get("inputs") or []:
            if isinstance(i, dict) and str(i.get("type")) in types and \
                    by_id.get(lm.get(i.get("link"))) is not None:
                todo.append(by_id[lm[i["link"]]])


def _walk_down(by_id: dict, links: list, start: dict, limit: int = 300):
    out: dict = defaultdict(list)
    for ln in links:
        if isinstance(ln, list) and len(ln) >= 5:
            out[ln[1]].append(ln[3])
        elif isinstance(ln, dict):
            out[ln.get("origin_id")].append(ln.get("target_id"))
    todo, seen = [start.get("id")], set()
    while todo and len(seen) < limit:
        x = todo.pop(0)
        if x in seen:
            continue
        seen.add(x)
        if by_id.get(x) is not None:
            yield by_id[x]
        todo.extend(out.get(x, []))


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_PRIMITIVES = ("PrimitiveNode", "PrimitiveInt", "PrimitiveFloat")


def _vnamed(x: dict, by_id: dict, lm: dict, names: dict) -> dict:
    """widget name -> value of a node for the video reference: the package's names, else
    the benchmark's own tables (``_widget_keys``); a widget fed by a link counts only
    when the link comes straight from a primitive node (its value, not linked itself)."""
    v = dict(x.get("widgets_values_named") or {})
    wv = x.get("widgets_values")
    if isinstance(wv, dict):
        v = dict(wv)
    elif not v and isinstance(wv, list):
        keys = _widget_keys(x, names)
        v = {k: val for k, val in zip(keys or [], wv) if k}
    for i in x.get("inputs") or []:
        if isinstance(i, dict) and isinstance(i.get("widget"), dict) and i.get("link") is not None:
            name = i["widget"].get("name")
            v.pop(name, None)
            src = by_id.get(lm.get(i["link"]))
            pv = src.get("widgets_values") if src is not None else None
            if src is not None and src.get("type") in _PRIMITIVES and isinstance(pv, list) \
                    and pv and not any(isinstance(j, dict) and j.get("link") is not None
                                       for j in src.get("inputs") or []):
                v[name] = pv[0]
    return v


def video_reference(wf: dict, name: str, names: dict) -> dict | None:
    """The video fields of a template whose file name names a video family, from the
    widgets, independently of the importer: ``generator`` (the family the name says);
    ``frames``: the ``length`` widget of the first latent node upstream of the first
    pass's latent input (LATENT links); ``flow_shift`` (Wan, HunyuanVideo): the ``shift``
    of the first ``ModelSamplingSD3`` upstream of its model (MODEL links; a
    SamplerCustomAdvanced's guider model); ``fps``: LTX-Video: the ``frame_rate`` of the
    ``LTXVConditioning`` upstream of its positive input (the rate the model is
    conditioned on), else the frame rate of the first video output downstream of it
    (CreateVideo, SaveAnimatedWEBP/PNG, SaveWEBM, VHS_VideoCombine). A widget fed by a
    link is no reference, unless straight from a primitive node (its value)."""
    fam = name_family(name)
    if fam is None:
        return None
    fp = _first_pass(wf, _SAMPLERS + ("SamplerCustom",))
    if fp is None:
        return None
    n, _, by_id, lm, links = fp
    ref: dict = {"generator": fam}
    def named(x: dict) -> dict:
        return _vnamed(x, by_id, lm, names)

    for x in _walk_up(by_id, lm, _src(by_id, lm, n, "latent_image"), ("LATENT",)):
        if "length" in named(x) or any(isinstance(i, dict) and (i.get("widget") or {}).get(
                "name") == "length" for i in x.get("inputs") or []):
            if _num(named(x).get("length")):
                ref["frames"] = named(x)["length"]
            break
    guider = _src(by_id, lm, n, "guider") if n["type"] == "SamplerCustomAdvanced" else None
    model = _src(by_id, lm, guider or n, "model")
    if fam in ("wan", "hunyuan_video"):
        for x in _walk_up(by_id, lm, model, ("MODEL", "*")):
            if x.get("type") == "ModelSamplingSD3":
                if _num(named(x).get("shift")):
                    ref["flow_shift"] = named(x)["shift"]
                break
    pos = _src(by_id, lm, guider or n, "positive") or (
        _src(by_id, lm, guider, "conditioning") if guider is not None else None)
    cond = next((x for x in _walk_up(by_id, lm, pos, ("CONDITIONING",))
                 if x.get("type") == "LTXVConditioning"), None) if fam == "ltx_video" else None
    if cond is not None:
        if _num(named(cond).get("frame_rate")):
            ref["fps"] = named(cond)["frame_rate"]
    else:
        for x in _walk_down(by_id, links, n):
            key = _OUT_FPS.get(x.get("type"))
            if key is not None and x.get("mode", 0) == 0:
                v = named(x).get(key)
                if _num(v):
                    ref["fps"] = v
                break
    return ref


def _video_matches(f: str, want, r) -> bool:
    from fractions import Fraction
    m = r.meta
    if f == "generator":
        return m.generator == want
    if m.video is None:
        return False
    if f == "fps":
        return m.video.fps == Fraction(str(want))
    return getattr(m.video, f) == want


def _strip_named(x):
    if isinstance(x, dict):
        return {k: _strip_named(v) for k, v in x.items() if k != "widgets_values_named"}
    if isinstance(x, list):
        return [_strip_named(v) for v in x]
    return x


def _matches(f: str, want, r) -> bool:
    m = r.meta
    if f == "scheduler":
        smp, sch = want
        keys = {sn.from_comfyui(smp, sch, flow=False), sn.from_comfyui(smp, sch, flow=True)}
        if m.scheduler in keys - {None}:
            return True
        if m.generator in _FLOW_VIDEO and m.scheduler == "unipc" and smp in (
                "uni_pc", "uni_pc_bh2") and sch in ("simple", "normal", "sgm_uniform"):
            return True   # UniPC on a flow model's own sigmas: the pipeline's scheduler
        return m.params.get("sampler") == smp and m.params.get("schedule_type") == sch
    if f == "guidance_scale":
        return m.guidance_scale == want or m.params.get("cfg") == want or (
            want == 1.0 and "cfg" not in m.params and m.guidance_scale is not None)
    return getattr(m, f) == want


# --- the same workflows as API graphs (the ``prompt`` chunk real files carry): converted
# the way the frontend's graphToPrompt does, with widget names from the package's own
# ``widgets_values_named`` (for a node saved without it: the names another node of its
# type was saved with, same widget count), not from the importer's tables
_VIRTUAL = {"Reroute", "PrimitiveNode", "Note", "MarkdownNote"}


def _all_nodes(wf: dict):
    yield from wf.get("nodes") or []
    for sg in (wf.get("definitions") or {}).get("subgraphs") or []:
        yield from sg.get("nodes") or []


def learn_widget_names(wfs) -> dict:
    """(node type, widget count) -> the widget names most often saved with it."""
    seen: dict = defaultdict(lambda: defaultdict(int))
    for wf in wfs:
        for n in _all_nodes(wf):
            nm, wv = n.get("widgets_values_named"), n.get("widgets_values")
            if isinstance(nm, dict) and nm and isinstance(wv, list) and len(nm) == len(wv):
                seen[(n.get("type"), len(wv))][tuple(nm)] += 1
    return {k: max(v, key=v.get) for k, v in seen.items()}


# core nodes the package never saved with names (ComfyUI's node definitions, widget order)
_CORE_WIDGETS = {
    "FluxGuidance": ["guidance"], "CLIPTextEncodeFlux": ["clip_l", "t5xxl", "guidance"],
    "Flux2Scheduler": ["steps", "width", "height"],
    "BetaSamplingScheduler": ["steps", "alpha", "beta"],
    **{k: ["width", "height", "length", "batch_size"] for k in (
        "EmptyHunyuanVideo15Latent", "HunyuanVideo15ImageToVideo", "WanImageToVideo",
        "WanSoundImageToVideo", "WanFunControlToVideo", "WanFunInpaintToVideo",
        "WanHuMoImageToVideo", "WanCameraImageToVideo", "Wan22FunControlToVideo",
        "Wan22ImageToVideoLatent", "Kandinsky5ImageToVideo", "WanVaceToVideo")},
    "EmptyChromaRadianceLatentImage": ["width", "height", "batch_size"],
    "EmptyHiDreamO1LatentImage": ["width", "height", "batch_size"],
}
# video nodes (ComfyUI's node definitions, widget order); asked before _ORDER, which names
# only the width and height of the empty video latents
_VIDEO_WIDGETS = {
    **{k: ["width", "height", "length", "batch_size"] for k in (
        "EmptyHunyuanLatentVideo", "EmptyLTXVLatentVideo", "WanFirstLastFrameToVideo")},
    "LTXVImgToVideo": ["width", "height", "length", "batch_size", "strength"],
    "CreateVideo": ["fps"], "LTXVConditioning": ["frame_rate"], "ModelSamplingSD3": ["shift"],
    "SaveAnimatedWEBP": ["filename_prefix", "fps", "lossless", "quality", "method"],
    "SaveWEBM": ["filename_prefix", "codec", "fps", "crf"],
    "SaveVideo": ["filename_prefix", "format", "codec"],
    "LTXVScheduler": ["steps", "max_shift", "base_shift", "stretch", "terminal"],
    "TrimVideoLatent": ["trim_amount"],
}


def _widget_keys(n: dict, names: dict) -> list | None:
    """Names of a node's widget values: learned from the package, else the reference
    table above, else the widget inputs the frontend lists (a seed's control value after
    it)."""
    t, wv = n.get("type"), n.get("widgets_values")
    if (t, len(wv)) in names:
        return list(names[(t, len(wv))])
    if t in _VIDEO_WIDGETS and len(_VIDEO_WIDGETS[t]) >= len(wv):
        return _VIDEO_WIDGETS[t]
    if t in _ORDER:
        return _ORDER[t]
    if t in _CORE_WIDGETS:
        return _CORE_WIDGETS[t]
    keys: list = []
    for i in n.get("inputs") or []:
        if isinstance(i, dict) and isinstance(i.get("widget"), dict):
            keys.append(i["widget"].get("name"))
            if len(keys) < len(wv) and wv[len(keys)] in ("fixed", "increment", "decrement",
                                                           "randomize"):
                keys.append(None)
    return keys if len(keys) == len(wv) else None


def api_graph(wf: dict, names: dict) -> dict:
    """The API prompt the frontend would queue for ``wf``: virtual nodes (reroutes,
    frontend primitives, notes) resolved away, muted nodes left out, bypassed nodes passed
    through by type, subgraphs flattened to ``<instance id>:<node id>``."""
    defs = {sg.get("id"): sg for sg in (wf.get("definitions") or {}).get("subgraphs") or []
            if isinstance(sg, dict)}
    out: dict = {}

    def level(nodes: list, links: list, prefix: str, io_in, depth: int):
        by_id = {n.get("id"): n for n in nodes if isinstance(n, dict)}
        lm = {}
        for ln in links:
            if isinstance(ln, list) and len(ln) >= 5:
                lm[ln[0]] = (ln[1], ln[2])
            elif isinstance(ln, dict):
                lm[ln.get("id")] = (ln.get("origin_id"), ln.get("origin_slot"))
        inst: dict = {}
        emits: list = []

        def ref(origin, slot, hops=0):
            if hops > 32:
                return None
            if origin == -10:
                return io_in(slot)
            n = by_id.get(origin)
            if n is None or n.get("mode") == 2:
                return None
            if origin in inst:
                return inst[origin](slot, hops + 1)
            t = n.get("type")
            if t == "PrimitiveNode":
                wv = n.get("widgets_values")
                return wv[0] if isinstance(wv, list) and wv else None
            if t == "Reroute" or n.get("mode") == 4:
                outs = n.get("outputs") or []
                want = outs[slot].get("type") if isinstance(slot, int) and slot < len(outs) \
                    else None
                for i in n.get("inputs") or []:
                    if i.get("link") in lm and (t == "Reroute" or i.get("type") == want):
                        return ref(*lm[i["link"]], hops + 1)
                return None
            return [prefix + str(origin), slot]

        for n in by_id.values():
            sg = defs.get(n.get("type"))
            if sg is None or n.get("mode") in (2, 4) or depth >= 4:
                continue
            sins = sg.get("inputs") or []
            named = n.get("widgets_values_named") or {}
            wv = n.get("widgets_values")
            if not named and isinstance(wv, list):
                # promoted widgets: the values of the widget-typed subgraph inputs in order
                vals = [v for j, v in enumerate(wv) if not (
                    j and v in ("fixed", "increment", "decrement", "randomize")
                    and isinstance(wv[j - 1], int))]
                named = dict(zip((i.get("name") for i in sins if i.get("type") in (
                    "INT", "FLOAT", "STRING", "COMBO", "BOOLEAN")), vals))
            linked = {i.get("name"): lm[i["link"]] for i in n.get("inputs") or []
                      if i.get("link") in lm}

            def io(slot, sins=sins, named=named, linked=linked):
                if not isinstance(slot, int) or not 0 <= slot < len(sins):
                    return None
                name = sins[slot].get("name")
                return ref(*linked[name]) if name in linked else named.get(name)

            inner, emit_inner = level(sg.get("nodes") or [], sg.get("links") or [],
                                      f"{prefix}{n.get('id')}:", io, depth + 1)
            emits.append(emit_inner)

            def outs(slot, hops, sg=sg, inner=inner):
                o = sg.get("outputs") or []
                if isinstance(slot, int) and 0 <= slot < len(o):
                    for lid in o[slot].get("linkIds") or []:
                        r = inner(lid, hops)
                        if r is not None:
                            return r
                return None
            inst[n.get("id")] = outs

        def emit():
            for n in by_id.values():
                node(n)
            for e in emits:
                e()

        def node(n: dict) -> None:
            t = n.get("type")
            if t in _VIRTUAL or n.get("mode") in (2, 4) or n.get("id") in inst:
                return
            wv = n.get("widgets_values")
            nm = n.get("widgets_values_named")
            if isinstance(wv, dict):
                ins = dict(wv)
            elif isinstance(nm, dict) and nm:
                ins = dict(nm)
            else:
                keys = _widget_keys(n, names) if isinstance(wv, list) else None
                ins = {k: v for k, v in zip(keys, wv) if k} if keys else {}
            ins = {k: v for k, v in ins.items() if not k.startswith("control_after_generate")}
            for i in n.get("inputs") or []:
                if i.get("link") in lm:
                    name = (i.get("widget") or {}).get("name") or i.get("name")
                    v = ref(*lm[i["link"]])
                    if v is not None:
                        ins[str(name)] = v
            out[prefix + str(n.get("id"))] = {"class_type": t, "inputs": ins}

        def inner_ref(lid, hops):
            return ref(*lm[lid], hops) if lid in lm else None
        return inner_ref, emit

    level(wf.get("nodes") or [], wf.get("links") or [], "", lambda slot: None, 0)[1]()
    return out


def _fields(r) -> dict:
    if r is None:
        return {}
    m = r.meta
    return {f: getattr(m, f) for f in FIELDS + ("model", "stages", "generator", "video")} | {
        k: m.params.get(k) for k in ("sampler", "schedule_type", "cfg")}


def _expect_field(m, f: str, want):
    """A fixture's expected field: a core field, ``stages`` (partial ``to_dict`` forms: the
    keys each expected stage names), else a param."""
    if f == "stages":
        return [{k: st.to_dict().get(k) for k in w} for st, w in zip(m.stages, want)] + [
            st.to_dict() for st in m.stages[len(want):]]
    return getattr(m, f) if f in FIELDS or f in ("clip_skip", "model") else m.params.get(f)


# node classes that make a later pass (or a ControlNet / detailer) in a graph
_MULTI_PASS = ("LatentUpscale", "LatentUpscaleBy", "ImageUpscaleWithModel", "ImageScale",
               "ImageScaleBy", "KSamplerAdvanced", "ControlNetApply", "ControlNetApplyAdvanced",
               "ControlNetApplySD3", "FaceDetailer")


def stages_on_templates(verbose: bool) -> None:
    """Typed stages recovered from the templates read as API graphs: how many graphs hold
    a node that makes a later pass, and how many of them give at least one stage."""
    try:
        import comfyui_workflow_templates_json as t
    except ImportError:
        return
    root = Path(t.__file__).parent / "templates"
    wfs = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob("*.json"))}
    wfs = {k: v for k, v in wfs.items() if isinstance(v, dict)}
    names = learn_widget_names(wfs.values())
    kinds: dict = defaultdict(int)
    candidates = recovered = 0
    for name, wf in wfs.items():
        g = api_graph(wf, names)
        cand = any(isinstance(n, dict) and n.get("class_type") in _MULTI_PASS
                   for n in g.values())
        try:
            m = interop.read(png([("prompt", json.dumps(g, ensure_ascii=False))])).meta
        except ImportMetadataError:
            continue
        candidates += cand
        recovered += cand and bool(m.stages)
        for st in m.stages:
            kinds[st.name] += 1
        if verbose and cand and not m.stages:
            print(f"{name}: multi-pass nodes, no stage recovered")
    print(f"\nstages on the templates (API graphs): {candidates} graphs hold a later-pass "
          f"node ({', '.join(_MULTI_PASS[:3])}...), {recovered} give stages; stages by kind: "
          + (", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"))


def templates(verbose: bool) -> tuple[dict, dict, list]:
    """(UI-workflow stats, API-graph stats, [files whose two readings differ])."""
    try:
        import comfyui_workflow_templates_json as t
    except ImportError:
        print("comfyui-workflow-templates-json is not installed: set 1 skipped")
        return {}, {}, []
    root = Path(t.__file__).parent / "templates"
    wfs = {}
    for p in sorted(root.glob("*.json")):
        wf = json.loads(p.read_text(encoding="utf-8"))
        if isinstance(wf, dict):
            wfs[p.name] = wf
    names = learn_widget_names(wfs.values())
    ui: dict = defaultdict(lambda: [0, 0, 0])   # class -> [files, fields ok, fields]
    api: dict = defaultdict(lambda: [0, 0, 0])
    differ = []
    for name, wf in wfs.items():
        ref = reference(wf)
        vref = video_reference(wf, name, names)
        if vref:
            _video_row(name, wf, vref, names, verbose)
        if not ref:
            continue
        cls = name.split("_", 1)[0].lower()
        cls = cls if cls in ("image", "video", "api", "3d", "audio", "flux", "sdxl",
                             "sd3.5", "hidream", "default") else "other"
        cls += "/subgraph" if (wf.get("definitions") or {}).get("subgraphs") else "/flat"
        text = json.dumps(_strip_named(wf), ensure_ascii=False)
        prompt = json.dumps(api_graph(wf, names), ensure_ascii=False)
        got = []
        for stats, texts in ((ui, [("workflow", text)]),
                             (api, [("prompt", prompt), ("workflow", text)])):
            try:
                r = interop.read(png(texts))
            except ImportMetadataError as e:
                r = None
                if verbose:
                    print(f"{name} [{texts[0][0]}]: {e}")
            got.append(_fields(r))
            st = stats[cls]
            st[0] += 1
            for f, want in ref.items():
                st[2] += 1
                ok = r is not None and _matches(f, want, r)
                st[1] += ok
                if not ok and verbose:
                    g = None if r is None else (getattr(r.meta, f), r.meta.params.get("sampler"))
                    print(f"{name} [{texts[0][0]}]: {f}: want {str(want)[:60]!r} "
                          f"got {str(g)[:60]!r}")
        if got[0] != got[1]:
            differ.append(name)
            if verbose:
                print(f"{name}: workflow and prompt differ: " + ", ".join(
                    f"{k} {str(got[0].get(k))[:30]!r} / {str(got[1].get(k))[:30]!r}"
                    for k in got[0] if got[0].get(k) != got[1].get(k)))
    return ui, api, differ


#: family/field -> [files, right, fields] for the UI workflow and the API graph readings
VIDEO_STATS: dict = {"workflow": defaultdict(lambda: [0, 0, 0]),
                     "prompt": defaultdict(lambda: [0, 0, 0])}


def _video_row(name: str, wf: dict, vref: dict, names: dict, verbose: bool) -> None:
    text = json.dumps(_strip_named(wf), ensure_ascii=False)
    prompt = json.dumps(api_graph(wf, names), ensure_ascii=False)
    for kind, texts in (("workflow", [("workflow", text)]),
                        ("prompt", [("prompt", prompt), ("workflow", text)])):
        try:
            r = interop.read(png(texts))
        except ImportMetadataError:
            r = None
        for f, want in vref.items():
            st = VIDEO_STATS[kind][f"{vref['generator']}/{f}"]
            st[0] += 1
            st[2] += 1
            ok = r is not None and _video_matches(f, want, r)
            st[1] += ok
            if not ok and verbose:
                got = None if r is None else (r.meta.generator, r.meta.video)
                print(f"{name} [{kind}] video {f}: want {want!r} got {str(got)[:120]}")


# ------------------------------------------------------------------ set 2: fixtures
def fixtures(verbose: bool) -> dict:
    stats: dict = defaultdict(lambda: [0, 0, 0])
    for p in sorted(FIXTURES.glob("*.json")):
        fx = json.loads(p.read_text(encoding="utf-8"))
        texts = [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                 for k, v in fx["chunks"].items()]
        r = interop.read(png(texts))
        st = stats[fx.get("tool", p.stem.split("_")[0])]
        st[0] += 1
        for f, want in fx["expect"].items():
            st[2] += 1
            got = _expect_field(r.meta, f, want)
            st[1] += got == want
            if got != want and verbose:
                print(f"{p.name}: {f}: want {want!r} got {got!r}")
    return stats


# ------------------------------------------------------------------ set 3: other writers
@functools.lru_cache(maxsize=None)
def _load_build():
    """tests/fixtures/interop/writers/build.py (rebuilds PNG/JPEG/WebP files; no Pillow)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("_writers_build", FIXTURES / "writers" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def writers(verbose: bool) -> dict:
    """Per tool: tests/fixtures/interop/writers/*.json (A1111 family, Fooocus, SwarmUI,
    InvokeAI, NovelAI, Draw Things, Easy Diffusion, Midjourney-style, web services) in the
    container each writer uses, read back; the tool detected counts as one more field."""
    build = _load_build().build
    stats: dict = defaultdict(lambda: [0, 0, 0])
    for p in sorted((FIXTURES / "writers").glob("*.json")):
        fx = json.loads(p.read_text(encoding="utf-8"))
        try:
            r = interop.read(build(fx))
        except ImportMetadataError as e:
            r = None
            if verbose:
                print(f"{p.name}: {e}")
        st = stats[p.stem.split("_")[0]]
        st[0] += 1
        for f, want in list(fx["expect"].items()) + [("tool", fx["tool"])]:
            st[2] += 1
            if r is None:
                got = None
            elif f == "tool":
                got = r.tool
            else:
                got = _expect_field(r.meta, f, want)
            st[1] += got == want
            if got != want and verbose:
                print(f"{p.name}: {f}: want {want!r} got {got!r}")
    return stats


def _table(title: str, stats: dict) -> tuple[int, int]:
    print(f"\n{title}\n{'class':<24}{'files':>7}{'fields':>8}{'right':>8}{'accuracy':>10}")
    ok = tot = 0
    for k in sorted(stats):
        n, good, all_ = stats[k]
        ok, tot = ok + good, tot + all_
        print(f"{k:<24}{n:>7}{all_:>8}{good:>8}{100 * good / max(all_, 1):>9.1f}%")
    print(f"{'all':<24}{sum(s[0] for s in stats.values()):>7}{tot:>8}{ok:>8}"
          f"{100 * ok / max(tot, 1):>9.1f}%")
    return ok, tot


def main() -> None:
    verbose = "--verbose" in sys.argv
    ui, api, differ = templates(verbose)
    _table("templates (comfyui-workflow-templates-json, UI workflow only)", ui)
    _table("templates as API graphs (prompt chunk, converted like the frontend)", api)
    print(f"files whose workflow and prompt readings differ: {len(differ)}")
    for kind in ("workflow", "prompt"):
        _table(f"video fields of the templates naming a video family ({kind}; family/field, "
               f"files = fields)", VIDEO_STATS[kind])
    _table("fixtures (tests/fixtures/interop)", fixtures(verbose))
    _table("other writers (tests/fixtures/interop/writers, per tool)", writers(verbose))
    stages_on_templates(verbose)


if __name__ == "__main__":
    main()
