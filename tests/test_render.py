"""Regeneration: every family renders bit-for-bit like a direct diffusers call (tiny
pipelines with seeded random weights, saved and loaded through ``from_pretrained``)."""
from __future__ import annotations

import hashlib
import shutil
import struct
import warnings

import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

import aigif  # noqa: E402
from aigif.document import AigifFile, Fingerprint, Payload  # noqa: E402
from aigif.errors import (ModelNotAvailableError, PlatformMismatchWarning,  # noqa: E402
                          RegistryError, RenderError, AigifWarning)
from aigif.meta import GenerationMeta, Platform  # noqa: E402
from aigif.render import (PipelineCache, content_hash, register_model,  # noqa: E402
                          render_file, render_meta)
from aigif.codecs.pixels import fingerprint  # noqa: E402
from aigif.render.platform import current_platform  # noqa: E402

import _tiny_pipelines as tp  # noqa: E402

PIPELINES = {"sd": "StableDiffusionPipeline", "sdxl": "StableDiffusionXLPipeline",
             "sd3": "StableDiffusion3Pipeline", "flux": "FluxPipeline",
             "pixart_sigma": "PixArtSigmaPipeline", "lcm": "LatentConsistencyModelPipeline"}

# The scheduler each family's test renders with, written the way a diffusers user would.
DIRECT_SCHEDULERS = {
    "sd": ("dpmpp_2m_karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "sdxl": ("euler_a", "EulerAncestralDiscreteScheduler", {}),
    "sd3": ("flow_euler", "FlowMatchEulerDiscreteScheduler", {}),
    "flux": ("flow_euler", "FlowMatchEulerDiscreteScheduler", {}),
    "pixart_sigma": ("dpmpp_2m", "DPMSolverMultistepScheduler", {}),
    "lcm": ("lcm", "LCMScheduler", {}),
}


@pytest.fixture(scope="session")
def render_models(tmp_path_factory):
    """Family -> directory of its tiny pipeline (built once per session), registered as
    ``tiny-<family>``."""
    root = tmp_path_factory.mktemp("render_models")
    out = {}
    for fam in tp.FAMILIES:
        out[fam] = tp.build(fam, root / fam)
        register_model(f"tiny-{fam}", out[fam])
    return out


@pytest.fixture
def render_cache():
    return PipelineCache(maxsize=2)


def _meta(fam: str, **kw) -> GenerationMeta:
    p = dict(tp.TINY_PARAMS[fam], seed=1234, guidance_scale=5.0,
             scheduler=DIRECT_SCHEDULERS[fam][0], prompt="a red fox in the snow")
    if fam in ("sd", "sdxl", "sd3", "pixart_sigma"):
        p["negative_prompt"] = "blurry"
    p.update(kw)
    return GenerationMeta(model=f"tiny-{fam}", **p)


def _direct(fam: str, path, meta: GenerationMeta):
    """The same image with diffusers alone, as its documentation shows."""
    cls = getattr(diffusers, PIPELINES[fam])
    pipe = cls.from_pretrained(path, torch_dtype=torch.float32, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    _, sched_cls, opts = DIRECT_SCHEDULERS[fam]
    pipe.scheduler = getattr(diffusers, sched_cls).from_config(pipe.scheduler.config, **opts)
    kw = dict(meta.params)
    if fam == "pixart_sigma":
        kw["clean_caption"] = False
    if meta.negative_prompt:
        kw["negative_prompt"] = meta.negative_prompt
    if meta.clip_skip:
        kw["clip_skip"] = meta.clip_skip
    return pipe(meta.prompt, num_inference_steps=meta.steps, guidance_scale=meta.guidance_scale,
                width=meta.width, height=meta.height,
                generator=torch.Generator("cpu").manual_seed(meta.seed), **kw).images[0]


@pytest.mark.parametrize("fam", tp.FAMILIES)
def test_render_equals_direct_diffusers_call(fam, render_models, render_cache):
    meta = _meta(fam, clip_skip=1 if fam == "sdxl" else None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AigifWarning)
        res = render_meta(meta, device="cpu", cache=render_cache)
    assert res.image.size == (16, 16)
    assert res.exact is None and res.cache_hit is False
    want = _direct(fam, render_models[fam], meta)
    assert res.image.tobytes() == want.tobytes()
    again = render_meta(meta, device="cpu", cache=render_cache)
    assert again.cache_hit is True
    assert again.image.tobytes() == res.image.tobytes()
    other = render_meta(meta.replace(seed=99), device="cpu", cache=render_cache)
    assert other.image.tobytes() != res.image.tobytes()


def test_clip_skip_on_flattened_clip_text_model(render_models, render_cache):
    """SD's clip_skip calls text_encoder.text_model.final_layer_norm, which transformers
    >= 5.6 removed (diffusers #14124); the backend's shim restores exactly that call."""
    from aigif.render.backends.base import clip_text_model_shim
    meta = _meta("sd", clip_skip=1)
    res = render_meta(meta, device="cpu", cache=render_cache)
    assert res.image.tobytes() != render_meta(_meta("sd"), device="cpu",
                                              cache=render_cache).image.tobytes()
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(render_models["sd"],
                                                             use_safetensors=True)
    clip_text_model_shim(pipe)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = diffusers.DPMSolverMultistepScheduler.from_config(
        pipe.scheduler.config, use_karras_sigmas=True)
    want = pipe(meta.prompt, negative_prompt=meta.negative_prompt, num_inference_steps=2,
                guidance_scale=5.0, width=16, height=16, clip_skip=1,
                generator=torch.Generator().manual_seed(meta.seed)).images[0]
    assert res.image.tobytes() == want.tobytes()


def test_fingerprint_check_exact_and_approximate(render_models, render_cache):
    meta = _meta("sd")
    img = render_meta(meta, device="cpu", cache=render_cache).image
    fp = fingerprint(img)
    res = render_file(AigifFile(meta=meta, fingerprint=fp), device="cpu", cache=render_cache,
                      reference=img)
    assert res.exact is True and res.psnr == float("inf")
    bad = Fingerprint(fp.algo, fp.width, fp.height, bytes(8))
    res = render_file(AigifFile(meta=meta, fingerprint=bad), device="cpu", cache=render_cache)
    assert res.exact is False
    with pytest.raises(RenderError, match="fingerprint"):
        render_file(AigifFile(meta=meta, fingerprint=bad), device="cpu", cache=render_cache,
                    strict=True)
    other = render_meta(meta.replace(seed=7), device="cpu", cache=render_cache).image
    res = render_file(AigifFile(meta=meta), device="cpu", cache=render_cache, reference=other)
    assert 0 < res.psnr < 100


def test_fingerprint_algorithm_1_definition():
    from PIL import Image
    img = Image.new("RGB", (3, 2), (1, 2, 3))
    fp = fingerprint(img)
    want = hashlib.sha256(struct.pack(">II", 3, 2) + bytes([1, 2, 3]) * 6).digest()[:8]
    assert (fp.algo, fp.width, fp.height, fp.digest) == (1, 3, 2, want)
    assert fingerprint(img.convert("RGBA")) == fp


def test_cache_loads_a_model_once(render_models):
    cache = PipelineCache(maxsize=1)
    for seed in (1, 2, 3):
        render_meta(_meta("sd", seed=seed), device="cpu", cache=cache)
    assert (cache.misses, cache.hits, len(cache)) == (1, 2, 1)
    render_meta(_meta("lcm"), device="cpu", cache=cache)
    assert (cache.misses, len(cache)) == (2, 1)        # LRU evicted the SD pipeline
    render_meta(_meta("sd"), device="cpu", cache=cache)
    assert cache.misses == 3


def test_platform_mismatch_warns_naming_each_difference(render_models, render_cache):
    here = current_platform("cpu", "float32")
    other = Platform(device="cuda", accelerator="NVIDIA H100 80GB HBM3", torch="2.0.1",
                     diffusers=here.diffusers, transformers=here.transformers, dtype="float16",
                     rng_device="cpu", flags=frozenset({"tf32_matmul"}))
    meta = _meta("sd", platform=other)
    with pytest.warns(PlatformMismatchWarning) as rec:
        res = render_meta(meta, device="cpu", cache=render_cache)
    msg = str(rec[0].message)
    for name in ("device", "accelerator", "torch", "dtype", "flags"):
        assert f"{name}: file" in msg
    assert "diffusers: file" not in msg
    assert len(res.platform_differences) == 5
    with pytest.raises(RenderError, match="platform"):
        render_meta(meta, device="cpu", cache=render_cache, strict=True)


def test_same_platform_does_not_warn_and_is_applied(render_models, render_cache):
    from dataclasses import replace
    here = current_platform("cpu", "float32")
    meta = _meta("sd", platform=replace(here, flags=frozenset({"deterministic_algorithms"})))
    before = torch.are_deterministic_algorithms_enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlatformMismatchWarning)
        res = render_meta(meta, device="cpu", cache=render_cache)
    assert res.platform_differences == []
    assert torch.are_deterministic_algorithms_enabled() == before
    plain = render_meta(_meta("sd"), device="cpu", cache=render_cache)
    assert plain.image.tobytes() == res.image.tobytes()


def test_generate_records_and_keeps_the_process_flags(render_models, render_cache):
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        _, data = aigif.render.generate(_meta("sd"), device="cpu", cache=render_cache)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
    f = aigif.loads(data)
    assert f.meta.platform.flags == frozenset({"deterministic_algorithms"})
    # rendering applies the recorded flag and restores the process's setting afterwards
    res = render_file(f, cache=render_cache)
    assert res.exact is True and res.platform_differences == []
    assert not torch.are_deterministic_algorithms_enabled()


def test_render_imports_no_torch_until_rendering(render_models):
    import subprocess
    import sys
    code = ("import sys, aigif, aigif.render as r\n"
            f"r.register_model('m', {str(render_models['sd'])!r})\n"
            "from aigif.interop.samplers import scheduler_from_a1111 as s; s('Euler a'); r.scheduler_key_for\n"
            "m = aigif.GenerationMeta(model='m', seed=1); aigif.loads(aigif.dumps(m))\n"
            "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_current_platform_records_versions():
    p = current_platform("cpu", "float32")
    assert p.device == "cpu" and p.dtype == "float32" and p.rng_device == "cpu"
    assert p.torch == torch.__version__ and p.diffusers == diffusers.__version__
    assert p.transformers and p.threads == torch.get_num_threads()
    assert p.flags == frozenset()


def test_missing_local_model_says_how_to_get_it():
    meta = GenerationMeta(model="local:" + "ab" * 16, generator="sd", seed=1)
    with pytest.raises(ModelNotAvailableError, match="register_model"):
        render_meta(meta, device="cpu")


def _hub_cached(repo: str) -> bool:
    try:
        from huggingface_hub import scan_cache_dir
        return any(r.repo_id == repo for r in scan_cache_dir().repos)
    except Exception:
        return False


@pytest.mark.skipif(_hub_cached("stable-diffusion-v1-5/stable-diffusion-v1-5"),
                    reason="SD 1.5 is in the local HF cache")
def test_missing_hub_model_names_revision_and_command():
    meta = GenerationMeta(model="sd15", seed=1, steps=2, width=64, height=64)
    with pytest.raises(ModelNotAvailableError) as e:
        render_meta(meta, device="cpu", download=False)
    msg = str(e.value)
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in msg
    assert "huggingface-cli download stable-diffusion-v1-5/stable-diffusion-v1-5" in msg
    if meta.model_revision:
        assert f"--revision {meta.model_revision}" in msg


def test_unpinned_hub_model_warns():
    meta = GenerationMeta(model="someone/not-a-real-repo", generator="sd", seed=1)
    with pytest.warns(AigifWarning, match="no pinned revision"), \
            pytest.raises(ModelNotAvailableError, match="huggingface-cli download someone/"):
        render_meta(meta, device="cpu", download=False)
    with pytest.raises(RenderError, match="no pinned revision"):
        render_meta(meta, device="cpu", download=False, strict=True)


def test_missing_model_falls_back_to_payload_when_asked():
    import io
    from PIL import Image
    img = Image.new("RGB", (4, 4), (10, 20, 30))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    f = AigifFile(meta=GenerationMeta(model="local:" + "cd" * 16, generator="sd", seed=1),
                  payload=Payload("png", buf.getvalue()), fingerprint=fingerprint(img))
    with pytest.raises(ModelNotAvailableError):
        render_file(f, device="cpu")
    res = render_file(f, device="cpu", fallback="payload")
    assert res.source == "payload" and res.exact is True
    assert res.image.convert("RGB").tobytes() == img.tobytes()


def test_register_model_hash_and_name_conflicts(render_models, tmp_path):
    d = render_models["sd"]
    h = content_hash(d)
    files = sorted(p for p in d.rglob("*.safetensors"))
    outer = hashlib.sha256()
    for p in sorted(files, key=lambda p: p.relative_to(d).as_posix()):
        outer.update(p.relative_to(d).as_posix().encode() + b"\0" +
                     hashlib.sha256(p.read_bytes()).digest())
    assert h == outer.digest()[:16]
    assert register_model("tiny-sd", d).content_hash == h       # same weights: no-op
    with pytest.raises(RegistryError, match="already registered"):
        register_model("tiny-sd", render_models["lcm"])
    # the same weights elsewhere, under any name, resolve files that name the hash
    copy = shutil.copytree(d, tmp_path / "copy")
    info = register_model("my-copy", copy)
    assert info.content_hash == h and info.generator == "sd"
    meta = GenerationMeta(model="my-copy", prompt="x", seed=1)
    assert meta.generator == "sd"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with pytest.raises(RenderError, match="safetensors"):
        register_model("empty", empty)


def test_model_folder_resolves_local_hash(render_models, tmp_path, monkeypatch,
                                          render_cache):
    """A file names weights nobody registered here: $AIGIF_MODEL_PATH finds them."""
    from safetensors.torch import load_file, save_file
    from aigif.registry import model_for_hash
    copy = shutil.copytree(render_models["lcm"], tmp_path / "models" / "whatever")
    f = next((copy / "text_encoder").glob("*.safetensors"))
    state = load_file(f)
    k = sorted(state)[0]
    state[k] = state[k] + 0.5                        # other weights: another hash
    save_file(state, f, metadata={"format": "pt"})
    h = content_hash(copy)
    assert model_for_hash(h) is None
    meta = GenerationMeta(model="local:" + h.hex(), generator="lcm", prompt="a", seed=3,
                          **tp.TINY_PARAMS["lcm"])
    with pytest.raises(ModelNotAvailableError):
        render_meta(meta, device="cpu", cache=render_cache)
    monkeypatch.setenv("AIGIF_MODEL_PATH", str(tmp_path / "models"))
    res = render_meta(meta, device="cpu", cache=render_cache)
    assert res.image.size == (16, 16)
    assert model_for_hash(h).path == str(copy)


def test_checks_refuse_what_cannot_be_rendered(render_models, render_cache):
    with pytest.raises(RenderError, match="seed"):
        render_meta(_meta("sd", seed=None), device="cpu", cache=render_cache)
    with pytest.raises(RenderError, match="cannot run scheduler"):
        render_meta(_meta("sd", scheduler="flow_euler"), device="cpu", cache=render_cache)
    with pytest.raises(RenderError, match="LoRA"):
        render_meta(_meta("sd", loras=(aigif.Lora("detail"),)), device="cpu",
                    cache=render_cache)
    with pytest.warns(AigifWarning, match="does not use negative_prompt"):
        render_meta(_meta("lcm", negative_prompt="blurry"), device="cpu", cache=render_cache)
    with pytest.warns(AigifWarning, match="does not know param 'foo'"):
        render_meta(_meta("sd", params={"foo": 1}), device="cpu", cache=render_cache)
    with pytest.raises(RenderError, match="foo"):
        render_meta(_meta("sd", params={"foo": 1}), device="cpu", cache=render_cache,
                    strict=True)
    with pytest.raises(RenderError, match="does not apply"):
        render_meta(_meta("sd", params={"scheduler.shift": 3.0}), device="cpu",
                    cache=render_cache)


def test_scheduler_options_from_params_change_the_image(render_models, render_cache):
    base = _meta("sd", scheduler="euler")
    a = render_meta(base, device="cpu", cache=render_cache).image
    b = render_meta(base.replace(params={"scheduler.timestep_spacing": "trailing"}),
                    device="cpu", cache=render_cache).image
    assert a.tobytes() != b.tobytes()


def test_generate_returns_image_and_file_that_renders_exactly(render_models, render_cache):
    meta = _meta("sd", seed=None)
    image, data = aigif.render.generate(meta, device="cpu", cache=render_cache)
    f = aigif.loads(data)
    assert f.meta.seed is not None and f.meta.platform == current_platform("cpu", "float32")
    assert f.fingerprint == fingerprint(image)
    res = render_file(f, cache=render_cache)
    assert res.exact is True and res.platform_differences == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_render_is_repeatable(render_models):
    cache = PipelineCache(1)
    meta = _meta("sd")
    a = render_meta(meta, device="cuda", dtype="float16", cache=cache)
    b = render_meta(meta, device="cuda", dtype="float16", cache=cache)
    assert a.image.tobytes() == b.image.tobytes()
    cpu = render_meta(meta, device="cpu", cache=cache)
    assert a.image.size == cpu.image.size


@pytest.mark.real_weights
@pytest.mark.skipif(not _hub_cached("stable-diffusion-v1-5/stable-diffusion-v1-5"),
                    reason="needs SD 1.5 weights in the local HF cache")
def test_sd15_real_weights_round_trip():
    meta = GenerationMeta(model="sd15", prompt="a castle on a hill", seed=1234, steps=4,
                          width=256, height=256)
    image, data = aigif.render.generate(meta, download=False)
    res = aigif.loads(data).render(download=False)
    assert res.exact is True
