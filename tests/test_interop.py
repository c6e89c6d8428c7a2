"""Importing the shared fixtures (sd-parsers' real files from five tools) and exporting
them back. Expected values were written down from the chunks dumped by hand
(``python -c`` over the PNG chunks / EXIF bytes), not from the code under test."""
import json
from pathlib import Path

import pytest

import aigif
from aigif import interop
from aigif.errors import ImportMetadataError

FIX = Path(__file__).parents[1].parent / "shared" / "fixtures" / "metadata" / "sd-parsers"
pytestmark = pytest.mark.skipif(not FIX.is_dir(), reason=f"shared fixtures not found at {FIX}")
P = FIX / "parsers"

DUCK = ("photo of a duck\nNegative prompt: monochrome\nSteps: 15, Sampler: UniPC, CFG scale: 5, "
        "Seed: 235284042, Size: 512x400, Model hash: c0d1994c73, "
        "Model: realistic_realisticVisionV20_v20")


def _duck(r):
    m = r.meta
    assert r.tool == "a1111"
    assert (m.prompt, m.negative_prompt) == ("photo of a duck", "monochrome")
    assert (m.steps, m.guidance_scale, m.seed, m.width, m.height) == (15, 5.0, 235284042, 512, 400)
    assert m.scheduler == "unipc"
    assert m.model == "ckpt:realistic_realisticVisionV20_v20"
    assert m.model_revision == "c0d1994c73" and m.generator == "sd"
    assert r.unmapped == {}


def test_a1111_png():
    r = interop.read(P / "AUTOMATIC1111" / "automatic1111_cropped.png")
    _duck(r)
    assert r.source["parameters"] == DUCK


def test_a1111_jpeg_exif_utf16():
    r = interop.read(P / "AUTOMATIC1111" / "automatic1111_cropped.jpg")
    _duck(r)
    assert r.source["UserComment"] == DUCK
    assert "exif:usercomment:unicode-be" in r.source["container"]


def test_a1111_zTXt_after_idat():
    r = interop.read(FIX / "bad_images" / "text_after_idat.png")
    _duck(r)
    assert r.source["parameters"] == DUCK
    # the ImageMagick chunks are kept verbatim too
    assert r.source["filename:f"] == "automatic1111_cropped"


def test_a1111_stealth_pngcomp():
    pytest.importorskip("PIL")
    r = interop.read(P / "AUTOMATIC1111" / "automatic1111_stealth.png")
    m = r.meta
    assert r.tool == "a1111"
    assert (m.prompt, m.negative_prompt, m.steps, m.seed) == ("a circle", "a square", 20, 2015833630)
    assert m.scheduler == "euler"          # Euler + Automatic = the model's own schedule
    assert m.clip_skip == 1                # A1111 "Clip skip: 2" = diffusers clip_skip 1
    assert (m.width, m.height, m.guidance_scale) == (64, 64, 7.0)
    assert m.model == "ckpt:realisticVisionV51_v51VAE" and m.model_revision == "15012c538f"
    assert r.source["stealth"].endswith("Version: v1.9.4-169-ga30b19dd")


def test_comfyui_img2img():
    r = interop.read(P / "ComfyUI" / "img2img_cropped.png")
    m = r.meta
    assert r.tool == "comfyui"
    assert m.model == "sd15"               # v1-5-pruned-emaonly.ckpt, the official file
    assert m.prompt == "photograph of victorian woman with wings, sky clouds, meadow grass\n"
    assert m.negative_prompt == "watermark, text\n"
    assert (m.seed, m.steps, m.guidance_scale) == (280823642470253, 20, 8.0)
    assert m.scheduler == "dpmpp_2m"       # sample_dpmpp_2m + normal
    assert m.params["denoise"] == 0.8700000000000001
    assert m.params["init_image"] == "example.png"
    assert json.loads(r.source["prompt"])["3"]["class_type"] == "KSampler"
    assert json.loads(r.source["workflow"])["last_node_id"] == 13


