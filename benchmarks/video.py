"""Video benchmarks (issue 19): bytes of video generation syntax files, and (sections added
by the render and payload work) what the same clips cost as pixels.

    python benchmarks/video.py syntax        # bytes per video syntax file, field by field
    python benchmarks/video.py ratio         # a rendered clip: syntax vs MP4 vs FFV1 payload
    python benchmarks/video.py tiny          # aigif-tiny-video: motion/colour following,
                                             # render time, determinism (--pairs N, --runs N,
                                             # --model aigif-tiny-video-2, --model-dir DIR)
    python benchmarks/video.py               # every section

Each section is a function that prints a Markdown table; add one with ``@section``.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from fractions import Fraction
from typing import Callable

import aigif
from aigif import GenerationMeta, Payload, Video
from aigif.textcoding import encode_text

SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {}


def section(fn: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], None]:
    SECTIONS[fn.__name__] = fn
    return fn


WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
#: a typical text-to-video prompt (157 characters)
PROMPT = ("A cat walks on the grass, realistic style, golden hour light, shallow depth of "
          "field, slow camera pan following the cat, detailed fur, cinematic lighting, 4k")
REV = "0" * 40   # stands for a pinned hub commit (40 hex digits)
#: a 1x1 gray PNG (the conditioning image of the image-to-video row)
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
    "0000000a4944415478da6368000000820081da45083b0000000049454e44ae426082")


def _cases() -> list[tuple[str, GenerationMeta]]:
    wan = dict(model=WAN, generator="wan", prompt=PROMPT, seed=1234567890)
    return [
        ("Wan 2.1 1.3B t2v, 81 f @ 16 fps, 832x480 (all family defaults)", GenerationMeta(**wan)),
        ("  same, hub revision pinned", GenerationMeta(**wan, model_revision=REV)),
        ("  same, by model code wan21-t2v-1.3b (37, pinned)", GenerationMeta(
            model="wan21-t2v-1.3b", prompt=PROMPT, seed=1234567890)),
        ("  same, 49 f @ 24000/1001 fps, 1280x720, flow_shift 5", GenerationMeta(
            **wan, width=1280, height=720,
            video=Video(frames=49, fps=Fraction(24000, 1001), flow_shift=5.0))),
        ("  same as an image file (generator sd, no video)", GenerationMeta(
            model=WAN, generator="sd", prompt=PROMPT, seed=1234567890, steps=50,
            guidance_scale=5.0, scheduler="unipc", width=832, height=480)),
        ("AnimateDiff, SD1.5 ckpt + adapter v1-5-3, 25 steps ddim", GenerationMeta(
            model="emilianJR/epiCRealism", generator="animatediff", prompt=PROMPT,
            seed=1234567890, steps=25, scheduler="ddim",
            video=Video(motion_adapter="guoyww/animatediff-motion-adapter-v1-5-3"))),
        ("LTX-Video i2v, 97 f @ 24 fps, 67-byte PNG image", GenerationMeta(
            model="Lightricks/LTX-Video", generator="ltx_video", prompt=PROMPT,
            seed=1234567890, video=Video(frames=97, fps=24, image=Payload("png", TINY_PNG)))),
        ("SVD-XT i2v, all family defaults, 67-byte PNG image", GenerationMeta(
            model="stabilityai/stable-video-diffusion-img2vid-xt",
            generator="stable_video_diffusion", seed=1234567890,
            video=Video(image=Payload("png", TINY_PNG)))),
    ]


def _call_json(m: GenerationMeta) -> bytes:
    """The same parameters as the JSON a tool would keep beside the clip (the pipeline call
    and the model), compact."""
    d = {"model": m.model, "pipeline": m.generator, "prompt": m.prompt, "seed": m.seed,
         "num_inference_steps": m.steps, "guidance_scale": m.guidance_scale,
         "scheduler": m.scheduler, "width": m.width, "height": m.height,
         "num_frames": m.video.frames if m.video else 1,
         "fps": str(m.video.fps) if m.video else None}
    return json.dumps(d, separators=(",", ":")).encode()


@section
def syntax(args: argparse.Namespace) -> None:
    """Bytes of video syntax files (no pixels): whole file, and the typical file field by
    field."""
    print("## Video syntax files (bytes)\n")
    print("| file | bytes | JSON of the call | ratio |")
    print("|---|---:|---:|---:|")
    for name, m in _cases():
        n = len(aigif.dumps(m))
        j = len(_call_json(m))
        print(f"| {name} | {n} | {j} | {j / n:.1f}x |")
    m = _cases()[0][1]
    data = aigif.dumps(m)
    text = len(encode_text(m.prompt, m.negative_prompt))
    model = 1 + 1 + 1 + len(WAN) + 1        # kind, generator, hub id length + id, revision ""
    rows = [("signature + version", 3), ("presence (VIDEO makes it 2 bytes)", 2),
            ("model: HUB, generator 11 (wan), hub id, revision", model), ("seed", 4),
            (f"text block (prompt {len(m.prompt)} chars, cm1)", text),
            ("video element (every field a default)", 0), ("check", 2)]
    assert sum(b for _, b in rows) == len(data), (rows, len(data))
    print(f"\n## The typical file, field by field ({len(data)} bytes)\n")
    print("| field | bytes |")
    print("|---|---:|")
    for name, b in rows:
        print(f"| {name} | {b} |")
    print(f"| **total** | **{len(data)}** |")


#: prompts of the ratio section (the embedded model's procedural scenes)
RATIO_PROMPTS = ("a red circle moving from left to right on a white background",
                 "a blue square bouncing up and down on a black background",
                 "a green circle moving left and a yellow square moving right on a gray "
                 "background")


def _render_clips():
    """``[(label, meta, VideoFrames)]``: the embedded aigif-tiny-video model (32x32, 8
    frames at 8 fps) when it renders here, else the tiny Wan test pipeline (16x16, 5
    frames; tests/_tiny_video_pipelines.py, seeded random weights)."""
    import os
    import tempfile
    import warnings
    warnings.simplefilter("ignore")
    try:
        out = []
        for i, p in enumerate(RATIO_PROMPTS):
            m = GenerationMeta(model="aigif-tiny-video", prompt=p, seed=100 + i)
            out.append(("aigif-tiny-video", m, aigif.render_meta(m, device="cpu").video))
        return out
    except aigif.AigifError as e:
        print(f"(aigif-tiny-video does not render here: {e}; using the tiny Wan test "
              f"pipeline)\n")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    import _tiny_video_pipelines as tv
    from aigif.render import register_model
    register_model("tiny-wan", tv.build("wan", tempfile.mkdtemp())["model"], generator="wan")
    m = GenerationMeta(model="tiny-wan", generator="wan", prompt=RATIO_PROMPTS[0], seed=1,
                       steps=2, width=16, height=16, params={"max_sequence_length": 8},
                       video=Video(frames=5, flow_shift=5.0))
    return [("tiny Wan (test pipeline)", m, aigif.render_meta(m, device="cpu").video)]


@section
def ratio(args: argparse.Namespace) -> None:
    """Bytes of a rendered clip's syntax-only file vs the MP4 of the same frames (H.264 crf
    23, aigif.codecs.video.writers, what ``aigif render`` writes) and vs the frames as
    an exact FFV1 payload (the pixels-only .aigif file), and the ratios."""
    from aigif.codecs.video.writers import encode_video_file
    rows = []
    for label, m, v in _render_clips():
        syntax_b = len(aigif.dumps(m))
        mp4 = len(encode_video_file(v.frames, v.fps, ".mp4", crf=23))
        ffv1_file = aigif.save(None, io.BytesIO(), video=v, fallback="ffv1")
        av1_file = aigif.save(None, io.BytesIO(), video=v, fallback="av1")
        w, h = v.size
        rows.append((label, f"{len(v)}x{w}x{h} @ {v.fps}", syntax_b, mp4, ffv1_file, av1_file))
    print("## Syntax file vs the same frames as video (bytes)\n")
    print("| model | frames x W x H @ fps | syntax .aigif | MP4 (H.264 crf 23) | "
          "pixels-only .aigif, FFV1 (exact) | pixels-only .aigif, AV1 (crf 35) | "
          "MP4 / syntax | FFV1 / syntax |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, shape, sb, mp4, ffv1, av1 in rows:
        print(f"| {label} | {shape} | {sb} | {mp4} | {ffv1} | {av1} | {mp4 / sb:.0f}x | "
              f"{ffv1 / sb:.0f}x |")


@section
def tiny(args: argparse.Namespace) -> None:
    """aigif-tiny-video (docs/model-card-aigif-tiny-video.md): prompt following on every
    held-out one-object prompt and ``--pairs`` held-out two-object prompts (seed = prompt
    index, frozen defaults, each clip rendered from its GenerationMeta as a file renders),
    checked from the objects' trajectories (training/embedded/video_checker.py); render time
    with a warm pipeline; determinism."""
    import os
    import statistics
    import time

    import numpy as np
    import torch

    from aigif.render import render_meta
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from training.embedded import video_checker, video_dataset

    key = args.model
    if args.model_dir:          # a trained directory not packaged (yet): register it
        aigif.register_model(key, args.model_dir, generator="aigif_tiny_video")
    prompt = RATIO_PROMPTS[0]
    meta = GenerationMeta(model=key, prompt=prompt, seed=1)
    t = time.perf_counter()
    first = render_meta(meta, device="cpu")
    cold = time.perf_counter() - t
    times = []
    for i in range(args.runs):
        t = time.perf_counter()
        render_meta(meta.replace(seed=100 + i), device="cpu")
        times.append(time.perf_counter() - t)
    again = render_meta(meta, device="cpu").video.frames
    same = bool(np.array_equal(first.video.frames, again))
    from aigif.embedded.video_pipeline import load
    from aigif.render.video import to_uint8
    pipe = load(args.model_dir) if args.model_dir else load(key=key)
    pipe.set_progress_bar_config(disable=True)
    bare = pipe(prompt, generator=torch.Generator("cpu").manual_seed(1),
                output_type="np").frames[0]
    bare_same = bool(np.array_equal(first.video.frames, to_uint8(bare)))
    gen_frames, data = aigif.generate(meta)
    res = aigif.loads(data).render()
    # a video file carries no pixel fingerprint (res.exact is None): compare the frames
    exact = bool(np.array_equal(np.asarray(res.video.frames), np.asarray(gen_frames.frames)))

    singles, pairs = video_dataset.heldout_clips()
    rng = np.random.default_rng(0)
    pairs = [pairs[i] for i in sorted(rng.permutation(len(pairs))[:args.pairs])]
    singles = singles[:args.singles]
    tally: dict[str, dict[str, list[bool]]] = {}
    for i, clip in enumerate(singles + pairs):
        frames = render_meta(GenerationMeta(model=key, prompt=clip.caption, seed=i),
                             device="cpu").video.frames
        r = video_checker.check(frames, clip.caption)
        if len(clip.movers) == 1:
            m = clip.movers[0]
            groups = ["one object", "bouncing" if m.bouncing else f"moving {m.motion}"]
            if not m.bouncing:
                groups.append(f"speed '{m.speed or 'normal'}'")
        else:
            groups = ["two objects"]
        for g in groups:
            for k, v in r.items():
                tally.setdefault(g, {}).setdefault(k, []).append(v)

    print(f"## {key} (32x32, 8 frames, defaults: 20 steps dpmpp_2m, guidance 3)\n")
    print(f"Held-out prompts: {len(singles)} one-object (of 101: every held-out combination), "
          f"{len(pairs)} two-object; seed = prompt index; torch "
          f"{torch.__version__}, {torch.get_num_threads()} thread(s).\n")
    cols = ["color", "direction", "speed", "present", "background", "colors", "directions"]
    print("| prompts | n | " + " | ".join(cols) + " |")
    print("|---|---:|" + "---:|" * len(cols))
    order = ["one object"] + [f"moving {d}" for d in video_dataset.DIRECTIONS] + [
        "bouncing"] + [f"speed '{s or 'normal'}'" for s in video_dataset.SPEEDS] + ["two objects"]
    for g in sorted(tally, key=order.index):
        res = tally[g]
        n = len(next(iter(res.values())))
        cells = [f"{100 * np.mean(res[c]):.1f} %" if c in res else "" for c in cols]
        print(f"| {g} | {n} | " + " | ".join(cells) + " |")
    print("\n| measure | result |")
    print("|---|---|")
    print(f"| render time, one clip, warm pipeline (median of {args.runs}) | "
          f"{statistics.median(times):.2f} s (min {min(times):.2f} s) |")
    print(f"| first render in a fresh process (imports, pipeline load, render) | {cold:.2f} s |")
    print(f"| two renders identical | {'yes' if same else 'NO'} |")
    print(f"| render = bare pipeline call | {'yes' if bare_same else 'NO'} |")
    print(f"| aigif.generate -> file bytes; the file renders the same frames | {len(data)}; "
          f"{'yes' if exact else 'NO'} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sections", nargs="*", choices=[[], *SECTIONS], default=[],
                    help="sections to run (default: all)")
    ap.add_argument("--pairs", type=int, default=48,
                    help="tiny: held-out two-object prompts to check (of 576)")
    ap.add_argument("--singles", type=int, default=None,
                    help="tiny: held-out one-object prompts to check (default: all 101)")
    ap.add_argument("--runs", type=int, default=5, help="tiny: timed renders")
    ap.add_argument("--model", default="aigif-tiny-video",
                    help="tiny: the model key (aigif-tiny-video, aigif-tiny-video-2)")
    ap.add_argument("--model-dir", default=None,
                    help="tiny: a trained model directory (python -m "
                         "training.embedded.train_video), registered under --model")
    args = ap.parse_args(argv)
    for name in args.sections or SECTIONS:
        SECTIONS[name](args)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
