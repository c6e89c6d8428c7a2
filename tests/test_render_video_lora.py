"""LoRAs on video families: a video file's LoRAs are applied with the pipeline's own
``load_lora_weights`` + ``set_adapters``, so a render is, bit for bit, the bare diffusers
call with the same LoRA file; they change the frames; the cached pipeline is clean
afterwards; a family whose pipeline has no LoRA loader refuses them (RenderError naming
``loras``). Tiny seeded pipelines (``tests/_tiny_video_pipelines.py``) loaded through
``from_pretrained``; tiny seeded LoRAs made with peft and saved as safetensors.
"""
from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
np = pytest.importorskip("numpy")
pytest.importorskip("peft")

import aigif  # noqa: E402
from aigif import GenerationMeta, Lora, Payload, Video  # noqa: E402
from aigif.errors import ModelNotAvailableError, RenderError  # noqa: E402
from aigif.render import PipelineCache, content_hash, register_model, render_meta  # noqa: E402
from aigif.render.backends.base import dtype_kwarg  # noqa: E402
from aigif.render.loras import register_lora, unregister_lora  # noqa: E402
from aigif.stages import Hires  # noqa: E402

import _tiny_pipelines as tp  # noqa: E402
import _tiny_video_pipelines as tv  # noqa: E402

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))

GENERATOR = {"wan": "wan", "animatediff": "animatediff", "ltx": "ltx_video",
             "cogvideox": "cogvideox", "hunyuan": "hunyuan_video"}
#: family -> (scheduler key, the diffusers class a user sets, its options)
SCHEDULERS = {"wan": ("unipc", "UniPCMultistepScheduler", {"flow_shift": 5.0}),
              "animatediff": ("ddim", "DDIMScheduler", {}),
              "ltx": ("flow_euler", "FlowMatchEulerDiscreteScheduler", {}),
              "cogvideox": ("cogvideox_ddim", "CogVideoXDDIMScheduler", {}),
              "hunyuan": ("flow_euler", "FlowMatchEulerDiscreteScheduler", {"shift": 5.0})}
TINY = {"wan": dict(width=16, height=16, video=dict(frames=5, flow_shift=5.0),
                    params={"max_sequence_length": 8}),
        "animatediff": dict(width=16, height=16, video=dict(frames=4, decode_chunk_size=2)),
        "ltx": dict(width=32, height=32, video=dict(frames=9, fps=24),
                    params={"max_sequence_length": 8}),
        "cogvideox": dict(width=16, height=16, video=dict(frames=9),
                          params={"max_sequence_length": 8}),
        "hunyuan": dict(width=16, height=16, video=dict(frames=5, flow_shift=5.0),
                        params={"max_sequence_length": 16, "true_cfg_scale": 2.0})}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """family -> {"model", ["motion_adapter"], "lora"}: the tiny model(s), registered
    under the names tests/test_render_video.py gives the same (seeded, so identical)
    weights (a file stores ``local:<hash>``, read back as the name registered for it), and
    a LoRA for it registered as ``vlora-<family>-style``."""
    root = tmp_path_factory.mktemp("video_lora")
    out = {}
    for fam in GENERATOR:
        out[fam] = tv.build(fam, root / fam)
        register_model(f"tiny-video-{fam}", out[fam]["model"], generator=GENERATOR[fam])
        if fam == "animatediff":    # an SD 1.5 LoRA (UNet attention), as AnimateDiff users load
            register_model("tiny-motion-adapter", out[fam]["motion_adapter"],
                           generator="animatediff")
            out[fam]["lora"] = tp.build_sd_lora(root / "lora-animatediff")
        else:
            out[fam]["lora"] = tv.build_video_lora(fam, out[fam]["model"], root / f"lora-{fam}")
        register_lora(f"vlora-{fam}-style", out[fam]["lora"])
    yield out
    for fam in GENERATOR:
        unregister_lora(f"vlora-{fam}-style")
    from aigif.registry import models as _models
    for name in [f"tiny-video-{fam}" for fam in GENERATOR] + ["tiny-motion-adapter"]:
        _models.unregister(name)


