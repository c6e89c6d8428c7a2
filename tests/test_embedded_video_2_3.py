"""aigif-tiny-video-2 (generator 14, model 33) and aigif-tiny-video-3 (model 42, the same
network retrained): frozen code and defaults, packaged weights, and a video file that renders through ``aigif.open(p).render()`` to exactly the frames of
the bare pipeline call, twice the same. Fast: 4 steps (the frozen default is 20;
``python benchmarks/video.py tiny --model aigif-tiny-video-3`` measures prompt following)."""
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
from aigif.embedded import VIDEO_PACKAGED, model_path
from aigif.spec.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
#: key -> (model code, package directory, the model it must differ from)
MODELS_UNDER_TEST = {"aigif-tiny-video-2": (33, "aigif_tiny_video_2", "aigif-tiny-video"),
                     "aigif-tiny-video-3": (42, "aigif_tiny_video_3", "aigif-tiny-video-2")}
PROMPT = "a blue square moving from right to left on a white background"


@pytest.fixture(params=sorted(MODELS_UNDER_TEST))
def key(request):
    return request.param


def test_frozen_code_and_defaults(key):
    m = next(m for m in MODELS if m.key == key)
    assert (m.code, m.generator, m.hub_id) == (MODELS_UNDER_TEST[key][0], "aigif_tiny_video",
                                               None)
    assert m.defaults.video.frames == 8 and m.defaults.video.fps == Fraction(8)
    meta = aigif.GenerationMeta(model=key, prompt=PROMPT, seed=1)
    assert meta.generator == "aigif_tiny_video" and meta.video.frames == 8
    assert (meta.steps, meta.guidance_scale, meta.scheduler) == (20, 3.0, "dpmpp_2m")
    assert aigif.loads(aigif.dumps(meta)).meta.model == key


def test_package_data_covers_the_weights(key):
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["aigif.embedded"]
    assert VIDEO_PACKAGED[key] == MODELS_UNDER_TEST[key][1]
    root = Path(str(model_path(key)))
    files = [p.relative_to(root.parent).as_posix() for p in root.rglob("*") if p.is_file()]
    assert files and all(any(fnmatch.fnmatch(f, g) for g in globs) for f in files), files
    assert sum((root.parent / f).stat().st_size for f in files) < 4 * 2**20
    assert not [f for f in files if re.search(r"\.(bin|pt|ckpt|pkl)$", f)]
    idx = json.loads((root / "model_index.json").read_text())
    assert idx["_class_name"] == "AigifTinyVideoPipeline"
    cfg = json.loads((root / "unet" / "config.json").read_text())
    assert cfg == json.loads((root.parent / "aigif_tiny_video_2" / "unet" / "config.json")
                             .read_text())       # one network, retrained
    assert cfg["prompt_layers"] > 0 and cfg["trajectory_slots"] > 0 and cfg["input_skip"]


def _meta(key, **kw):
    kw.setdefault("steps", 4)
    kw.setdefault("seed", 7)
    return aigif.GenerationMeta(model=key, prompt=PROMPT, **kw)


def test_video_file_renders_the_bare_pipeline_call_exactly(tmp_path, key):
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from aigif.embedded.video_pipeline import load
    from aigif.render.video import to_uint8

    p = tmp_path / "clip.aigif"
    aigif.save(None, p, meta=_meta(key))
    a = aigif.open(p).render().video
    b = aigif.open(p).render().video
    fa = np.asarray(a.frames)
    assert fa.shape == (8, 32, 32, 3) and fa.dtype == np.uint8
    assert np.array_equal(fa, np.asarray(b.frames))               # two renders identical
    pipe = load(key=key)
    pipe.set_progress_bar_config(disable=True)
    bare = pipe(PROMPT, num_inference_steps=4, guidance_scale=3.0,
                generator=torch.Generator("cpu").manual_seed(7), output_type="np").frames[0]
    assert np.array_equal(fa, to_uint8(bare))                      # = the bare call
    other = aigif.open(p).meta.replace(model=MODELS_UNDER_TEST[key][2])
    assert not np.array_equal(fa, np.asarray(aigif.render_meta(other, device="cpu").video.frames))
