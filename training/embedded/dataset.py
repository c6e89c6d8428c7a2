"""Procedural captioned shapes: the training data of aigif-tiny, generated, never downloaded.

A scene is one to three flat shapes on a plain background, drawn at 4x and box-filtered
down to ``SIZE`` x ``SIZE`` pixels, with an English caption that says what is drawn:

- one object: ``"a small red circle in the top left corner on a white background"``
  (size, position and background are each left out of some captions; the picture then
  picks them at random);
- a relation: ``"a large blue square above a small yellow triangle on a black background"``;
- a count: ``"two green diamonds on a gray background"``.

Everything is a function of a ``numpy.random.Generator`` seed, so a dataset is reproducible
from its seed. The single-object combinations (colour, shape, size, position, background)
are split once, by a fixed seed, into training and held-out sets: training never sees a
held-out combination, and ``heldout_scenes()`` is what the benchmark checks.

Example::

    >>> rng = np.random.default_rng(0)
    >>> scene = sample_scene(rng)
    >>> image = render_scene(scene)            # (32, 32, 3) uint8
    >>> scene.caption
    'a small orange triangle in the bottom left corner on a gray background'
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

SIZE = 32
SUPERSAMPLE = 4

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 230),
    "yellow": (245, 215, 40),
    "purple": (150, 60, 190),
    "orange": (250, 140, 30),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (20, 20, 20),
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle", "diamond")
SIZES: dict[str, float] = {"small": 10.0, "large": 16.0}   # side / diameter in pixels
# 3 x 3 grid of positions: name -> (column, row), and the phrase captions use.
POSITIONS: dict[str, tuple[int, int]] = {
    "top left": (0, 0), "top": (1, 0), "top right": (2, 0),
    "left": (0, 1), "center": (1, 1), "right": (2, 1),
    "bottom left": (0, 2), "bottom": (1, 2), "bottom right": (2, 2),
}
POSITION_PHRASES: dict[str, str] = {
    "top left": "in the top left corner", "top": "at the top",
    "top right": "in the top right corner", "left": "on the left",
    "center": "in the center", "right": "on the right",
    "bottom left": "in the bottom left corner", "bottom": "at the bottom",
    "bottom right": "in the bottom right corner",
}
RELATIONS = ("above", "below", "to the left of", "to the right of")
COUNTS = {2: "two", 3: "three"}
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles",
           "diamond": "diamonds"}

SPLIT_SEED = 20261125
HELDOUT_FRACTION = 0.2
# Mix of scene kinds while training.
P_SINGLE, P_RELATION = 0.85, 0.10   # the rest are counts
P_OMIT = 0.10                       # each of size / position / background left out


@dataclass(frozen=True)
class Obj:
    shape: str
    color: str
    size: str
    position: str
    cx: float            # centre, pixels
    cy: float
    side: float          # pixels


@dataclass(frozen=True)
class Scene:
    objects: tuple[Obj, ...]
    background: str
    caption: str
    kind: str = "single"       # single | relation | count
    said: dict = field(default_factory=dict, compare=False, hash=False)


def cell_of(cx: float, cy: float, size: int = SIZE) -> str:
    """Name of the 3 x 3 grid position containing pixel coordinate (cx, cy)."""
    col = min(2, max(0, int(cx * 3 // size)))
    row = min(2, max(0, int(cy * 3 // size)))
    return next(k for k, v in POSITIONS.items() if v == (col, row))


def _place(rng: np.random.Generator, position: str, side: float) -> tuple[float, float]:
    col, row = POSITIONS[position]
    third = SIZE / 3
    lo, hi = side / 2 + 0.5, SIZE - side / 2 - 0.5
    cx = float(np.clip((col + 0.5) * third + rng.uniform(-1.5, 1.5), lo, hi))
    cy = float(np.clip((row + 0.5) * third + rng.uniform(-1.5, 1.5), lo, hi))
    return cx, cy


def _obj(rng: np.random.Generator, shape: str, color: str, size: str, position: str) -> Obj:
    side = SIZES[size] + float(rng.uniform(-1.0, 1.0))
    cx, cy = _place(rng, position, side)
    return Obj(shape, color, size, position, cx, cy, side)


def single_combos() -> list[tuple[str, str, str, str, str]]:
    """All (color, shape, size, position, background) single-object combinations."""
    return list(itertools.product(COLORS, SHAPES, SIZES, POSITIONS, BACKGROUNDS))


def split_combos() -> tuple[list, list]:
    """(training, held-out) single-object combinations: a fixed, seeded 80/20 split."""
    combos = single_combos()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(combos))
    n_held = int(round(len(combos) * HELDOUT_FRACTION))
    held = sorted(combos[i] for i in order[:n_held])
    train = sorted(combos[i] for i in order[n_held:])
    return train, held


def single_caption(color: str, shape: str, size: str | None, position: str | None,
                   background: str | None) -> str:
    words = ["a"] + ([size] if size else []) + [color, shape]
    if position:
        words.append(POSITION_PHRASES[position])
    if background:
        words += ["on", "a", background, "background"]
    return " ".join(words)


def single_scene(rng: np.random.Generator, combo: tuple[str, str, str, str, str],
                 omit: tuple[bool, bool, bool] = (False, False, False)) -> Scene:
    color, shape, size, position, bg = combo
    cap = single_caption(color, shape, None if omit[0] else size,
                         None if omit[1] else position, None if omit[2] else bg)
    return Scene((_obj(rng, shape, color, size, position),), bg, cap, "single")


def relation_scene(rng: np.random.Generator) -> Scene:
    """A random two-object scene ("a <size> <colour> <shape> <relation> a <size> <colour>
    <shape> on a <background> background")."""
    rel = RELATIONS[rng.integers(len(RELATIONS))]
    cells = list(POSITIONS)
    while True:
        p1, p2 = (cells[i] for i in rng.choice(9, size=2, replace=False))
        (c1, r1), (c2, r2) = POSITIONS[p1], POSITIONS[p2]
        ok = {"above": r1 < r2, "below": r1 > r2,
              "to the left of": c1 < c2, "to the right of": c1 > c2}[rel]
        if ok and (abs(c1 - c2) + abs(r1 - r2)) >= 1:
            break
    col = list(COLORS)
    a, b = rng.choice(len(col), size=2, replace=False)
    s1, s2 = (SHAPES[i] for i in rng.integers(len(SHAPES), size=2))
    z1, z2 = (list(SIZES)[i] for i in rng.integers(2, size=2))
    bg = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    o1 = _obj(rng, s1, col[a], z1, p1)
    o2 = _obj(rng, s2, col[b], z2, p2)
    cap = f"a {z1} {col[a]} {s1} {rel} a {z2} {col[b]} {s2} on a {bg} background"
    return Scene((o1, o2), bg, cap, "relation")


def _count_scene(rng: np.random.Generator) -> Scene:
    n = int(rng.integers(2, 4))
    color = list(COLORS)[rng.integers(len(COLORS))]
    shape = SHAPES[rng.integers(len(SHAPES))]
    bg = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    cells = [list(POSITIONS)[i] for i in rng.choice(9, size=n, replace=False)]
    objs = tuple(_obj(rng, shape, color, "small", p) for p in cells)
    return Scene(objs, bg, f"{COUNTS[n]} {color} {PLURALS[shape]} on a {bg} background", "count")


_TRAIN_COMBOS: list | None = None


def sample_scene(rng: np.random.Generator, p_single: float = P_SINGLE,
                 p_relation: float = P_RELATION, p_omit: float = P_OMIT) -> Scene:
    """One random training scene (never a held-out single-object combination).

    ``p_single`` / ``p_relation`` set the mix of scene kinds (the rest are counts) and
    ``p_omit`` how often each of size, position and background is left out of a caption.
    """
    global _TRAIN_COMBOS
    if _TRAIN_COMBOS is None:
        _TRAIN_COMBOS = split_combos()[0]
    u = rng.random()
    if u < p_single:
        combo = _TRAIN_COMBOS[rng.integers(len(_TRAIN_COMBOS))]
        omit = tuple(bool(x) for x in rng.random(3) < p_omit)
        return single_scene(rng, combo, omit)  # type: ignore[arg-type]
    if u < p_single + p_relation:
        return relation_scene(rng)
    return _count_scene(rng)


def heldout_scenes(seed: int = 7) -> list[Scene]:
    """One fully specified scene per held-out combination (259 of them), for evaluation."""
    rng = np.random.default_rng(seed)
    return [single_scene(rng, c) for c in split_combos()[1]]


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":   # pointing up, base at the bottom
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    return None


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, side: float,
               fill: tuple[int, int, int], scale: float = 1.0) -> None:
    r = side / 2 * scale
    cx, cy = cx * scale, cy * scale
    poly = _polygon(shape, cx, cy, r)
    if poly is None:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon(poly, fill=fill)


def render_scene(scene: Scene, size: int = SIZE) -> np.ndarray:
    """The scene as an (size, size, 3) uint8 array (antialiased by 4x supersampling)."""
    s = SUPERSAMPLE * size / SIZE
    img = Image.new("RGB", (SUPERSAMPLE * size,) * 2, BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(img)
    for o in scene.objects:
        draw_shape(draw, o.shape, o.cx, o.cy, o.side, COLORS[o.color], s)
    return np.asarray(img.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def sample_batch(rng: np.random.Generator, n: int,
                 **mix: float) -> tuple[np.ndarray, list[str]]:
    """``n`` training scenes: (n, SIZE, SIZE, 3) uint8 images and their captions
    (``mix``: the ``p_*`` arguments of ``sample_scene``)."""
    scenes = [sample_scene(rng, **mix) for _ in range(n)]
    return np.stack([render_scene(sc) for sc in scenes]), [sc.caption for sc in scenes]


def vocabulary() -> list[str]:
    """Every word a caption can use."""
    words: set[str] = set()
    rng = np.random.default_rng(0)
    for _ in range(2000):
        words.update(sample_scene(rng).caption.split())
    return sorted(words)
