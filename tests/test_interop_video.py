"""ComfyUI video workflows and video containers -> video AIGIF metadata (issue 19,
deliverable 5). Fixtures: tests/fixtures/interop/video (built by build.py there with PyAV
and Pillow; the graphs are written by hand in the shape ComfyUI executes them)."""
import dataclasses
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

import aigif
from aigif import interop
from aigif.errors import ImportMetadataError
from aigif.interop import comfyui_video
from aigif.interop._container import Container

FIX = Path(__file__).parent / "fixtures" / "interop" / "video"
sys.path.insert(0, str(FIX))
import build  # noqa: E402  (the fixtures' graphs)

sys.path.pop(0)


def _png(texts) -> bytes:
    import struct
    import zlib

    def chunk(t: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body))
    raw = b"".join(b"\0" + b"\x80" * 12 for _ in range(4))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
    for k, v in texts:
        out += chunk(b"iTXt", k.encode("latin-1") + b"\0\0\0\0\0" + v.encode("utf-8"))
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _graph(g: dict):
    return interop.read(_png([("prompt", json.dumps(g))]))


# ----------------------------------------------------------------- containers (PyAV)
def test_vhs_mp4_comment_animatediff_gen1():
    """VHS_VideoCombine h264-mp4: the comment tag's prompt graph; AnimateDiff-Evolved Gen1
    loader on the official SD 1.5 file."""
    pytest.importorskip("av")
    r = interop.read(FIX / "vhs_animatediff.mp4")
    m = r.meta
    assert (r.tool, m.generator) == ("comfyui", "animatediff")
    assert m.model == "stable-diffusion-v1-5/stable-diffusion-v1-5"   # the base, not the
    assert m.video.motion_adapter == "guoyww/animatediff-motion-adapter-v1-5-2"  # motion module
    assert (m.video.frames, m.video.fps) == (24, Fraction(12))        # latent batch, VHS rate
    assert (m.seed, m.steps, m.guidance_scale, m.scheduler) == (123456, 25, 7.5, "euler_a")
    assert (m.width, m.height) == (512, 384)
    assert m.prompt == "a corgi running on the beach, waves, golden hour"
    assert "batch_size" not in m.params                               # it is the frames
    assert m.params["beta_schedule"] == "sqrt_linear (AnimateDiff)"
    assert (m.params["context_length"], m.params["context_overlap"]) == (16, 4)
    assert m.params["output_format"] == "video/h264-mp4"
    assert json.loads(r.source["comment"])["prompt"] == build.ANIMATEDIFF   # verbatim
    assert json.loads(r.source["container"])["texts"] == [["comment", "mp4:comment"]]


def test_vhs_webm_comment_with_prompt_as_text_evolved_sampling():
    pytest.importorskip("av")
    r = interop.read(FIX / "vhs_animatediff_evolved.webm")
    m = r.meta
    assert m.generator == "animatediff" and m.model == "ckpt:dreamshaper_8.safetensors"
    assert m.video.motion_adapter == "guoyww/animatediff-motion-adapter-v1-5-3"
    assert (m.video.frames, m.video.fps) == (32, Fraction(8))
    assert m.scheduler == "dpmpp_2m_karras" and m.negative_prompt == ""
    assert m.params["context_options"] == "ADE_LoopedUniformContextOptions"
    assert m.params["context_closed_loop"] is True and m.params["pingpong"] is True
    assert json.loads(r.source["container"])["texts"] == [["comment", "matroska:COMMENT"]]


def test_savevideo_mp4_tags_wan22_two_experts():
    """SaveVideo MP4 tags prompt/workflow; Wan 2.2 A14B: the low-noise expert finishing
    the schedule is the pipeline's second transformer (params), not a Refiner stage."""
    pytest.importorskip("av")
    r = interop.read(FIX / "comfy_wan22_savevideo.mp4")
    m = r.meta
    assert m.generator == "wan" and m.stages == ()
    assert m.model == "ckpt:wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors"
    assert m.params["model_2"] == "ckpt:wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors"
    assert (m.params["expert_switch_step"], m.params["guidance_scale_2"]) == (10, 3.0)
    assert "start_at_step" not in m.params and "end_at_step" not in m.params
    v = m.video
    assert (v.frames, v.fps, v.flow_shift) == (81, Fraction(16), 8.0)
    assert (m.width, m.height, m.steps, m.guidance_scale) == (1280, 720, 20, 3.5)
    assert m.scheduler == "flow_euler"            # euler + simple on a flow model
    assert sorted(r.source) == ["container", "prompt", "tool", "workflow"]