def test_comfyui_two_pass_area_composition():
    r = interop.read(P / "ComfyUI" / "night_evening_day_morning_cropped.png")
    m = r.meta
    # first pass: node 3 (KSampler, latent from EmptyLatentImage 704x1280)
    assert (m.seed, m.steps, m.guidance_scale) == (335608130539327, 13, 8.5)
    assert m.scheduler == "dpmpp_sde"
    assert (m.width, m.height) == (704, 1280)
    assert m.model == "ckpt:Anything-V3.0.ckpt" and m.generator == "sd"
    assert m.clip_skip == 1                # CLIPSetLastLayer -2
    assert "(best quality) (night:1.3)" in m.prompt and "morning sky" in m.prompt
    assert m.negative_prompt.startswith("(hands), text, error")
    # second pass: node 24 after LatentUpscale to 1088x1920
    # (a typed Hires stage since issue 15; params passes/hires_* before)
    (h,) = m.stages
    assert (h.steps, h.strength, h.guidance_scale) == (14, 0.5, 7.0)   # runs 14 of 28
    assert (h.size, h.upscaler) == ((1088, 1920), "latent-nearest-exact")
    assert h.model == "ckpt:AbyssOrangeMix2_hard.safetensors"
    assert h.seed == 1122440447966177


def test_comfyui_several_samplers():
    r = interop.read(P / "ComfyUI" / "noisy_latents_3_subjects_cropped.png")
    m = r.meta
    # final image: 24 <- LatentUpscale <- 58 <- LatentComposite(to: 69 <- 61 <- 60)
    assert (m.seed, m.steps, m.guidance_scale) == (512136241112371, 16, 7.0)
    assert (m.width, m.height) == (1280, 704)
    assert m.prompt.startswith("sky clouds nature national park")
    assert [st.name for st in m.stages] == ["img2img", "hires"]   # params["passes"] == 3 before
    assert m.params["end_at_step"] == 4 and m.stages[0].strength == 0.75
    assert m.stages[1].size == (1920, 1088)
    assert r.unmapped["other samplers"] == "57, 64, 73"


def test_comfyui_unclip():
    r = interop.read(P / "ComfyUI" / "unclip_2pass_cropped.png")
    m = r.meta
    assert m.model == "ckpt:wd-1-5-beta2-aesthetic-unclip-h-fp32.safetensors"
    assert (m.seed, m.steps, m.guidance_scale, m.scheduler) == (1106257833005336, 26, 8.0, "unipc")
    assert (m.width, m.height) == (1280, 704)
    (h,) = m.stages                    # params hires_steps 8 / hires_sampler before issue 15
    assert (h.steps, h.scheduler, h.strength) == (8, "dpmpp_sde", 0.52)   # runs 8 (of 15)


@pytest.mark.parametrize("name", ["img2img_cropped.png", "night_evening_day_morning_cropped.png",
                                  "unclip_2pass_cropped.png", "noisy_latents_3_subjects_cropped.png"])
def test_comfyui_workflow_only(name):
    """A file with only the editor workflow gives the same core fields as the graph."""
    PIL = pytest.importorskip("PIL")
    import io
    from PIL import Image, PngImagePlugin
    full = interop.read(P / "ComfyUI" / name)
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", full.source["workflow"])
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG", pnginfo=info)
    m, want = interop.read(buf.getvalue()).meta, full.meta
    for k in ("model", "prompt", "negative_prompt", "seed", "steps", "guidance_scale", "scheduler",
              "width", "height", "clip_skip"):
        assert getattr(m, k) == getattr(want, k), k


def test_fooocus_json():
    r = interop.read(P / "Fooocus" / "fooocus1_cropped.png")
    m = r.meta
    assert r.tool == "fooocus"
    assert m.prompt == "a smiling goldfish" and m.negative_prompt == ""
    assert (m.seed, m.steps, m.guidance_scale) == (6952411511246973023, 30, 4.0)
    assert m.scheduler == "dpmpp_2m_sde_karras"    # dpmpp_2m_sde_gpu + karras
    assert (m.width, m.height) == (768, 1280)
    assert m.model == "ckpt:juggernautXL_v8Rundiffusion" and m.generator == "sdxl"
    assert m.model_revision == "aeb7e9e689"
    assert m.clip_skip == 1
    assert m.params["sharpness"] == 2.0 and m.params["performance"] == "Speed"
    assert r.source["fooocus_scheme"] == "fooocus"
    assert "full_prompt" in r.unmapped


def test_invokeai_dream():
    r = interop.read(P / "InvokeAI" / "invokeai_dream1.png")
    m = r.meta
    assert r.tool == "invokeai"
    # InvokeAI 2.x: the top-level [bracketed] part is the negative prompt
    assert m.prompt.startswith("professional full body photo")
    assert m.prompt.endswith("film grain, low contrast")
    assert m.negative_prompt == "rendering, glowing eyes, skinny"
    assert (m.steps, m.seed, m.width, m.height, m.guidance_scale) == (50, 2980747362, 512, 768, 5.0)
    assert m.scheduler == "lms"
    assert r.unmapped["-G"] == "0.9" and r.unmapped["-U"] == "4 0.95"


