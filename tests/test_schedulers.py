"""Sampler-name tables: A1111 (old and 1.9+ labels), ComfyUI, InvokeAI, NovelAI.

Expected keys written from diffusers' "A1111 / k-diffusion -> diffusers" table and A1111's
``samplers_k_diffusion`` defaults ("Automatic": DPM++ 2M/SDE/2S a -> Karras, DPM++ 2M SDE /
3M SDE -> Exponential, others -> the model's own schedule).
"""
import pytest

from aigif import schedulers as S
from aigif.meta import SCHEDULERS


@pytest.mark.parametrize("sampler,schedule,key", [
    ("DPM++ 2M Karras", None, "dpmpp_2m_karras"),
    ("DPM++ 2M", None, "dpmpp_2m"),                    # before 1.9: plain schedule
    ("DPM++ 2M", "Karras", "dpmpp_2m_karras"),
    ("DPM++ 2M", "Automatic", "dpmpp_2m_karras"),      # 1.9+: sampler default
    ("DPM++ 2M", "Uniform", "dpmpp_2m"),
    ("DPM++ 2M", "Exponential", "dpmpp_2m_exponential"),
    ("DPM++ 2M", "Beta", "dpmpp_2m_beta"),
    ("Euler a", None, "euler_a"),
    ("Euler a", "Automatic", "euler_a"),
    ("Euler", "Karras", "euler_karras"),
    ("Euler", "Beta", "euler_beta"),
    ("UniPC", None, "unipc"),
    ("UniPC", "Automatic", "unipc"),
    ("DDIM", None, "ddim"),
    ("LCM", None, "lcm"),
    ("PLMS", None, "pndm"),
    ("DPM++ SDE Karras", None, "dpmpp_sde_karras"),
    ("DPM++ SDE", "Automatic", "dpmpp_sde_karras"),
    ("DPM++ 2M SDE", None, "dpmpp_2m_sde"),
    ("DPM++ 2M SDE", "Automatic", "dpmpp_2m_sde_exponential"),
    ("DPM++ 2M SDE Karras", None, "dpmpp_2m_sde_karras"),
    ("DPM++ 2M SDE Exponential", None, "dpmpp_2m_sde_exponential"),
    ("DPM++ 3M SDE Karras", None, "dpmpp_3m_sde_karras"),
    ("DPM++ 3M SDE", "Karras", "dpmpp_3m_sde_karras"),
    ("DPM++ 2S a Karras", None, "dpmpp_2s_a_karras"),
    ("Heun", None, "heun"),
    ("LMS", None, "lms"),
    ("LMS Karras", None, "lms_karras"),
    ("LMS", "karras", "lms_karras"),                   # pre-1.9 lowercase override
    ("DPM2 a", None, "dpm2_a"),
    ("DPM2 a Karras", None, "dpm2_a_karras"),
    ("DPM2 Karras", None, "dpm2_karras"),
])
def test_from_a1111(sampler, schedule, key):
    assert S.from_a1111(sampler, schedule) == key


@pytest.mark.parametrize("sampler,schedule", [
    ("DPM adaptive", None), ("DPM fast", None), ("Restart", None), ("", None), (None, None),
    ("DPM++ 3M SDE", "Automatic"),      # exponential: no such aigif key
    ("DPM++ 3M SDE", "Exponential"),
    ("Euler a", "Karras"),              # no euler_a_karras key
    ("DPM++ 2M", "Align Your Steps"),
    ("DPM++ 2M Karras", "Exponential"),  # contradictory
    ("Totally Unknown", None),
])
def test_from_a1111_unmapped(sampler, schedule):
    assert S.from_a1111(sampler, schedule) is None


