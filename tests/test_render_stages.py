"""Generation stages: each stage kind renders bit for bit like the hand-written diffusers
calls for the same passes (tiny seeded pipelines saved and loaded through
``from_pretrained``), and what cannot be rendered is refused or, when asked, skipped and
marked approximate."""
from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

import aigif  # noqa: E402
from aigif import GenerationMeta, Lora, Payload  # noqa: E402
from aigif.errors import ModelNotAvailableError, RegistryError, RenderError  # noqa: E402
from aigif.render import PipelineCache, register_model, render_meta  # noqa: E402
from aigif.render.loras import register_lora, unregister_lora  # noqa: E402
from aigif.stages import (ControlNet, Detailer, Hires, Img2Img, Refiner,  # noqa: E402
                          UnknownStages, Upscale)

import _tiny_pipelines as tp  # noqa: E402

F = torch.nn.functional
PROMPT, NEG, SEED = "a red fox in the snow", "blurry", 1234


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("stage_models")
    out = {"sd": tp.build("sd", root / "sd"), "sdxl": tp.build("sdxl", root / "sdxl"),
           "refiner": tp.build_sdxl_refiner(root / "refiner"),
           "cn": tp.build_controlnet(root / "cn")}
    register_model("stg-sd", out["sd"])
    register_model("stg-sdxl", out["sdxl"])
    register_model("stg-refiner", out["refiner"])          # model_index: SDXL img2img
    register_model("stg-cn", out["cn"], generator="sd")    # a ControlNet directory
    return out


@pytest.fixture(scope="module")
def cache():
    return PipelineCache(maxsize=2)


def _g(seed=SEED):
    return torch.Generator("cpu").manual_seed(seed)


def _meta(fam="sd", **kw) -> GenerationMeta:
    p = dict(model=f"stg-{fam}", prompt=PROMPT, negative_prompt=NEG, seed=SEED, steps=4,
             guidance_scale=5.0, scheduler="euler", width=32, height=32)
    p.update(kw)
    return GenerationMeta(**p)


