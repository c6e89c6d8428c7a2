"""Files written here with each tool's rules (Pillow for the containers, hand-built
chunks and stealth bits), then read back: the expected values are the ones written."""
import gzip
import io
import json
import struct
import zlib

import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image, PngImagePlugin  # noqa: E402

import aigif  # noqa: E402
from aigif import interop  # noqa: E402
from aigif.interop.a1111 import meta_to_infotext, parse_infotext  # noqa: E402


# --------------------------------------------------------------------------- helpers
def png(texts=(), *, mode="RGB", size=(8, 8), itxt=(), ztxt=(), im=None) -> bytes:
    im = im or Image.new(mode, size, "gray")
    info = PngImagePlugin.PngInfo()
    for k, v in texts:
        info.add_text(k, v)
    for k, v in itxt:
        info.add_itxt(k, v)
    for k, v in ztxt:
        info.add_text(k, v, zip=True)
    buf = io.BytesIO()
    im.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def before_iend(data: bytes, extra: bytes) -> bytes:
    assert data[-12:-8] == b"\0\0\0\0" and data[-8:-4] == b"IEND"
    return data[:-12] + extra + data[-12:]


def exif_image(fmt: str, user_comment: bytes, *, ifd0=None, endian_le=True) -> bytes:
    im = Image.new("RGB", (8, 8), "gray")
    ex = Image.Exif()
    for tag, v in (ifd0 or {}).items():
        ex[tag] = v
    ex.get_ifd(0x8769)[0x9286] = user_comment
    buf = io.BytesIO()
    im.save(buf, fmt, exif=ex.tobytes())
    return buf.getvalue()


def stealth_image(payload: bytes, sig: bytes, *, mode="alpha", size=(64, 64)) -> Image.Image:
    """Hide payload bits in the alpha (or RGB) LSBs, column by column (stealth_pnginfo)."""
    bits = []
    data = sig + struct.pack(">I", len(payload) * 8) + payload
    for byte in data:
        bits += [(byte >> (7 - i)) & 1 for i in range(8)]
    w, h = size
    im = Image.new("RGBA", size, (120, 130, 140, 255))
    px = im.load()
    k = 0
    for x in range(w):
        for y in range(h):
            r, g, b, a = px[x, y]
            if mode == "alpha":
                if k < len(bits):
                    a = (a & ~1) | bits[k]
                    k += 1
            else:
                vals = [r, g, b]
                for c in range(3):
                    if k < len(bits):
                        vals[c] = (vals[c] & ~1) | bits[k]
                        k += 1
                r, g, b = vals
            px[x, y] = (r, g, b, a)
    assert k == len(bits), "image too small for the payload"
    return im


INFOTEXT = (
    'masterpiece, 1girl, <lora:detail_tweaker:0.5>\n'
    'second line of the prompt\n'
    'Negative prompt: lowres, bad hands\n'
    'Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 4242424242, '
    'Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, '
    'VAE: vae-ft-mse-840000-ema-pruned.safetensors, Denoising strength: 0.45, Clip skip: 2, '
    'Hires upscale: 2, Hires steps: 12, Hires upscaler: R-ESRGAN 4x+ Anime6B, '
    'Lora hashes: "detail_tweaker: e4b0c3d2a1f0", ENSD: 31337, '
    'Hashes: "{\\"vae\\": \\"735e4c3a44\\", \\"lora:detail_tweaker\\": \\"e4b0c3d2a1\\", '
    '\\"model\\": \\"6ce0161689\\"}", '
    'ADetailer model: face_yolov8n.pt, Version: v1.10.1')


# --------------------------------------------------------------------------- A1111
def test_infotext_parser_quote_aware():
    prompt, neg, params, extra = parse_infotext(INFOTEXT)
    assert prompt == "masterpiece, 1girl, <lora:detail_tweaker:0.5>\nsecond line of the prompt"
    assert neg == "lowres, bad hands"
    assert params["Lora hashes"] == "detail_tweaker: e4b0c3d2a1f0"
    assert json.loads(params["Hashes"])["model"] == "6ce0161689"
    assert params["Hires upscaler"] == "R-ESRGAN 4x+ Anime6B"
    assert params["Version"] == "v1.10.1"
    assert extra == []
    # some tools write the JSON bare
    params = parse_infotext('x\nSteps: 1, Hashes: {"a": "1, 2", "b": [3, 4]}, Seed: 9')[2]
    assert params == {"Steps": "1", "Hashes": '{"a": "1, 2", "b": [3, 4]}', "Seed": "9"}