@pytest.mark.parametrize("key,pair", [
    ("dpmpp_2m_karras", ("DPM++ 2M", "Karras")),
    ("dpmpp_2m", ("DPM++ 2M", "Uniform")),     # "Automatic" would mean Karras
    ("euler_a", ("Euler a", "Automatic")),
    ("unipc", ("UniPC", "Automatic")),
    ("dpmpp_2m_sde_exponential", ("DPM++ 2M SDE", "Exponential")),
    ("lms_karras", ("LMS", "Karras")),
    ("pndm", ("PLMS", "Automatic")),
])
def test_to_a1111(key, pair):
    assert S.to_a1111(key) == pair


def test_a1111_round_trip_every_key():
    for key in SCHEDULERS:
        pair = S.to_a1111(key)
        if pair is not None:
            assert S.from_a1111(*pair) == key, (key, pair)
        legacy = S.to_a1111_legacy(key)
        if legacy is not None and not key.endswith("_beta"):
            assert S.from_a1111(legacy) == key, (key, legacy)


@pytest.mark.parametrize("name,sched,key", [
    ("dpmpp_2m", "karras", "dpmpp_2m_karras"),
    ("dpmpp_2m", "normal", "dpmpp_2m"),
    ("sample_dpmpp_2m", "normal", "dpmpp_2m"),      # old ComfyUI graphs
    ("euler_ancestral", "normal", "euler_a"),
    ("euler", "beta", "euler_beta"),
    ("uni_pc", "normal", "unipc"),
    ("uni_pc_bh2", "normal", "unipc"),
    ("dpmpp_2m_sde_gpu", "karras", "dpmpp_2m_sde_karras"),
    ("dpmpp_sde", "normal", "dpmpp_sde"),
    ("ddim", "ddim_uniform", "ddim"),
    ("lcm", "normal", "lcm"),
    ("dpmpp_3m_sde_gpu", "karras", "dpmpp_3m_sde_karras"),
])
def test_from_comfyui(name, sched, key):
    assert S.from_comfyui(name, sched) == key


def test_from_comfyui_flow_and_unmapped():
    assert S.from_comfyui("euler", "simple", flow=True) == "flow_euler"
    assert S.from_comfyui("euler", "simple") is None       # SD model: no exact match
    assert S.from_comfyui("dpmpp_2m", "sgm_uniform") is None
    assert S.from_comfyui("res_multistep", "normal") is None
    assert S.from_comfyui(None, None) is None


def test_to_comfyui_round_trip():
    assert S.to_comfyui("dpmpp_2m_karras") == ("dpmpp_2m", "karras")
    assert S.to_comfyui("euler_a") == ("euler_ancestral", "normal")
    assert S.to_comfyui("flow_euler") == ("euler", "simple")
    for key in SCHEDULERS:
        pair = S.to_comfyui(key)
        if pair is not None:
            assert S.from_comfyui(*pair, flow=key == "flow_euler") == key, (key, pair)


def test_invokeai_and_novelai():
    assert S.from_invokeai("k_lms") == "lms"
    assert S.from_invokeai("k_euler_a") == "euler_a"
    assert S.from_invokeai("dpmpp_2m_k") == "dpmpp_2m_karras"
    assert S.from_invokeai("euler") == "euler"
    assert S.from_invokeai("dpmpp_3m_k") is None
    assert S.to_invokeai("dpmpp_2m_karras") == "dpmpp_2m_k"
    assert S.from_novelai("k_euler_ancestral") == "euler_a"
    assert S.from_novelai("k_dpmpp_2m", "karras") == "dpmpp_2m_karras"
    assert S.from_novelai("nai_smea_dyn") is None


def test_every_result_is_a_real_key():
    names = ["DPM++ 2M", "Euler a", "UniPC", "dpmpp_2m", "euler", "k_lms", "ddim"]
    for n in names:
        for sch in (None, "Karras", "karras", "normal", "Automatic", "exponential"):
            for k in (S.from_a1111(n, sch), S.from_comfyui(n, sch), S.from_any(n, sch)):
                assert k is None or k in SCHEDULERS
