"""Scheduler syntax <-> diffusers classes and options <-> A1111 names, both ways."""
from __future__ import annotations

import dataclasses
import importlib.util

import pytest

diffusers = pytest.importorskip("diffusers")

from aigif.interop import samplers as names  # noqa: E402
from aigif.interop.samplers import a1111_name, scheduler_from_a1111  # noqa: E402
from aigif.errors import MissingDependencyError, RenderError  # noqa: E402
from aigif.meta import SCHEDULERS, scheduler_code, scheduler_key  # noqa: E402
from aigif.errors import MetaError  # noqa: E402
from aigif.render.schedulers import (SCHEDULER_TABLE, SchedulerSpec,  # noqa: E402
                                     make_scheduler, scheduler_class, scheduler_key_for)

# An SD 1.5-style scheduler config, as a pipeline's scheduler.config would hold it.
SD_CONFIG = dict(diffusers.PNDMScheduler(beta_start=0.00085, beta_end=0.012,
                                         beta_schedule="scaled_linear", skip_prk_steps=True,
                                         steps_offset=1).config)


def _available(key):
    need = SCHEDULER_TABLE[key].needs
    return need is None or importlib.util.find_spec(need) is not None


def test_every_scheduler_key_has_a_diffusers_mapping():
    assert set(SCHEDULERS) == set(SCHEDULER_TABLE)


@pytest.mark.parametrize("key", sorted(SCHEDULER_TABLE))
def test_round_trip_name_code_config(key):
    spec = SCHEDULER_TABLE[key]
    # name -> key -> code -> key
    assert scheduler_from_a1111(a1111_name(key), flow=spec.flow) == key
    assert scheduler_key(scheduler_code(key)) == key
    if not _available(key):
        with pytest.raises(MissingDependencyError, match=spec.needs):
            scheduler_class(key)
        return
    # key -> diffusers scheduler -> key
    sched = make_scheduler(key, SD_CONFIG)
    assert type(sched).__name__ == spec.cls
    back = scheduler_key_for(sched)
    if spec.approximate:
        assert back is not None and SCHEDULER_TABLE[back].cls == spec.cls
    else:
        assert back == key
    # the model's own config survives the switch
    assert sched.config.beta_schedule == "scaled_linear"
    assert sched.config.beta_end == 0.012