def test_a1111_png_full():
    r = interop.read(png([("parameters", INFOTEXT)]))
    m = r.meta
    assert r.tool == "a1111"
    assert m.model == "sd15"                       # hash of the official SD 1.5 file
    assert (m.seed, m.steps, m.guidance_scale) == (4242424242, 28, 6.5)
    assert m.scheduler == "dpmpp_2m_karras"
    assert (m.width, m.height, m.clip_skip) == (512, 768, 1)
    assert "<lora:detail_tweaker:0.5>" in m.prompt             # tags stay in the prompt
    assert m.loras == (aigif.Lora("detail_tweaker", 0.5, sha256="e4b0c3d2a1f0"),)  # and map
    p = m.params
    hires, detailer = m.stages   # the hires keys and ADetailer are typed stages (issue 15)
    assert (hires.strength, hires.scale, hires.steps) == (0.45, 2.0, 12)
    assert (hires.upscaler, hires.upscaler_model) == ("model", "ckpt:R-ESRGAN 4x+ Anime6B")
    assert detailer.detector == "face_yolov8n.pt"
    assert not any(k.startswith("hires") for k in p) and "denoise" not in p
    assert p["vae"] == "vae-ft-mse-840000-ema-pruned.safetensors" and p["vae_hash"] == "735e4c3a44"
    assert p["lora_hashes"] == "detail_tweaker: e4b0c3d2a1f0" and p["ensd"] == 31337
    assert r.unmapped == {}
    assert r.source["parameters"] == INFOTEXT


def test_a1111_unicode_itxt_and_ztxt_and_after_idat():
    text = "猫, 🐱 café\nNegative prompt: ぼやけ\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"
    for data in (png(itxt=[("parameters", text)]), png(ztxt=[("parameters", text)])):
        r = interop.read(data)
        assert (r.meta.prompt, r.meta.negative_prompt) == ("猫, 🐱 café", "ぼやけ")
        assert r.meta.scheduler == "euler_a"
    body = b"parameters\0\0\0\0\0" + text.encode("utf-8")           # iTXt after IDAT
    r = interop.read(before_iend(png(), chunk(b"iTXt", body)))
    assert r.meta.prompt == "猫, 🐱 café"
    out = interop.export(r.to_aigif(), image=png())
    assert out.index(b"iTXt") > out.index(b"IDAT")                   # stays after IDAT


def test_a1111_template_lines_and_no_negative():
    text = ("a cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512\n"
            "Template: a {cat|dog}\nNegative Template: ugly")
    r = interop.read(png([("parameters", text)]))
    assert (r.meta.prompt, r.meta.negative_prompt, r.meta.seed) == ("a cat", "", 5)
    assert r.unmapped == {"line 1": "Template: a {cat|dog}", "line 2": "Negative Template: ugly"}


def test_a1111_prompt_only_and_unknown_sampler():
    r = interop.read(png([("parameters", "just a prompt")]))
    assert r.meta.prompt == "just a prompt" and r.meta.seed is None
    r = interop.read(png([("parameters", "x\nSteps: 20, Sampler: DPM adaptive, Schedule type: "
                           "Automatic, CFG scale: 7, Seed: 5, Size: 512x512")]))
    assert r.meta.params["sampler"] == "DPM adaptive"
    assert r.meta.params["schedule_type"] == "Automatic"


def test_a1111_automatic_resolved_per_sampler():
    for sampler, sched, key in (("DPM++ 2M", "Automatic", "dpmpp_2m_karras"),
                                ("DPM++ 2M SDE", "Automatic", "dpmpp_2m_sde_exponential"),
                                ("Euler a", "Automatic", "euler_a")):
        t = f"x\nSteps: 20, Sampler: {sampler}, Schedule type: {sched}, CFG scale: 7, Seed: 1, Size: 512x512"
        assert interop.read(png([("parameters", t)])).meta.scheduler == key
    # 1.9+ without the key (API call): Automatic; before 1.9: plain
    t = "x\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 512x512, Version: v1.10.0"
    assert interop.read(png([("parameters", t)])).meta.scheduler == "dpmpp_2m_karras"
    t = "x\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 512x512, Version: v1.6.0"
    assert interop.read(png([("parameters", t)])).meta.scheduler == "dpmpp_2m"


def test_forge_flux():
    t = ("a fox\nSteps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, "
         "Distilled CFG Scale: 3.5, Seed: 7, Size: 896x1152, Model hash: 275ef623d3, "
         "Model: flux1-dev-bnb-nf4-v2, Version: f2.0.1v1.10.1-previous-313-g8a042934")
    r = interop.read(png([("parameters", t)]))
    m = r.meta
    assert r.tool == "forge"
    assert m.generator == "flux" and m.model == "ckpt:flux1-dev-bnb-nf4-v2"
    assert m.scheduler == "flow_euler"
    assert m.params["distilled_guidance"] == 3.5 and m.guidance_scale == 1.0


def test_generator_guess():
    base = "x\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: {s}, Model: {m}"
    for m, s, gen in (("ponyDiffusionV6XL", "512x512", "sdxl"),
                      ("illustriousXL_v01", "832x1216", "sdxl"),
                      ("dreamshaper_8", "832x1216", "sdxl"),      # SDXL bucket size
                      ("dreamshaper_8", "512x768", "sd"),
                      ("anything-v3", "704x1280", "sd")):
        r = interop.read(png([("parameters", base.format(s=s, m=m))]))
        assert r.meta.generator == gen, (m, s)