def _meta(fam: str, models, **kw) -> GenerationMeta:
    t = TINY[fam]
    video = dict(t["video"])
    if fam == "animatediff":
        video["motion_adapter"] = f"local:{content_hash(models[fam]['motion_adapter']).hex()}"
    p = dict(width=t["width"], height=t["height"], steps=2, seed=77, guidance_scale=5.0,
             scheduler=SCHEDULERS[fam][0], prompt="a paper boat on a river",
             negative_prompt="blurry", params=t.get("params", {}), video=Video(**video))
    p.update(kw)
    return GenerationMeta(model=f"tiny-video-{fam}", generator=GENERATOR[fam], **p)


def _render(meta, cache):
    return render_meta(meta, device="cpu", cache=cache).video.frames


def _bare(fam: str, models, meta: GenerationMeta, loras=()) -> np.ndarray:
    """The same video with diffusers alone: ``from_pretrained``, then for each LoRA
    ``load_lora_weights(dir, weight_name=...)`` and ``set_adapters(names, weights)``."""
    kw = {}
    if fam == "animatediff":
        kw["motion_adapter"] = diffusers.MotionAdapter.from_pretrained(
            models[fam]["motion_adapter"], **dtype_kwarg(torch.float32), use_safetensors=True)
    cls = getattr(diffusers, tv.PIPELINES[fam])
    pipe = cls.from_pretrained(models[fam]["model"], **dtype_kwarg(torch.float32),
                               use_safetensors=True, **kw)
    pipe.set_progress_bar_config(disable=True)
    names = []
    for i, (path, _) in enumerate(loras):
        pipe.load_lora_weights(path.parent, weight_name=path.name, adapter_name=f"user{i}")
        names.append(f"user{i}")
    if names:
        pipe.set_adapters(names, adapter_weights=[w for _, w in loras])
    sched_cls, opts = SCHEDULERS[fam][1:]
    pipe.scheduler = getattr(diffusers, sched_cls).from_config(pipe.scheduler.config, **opts)
    call = dict(meta.params)
    if fam == "ltx":
        call["frame_rate"] = 24
    if fam == "animatediff":
        call["decode_chunk_size"] = meta.video.decode_chunk_size
    frames = pipe(meta.prompt, negative_prompt=meta.negative_prompt,
                  num_inference_steps=meta.steps, guidance_scale=meta.guidance_scale,
                  width=meta.width, height=meta.height, num_frames=meta.video.frames,
                  generator=torch.Generator("cpu").manual_seed(meta.seed),
                  output_type="pil", **call).frames[0]
    return np.stack([np.asarray(im.convert("RGB")) for im in frames])


@pytest.mark.parametrize("fam", sorted(GENERATOR))
def test_video_lora_equals_bare_call_and_does_not_leak(fam, models):
    cache = PipelineCache()
    plain = _meta(fam, models)
    styled = _meta(fam, models, loras=(Lora(f"vlora-{fam}-style", 0.7),))
    base = _render(plain, cache)
    with_lora = _render(styled, cache)
    # the LoRA changes the frames, and the render is the bare call with that LoRA file
    assert not np.array_equal(with_lora, base)
    assert np.array_equal(with_lora, _bare(fam, models, styled, [(models[fam]["lora"], 0.7)]))
    # a second render (the LoRA loaded again on the cached pipeline) is the same
    assert np.array_equal(_render(styled, cache), with_lora)
    # the cached pipeline is clean afterwards: without the LoRA = a fresh render without it
    after = render_meta(plain, device="cpu", cache=cache)
    assert after.cache_hit
    assert np.array_equal(after.video.frames, base)
    assert np.array_equal(after.video.frames, _render(plain, PipelineCache()))