@pytest.mark.parametrize("name, cls, options", [
    ("DPM++ 2M", "DPMSolverMultistepScheduler", {"use_karras_sigmas": False}),
    ("DPM++ 2M Karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    ("DPM++ 2M SDE", "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    ("DPM++ 2M SDE Karras", "DPMSolverMultistepScheduler",
     {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}),
    ("DPM++ SDE Karras", "DPMSolverSinglestepScheduler", {"use_karras_sigmas": True}),
    ("DPM2", "KDPM2DiscreteScheduler", {}),
    ("DPM2 a Karras", "KDPM2AncestralDiscreteScheduler", {"use_karras_sigmas": True}),
    ("Euler", "EulerDiscreteScheduler", {"use_karras_sigmas": False}),
    ("Euler a", "EulerAncestralDiscreteScheduler", {}),
    ("Heun", "HeunDiscreteScheduler", {}),
    ("UniPC", "UniPCMultistepScheduler", {}),
    ("DDIM", "DDIMScheduler", {}),
    ("LCM", "LCMScheduler", {}),
])
def test_diffusers_official_a1111_table(name, cls, options):
    """diffusers' documented A1111 -> diffusers table, entry by entry."""
    key = scheduler_from_a1111(name)
    c, kwargs = scheduler_class(key)
    assert c.__name__ == cls
    for k, v in options.items():
        assert kwargs[k] == v


def test_flow_families_read_euler_as_flow_matching():
    assert scheduler_from_a1111("Euler", flow=True) == "flow_euler"
    assert scheduler_from_a1111("Euler") == "euler"
    assert scheduler_from_a1111("dpmpp_2m_karras") == "dpmpp_2m_karras"
    with pytest.raises(MetaError, match="DPM adaptive"):
        scheduler_from_a1111("DPM adaptive")


def test_switching_clears_flags_the_key_does_not_ask_for_and_keeps_model_options():
    cfg = {k: v for k, v in SD_CONFIG.items() if k != "_use_default_values"}
    karras = make_scheduler("dpmpp_2m_karras", {**cfg, "timestep_spacing": "trailing"})
    assert karras.config.use_karras_sigmas is True
    plain = make_scheduler("dpmpp_2m", dict(karras.config))
    assert plain.config.use_karras_sigmas is False
    assert plain.config.timestep_spacing == "trailing"
    assert scheduler_key_for(dict(plain.config), "DPMSolverMultistepScheduler") == "dpmpp_2m"


def test_scheduler_options_are_checked():
    s = make_scheduler("euler", SD_CONFIG, {"timestep_spacing": "trailing"})
    assert s.config.timestep_spacing == "trailing"
    with pytest.raises(RenderError, match="does not apply"):
        make_scheduler("ddim", SD_CONFIG, {"use_karras_sigmas": True})
    with pytest.raises(RenderError, match="does not apply"):
        make_scheduler("euler", SD_CONFIG, {"trained_betas": [0.1]})
    with pytest.raises(RenderError, match="no diffusers mapping"):
        scheduler_class("nope")


# A1111 names now live in aigif.schedulers only; these pin what the renderer's own table said.
RENDER_NAMES = {
    "ddim": "DDIM", "pndm": "PLMS", "lms": "LMS", "lms_karras": "LMS Karras",
    "euler": "Euler", "euler_a": "Euler a", "euler_karras": "Euler Karras",
    "euler_beta": "Euler Beta", "heun": "Heun", "dpm2": "DPM2", "dpm2_karras": "DPM2 Karras",
    "dpm2_a": "DPM2 a", "dpm2_a_karras": "DPM2 a Karras", "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_karras": "DPM++ 2M Karras", "dpmpp_2m_exponential": "DPM++ 2M Exponential",
    "dpmpp_2m_beta": "DPM++ 2M Beta", "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_karras": "DPM++ 2M SDE Karras",
    "dpmpp_2m_sde_exponential": "DPM++ 2M SDE Exponential", "dpmpp_3m_sde": "DPM++ 3M SDE",
    "dpmpp_3m_sde_karras": "DPM++ 3M SDE Karras", "dpmpp_sde": "DPM++ SDE",
    "dpmpp_sde_karras": "DPM++ SDE Karras", "dpmpp_sde_exponential": "DPM++ SDE Exponential",
    "dpmpp_2s_a": "DPM++ 2S a", "dpmpp_2s_a_karras": "DPM++ 2S a Karras", "unipc": "UniPC",
    "unipc_karras": "UniPC Karras", "deis": "DEIS", "lcm": "LCM", "ddpm": "DDPM", "tcd": "TCD",
    "flow_euler": "Euler",
}


def test_a1111_names_come_from_the_interop_table():
    no_a1111 = {"cogvideox_ddim", "cogvideox_dpm"}   # video-only: A1111 has no name
    assert set(RENDER_NAMES) == set(SCHEDULER_TABLE) - no_a1111
    assert "a1111" not in {f.name for f in dataclasses.fields(SchedulerSpec)}
    for key in no_a1111:
        assert a1111_name(key) == key and names.to_a1111_label(key) is None
    for key, spec in SCHEDULER_TABLE.items():
        if key in no_a1111:
            continue
        name = a1111_name(key)
        assert name == RENDER_NAMES[key] == names.to_a1111_label(key)
        assert scheduler_from_a1111(name, flow=spec.flow) == key
        assert scheduler_from_a1111(key) == key
        assert names.from_a1111_label(name, flow=spec.flow) == key
        if not spec.flow:
            # and the interop layer reads the same name (legacy and 1.9+ split form)
            assert names.from_a1111(name) == key
            assert names.from_a1111(*names.to_a1111(key)) == key
    with pytest.raises(MetaError, match="unknown scheduler"):
        a1111_name("nope")


@pytest.mark.parametrize("name, flow, key", [
    ("DPM++ 2M Beta", False, "dpmpp_2m_beta"),
    ("Euler Beta", False, "euler_beta"),
    ("LMS Karras", False, "lms_karras"),
    ("DPM2 a Karras", False, "dpm2_a_karras"),
    ("UniPC Karras", False, "unipc_karras"),
    ("DPM++ 2M SDE Exponential", False, "dpmpp_2m_sde_exponential"),
    ("DPM++ SDE Exponential", False, "dpmpp_sde_exponential"),
    ("DPM++ 3M SDE Karras", False, "dpmpp_3m_sde_karras"),
    ("dpm++  2m_karras", False, "dpmpp_2m_karras"),
    # a trailing "Automatic" is A1111 1.9+'s sampler default (Karras for DPM++ 2M), "Uniform" plain
    ("DPM++ 2M Automatic", False, "dpmpp_2m_karras"),
    ("DPM++ 2M Uniform", False, "dpmpp_2m"),
    ("euler_a_automatic", False, "euler_a"),
    ("DPM++ 2M Karras Automatic", False, "dpmpp_2m_karras"),
    ("Euler Automatic", True, "flow_euler"),
    ("Euler Simple", True, "flow_euler"),
    ("flow euler", False, "flow_euler"),
    ("Euler FlowMatch", False, "flow_euler"),
    ("Euler a", True, "euler_a"),
])
def test_scheduler_from_a1111_names(name, flow, key):
    assert scheduler_from_a1111(name, flow=flow) == key


def test_unknown_sampler_error_lists_the_known_names():
    with pytest.raises(MetaError) as e:
        scheduler_from_a1111("Euler Simple")
    msg = str(e.value)
    assert "unknown sampler name 'Euler Simple'" in msg
    for label in names.a1111_labels():
        assert label in msg
    assert "DPM++ 2M Beta" in msg and "Euler Beta" in msg