def test_matroska_tags_ltxv():
    pytest.importorskip("av")
    r = interop.read(FIX / "comfy_ltxv_savewebm.mkv")
    m = r.meta
    assert m.generator == "ltx_video" and m.model == "ckpt:ltx-video-2b-v0.9.5.safetensors"
    assert (m.video.frames, m.video.fps) == (97, Fraction(24))     # LTXVConditioning
    assert (m.steps, m.guidance_scale, m.scheduler) == (30, 3.0, "flow_euler")
    assert (m.width, m.height) == (768, 512)
    assert "sampler" not in m.params and "max_shift" not in m.params   # LTX defaults


def test_animated_webp_exif_wan_i2v():
    """SaveAnimatedWEBP: EXIF Model "prompt:{...}"; WanImageToVideo's size and length,
    the start image's name (the pixels are not in the file)."""
    r = interop.read(FIX / "comfy_wan_i2v_animated.webp")
    m = r.meta
    assert m.generator == "wan" and m.params["init_image"] == "portrait.png"
    assert (m.video.frames, m.video.fps, m.video.flow_shift) == (49, Fraction(16), 3.0)
    assert (m.width, m.height, m.scheduler) == (832, 480, "unipc")   # uni_pc + simple
    assert m.video.image is None


@pytest.mark.parametrize("name", ["vhs_animatediff.mp4", "vhs_animatediff_evolved.webm",
                                  "comfy_wan22_savevideo.mp4", "comfy_ltxv_savewebm.mkv",
                                  "comfy_wan_i2v_animated.webp"])
def test_video_files_round_trip_through_aigif(name):
    pytest.importorskip("av")
    r = interop.read(FIX / name)
    data = aigif.dumps(r.to_aigif())
    f = aigif.loads(data)
    assert f.meta == r.meta and f.meta.video is not None
    assert aigif.validate(data).ok
    assert data[:2] == b"AI"


def test_fixture_build_is_reproducible():
    """build.py makes the committed bytes (same frames, one thread, bitexact muxing)."""
    pytest.importorskip("av")
    pytest.importorskip("PIL")
    for name, data in build.build().items():
        if name.endswith((".mp4", ".mkv")):
            assert (FIX / name).read_bytes() == data, name


def test_vhs_first_frame_png():
    """VHS also saves the first frame as a PNG with prompt/workflow chunks."""
    r = interop.read(_png([("prompt", json.dumps(build.ANIMATEDIFF)),
                           ("workflow", json.dumps(build.WORKFLOW))]))
    assert r.meta.generator == "animatediff" and r.meta.video.frames == 24