def test_sdnext_and_civitai_detection():
    t = ("x\nSteps: 20, Seed: 1, Sampler: DPM++ 2M, CFG scale: 6, Size: 1024x1024, "
         "Model: juggernaut, Backend: Diffusers, App: SD.Next, Version: 4b3e4a2, "
         "Pipeline: StableDiffusionXLPipeline")
    r = interop.read(png([("parameters", t)]))
    assert r.tool == "sdnext" and r.meta.generator == "sdxl"
    t = ('x\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, '
         'Civitai resources: [{"type":"checkpoint","modelVersionId":1}]')
    r = interop.read(png([("parameters", t)]))
    assert r.tool == "civitai"
    assert r.unmapped["Civitai resources"] == '[{"type":"checkpoint","modelVersionId":1}]'


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
@pytest.mark.parametrize("enc", ["be", "le", "bare", "ascii"])
def test_exif_user_comment(fmt, enc):
    text = "猫の絵, cat\nNegative prompt: dog\nSteps: 9, Sampler: Euler, CFG scale: 4, Seed: 3, Size: 512x512"
    raw = {"be": b"UNICODE\0" + text.encode("utf-16-be"),
           "le": b"UNICODE\0" + text.encode("utf-16-le"),
           "bare": text.encode("utf-8"),
           "ascii": b"ASCII\0\0\0" + text.encode("utf-8")}[enc]
    data = exif_image(fmt, raw)
    r = interop.read(data)
    assert (r.meta.prompt, r.meta.negative_prompt, r.meta.steps) == ("猫の絵, cat", "dog", 9)
    out = interop.export(r.to_aigif(), image=data)
    assert interop.read(out).source["UserComment"] == text
    assert out[:4] == data[:4]


def test_cjk_only_user_comment_little_endian():
    text = "猫\nSteps: 9, Sampler: Euler, CFG scale: 4, Seed: 3, Size: 512x512"
    data = exif_image("JPEG", b"UNICODE\0" + text.encode("utf-16-le"))
    assert interop.read(data).meta.prompt == "猫"


# --------------------------------------------------------------------------- stealth
def _encode_png(im):
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("sig,mode,compress", [
    (b"stealth_pnginfo", "alpha", False), (b"stealth_pngcomp", "alpha", True),
    (b"stealth_rgbinfo", "rgb", False), (b"stealth_rgbcomp", "rgb", True)])
def test_stealth_a1111(sig, mode, compress):
    text = "a hidden fox\nNegative prompt: blur\nSteps: 12, Sampler: Euler a, CFG scale: 6, Seed: 77, Size: 64x64"
    payload = gzip.compress(text.encode()) if compress else text.encode()
    data = _encode_png(stealth_image(payload, sig, mode=mode, size=(64, 64)))
    r = interop.read(data)
    assert (r.meta.prompt, r.meta.seed, r.meta.steps) == ("a hidden fox", 77, 12)
    assert r.source["stealth"] == text
    assert not interop.read(png([("x", "y")] * 0 + [("parameters", text)])).source.get("stealth")


def test_stealth_novelai_and_webp_lossless():
    comment = {"prompt": "1girl, space", "steps": 28, "seed": 99, "scale": 5.0, "uc": "lowres",
               "sampler": "k_euler_ancestral", "width": 832, "height": 1216, "sm": True}
    blob = {"Description": "1girl, space", "Software": "NovelAI",
            "Source": "Stable Diffusion XL C1E1DE52", "Comment": json.dumps(comment)}
    im = stealth_image(gzip.compress(json.dumps(blob).encode()), b"stealth_pngcomp", size=(80, 80))
    for fmt, kw in (("PNG", {}), ("WEBP", {"lossless": True})):
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        r = interop.read(buf.getvalue())
        m = r.meta
        assert r.tool == "novelai"
        assert (m.prompt, m.negative_prompt, m.seed, m.steps) == ("1girl, space", "lowres", 99, 28)
        assert (m.width, m.height, m.scheduler, m.generator) == (832, 1216, "euler_a", "sdxl")
        assert m.params["smea"] is True


def test_no_stealth_in_plain_alpha():
    with pytest.raises(aigif.errors.ImportMetadataError, match="no generation metadata"):
        interop.read(png(mode="RGBA", size=(64, 64)))


