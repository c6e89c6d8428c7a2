"""A content hash covers weights only, so two model directories of different families can
share one (an AnimateDiff pipeline built on an SD model's weights). A file names its
family: resolving ``local:<hash>`` prefers a registered model, then a folder of
``$AIGIF_MODEL_PATH``, of that family; one of another family is the last resort. (The
first-registered-wins rule broke test_scale once, when a video test re-registered its
AnimateDiff directory with the same weights as test_scale's tiny SD model.)"""
from __future__ import annotations

import json
import os
import shutil

import pytest

from aigif.registry import models
from aigif.render.local import content_hash, find_local_model, register_model


def _model_dir(root, weights: bytes, cls: str):
    (root / "unet").mkdir(parents=True)
    (root / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(weights)
    (root / "model_index.json").write_text(json.dumps({"_class_name": cls}))
    return root


@pytest.fixture
def names():
    made: list[str] = []
    yield made
    for n in made:
        models.unregister(n)


def test_the_files_family_wins_over_the_first_registered(tmp_path, names, monkeypatch):
    monkeypatch.delenv("AIGIF_MODEL_PATH", raising=False)
    w = os.urandom(64)
    sd = _model_dir(tmp_path / "sd", w, "StableDiffusionPipeline")
    anim = _model_dir(tmp_path / "anim", w, "AnimateDiffPipeline")
    h = content_hash(sd)
    assert content_hash(anim) == h
    names += ["t-hash-sd", "t-hash-anim"]
    register_model("t-hash-sd", sd, generator="sd")
    register_model("t-hash-anim", anim, generator="animatediff")
    register_model("t-hash-anim", shutil.copytree(anim, tmp_path / "anim2"),
                   generator="animatediff")   # a new path: re-registered at the front
    assert find_local_model(h).key == "t-hash-anim"           # no family: the first one
    assert find_local_model(h, "sd").key == "t-hash-sd"
    assert find_local_model(h, "animatediff").key == "t-hash-anim"
    assert find_local_model(h, "wan").key == "t-hash-anim"    # last resort: any family


def test_a_model_folder_of_the_files_family_wins_over_another_familys_registration(
        tmp_path, names, monkeypatch):
    w = os.urandom(64)
    anim = _model_dir(tmp_path / "anim", w, "AnimateDiffPipeline")
    _model_dir(tmp_path / "models" / "my-sd", w, "StableDiffusionPipeline")
    h = content_hash(anim)
    names += ["t-hash-anim-only", f"local-{h.hex()}"]
    register_model("t-hash-anim-only", anim, generator="animatediff")
    monkeypatch.setenv("AIGIF_MODEL_PATH", str(tmp_path / "models"))
    info = find_local_model(h, "sd")
    assert info.key == f"local-{h.hex()}" and info.generator == "sd"
    assert info.path == str(tmp_path / "models" / "my-sd")