def test_cli_import_writes_a_video_aigif(tmp_path):
    pytest.importorskip("av")
    out = tmp_path / "v.aigif"
    p = subprocess.run([sys.executable, "-m", "aigif", "import",
                        str(FIX / "comfy_wan22_savevideo.mp4"), str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "wan video, 81 frames at 16 fps" in p.stdout
    m = aigif.open(out).meta
    assert m.generator == "wan" and m.video.flow_shift == 8.0
    again = subprocess.run([sys.executable, "-m", "aigif", "import",
                            str(FIX / "comfy_wan22_savevideo.mp4"), str(out)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "exists" in again.stderr + again.stdout


def test_video_without_metadata_and_damaged_containers():
    av = pytest.importorskip("av")
    bare = build.clip("mp4", "libx264", {})
    with pytest.raises(ImportMetadataError, match="no generation metadata"):
        interop.read(bare)
    good = (FIX / "vhs_animatediff.mp4").read_bytes()
    for bad in (good[:40], good[:len(good) // 2], b"\x1a\x45\xdf\xa3" + b"\0" * 64,
                good[:8] + bytes(range(256)) * 4):
        with pytest.raises(ImportMetadataError):
            interop.read(bad)
    assert av is not None


def test_container_tags_are_charged_to_the_text_budget():
    pytest.importorskip("av")
    from aigif.interop._limits import MAX_TEXT_BYTES
    from aigif.interop._video import scan_video
    c = Container(format="mp4")
    c.text_budget = 100
    scan_video((FIX / "vhs_animatediff.mp4").read_bytes(), c)
    assert c.texts == [] and any("budget" in p for p in c.problems)
    assert MAX_TEXT_BYTES >= 16 * 1024 * 1024


def test_reading_a_video_imports_pyav_only_then():
    code = ("import sys, aigif.interop; assert 'av' not in sys.modules; "
            "aigif.interop.read(open(sys.argv[1], 'rb').read()); "
            "assert 'av' not in sys.modules; print('ok')")
    p = subprocess.run([sys.executable, "-c", code, str(FIX / "comfy_wan_i2v_animated.webp")],
                       capture_output=True, text=True, timeout=120)
    assert p.stdout.strip() == "ok", p.stderr


# ----------------------------------------------------------------- graphs
def _wan(**over):
    g = json.loads(json.dumps(build.WAN_I2V))
    for path, v in over.items():
        nid, key = path.split(".")
        g[nid]["inputs"][key] = v
    return g


def test_frames_from_a_math_expression_and_fps_from_a_primitive():
    g = _wan(**{"50.length": ["90", 1], "28.fps": ["92", 0]})
    g["90"] = {"class_type": "ComfyMathExpression", "inputs": {
        "expression": "floor(a * b) + 1", "values.a": ["91", 0], "values.b": ["92", 0]}}
    g["91"] = {"class_type": "PrimitiveFloat", "inputs": {"value": 5}}
    g["92"] = {"class_type": "PrimitiveFloat", "inputs": {"value": 16}}
    m = _graph(g).meta
    assert (m.video.frames, m.video.fps) == (81, Fraction(16))


def test_math_expressions_are_evaluated_safely():
    calc = comfyui_video._calc
    assert calc("floor(a * b) + 1", {"a": 5, "b": 16}) == 81
    assert calc("a/2", {"a": 1280}) == 640
    for bad in ("__import__('os')", "a.__class__", "9 ** 9 ** 9", "(lambda: 1)()",
                "x" * 300, "open('f')", "[1, 2]"):
        assert calc(bad, {"a": 1}) is None


def test_image_graphs_stay_image_generations():
    """A Wan model making one frame into SaveImage is no video; an image graph never gets
    a video."""
    g = _wan(**{"50.length": 1})
    g["28"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["8", 0]}}
    m = _graph(g).meta
    assert m.video is None and m.generator != "wan"


def test_video_of_a_model_no_family_holds_keeps_frames_and_fps_in_params():
    g = {"1": {"class_type": "UNETLoader", "inputs": {"unet_name": "kandinsky5lite_t2v.safetensors"}},
         "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "waves", "clip": ["9", 0]}},
         "3": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {
             "width": 768, "height": 512, "length": 121, "batch_size": 1}},
         "4": {"class_type": "KSampler", "inputs": {
             "seed": 1, "steps": 20, "cfg": 5, "sampler_name": "euler", "scheduler": "simple",
             "denoise": 1, "model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
             "latent_image": ["3", 0]}},
         "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["9", 1]}},
         "6": {"class_type": "CreateVideo", "inputs": {"fps": 24, "images": ["5", 0]}}}
    m = _graph(g).meta
    assert m.video is None and (m.params["frames"], m.params["fps"]) == (121, 24)


def test_hunyuan_video_guidance_and_cogvideo_sampler():
    g = {"11": {"class_type": "DualCLIPLoader", "inputs": {
            "clip_name1": "clip_l.safetensors", "clip_name2": "llava_llama3_fp8_scaled.safetensors",
            "type": "hunyuan_video"}},
         "12": {"class_type": "UNETLoader", "inputs": {
             "unet_name": "hunyuan_video_t2v_720p_bf16.safetensors"}},
         "44": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["11", 0]}},
         "26": {"class_type": "FluxGuidance", "inputs": {"guidance": 6, "conditioning": ["44", 0]}},
         "67": {"class_type": "ModelSamplingSD3", "inputs": {"shift": 9, "model": ["12", 0]}},
         "22": {"class_type": "BasicGuider", "inputs": {"model": ["67", 0], "conditioning": ["26", 0]}},
         "25": {"class_type": "RandomNoise", "inputs": {"noise_seed": 3}},
         "16": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
         "17": {"class_type": "BasicScheduler", "inputs": {
             "scheduler": "simple", "steps": 30, "denoise": 1, "model": ["12", 0]}},
         "45": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {
             "width": 848, "height": 480, "length": 73, "batch_size": 1}},
         "13": {"class_type": "SamplerCustomAdvanced", "inputs": {
             "noise": ["25", 0], "guider": ["22", 0], "sampler": ["16", 0], "sigmas": ["17", 0],
             "latent_image": ["45", 0]}},
         "8": {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["10", 0]}},
         "9": {"class_type": "VHS_VideoCombine", "inputs": {
             "frame_rate": 23.976, "format": "video/h265-mp4", "images": ["8", 0]}}}
    m = _graph(g).meta
    assert m.generator == "hunyuan_video" and m.guidance_scale == 6.0
    assert (m.video.frames, m.video.flow_shift, m.video.fps) == (73, 9.0, Fraction("23.976"))
    assert m.scheduler == "flow_euler"
    cog = {"1": {"class_type": "DownloadAndLoadCogVideoModel", "inputs": {
              "model": "THUDM/CogVideoX-5b", "precision": "bf16"}},
           "2": {"class_type": "CogVideoTextEncode", "inputs": {"prompt": "a boat", "clip": ["9", 0]}},
           "3": {"class_type": "CogVideoSampler", "inputs": {
               "num_frames": 49, "steps": 50, "cfg": 6.0, "seed": 42,
               "scheduler": "CogVideoXDDIM", "model": ["1", 0], "positive": ["2", 0],
               "negative": ["2", 0], "samples": None}},
           "4": {"class_type": "CogVideoDecode", "inputs": {"samples": ["3", 0], "pipeline": ["1", 0]}},
           "5": {"class_type": "VHS_VideoCombine", "inputs": {"frame_rate": 8, "images": ["4", 0]}}}
    m = _graph(cog).meta
    assert (m.generator, m.model) == ("cogvideox", "THUDM/CogVideoX-5b")
    assert (m.video.frames, m.seed, m.steps) == (49, 42, 50)