# --------------------------------------------------------------------------- ComfyUI
SDXL_GRAPH = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "10": {"class_type": "LoraLoader", "inputs": {"lora_name": "pixel.safetensors", "strength_model": 0.8,
                                                  "strength_clip": 0.6, "model": ["4", 0], "clip": ["4", 1]}},
    "11": {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": "detail.safetensors",
                                                           "strength_model": 0.3, "model": ["10", 0]}},
    "12": {"class_type": "CLIPSetLastLayer", "inputs": {"stop_at_clip_layer": -2, "clip": ["10", 1]}},
    "13": {"class_type": "FreeU_V2", "inputs": {"b1": 1.3, "model": ["11", 0]}},   # pass-through
    "20": {"class_type": "PrimitiveNode", "inputs": {"value": 123456789012}},
    "21": {"class_type": "Text Multiline", "inputs": {"text": "a castle, oil painting"}},
    "6": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"text_g": ["21", 0], "text_l": ["21", 0],
                                                         "width": 4096, "height": 4096, "clip": ["12", 0]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["12", 0]}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 832, "height": 1216, "batch_size": 1}},
    "3": {"class_type": "KSampler", "inputs": {"seed": ["20", 0], "steps": 30, "cfg": 6.0,
                                               "sampler_name": "dpmpp_2m_sde_gpu", "scheduler": "karras",
                                               "denoise": 1.0, "model": ["13", 0], "positive": ["6", 0],
                                               "negative": ["7", 0], "latent_image": ["5", 0]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
}


def test_comfyui_sdxl_loras_primitives():
    r = interop.read(png([("prompt", json.dumps(SDXL_GRAPH)), ("workflow", '{"nodes": []}')]))
    m = r.meta
    assert r.tool == "comfyui" and m.model == "sdxl"
    assert (m.prompt, m.negative_prompt) == ("a castle, oil painting", "blurry")
    assert (m.seed, m.steps, m.guidance_scale, m.scheduler) == (123456789012, 30, 6.0, "dpmpp_2m_sde_karras")
    assert (m.width, m.height, m.clip_skip) == (832, 1216, 1)
    assert [(lo.name, lo.weight, lo.clip_weight) for lo in m.loras] == [
        ("pixel.safetensors", 0.8, 0.6), ("detail.safetensors", 0.3, None)]
    assert "denoise" not in m.params


FLUX_GRAPH = {
    "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}},
    "2": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "t5xxl_fp16.safetensors",
                                                     "clip_name2": "clip_l.safetensors", "type": "flux"}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in snow", "clip": ["2", 0]}},
    "4": {"class_type": "FluxGuidance", "inputs": {"guidance": 3.5, "conditioning": ["3", 0]}},
    "5": {"class_type": "BasicGuider", "inputs": {"model": ["1", 0], "conditioning": ["4", 0]}},
    "6": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
    "7": {"class_type": "BasicScheduler", "inputs": {"scheduler": "simple", "steps": 24, "denoise": 1.0,
                                                     "model": ["1", 0]}},
    "8": {"class_type": "RandomNoise", "inputs": {"noise_seed": 31337}},
    "9": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
    "10": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["8", 0], "guider": ["5", 0],
                                                             "sampler": ["6", 0], "sigmas": ["7", 0],
                                                             "latent_image": ["9", 0]}},
    "11": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["12", 0]}},
    "12": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
}


def test_comfyui_flux_sampler_custom_advanced():
    r = interop.read(png([("prompt", json.dumps(FLUX_GRAPH))]))
    m = r.meta
    assert m.model == "flux1-dev" and m.generator == "flux"
    assert (m.prompt, m.negative_prompt) == ("a red fox in snow", "")
    assert (m.seed, m.steps, m.guidance_scale, m.scheduler) == (31337, 24, 3.5, "flow_euler")
    assert (m.width, m.height) == (1024, 768)


