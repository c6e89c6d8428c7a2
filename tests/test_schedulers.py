"""Sampler-name tables: A1111 (old and 1.9+ labels), ComfyUI, InvokeAI, NovelAI.

Expected keys written from diffusers' "A1111 / k-diffusion -> diffusers" table and A1111's
``samplers_k_diffusion`` defaults ("Automatic": DPM++ 2M/SDE/2S a -> Karras, DPM++ 2M SDE /
3M SDE -> Exponential, others -> the model's own schedule).
"""
import ast
import pathlib

import pytest

from aigif.interop import samplers as S
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
    ("DPM++ 2M Beta", None, "dpmpp_2m_beta"),          # one-string Beta, like " Karras"
    ("Euler Beta", None, "euler_beta"),
    ("euler  beta", None, "euler_beta"),
    ("Euler Beta", "Beta", "euler_beta"),
    ("Euler Beta", "Automatic", "euler_beta"),
    ("UniPC Karras", None, "unipc_karras"),
    ("UniPC", "Karras", "unipc_karras"),
    ("DPM++ SDE Exponential", None, "dpmpp_sde_exponential"),
    ("DPM++ SDE", "Exponential", "dpmpp_sde_exponential"),
    ("DPM++ 2M Exponential", None, "dpmpp_2m_exponential"),
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
    ("DPM++ 2M Beta", "Karras"),         # contradictory
    ("Heun Beta", None),                 # no heun_beta key
    ("DPM++ 3M SDE Exponential", None),
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
    ("dpmpp_2m_beta", ("DPM++ 2M", "Beta")),
    ("euler_beta", ("Euler", "Beta")),
    ("unipc_karras", ("UniPC", "Karras")),
])
def test_to_a1111(key, pair):
    assert S.to_a1111(key) == pair


def test_a1111_round_trip_every_key():
    for key in SCHEDULERS:
        pair = S.to_a1111(key)
        if pair is not None:
            assert S.from_a1111(*pair) == key, (key, pair)
        legacy = S.to_a1111_legacy(key)
        if legacy is not None:
            assert S.from_a1111(legacy) == key, (key, legacy)


# The one-string label of every key, both ways: the names the renderer's
# scheduler_from_a1111/a1111_name used to keep in a table of their own.
LABELS = {
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


def test_every_key_has_a_one_string_label():
    # CogVideoX's own schedulers have no name in A1111-family tools
    assert set(LABELS) == set(SCHEDULERS) - {"cogvideox_ddim", "cogvideox_dpm"}
    assert S.a1111_labels() == [LABELS[k] for k in SCHEDULERS if k != "flow_euler" and k in LABELS]
    assert S.a1111_labels(flow=True) == S.a1111_labels()   # flow_euler is plain "Euler"


@pytest.mark.parametrize("key,label", sorted(LABELS.items()))
def test_one_string_labels_both_ways(key, label):
    flow = key == "flow_euler"
    assert S.to_a1111_label(key) == label
    assert S.from_a1111_label(label, flow=flow) == key
    assert S.from_a1111_label(label.upper().replace(" ", "_"), flow=flow) == key
    assert S.from_a1111_label(f"  {label.lower()} ", flow=flow) == key
    assert S.from_a1111_label(key) == key                  # keys are names too
    assert S.from_a1111_label(key.replace("_", " ").upper()) == key
    if flow:
        assert S.from_a1111_label(label) == "euler"        # SD model: plain Euler
        return
    # the same key through the pre-1.9 label and the 1.9+ split form
    assert S.to_a1111_legacy(key) == label
    assert S.from_a1111(label) == key
    sampler, schedule = S.to_a1111(key)
    assert S.from_a1111(sampler, schedule) == key
    assert label == sampler + ("" if schedule in ("Automatic", "Uniform") else " " + schedule)


def test_from_a1111_label_flow_and_unknown():
    assert S.from_a1111_label("Euler", flow=True) == "flow_euler"
    assert S.from_a1111_label("Euler Simple", flow=True) == "flow_euler"
    assert S.from_a1111_label("Euler Simple") is None
    assert S.from_a1111_label("Euler FlowMatch") == "flow_euler"
    assert S.from_a1111_label("flow_euler") == "flow_euler"
    assert S.from_a1111_label("Euler a", flow=True) == "euler_a"
    assert S.from_a1111_label("Euler Karras", flow=True) == "euler_karras"
    assert S.from_a1111_label("Euler Ancestral") == "euler_a"
    for bad in ("DPM adaptive", "Restart", "", "DPM++ 3M SDE Exponential", None, 3):
        assert S.from_a1111_label(bad) is None, bad
    assert S.to_a1111_label("nope") is None


def test_module_stays_pure_python():
    """The interop layer's name tables import neither torch/diffusers nor aigif.render."""
    tree = ast.parse(pathlib.Path(S.__file__).read_text())
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mods.add("." * node.level + (node.module or ""))
    heavy = {m for m in mods if m.split(".")[0] in ("torch", "diffusers", "transformers")
             or "render" in m}
    assert not heavy, heavy


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