def test_bad_video_values_go_to_unmapped():
    g = _wan(**{"50.length": 10 ** 9, "28.fps": 0})
    r = _graph(g)
    assert r.meta.video.frames == 81 and r.meta.video.fps == 16   # the family's defaults
    assert "video.frames" in r.unmapped and "fps" in r.unmapped


def test_docs_name_the_video_nodes():
    doc = (Path(__file__).parents[1] / "docs" / "interop.md").read_text(encoding="utf-8")
    for word in ("VHS_VideoCombine", "WanImageToVideo", "LTXVConditioning",
                 "ADE_AnimateDiffLoaderGen1", "expert_switch_step", "MAX_CONTAINER_TAGS",
                 "SVD_img2vid_Conditioning", "VideoLinearCFGGuidance"):
        assert word in doc, word


#: ComfyUI's Stable Video Diffusion example graph (API format): image-only checkpoint,
#: SVD conditioning, linear CFG guidance, KSampler, animated WebP at another rate
SVD = {
    "15": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": "svd_xt.safetensors"}},
    "23": {"class_type": "LoadImage", "inputs": {"image": "mountains.png"}},
    "12": {"class_type": "SVD_img2vid_Conditioning", "inputs": {
        "width": 1024, "height": 576, "video_frames": 14, "motion_bucket_id": 100, "fps": 6,
        "augmentation_level": 0.05, "clip_vision": ["15", 1], "init_image": ["23", 0],
        "vae": ["15", 2]}},
    "14": {"class_type": "VideoLinearCFGGuidance", "inputs": {"min_cfg": 1.5, "model": ["15", 0]}},
    "3": {"class_type": "KSampler", "inputs": {
        "seed": 42, "steps": 20, "cfg": 2.5, "sampler_name": "euler", "scheduler": "karras",
        "denoise": 1, "model": ["14", 0], "positive": ["12", 0], "negative": ["12", 1],
        "latent_image": ["12", 2]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["15", 2]}},
    "10": {"class_type": "SaveAnimatedWEBP", "inputs": {
        "filename_prefix": "ComfyUI", "fps": 10, "lossless": False, "quality": 85,
        "method": "default", "images": ["8", 0]}},
}