def test_comfyui_hostile_graphs():
    cyc = {"1": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 5, "cfg": 2, "model": ["2", 0],
                                                      "positive": ["3", 0], "negative": ["3", 0],
                                                      "latent_image": ["1", 0]}},
           "2": {"class_type": "Weird", "inputs": {"model": ["2", 0]}},
           "3": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["3", 0]}}}
    r = interop.read(png([("prompt", json.dumps(cyc))]))
    assert (r.meta.seed, r.meta.steps) == (1, 5)
    nos = {"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "hello"}},
           "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}}}
    r = interop.read(png([("prompt", json.dumps(nos))]))
    assert r.meta.prompt == "hello" and r.meta.model == "ckpt:m.safetensors"
    assert "graph" in r.unmapped
    weird = {"1": {"class_type": "KSampler", "inputs": {"seed": "abc", "steps": -3, "cfg": "NaN",
                                                        "sampler_name": 5, "scheduler": None,
                                                        "model": [99, 0], "positive": "x",
                                                        "latent_image": [None, "y"]}}}
    r = interop.read(png([("prompt", json.dumps(weird))]))
    assert r.meta.seed is None and "steps" in r.unmapped


def test_comfyui_video_sampler_custom_nodes():
    g = {"198": {"class_type": "WanVideoModelLoader", "inputs": {
            "model": "wan\\wan2.1_i2v_480P_14B_fp8_e4m3fn.safetensors", "base_precision": "fp16"}},
         "232": {"class_type": "WanVideoTextEmbedBridge", "inputs": {"positive": ["234", 0],
                                                                     "negative": ["235", 0]}},
         "234": {"class_type": "CLIPTextEncode", "inputs": {"text": "positive prompt", "clip": ["233", 0]}},
         "235": {"class_type": "CLIPTextEncode", "inputs": {"text": "negative prompt", "clip": ["233", 0]}},
         "252": {"class_type": "WanVideoSampler", "inputs": {
             "steps": 30, "cfg": 6.0, "shift": 6.0, "seed": 1234, "scheduler": "unipc",
             "denoise_strength": 1.0, "model": ["198", 0], "text_embeds": ["232", 0]}}}
    r = interop.read(png([("prompt", json.dumps(g)), ("workflow", '{"links": []}')]))
    m = r.meta
    assert (m.prompt, m.negative_prompt) == ("positive prompt", "negative prompt")
    assert (m.seed, m.steps, m.guidance_scale) == (1234, 30, 6.0)
    assert m.model == "ckpt:wan\\wan2.1_i2v_480P_14B_fp8_e4m3fn.safetensors"
    assert m.params["schedule_type"] == "unipc"


def test_comfyui_efficiency_nodes():
    g = {"1": {"class_type": "Efficient Loader", "inputs": {
            "ckpt_name": "dreamshaper_8.safetensors", "clip_skip": -2, "lora_name": "None",
            "positive": "a lighthouse", "negative": "fog", "empty_latent_width": 512,
            "empty_latent_height": 768, "batch_size": 1}},
         "2": {"class_type": "KSampler (Efficient)", "inputs": {
             "seed": 5, "steps": 25, "cfg": 7.0, "sampler_name": "euler_ancestral", "scheduler": "normal",
             "denoise": 1.0, "model": ["1", 0], "positive": ["1", 1], "negative": ["1", 2],
             "latent_image": ["1", 3]}}}
    m = interop.read(png([("prompt", json.dumps(g))])).meta
    assert (m.prompt, m.negative_prompt, m.width, m.height) == ("a lighthouse", "fog", 512, 768)
    assert (m.model, m.clip_skip, m.scheduler) == ("ckpt:dreamshaper_8.safetensors", 1, "euler_a")


def test_comfyui_export_built_graph_round_trip():
    meta = aigif.GenerationMeta(model="ckpt:myModel.safetensors", generator="sd", prompt="a tree",
                                negative_prompt="ugly", seed=12, steps=22, guidance_scale=5.5,
                                scheduler="dpmpp_2m_karras", width=640, height=512, clip_skip=1,
                                loras=(aigif.Lora("a.safetensors", 0.7),))
    r = interop.read(interop.export(meta, "comfyui", image=png()))
    assert r.tool == "comfyui"
    m = r.meta
    assert (m.model, m.prompt, m.negative_prompt, m.seed, m.steps, m.guidance_scale, m.scheduler,
            m.width, m.height, m.clip_skip) == ("ckpt:myModel.safetensors", "a tree", "ugly", 12, 22,
                                                5.5, "dpmpp_2m_karras", 640, 512, 1)
    assert [(lo.name, lo.weight) for lo in m.loras] == [("a.safetensors", 0.7)]


# --------------------------------------------------------------------------- others
def test_official_weights_by_folder_name():
    j = {"positive_prompt": "x", "seed": 1, "steps": 20, "cfg_scale": 7.5, "width": 512,
         "height": 512, "scheduler": "euler",
         "model": {"model_name": "stable-diffusion-v1-5", "base_model": "sd-1", "model_type": "main"}}
    assert interop.read(png([("invokeai_metadata", json.dumps(j))])).meta.model == "sd15"
    j["model"] = {"model_name": "juggernaut-v9", "base_model": "sd-1"}
    assert interop.read(png([("invokeai_metadata", json.dumps(j))])).meta.model == "ckpt:juggernaut-v9"


def test_invokeai2_negative_brackets():
    from aigif.interop.invokeai import split_negative
    assert split_negative("a cat [blurry, dog]") == ("a cat", "blurry, dog")
    assert split_negative("a [x] cat [y]") == ("a cat", "x, y")
    assert split_negative("(a [b]:1.2) cat") == ("(a [b]:1.2) cat", "")
    assert split_negative("no negatives") == ("no negatives", "")
    assert split_negative("unclosed [oops") == ("unclosed [oops", "")


def test_invokeai_5_metadata_with_loras():
    j = {"positive_prompt": "a bird", "negative_prompt": "", "width": 1024, "height": 1024,
         "seed": 5, "cfg_scale": 4.5, "steps": 30, "scheduler": "dpmpp_2m_k", "clip_skip": 0,
         "model": {"key": "abc", "hash": "blake3:0123abcd", "name": "Juggernaut XL v9", "base": "sdxl",
                   "type": "main"},
         "loras": [{"model": {"key": "k", "hash": "h", "name": "add-detail-xl", "base": "sdxl"},
                    "weight": 0.75}],
         "app_version": "5.4.2", "generation_mode": "sdxl_txt2img"}
    r = interop.read(png([("invokeai_metadata", json.dumps(j)), ("invokeai_graph", "{}")]))
    m = r.meta
    assert r.tool == "invokeai" and m.generator == "sdxl" and m.model == "ckpt:Juggernaut XL v9"
    assert (m.prompt, m.seed, m.steps, m.guidance_scale, m.scheduler) == ("a bird", 5, 30, 4.5, "dpmpp_2m_karras")
    assert [(lo.name, lo.weight) for lo in m.loras] == [("add-detail-xl", 0.75)]
    assert m.params["model_hash"] == "blake3:0123abcd"
    assert r.source["invokeai_graph"] == "{}"


def test_swarmui():
    j = {"sui_image_params": {"prompt": "a ship", "negativeprompt": "text", "model": "OfficialStableDiffusion/sd_xl_base_1.0",
                              "seed": 1234, "steps": 25, "cfgscale": 7.5, "aspectratio": "1:1",
                              "width": 1024, "height": 1024, "sampler": "dpmpp_2m", "scheduler": "karras",
                              "loras": ["style1"], "loraweights": ["0.6"], "swarm_version": "0.9.2"},
         "sui_extra_data": {"date": "2024-06-01"}}
    r = interop.read(png([("parameters", json.dumps(j))]))
    m = r.meta
    assert r.tool == "swarmui"
    assert (m.prompt, m.negative_prompt, m.seed, m.steps, m.guidance_scale) == ("a ship", "text", 1234, 25, 7.5)
    assert m.scheduler == "dpmpp_2m_karras" and m.generator == "sdxl"
    assert [(lo.name, lo.weight) for lo in m.loras] == [("style1", 0.6)]


def test_fooocus_jpeg_exif_and_a1111_scheme():
    j = {"prompt": "a goldfish", "negative_prompt": "", "steps": 30, "guidance_scale": 4,
         "seed": "123", "resolution": "(1152, 896)", "sampler": "dpmpp_2m_sde_gpu",
         "scheduler": "karras", "base_model": "juggernautXL_v8Rundiffusion", "clip_skip": 2,
         "loras": [["sd_xl_offset_example-lora_1.0.safetensors", 0.1, "4852686128"]],
         "metadata_scheme": "fooocus", "version": "Fooocus v2.5.0"}
    data = exif_image("JPEG", json.dumps(j).encode(), ifd0={0x0131: "Fooocus v2.5.0", 0x927C: "fooocus"})
    r = interop.read(data)
    m = r.meta
    assert r.tool == "fooocus"
    assert (m.seed, m.width, m.height, m.scheduler) == (123, 1152, 896, "dpmpp_2m_sde_karras")
    assert [(lo.name, lo.weight, lo.sha256) for lo in m.loras] == [
        ("sd_xl_offset_example-lora_1.0.safetensors", 0.1, "4852686128")]
    t = ("a goldfish\nSteps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 123, Size: 1152x896, "
         "CFG scale: 4, Model: juggernautXL_v8Rundiffusion, Version: Fooocus v2.5.0")
    r = interop.read(png([("parameters", t), ("fooocus_scheme", "a1111")]))
    assert r.tool == "fooocus" and r.meta.scheduler == "dpmpp_2m_sde_karras"
    assert r.meta.generator == "sdxl"


def test_easy_diffusion_key_value_chunks():
    texts = [("prompt", "a lake"), ("negative_prompt", "people"), ("seed", "42"),
             ("num_inference_steps", "25"), ("guidance_scale", "7.5"), ("width", "512"),
             ("height", "768"), ("sampler_name", "euler_a"), ("use_stable_diffusion_model", "sd-v1-4"),
             ("use_face_correction", "GFPGANv1.3")]
    r = interop.read(png(texts))
    m = r.meta
    assert r.tool == "easydiffusion"
    assert (m.prompt, m.negative_prompt, m.seed, m.steps, m.guidance_scale) == ("a lake", "people", 42, 25, 7.5)
    assert (m.width, m.height, m.scheduler, m.model) == (512, 768, "euler_a", "sd14")   # sd-v1-4.ckpt
    assert r.unmapped["use_face_correction"] == "GFPGANv1.3"


def test_draw_things_xmp():
    j = {"c": "a koi pond", "uc": "blurry", "seed": 8, "steps": 20, "scale": 4.5,
         "sampler": "DPM++ 2M Karras", "size": "768x1024", "model": "sd_xl_base_1.0_f16.ckpt"}
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description><exif:UserComment>'
           '<rdf:Alt><rdf:li xml:lang="x-default">' + json.dumps(j).replace('"', "&quot;") +
           '</rdf:li></rdf:Alt></exif:UserComment></rdf:Description></rdf:RDF></x:xmpmeta>')
    r = interop.read(png(itxt=[("XML:com.adobe.xmp", xmp)]))
    m = r.meta
    assert r.tool == "drawthings"
    assert (m.prompt, m.negative_prompt, m.seed, m.steps, m.guidance_scale) == ("a koi pond", "blurry", 8, 20, 4.5)
    assert (m.scheduler, m.width, m.height, m.generator) == ("dpmpp_2m_karras", 768, 1024, "sdxl")
    assert r.source["XML:com.adobe.xmp"] == xmp


