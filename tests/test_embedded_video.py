"""aigif-tiny-video (generator 14, model 32): the procedural motion dataset and its trajectory
checker, the packaged weights, and a video file that renders through ``aigif.open(p).render()``
to exactly the frames of the bare pipeline call, twice the same.

Fast: the renders use 4 steps (the frozen default is 20; benchmarks/video.py tiny measures
prompt following and render time at the defaults)."""
from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import aigif
from aigif.embedded import VIDEO_MODEL_KEY, VIDEO_PACKAGED, model_path
from aigif.spec.models import GENERATORS, MODELS
from training.embedded import video_checker, video_dataset

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a red circle moving from left to right on a white background"


# ------------------------------------------------------------------ dataset and checker
def test_split_is_disjoint_and_training_never_draws_a_heldout_combination():
    for split in (video_dataset.split_singles, video_dataset.split_pairs):
        train, held = split()
        assert held and not set(train) & set(held)
    held_captions = {c.caption for c in sum(video_dataset.heldout_clips(), [])}
    rng = np.random.default_rng(5)
    drawn = {video_dataset.sample_clip(rng).caption for _ in range(400)}
    assert not drawn & held_captions


def test_checker_is_right_on_the_datasets_own_clips():
    singles, pairs = video_dataset.heldout_clips(seed=1)
    for clip in singles[::3] + pairs[::20]:
        frames = video_dataset.render_clip(clip)
        assert frames.shape == (video_dataset.FRAMES, 32, 32, 3) and frames.dtype == np.uint8
        result = video_checker.check(frames, clip.caption)
        assert all(result.values()), (clip.caption, result)


def test_checker_sees_wrong_motion_and_colour():
    rng = np.random.default_rng(0)
    clip = video_dataset.clip_from_single(("red", "circle", "right", "", "white"), rng)
    frames = video_dataset.render_clip(clip)
    assert video_checker.check(frames, PROMPT)["direction"]
    back = video_checker.check(frames[::-1], PROMPT)          # played backwards: leftwards
    assert not back["direction"] and back["color"]
    blue = video_checker.check(frames, PROMPT.replace("red", "blue"))
    assert not blue["color"] and blue["direction"]
    still = video_checker.check(np.repeat(frames[:1], len(frames), 0), PROMPT)
    assert not still["direction"]
    slow = video_checker.check(frames, PROMPT.replace("moving", "moving slowly"))
    assert slow["direction"] and not slow["speed"]


def test_prompts_parse():
    movers, bg = video_checker.parse(
        "a blue square moving right and a green circle moving left on a gray background")
    assert [m["motion"] for m in movers] == ["right", "left"] and bg == "gray"
    movers, _ = video_checker.parse("a yellow circle bouncing up and down")
    assert movers[0]["motion"] == "vertical"


# ------------------------------------------------------------------ syntax
def test_frozen_codes_and_video_defaults():
    g = next(g for g in GENERATORS if g.key == "aigif_tiny_video")
    m = next(m for m in MODELS if m.key == VIDEO_MODEL_KEY)
    assert (g.code, m.code, m.generator, m.hub_id) == (14, 32, "aigif_tiny_video", None)
    assert m.defaults.video.frames == 8 and m.defaults.video.fps == Fraction(8)
    meta = aigif.GenerationMeta(model=VIDEO_MODEL_KEY, prompt=PROMPT, seed=1)
    assert meta.generator == "aigif_tiny_video" and meta.video.frames == 8
    assert (meta.steps, meta.guidance_scale, meta.scheduler) == (20, 3.0, "dpmpp_2m")


def test_package_data_covers_the_weights():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["aigif.embedded"]
    root = Path(str(model_path(VIDEO_MODEL_KEY)))
    files = [p.relative_to(root.parent).as_posix() for p in root.rglob("*") if p.is_file()]
    assert files and all(any(fnmatch.fnmatch(f, g) for g in globs) for f in files), files
    assert sum((root.parent / f).stat().st_size for f in files) < 4 * 2**20
    assert not [f for f in files if re.search(r"\.(bin|pt|ckpt|pkl)$", f)]
    idx = json.loads((root / "model_index.json").read_text())
    assert idx["_class_name"] == "AigifTinyVideoPipeline"
    assert VIDEO_MODEL_KEY in VIDEO_PACKAGED


# ------------------------------------------------------------------ rendering
def _meta(**kw):
    kw.setdefault("steps", 4)
    kw.setdefault("seed", 7)
    return aigif.GenerationMeta(model=VIDEO_MODEL_KEY, prompt=PROMPT, **kw)


def test_video_file_renders_the_bare_pipeline_call_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from aigif.embedded.video_pipeline import load
    from aigif.render import VideoFrames
    from aigif.render.video import to_uint8

    p = tmp_path / "clip.aigif"
    aigif.save(None, p, meta=_meta())
    assert p.stat().st_size < 160
    a = aigif.open(p).render().video
    b = aigif.open(p).render().video
    assert isinstance(a, VideoFrames) and a.fps == Fraction(8)
    fa = np.asarray(a.frames)
    assert fa.shape == (8, 32, 32, 3) and fa.dtype == np.uint8
    assert np.array_equal(fa, np.asarray(b.frames))               # two renders identical
    pipe = load()
    pipe.set_progress_bar_config(disable=True)
    bare = pipe(PROMPT, num_inference_steps=4, guidance_scale=3.0,
                generator=torch.Generator("cpu").manual_seed(7), output_type="np").frames[0]
    assert np.array_equal(fa, to_uint8(bare))                      # = the bare call
    q = tmp_path / "seed8.aigif"
    aigif.save(None, q, meta=_meta(seed=8))
    assert not np.array_equal(fa, np.asarray(aigif.open(q).render().video.frames))
