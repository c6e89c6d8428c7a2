"""Later passes imported as typed stages (issue 15 part 3) and exported back.

Fixtures are written here by hand with the key names and node classes the tools write
(A1111 ``processing.py`` / Forge / sd-webui-controlnet / ADetailer infotext keys; ComfyUI
core node classes and Impact Pack's FaceDetailer); the texts are our own."""
import io
import json
import struct
import zlib

import pytest

import aigif
from aigif import interop
from aigif.interop.a1111 import infotext_to_draft, meta_to_infotext
from aigif.interop.comfyui import graph_to_draft, meta_to_graph


def png(texts) -> bytes:
    def chunk(t: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body))
    raw = b"".join(b"\0" + b"\x80" * 12 for _ in range(4))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
    for k, v in texts:
        out += chunk(b"iTXt", k.encode("latin-1") + b"\0\0\0\0\0" + v.encode("utf-8"))
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _read(text: str):
    return interop.read(png([("parameters", text)]))


HEAD = ("a lighthouse at dusk, <lora:add_detail:0.6>, \nwide shot\nNegative prompt: lowres, \n"
        "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 123456789, "
        "Size: 512x768, Model hash: 879db523c3, Model: dreamshaper_8, ")
A1111_LATENT = HEAD + ("Denoising strength: 0.45, Hires upscale: 2, Hires steps: 15, "
                       "Hires upscaler: Latent (nearest-exact), Lora hashes: \"add_detail: "
                       "7c6bad76eb54\", Version: v1.9.4")
A1111_MODEL = HEAD + ("Denoising strength: 0.35, Hires resize: 1024x0, Hires steps: 0, "
                      "Hires upscaler: 4x-UltraSharp, Version: v1.10.1")
FORGE = ("a red fox in snow\nNegative prompt: blur\nSteps: 20, Sampler: Euler a, "
         "Schedule type: Automatic, CFG scale: 7, Seed: 42, Size: 832x1216, Model hash: "
         "1a2b3c4d5e, Model: juggernautXL_v9, Denoising strength: 0.4, Hires CFG Scale: 4.5, "
         "Hires prompt: \"a red fox in snow, sharp fur, \", Hires negative prompt: \"blur, "
         "grain\", Hires sampler: DPM++ 2M, Hires schedule type: Karras, Hires upscale: 1.5, "
         "Hires steps: 12, Hires upscaler: R-ESRGAN 4x+, Hires checkpoint: "
         "realvisxlV40 [f1e2d3c4b5], Version: f2.0.1v1.10.1-previous-313-g8a042934")
REFINER = ("a glass teapot\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, "
           "Seed: 7, Size: 1024x1024, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, "
           "Refiner: sd_xl_refiner_1.0 [7440042bbd], Refiner switch at: 0.8, Version: v1.9.4")
CONTROLNET = HEAD + ('ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], '
                     'Weight: 0.8, Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: '
                     '100.0, Threshold B: 200.0, Guidance Start: 0.1, Guidance End: 0.9, Pixel '
                     'Perfect: False, Control Mode: Balanced", Version: v1.9.4')
ADETAILER = HEAD + ("ADetailer model: face_yolov8n.pt, ADetailer prompt: \"detailed face, "
                    "smile\", ADetailer confidence: 0.35, ADetailer dilate erode: 4, "
                    "ADetailer mask blur: 6, ADetailer denoising strength: 0.38, "
                    "ADetailer inpaint only masked: True, ADetailer inpaint padding: 32, "
                    "ADetailer model 2nd: hand_yolov8n.pt, ADetailer confidence 2nd: 0.3, "
                    "ADetailer denoising strength 2nd: 0.4, ADetailer version: 24.9.0, "
                    "Version: v1.10.1")