def test_invokeai_sd_metadata():
    r = interop.read(P / "InvokeAI" / "invokeai_sdmeta1.png")
    m = r.meta
    assert m.model == "ckpt:deliberateForInvoke_v08"
    assert m.negative_prompt == "rendering, glowing eyes, skinny"
    assert m.model_revision.startswith("56d1442a0f")
    assert (m.steps, m.seed, m.width, m.height, m.guidance_scale) == (50, 2980747362, 512, 768, 5.0)
    assert set(r.source) >= {"Dream", "sd-metadata", "tool", "container"}


def test_invokeai_3_metadata():
    r = interop.read(P / "InvokeAI" / "invokeai_imeta1.png")
    m = r.meta
    assert m.model == "ckpt:juggernautXL" and m.generator == "sdxl"
    assert m.prompt == "digital artwork, oil painting. painterly brushstrokes, holidays,"
    assert m.negative_prompt.startswith("grainy+, photo")
    assert (m.seed, m.steps, m.guidance_scale, m.scheduler) == (3293022630, 35, 8.0, "euler")
    assert (m.width, m.height) == (1024, 1024)
    assert m.params["vae"] == "VAEFix"
    assert "ipAdapters" in r.unmapped


def test_novelai():
    r = interop.read(P / "NovelAI" / "novelai1_cropped.png")
    m = r.meta
    assert r.tool == "novelai"
    assert m.prompt == "masterpiece, best quality,  cat, space, icon"
    assert m.negative_prompt.startswith("lowres, bad anatomy")
    assert (m.steps, m.seed, m.guidance_scale, m.scheduler) == (50, 2253955223, 10.0, "euler_a")
    assert m.model == "ckpt:Stable Diffusion 1D44365E" and m.generator == "sd"
    assert m.params["denoise"] == 0.4
    assert r.source["Software"] == "NovelAI"


@pytest.mark.parametrize("name", ["empty_file.png", "empty_image.jpg", "empty_image.png"])
def test_bad_images(name):
    with pytest.raises(ImportMetadataError):
        interop.read(FIX / "bad_images" / name)


ALL = sorted(p for p in FIX.rglob("*") if p.suffix in (".png", ".jpg") and
             "bad_images" not in p.parts) + [FIX / "bad_images" / "text_after_idat.png"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_round_trip_through_aigif_and_export(path):
    """fixture -> .aigif -> export(source) into the same pixels -> same texts and meta."""
    r = interop.read(path)
    f = aigif.loads(aigif.dumps(r.to_aigif()))
    assert f.meta == r.meta and dict(f.source) == r.source
    out = interop.export(f, "source", image=path)
    r2 = interop.read(out)
    assert r2.meta == r.meta
    assert r2.tool == r.tool
    keys = [k for k in r.source if k not in ("tool", "container")]
    if "stealth" not in r.source and path.suffix == ".png":
        for k in keys:
            assert r2.source[k] == r.source[k]
    if "stealth" not in r.source and "zTXt" not in r.source["container"] and path.suffix == ".png":
        assert out == path.read_bytes()   # text chunks were tEXt before IDAT: same bytes


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_export_a1111_every_format(path, fmt):
    pytest.importorskip("PIL")
    r = interop.read(path)
    out = interop.export(r.to_aigif(), "a1111", image=path, format=fmt)
    r2 = interop.read(out)
    assert r2.meta.prompt == r.meta.prompt
    assert (r2.meta.seed, r2.meta.steps, r2.meta.scheduler) == (r.meta.seed, r.meta.steps,
                                                                r.meta.scheduler)
    assert r2.meta.guidance_scale == r.meta.guidance_scale


@pytest.mark.parametrize("path", [p for p in ALL if "ComfyUI" in p.parts], ids=lambda p: p.name)
def test_export_comfyui_restores_graph(path):
    r = interop.read(path)
    out = interop.export(r.to_aigif(), "comfyui", image=path)
    r2 = interop.read(out)
    assert r2.source["prompt"] == r.source["prompt"]
    assert r2.source["workflow"] == r.source["workflow"]


def test_reading_text_metadata_imports_no_heavy_modules():
    """Text metadata is parsed in pure Python: no Pillow, numpy or torch for it."""
    import subprocess
    import sys
    code = ("import sys, aigif.interop as i; r = i.read(sys.argv[1]); "
            "assert r.meta.seed == 235284042; "
            "bad = [m for m in ('numpy', 'torch', 'diffusers') if m in sys.modules]; "
            "assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code, str(P / "AUTOMATIC1111" / "automatic1111_cropped.png")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
