"""Interop dialects: how each tool's metadata is recognised, read and written.

A dialect is an entry of the ordered registry ``dialect_registry`` (the one ``aigif.registry.Registry``
pattern; entry-point group ``aigif.dialects`` for third parties): ``read(container)`` returns
``(tool, Draft, [TextItems used])`` when the container holds this dialect's metadata, else
None; ``write(meta)`` (optional) gives the ``(keyword, text)`` items ``aigif.interop.export``
embeds for it. ``aigif.interop.read`` asks the dialects in ``order`` (lower first) and takes
the first answer, so a more specific dialect (an InvokeAI JSON, a ComfyUI graph) is asked
before a general one (an A1111-style infotext, loose key/value texts).

Example (a third-party dialect)::

    def read_acme(c):
        t = c.get("acme")
        return None if t is None else ("acme", my_draft(t.text), [t])

    register_dialect(Dialect("acme", read_acme, order=150))
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ImportMetadataError, RegistryError
from ..meta import GenerationMeta
from ..registry import Registry
from . import _container as C
from . import a1111, comfyui, fooocus, generic, invokeai, novelai, swarmui
from ._common import loads_json
from ._xmp import xmp_property, xmp_user_comment

__all__ = ["Dialect", "dialect_registry", "register_dialect", "ordered", "detect", "detect_stealth"]

Reading = tuple  # (tool key, Draft, [TextItem])


@dataclass(frozen=True)
class Dialect:
    """One tool's metadata dialect: ``read`` recognises and reads it, ``write`` (optional)
    builds the texts to embed for a GenerationMeta, ``order`` places it in the detection
    order (built-ins: 100 InvokeAI, 200 ComfyUI, 300 NovelAI, 400 A1111 family and JSON
    parameter texts, 500 XMP, 600 loose key/value texts, 700 Midjourney-style
    descriptions)."""

    key: str
    read: Callable[[C.Container], Reading | None]
    write: Callable[[GenerationMeta], list[tuple[str, str]]] | None = None
    order: int = 500
    description: str = ""


def _check(key: str, d: Any) -> None:
    if not isinstance(d, Dialect):
        raise RegistryError(f"dialect {key!r}: expected a Dialect, got {type(d).__name__}")
    if d.key != key:
        raise RegistryError(f"dialect key mismatch: {key!r} vs {d.key!r}")


#: Dialects by key; ``ordered()`` gives them in detection order.
dialect_registry: Registry[Dialect] = Registry("dialect", "aigif.dialects", _check)


def register_dialect(d: Dialect, *, override: bool = False) -> None:
    """Add a dialect (RegistryError on a duplicate key unless ``override``)."""
    dialect_registry.register(d.key, d, override=override)


def ordered() -> list[Dialect]:
    """Every registered dialect, in detection order (ties: key order)."""
    out = []
    for k in dialect_registry.keys():
        try:
            out.append(dialect_registry.get(k))
        except RegistryError:       # a broken third-party entry point: skip it
            continue
    return sorted(out, key=lambda d: (d.order, d.key))


def detect(c: C.Container) -> Reading | None:
    """The first dialect's reading of ``c`` (see ``ordered``), or None."""
    for d in ordered():
        r = d.read(c)
        if r is not None:
            return r
    return None


def _json(text: str) -> Any:
    try:
        return loads_json(text)
    except (ValueError, RecursionError):
        return None


def _read_invokeai(c: C.Container) -> Reading | None:
    g = c.get
    t = g("invokeai_metadata")
    if t is not None:
        d = invokeai.invokeai_metadata_to_draft(t.text)
        if d is not None:
            return "invokeai", d, [t]
    t = g("sd-metadata")
    if t is not None:
        d = invokeai.sd_metadata_to_draft(t.text)
        if d is not None:
            return "invokeai", d, [t]
    t = g("Dream")
    if t is not None:
        d = invokeai.dream_to_draft(t.text)
        if d is not None:
            return "invokeai", d, [t]
    return None


def _read_comfyui(c: C.Container) -> Reading | None:
    """The API graph (PNG "prompt", or EXIF Model/Make "prompt:{...}"), else the UI
    workflow."""
    g = c.get
    graph_item = None
    nodes = None
    for item in c.texts:
        text = item.text
        if item.key == "prompt" or (item.key in ("Model", "Make", "ImageDescription")
                                    and text[:7].lower() == "prompt:"):
            body = text if item.key == "prompt" else text[7:]
            nodes = comfyui.load_graph(body)
            if nodes is not None:
                graph_item = item
                break
    wf_item = next((i for i in c.texts if i.key == "workflow" or (
        i.key in ("Make", "ImageDescription", "Model")
        and i.text[:9].lower() == "workflow:")), None)
    if nodes is None and wf_item is None:
        # VideoHelperSuite: one video "comment" tag {"prompt": graph, "workflow": {...}}
        nodes, graph_item = _vhs_comment(c)
        if graph_item is not None and nodes is not None:
            return "comfyui", comfyui.graph_to_draft(nodes), [graph_item]
    if nodes is None and wf_item is not None and g("parameters") is None:
        body = wf_item.text if wf_item.key == "workflow" else wf_item.text[9:]
        nodes = comfyui.workflow_to_graph(body)
    if nodes is not None:
        used = [i for i in (graph_item, wf_item) if i is not None]
        params = g("parameters")
        if params is not None and "Steps:" in params.text and \
                not params.text.lstrip().startswith("{"):
            # saver nodes (Image Saver...) also write an A1111 infotext, built from their
            # own inputs and rewritten for Civitai: the executed graph keeps its fields,
            # the infotext adds the model hash, resource hashes and what the graph lacks
            # (and stands alone when the graph is over the work limits)
            r = _parameters(params, c)
            if r is not None:
                try:
                    d = comfyui.merge_saver_infotext(comfyui.graph_to_draft(nodes), r[1])
                except ImportMetadataError:
                    d = r[1]
                return "comfyui", d, [params] + used
        return "comfyui", comfyui.graph_to_draft(nodes), used
    return None