def test_svd_graph_imports_as_stable_video_diffusion():
    """Every SVD widget that changes the frames reaches its field: the family, the hub
    repo of the official file, frames and size of the conditioning, its fps (the
    conditioning; the WebP's playback rate in params), motion bucket, augmentation, the
    CFG ramp's two ends and the sampler; the image's name (its pixels are not in the
    file) in params, so video.image stays empty."""
    r = _graph(json.loads(json.dumps(SVD)))
    m = r.meta
    assert m.generator == "stable_video_diffusion"
    assert m.model == "stabilityai/stable-video-diffusion-img2vid-xt"
    assert (m.width, m.height, m.steps, m.seed, m.guidance_scale, m.scheduler) == \
        (1024, 576, 20, 42, 2.5, "euler_karras")
    v = m.video
    assert (v.frames, v.fps, v.motion_bucket_id, v.noise_aug_strength, v.image) == \
        (14, Fraction(6), 100, 0.05, None)
    assert dict(m.params) == {"min_guidance_scale": 1.5, "init_image": "mountains.png",
                              "output_fps": 10}
    assert m.prompt == "" and not r.unmapped
    f = aigif.loads(aigif.dumps(r.to_aigif()))
    assert f.meta == m and f.is_video
    # a fine-tune keeps its file name; a triangle CFG ramp has no diffusers equivalent
    g = json.loads(json.dumps(SVD))
    g["15"]["inputs"]["ckpt_name"] = "video/my_svd_finetune.safetensors"
    g["14"]["class_type"] = "VideoTriangleCFGGuidance"
    r = _graph(g)
    assert (r.meta.model, r.meta.generator) == ("ckpt:video/my_svd_finetune.safetensors",
                                                "stable_video_diffusion")
    assert "min_guidance_scale" not in r.meta.params
    assert r.unmapped == {"VideoTriangleCFGGuidance min_cfg": "1.5"}


# ----------------------------------------------------------------- LoRAs of video graphs
def _lora_node(name, strength, model, clip=None):
    if clip is None:
        return {"class_type": "LoraLoaderModelOnly", "inputs": {
            "lora_name": name, "strength_model": strength, "model": model}}
    return {"class_type": "LoraLoader", "inputs": {
        "lora_name": name, "strength_model": strength, "strength_clip": clip,
        "model": model, "clip": ["1", 1]}}


def test_video_graph_loras_reach_the_video_file():
    """LoraLoaderModelOnly on a Wan graph (a distillation LoRA then a style LoRA), and a
    LoraLoader (model + clip strengths) on an AnimateDiff graph: meta.loras, in the order
    they apply, kept through the file."""
    g = _wan()
    g["60"] = _lora_node("wan/lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors",
                         1.0, ["37", 0])
    g["61"] = _lora_node("wan/paper_cut_style.safetensors", 0.6, ["60", 0])
    g["54"]["inputs"]["model"] = ["61", 0]
    r = _graph(g)
    m = r.meta
    assert m.generator == "wan" and m.video.frames == build.WAN_I2V["50"]["inputs"]["length"]
    assert m.loras == (
        aigif.Lora("wan/lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors", 1.0),
        aigif.Lora("wan/paper_cut_style.safetensors", 0.6))
    assert not r.unmapped
    assert aigif.loads(aigif.dumps(r.to_aigif())).meta == m

    g = json.loads(json.dumps(build.ANIMATEDIFF))
    g["20"] = _lora_node("add_detail.safetensors", 0.8, ["1", 0], clip=0.5)
    g["2"]["inputs"]["model"] = ["20", 0]
    for nid in ("4", "5"):
        g[nid]["inputs"]["clip"] = ["20", 1]
    m = _graph(g).meta
    assert m.generator == "animatediff" and m.video.frames == 24
    assert m.loras == (aigif.Lora("add_detail.safetensors", 0.8, clip_weight=0.5),)
    assert m.prompt == "a corgi running on the beach, waves, golden hour"