def test_a1111_hires_latent_keeps_the_first_pass():
    r = _read(A1111_LATENT)
    m = r.meta
    assert (m.width, m.height, m.steps, m.seed) == (512, 768, 28, 123456789)
    (h,) = m.stages
    assert isinstance(h, aigif.Hires)
    assert (h.scale, h.upscaler, h.strength, h.steps) == (2.0, "latent-nearest-exact", 0.45, 15)
    assert "denoise" not in m.params and not any(k.startswith("hires") for k in m.params)
    assert r.source["parameters"] == A1111_LATENT                       # verbatim
    assert m.prompt == "a lighthouse at dusk, <lora:add_detail:0.6>, \nwide shot"  # byte-exact
    assert m.loras == (aigif.Lora("add_detail", 0.6, sha256="7c6bad76eb54"),)


def test_a1111_hires_model_upscaler_and_resize_with_one_side_zero():
    (h,) = _read(A1111_MODEL).meta.stages
    assert (h.size, h.upscaler, h.upscaler_model) == ((1024, 1536), "model", "ckpt:4x-UltraSharp")
    assert (h.strength, h.steps) == (0.35, 0)


def test_forge_hires_cfg_prompt_sampler_checkpoint():
    m = _read(FORGE).meta
    (h,) = m.stages
    assert (h.guidance_scale, h.scale, h.steps, h.strength) == (4.5, 1.5, 12, 0.4)
    assert (h.prompt, h.negative_prompt) == ("a red fox in snow, sharp fur, ", "blur, grain")
    assert h.scheduler == "dpmpp_2m_karras" and m.scheduler == "euler_a"
    assert h.model == "ckpt:realvisxlV40 [f1e2d3c4b5]"


def test_a1111_refiner():
    m = _read(REFINER).meta
    (ref,) = m.stages
    assert (ref.model, ref.switch, ref.steps) == ("ckpt:sd_xl_refiner_1.0 [7440042bbd]", 0.8, 0)
    assert "refiner" not in m.params and m.model == "sdxl"


def test_a1111_controlnet_unit_has_no_image():
    r = _read(CONTROLNET)
    (cn,) = r.meta.stages
    assert (cn.model, cn.scale, cn.start, cn.end, cn.pass_index) == (
        "ckpt:control_v11p_sd15_canny [d14c016b]", 0.8, 0.1, 0.9, 0)
    assert cn.image is None and cn.params["preprocessor"] == "canny"
    assert cn.params["Threshold A"] == "100.0"
    assert "ControlNet 0" not in r.unmapped


def test_controlnet_without_image_or_preprocessor_is_reported_by_validate():
    text = HEAD + 'ControlNet 0: "Module: none, Model: control_v11p_sd15_canny, Weight: 1"'
    r = _read(text)
    buf = io.BytesIO()
    aigif.save(r.to_aigif(), buf)
    codes = [i.code for i in aigif.validate(buf.getvalue()).issues]
    assert "no-control-image" in codes


def test_adetailer_units():
    r = _read(ADETAILER)
    d1, d2 = r.meta.stages
    assert isinstance(d1, aigif.Detailer)
    assert (d1.detector, d1.confidence, d1.mask_blur, d1.strength) == (
        "face_yolov8n.pt", 0.35, 6, 0.38)
    assert d1.prompt == "detailed face, smile" and d1.negative_prompt == "lowres, "
    assert d1.params["inpaint padding"] == "32"
    assert (d2.detector, d2.confidence, d2.strength) == ("hand_yolov8n.pt", 0.3, 0.4)
    assert r.unmapped == {"ADetailer version": "24.9.0"}


@pytest.mark.parametrize("text", [A1111_LATENT, A1111_MODEL, FORGE, REFINER, CONTROLNET,
                                  ADETAILER], ids=["latent", "model", "forge", "refiner",
                                                   "controlnet", "adetailer"])
def test_a1111_round_trip_and_aigif_bytes(text):
    m = _read(text).meta
    back = _read(meta_to_infotext(m)).meta
    assert back.stages == m.stages and back.loras == m.loras
    assert (back.prompt, back.negative_prompt) == (m.prompt, m.negative_prompt)
    buf = io.BytesIO()
    aigif.save(m, buf)
    assert aigif.open(buf.getvalue()).meta == m


