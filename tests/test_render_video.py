"""Video rendering: every video family renders bit-for-bit like the bare diffusers call
(tiny pipelines with seeded random weights, saved and loaded through ``from_pretrained``;
``tests/_tiny_video_pipelines.py``), and returns ``VideoFrames`` (uint8 [T, H, W, 3] + fps).
"""
from __future__ import annotations

import os
import warnings
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
np = pytest.importorskip("numpy")

import aigif  # noqa: E402
from aigif import GenerationMeta, Video  # noqa: E402
from aigif.document import AigifFile  # noqa: E402
from aigif.errors import (AigifWarning, MetaError, ModelNotAvailableError,  # noqa: E402
                          RenderError)
from aigif.render import PipelineCache, VideoFrames, content_hash, register_model  # noqa: E402
from aigif.render import render_meta  # noqa: E402
from aigif.render.backends import get_backend  # noqa: E402
from aigif.render.backends.base import dtype_kwarg  # noqa: E402
from aigif.render.backends.video import VideoBackend  # noqa: E402

import _tiny_video_pipelines as tv  # noqa: E402

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))

#: test family name (tests/_tiny_video_pipelines.py) -> generator key
GENERATOR = {"animatediff": "animatediff", "cogvideox": "cogvideox", "ltx": "ltx_video",
             "wan": "wan", "t2vsd": "text_to_video_sd", "hunyuan": "hunyuan_video"}

#: family -> (scheduler key, the diffusers class a user would set, its from_config options)
SCHEDULERS = {
    "animatediff": ("ddim", "DDIMScheduler", {}),
    "cogvideox": ("cogvideox_ddim", "CogVideoXDDIMScheduler", {}),
    "ltx": ("flow_euler", "FlowMatchEulerDiscreteScheduler", {}),
    "wan": ("unipc", "UniPCMultistepScheduler", {"flow_shift": 5.0}),
    "t2vsd": ("ddim", "DDIMScheduler", {}),
    "hunyuan": ("flow_euler", "FlowMatchEulerDiscreteScheduler", {"shift": 5.0}),
}

#: family -> the tiny render: size, frames, the video fields and params the test sets
TINY = {
    "animatediff": dict(width=16, height=16, video=dict(frames=4, decode_chunk_size=2)),
    "cogvideox": dict(width=16, height=16, video=dict(frames=9),
                      params={"max_sequence_length": 8}),
    "ltx": dict(width=32, height=32, video=dict(frames=9, fps=24),
                params={"max_sequence_length": 8}),
    "wan": dict(width=16, height=16, video=dict(frames=5, flow_shift=5.0),
                params={"max_sequence_length": 8}),
    "t2vsd": dict(width=16, height=16, video=dict(frames=4)),
    "hunyuan": dict(width=16, height=16, video=dict(frames=5, flow_shift=5.0),
                    params={"max_sequence_length": 16, "true_cfg_scale": 2.0}),
}


@pytest.fixture(scope="session")
def video_models(tmp_path_factory):
    """Family -> its tiny model directories (built once per session), each registered as
    ``tiny-video-<family>``; the motion adapter as ``tiny-motion-adapter``."""
    root = tmp_path_factory.mktemp("video_models")
    out = {}
    for fam in tv.FAMILIES:
        out[fam] = tv.build(fam, root / fam)
        register_model(f"tiny-video-{fam}", out[fam]["model"], generator=GENERATOR[fam])
    register_model("tiny-motion-adapter", out["animatediff"]["motion_adapter"],
                   generator="animatediff")
    return out


def _adapter_ref(models) -> str:
    return f"local:{content_hash(models['animatediff']['motion_adapter']).hex()}"


def _meta(fam: str, models, **kw) -> GenerationMeta:
    t = TINY[fam]
    video = dict(t["video"])
    if fam == "animatediff":
        video["motion_adapter"] = _adapter_ref(models)
    video.update(kw.pop("video", {}))
    p = dict(width=t["width"], height=t["height"], steps=2, seed=1234, guidance_scale=5.0,
             scheduler=SCHEDULERS[fam][0], prompt="a red fox running in the snow",
             negative_prompt="blurry", params=t.get("params", {}), video=Video(**video))
    p.update(kw)
    return GenerationMeta(model=f"tiny-video-{fam}", generator=GENERATOR[fam], **p)


