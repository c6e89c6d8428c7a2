"""Stages after the text-to-image pass (aigif.stages, STAGES element): round trips,
canonical bytes, JSON, errors, byte budget."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aigif
from aigif import (ControlNet, Detailer, GenerationMeta, Hires, Img2Img, Lora, Payload, Refiner,
                   UnknownStages, Upscale)
from aigif.errors import AigifError, CanonicalFormError, MalformedError, MetaError
from aigif.stages import UPSCALERS

BASE = GenerationMeta(model="sd15", prompt="a castle", negative_prompt="blurry", seed=1)

fractions = st.integers(0, 10_000).map(lambda k: k / 10_000)
reals = st.integers(-100_000, 100_000).map(lambda k: k / 1000)
opt = lambda s: st.none() | s  # noqa: E731

models = st.sampled_from(["sdxl", "ckpt:dreamshaper_8.safetensors", "owner/model",
                          "owner/model@abc123", "local:" + "cd" * 16])
loras = opt(st.lists(st.builds(Lora, st.sampled_from(["a", "b"]), reals), max_size=2)
            .map(tuple))
params = st.dictionaries(st.sampled_from(["x", "hires.cfg_rescale"]),
                         st.integers(0, 9) | st.text(max_size=4), max_size=2)
pass_kw = dict(steps=st.integers(0, 60), guidance_scale=opt(st.sampled_from([3.5, 7.25, 9.0])),
               scheduler=opt(st.sampled_from(["euler_a", "dpmpp_2m_karras"])),
               seed=opt(st.integers(0, 2**64 - 1)), prompt=opt(st.text(max_size=12)),
               negative_prompt=opt(st.text(max_size=12)), params=params)
resize = dict(scale=st.sampled_from([1.5, 2.0, 4.0, 1.25]),
              upscaler=st.sampled_from([k for k in UPSCALERS if k != "model"]))

stage = st.one_of(
    st.builds(Hires, strength=fractions, model=opt(models), loras=loras,
              clip_skip=opt(st.integers(0, 3)), **resize, **pass_kw),
    st.builds(Hires, scale=st.none(), size=st.tuples(st.integers(1, 4096),
                                                     st.integers(1, 4096))),
    st.builds(Upscale, upscaler=st.just("model"), upscaler_model=models,
              scale=st.sampled_from([2.0, 4.0])),
    st.builds(Upscale, **resize, params=params),
    st.builds(Img2Img, strength=fractions, model=opt(models), loras=loras, **pass_kw),
    st.builds(Refiner, model=models, switch=fractions, aesthetic_score=reals,
              negative_aesthetic_score=reals, **pass_kw),
    st.builds(ControlNet, model=models, scale=reals,
              start=st.just(0.0) | st.just(0.1), end=st.just(1.0) | st.just(0.9),
              pass_index=st.integers(0, 3),
              image=opt(st.binary(min_size=1, max_size=8).map(lambda b: Payload("png", b))),
              params=params),
    st.builds(Detailer, detector=st.sampled_from(["face_yolov8n.pt", "hand_yolov8s.pt"]),
              strength=fractions, confidence=fractions, mask_blur=st.integers(0, 256),
              model=opt(models), **pass_kw),
)
stage_lists = st.lists(stage, max_size=4).map(tuple) | st.tuples(
    stage, st.builds(UnknownStages, st.integers(7, 5000), st.binary(max_size=6)))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(stage_lists)
def test_round_trip_and_canonical_bytes(stages):
    meta = BASE.replace(stages=stages)
    data = aigif.dumps(meta)
    back = aigif.loads(data).meta
    assert back == meta
    assert aigif.dumps(back) == data
    assert GenerationMeta.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta


def test_typical_hires_costs_at_most_8_bytes():
    meta = GenerationMeta(model="sd15", prompt="a knight", seed=3954772125, steps=30,
                          guidance_scale=7.5, scheduler="dpmpp_2m_karras", width=512, height=768)
    hires = meta.replace(stages=(Hires(scale=2.0, upscaler="latent", strength=0.45, steps=20),))
    extra = len(aigif.dumps(hires)) - len(aigif.dumps(meta))
    assert extra == 8
    with_el = meta.replace(loras=(Lora("x", 0.8),))   # the element list already exists
    assert len(aigif.dumps(with_el.replace(stages=hires.stages))) - len(aigif.dumps(with_el)) == 6


def test_first_pass_values_are_held_as_none():
    s = BASE.replace(stages=(Hires(guidance_scale=BASE.guidance_scale, seed=1, model="sd15",
                                   prompt="a castle", negative_prompt="blurry"),)).stages[0]
    assert (s.guidance_scale, s.seed, s.model, s.prompt, s.negative_prompt) == (None,) * 5
    s = BASE.replace(stages=(Img2Img(prompt="night"),)).stages[0]
    assert (s.prompt, s.negative_prompt) == ("night", "blurry")
    eff = BASE.replace(stages=(Hires(strength=0.45),)).stages[0].effective(BASE)
    assert (eff.steps, eff.guidance_scale, eff.prompt, eff.model) == (50, 7.0, "a castle", "sd15")


def test_fraction_rounds_to_ten_thousandths():
    assert Hires(strength=0.123456).strength == 0.1235
    assert Hires(size=(1024, 1536)).target_size(512, 768) == (1024, 1536)
    assert Hires(scale=1.5).target_size(512, 777) == (768, 1165)


@pytest.mark.parametrize("make,field", [
    (lambda: Hires(strength=1.5), "hires.strength"),
    (lambda: Hires(scale=3.0, size=(8, 8)), "hires.size"),
    (lambda: Hires(scale=0.0), "hires.scale"),
    (lambda: Hires(upscaler="esrgan"), "hires.upscaler"),
    (lambda: Hires(upscaler="model"), "hires.upscaler_model"),
    (lambda: Upscale(upscaler_model="ckpt:x"), "upscale.upscaler_model"),
    (lambda: Refiner(), "refiner.model"),
    (lambda: ControlNet(), "controlnet.model"),
    (lambda: ControlNet(model="sdxl", start=0.9, end=0.1), "controlnet.start"),
    (lambda: Detailer(), "detailer.detector"),
    (lambda: Img2Img(scheduler="nope"), "img2img.scheduler"),
    (lambda: UnknownStages(1, b""), "unknown.kind"),
])
def test_invalid_stages_name_the_field(make, field):
    with pytest.raises(MetaError) as ei:
        make()
    assert ei.value.field == field


def test_meta_checks_the_list():
    with pytest.raises(MetaError, match="limit"):
        BASE.replace(stages=(Hires(),) * 17)
    with pytest.raises(MetaError) as ei:
        BASE.replace(stages=(UnknownStages(9, b""), Hires()))
    assert ei.value.field == "stages[0]"
    with pytest.raises(MetaError):
        BASE.replace(stages=("hires",))
    with pytest.raises(MetaError) as ei:
        GenerationMeta.from_dict({"model": "sd15", "stages": [{"kind": "warp"}]})
    assert ei.value.field == "stages[0].kind"


def _file(stage_body: bytes) -> bytes:
    from aigif.bitstream.primitives import uvarint
    from aigif.io import check_value
    body = uvarint(1 << 9) + bytes([17]) + bytes([1, 19]) + uvarint(len(stage_body)) + stage_body
    raw = aigif.spec.HEADER + body
    return raw + check_value(raw, len(raw) + 2).to_bytes(2, "big")


def test_strict_reader_refuses_non_canonical_stages():
    # guidance equal to the first pass's (sd15: 7.0 -> HALF mode, q=14 -> v=56)
    data = _file(bytes([1, 1 << 5, 56]))
    with pytest.raises(CanonicalFormError, match="guidance"):
        aigif.loads(data)
    assert aigif.loads(data, strict=False).meta.stages == (Hires(),)
    with pytest.raises(CanonicalFormError):          # scale 2.0 stored (HALF q=4)
        aigif.loads(_file(bytes([1, 1, 16])))
    with pytest.raises(aigif.UnsupportedVersionError):  # an unknown upscaler code
        aigif.loads(_file(bytes([2, 4, 7])))


def test_unknown_kind_is_kept_byte_for_byte():
    data = _file(bytes([1, 0x18, 90, 20, 7, 0xff, 0x00, 0x42]))
    f = aigif.loads(data)
    assert f.meta.stages == (Hires(strength=0.45, steps=20), UnknownStages(7, b"\xff\x00\x42"))
    assert aigif.dumps(f) == data
    rep = aigif.validate(data)
    assert rep.ok and "unknown-stage" in [i.code for i in rep.warnings]


def test_validate_controlnet_pass():
    meta = BASE.replace(stages=(Upscale(), ControlNet(model="sdxl", pass_index=1,
                                                      image=Payload("png", b"x"))))
    rep = aigif.validate(aigif.dumps(meta))
    assert not rep.ok and rep.errors[0].code == "bad-stage-pass"
    meta = BASE.replace(stages=(ControlNet(model="sdxl", pass_index=5),))
    assert aigif.validate(aigif.dumps(meta)).errors[0].field == "stages[0].pass_index"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=12))
def test_arbitrary_stage_bytes_raise_only_aigif_errors(body):
    try:
        aigif.loads(_file(body))
    except AigifError:
        pass


def test_stages_element_is_critical_and_never_in_a_pixels_only_file():
    assert aigif.spec.ELEMENT_CRITICAL[aigif.spec.Element.STAGES]
