"""Object maps from cross-attention (``aigif.render.object_map``) on the packaged
aigif-tiny-2 (32 x 32 procedural shapes; the only generator with trained weights that runs
offline here).

For seeded single-object prompts ("a small red circle in the top left corner on a white
background") and two-object prompts ("a large red circle above a small blue square on a
gray background"), rendered with and without recording:

- identical: the image with recording equals the image without, bit for bit;
- own > rest: an object's mean normalized heat on its own pixels (pixels of its colour)
  exceeds its mean heat on all other pixels;
- own > other (two objects): on its own pixels, an object's heat exceeds the other
  object's heat there (which object is which);
- IoU: the pixels where the object wins (argmax over the prompt's objects, heat above
  the threshold) against its true pixels; "area" is the IoU of predicting every pixel
  (the object's share of the image), a floor;
- overhead: render time with recording / without.

    python benchmarks/gitssic_objects.py                 # 24 + 12 prompts
    python benchmarks/gitssic_objects.py --single 6 --pairs 4
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aigif.meta import GenerationMeta  # noqa: E402
from aigif.render import PipelineCache, render_meta  # noqa: E402
from aigif.render.objects import DEFAULT_THRESHOLD, object_map  # noqa: E402
from training.embedded.dataset import (BACKGROUNDS, COLORS, SHAPES,  # noqa: E402
                                       POSITION_PHRASES, single_caption)


def colour_mask(rgb: np.ndarray, colour: str) -> np.ndarray:
    """Pixels nearer to ``colour`` than to every other palette and background colour."""
    pal = {**{k: v for k, v in COLORS.items()}, **{f"bg-{k}": v for k, v in BACKGROUNDS.items()}}
    names = list(pal)
    d = ((rgb[:, :, None, :].astype(float) - np.array([pal[n] for n in names])) ** 2).sum(-1)
    return d.argmin(-1) == names.index(colour)


def prompts(n_single: int, n_pairs: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    cols, bgs = list(COLORS), list(BACKGROUNDS)
    out = []
    for i in range(n_single):
        c, s = cols[rng.integers(len(cols))], SHAPES[rng.integers(len(SHAPES))]
        size = ("small", "large")[rng.integers(2)]
        pos = list(POSITION_PHRASES)[rng.integers(len(POSITION_PHRASES))]
        out.append((single_caption(c, s, size, pos, bgs[rng.integers(len(bgs))]), [c]))
    rel = [("above", "below"), ("to the left of", "to the right of")]
    for i in range(n_pairs):
        a, b = rng.choice(len(cols), 2, replace=False)
        s1, s2 = (SHAPES[j] for j in rng.integers(len(SHAPES), size=2))
        r = rel[i % 2][rng.integers(2)]
        out.append((f"a large {cols[a]} {s1} {r} a large {cols[b]} {s2} on a "
                    f"{bgs[rng.integers(len(bgs))]} background", [cols[a], cols[b]]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--single", type=int, default=24)
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    args = ap.parse_args()
    cache = PipelineCache(maxsize=1)
    render_meta(GenerationMeta(model="aigif-tiny-2", prompt="a red circle", seed=0),
                cache=cache)                                   # load once, not timed
    rows = {"single": [], "pair": []}
    t_plain = t_rec = 0.0
    for i, (prompt, colours) in enumerate(prompts(args.single, args.pairs)):
        meta = GenerationMeta(model="aigif-tiny-2", prompt=prompt, seed=100 + i)
        t0 = time.perf_counter()
        plain = np.asarray(render_meta(meta, cache=cache).image)
        t1 = time.perf_counter()
        om = object_map(meta, threshold=args.threshold, cache=cache)
        t2 = time.perf_counter()
        t_plain, t_rec = t_plain + t1 - t0, t_rec + t2 - t1
        same = np.array_equal(np.asarray(om.image), plain)
        # the objects the prompt names are the shapes (in order), then "<bg> background"
        heat = om.heat
        win = np.where(heat.max(0) > args.threshold, heat.argmax(0), -1)
        for j, c in enumerate(colours):
            own = colour_mask(plain, c)
            if own.sum() < 4 or j >= len(om.names):
                continue
            h = heat[j]
            r = dict(same=same, own_rest=h[own].mean() > h[~own].mean(),
                     iou=(((win == j) & own).sum() / max(1, ((win == j) | own).sum())),
                     area=own.mean())
            if len(colours) == 2 and len(om.names) > 1:
                r["own_other"] = h[own].mean() > heat[1 - j][own].mean()
            rows["single" if len(colours) == 1 else "pair"].append(r)
    print(f"aigif-tiny-2, threshold {args.threshold}, default steps; "
          f"{args.single} single-object + {args.pairs} two-object prompts")
    print("| prompts | objects | identical | own > rest | own > other | IoU | area IoU |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for k, rs in rows.items():
        if not rs:
            continue
        oo = [r["own_other"] for r in rs if "own_other" in r]
        print(f"| {k} | {len(rs)} | {sum(r['same'] for r in rs)}/{len(rs)} | "
              f"{sum(r['own_rest'] for r in rs)}/{len(rs)} | "
              f"{f'{sum(oo)}/{len(oo)}' if oo else '—'} | "
              f"{np.mean([r['iou'] for r in rs]):.2f} | {np.mean([r['area'] for r in rs]):.2f} |")
    print(f"render {t_plain:.1f} s, with recording {t_rec:.1f} s "
          f"(x{t_rec / max(t_plain, 1e-9):.2f})")


if __name__ == "__main__":
    main()
