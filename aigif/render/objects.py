"""Regions of the objects a prompt names, from the generator's own cross-attention.

``object_map(meta)`` regenerates the image of a GenerationMeta (the same path as
``render_file``: model resolution, pipeline cache, recorded platform) while
``aigif.render.attention.CrossAttentionRecorder`` sums the text cross-attention (DAAM,
Tang et al. 2023). The prompt is split into *named objects* (:func:`prompt_objects`:
pieces between commas, semicolons, "and", "with" and spatial prepositions, minus stop
words, position words and quality tags); each object's heat map is the sum of the maps of
its words' tokens (found through the pipeline's tokenizer), min-max normalized to 0..1.
Every 16 x 16 block goes to the object with the highest mean heat above ``threshold``,
else to the background, group 0. ``object_groups`` gives the block map and group names
for ``aigif.save(..., fallback="gitssic", groups="objects")``, and falls back to the
codec's colour/position map (with an ``AigifWarning`` saying why) when the generator
cannot tell: no generation syntax, the model not on this machine, torch or diffusers
missing, or a family whose text enters through joint attention (SD3, Flux) or stages.

The recording does not change the rendering: the image of ``object_map`` is bit-identical
to ``render_file``'s (tested). torch / numpy load on first use.
"""
from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..codecs.learned.gitssic import BLOCK, GROUPS_INFO_KEY as INFO_KEY, auto_groups
from ..codecs.learned.gitssic import group_names_json
from ..codecs.learned.lvc.ssvc import moving_objects
from ..codecs.pixels import psnr
from ..container import FileData
from ..errors import AigifError, AigifWarning, RenderError
from ..meta import GenerationMeta
from .backends import get_backend
from .backends.base import network_text
from .cache import pipeline_cache
from .engine import _render
from .platform import resolve_settings

__all__ = ["ObjectMap", "object_map", "object_groups", "video_object_groups", "prompt_objects",
           "assign_blocks",
           "INFO_KEY", "BLOCK", "DEFAULT_THRESHOLD"]

DEFAULT_THRESHOLD = 0.4     # DAAM's tau on min-max normalized maps

_STOP = frozenset("""a an the this that these those some any each every one two three
    four five its his her their my your our of to is are was were be being been very
    there here it as for but or nor so than then also just only""".split())
_POSITION = frozenset("""top bottom left right center centre middle corner corners side
    sides upper lower front back foreground distance far close view""".split())
_QUALITY = frozenset("""masterpiece best quality high highly detailed detail intricate
    4k 8k hd uhd hdr trending artstation award winning sharp focus cinematic lighting
    photorealistic realistic octane render unreal engine resolution""".split())
_SPLIT = re.compile(r"[,;|()\[\]{}\n]|\.(?:\s|$)|\b(?:and|with|in|on|at|under|over|above|"
                    r"below|behind|beside|near|next to|by|from|into|onto|against|inside|"
                    r"around|between|among|of)\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_][\w'-]*")       # words; those without a letter are dropped


def prompt_objects(prompt: str) -> list[tuple[str, list[tuple[int, int]]]]:
    """The named objects of ``prompt``, in order: ``(name, [(start, end) of each content
    word])``. Names are the content words joined by spaces; repeated names keep the first.

    >>> [n for n, _ in prompt_objects("a red fox in the snow, highly detailed")]
    ['red fox', 'snow']
    """
    out: dict[str, list[tuple[int, int]]] = {}
    pos = 0
    pieces = []
    for m in _SPLIT.finditer(prompt):
        pieces.append((pos, m.start()))
        pos = m.end()
    pieces.append((pos, len(prompt)))
    for a, b in pieces:
        words = [(m.start() + a, m.end() + a) for m in _WORD.finditer(prompt[a:b])
                 if m.group().lower() not in _STOP | _POSITION | _QUALITY
                 and any(c.isalpha() for c in m.group())]
        if words:
            name = " ".join(prompt[s:e] for s, e in words)
            out.setdefault(name, words)
    return list(out.items())


def _token_positions(tokenizer, text: str, spans: list[tuple[int, int]],
                     length: int) -> list[int]:
    """Positions in the encoded sequence (``length`` tokens, as the pipeline encodes
    ``text``) of the tokens covering the character ``spans``; truncated ones dropped."""
    full = tokenizer(text, truncation=True, max_length=length)["input_ids"]
    lead = 1 if tokenizer.bos_token_id is not None and full and \
        full[0] == tokenizer.bos_token_id else 0
    trail = 1 if tokenizer.eos_token_id is not None and full and \
        full[-1] == tokenizer.eos_token_id else 0
    last = len(full) - trail
    out: list[int] = []
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, truncation=True, max_length=length,
                        return_offsets_mapping=True)
        for i, (s, e) in enumerate(enc["offset_mapping"]):
            if lead <= i < last and e > s and any(s < b and a < e for a, b in spans):
                out.append(i)
        return out

    def count(prefix: str) -> int:
        return len(tokenizer(prefix.rstrip(), add_special_tokens=False,
                             verbose=False)["input_ids"])

    for a, b in spans:
        out.extend(p for p in range(lead + count(text[:a]), lead + count(text[:b]))
                   if p < last)
    return sorted(set(out))


