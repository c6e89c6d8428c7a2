"""Image-to-video rendering: the conditioning image a video file stores (``video.image``, a
pixel payload) is decoded and passed as the pipeline's ``image``, and the render is the
bare diffusers call bit for bit (tiny pipelines with seeded random weights, saved and
loaded through ``from_pretrained``; ``tests/_tiny_video_pipelines.py``):

- ``ltx_video`` with an image: ``LTXImageToVideoPipeline`` on the LTX weights;
- ``wan`` on a Wan 2.1 I2V checkpoint (``model_index.json`` names
  ``WanImageToVideoPipeline``): that pipeline, loaded as such; ``cogvideox`` likewise on a
  ``CogVideoXImageToVideoPipeline`` checkpoint;
- ``stable_video_diffusion``: ``StableVideoDiffusionPipeline`` with the micro-conditioning
  of the syntax (fps, motion_bucket_id, noise_aug_strength, decode_chunk_size).
"""
from __future__ import annotations

import io
import os
import warnings
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
np = pytest.importorskip("numpy")
from PIL import Image  # noqa: E402

import aigif  # noqa: E402
from aigif import GenerationMeta, Payload, Video  # noqa: E402
from aigif.errors import AigifWarning, RenderError  # noqa: E402
from aigif.render import PipelineCache, VideoFrames, register_model, render_meta  # noqa: E402
from aigif.render.backends import generator_for_pipeline_class, get_backend  # noqa: E402
from aigif.render.backends.base import dtype_kwarg  # noqa: E402

import _tiny_video_pipelines as tv  # noqa: E402

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))


def _image(seed: int, size=(24, 20)) -> Image.Image:
    """A conditioning image with structure (a gradient plus noise), not the pipeline's size:
    the pipelines resize it themselves."""
    w, h = size
    rs = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)], -1)
    a = np.clip(a + rs.randint(-40, 40, a.shape), 0, 255).astype("uint8")
    return Image.fromarray(a, "RGB")


def _png(im: Image.Image) -> Payload:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return Payload("png", buf.getvalue())


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("i2v_models")
    out = {"ltx": tv.build_ltx(root / "ltx"), "svd": tv.build_svd(root / "svd"),
           "wan_i2v": tv.build_wan_i2v(root / "wan_i2v"), "wan": tv.build_wan(root / "wan")}
    register_model("tiny-i2v-ltx", out["ltx"], generator="ltx_video")
    register_model("tiny-wan-i2v", out["wan_i2v"])   # family read from model_index.json
    register_model("tiny-wan-t2v", out["wan"], generator="wan")
    out["cog_i2v"] = tv.build_cogvideox_i2v(root / "cog_i2v")
    register_model("tiny-cog-i2v", out["cog_i2v"])
    register_model("tiny-svd", out["svd"])         # family read from model_index.json
    return out


def _render(meta, cache=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AigifWarning)
        return render_meta(meta, device="cpu",
                           cache=PipelineCache(maxsize=1) if cache is None else cache, **kw)


def _frames(out) -> np.ndarray:
    return np.stack([np.asarray(im.convert("RGB")) for im in out.frames[0]])


