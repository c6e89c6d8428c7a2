"""Trajectory checker for aigif-tiny-video clips: finds each object per frame by its colour
and says how it moved, then compares that with what the prompt asked for.

It knows nothing about the model. Steps, per clip of (T, H, W, 3) uint8 frames:

1. background = median colour of the 1-pixel border of all frames, snapped to the nearest
   named background;
2. foreground = pixels farther than ``FG_THRESHOLD`` (RGB distance) from that colour; each
   foreground pixel is labelled with its nearest palette colour;
3. one object asked: its colour = the most frequent label over all frames; its track = the
   centroid of that colour's pixels in each frame (a frame with fewer than ``MIN_AREA``
   such pixels has no position);
   two objects asked: the track of each asked colour, the same way;
4. motion from a track: ``net`` = last position - first; the axis with the larger
   displacement; a *bounce* when the track goes out by more than ``BOUNCE_MIN`` pixels along
   that axis and comes back to within half of that; else the direction of ``net`` (at least
   ``MOVE_MIN`` pixels); speed = |net| / (T - 1), snapped to the nearest asked speed.

On the dataset's own clips it is right every time (``tests/test_embedded_video.py``), so its
errors on generated clips are the model's.

Example::

    >>> check(frames, "a red circle moving from left to right on a white background")
    {'present': True, 'color': True, 'direction': True, 'speed': True, 'background': True}
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .dataset import BACKGROUNDS, COLORS
from .video_dataset import BOUNCES, DIRECTIONS, SPEEDS

FG_THRESHOLD = 60.0
MIN_AREA = 4
MOVE_MIN = 3.0
BOUNCE_MIN = 6.0


@dataclass(frozen=True)
class Track:
    color: str | None
    centres: np.ndarray         # (T, 2) x, y; NaN where the colour is absent
    present: float              # share of frames where it is found

    @property
    def motion(self) -> str | None:
        """"right" "left" "down" "up", "horizontal" / "vertical" (bouncing), or None."""
        c = self.centres
        ok = ~np.isnan(c[:, 0])
        if ok.sum() < 2:
            return None
        c = c[ok]
        span = c.max(axis=0) - c.min(axis=0)
        axis = int(np.argmax(span))
        p = c[:, axis]
        excursion = np.max(np.abs(p - p[0]))
        net = p[-1] - p[0]
        if excursion > BOUNCE_MIN and abs(net) < excursion / 2:
            return "horizontal" if axis == 0 else "vertical"
        if abs(net) < MOVE_MIN:
            return None
        if axis == 0:
            return "right" if net > 0 else "left"
        return "down" if net > 0 else "up"

    @property
    def speed(self) -> float | None:
        """Pixels per frame along the motion's axis (first to last frame where found)."""
        c = self.centres
        idx = np.flatnonzero(~np.isnan(c[:, 0]))
        if len(idx) < 2:
            return None
        d = np.abs(c[idx[-1]] - c[idx[0]])
        return float(d.max() / (idx[-1] - idx[0]))


def _nearest(rgb: np.ndarray, table: dict[str, tuple[int, int, int]]) -> np.ndarray:
    """Index of the nearest table colour of each of (N, 3) colours."""
    ref = np.asarray(list(table.values()), dtype=np.float64)
    d = ((rgb[:, None, :] - ref[None]) ** 2).sum(-1)
    return np.argmin(d, axis=1)


def background_of(frames: np.ndarray) -> str:
    border = np.concatenate([frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1]],
                            axis=1).reshape(-1, 3).astype(np.float64)
    names = list(BACKGROUNDS)
    return names[int(_nearest(np.median(border, axis=0)[None], BACKGROUNDS)[0])]


def labels(frames: np.ndarray, background: str) -> np.ndarray:
    """(T, H, W) int: palette index of each foreground pixel, -1 for background."""
    f = frames.astype(np.float64)
    bg = np.asarray(BACKGROUNDS[background], dtype=np.float64)
    fg = np.sqrt(((f - bg) ** 2).sum(-1)) > FG_THRESHOLD
    lab = _nearest(f.reshape(-1, 3), COLORS).reshape(fg.shape)
    return np.where(fg, lab, -1)


def track_of(lab: np.ndarray, color: str) -> Track:
    k = list(COLORS).index(color)
    n, h, w = lab.shape
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    centres = np.full((n, 2), np.nan)
    for t in range(n):
        m = lab[t] == k
        if m.sum() >= MIN_AREA:
            centres[t] = xs[m].mean(), ys[m].mean()
    return Track(color, centres, float(np.mean(~np.isnan(centres[:, 0]))))


def dominant_color(lab: np.ndarray) -> str | None:
    counts = np.bincount(lab[lab >= 0].ravel(), minlength=len(COLORS))
    return list(COLORS)[int(np.argmax(counts))] if counts.sum() else None


# ---------------------------------------------------------------- parsing prompts
_COLOR = "|".join(COLORS)
_MOVER = re.compile(
    rf"an? (?P<color>{_COLOR}) (?P<shape>\w+) (?:(?P<bounce>bouncing (?:left and right|up and "
    rf"down))|moving(?: (?P<speed>slowly|quickly))? (?P<dir>from \w+ to \w+|right|left|up|down))")


def parse(prompt: str) -> tuple[list[dict], str | None]:
    """([{"color", "shape", "motion", "speed"}, ...], background or None) of a prompt in the
    dataset's language."""
    movers = []
    for m in _MOVER.finditer(prompt):
        if m["bounce"]:
            motion = next(k for k, v in BOUNCES.items() if v == m["bounce"])
            speed = None
        else:
            d = m["dir"]
            motion = d if d in DIRECTIONS else next(k for k, v in DIRECTIONS.items()
                                                    if v[1] == d)
            speed = m["speed"] or ""
        movers.append(dict(color=m["color"], shape=m["shape"], motion=motion, speed=speed))
    bg = re.search(r"on an? (\w+) background", prompt)
    return movers, bg[1] if bg else None


def _speed_name(v: float | None) -> str | None:
    if v is None:
        return None
    return min(SPEEDS, key=lambda k: abs(SPEEDS[k] - v))


def check(frames: np.ndarray, prompt: str) -> dict[str, bool]:
    """What the clip got right of what ``prompt`` asks. One object: ``present`` (found in
    every frame), ``color``, ``direction`` (the motion: direction or bounce axis), ``speed``
    (moving only), ``background``. Two objects: ``colors`` (both found in every frame),
    ``directions`` (both moved as asked), ``background``."""
    asked, bg = parse(prompt)
    if not asked:
        raise ValueError(f"not a prompt of the motion dataset: {prompt!r}")
    seen_bg = background_of(frames)
    lab = labels(frames, seen_bg)
    out: dict[str, bool] = {}
    if len(asked) == 1:
        a = asked[0]
        col = dominant_color(lab)
        tr = track_of(lab, col) if col is not None else None
        out["present"] = tr is not None and tr.present == 1.0
        out["color"] = col == a["color"]
        out["direction"] = tr is not None and tr.motion == a["motion"]
        if a["speed"] is not None:
            out["speed"] = out["direction"] and _speed_name(tr.speed) == a["speed"]
    else:
        trs = [track_of(lab, a["color"]) for a in asked]
        out["colors"] = all(t.present == 1.0 for t in trs)
        out["directions"] = all(t.motion == a["motion"] for t, a in zip(trs, asked))
    if bg is not None:
        out["background"] = seen_bg == bg
    return out
