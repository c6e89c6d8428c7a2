"""Procedural captioned motion clips: the training data of aigif-tiny-video, generated, never
downloaded.

A clip is ``FRAMES`` frames of ``SIZE`` x ``SIZE`` pixels: one or two flat shapes moving on
a plain background, with an English caption that says what moves and how:

- one object moving: ``"a red circle moving slowly from left to right on a white background"``
  (directions: from left to right, right to left, top to bottom, bottom to top; speed:
  ``slowly`` 1 px/frame, none 2 px/frame, ``quickly`` 3 px/frame; a short form ``"a red
  circle moving right ..."`` in some captions);
- one object bouncing: ``"a blue square bouncing left and right on a black background"``
  (from one edge to the other and back: starts left / top);
- two objects: ``"a red circle moving right and a blue square moving left on a gray
  background"`` (both along one axis, the first named in the top lane of a horizontal pair,
  the left lane of a vertical one).

Everything is a function of a ``numpy.random.Generator``. The combinations are split once,
by a fixed seed, into training and held-out sets (``split_singles``, ``split_pairs``):
training never sees a held-out combination of (colour, shape, motion, speed, background),
or of (colours, shapes, directions, background) for pairs; ``heldout_clips`` is what the
benchmark checks.

Example::

    >>> rng = np.random.default_rng(0)
    >>> clip = sample_clip(rng)
    >>> frames = render_clip(clip)             # (8, 32, 32, 3) uint8
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .dataset import BACKGROUNDS, COLORS

SIZE = 32
FRAMES = 8
SUPERSAMPLE = 4
SHAPES = ("circle", "square")
SIDE = 8.0                                     # diameter / side, pixels
# direction -> (unit vector, long phrase, short phrase)
DIRECTIONS: dict[str, tuple[tuple[int, int], str]] = {
    "right": ((1, 0), "from left to right"),
    "left": ((-1, 0), "from right to left"),
    "down": ((0, 1), "from top to bottom"),
    "up": ((0, -1), "from bottom to top"),
}
SPEEDS: dict[str, float] = {"slowly": 1.0, "": 2.0, "quickly": 3.0}    # px per frame
BOUNCES: dict[str, str] = {"horizontal": "bouncing left and right",
                           "vertical": "bouncing up and down"}
BOUNCE_AMPLITUDE = 8.0
LANES = (10.0, 22.0)           # perpendicular coordinate of the first / second of a pair

SPLIT_SEED = 20261201
HELDOUT_FRACTION = 0.2
P_PAIR = 0.25                  # share of two-object clips while training
P_SHORT = 0.25                 # single movers captioned "moving right" instead of "from .. to .."
P_OMIT_BG = 0.1


@dataclass(frozen=True)
class Mover:
    shape: str
    color: str
    motion: str          # "right" "left" "down" "up" (moving) or "horizontal" "vertical" (bouncing)
    speed: str = ""      # a SPEEDS key (moving only)

    @property
    def bouncing(self) -> bool:
        return self.motion in BOUNCES


@dataclass(frozen=True)
class Clip:
    movers: tuple[Mover, ...]
    background: str
    caption: str
    # per mover: (FRAMES, 2) float centres (x, y), pixels
    tracks: tuple[tuple[tuple[float, float], ...], ...] = ()


def _tri(t: np.ndarray, n: int) -> np.ndarray:
    """-1 -> +1 -> -1 over frames 0..n-1."""
    return 1.0 - 2.0 * np.abs(2.0 * t / max(n - 1, 1) - 1.0)


def track(m: Mover, rng: np.random.Generator, lane: float | None = None,
          frames: int = FRAMES) -> np.ndarray:
    """(frames, 2) centres of mover ``m`` (random jitter of start and lane from ``rng``)."""
    t = np.arange(frames, dtype=np.float64)
    mid = SIZE / 2
    perp = (mid if lane is None else lane) + rng.uniform(-2.0, 2.0)
    if m.bouncing:
        along = mid + BOUNCE_AMPLITUDE * _tri(t, frames) + rng.uniform(-1.0, 1.0)
        horizontal = m.motion == "horizontal"
    else:
        (dx, dy), _ = DIRECTIONS[m.motion]
        v = SPEEDS[m.speed]
        half = v * (frames - 1) / 2
        slack = max(0.0, min(2.0, mid - SIDE / 2 - 0.5 - half))
        along = mid + (dx + dy) * v * (t - (frames - 1) / 2) + rng.uniform(-slack, slack)
        horizontal = dx != 0
    out = np.empty((frames, 2))
    out[:, 0], out[:, 1] = (along, perp) if horizontal else (perp, along)
    return out


def mover_phrase(m: Mover, short: bool = False) -> str:
    head = f"a {m.color} {m.shape}"
    if m.bouncing:
        return f"{head} {BOUNCES[m.motion]}"
    speed = f" {m.speed}" if m.speed else ""
    how = m.motion if short else DIRECTIONS[m.motion][1]
    return f"{head} moving{speed} {how}"


def caption(movers: tuple[Mover, ...], background: str | None, short: bool = False) -> str:
    text = " and ".join(mover_phrase(m, short or len(movers) > 1) for m in movers)
    return text + (f" on a {background} background" if background else "")


def _axis(motion: str) -> str:
    return "horizontal" if motion in ("left", "right", "horizontal") else "vertical"


# ---------------------------------------------------------------- combinations and split
def single_combos() -> list[tuple[str, str, str, str, str]]:
    """All (colour, shape, motion, speed, background) one-object combinations."""
    motions = [(d, s) for d in DIRECTIONS for s in SPEEDS] + [(b, "") for b in BOUNCES]
    return [(c, sh, mo, sp, bg) for c in COLORS for sh in SHAPES for mo, sp in motions
            for bg in BACKGROUNDS]


def pair_combos() -> list[tuple]:
    """All (colour1, shape1, dir1, colour2, shape2, dir2, background) two-object
    combinations (distinct colours, directions along one axis)."""
    out = []
    for axis in (("right", "left"), ("down", "up")):
        for c1, c2 in itertools.permutations(COLORS, 2):
            for s1, s2 in itertools.product(SHAPES, SHAPES):
                for d1, d2 in itertools.product(axis, axis):
                    for bg in BACKGROUNDS:
                        out.append((c1, s1, d1, c2, s2, d2, bg))
    return out


def _split(combos: list, salt: int) -> tuple[list, list]:
    order = np.random.default_rng(SPLIT_SEED + salt).permutation(len(combos))
    n_held = int(round(len(combos) * HELDOUT_FRACTION))
    return (sorted(combos[i] for i in order[n_held:]), sorted(combos[i] for i in order[:n_held]))


def split_singles() -> tuple[list, list]:
    """(training, held-out) one-object combinations: a fixed, seeded 80/20 split."""
    return _split(single_combos(), 0)


def split_pairs() -> tuple[list, list]:
    """(training, held-out) two-object combinations: a fixed, seeded 80/20 split."""
    return _split(pair_combos(), 1)


# ---------------------------------------------------------------- clips
def make_clip(movers: tuple[Mover, ...], background: str, rng: np.random.Generator,
              said_background: bool = True, short: bool = False,
              frames: int = FRAMES) -> Clip:
    if len(movers) == 1:
        tracks = (track(movers[0], rng, frames=frames),)
    else:
        tracks = tuple(track(m, rng, lane, frames) for m, lane in zip(movers, LANES))
    cap = caption(movers, background if said_background else None, short)
    return Clip(movers, background, cap, tuple(tuple(map(tuple, t)) for t in tracks))


def clip_from_single(combo, rng, **kw) -> Clip:
    c, sh, mo, sp, bg = combo
    return make_clip((Mover(sh, c, mo, sp),), bg, rng, **kw)


def clip_from_pair(combo, rng, **kw) -> Clip:
    c1, s1, d1, c2, s2, d2, bg = combo
    return make_clip((Mover(s1, c1, d1), Mover(s2, c2, d2)), bg, rng, **kw)


_TRAIN: tuple[list, list] | None = None


def sample_clip(rng: np.random.Generator, p_pair: float = P_PAIR) -> Clip:
    """A random training clip (never a held-out combination)."""
    global _TRAIN
    if _TRAIN is None:
        _TRAIN = (split_singles()[0], split_pairs()[0])
    singles, pairs = _TRAIN
    said = rng.random() >= P_OMIT_BG
    if rng.random() < p_pair:
        combo = pairs[rng.integers(len(pairs))]
        return clip_from_pair(combo, rng, said_background=said)
    combo = singles[rng.integers(len(singles))]
    short = combo[2] in DIRECTIONS and rng.random() < P_SHORT
    return clip_from_single(combo, rng, said_background=said, short=short)


def heldout_clips(seed: int = 0) -> tuple[list[Clip], list[Clip]]:
    """(one-object, two-object) clips of every held-out combination (long captions,
    background said); jitter drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    singles = [clip_from_single(c, rng) for c in split_singles()[1]]
    pairs = [clip_from_pair(c, rng) for c in split_pairs()[1]]
    return singles, pairs