def test_swarm_legacy_exif_and_easy_diffusion_capitalised():
    j = {"sui_image_params": {"prompt": "a owl", "negativeprompt": "", "model": "sd_xl_base_1.0",
                              "seed": 3, "steps": 20, "cfgscale": 7, "width": 1024, "height": 1024,
                              "comfyuisampler": "euler_ancestral"}}
    data = exif_image("JPEG", b"", ifd0={0x0110: json.dumps(j)})
    r = interop.read(data)
    assert r.tool == "swarmui" and r.meta.model == "sdxl" and r.meta.scheduler == "euler_a"
    texts = [("Prompt", "a cabin"), ("Negative Prompt", "snow"), ("Seed", "11"), ("Steps", "30"),
             ("Guidance Scale", "7"), ("Sampler", "dpmpp_2m"), ("Width", "512"), ("Height", "512"),
             ("Stable Diffusion model", "C:\\models\\v1-5-pruned-emaonly.safetensors"),
             ("Clip Skip", "True")]
    r = interop.read(png(texts))
    m = r.meta
    assert r.tool == "easydiffusion"
    assert (m.prompt, m.negative_prompt, m.seed, m.steps, m.scheduler) == ("a cabin", "snow", 11, 30, "dpmpp_2m")
    assert (m.model, m.clip_skip) == ("sd15", 1)