def assign_blocks(heat, threshold: float = DEFAULT_THRESHOLD, block: int = BLOCK):
    """Block map (int64 ``[ceil(h/16), ceil(w/16)]``) of object heat maps ``heat``
    (``[K, h, w]``, each 0..1): a block takes 1 + the object with the highest mean heat
    over its pixels when that mean exceeds ``threshold``, else 0 (background)."""
    import numpy as np
    heat = np.asarray(heat, np.float64)
    k, h, w = heat.shape
    hb, wb = -(-h // block), -(-w // block)
    if k == 0:
        return np.zeros((hb, wb), np.int64)
    pad = np.pad(heat, ((0, 0), (0, hb * block - h), (0, wb * block - w)))
    ones = np.pad(np.ones((h, w)), ((0, hb * block - h), (0, wb * block - w)))
    n = ones.reshape(hb, block, wb, block).sum((1, 3))
    mean = pad.reshape(k, hb, block, wb, block).sum((2, 4)) / n
    best = mean.argmax(0)
    return np.where(mean.max(0) > threshold, best + 1, 0).astype(np.int64)


@dataclass(frozen=True)
class ObjectMap:
    """What ``object_map`` returns.

    ``image``: the regenerated PIL image (bit-identical to ``render_file``'s);
    ``names``: the prompt's named objects, in order; ``heat``: float32 ``[len(names), h,
    w]``, each object's attention, min-max normalized to 0..1; ``blocks``: int64
    ``[ceil(h/16), ceil(w/16)]`` group ids (0 background; objects that win no block get
    no id, the others 1.. in prompt order); ``groups``: group id -> name, 0 "background";
    ``timings``: seconds (``load``, ``generate``, ``total``).
    """

    image: Any
    names: tuple[str, ...]
    heat: Any
    blocks: Any
    groups: dict[int, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def info(self) -> dict[str, str]:
        """``{INFO_KEY: '{"0": "background", "1": "red fox", ...}'}``: the file info entry
        (spec 6.3) that names the groups, for ``aigif.save(..., info=...)``."""
        return {INFO_KEY: group_names_json(self.groups)}


def _meta_of(obj) -> GenerationMeta:
    meta = obj.meta if isinstance(obj, FileData) else obj
    if meta is None:
        raise RenderError("the file has no generation syntax: the generator cannot tell "
                          "where its objects are")
    if not isinstance(meta, GenerationMeta):
        raise RenderError(f"expected a GenerationMeta or an AigifFile, found "
                          f"{type(obj).__name__}")
    if meta.video is not None:
        raise RenderError("object maps are for images, not video generations", field="video")
    if meta.stages:
        raise RenderError("object maps of files with generation stages are not supported "
                          "(the attention of the later passes is not attributed)",
                          field="stages")
    return meta


def object_map(obj, *, threshold: float = DEFAULT_THRESHOLD, device: str | None = None,
               dtype: str | None = None, cache=None, download: bool = False) -> ObjectMap:
    """Regenerate ``obj`` (a GenerationMeta or an AigifFile with generation syntax) and
    map the objects its prompt names to 16 x 16 blocks from the generator's
    cross-attention. ``download=False``: only models already on this machine.

    Raises RenderError when the generator cannot tell (no syntax, no named object in the
    prompt, video or stages, no text cross-attention in the model), and what
    ``render_file`` raises (ModelNotAvailableError, MissingDependencyError).

    Example::

        om = object_map(aigif.GenerationMeta(model="sd15", prompt="a cat and a dog", seed=1))
        om.groups                       # {0: 'background', 1: 'cat', 2: 'dog'}
        aigif.save(meta, "pets.aigif", image=om.image, fallback="gitssic",
                   groups=om.blocks, info=om.info())
    """
    if not 0.0 <= threshold < 1.0:
        raise RenderError(f"threshold must be in [0, 1), got {threshold!r}")
    meta = _meta_of(obj)
    text = network_text(meta.prompt, meta.loras)
    objects = prompt_objects(text)
    if not objects:
        raise RenderError(f"the prompt {meta.prompt!r} names no object (after dropping stop "
                          f"words, position words and quality tags)", field="prompt")
    get_backend(meta.generator)     # unknown generator: its own RenderError first
    rec: list[Any] = []

    def observe(pipe):
        from .attention import CrossAttentionRecorder   # torch
        r = CrossAttentionRecorder(pipe)
        if not r.layers:
            raise RenderError(f"generator {meta.generator!r} has no text cross-attention "
                              f"layers (its text enters through joint attention, or not "
                              f"at all): it cannot tell where the objects are")
        rec.append(r)
        return r

    t0 = time.perf_counter()
    settings = resolve_settings(meta.platform, device, dtype, None)
    image, _, timings, _ = _render(meta, settings,
                                   cache=pipeline_cache if cache is None else cache,
                                   download=download, strict=False, observe=observe)
    r = rec[0]
    if r.error is not None:
        raise RenderError(f"recording the cross-attention of {meta.generator!r} failed "
                          f"(the image is unaffected): {type(r.error).__name__}: {r.error}")
    if r.calls == 0:
        raise RenderError("the pipeline ran no cross-attention layer: nothing to map")
    try:
        return _build(image, r, text, objects, threshold,
                      {**timings, "total": time.perf_counter() - t0})
    except RuntimeError as e:        # an attention resolution that fits no image grid
        raise RenderError(f"cross-attention maps of {meta.generator!r}: {e}") from e


def _build(image, r, text, objects, threshold, timings) -> ObjectMap:
    import numpy as np
    tokenizer = r.tokenizer
    if tokenizer is None:
        raise RenderError("the pipeline has no tokenizer to find the prompt's words in")
    w, h = image.size
    maps = r.token_maps(w, h).numpy()
    names, heat = [], []
    for name, spans in objects:
        pos = _token_positions(tokenizer, text, spans, r.tokens)
        if not pos:
            continue            # truncated away: the generator never saw it
        m = maps[pos].sum(0)
        lo, hi = float(m.min()), float(m.max())
        names.append(name)
        heat.append(((m - lo) / (hi - lo)) if hi > lo else np.zeros_like(m))
    if not names:
        raise RenderError("none of the prompt's objects is within the text the model "
                          "encodes (truncated)", field="prompt")
    heat_a = np.stack(heat).astype(np.float32)
    raw = assign_blocks(heat_a, threshold)
    used = [i for i in range(len(names)) if (raw == i + 1).any()]
    remap = np.zeros(len(names) + 1, np.int64)
    for new, i in enumerate(used, 1):
        remap[i + 1] = new
    blocks = remap[raw]
    groups = {0: "background", **{new: names[i] for new, i in enumerate(used, 1)}}
    return ObjectMap(image=image, names=tuple(names), heat=heat_a, blocks=blocks,
                     groups=groups, timings=timings)


def object_groups(obj, image: Any = None, *, k: int = 4, threshold: float = DEFAULT_THRESHOLD,
                  **render_kw: Any):
    """``(block map, group names)`` for a gitssic payload of ``image``: the object map of
    ``obj``'s generation syntax (:func:`object_map`); when the generator cannot tell
    (any AigifError: no syntax, model not here, no cross-attention, no object above the
    threshold) or its regeneration is not the size of ``image``, the codec's automatic
    map of ``k`` regions of ``image`` and ``{}``, with an ``AigifWarning`` saying why.
    A regeneration that differs from ``image`` warns (the map is of the regeneration).
    Raises only when there is neither a map nor an image to fall back on."""
    reason = None
    if image is not None and not hasattr(image, "convert"):
        import numpy as np
        from PIL import Image
        image = Image.fromarray(np.asarray(image))
    try:
        om = object_map(obj, threshold=threshold, **render_kw)
    except AigifError as e:
        reason = str(e)
        om = None
    if om is not None and len(om.groups) < 2:
        reason = f"no named object has attention above {threshold} in any block"
        om = None
    if om is not None and image is not None:
        if tuple(om.image.size) != tuple(image.size):
            reason = (f"the regenerated image is {om.image.size[0]}x{om.image.size[1]}, the "
                      f"given one {image.size[0]}x{image.size[1]}")
            om = None
        else:
            q = psnr(om.image.convert("RGB"), image.convert("RGB"))
            if q != float("inf"):
                warnings.warn(f"the object map comes from a regeneration that differs from "
                              f"the given image ({q:.1f} dB): regions may be off",
                              AigifWarning, stacklevel=3)
    if om is not None:
        return om.blocks, om.groups
    if image is None:
        raise RenderError(f"no object map ({reason}) and no image for the automatic map")
    import numpy as np
    warnings.warn(f"gitssic groups='objects': the generator cannot tell where the objects "
                  f"are ({reason}); using the automatic colour/position map of {k} regions",
                  AigifWarning, stacklevel=3)
    return auto_groups(np.asarray(image.convert("RGB")), k), {}


def video_object_groups(frames: Any, *, k: int = 4):
    """``(pixel mask or k, group names)`` for an ssvc payload of ``frames`` (uint8
    [T, H, W, 3]): the tubes of the objects that move in the clip apart from the camera
    (``aigif.codecs.learned.lvc.ssvc.moving_objects``: DIS optical flow, encoder side),
    named "moving object 1", ... (largest first; the background is group 0). A text-to-video
    generator's cross-attention is not recorded (the image path, :func:`object_map`, does
    not apply to video families), so the objects are found in the frames themselves. When
    nothing moves but the camera: ``k`` (the codec's automatic map of k regions) and
    ``{}``, with an ``AigifWarning``."""
    mask = moving_objects(frames)
    if mask is None:
        warnings.warn(f"ssvc groups='objects': nothing in the clip moves apart from the "
                      f"camera; using the automatic colour/position map of {k} regions",
                      AigifWarning, stacklevel=3)
        return k, {}
    return mask, {0: "background",
                  **{i: f"moving object {i}" for i in range(1, int(mask.max()) + 1)}}