def _direct(fam: str, models, meta: GenerationMeta, sched: tuple | None = None,
            **call) -> np.ndarray:
    """The same video with diffusers alone, as its documentation shows; frames as uint8.
    ``sched``: (class name, options) instead of the family's in SCHEDULERS."""
    cls = getattr(diffusers, tv.PIPELINES[fam])
    kw = {}
    if fam == "animatediff":
        kw["motion_adapter"] = diffusers.MotionAdapter.from_pretrained(
            models[fam]["motion_adapter"], **dtype_kwarg(torch.float32), use_safetensors=True)
    pipe = cls.from_pretrained(models[fam]["model"], **dtype_kwarg(torch.float32),
                               use_safetensors=True, **kw)
    pipe.set_progress_bar_config(disable=True)
    sched_cls, opts = sched or SCHEDULERS[fam][1:]
    opts = dict(opts)
    if fam == "wan":
        opts["flow_shift"] = meta.video.flow_shift
    pipe.scheduler = getattr(diffusers, sched_cls).from_config(pipe.scheduler.config, **opts)
    call.update(meta.params)
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


def _render(meta, cache=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AigifWarning)
        return render_meta(meta, device="cpu",
                           cache=PipelineCache(maxsize=1) if cache is None else cache, **kw)


@pytest.mark.parametrize("fam", tv.FAMILIES)
def test_video_render_equals_bare_diffusers_call(fam, video_models):
    meta = _meta(fam, video_models)
    cache = PipelineCache(maxsize=1)
    res = _render(meta, cache)
    v = res.video
    assert isinstance(v, VideoFrames) and res.image is None and res.exact is None
    assert v.frames.dtype == np.uint8
    assert v.frames.shape == (meta.video.frames, meta.height, meta.width, 3)
    assert v.fps == meta.video.fps and len(v) == meta.video.frames
    assert v.frames.std() > 0
    want = _direct(fam, video_models, meta)
    assert np.array_equal(v.frames, want)
    again = _render(meta, cache)
    assert again.cache_hit and np.array_equal(again.video.frames, v.frames)
    other = _render(meta.replace(seed=99), cache)
    assert not np.array_equal(other.video.frames, v.frames)


def test_video_fields_change_the_frames(video_models):
    """The video fields the syntax carries reach the pipeline: a different motion adapter,
    flow shift, frame rate (LTX conditions on it) or frame count gives other frames."""
    cache = PipelineCache(maxsize=1)
    base = {f: _render(_meta(f, video_models), cache).video.frames for f in ("wan", "ltx")}
    shifted = _render(_meta("wan", video_models, video={"flow_shift": 2.0}), cache)
    assert not np.array_equal(shifted.video.frames, base["wan"])
    fps = _render(_meta("ltx", video_models, video={"fps": 12}), cache)
    assert fps.video.fps == 12 and not np.array_equal(fps.video.frames, base["ltx"])
    longer = _render(_meta("wan", video_models, video={"frames": 9}), cache)
    assert len(longer.video) == 9


def test_animatediff_adapter_and_chunking(video_models, tmp_path):
    """The motion adapter is part of the cache key and changes the frames; decode chunking
    is passed through (the bare call with the same chunk size matched above)."""
    cache = PipelineCache(maxsize=2)
    meta = _meta("animatediff", video_models)
    a = _render(meta, cache).video.frames
    other_dir = tv.build_motion_adapter(tmp_path / "adapter2", seed=11)
    register_model("tiny-motion-adapter-2", other_dir, generator="animatediff")
    meta2 = meta.replace(video=Video(frames=4, decode_chunk_size=2,
                                     motion_adapter="tiny-motion-adapter-2"))
    b = _render(meta2, cache)
    assert not b.cache_hit and not np.array_equal(b.video.frames, a)
    assert len(cache) == 2


def test_cogvideox_dpm_with_dynamic_cfg(video_models):
    meta = _meta("cogvideox", video_models, scheduler="cogvideox_dpm",
                 params={"max_sequence_length": 8, "use_dynamic_cfg": True})
    res = _render(meta)
    want = _direct("cogvideox", video_models, meta, sched=("CogVideoXDPMScheduler", {}))
    assert np.array_equal(res.video.frames, want)


def test_render_through_an_aigif_file(video_models, tmp_path):
    """``aigif.open(p).render()`` of a video file gives its VideoFrames; so does
    ``aigif.generate``, whose file renders the same frames."""
    meta = _meta("animatediff", video_models)
    p = tmp_path / "fox.aigif"
    aigif.save(meta, p)
    f = aigif.open(p)
    assert f.meta == meta
    cache = PipelineCache(maxsize=1)
    res = f.render(device="cpu", cache=cache)
    assert isinstance(res.video, VideoFrames) and res.video.fps == Fraction(8)
    assert np.array_equal(res.video.frames, _direct("animatediff", video_models, meta))
    imgs = res.video.images()
    assert len(imgs) == 4 and imgs[0].size == (16, 16)
    assert np.array_equal(np.asarray(imgs[2]), res.video.frames[2])
    frames, data = aigif.generate(meta, device="cpu", cache=cache)
    assert isinstance(frames, VideoFrames) and np.array_equal(frames.frames, res.video.frames)
    again = aigif.loads(data).render(device="cpu", cache=cache)
    assert np.array_equal(again.video.frames, frames.frames)