# --------------------------------------------------------------------------- ComfyUI
def _base(ckpt="dreamshaper_8.safetensors"):
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768,
                                                           "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a harbour town, watercolour",
                                                         "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 1111, "steps": 28, "cfg": 6.5, "sampler_name": "euler_ancestral",
            "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0],
            "negative": ["7", 0], "latent_image": ["5", 0]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["8", 0]}},
    }


def _ks(nid_latent, denoise=0.5, steps=14, seed=2222, positive="6"):
    return {"class_type": "KSampler", "inputs": {
        "seed": seed, "steps": steps, "cfg": 6.5, "sampler_name": "dpmpp_2m",
        "scheduler": "karras", "denoise": denoise, "model": ["4", 0],
        "positive": [positive, 0], "negative": ["7", 0], "latent_image": [nid_latent, 0]}}


def comfy_latent_hires():
    g = _base()
    g["10"] = {"class_type": "LatentUpscaleBy", "inputs": {
        "upscale_method": "nearest-exact", "scale_by": 1.5, "samples": ["3", 0]}}
    g["11"] = _ks("10")
    g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["4", 2]}}
    return g


def comfy_pixel_hires():
    g = _base()
    g["12"] = {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}}
    g["13"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x-UltraSharp.pth"}}
    g["14"] = {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["13", 0],
                                                                 "image": ["12", 0]}}
    g["15"] = {"class_type": "ImageScaleBy", "inputs": {"upscale_method": "lanczos",
                                                        "scale_by": 0.5, "image": ["14", 0]}}
    g["16"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["15", 0], "vae": ["4", 2]}}
    g["11"] = _ks("16", denoise=0.4, steps=12)
    g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["4", 2]}}
    return g


def comfy_refiner():
    g = _base("sd_xl_base_1.0.safetensors")
    g["5"]["inputs"].update(width=1024, height=1024)
    g["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "add_noise": "enable", "noise_seed": 5, "steps": 25, "cfg": 7.0, "sampler_name": "euler",
        "scheduler": "normal", "start_at_step": 0, "end_at_step": 20,
        "return_with_leftover_noise": "enable", "model": ["4", 0], "positive": ["6", 0],
        "negative": ["7", 0], "latent_image": ["5", 0]}}
    g["30"] = {"class_type": "CheckpointLoaderSimple",
               "inputs": {"ckpt_name": "sd_xl_refiner_1.0.safetensors"}}
    g["32"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a harbour town, watercolour",
                                                          "clip": ["30", 1]}}
    g["33"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres", "clip": ["30", 1]}}
    g["31"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "add_noise": "disable", "noise_seed": 5, "steps": 25, "cfg": 7.0, "sampler_name": "euler",
        "scheduler": "normal", "start_at_step": 20, "end_at_step": 10000,
        "return_with_leftover_noise": "disable", "model": ["30", 0], "positive": ["32", 0],
        "negative": ["33", 0], "latent_image": ["3", 0]}}
    g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["31", 0], "vae": ["30", 2]}}
    return g


def comfy_controlnet():
    g = _base()
    g["20"] = {"class_type": "LoadImage", "inputs": {"image": "pose.png", "upload": "image"}}
    g["21"] = {"class_type": "Canny", "inputs": {"low_threshold": 0.4, "high_threshold": 0.8,
                                                 "image": ["20", 0]}}
    g["22"] = {"class_type": "ControlNetLoader",
               "inputs": {"control_net_name": "control_v11p_sd15_canny.pth"}}
    g["23"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["6", 0], "negative": ["7", 0], "control_net": ["22", 0],
        "image": ["21", 0], "strength": 0.9, "start_percent": 0.0, "end_percent": 0.75}}
    g["3"]["inputs"]["positive"] = ["23", 0]
    g["3"]["inputs"]["negative"] = ["23", 1]
    g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}}
    return g


