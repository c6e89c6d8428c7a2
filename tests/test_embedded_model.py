"""The packaged aigif-tiny models: present, small, loadable offline, deterministic, and
following prompts they never saw in training."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
import aigif  # noqa: E402
from aigif.embedded import PACKAGED, model_path  # noqa: E402
from training.embedded import checker, dataset  # noqa: E402
from aigif.render.schedulers import scheduler_key_for  # noqa: E402
from aigif.spec.models import MODELS  # noqa: E402

KEYS = sorted(PACKAGED)


def test_package_holds_small_safetensors_diffusers_models():
    total = 0
    for key in KEYS:
        root = Path(str(model_path(key)))
        idx = json.loads((root / "model_index.json").read_text())
        assert idx["_class_name"] == "AigifTinyPipeline"
        files = [p for p in root.rglob("*") if p.is_file()]
        total += sum(p.stat().st_size for p in files)
        assert (root / "unet" / "diffusion_pytorch_model.safetensors").is_file()
        assert not [p for p in files if p.suffix in (".bin", ".pt", ".ckpt", ".pkl")]
    assert total <= 20 * 2**20, total          # all packaged models together


@pytest.mark.parametrize("key", KEYS)
def test_frozen_defaults_fit_the_model(key):
    spec = next(m for m in MODELS if m.key == key)
    unet_cfg = json.loads(model_path(key).joinpath("unet/config.json").read_text())
    assert spec.generator == "aigif_tiny" and spec.hub_id is None
    assert spec.defaults.width == spec.defaults.height == unet_cfg["sample_size"]
    sched = json.loads(model_path(key).joinpath("scheduler/scheduler_config.json").read_text())
    assert scheduler_key_for(sched) == spec.defaults.scheduler
    assert sched["prediction_type"] == "v_prediction"


def _render(key, prompt, seed):
    from aigif.render import render_meta
    return render_meta(aigif.GenerationMeta(model=key, prompt=prompt, seed=seed)).image


@pytest.mark.parametrize("key", KEYS)
def test_renders_offline_and_deterministically(key):
    prompt = "a large green square in the center on a black background"
    a, b = _render(key, prompt, 3), _render(key, prompt, 3)
    assert a.size == (32, 32) and a.tobytes() == b.tobytes()
    assert _render(key, prompt, 4).tobytes() != a.tobytes()


@pytest.mark.parametrize("key", KEYS)
def test_generate_then_render_is_exact(key):
    meta = aigif.GenerationMeta(model=key, seed=9,
                                prompt="a small yellow triangle at the top on a gray background")
    image, data = aigif.generate(meta)
    assert len(data) < 160      # syntax + platform record + fingerprint
    res = aigif.loads(data).render()
    assert res.exact is True and res.image.tobytes() == image.tobytes()


# What each packaged model is checked to follow on 24 held-out prompts (the benchmark
# measures all 259; docs/model-card-aigif-tiny.md): aigif-tiny follows colour and background,
# not shape or position; aigif-tiny-2 all four (benchmark: shape 89.6 %, the rest 100 %).
# A new packaged model must say here what it follows.
FOLLOWS = {"aigif-tiny": {"color": 0.8, "background": 0.9},
           "aigif-tiny-2": {"color": 0.9, "shape": 0.7, "position": 0.9, "background": 0.9}}


@pytest.mark.parametrize("key", KEYS)
def test_follows_heldout_prompts(key):
    scenes = dataset.heldout_scenes()[::11][:24]      # never seen in training
    hits = dict.fromkeys(FOLLOWS[key], 0)
    for i, sc in enumerate(scenes):
        r = checker.check(_render(key, sc.caption, i), sc.caption)
        for k in hits:
            hits[k] += r[k]
    assert all(hits[k] >= v * len(scenes) for k, v in FOLLOWS[key].items()), hits


@pytest.mark.parametrize("key", KEYS)
def test_the_colour_word_changes_the_colour(key):
    seen = [checker.detect(_render(key, f"a large {c} circle in the center on a white "
                                        f"background", 11)).color
            for c in ("red", "blue", "green", "yellow")]
    assert seen == ["red", "blue", "green", "yellow"]


def test_loading_a_packaged_model_prints_no_progress_bars(capfd):
    """The packaged weights load from disk in milliseconds: no progress bars on stderr,
    and the libraries' own setting is restored afterwards (hub downloads keep theirs)."""
    from diffusers.utils import logging as dl
    from transformers.utils import logging as tl

    from aigif.embedded.backend import backend
    from aigif.render.backends.base import ModelSource
    dl.enable_progress_bar()      # the CLI's render command (run in-process by earlier tests)
    tl.enable_progress_bar()      # turns them off for its process; start from "on" here
    capfd.readouterr()
    pipe = backend.load(ModelSource(KEYS[-1], None), dtype=torch.float32, device="cpu")
    assert pipe.unet is not None
    err = capfd.readouterr().err
    assert "Loading" not in err and "it/s" not in err, err
    assert dl.is_progress_bar_enabled() and tl.is_progress_bar_enabled()


@pytest.mark.parametrize("key", [k for k in KEYS if "position" in FOLLOWS[k]])
def test_the_position_word_moves_the_object(key):
    """Same seed, four corner words: the object is drawn in each named corner."""
    corners = ("top left", "top right", "bottom left", "bottom right")
    seen = [checker.detect(_render(key, dataset.single_caption("blue", "circle", "small", p,
                                                               "white"), 5)).position
            for p in corners]
    assert seen == list(corners)