def test_video_lora_weight_and_hash(models):
    cache = PipelineCache()
    lora = models["wan"]["lora"]
    w7 = _render(_meta("wan", models, loras=(Lora("vlora-wan-style", 0.7),)), cache)
    w3 = _render(_meta("wan", models, loras=(Lora("vlora-wan-style", 0.3),)), cache)
    assert not np.array_equal(w7, w3)          # the file's weight reaches set_adapters
    # a LoRA named by its file's SHA-256 (as an importer records it) is found by hash
    sha = register_lora("vlora-wan-style", lora).sha256
    by_hash = _render(_meta("wan", models, loras=(Lora("lightx2v_style", 0.7,
                                                       sha256=sha[:10]),)), cache)
    assert np.array_equal(by_hash, w7)
    # two LoRAs: both applied with their weights, as set_adapters([a, b], [wa, wb])
    other = tv.build_video_lora("wan", models["wan"]["model"], lora.parent / "other", seed=11)
    register_lora("vlora-wan-other", other)
    try:
        two = (Lora("vlora-wan-style", 0.7), Lora("vlora-wan-other", 0.5))
        meta = _meta("wan", models, loras=two)
        got = _render(meta, cache)
        assert np.array_equal(got, _bare("wan", models, meta, [(lora, 0.7), (other, 0.5)]))
        assert not np.array_equal(got, w7)
    finally:
        unregister_lora("vlora-wan-other")


def test_video_lora_refusals(models):
    cache = PipelineCache()
    # a LoRA not on this machine: ModelNotAvailableError naming it; the pipeline stays clean
    with pytest.raises(ModelNotAvailableError, match="'no-such-video-lora'") as e:
        _render(_meta("wan", models, loras=(Lora("vlora-wan-style", 0.7),
                                            Lora("no-such-video-lora"))), cache)
    assert e.value.field == "loras"
    assert np.array_equal(_render(_meta("wan", models), cache),
                          _render(_meta("wan", models), PipelineCache()))
    # a LoRA made for another family does not fit: RenderError naming loras
    with pytest.raises(RenderError) as e:
        _render(_meta("wan", models, loras=(Lora("vlora-ltx-style"),)), cache)
    assert e.value.field == "loras"
    assert np.array_equal(_render(_meta("wan", models), cache),
                          _render(_meta("wan", models), PipelineCache()))
    # Stable Video Diffusion's pipeline has no LoRA loader: refused before loading anything
    svd = GenerationMeta(model="stabilityai/stable-video-diffusion-img2vid-xt",
                         generator="stable_video_diffusion", seed=1,
                         loras=(Lora("vlora-wan-style"),),
                         video=Video(image=Payload("png", b"\x89PNG\r\n\x1a\n")))
    with pytest.raises(RenderError, match="no LoRA loader") as e:
        render_meta(svd, device="cpu", cache=cache)
    assert e.value.field == "loras"
    # TextToVideoSD's pipeline has the SD loader, but its 3D UNet cannot take a LoRA
    t2v = GenerationMeta(model="damo-vilab/text-to-video-ms-1.7b", generator="text_to_video_sd",
                         seed=1, prompt="waves", loras=(Lora("vlora-wan-style"),), video=Video())
    with pytest.raises(RenderError, match="cannot load LoRAs") as e:
        render_meta(t2v, device="cpu", cache=cache)
    assert e.value.field == "loras"
    # nor has the embedded tiny video model's
    tiny = GenerationMeta(model="aigif-tiny-video", generator="aigif_tiny_video", seed=1,
                          prompt="a red circle moving right", loras=(Lora("vlora-wan-style"),),
                          video=Video())
    with pytest.raises(RenderError, match="cannot load LoRAs") as e:
        render_meta(tiny, device="cpu", cache=cache)
    assert e.value.field == "loras"
    # generation stages of a video file are still refused, naming the field
    with pytest.raises(RenderError) as e:
        _render(_meta("wan", models, stages=(Hires(scale=1.5, strength=0.5),)), cache)
    assert e.value.field == "stages"