def comfy_face_detailer():
    g = comfy_latent_hires()
    g["40"] = {"class_type": "UltralyticsDetectorProvider",
               "inputs": {"model_name": "bbox/face_yolov8m.pt"}}
    g["41"] = {"class_type": "FaceDetailer", "inputs": {
        "image": ["8", 0], "model": ["4", 0], "clip": ["4", 1], "vae": ["4", 2],
        "positive": ["6", 0], "negative": ["7", 0], "bbox_detector": ["40", 0],
        "guide_size": 512, "seed": 3, "steps": 20, "cfg": 6.5, "sampler_name": "euler",
        "scheduler": "normal", "denoise": 0.5, "feather": 5, "bbox_threshold": 0.5}}
    g["9"]["inputs"]["images"] = ["41", 0]
    return g


def _meta(g):
    m, _ = graph_to_draft(json.loads(json.dumps(g))).build()
    return m


def test_comfyui_latent_hires():
    m = _meta(comfy_latent_hires())
    assert (m.width, m.height, m.steps, m.seed) == (512, 768, 28, 1111)
    (h,) = m.stages
    assert (h.scale, h.upscaler, h.strength, h.seed) == (1.5, "latent-nearest-exact", 0.5, 2222)
    assert h.steps == 14 and h.scheduler == "dpmpp_2m_karras"  # runs 14 (of a 28-step schedule)
    assert "passes" not in m.params


def test_comfyui_pixel_hires_with_upscale_model():
    (h,) = _meta(comfy_pixel_hires()).stages
    assert (h.upscaler, h.upscaler_model, h.scale) == ("model", "ckpt:4x-UltraSharp.pth", 2.0)
    assert (h.strength, h.steps) == (0.4, 12)          # the steps the pass runs


def test_comfyui_sdxl_refiner():
    m = _meta(comfy_refiner())
    (ref,) = m.stages
    assert (ref.model, ref.switch, ref.steps, ref.prompt) == (
        "ckpt:sd_xl_refiner_1.0.safetensors", 0.8, 0, None)
    assert (m.model, m.steps) == ("sdxl", 25)


def test_comfyui_controlnet():
    m = _meta(comfy_controlnet())
    (cn,) = m.stages
    assert (cn.model, cn.scale, cn.start, cn.end, cn.pass_index) == (
        "ckpt:control_v11p_sd15_canny.pth", 0.9, 0.0, 0.75, 0)
    assert cn.image is None and dict(cn.params) == {"image": "pose.png", "preprocessor": "Canny"}
    assert m.prompt == "a harbour town, watercolour"


def test_comfyui_face_detailer():
    h, det = _meta(comfy_face_detailer()).stages
    assert h.name == "hires"
    assert (det.detector, det.confidence, det.mask_blur, det.strength, det.seed) == (
        "bbox/face_yolov8m.pt", 0.5, 5, 0.5, 3)


@pytest.mark.parametrize("make", [comfy_latent_hires, comfy_pixel_hires, comfy_refiner],
                         ids=["latent", "pixel", "refiner"])
def test_comfyui_round_trip(make):
    m = _meta(make())
    back = _meta(meta_to_graph(m))
    assert back.stages == m.stages and back.prompt == m.prompt


@pytest.mark.parametrize("text", [A1111_LATENT, A1111_MODEL, FORGE, REFINER],
                         ids=["latent", "model", "forge", "refiner"])
def test_a1111_to_comfyui_and_back(text):
    m = _read(text).meta
    g = meta_to_graph(m)
    back = interop.read(png([("prompt", json.dumps(g))])).meta
    assert back.stages == m.stages


def test_stage_parse_failures_stay_unmapped():
    d, _, _ = infotext_to_draft(HEAD + "Hires upscale: 99, Denoising strength: 0.5")
    m, _ = d.build()
    assert m.stages == () and "hires stage" in d.unmapped
