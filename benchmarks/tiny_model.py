"""Benchmark aigif-tiny: render time, prompt following on held-out prompts, determinism.

    python benchmarks/tiny_model.py                 # everything, writes docs/<model>-samples.png
    python benchmarks/tiny_model.py --quick         # 48 prompts, 5 timing runs
    python benchmarks/tiny_model.py --guidance 1 1.5 2 3 --quick   # following per guidance
    python benchmarks/tiny_model.py --model DIR     # a retrained model directory

Prompt following: every held-out single-object prompt of the dataset (259; none was seen
in training) is rendered the way a user renders it (default steps, guidance, scheduler and
size; seed = prompt index) and read back by ``training.embedded.checker``. Render time is the
median wall time of ``aigif.render.render_meta`` at the default size with a warm pipeline.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aigif  # noqa: E402
from aigif.embedded import MODEL_KEY  # noqa: E402
from training.embedded import checker, dataset  # noqa: E402

MODEL = MODEL_KEY


def _meta(prompt: str, seed: int, **kw) -> aigif.GenerationMeta:
    return aigif.GenerationMeta(model=MODEL, prompt=prompt, seed=seed, **kw)


def timing(runs: int) -> dict:
    from aigif.render import render_meta
    import torch
    meta = _meta("a small red circle in the center on a white background", 1)
    cold = render_meta(meta).timings          # loads the pipeline
    times = []
    for i in range(runs):
        t = time.perf_counter()
        render_meta(meta.replace(seed=i))
        times.append(time.perf_counter() - t)
    return {"load_s": cold.get("load", 0.0), "median_s": statistics.median(times),
            "min_s": min(times), "runs": runs, "threads": torch.get_num_threads()}


def following(n: int | None, **kw) -> tuple[dict, list]:
    from aigif.render import render_meta
    scenes = dataset.heldout_scenes()[:n]
    ok = {"color": 0, "shape": 0, "position": 0, "background": 0, "all": 0}
    by_size = {s: [0, 0] for s in dataset.SIZES}
    samples = []
    for i, sc in enumerate(scenes):
        img = render_meta(_meta(sc.caption, i, **kw)).image
        r = checker.check(img, sc.caption)
        for k, v in r.items():
            ok[k] += int(v)
        ok["all"] += int(r["color"] and r["shape"] and r["position"])
        size = sc.objects[0].size
        by_size[size][0] += int(all(r.values()))
        by_size[size][1] += 1
        samples.append((sc.caption, img))
    acc = {k: v / len(scenes) for k, v in ok.items()}
    acc["n"] = len(scenes)
    acc["all4_by_size"] = {s: a / max(1, b) for s, (a, b) in by_size.items()}
    return acc, samples


def relations(n: int, **kw) -> dict:
    """Two-object prompts ("a small red circle above a large blue square on a white
    background"), drawn from a seeded generator as training draws them (the relation
    combinations are not split off, so some of these captions were seen in training)."""
    import numpy as np
    from aigif.render import render_meta
    rng = np.random.default_rng(99)
    both = rel = 0
    for i in range(n):
        sc = dataset.relation_scene(rng)
        r = checker.check_relation(render_meta(_meta(sc.caption, i, **kw)).image, sc.caption)
        both += r["both"]
        rel += r["relation"]
    return {"n": n, "both": both / n, "relation": rel / n}


def position_probe(model: str) -> dict[str, tuple[float, float]]:
    """Where the model's x0 prediction at the first denoising step (t = 999) puts its mass,
    for four position words (same noise): equal centres mean the UNet ignores position
    words and the noise alone places the object (docs/model-card-aigif-tiny.md)."""
    import torch
    from aigif.embedded.pipeline import from_dir, load, unet_input
    pipe = from_dir(model, dtype=torch.float32) if Path(model).is_dir() else load(key=model)
    a = pipe.scheduler.alphas_cumprod[999]
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = {}
    for pos in ("top left", "top right", "bottom left", "bottom right"):
        cond = pipe.encode_prompt([dataset.single_caption("red", "square", "small", pos,
                                                          "white")] * 8)
        with torch.no_grad():
            v = pipe.unet(unet_input(pipe.unet, x), torch.tensor(999),
                          encoder_hidden_states=cond).sample
        mass = (1 - (a.sqrt() * x - (1 - a).sqrt() * v).mean(0)).clamp(min=0).sum(0)
        out[pos] = (float((mass * xs).sum() / mass.sum()), float((mass * ys).sum() / mass.sum()))
    return out


def determinism() -> dict:
    from aigif.render import render_meta
    meta = _meta("a large blue triangle at the bottom on a gray background", 42)
    a, b = render_meta(meta).image, render_meta(meta).image
    image, data = aigif.generate(meta)
    res = aigif.loads(data).render()
    return {"two_renders_identical": a.tobytes() == b.tobytes(),
            "generate_then_render_exact": res.exact, "aigif_bytes": len(data)}


def grid(path: Path) -> None:
    """6 colours x 4 shapes, positions and backgrounds varied; labels on the edges."""
    from PIL import Image, ImageDraw
    from aigif.render import render_meta
    cell, pad, left, top = 96, 6, 64, 22
    colors, shapes = list(dataset.COLORS), list(dataset.SHAPES)
    positions = list(dataset.POSITIONS)
    bgs = list(dataset.BACKGROUNDS)
    W = left + len(shapes) * 2 * (cell + pad)
    H = top + len(colors) * (cell + pad)
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    k = 0
    for j, shape in enumerate(shapes):
        for s, size in enumerate(dataset.SIZES):
            d.text((left + (2 * j + s) * (cell + pad) + 4, 4), f"{size} {shape}", fill=(0, 0, 0))
    for i, color in enumerate(colors):
        d.text((4, top + i * (cell + pad) + cell // 2), color, fill=(0, 0, 0))
        for j, shape in enumerate(shapes):
            for s, size in enumerate(dataset.SIZES):
                pos, bg = positions[k % 9], bgs[k % 3]
                k += 1
                prompt = dataset.single_caption(color, shape, size, pos, bg)
                img = render_meta(_meta(prompt, k)).image.resize((cell, cell), Image.NEAREST)
                canvas.paste(img, (left + (2 * j + s) * (cell + pad), top + i * (cell + pad)))
    canvas.save(path, optimize=True)


def main() -> None:
    global MODEL
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=MODEL,
                    help="a packaged model key, or a saved model directory (train --out)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--guidance", type=float, nargs="+", default=None,
                    help="only measure prompt following at these guidance scales")
    ap.add_argument("--grid", default=None, help="default: docs/<model>-samples.png")
    ap.add_argument("--no-grid", action="store_true")
    ap.add_argument("--probe", action="store_true",
                    help="only print where the first step puts the object per position word")
    args = ap.parse_args()
    MODEL = args.model
    if Path(args.model).is_dir():          # a retrained model: measure it as a local model
        MODEL = "benchmark-model"
        aigif.register_model(MODEL, str(Path(args.model).resolve()), override=True)
    import torch
    print(f"model {MODEL}; machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    if args.probe:
        for pos, (cx, cy) in position_probe(args.model).items():
            print(f"x0 centre of mass at t=999, '{pos}': x {cx:.1f}  y {cy:.1f}")
        return
    if args.guidance:
        for g in args.guidance:
            acc, _ = following(48 if args.quick else None, guidance_scale=g)
            print(f"guidance {g}: color {acc['color']:.1%}  shape {acc['shape']:.1%}  "
                  f"position {acc['position']:.1%}  background {acc['background']:.1%}  "
                  f"colour+shape+position {acc['all']:.1%}  (n={acc['n']})", flush=True)
        return
    t = timing(5 if args.quick else 20)
    d = _meta("x", 0).defaults
    print(f"render time at {d.width}x{d.height}, {d.steps} {d.scheduler} steps, guidance "
          f"{d.guidance_scale} (warm): median {t['median_s']:.3f} s "
          f"(min {t['min_s']:.3f} s, {t['runs']} runs, {t['threads']} threads); "
          f"pipeline load {t['load_s']:.2f} s")
    acc, _ = following(48 if args.quick else None)
    print(f"prompt following over {acc['n']} held-out prompts: color {acc['color']:.1%}  "
          f"shape {acc['shape']:.1%}  position {acc['position']:.1%}  "
          f"background {acc['background']:.1%}  colour+shape+position {acc['all']:.1%}")
    print("  all four right, by size: " +
          ", ".join(f"{k} {v:.1%}" for k, v in acc["all4_by_size"].items()))
    rel = relations(24 if args.quick else 100)
    print(f"relations over {rel['n']} two-object prompts: both colours drawn {rel['both']:.1%}  "
          f"relation right {rel['relation']:.1%}")
    det = determinism()
    print(f"determinism: two renders identical: {det['two_renders_identical']}; "
          f"generate -> .aigif ({det['aigif_bytes']} bytes) -> render exact: "
          f"{det['generate_then_render_exact']}")
    if not args.no_grid:
        path = Path(args.grid or ROOT / "docs" / f"{Path(args.model).name}-samples.png")
        grid(path)
        print(f"grid: {path}")


if __name__ == "__main__":
    main()