def test_wan22_expert_loras_are_both_kept():
    """Wan 2.2 A14B with a LoRA chain on each expert (LightX2V high / low noise): the
    high-noise expert's in meta.loras, the low-noise expert's in params["loras_2"] (next
    to params["model_2"]); none dropped."""
    g = json.loads(json.dumps(build.WAN22))
    g["90"] = _lora_node("wan22_lightx2v_high_noise.safetensors", 1.0, ["75", 0])
    g["91"] = _lora_node("wan22_lightx2v_low_noise.safetensors", 0.8, ["76", 0])
    g["92"] = _lora_node("low_style.safetensors", 0.5, ["91", 0])
    g["82"]["inputs"]["model"] = ["90", 0]
    g["86"]["inputs"]["model"] = ["92", 0]
    r = _graph(g)
    m = r.meta
    assert m.loras == (aigif.Lora("wan22_lightx2v_high_noise.safetensors", 1.0),)
    assert m.params["loras_2"] == ("wan22_lightx2v_low_noise.safetensors:0.8, "
                                   "low_style.safetensors:0.5")
    assert m.params["model_2"] == "ckpt:wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors"
    assert not r.unmapped
    # without LoRAs on the low-noise expert there is no loras_2
    g["86"]["inputs"]["model"] = ["76", 0]
    assert "loras_2" not in _graph(g).meta.params


def _wrapper_graph() -> dict:
    """A ComfyUI-WanVideoWrapper text-to-video graph with a WanVideoLoraSelect (node 300)
    chained to a WanVideoLoraSelectMulti (301) on the model loader's lora input."""
    return {"198": {"class_type": "WanVideoModelLoader", "inputs": {
            "model": "wan\\wan2.1_t2v_14B_fp8_e4m3fn.safetensors", "base_precision": "fp16",
            "lora": ["300", 0]}},
         "300": {"class_type": "WanVideoLoraSelect", "inputs": {
             "lora": "Wan21_CausVid_14B_T2V_lora_rank32.safetensors", "strength": 0.7,
             "prev_lora": ["301", 0], "low_mem_load": False}},
         "301": {"class_type": "WanVideoLoraSelectMulti", "inputs": {
             "lora_0": "style.safetensors", "strength_0": 1.0, "lora_1": "none",
             "strength_1": 1.0, "low_mem_load": False}},
         "232": {"class_type": "WanVideoTextEmbedBridge", "inputs": {"positive": ["234", 0],
                                                                     "negative": ["235", 0]}},
         "234": {"class_type": "CLIPTextEncode", "inputs": {"text": "a heron", "clip": ["233", 0]}},
         "235": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["233", 0]}},
         "240": {"class_type": "WanVideoEmptyEmbeds", "inputs": {
             "width": 832, "height": 480, "num_frames": 81}},
         "252": {"class_type": "WanVideoSampler", "inputs": {
             "steps": 8, "cfg": 1.0, "shift": 8.0, "seed": 1234, "scheduler": "unipc",
             "denoise_strength": 1.0, "model": ["198", 0], "text_embeds": ["232", 0],
             "image_embeds": ["240", 0]}},
         "253": {"class_type": "WanVideoDecode", "inputs": {"samples": ["252", 0]}},
         "254": {"class_type": "VHS_VideoCombine", "inputs": {
             "frame_rate": 16, "images": ["253", 0], "format": "video/h264-mp4"}}}