def test_fooocus_old_comment_json():
    j = {"prompt": "a lamp", "negative_prompt": "dark", "base_model": "sd_xl_base_1.0_0.9vae",
         "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras", "seed": 9, "cfg": 7.0, "steps": 30,
         "width": 1152, "height": 896}
    r = interop.read(png([("Comment", json.dumps(j))]))
    m = r.meta
    assert r.tool == "fooocus" and m.model == "sdxl"
    assert (m.guidance_scale, m.width, m.height, m.seed) == (7.0, 1152, 896, 9)


def test_pil_image_input():
    im = Image.open(io.BytesIO(png([("parameters", "x\nSteps: 3, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 8x8")])))
    assert interop.read(im).meta.steps == 3


# --------------------------------------------------------------------------- export
def test_a1111_export_from_meta_round_trip():
    meta = aigif.GenerationMeta(
        model="ckpt:my, model: v2", generator="sdxl", model_revision="0123456789",
        prompt='a "quoted", prompt: with colon\nand a line', negative_prompt="bad, worse",
        seed=2**40 + 3, steps=33, guidance_scale=6.25, scheduler="dpmpp_2m", width=1024,
        height=1536, clip_skip=1,
        params={"vae": "x.safetensors", "tiling": True, "custom_thing": "a, b"},
        stages=(aigif.Hires(strength=0.87, steps=10),))   # was params denoise + hires_steps
    text = meta_to_infotext(meta)
    assert "Schedule type: Uniform" in text          # DPM++ 2M + Automatic would be Karras
    assert "Clip skip: 2" in text
    r = interop.read(png([("parameters", text)]))
    assert r.meta == meta
    assert r.unmapped == {}


# --------------------------------------------------------------------------- properties
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=150, deadline=None)
@given(prompt=_TEXT, neg=_TEXT, seed=st.integers(0, 2**64 - 1), steps=st.integers(1, 150),
       cfg=st.floats(0, 30, allow_nan=False), w=st.integers(1, 4096), h=st.integers(1, 4096),
       sched=st.sampled_from(["euler_a", "dpmpp_2m", "dpmpp_2m_karras", "unipc", "ddim",
                              "dpmpp_2m_sde_exponential", "lms_karras", "lcm"]),
       clip=st.integers(0, 3), name=st.text(min_size=1, max_size=30).filter(str.strip))
def test_a1111_infotext_round_trip(prompt, neg, seed, steps, cfg, w, h, sched, clip, name):
    """meta -> infotext -> meta is exact, except prompts that themselves hold the lines
    the format uses as separators (ambiguous in A1111 too)."""
    for t in (prompt, neg):
        assume("\nNegative prompt:" not in "\n" + t and not any(
            ln.strip().startswith("Steps:") for ln in t.split("\n")))
        assume(not t.endswith("\r"))   # "...\r\n" is also how CRLF infotexts break lines
    assume(not prompt.startswith("Negative prompt:"))
    meta = aigif.GenerationMeta(model="ckpt:" + name, generator="sd", prompt=prompt,
                                negative_prompt=neg, seed=seed, steps=steps, guidance_scale=cfg,
                                scheduler=sched, width=w, height=h, clip_skip=clip)
    text = meta_to_infotext(meta)
    r = interop.read(png(itxt=[("parameters", text)]))
    assert r.meta == meta, text