def _sd(path):
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(
        path, use_safetensors=True, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    return pipe


def _first(pipe, **kw):
    base = dict(prompt=PROMPT, negative_prompt=NEG, num_inference_steps=4, guidance_scale=5.0,
                width=32, height=32, generator=_g())
    base.update(kw)
    return pipe(**base).images


def _tail(scheduler, steps, strength):
    """The file's rule by hand (A1111 hires fix, ComfyUI denoise): the last ``steps``
    timesteps of a schedule of int(steps / strength) steps."""
    full = type(scheduler).from_config(scheduler.config)
    full.set_timesteps(int(steps / strength))
    return [int(t) for t in full.timesteps[::full.order][-steps:]]


def _i2i(pipe, image, strength, steps=4, **kw):
    """diffusers' img2img pipeline given the pass's timesteps explicitly (strength 1.0 of
    them: it starts at the first)."""
    i2i = diffusers.StableDiffusionImg2ImgPipeline.from_pipe(pipe)
    i2i.set_progress_bar_config(disable=True)
    base = dict(prompt=PROMPT, negative_prompt=NEG, guidance_scale=5.0, generator=_g())
    base.update(kw)
    return i2i(image=image, strength=1.0, timesteps=_tail(pipe.scheduler, steps, strength),
               **base).images[0]


def _same(a, b) -> bool:
    import numpy as np
    return a.size == b.size and torch.equal(torch.from_numpy(np.array(a)),
                                            torch.from_numpy(np.array(b)))


def _render(meta, cache, **kw):
    return render_meta(meta, device="cpu", cache=cache, **kw)


def _decode(pipe, latents):
    with torch.no_grad():
        x = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
    return pipe.image_processor.postprocess(x, output_type="pil")[0]


# --------------------------------------------------------------------------- exact stages
@pytest.mark.parametrize("upscaler,mode,aa", [("latent", "bilinear", False),
                                              ("latent-bicubic-antialiased", "bicubic", True),
                                              ("latent-nearest-exact", "nearest-exact", False),
                                              ("latent-area", "area", False)])
def test_hires_latent_upscale_equals_diffusers(models, cache, upscaler, mode, aa):
    meta = _meta(stages=(Hires(scale=1.5, upscaler=upscaler, strength=0.5),))
    res = _render(meta, cache)
    pipe = _sd(models["sd"])
    lat = _first(pipe, output_type="latent")
    up = F.interpolate(lat, size=(24, 24), mode=mode, antialias=aa)   # 48 px / VAE factor 2
    want = _i2i(pipe, up, 0.5)
    assert res.image.size == (48, 48)
    assert _same(res.image, want)
    assert [s for s, _ in res.stages] == ["txt2img", "stages[0] (hires) upscale",
                                          "stages[0] (hires)"]
    assert res.approximate is False and res.skipped == []


def test_hires_pixel_upscale_with_its_own_pass_settings(models, cache):
    from PIL import Image
    st = Hires(size=(40, 48), upscaler="lanczos", strength=0.6, steps=3, seed=7,
               guidance_scale=3.0, prompt="a fox at night")
    res = _render(_meta(stages=(st,)), cache)
    pipe = _sd(models["sd"])
    first = _first(pipe)[0]
    want = _i2i(pipe, first.resize((40, 48), Image.LANCZOS), 0.6, steps=3,
                generator=_g(7), guidance_scale=3.0, prompt="a fox at night")
    assert res.image.size == (40, 48) and _same(res.image, want)
    # the plain render is the first pass alone: the stage changed the image
    assert not _same(_render(_meta(), cache).image.resize((40, 48)), res.image)


def test_upscale_only_latent_and_pixel(models, cache):
    from PIL import Image
    pipe = _sd(models["sd"])
    lat = _first(pipe, output_type="latent")
    res = _render(_meta(stages=(Upscale(upscaler="latent-nearest"),)), cache)
    assert _same(res.image, _decode(pipe, F.interpolate(lat, size=(32, 32), mode="nearest")))
    res = _render(_meta(stages=(Upscale(scale=1.25, upscaler="bicubic"),)), cache)
    assert _same(res.image, _first(pipe)[0].resize((40, 40), Image.BICUBIC))


def test_img2img_stage_continues_from_latents(models, cache):
    st = Img2Img(strength=0.75, prompt="a grey wolf", negative_prompt="", seed=5)
    res = _render(_meta(stages=(st,)), cache)
    pipe = _sd(models["sd"])
    lat = _first(pipe, output_type="latent")
    want = _i2i(pipe, lat, 0.75, prompt="a grey wolf", negative_prompt=None, generator=_g(5))
    assert _same(res.image, want)


@pytest.mark.parametrize("key,cls", [("euler", "EulerDiscreteScheduler"),
                                     ("heun", "HeunDiscreteScheduler"),
                                     ("dpmpp_2m", "DPMSolverMultistepScheduler")])
def test_pass_runs_its_steps_at_the_end_of_a_longer_schedule(models, cache, key, cls):
    """steps=3 at strength 0.45: the last 3 steps of a 6-step schedule (A1111 "Hires
    steps: 3", ComfyUI steps 3 / denoise 0.45), not diffusers' int(3 * 0.45) = 1 step."""
    from aigif.render.schedulers import scheduler_class
    st = Hires(scale=1.5, strength=0.45, steps=3)
    res = _render(_meta(scheduler=key, stages=(st,)), cache)
    pipe = _sd(models["sd"])
    c, opts = scheduler_class(key)
    assert c.__name__ == cls
    pipe.scheduler = c.from_config(pipe.scheduler.config, **opts)
    lat = _first(pipe, output_type="latent")
    up = F.interpolate(lat, size=(24, 24), mode="bilinear")
    tail = _tail(pipe.scheduler, 3, 0.45)
    assert len(tail) == 3 and tail[0] < int(pipe.scheduler.timesteps[0])
    assert _same(res.image, _i2i(pipe, up, 0.45, steps=3))
    assert not res.approximate


@pytest.mark.parametrize("key", ["unipc", "dpm2", "ddim", "dpmpp_2m_karras"])
def test_schedulers_without_custom_timesteps_run_the_same_tail(models, cache, key,
                                                               monkeypatch):
    """These schedulers take no ``timesteps=`` argument: the timesteps the pass executes
    are the tail of the full schedule (DPM2: its interpolated half steps too)."""
    from aigif.render.schedulers import scheduler_class
    c, opts = scheduler_class(key)
    seen, step = [], c.step

    def spy(self, model_output, timestep, *a, **kw):
        seen.append(float(timestep))
        return step(self, model_output, timestep, *a, **kw)

    _render(_meta(scheduler=key), cache)                       # first pass alone: warm
    monkeypatch.setattr(c, "step", spy)
    _render(_meta(scheduler=key, stages=(Img2Img(strength=0.45, steps=3),)), cache)
    full = c.from_config(_sd(models["sd"]).scheduler.config, **opts)
    full.set_timesteps(4)
    first = [float(t) for t in full.timesteps]
    full.set_timesteps(int(3 / 0.45))
    n = 3 * full.order - (full.order - 1)
    assert seen == first + [float(t) for t in full.timesteps[-n:]]


def test_strength_zero_steps_zero_and_schedules_diffusers_cannot_lay_out(models, cache):
    from PIL import Image
    pipe = _sd(models["sd"])
    first = _first(pipe)[0]
    # strength 0: nothing is denoised, the upscaled image is the result
    res = _render(_meta(stages=(Hires(scale=1.25, upscaler="lanczos", strength=0.0),)), cache)
    assert _same(res.image, first.resize((40, 40), Image.LANCZOS))
    # steps 0: the first pass's 4 steps, the last 4 of int(4 / 0.5) = 8
    res = _render(_meta(stages=(Hires(scale=1.5, strength=0.5, steps=0),)), cache)
    lat = _first(pipe, output_type="latent")
    assert _same(res.image, _i2i(pipe, F.interpolate(lat, size=(24, 24), mode="bilinear"),
                                 0.5, steps=4))
    # int(4 / 0.001) = 4000 steps: more than the model's 1000 training timesteps
    long = _meta(stages=(Img2Img(strength=0.001),))
    with pytest.raises(RenderError, match=r"stages\[0\] \(img2img\).*4000-step.*1000"):
        _render(long, cache)
    res = _render(long, cache, approximate=True)
    assert res.approximate and "last 4 steps of a 1000-step schedule" in res.skipped[0]
    # PNDM lays out its warm-up steps too: no tail of the schedule to run
    pndm = _meta(scheduler="pndm", stages=(Img2Img(strength=0.5),))
    with pytest.raises(RenderError, match="PNDMScheduler lays out"):
        _render(pndm, cache)
    res = _render(pndm, cache, approximate=True)
    assert res.approximate and len(res.skipped) == 1 and "PNDMScheduler" in res.skipped[0]


def test_refiner_hand_over_equals_diffusers(models, cache):
    st = Refiner(model="stg-refiner", switch=0.75, aesthetic_score=7.0,
                 negative_aesthetic_score=2.0)
    res = _render(_meta("sdxl", stages=(st,)), cache)
    base = diffusers.StableDiffusionXLPipeline.from_pretrained(
        models["sdxl"], use_safetensors=True, add_watermarker=False)
    ref = diffusers.StableDiffusionXLImg2ImgPipeline.from_pretrained(
        models["refiner"], use_safetensors=True, add_watermarker=False)
    for p in (base, ref):
        p.set_progress_bar_config(disable=True)
        p.scheduler = diffusers.EulerDiscreteScheduler.from_config(p.scheduler.config)
    lat = _first(base, denoising_end=0.75, output_type="latent")
    want = ref(prompt=PROMPT, negative_prompt=NEG, num_inference_steps=4, guidance_scale=5.0,
               image=lat, denoising_start=0.75, aesthetic_score=7.0,
               negative_aesthetic_score=2.0, generator=_g()).images[0]
    assert _same(res.image, want)
    assert not _same(res.image, _render(_meta("sdxl"), cache).image)


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_controlnet_on_first_and_hires_pass(models, cache):
    from PIL import Image
    ctrl = Image.new("RGB", (32, 32), (255, 255, 255))
    ctrl.paste((0, 0, 0), (8, 8, 24, 24))
    ctrl2 = Image.new("RGB", (48, 48), (0, 0, 0))
    ctrl2.paste((255, 255, 255), (0, 0, 24, 48))
    stages = (ControlNet(model="stg-cn", scale=0.8, end=0.75, image=Payload("png", _png(ctrl))),
              Hires(scale=1.5, strength=0.5),
              ControlNet(model="stg-cn", scale=1.2, start=0.25, pass_index=2,
                         image=Payload("png", _png(ctrl2))))
    res = _render(_meta(stages=stages), cache)
    pipe = _sd(models["sd"])
    cn = diffusers.ControlNetModel.from_pretrained(models["cn"], use_safetensors=True)
    p1 = diffusers.StableDiffusionControlNetPipeline.from_pipe(pipe, controlnet=cn)
    p1.set_progress_bar_config(disable=True)
    lat = _first(p1, image=ctrl, controlnet_conditioning_scale=0.8, control_guidance_start=0.0,
                 control_guidance_end=0.75, output_type="latent")
    up = F.interpolate(lat, size=(24, 24), mode="bilinear")
    p2 = diffusers.StableDiffusionControlNetImg2ImgPipeline.from_pipe(pipe, controlnet=cn)
    p2.set_progress_bar_config(disable=True)
    # no timesteps argument here: 4 steps run of int(4 / 0.5) = 8 are int(8 * 0.5)
    want = p2(prompt=PROMPT, negative_prompt=NEG, num_inference_steps=8, guidance_scale=5.0,
              image=up, control_image=ctrl2, strength=0.5, controlnet_conditioning_scale=1.2,
              control_guidance_start=0.25, control_guidance_end=1.0, generator=_g()).images[0]
    assert _same(res.image, want)
    plain = _render(_meta(stages=(Hires(scale=1.5, strength=0.5),)), cache)
    assert not _same(plain.image, res.image)
    # two ControlNets on one pass: a MultiControlNet
    two = (ControlNet(model="stg-cn", scale=0.8, image=Payload("png", _png(ctrl))),
           ControlNet(model="stg-cn", scale=0.5, end=0.5, image=Payload("png", _png(ctrl2))))
    res = _render(_meta(stages=two), cache)
    p3 = diffusers.StableDiffusionControlNetPipeline.from_pipe(pipe, controlnet=[cn, cn])
    p3.set_progress_bar_config(disable=True)
    want = _first(p3, image=[ctrl, ctrl2], controlnet_conditioning_scale=[0.8, 0.5],
                  control_guidance_start=[0.0, 0.0], control_guidance_end=[1.0, 0.5])[0]
    assert _same(res.image, want)


@pytest.fixture(scope="module")
def lora(models, tmp_path_factory):
    pytest.importorskip("peft")
    path = tp.build_sd_lora(tmp_path_factory.mktemp("lora"))
    register_lora("stg-detail", path)
    yield path
    unregister_lora("stg-detail")


def test_lora_applied_and_unloaded(models, cache, lora):
    before = _render(_meta(stages=(Hires(scale=1.5, strength=0.5),)), cache).image
    meta = _meta(loras=(Lora("stg-detail", 0.7),), stages=(Hires(scale=1.5, strength=0.5),))
    res = _render(meta, cache)
    pipe = _sd(models["sd"])
    pipe.load_lora_weights(lora.parent, weight_name=lora.name, adapter_name="detail")
    pipe.set_adapters(["detail"], adapter_weights=[0.7])
    lat = _first(pipe, output_type="latent")
    want = _i2i(pipe, F.interpolate(lat, size=(24, 24), mode="bilinear"), 0.5)
    assert _same(res.image, want)
    assert not _same(res.image, before)
    # the cached pipeline is clean afterwards: the same file without the LoRA renders as before
    after = _render(_meta(stages=(Hires(scale=1.5, strength=0.5),)), cache)
    assert after.cache_hit and _same(after.image, before)
    # a LoRA file named by hash under another name is found; one nobody registered is not
    sha = register_lora("stg-detail", lora).sha256
    found = _render(_meta(loras=(Lora("Detail Tweaker", 0.7, sha256=sha[:10]),),
                          stages=(Hires(scale=1.5, strength=0.5),)), cache)
    assert _same(found.image, res.image)
    # clip_weight goes to the text encoders only: this LoRA has no text-encoder layers
    clip = _render(_meta(loras=(Lora("stg-detail", 0.7, clip_weight=0.2),),
                         stages=(Hires(scale=1.5, strength=0.5),)), cache)
    assert _same(clip.image, res.image)


def test_lora_loader_failure_is_a_render_error_and_leaves_no_adapter(models, lora):
    """A pipeline's load_lora_weights failing with something other than ValueError (here an
    AttributeError after the UNet's layers went in, as when a later component has no
    load_lora_adapter) is a RenderError naming the LoRA and the pipeline class, and the
    half-loaded adapter is removed; a pipeline without a loader is refused for the image."""
    from aigif.render.loras import LoraSession
    pipe = _sd(models["sd"])
    real = pipe.load_lora_weights

    def half_load(*a, **kw):
        real(*a, **kw)
        raise AttributeError("'TinyTextEncoder' object has no attribute 'load_lora_adapter'")

    pipe.load_lora_weights = half_load
    session = LoraSession()
    with pytest.raises(RenderError, match="'stg-detail'.*StableDiffusionPipeline") as e:
        session.activate(pipe, (Lora("stg-detail", 0.7),))
    assert e.value.field == "loras" and isinstance(e.value.__cause__, AttributeError)
    session.close()
    assert not any(pipe.get_list_adapters().values())
    assert not any("lora_" in n for n, _ in pipe.unet.named_parameters())

    class NoLoader:
        pass
    with pytest.raises(RenderError, match="NoLoader cannot load LoRAs; the image would"):
        LoraSession().activate(NoLoader(), (Lora("stg-detail"),))


def test_missing_and_unsafe_loras_are_refused(models, cache, tmp_path):
    with pytest.raises(ModelNotAvailableError, match="'no-such-lora'.*register_lora"):
        _render(_meta(loras=(Lora("no-such-lora"),)), cache)
    bad = tmp_path / "evil.pt"
    bad.write_bytes(b"\x80\x04pickle")
    with pytest.raises(RenderError, match="safetensors"):
        register_lora("evil", bad)
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\x80\x04pickle pretending")
    with pytest.raises(RenderError, match="not a safetensors"):
        register_lora("fake", fake)


# --------------------------------------------------------------------------- refusals
def test_unknown_stage_and_detailer_are_refused_or_skipped(models, cache):
    plain = _render(_meta(), cache).image
    unknown = _meta(stages=(UnknownStages(kind=99, data=b"\x01\x02"),))
    with pytest.raises(RenderError, match="upgrade aigif"):
        _render(unknown, cache)
    det = _meta(stages=(Detailer(detector="face_yolov8n.pt"),))
    with pytest.raises(RenderError, match=r"stages\[0\] \(detailer\).*face_yolov8n"):
        _render(det, cache)
    res = _render(det, cache, approximate=True)
    assert res.approximate is True and len(res.skipped) == 1
    assert "detailer" in res.skipped[0]
    assert _same(res.image, plain)          # the detailer's regions are left as they were
    res = _render(_meta(stages=(Hires(scale=1.5, strength=0.5),
                                UnknownStages(kind=99))), cache, approximate=True)
    assert res.approximate and "upgrade aigif" in res.skipped[0]
    assert res.image.size == (48, 48)       # the stages before it ran
    with pytest.raises(RenderError, match="skipped"):
        _render(det, cache, approximate=True, strict=True)
    net = _meta(stages=(Upscale(upscaler="model", upscaler_model="ckpt:4x-UltraSharp"),))
    with pytest.raises(RenderError, match="4x-UltraSharp"):
        _render(net, cache)
    res = _render(net, cache, approximate=True)
    assert res.approximate and "lanczos" in res.skipped[0]
    from PIL import Image
    assert _same(res.image, plain.resize((64, 64), Image.LANCZOS))


def test_stages_the_family_cannot_run_are_refused(models, cache, monkeypatch):
    from aigif.render import get_backend
    with monkeypatch.context() as m:
        m.setattr(type(get_backend("sd")), "img2img_class", None)
        with pytest.raises(RenderError, match="does not render generation stages"):
            _render(_meta(stages=(Upscale(upscaler="lanczos"),)), cache)
    with pytest.raises(RenderError, match="refiner"):
        _render(_meta(stages=(Refiner(model="stg-refiner"),)), cache)   # SD: no hand-over
    with pytest.raises(RenderError, match="pass_index 3"):
        _render(_meta(stages=(ControlNet(model="stg-cn", pass_index=3,
                                         image=Payload("png", b"x")),)), cache)
    with pytest.raises(RenderError, match="control image"):
        _render(_meta(stages=(ControlNet(model="stg-cn", params={"preprocessor": "canny"}),)),
                cache)


def test_register_lora_conflicts(lora, tmp_path):
    import shutil
    other = tmp_path / "other.safetensors"
    shutil.copy(lora, other)
    assert register_lora("stg-detail", other).sha256 == register_lora("stg-detail", lora).sha256
    from safetensors.torch import load_file, save_file
    sd = load_file(lora)
    k = sorted(sd)[0]
    sd[k] = sd[k] + 1
    save_file(sd, other)
    with pytest.raises(RegistryError, match="already registered"):
        register_lora("stg-detail", other)
    assert aigif.register_lora is register_lora