def _bare(cls_name: str, path, **call) -> np.ndarray:
    """The bare diffusers call, as its documentation shows (``output_type="pil"``, a CPU
    generator seeded with the file's seed)."""
    pipe = getattr(diffusers, cls_name).from_pretrained(path, **dtype_kwarg(torch.float32),
                                                        use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    seed = call.pop("seed")
    return _frames(pipe(generator=torch.Generator("cpu").manual_seed(seed),
                        output_type="pil", **call))


# --------------------------------------------------------------------------- LTX-Video
def _ltx(image=None, **kw) -> GenerationMeta:
    p = dict(model="tiny-i2v-ltx", generator="ltx_video", prompt="a red fox running",
             negative_prompt="blurry", seed=1234, steps=2, guidance_scale=5.0, width=32,
             height=32, params={"max_sequence_length": 8},
             video=Video(frames=9, fps=24, image=image))
    p.update(kw)
    return GenerationMeta(**p)


def test_ltx_image_to_video_equals_bare_call(models):
    img = _image(0)
    meta = _ltx(_png(img))
    cache = PipelineCache(maxsize=1)
    res = _render(meta, cache)
    v = res.video
    assert isinstance(v, VideoFrames) and v.frames.shape == (9, 32, 32, 3)
    want = _bare("LTXImageToVideoPipeline", models["ltx"], image=img, prompt=meta.prompt,
                 negative_prompt=meta.negative_prompt, num_inference_steps=2,
                 guidance_scale=5.0, width=32, height=32, num_frames=9, frame_rate=24,
                 max_sequence_length=8, seed=1234)
    assert np.array_equal(v.frames, want)
    # the image is what conditions it: text-to-video from the same weights and another
    # image give other frames, on the one cached pipeline (i2v shares its components)
    t2v = _render(_ltx(None), cache)
    assert t2v.cache_hit and not np.array_equal(t2v.video.frames, v.frames)
    other = _render(_ltx(_png(_image(1))), cache)
    assert other.cache_hit and not np.array_equal(other.video.frames, v.frames)
    assert len(cache) == 1
    again = _render(meta, cache)
    assert np.array_equal(again.video.frames, v.frames)
    # and text-to-video after image-to-video is still the bare LTXPipeline call
    want_t2v = _bare("LTXPipeline", models["ltx"], prompt=meta.prompt,
                     negative_prompt=meta.negative_prompt, num_inference_steps=2,
                     guidance_scale=5.0, width=32, height=32, num_frames=9, frame_rate=24,
                     max_sequence_length=8, seed=1234)
    assert np.array_equal(_render(_ltx(None), cache).video.frames, want_t2v)


# --------------------------------------------------------------------------- Wan I2V
def _wan(model="tiny-wan-i2v", image=None, **kw) -> GenerationMeta:
    p = dict(model=model, generator="wan", prompt="a cat surfing", negative_prompt="blurry",
             seed=77, steps=2, guidance_scale=5.0, width=16, height=16,
             params={"max_sequence_length": 8},
             video=Video(frames=5, flow_shift=5.0, image=image))
    p.update(kw)
    return GenerationMeta(**p)


def test_wan_i2v_checkpoint_equals_bare_call(models):
    pytest.importorskip("ftfy")     # diffusers' WanImageToVideoPipeline calls it unguarded
    img = _image(6)
    meta = _wan(image=_png(img))
    cache = PipelineCache(maxsize=1)
    res = _render(meta, cache)
    pipe = diffusers.WanImageToVideoPipeline.from_pretrained(
        models["wan_i2v"], **dtype_kwarg(torch.float32), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = diffusers.UniPCMultistepScheduler.from_config(pipe.scheduler.config,
                                                                   flow_shift=5.0)
    want = _frames(pipe(image=img, prompt=meta.prompt, negative_prompt=meta.negative_prompt,
                        width=16, height=16, num_frames=5, num_inference_steps=2,
                        guidance_scale=5.0, max_sequence_length=8,
                        generator=torch.Generator("cpu").manual_seed(77), output_type="pil"))
    assert res.video.frames.shape == (5, 16, 16, 3)
    assert np.array_equal(res.video.frames, want)
    other = _render(_wan(image=_png(_image(7))), cache)
    assert other.cache_hit and not np.array_equal(other.video.frames, res.video.frames)
    assert generator_for_pipeline_class("WanImageToVideoPipeline") == "wan"
    assert aigif.registry.models.get("tiny-wan-i2v").generator == "wan"


def test_wan_checkpoints_refuse_the_wrong_kind(models):
    # an image-to-video checkpoint without an image
    with pytest.raises(RenderError, match="image-to-video checkpoint") as e:
        _render(_wan())
    assert e.value.field == "video.image"
    # a text-to-video checkpoint with an image: never rendered without it
    with pytest.raises(RenderError, match="text-to-video checkpoint") as e:
        _render(_wan("tiny-wan-t2v", image=_png(_image(0))))
    assert e.value.field == "video.image"


# --------------------------------------------------------------------------- CogVideoX I2V
def test_cogvideox_i2v_checkpoint_equals_bare_call(models):
    img = _image(8)
    meta = GenerationMeta(model="tiny-cog-i2v", generator="cogvideox", prompt="a red fox",
                          negative_prompt="blurry", seed=5, steps=2, guidance_scale=6.0,
                          width=16, height=16, params={"max_sequence_length": 8},
                          video=Video(frames=9, image=_png(img)))
    assert aigif.registry.models.get("tiny-cog-i2v").generator == "cogvideox"
    cache = PipelineCache(maxsize=1)
    res = _render(meta, cache)
    want = _bare("CogVideoXImageToVideoPipeline", models["cog_i2v"], image=img,
                 prompt=meta.prompt, negative_prompt=meta.negative_prompt, width=16,
                 height=16, num_frames=9, num_inference_steps=2, guidance_scale=6.0,
                 max_sequence_length=8, seed=5)
    assert res.video.frames.shape == (9, 16, 16, 3)
    assert np.array_equal(res.video.frames, want)
    other = _render(meta.replace(video=Video(frames=9, image=_png(_image(9)))), cache)
    assert other.cache_hit and not np.array_equal(other.video.frames, res.video.frames)
    with pytest.raises(RenderError, match="image-to-video checkpoint"):
        _render(meta.replace(video=Video(frames=9)), cache)


# --------------------------------------------------------------------------- SVD
def _svd(image, video=None, **kw) -> GenerationMeta:
    v = dict(frames=4, decode_chunk_size=2, image=image)
    v.update(video or {})
    p = dict(model="tiny-svd", generator="stable_video_diffusion", seed=99, steps=2,
             width=16, height=16, video=Video(**v))
    p.update(kw)
    return GenerationMeta(**p)


def test_svd_defaults_are_the_pipeline_calls():
    d = aigif.registry.generators.get("stable_video_diffusion").defaults
    assert (d.steps, d.guidance_scale, d.scheduler, d.width, d.height) == \
        (25, 3.0, "euler_karras", 1024, 576)
    v = d.video
    assert (v.frames, v.fps, v.motion_bucket_id, v.noise_aug_strength, v.decode_chunk_size) \
        == (25, Fraction(7), 127, 0.02, 0)
    import inspect
    sig = inspect.signature(diffusers.StableVideoDiffusionPipeline.__call__).parameters
    assert sig["num_inference_steps"].default == d.steps
    assert sig["max_guidance_scale"].default == d.guidance_scale
    assert (sig["width"].default, sig["height"].default) == (d.width, d.height)
    assert sig["fps"].default == v.fps and sig["motion_bucket_id"].default == \
        v.motion_bucket_id and sig["noise_aug_strength"].default == v.noise_aug_strength
    assert sig["decode_chunk_size"].default is None      # None: all frames, stored as 0
    # a file of SVD defaults with its image stores no video field but the image
    meta = GenerationMeta(model="stabilityai/stable-video-diffusion-img2vid-xt",
                          generator="stable_video_diffusion", seed=1,
                          video=Video(image=_png(_image(0, (4, 4)))))
    back = aigif.loads(aigif.dumps(meta)).meta
    assert back == meta and back.video.motion_bucket_id == 127


def test_svd_equals_bare_call(models):
    img = _image(2)
    meta = _svd(_png(img))
    res = _render(meta)
    v = res.video
    assert v.frames.shape == (4, 16, 16, 3) and v.fps == 7 and v.frames.std() > 0
    want = _bare("StableVideoDiffusionPipeline", models["svd"], image=img, width=16,
                 height=16, num_frames=4, num_inference_steps=2, decode_chunk_size=2,
                 seed=99)
    assert np.array_equal(v.frames, want)


def test_svd_micro_conditioning_reaches_the_pipeline(models):
    """Each SVD field of the syntax changes the frames, and a file with all of them set
    renders as the bare call with those arguments."""
    img = _image(3)
    cache = PipelineCache(maxsize=1)
    base = _render(_svd(_png(img)), cache).video.frames
    changes = {"fps": dict(video={"fps": 12}),
               "motion_bucket_id": dict(video={"motion_bucket_id": 30}),
               "noise_aug_strength": dict(video={"noise_aug_strength": 0.5}),
               "guidance": dict(guidance_scale=6.0),
               "min_guidance_scale": dict(params={"min_guidance_scale": 2.0}),
               "image": dict(image=_png(_image(4)))}
    for name, kw in changes.items():
        image = kw.pop("image", _png(img))
        r = _render(_svd(image, **kw), cache)
        assert r.cache_hit and not np.array_equal(r.video.frames, base), name
    meta = _svd(_png(img), video={"fps": Fraction(12), "motion_bucket_id": 30,
                                  "noise_aug_strength": 0.5, "decode_chunk_size": 0},
                guidance_scale=6.0, params={"min_guidance_scale": 2.0}, scheduler="euler")
    res = _render(meta, cache)
    assert res.video.fps == 12
    pipe = diffusers.StableVideoDiffusionPipeline.from_pretrained(
        models["svd"], **dtype_kwarg(torch.float32), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(pipe.scheduler.config,
                                                                  use_karras_sigmas=False)
    want = _frames(pipe(img, width=16, height=16, num_frames=4, num_inference_steps=2,
                        fps=12, motion_bucket_id=30, noise_aug_strength=0.5,
                        max_guidance_scale=6.0, min_guidance_scale=2.0,
                        generator=torch.Generator("cpu").manual_seed(99), output_type="pil"))
    assert np.array_equal(res.video.frames, want)


def test_svd_through_an_aigif_file(models, tmp_path):
    """``aigif.open(p).render()`` of an image-to-video file: the image travels in the file
    (here as lossless WebP) and the frames are those of the bare call on the decoded
    image; ``aigif.generate`` gives the same frames and a file that renders them again."""
    img = _image(5)
    buf = io.BytesIO()
    img.save(buf, "WEBP", lossless=True)
    meta = _svd(Payload("webp", buf.getvalue()))
    p = tmp_path / "wave.aigif"
    aigif.save(meta, p)
    f = aigif.open(p)
    assert f.is_video and f.meta == meta
    cache = PipelineCache(maxsize=1)
    res = f.render(device="cpu", cache=cache)
    decoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    assert np.array_equal(np.asarray(decoded), np.asarray(img))
    want = _bare("StableVideoDiffusionPipeline", models["svd"], image=decoded, width=16,
                 height=16, num_frames=4, num_inference_steps=2, decode_chunk_size=2, seed=99)
    assert np.array_equal(res.video.frames, want)
    frames, data = aigif.generate(meta, device="cpu", cache=cache)
    assert np.array_equal(frames.frames, want)
    assert np.array_equal(aigif.loads(data).render(device="cpu", cache=cache).video.frames,
                          want)


def test_i2v_refusals(models):
    # SVD is image-to-video only
    with pytest.raises(RenderError, match="video.image|conditioning image"):
        _render(_svd(None))
    # a text-to-video family cannot apply an image
    hv = GenerationMeta(model="hunyuanvideo-community/HunyuanVideo", generator="hunyuan_video",
                        seed=1, prompt="x", video=Video(image=_png(_image(0, (4, 4)))))
    with pytest.raises(RenderError, match="text-to-video only"):
        get_backend("hunyuan_video").check(hv)
    # SVD takes no prompt: warned, refused with strict=True
    meta = _svd(_png(_image(0)), prompt="a wave")
    with pytest.warns(AigifWarning, match="prompt"):
        render_meta(meta, device="cpu", cache=PipelineCache(maxsize=1))
    with pytest.raises(RenderError, match="prompt"):
        render_meta(meta, device="cpu", cache=PipelineCache(maxsize=1), strict=True)
    # a scheduler SVD's config cannot run
    with pytest.raises(RenderError, match="cannot run scheduler"):
        _render(_svd(_png(_image(0)), scheduler="ddim"))
    # an image that does not decode is a RenderError naming the field
    with pytest.raises(RenderError, match="conditioning image") as e:
        _render(_svd(Payload("png", b"\x89PNG\r\n\x1a\nbroken")))
    assert e.value.field == "video.image"
    # SVD's temporal-decoder VAE has no tiled decoding
    with pytest.raises(RenderError, match="tiled"):
        _render(_svd(_png(_image(0)), video={"vae_tiling": True}))


def test_i2v_families_are_found_from_model_index(models):
    assert generator_for_pipeline_class("StableVideoDiffusionPipeline") == \
        "stable_video_diffusion"
    assert generator_for_pipeline_class("LTXImageToVideoPipeline") == "ltx_video"
    assert aigif.registry.models.get("tiny-svd").generator == "stable_video_diffusion"