def test_comfyui_saver_node_with_a1111_parameters():
    """Image Saver-style files carry both. The saver builds its infotext from its own inputs
    (unwired ones keep defaults such as seed 0), so the executed graph wins; the infotext's
    disagreeing values are kept in unmapped, and both texts are kept verbatim."""
    t = ("a bridge\nNegative prompt: fog\nSteps: 25, Sampler: DPM++ 2M Karras, CFG scale: 6, "
         "Seed: 77, Size: 832x1216, Model hash: 31e35c80fc, Model: sd_xl_base_1.0")
    r = interop.read(png([("parameters", t), ("prompt", json.dumps(SDXL_GRAPH)),
                          ("workflow", '{"nodes": []}')]))
    assert r.tool == "comfyui"
    assert (r.meta.model, r.meta.seed, r.meta.scheduler) == ("sdxl", 123456789012,
                                                             "dpmpp_2m_sde_karras")
    assert (r.meta.prompt, r.meta.steps) == ("a castle, oil painting", 30)
    assert r.unmapped["infotext seed"] == "77"
    a = interop.read(interop.export(r.to_aigif(), "a1111", image=png()))
    assert a.source["parameters"] == t
    c = interop.read(interop.export(r.to_aigif(), "comfyui", image=png()))
    assert json.loads(c.source["prompt"]) == SDXL_GRAPH


def test_comfyui_concat_text_and_lora_stacks():
    g = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
         "2": {"class_type": "Power Lora Loader (rgthree)", "inputs": {
             "lora_1": {"on": True, "lora": "a.safetensors", "strength": 0.7},
             "lora_2": {"on": False, "lora": "off.safetensors", "strength": 1.0},
             "model": ["1", 0], "clip": ["1", 1]}},
         "3": {"class_type": "Lora Loader Stack (rgthree)", "inputs": {
             "lora_01": "b.safetensors", "strength_01": 0.5, "lora_02": "None", "strength_02": 1,
             "model": ["2", 0], "clip": ["2", 1]}},
         "4": {"class_type": "Text Concatenate", "inputs": {"text_a": "a fox", "text_b": ["5", 0],
                                                            "delimiter": ", "}},
         "5": {"class_type": "String Literal", "inputs": {"string": "in the snow"}},
         "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["4", 0], "clip": ["3", 1]}},
         "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512}},
         "8": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 4, "cfg": 2.0,
                                                    "sampler_name": "euler", "scheduler": "normal",
                                                    "model": ["3", 0], "positive": ["6", 0],
                                                    "negative": ["6", 0], "latent_image": ["7", 0]}}}
    m = interop.read(png([("prompt", json.dumps(g))])).meta
    assert m.prompt == "a fox, in the snow"
    assert [(lo.name, lo.weight) for lo in m.loras] == [("a.safetensors", 0.7), ("b.safetensors", 0.5)]


def test_comfyui_sdxl_refiner_pass():
    g = dict(SDXL_GRAPH)
    g["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "add_noise": "enable", "noise_seed": 5, "steps": 25, "cfg": 7.0, "sampler_name": "euler",
        "scheduler": "normal", "start_at_step": 0, "end_at_step": 20,
        "return_with_leftover_noise": "enable", "model": ["4", 0], "positive": ["6", 0],
        "negative": ["7", 0], "latent_image": ["5", 0]}}
    g["30"] = {"class_type": "CheckpointLoaderSimple",
               "inputs": {"ckpt_name": "sd_xl_refiner_1.0.safetensors"}}
    g["31"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "add_noise": "disable", "noise_seed": 5, "steps": 25, "cfg": 7.0, "sampler_name": "euler",
        "scheduler": "normal", "start_at_step": 20, "end_at_step": 10000,
        "return_with_leftover_noise": "disable", "model": ["30", 0], "positive": ["6", 0],
        "negative": ["7", 0], "latent_image": ["3", 0]}}
    g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["31", 0], "vae": ["4", 2]}}
    m = interop.read(png([("prompt", json.dumps(g))])).meta
    assert (m.model, m.seed, m.steps, m.scheduler) == ("sdxl", 5, 25, "euler")
    (ref,) = m.stages                  # params refiner/refiner_switch before issue 15
    assert (ref.name, ref.model, ref.switch) == ("refiner", "ckpt:sd_xl_refiner_1.0.safetensors",
                                                 0.8)
    assert m.params["end_at_step"] == 20 and "hires_steps" not in m.params