def _vhs_comment(c: C.Container) -> tuple[dict | None, C.TextItem | None]:
    """The graph of a VideoHelperSuite ``comment`` tag (MP4/WebM/MKV): its ``prompt``
    (the API graph, an object or its JSON text), else its ``workflow`` (editor JSON)."""
    for item in c.texts:
        if item.key.lower() != "comment" or not item.text.lstrip().startswith("{"):
            continue
        j = _json(item.text)
        if not isinstance(j, dict) or not ("prompt" in j or "workflow" in j):
            continue
        p, wf = j.get("prompt"), j.get("workflow")
        nodes = None
        if isinstance(p, (dict, str)):
            nodes = comfyui.load_graph(p if isinstance(p, str) else json.dumps(p))
        if nodes is None and isinstance(wf, (dict, str)):
            nodes = comfyui.workflow_to_graph(wf if isinstance(wf, str) else json.dumps(wf))
        if nodes is not None:
            return nodes, item
    return None, None


def _read_novelai(c: C.Container) -> Reading | None:
    g = c.get
    sw = g("Software")
    comment = g("Comment")
    if comment is not None and ((sw is not None and "novelai" in sw.text.lower()) or
                                _looks_novelai(_json(comment.text))):
        d = novelai.novelai_to_draft(_text(g("Description")), _text(g("Source")), comment.text)
        if d is not None:
            used = [i for i in (g("Title"), g("Description"), sw, g("Source"), comment,
                                g("Generation time")) if i is not None]
            return "novelai", d, used
    return None


def _read_parameters(c: C.Container) -> Reading | None:
    """A1111 family / Fooocus / SwarmUI / Draw Things: PNG "parameters", EXIF UserComment
    and the other places tools put one parameters text."""
    g = c.get
    for key in ("parameters", "UserComment", "Parameters", "Comment", "Description", "XPComment",
                "Model", "ImageDescription", "Make", "XPSubject"):
        t = g(key)
        if t is None or not t.text.strip():
            continue
        r = _parameters(t, c)
        if r is not None:
            return _fill_prompt(r, c)
    return None


#: where web services put the prompt when their parameters text has none
_PROMPT_TEXTS = ("ImageDescription", "Description", "XPComment", "XPSubject", "XPTitle")


def _descriptions(c: C.Container):
    """(TextItem used, text) of the plain-text descriptions of ``c``: EXIF/PNG
    description tags, then XMP ``dc:description``."""
    for key in _PROMPT_TEXTS:
        t = c.get(key)
        if t is not None:
            yield t, t.text
    for t in c.texts:
        if t.key in ("XMP", "XML:com.adobe.xmp") or t.where == "xmp":
            v = xmp_property(t.text, "dc:description")
            if v is not None:
                yield t, v


def _fill_prompt(r: Reading, c: C.Container) -> Reading:
    """An infotext with parameters but no prompt (a web service's EXIF UserComment) takes
    the prompt from the image's description, when that is a plain text."""
    tool, d, used = r
    if d.fields.get("prompt") or not d.fields.get("steps"):
        return r
    for t, text in _descriptions(c):
        if any(t is u for u in used) or not text or text.lstrip().startswith(("{", "[")) \
                or "Steps:" in text:
            continue
        d.set("prompt", text)
        return tool, d, used + [t]
    return r


def _read_xmp(c: C.Container) -> Reading | None:
    """XMP exif:UserComment (Draw Things, some web UIs), else an infotext in XMP
    dc:description (WebP/JPEG exports of web services)."""
    for t in c.texts:
        if t.key in ("XMP", "XML:com.adobe.xmp") or t.where == "xmp":
            for prop, key in (("exif:UserComment", "UserComment"), ("dc:description",
                                                                     "Description")):
                v = xmp_property(t.text, prop)
                if v:
                    r = _parameters(C.TextItem(key, v, "xmp:" + key.lower()), c)
                    if r is not None:
                        tool, d, _ = r
                        return tool, d, [t]
    return None


