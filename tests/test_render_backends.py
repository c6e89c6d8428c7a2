"""Every built-in family has a backend that declares its pipeline, fields and models."""
from __future__ import annotations

import re

import pytest

from aigif.registry import generators, lookup_model
from aigif.render.backends import BUILTIN_BACKENDS, generator_for_pipeline_class, get_backend
from aigif.render.backends.base import ALL_FIELDS, DiffusersBackend
from aigif.spec import GENERATORS, MODELS

HUB_FAMILIES = ("sd", "sdxl", "sd3", "flux", "pixart_sigma", "lcm")
#: video families with well-known hub models (model codes 34..41)
VIDEO_HUB_FAMILIES = ("cogvideox", "ltx_video", "wan", "text_to_video_sd", "hunyuan_video")


@pytest.mark.parametrize("key", HUB_FAMILIES)
def test_backend_declares_its_family(key):
    b = get_backend(key)
    assert isinstance(b, DiffusersBackend) and b.key == key
    assert b.pipeline_class in b.pipeline_classes
    assert generator_for_pipeline_class(b.pipeline_class) == key
    assert b.uses <= ALL_FIELDS and {"prompt", "seed", "steps"} <= b.uses
    d = generators.get(key).defaults
    assert d.scheduler in (b.schedulers or ()) or b.schedulers is None
    for m in b.well_known:
        info = lookup_model(m)
        assert info.generator == key
        assert info.hub_id and re.fullmatch(r"[0-9a-f]{40}", info.revision or ""), m


def test_every_well_known_model_has_a_backend_that_lists_it():
    listed = {m for k in HUB_FAMILIES + VIDEO_HUB_FAMILIES for m in get_backend(k).well_known}
    hub = {m.key for m in MODELS if m.hub_id}
    assert listed == hub
    assert set(BUILTIN_BACKENDS) == {g.key for g in GENERATORS}


def test_backends_import_no_torch():
    import subprocess
    import sys
    code = ("import sys\nfrom aigif.render.backends import get_backend\n"
            f"[get_backend(k) for k in {HUB_FAMILIES!r}]\n"
            "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_lora_tags_of_applied_loras_leave_the_prompt():
    """A1111 takes <lora:NAME:w> tags out of the prompt before encoding it and applies the
    LoRA; the file keeps the tags (byte-exact prompt) and the LoRA in meta.loras, so the
    renderer encodes the prompt without the tags of the LoRAs it applies."""
    from aigif import GenerationMeta, Lora
    from aigif.render.backends.base import network_text
    loras = (Lora("add_detail", 0.8),)
    assert network_text("a cat <lora:add_detail:0.8>, <lora:other:1> <x>", loras) == \
        "a cat , <lora:other:1> <x>"
    assert network_text("a cat <lora:add_detail:0.8>", ()) == "a cat <lora:add_detail:0.8>"
    assert network_text("<lora:unclosed" * 3, loras) == "<lora:unclosed" * 3
    from aigif.render.backends import get_backend
    m = GenerationMeta(model="sd15", prompt="fox <lora:add_detail:0.8>", seed=1,
                       negative_prompt="<lyco:add_detail:1>blurry", loras=loras)
    kw = get_backend("sd").call_kwargs(m, None)
    assert (kw["prompt"], kw["negative_prompt"]) == ("fox ", "blurry")