def test_errors_are_render_errors(video_models):
    # a motion adapter that is nowhere here
    meta = _meta("animatediff", video_models,
                 video={"motion_adapter": "local:" + "0" * 32})
    with pytest.raises(ModelNotAvailableError, match="motion_adapter|local:0000"):
        _render(meta)
    # a scheduler the family cannot run
    with pytest.raises(RenderError, match="cannot run scheduler"):
        _render(_meta("cogvideox", video_models, scheduler="euler"))
    # a video field the family does not apply: warned (refused with strict=True)
    meta = _meta("cogvideox", video_models, video={"flow_shift": 2.0})
    with pytest.warns(AigifWarning, match="flow_shift"):
        render_meta(meta, device="cpu", cache=PipelineCache(maxsize=1))
    with pytest.raises(RenderError, match="flow_shift"):
        render_meta(meta, device="cpu", cache=PipelineCache(maxsize=1), strict=True)
    # the pipeline's own argument checks come back as RenderError
    with pytest.raises(RenderError, match="refused"):
        _render(_meta("t2vsd", video_models, width=12, height=12))


def test_video_backends_declare_their_families():
    keys = ("animatediff", "cogvideox", "ltx_video", "wan", "text_to_video_sd",
            "hunyuan_video", "stable_video_diffusion")
    for k in keys:
        b = get_backend(k)
        assert isinstance(b, VideoBackend) and b.key == k
        assert b.pipeline_class in b.pipeline_classes
        assert hasattr(diffusers, b.pipeline_class), b.pipeline_class
        d = aigif.registry.generators.get(k).defaults
        assert d.video is not None
        assert d.scheduler in (b.schedulers or ()) or b.schedulers is None
        for repo, rev in b.hub_models.items():
            assert "/" in repo and (rev is None or len(rev) == 40)


def test_well_known_hub_models_load_at_their_pinned_revision(video_models):
    """A hub id of a family's well-known model without ``model_revision`` loads at the
    revision pinned in its backend (hub_models), and so does the default motion adapter;
    with ``download=False`` and nothing cached, the error names both and how to get them."""
    meta = GenerationMeta(model="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", generator="wan",
                          prompt="a cat", seed=1)
    with pytest.raises(ModelNotAvailableError, match="0fad780a534b6463e45facd96134c9f345acfa5b"):
        _render(meta, download=False)
    meta = _meta("animatediff", video_models,
                 video={"motion_adapter": "guoyww/animatediff-motion-adapter-v1-5-2"})
    with pytest.raises(ModelNotAvailableError,
                       match="motion adapter.*6167b88ffe39b4441fdf2113e77b99a6f56b7906"):
        _render(meta, download=False)


def test_image_of_a_video_file_says_it_is_a_video(video_models):
    f = AigifFile(meta=_meta("t2vsd", video_models))
    with pytest.raises(RenderError, match="is a video"):
        f.image("render", device="cpu", cache=PipelineCache(maxsize=1))


def test_video_model_codes_are_the_backends_pinned_repos():
    """Model codes 34..41: each well-known video model is a hub repo its family's backend
    pins, at the same revision, with its family's video defaults, and costs one byte of
    model; rendering one without its weights names that revision."""
    from aigif import spec
    seen = []
    for m in spec.MODELS:
        fam = aigif.registry.generators.get(m.generator).defaults
        if fam.video is None or m.hub_id is None:
            continue
        seen.append(m.code)
        assert m.defaults.video == fam.video, m.key
        assert get_backend(m.generator).hub_models[m.hub_id] == m.revision, m.key
        meta = GenerationMeta(model=m.key, prompt="a cat", seed=1)
        assert meta.generator == m.generator and meta.video == Video().resolve(fam.video)
        hub = GenerationMeta(model=m.hub_id, generator=m.generator, prompt="a cat", seed=1)
        # kind, family, id length, id, empty revision: 3 + id bytes more than the code
        assert len(aigif.dumps(hub)) - len(aigif.dumps(meta)) == len(m.hub_id) + 3
    assert seen == list(range(34, 42))
    with pytest.raises(ModelNotAvailableError, match="0fad780a534b6463e45facd96134c9f345acfa5b"):
        _render(GenerationMeta(model="wan21-t2v-1.3b", prompt="a cat", seed=1), download=False)