def test_wanvideowrapper_lora_select_chain():
    """ComfyUI-WanVideoWrapper: WanVideoLoraSelect nodes chained by prev_lora into the
    WanVideoModelLoader's lora input (and WanVideoLoraSelectMulti)."""
    g = _wrapper_graph()
    m = _graph(g).meta
    assert m.generator == "wan" and (m.video.frames, m.video.fps) == (81, Fraction(16))
    assert m.loras == (aigif.Lora("style.safetensors", 1.0),
                       aigif.Lora("Wan21_CausVid_14B_T2V_lora_rank32.safetensors", 0.7))


def test_wanvideowrapper_lora_strength_schedule_is_kept():
    """A WanVideoLoraSelect strength given per step (a list) was weight 1.0 with nothing
    kept; now the first value is the weight, the whole list is in params["lora_schedules"]
    (JSON: name -> strengths) and a warning says a render applies one weight."""
    causvid = "Wan21_CausVid_14B_T2V_lora_rank32.safetensors"
    g = _wrapper_graph()
    g["300"]["inputs"]["strength"] = [0.9, 0.6, 0.3, 0.0]
    r = _graph(g)
    assert r.meta.loras == (aigif.Lora("style.safetensors", 1.0), aigif.Lora(causvid, 0.9))
    assert json.loads(r.meta.params["lora_schedules"]) == {causvid: [0.9, 0.6, 0.3, 0.0]}
    assert any(causvid in w and "per-step" in w and "params['lora_schedules']" in w
               for w in r.warnings)
    assert aigif.loads(aigif.dumps(r.to_aigif())).meta == r.meta
    # a list of one repeated value is that weight, with nothing to warn about
    g["300"]["inputs"]["strength"] = [0.5, 0.5, 0.5]
    r = _graph(g)
    assert r.meta.loras[1] == aigif.Lora(causvid, 0.5)
    assert "lora_schedules" not in r.meta.params and not r.warnings
    # a strength from a node whose value cannot be read: kept verbatim, with a warning
    g["300"]["inputs"]["strength"] = ["310", 0]
    g["310"] = {"class_type": "CreateCFGScheduleFloatList", "inputs": {
        "steps": 8, "cfg_scale_start": 1.0, "cfg_scale_end": 0.2,
        "interpolation": "linear", "start_percent": 0.0, "end_percent": 1.0}}
    r = _graph(g)
    assert r.unmapped[f"lora strength {causvid}"] == '["310",0]'
    assert r.meta.loras[1] == aigif.Lora(causvid, 1.0)
    assert any(causvid in w and "not a number" in w for w in r.warnings)


# ----------------------------------------------------------------- the conditioning image
def _pixels(im):
    return im.convert("RGB").tobytes()


def _picture(size=(12, 8)):
    from PIL import Image
    im = Image.new("RGB", size)
    im.putdata([((i * 37) % 256, (i * 11) % 256, (i * 101) % 256)
                for i in range(size[0] * size[1])])
    return im


def test_i2v_without_image_dir_warns_and_keeps_the_name():
    """No folder given: the file is as before (the name in params, no image) and a
    warning names the image and the option."""
    r = _graph(json.loads(json.dumps(SVD)))
    assert r.meta.video.image is None and r.meta.params["init_image"] == "mountains.png"
    assert len(r.warnings) == 1
    assert "'mountains.png'" in r.warnings[0] and "--image-dir" in r.warnings[0]


def test_i2v_image_dir_png_is_stored_byte_for_byte(tmp_path):
    pytest.importorskip("PIL")
    from aigif.codecs import decode_payload
    im = _picture()
    im.save(tmp_path / "mountains.png")
    raw = (tmp_path / "mountains.png").read_bytes()
    r = _graph(json.loads(json.dumps(SVD)))
    plain = r.meta
    r = interop.read(_png([("prompt", json.dumps(SVD))]), image_dir=tmp_path)
    m = r.meta
    assert not r.warnings
    assert m.video.image == aigif.Payload("png", raw)                 # its own bytes
    assert _pixels(decode_payload(m.video.image)) == _pixels(im)
    assert m.params["init_image"] == "mountains.png"                  # nothing lost
    assert m == dataclasses.replace(plain, video=dataclasses.replace(plain.video,
                                                                     image=m.video.image))
    assert json.loads(r.source["prompt"]) == SVD                      # graph verbatim
    data = aigif.dumps(r.to_aigif())
    assert aigif.validate(data).ok and aigif.loads(data).meta == m