# ---------------------------------------------------------------- pixels
_SUB = (np.arange(SIZE * SUPERSAMPLE) + 0.5) / SUPERSAMPLE


def coverage(shape: str, cx: np.ndarray, cy: np.ndarray, side: float = SIDE) -> np.ndarray:
    """(frames, SIZE, SIZE) float coverage in [0, 1] of a shape centred at (cx[t], cy[t])
    (``SUPERSAMPLE`` x ``SUPERSAMPLE`` samples per pixel)."""
    x = _SUB[None, None, :] - np.asarray(cx, dtype=np.float64)[:, None, None]
    y = _SUB[None, :, None] - np.asarray(cy, dtype=np.float64)[:, None, None]
    r = side / 2
    if shape == "circle":
        inside = x * x + y * y <= r * r
    elif shape == "square":
        inside = (np.abs(x) <= r) & (np.abs(y) <= r)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    n = inside.shape[0]
    s = SUPERSAMPLE
    return inside.reshape(n, SIZE, s, SIZE, s).mean(axis=(2, 4))


def render_clip(clip: Clip) -> np.ndarray:
    """The clip as (frames, SIZE, SIZE, 3) uint8."""
    n = len(clip.tracks[0])
    out = np.empty((n, SIZE, SIZE, 3), dtype=np.float64)
    out[:] = BACKGROUNDS[clip.background]
    for m, tr in zip(clip.movers, clip.tracks):
        tr = np.asarray(tr)
        a = coverage(m.shape, tr[:, 0], tr[:, 1])[..., None]
        out = out * (1 - a) + np.asarray(COLORS[m.color], dtype=np.float64) * a
    return np.round(out).clip(0, 255).astype(np.uint8)


def sample_batch(rng: np.random.Generator, n: int, p_pair: float = P_PAIR
                 ) -> tuple[np.ndarray, list[str]]:
    """``n`` training clips: (n, FRAMES, SIZE, SIZE, 3) uint8 and their captions."""
    clips = [sample_clip(rng, p_pair) for _ in range(n)]
    return np.stack([render_clip(c) for c in clips]), [c.caption for c in clips]
