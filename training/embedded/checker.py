"""Pixel-based prompt-following checker for single-object aigif-tiny pictures.

It knows nothing about the model: it looks at the pixels of a picture and says which
colour, shape, grid position and background it sees, then compares them with what the
prompt asked for. Steps:

1. background = median colour of the 1-pixel border, snapped to the nearest named background;
2. foreground = pixels farther than ``FG_THRESHOLD`` (RGB distance) from that colour;
   the object is the largest 4-connected component (fewer than ``MIN_AREA`` pixels: none);
3. colour = mean of the component's most saturated half, snapped to the nearest palette colour;
4. shape = the template (circle, square, triangle, diamond, each drawn like the dataset
   draws it, centred on the component's bounding box) with the highest IoU with the
   component;
5. position = the 3 x 3 grid cell of the centre of the component's bounding box (the point
   the dataset places; a triangle's centroid sits lower).

On the procedural dataset's own pictures it is right about 100 % of the time (see
``tests/test_embedded_checker.py``), so its errors on generated pictures are the model's.

Example::

    >>> seen = detect(image)                       # (H, W, 3) uint8
    >>> seen.color, seen.shape, seen.position
    ('red', 'circle', 'top left')
    >>> check(image, "a small red circle in the top left corner on a white background")
    {'color': True, 'shape': True, 'position': True, 'background': True}
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .dataset import BACKGROUNDS, COLORS, POSITION_PHRASES, SHAPES, cell_of, draw_shape

FG_THRESHOLD = 60.0
MIN_AREA = 6


@dataclass(frozen=True)
class Detection:
    background: str
    color: str | None
    shape: str | None
    position: str | None
    area: int


def _nearest(rgb: np.ndarray, table: dict[str, tuple[int, int, int]]) -> str:
    names = list(table)
    d = [float(np.sum((rgb - np.asarray(table[k], dtype=np.float64)) ** 2)) for k in names]
    return names[int(np.argmin(d))]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    label = np.zeros((h, w), dtype=np.int32)
    best, best_n, cur = 0, 0, 0
    for y0 in range(h):
        for x0 in range(w):
            if not mask[y0, x0] or label[y0, x0]:
                continue
            cur += 1
            label[y0, x0] = cur
            stack, n = [(y0, x0)], 0
            while stack:
                y, x = stack.pop()
                n += 1
                for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not label[yy, xx]:
                        label[yy, xx] = cur
                        stack.append((yy, xx))
            if n > best_n:
                best, best_n = cur, n
    return label == best if best else np.zeros_like(mask)


def _template(shape: str, cx: float, cy: float, side: float, h: int, w: int) -> np.ndarray:
    s = 4
    img = Image.new("L", (w * s, h * s), 0)
    draw_shape(ImageDraw.Draw(img), shape, cx, cy, side, 255, s)  # type: ignore[arg-type]
    small = np.asarray(img.resize((w, h), Image.Resampling.BOX), dtype=np.float64)
    return small >= 128


def _background(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(median colour of the 1-pixel border, each pixel's RGB distance from it)."""
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    bg_rgb = np.median(border, axis=0)
    return bg_rgb, np.sqrt(((a - bg_rgb) ** 2).sum(-1))


def detect(image) -> Detection:
    """What the picture shows: background, and the largest object's colour, shape, position."""
    a = np.asarray(image, dtype=np.float64)[..., :3]
    h, w = a.shape[:2]
    bg_rgb, dist = _background(a)
    background = _nearest(bg_rgb, BACKGROUNDS)
    comp = _largest_component(dist > FG_THRESHOLD)
    area = int(comp.sum())
    if area < MIN_AREA:
        return Detection(background, None, None, None, area)
    d = dist[comp]
    core = a[comp][d >= np.median(d)]
    color = _nearest(core.mean(0), COLORS)
    ys, xs = np.nonzero(comp)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = ((x1 - x0) + (y1 - y0)) / 2
    ious = []
    for shape in SHAPES:
        t = _template(shape, cx, cy, side, h, w)
        ious.append((t & comp).sum() / max(1, (t | comp).sum()))
    shape = SHAPES[int(np.argmax(ious))]
    position = cell_of(float(cx), float(cy), size=w)
    return Detection(background, color, shape, position, area)


_PHRASE_TO_POS = {v: k for k, v in POSITION_PHRASES.items()}
_RE = re.compile(r"^a (?:(?P<size>small|large) )?(?P<color>\w+) (?P<shape>\w+)"
                 r"(?: (?P<pos>in the .+? corner|at the \w+|on the \w+|in the center))?"
                 r"(?: on a (?P<bg>\w+) background)?$")


def parse_prompt(prompt: str) -> dict[str, str | None]:
    """The attributes a single-object prompt asks for (``None`` where it says nothing)."""
    m = _RE.match(prompt.strip().lower())
    if not m or m["color"] not in COLORS or m["shape"] not in SHAPES:
        raise ValueError(f"not a single-object aigif-tiny prompt: {prompt!r}")
    return {"color": m["color"], "shape": m["shape"], "size": m["size"],
            "position": _PHRASE_TO_POS.get(m["pos"]) if m["pos"] else None,
            "background": m["bg"]}


def check(image, prompt: str) -> dict[str, bool]:
    """Per attribute the prompt names (colour, shape, position, background): was it drawn?"""
    want = parse_prompt(prompt)
    seen = detect(image)
    out = {"color": seen.color == want["color"], "shape": seen.shape == want["shape"]}
    if want["position"]:
        out["position"] = seen.position == want["position"]
    if want["background"]:
        out["background"] = seen.background == want["background"]
    return out


_REL_RE = re.compile(r"^a (?:(?:small|large) )?(?P<c1>\w+) (?P<s1>\w+) "
                     r"(?P<rel>above|below|to the left of|to the right of) "
                     r"a (?:(?:small|large) )?(?P<c2>\w+) (?P<s2>\w+)"
                     r"(?: on a (?P<bg>\w+) background)?$")
REL_MARGIN = 2.0     # pixels the two centres must differ by along the relation's axis


def check_relation(image, prompt: str) -> dict[str, bool]:
    """For a two-object prompt (``"a small red circle above a large blue square ..."``):
    ``both`` = each named colour covers at least ``MIN_AREA`` foreground pixels, and
    ``relation`` = the first colour's centre lies on the named side of the second's (by
    ``REL_MARGIN`` pixels). Shapes are not judged (two objects may touch)."""
    m = _REL_RE.match(prompt.strip().lower())
    if not m or m["c1"] not in COLORS or m["c2"] not in COLORS or m["c1"] == m["c2"]:
        raise ValueError(f"not a two-object aigif-tiny relation prompt: {prompt!r}")
    a = np.asarray(image, dtype=np.float64)[..., :3]
    fg = _background(a)[1] > FG_THRESHOLD
    names = list(COLORS)
    pal = np.asarray([COLORS[k] for k in names], dtype=np.float64)
    nearest = np.argmin(((a[..., None, :] - pal) ** 2).sum(-1), axis=-1)
    centres = []
    for c in (m["c1"], m["c2"]):
        ys, xs = np.nonzero(fg & (nearest == names.index(c)))
        if len(xs) < MIN_AREA:
            return {"both": False, "relation": False}
        centres.append((xs.mean(), ys.mean()))
    (x1, y1), (x2, y2) = centres
    ok = {"above": y2 - y1, "below": y1 - y2,
          "to the left of": x2 - x1, "to the right of": x1 - x2}[m["rel"]] >= REL_MARGIN
    return {"both": True, "relation": bool(ok)}