def test_i2v_wan_webp_fixture_jpeg_in_a_subfolder_is_encoded_losslessly(tmp_path):
    """The Wan I2V fixture names portrait.png: found in the folder it is attached. A JPEG
    in a subfolder is stored as PNG with exactly the pixels Pillow decodes from it."""
    pytest.importorskip("PIL")
    from PIL import Image

    from aigif.codecs import decode_payload
    _picture((16, 16)).save(tmp_path / "portrait.png")
    r = interop.read(FIX / "comfy_wan_i2v_animated.webp", image_dir=str(tmp_path))
    assert r.meta.video.image.data == (tmp_path / "portrait.png").read_bytes()
    assert r.meta.generator == "wan" and not r.warnings
    (tmp_path / "sub").mkdir()
    _picture((20, 12)).save(tmp_path / "sub" / "photo.jpg", quality=70)
    r = _graph(_wan(**{"52.image": "sub/photo.jpg"}))
    assert r.meta.video.image is None
    r = interop.read(_png([("prompt", json.dumps(_wan(**{"52.image": "sub/photo.jpg"})))]),
                     image_dir=tmp_path)
    img = r.meta.video.image
    assert img.codec == "png" and not r.warnings
    with Image.open(tmp_path / "sub" / "photo.jpg") as jpg:
        assert _pixels(decode_payload(img)) == _pixels(jpg)
    assert r.meta.params["init_image"] == "sub/photo.jpg"


@pytest.mark.parametrize("name", ["../secret.png", "../../secret.png", "sub/../../secret.png",
                                  "..\\secret.png", "/tmp/secret.png", "C:\\secret.png",
                                  "C:secret.png", "link/secret.png", "missing.png"])
def test_i2v_names_outside_the_folder_are_refused(tmp_path, name):
    """A name from the file never reads outside the folder: absolute names, '..' and a
    link leading out are refused with a warning (no traceback); the import goes on."""
    pytest.importorskip("PIL")
    inside = tmp_path / "input"
    (inside / "sub").mkdir(parents=True)
    _picture().save(tmp_path / "secret.png")          # what an escape would reach
    try:
        (inside / "link").symlink_to(tmp_path, target_is_directory=True)
    except OSError:
        if name.startswith("link"):
            pytest.skip("no symlinks here")
    g = json.loads(json.dumps(SVD))
    g["23"]["inputs"]["image"] = name
    r = interop.read(_png([("prompt", json.dumps(g))]), image_dir=inside)
    assert r.meta.video.image is None and r.meta.params["init_image"] == name
    assert len(r.warnings) == 1 and repr(name) in r.warnings[0]
    assert ("refused" in r.warnings[0]) == (name != "missing.png")


@pytest.mark.parametrize("w,h,says", [(40000, 2, "40000x2"),        # aigif's per-side limit
                                      (100000, 100000, "pixels")])  # Pillow's bomb limit
def test_i2v_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path, w, h, says):
    """A PNG whose header declares more pixels than the limits (with a few bytes of
    data) is refused by its declared size, not decoded."""
    import struct
    import zlib

    def chunk(t, body):
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body))
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    (tmp_path / "mountains.png").write_bytes(bomb)
    r = interop.read(_png([("prompt", json.dumps(SVD))]), image_dir=tmp_path)
    assert r.meta.video.image is None
    assert len(r.warnings) == 1 and says in r.warnings[0] and "'mountains.png'" in r.warnings[0]


def test_i2v_image_dir_must_be_a_folder(tmp_path):
    with pytest.raises(ImportMetadataError, match="image_dir"):
        interop.read(_png([("prompt", json.dumps(SVD))]), image_dir=tmp_path / "nope")
    r = interop.read(_png([("prompt", json.dumps(build.LTXV))]), image_dir=tmp_path)
    assert r.meta.video.image is None and not r.warnings     # a text-to-video graph