def test_video_lora_through_an_aigif_file(models, tmp_path):
    meta = _meta("wan", models, loras=(Lora("vlora-wan-style", 0.7),))
    path = tmp_path / "styled.aigif"
    aigif.save(meta, path)
    assert aigif.open(path).meta.loras == meta.loras
    got = aigif.open(path).render(device="cpu").video.frames
    assert np.array_equal(got, _bare("wan", models, meta, [(models["wan"]["lora"], 0.7)]))


def test_video_lora_on_image_to_video(models):
    """LTX-Video image-to-video (LTXImageToVideoPipeline built from the cached LTXPipeline's
    components): the LoRA applies there too, as on LTXImageToVideoPipeline.from_pretrained
    with load_lora_weights; and the cached pipeline is clean afterwards."""
    import io

    from PIL import Image
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24, 3), np.uint8))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    video = dict(TINY["ltx"]["video"], image=Payload("png", buf.getvalue()))
    meta = _meta("ltx", models, video=Video(**video), loras=(Lora("vlora-ltx-style", 0.7),))
    cache = PipelineCache()
    got = _render(meta, cache)
    lora = models["ltx"]["lora"]
    pipe = diffusers.LTXImageToVideoPipeline.from_pretrained(
        models["ltx"]["model"], **dtype_kwarg(torch.float32), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(lora.parent, weight_name=lora.name, adapter_name="user")
    pipe.set_adapters(["user"], adapter_weights=[0.7])
    frames = pipe(image=img, prompt=meta.prompt, negative_prompt=meta.negative_prompt,
                  num_inference_steps=2, guidance_scale=5.0, width=32, height=32,
                  num_frames=9, frame_rate=24, max_sequence_length=8, output_type="pil",
                  generator=torch.Generator("cpu").manual_seed(meta.seed)).frames[0]
    assert np.array_equal(got, np.stack([np.asarray(f.convert("RGB")) for f in frames]))
    plain = meta.replace(loras=())
    without = _render(plain, cache)
    assert not np.array_equal(without, got)
    assert np.array_equal(without, _render(plain, PipelineCache()))


def test_video_lora_loader_failure_and_wording(tmp_path):
    """TextToVideoSDPipeline has the SD loader, but its UNet3DConditionModel has no
    load_lora_adapter: load_lora_weights raises AttributeError. A LoraSession turns that
    into a RenderError naming the LoRA and the pipeline class, and the pipeline is left
    with no adapter. A video model without a loader is refused for the video, not the
    image."""
    from aigif.render.loras import LoraSession
    model = tv.build_t2vsd(tmp_path / "t2v")
    register_lora("vlora-sd-for-t2v", tp.build_sd_lora(tmp_path / "lora"))
    try:
        pipe = diffusers.TextToVideoSDPipeline.from_pretrained(
            model, **dtype_kwarg(torch.float32), use_safetensors=True)
        session = LoraSession(output="video")
        with pytest.raises(RenderError, match="'vlora-sd-for-t2v'.*TextToVideoSDPipeline"
                           ".*AttributeError") as e:
            session.activate(pipe, (Lora("vlora-sd-for-t2v", 0.7),))
        assert e.value.field == "loras" and "video" in str(e.value)
        session.close()
        assert not any(pipe.get_list_adapters().values())
    finally:
        unregister_lora("vlora-sd-for-t2v")
    tiny = GenerationMeta(model="aigif-tiny-video", generator="aigif_tiny_video", seed=1,
                          prompt="a red circle moving right", loras=(Lora("vlora-any"),),
                          video=Video())
    with pytest.raises(RenderError, match="cannot load LoRAs; the video would differ"):
        render_meta(tiny, device="cpu", cache=PipelineCache())