def _read_description(c: C.Container) -> Reading | None:
    """A Midjourney-style description (``<prompt> --ar 3:2 --seed 7 Job ID: ...``) in PNG
    Description, EXIF ImageDescription / XP tags, a JPEG comment or XMP dc:description."""
    items = list(_descriptions(c))
    com = c.get("Comment")
    if com is not None:
        items.append((com, com.text))
    for t, text in items:
        d = generic.description_to_draft(text)
        if d is not None:
            used = [t] + [i for i in (c.get("Author"), c.get("Creation Time"))
                          if i is not None and i is not t]
            return "midjourney", d, used
    return None


def _read_keyvalue(c: C.Container) -> Reading | None:
    """One text chunk per field (Easy Diffusion and scripts)."""
    fields = {t.key: t.text for t in c.texts}
    if generic.looks_like_fields(fields):
        keys = set(generic._ALIASES_FLAT) & set(fields)
        used = [t for t in c.texts if t.key in keys] or list(c.texts)
        return generic.tool_name(fields, "keyvalue"), generic.fields_to_draft(fields), used
    return None


def _text(i):
    return i.text if i is not None else None


def _looks_novelai(j: Any) -> bool:
    return isinstance(j, dict) and ("uc" in j or "v4_negative_prompt" in j) and (
        "sampler" in j or "steps" in j)


_JSON_OR_STEPS = ("Comment", "Description", "XPComment", "Model", "ImageDescription", "Make")


def _parameters(t: C.TextItem, c: C.Container):
    text = t.text
    s = text.lstrip()
    if s.startswith("{"):
        j = _json(s)
        if isinstance(j, dict):
            if "sui_image_params" in j:
                return "swarmui", swarmui.swarm_to_draft(j), [t]
            if fooocus.is_fooocus_json(j):
                used = [t] + [i for i in (c.get("fooocus_scheme"),) if i is not None]
                return "fooocus", fooocus.fooocus_to_draft(j), used
            if "c" in j and isinstance(j.get("c"), str) and ("steps" in j or "seed" in j):
                # Draw Things: {"c": prompt, "uc": negative, ...}
                return "drawthings", generic.fields_to_draft(j), [t]
            if _looks_novelai(j):
                d = novelai.novelai_to_draft(None, None, s)
                if d is not None:
                    return "novelai", d, [t]
            if generic.looks_like_fields(j):
                return generic.tool_name(j, "json"), generic.fields_to_draft(j), [t]
        if t.key in _JSON_OR_STEPS:
            return None
    if t.key in _JSON_OR_STEPS and "Steps:" not in text:
        return None
    d, tool, params = a1111.infotext_to_draft(text)
    if not params and t.key != "parameters":
        return None
    if not params and not text.strip():
        return None
    used = [t]
    fs = c.get("fooocus_scheme")
    if fs is not None:
        tool = "fooocus"
        used.append(fs)
    return tool, d, used


def detect_stealth(item: C.TextItem, c: C.Container) -> Reading | None:
    """The reading of alpha-channel ("stealth") text: NovelAI JSON or a parameters text."""
    j = _json(item.text) if item.text.lstrip().startswith("{") else None
    if isinstance(j, dict) and isinstance(j.get("Comment"), str):
        desc = j.get("Description") if isinstance(j.get("Description"), str) else None
        src = j.get("Source") if isinstance(j.get("Source"), str) else None
        d = novelai.novelai_to_draft(desc, src, j["Comment"])
        if d is not None:
            return "novelai", d, [item]
    r = _parameters(C.TextItem("parameters", item.text, item.where), c)
    if r is not None:
        tool, d, _ = r
        return tool, d, [item]
    return None


def _write_a1111(meta: GenerationMeta) -> list[tuple[str, str]]:
    return [("parameters", a1111.meta_to_infotext(meta))]


def _write_comfyui(meta: GenerationMeta) -> list[tuple[str, str]]:
    return [("prompt", json.dumps(comfyui.meta_to_graph(meta), ensure_ascii=False))]


for _d in (
    Dialect("invokeai", _read_invokeai, order=100,
            description="InvokeAI 2.x-5.x: invokeai_metadata / sd-metadata / Dream"),
    Dialect("comfyui", _read_comfyui, _write_comfyui, order=200,
            description="ComfyUI API graph (prompt) or UI workflow"),
    Dialect("novelai", _read_novelai, order=300,
            description="NovelAI: Comment JSON with Description/Source"),
    Dialect("a1111", _read_parameters, _write_a1111, order=400,
            description="A1111/Forge/SD.Next/Civitai infotext; Fooocus, SwarmUI, Draw Things "
                        "JSON parameter texts"),
    Dialect("xmp", _read_xmp, order=500, description="XMP exif:UserComment"),
    Dialect("keyvalue", _read_keyvalue, order=600,
            description="one text per field (Easy Diffusion, scripts)"),
    Dialect("description", _read_description, order=700,
            description="Midjourney-style description: prompt + --flags + Job ID"),
):
    register_dialect(_d)
