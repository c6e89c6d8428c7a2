"""Render overhead of aigif vs the bare diffusers call with the same parameters.

    python benchmarks/render.py                      # tiny SD pipeline on CPU
    python benchmarks/render.py --size 64 --steps 8  # bigger renders (overhead is fixed)
    python benchmarks/render.py --sd-size --device cuda --size 512 --steps 20   # GPU only

Warm: the pipeline is loaded (aigif's LRU cache hit vs a diffusers pipeline kept in a
variable); both sides run interleaved, and each side's median over ``--runs`` is reported.
aigif's work per render: resolving the model and settings, recording the platform, building
the scheduler from the model's config, applying/restoring torch flags, the seeded
generator, checking the fingerprint. "aigif own work" is a render's wall time minus the
time inside the pipeline call (measured by wrapping it): the overhead without the noise of
a shared machine. Cold: loading from disk (``from_pretrained``) plus one
render, on a fresh cache. ``--sd-size`` builds SD 1.5-sized components with random weights
(no download) for GPU timings.

Stages: the same render with one hires stage (latent upscale x1.5, strength 0.5, the
first pass's steps) against the hand-written diffusers calls (first pass to latents,
``interpolate``, ``StableDiffusionImg2ImgPipeline.from_pipe`` made once); "own work per
extra stage" is the growth of aigif's own work (wall time minus the time inside both
pipeline calls) that the stage brings, against the stage's pipeline time (goal <= 3 %).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def _sd_size_model(path: Path, dtype) -> Path:
    """SD 1.5 architecture with random weights (configs as in the hub repo)."""
    import torch
    from diffusers import (AutoencoderKL, PNDMScheduler, StableDiffusionPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel
    import _tiny_pipelines as tp
    torch.manual_seed(0)
    unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8,
                                sample_size=64).to(dtype)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2,
                        sample_size=512).to(dtype)
    te = CLIPTextModel(CLIPTextConfig(vocab_size=tp.CLIP_VOCAB, hidden_size=768,
                                      intermediate_size=3072, num_hidden_layers=12,
                                      num_attention_heads=12, max_position_embeddings=77,
                                      bos_token_id=tp.CLIP_VOCAB - 2,
                                      eos_token_id=tp.CLIP_VOCAB - 1,
                                      pad_token_id=tp.CLIP_VOCAB - 1)).to(dtype)
    sched = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          skip_prk_steps=True, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tp.clip_tokenizer(77),
                                   unet=unet, scheduler=sched, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's "
                    "default)")
    ap.add_argument("--sd-size", action="store_true", help="SD 1.5-sized random model")
    a = ap.parse_args()

    import warnings
    warnings.filterwarnings("ignore")
    import torch
    import diffusers
    from aigif import GenerationMeta
    from aigif.render import PipelineCache, register_model, render_meta
    from aigif.render.platform import torch_dtype
    import _tiny_pipelines as tp
    diffusers.utils.logging.set_verbosity_error()
    if a.threads:
        torch.set_num_threads(a.threads)
    dt = torch_dtype(a.dtype)

    with tempfile.TemporaryDirectory() as d:
        path = _sd_size_model(Path(d) / "m", dt) if a.sd_size else tp.build("sd", Path(d) / "m")
        register_model("bench-sd", path)
        meta = GenerationMeta(model="bench-sd", prompt="a lighthouse at dusk", seed=1,
                              negative_prompt="blurry", steps=a.steps, width=a.size,
                              height=a.size, guidance_scale=7.0, scheduler="dpmpp_2m_karras")

        def bare_load():
            p = diffusers.StableDiffusionPipeline.from_pretrained(
                path, torch_dtype=dt, use_safetensors=True, safety_checker=None,
                requires_safety_checker=False).to(a.device)
            p.set_progress_bar_config(disable=True)
            p.scheduler = diffusers.DPMSolverMultistepScheduler.from_config(
                p.scheduler.config, use_karras_sigmas=True)
            return p

        def bare_call(p, seed):
            return p(meta.prompt, negative_prompt=meta.negative_prompt,
                     num_inference_steps=a.steps, guidance_scale=7.0, width=a.size,
                     height=a.size,
                     generator=torch.Generator("cpu").manual_seed(seed)).images[0]

        def sync():
            if a.device.startswith("cuda"):
                torch.cuda.synchronize()

        # cold: load + one render (after one untimed load, so imports are not counted)
        render_meta(meta, device=a.device, dtype=a.dtype, cache=PipelineCache(0))
        bare_c, aigif_c = [], []
        for _ in range(3):
            t = time.perf_counter()
            pipe = bare_load()
            ref = bare_call(pipe, 1)
            sync()
            bare_c.append(time.perf_counter() - t)
            cache = PipelineCache(1)
            t = time.perf_counter()
            res = render_meta(meta, device=a.device, dtype=a.dtype, cache=cache)
            sync()
            aigif_c.append(time.perf_counter() - t)
        bare_cold, aigif_cold = statistics.median(bare_c), statistics.median(aigif_c)
        same = res.image.tobytes() == ref.tobytes()

        # time spent inside the pipeline call during aigif renders, to isolate aigif's work
        inner: list[float] = []
        cls = type(pipe)
        orig_call = cls.__call__

        def timed_call(self, *args, **kw):
            t0 = time.perf_counter()
            try:
                return orig_call(self, *args, **kw)
            finally:
                sync()
                inner.append(time.perf_counter() - t0)

        # warm, interleaved
        bare_t, aigif_t, own_t = [], [], []
        for i in range(a.runs):
            t = time.perf_counter()
            bare_call(pipe, i)
            sync()
            bare_t.append(time.perf_counter() - t)
            cls.__call__ = timed_call
            t = time.perf_counter()
            render_meta(meta.replace(seed=i), device=a.device, dtype=a.dtype, cache=cache)
            sync()
            aigif_t.append(time.perf_counter() - t)
            cls.__call__ = orig_call
            own_t.append(aigif_t[-1] - inner[-1])
        assert cache.misses == 1

        # one extra stage: hires fix (latent upscale + img2img pass)
        from aigif.stages import Hires
        meta_h = meta.replace(stages=(Hires(scale=1.5, strength=0.5),))
        i2i = diffusers.StableDiffusionImg2ImgPipeline.from_pipe(pipe)
        i2i.set_progress_bar_config(disable=True)
        side = a.size * 3 // 2 // pipe.vae_scale_factor

        def bare_hires(seed):
            g = torch.Generator("cpu").manual_seed
            lat = pipe(meta.prompt, negative_prompt=meta.negative_prompt,
                       num_inference_steps=a.steps, guidance_scale=7.0, width=a.size,
                       height=a.size, generator=g(seed), output_type="latent").images
            up = torch.nn.functional.interpolate(lat, size=(side, side), mode="bilinear")
            # the hires pass runs `steps` steps: the last half of a 2*steps schedule
            return i2i(meta.prompt, negative_prompt=meta.negative_prompt, image=up,
                       strength=0.5, num_inference_steps=2 * a.steps, guidance_scale=7.0,
                       generator=g(seed)).images[0]

        same_h = bare_hires(1).tobytes() == render_meta(
            meta_h.replace(seed=1), device=a.device, dtype=a.dtype, cache=cache).image.tobytes()
        i2i_cls = type(i2i)
        orig_i2i = i2i_cls.__call__
        stage_inner: list[float] = []

        def timed_i2i(self, *args, **kw):
            t0 = time.perf_counter()
            try:
                return orig_i2i(self, *args, **kw)
            finally:
                sync()
                stage_inner.append(time.perf_counter() - t0)

        bare_h, aigif_h, own_h, own_p, stage_t = [], [], [], [], []
        for i in range(a.runs):
            t = time.perf_counter()
            bare_hires(i)
            sync()
            bare_h.append(time.perf_counter() - t)
            cls.__call__, i2i_cls.__call__ = timed_call, timed_i2i
            try:
                t = time.perf_counter()
                render_meta(meta.replace(seed=i), device=a.device, dtype=a.dtype, cache=cache)
                sync()
                own_p.append(time.perf_counter() - t - inner[-1])
                t = time.perf_counter()
                render_meta(meta_h.replace(seed=i), device=a.device, dtype=a.dtype, cache=cache)
                sync()
                aigif_h.append(time.perf_counter() - t)
            finally:
                cls.__call__, i2i_cls.__call__ = orig_call, orig_i2i
            own_h.append(aigif_h[-1] - inner[-1] - stage_inner[-1])
            stage_t.append(stage_inner[-1])
        assert cache.misses == 1

    mb, ma = statistics.median(bare_t), statistics.median(aigif_t)
    paired = statistics.median(x / y - 1 for x, y in zip(aigif_t, bare_t))
    print(f"render overhead, {'SD 1.5-sized random' if a.sd_size else 'tiny SD'} pipeline, "
          f"{a.size}x{a.size}, {a.steps} steps, dpmpp_2m_karras, {a.device} {a.dtype}, "
          f"torch threads {torch.get_num_threads()}, {a.runs} runs")
    print(f"identical pixels (aigif vs bare diffusers): {same}")
    print()
    print(f"| {'':22} | {'bare diffusers':>14} | {'aigif render':>12} | {'overhead':>9} |")
    print(f"|{'-' * 24}|{'-' * 16}|{'-' * 14}|{'-' * 11}|")
    print(f"| {'warm (median) ms':22} | {mb * 1e3:14.1f} | {ma * 1e3:12.1f} | "
          f"{(ma / mb - 1) * 100:8.1f}% |")
    print(f"| {'warm (min) ms':22} | {min(bare_t) * 1e3:14.1f} | {min(aigif_t) * 1e3:12.1f} | "
          f"{(min(aigif_t) / min(bare_t) - 1) * 100:8.1f}% |")
    print(f"| {'paired ratio (median)':22} | {'':14} | {'':12} | {paired * 100:8.1f}% |")
    own = statistics.median(own_t)
    print(f"| {'aigif own work ms':22} | {'':14} | {own * 1e3:12.2f} | "
          f"{own / mb * 100:8.1f}% |")
    print(f"| {'cold (load+render) ms':22} | {bare_cold * 1e3:14.1f} | {aigif_cold * 1e3:12.1f} | "
          f"{(aigif_cold / bare_cold - 1) * 100:8.1f}% |")
    print(f"| {'aigif warm vs cold':22} | {'':14} | {ma / aigif_cold * 100:11.1f}% | {'':9} |")
    mbh, mah = statistics.median(bare_h), statistics.median(aigif_h)
    per_stage = statistics.median(own_h) - statistics.median(own_p)
    st = statistics.median(stage_t)
    print()
    print(f"one hires stage (latent x1.5, strength 0.5); identical pixels: {same_h}")
    print()
    print(f"| {'':27} | {'bare diffusers':>14} | {'aigif render':>12} | {'overhead':>9} |")
    print(f"|{'-' * 29}|{'-' * 16}|{'-' * 14}|{'-' * 11}|")
    print(f"| {'hires warm (median) ms':27} | {mbh * 1e3:14.1f} | {mah * 1e3:12.1f} | "
          f"{(mah / mbh - 1) * 100:8.1f}% |")
    oh = statistics.median(own_h)
    print(f"| {'aigif own work, hires ms':27} | {'':14} | "
          f"{oh * 1e3:12.2f} | {oh / mbh * 100:8.1f}% |")
    stage_ms = f"(stage {st * 1e3:.1f})"
    print(f"| {'own work per extra stage ms':27} | {stage_ms:>14} | "
          f"{per_stage * 1e3:12.2f} | {per_stage / st * 100:8.1f}% |")


if __name__ == "__main__":
    main()
