"""Frozen generator (model family) codes, well-known model codes and their defaults.

A file stores a generation parameter only when it differs from the default declared here
for its model, so these defaults are part of the format: they MUST never change. New
models and generators are appended with new codes.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class VideoDefaults:
    """Frozen defaults of a video generator family's video fields (spec "Codes: video
    generators"). ``None``: the family has no such parameter (its pipeline does not take
    it); a file that sets one stores it, and a renderer that cannot apply it says so."""

    frames: int                          # num_frames of the pipeline call
    fps: Fraction                        # frame rate, exact
    motion_adapter: str | None = None    # AnimateDiff: MotionAdapter hub id
    motion_bucket_id: int | None = None  # SVD-like micro-conditioning
    noise_aug_strength: float | None = None
    flow_shift: float | None = None      # shift of the flow-matching sigma schedule
    decode_chunk_size: int | None = None  # frames the VAE decodes at once (0: all)
    vae_tiling: bool = False             # VAE tiled decoding (changes pixels)


@dataclass(frozen=True)
class Defaults:
    steps: int
    guidance_scale: float
    scheduler: str
    width: int
    height: int
    clip_skip: int = 0
    #: a video family's video defaults; None for image families
    video: VideoDefaults | None = None


@dataclass(frozen=True)
class GeneratorSpec:
    code: int
    key: str
    defaults: Defaults


@dataclass(frozen=True)
class ModelSpec:
    code: int
    key: str
    generator: str
    hub_id: str | None          # None for models shipped inside the package
    revision: str | None        # pinned hub commit
    defaults: Defaults


# Generator codes: 1..1023 spec, 1024..2047 private (third parties).
GENERATORS: tuple[GeneratorSpec, ...] = (
    GeneratorSpec(1, "sd", Defaults(50, 7.5, "pndm", 512, 512)),
    GeneratorSpec(2, "sdxl", Defaults(50, 5.0, "euler", 1024, 1024)),
    GeneratorSpec(3, "sd3", Defaults(28, 7.0, "flow_euler", 1024, 1024)),
    GeneratorSpec(4, "flux", Defaults(28, 3.5, "flow_euler", 1024, 1024)),
    GeneratorSpec(5, "pixart_sigma", Defaults(20, 4.5, "dpmpp_2m", 1024, 1024)),
    GeneratorSpec(6, "lcm", Defaults(4, 8.0, "lcm", 768, 768)),
    GeneratorSpec(7, "aigif_tiny", Defaults(20, 1.5, "ddim", 32, 32)),
    # Video families (spec "Codes: video generators"): the pipeline call's defaults.
    GeneratorSpec(8, "animatediff", Defaults(
        50, 7.5, "pndm", 512, 512, video=VideoDefaults(
            16, Fraction(8), motion_adapter="guoyww/animatediff-motion-adapter-v1-5-2",
            decode_chunk_size=16))),
    GeneratorSpec(9, "cogvideox", Defaults(
        50, 6.0, "cogvideox_ddim", 720, 480, video=VideoDefaults(49, Fraction(8)))),
    GeneratorSpec(10, "ltx_video", Defaults(
        50, 3.0, "flow_euler", 704, 512, video=VideoDefaults(161, Fraction(25)))),
    GeneratorSpec(11, "wan", Defaults(
        50, 5.0, "unipc", 832, 480, video=VideoDefaults(81, Fraction(16), flow_shift=3.0))),
    GeneratorSpec(12, "text_to_video_sd", Defaults(
        50, 9.0, "ddim", 256, 256, video=VideoDefaults(16, Fraction(8)))),
    GeneratorSpec(13, "hunyuan_video", Defaults(
        50, 6.0, "flow_euler", 1280, 720, video=VideoDefaults(129, Fraction(24),
                                                              flow_shift=7.0))),
    # aigif-tiny-video (shipped in the package: aigif.embedded.video_pipeline)
    GeneratorSpec(14, "aigif_tiny_video", Defaults(
        20, 3.0, "dpmpp_2m", 32, 32, video=VideoDefaults(8, Fraction(8)))),
    # Stable Video Diffusion (image-to-video; guidance = max_guidance_scale; the defaults
    # of StableVideoDiffusionPipeline.__call__ and SVD-XT's 25 frames; decode 0 = all)
    GeneratorSpec(15, "stable_video_diffusion", Defaults(
        25, 3.0, "euler_karras", 1024, 576, video=VideoDefaults(
            25, Fraction(7), motion_bucket_id=127, noise_aug_strength=0.02,
            decode_chunk_size=0))),
)

GENERATOR_PRIVATE = range(1024, 2048)

#: Video families that generate from a conditioning image only (spec "Codes: video
#: generators", image-to-video): a file of one without ``video.image`` cannot be rendered.
IMAGE_TO_VIDEO_ONLY: frozenset[str] = frozenset({"stable_video_diffusion"})

# Well-known model codes start at 16 (see ModelKind). The revision column pins the hub
# commit that regeneration loads (each seen as a snapshot of that repo in public code).
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(16, "aigif-tiny", "aigif_tiny", None, None, Defaults(20, 1.5, "ddim", 32, 32)),
    ModelSpec(17, "sd15", "sd", "stable-diffusion-v1-5/stable-diffusion-v1-5",
              "451f4fe16113bff5a5d2269ed5ad43b0592e9a14",
              Defaults(50, 7.0, "pndm", 512, 512)),
    ModelSpec(18, "sd14", "sd", "CompVis/stable-diffusion-v1-4",
              "133a221b8aa7292a167afc5127cb63fb5005638b",
              Defaults(50, 7.0, "pndm", 512, 512)),
    ModelSpec(19, "sd21", "sd", "stabilityai/stable-diffusion-2-1",
              "5cae40e6a2745ae2b01ad92ae5043f95f23644d6",
              Defaults(50, 7.5, "ddim", 768, 768)),
    ModelSpec(20, "sd21-base", "sd", "stabilityai/stable-diffusion-2-1-base",
              "5ede9e4bf3e3fd1cb0ef2f7a3fff13ee514fdf06",
              Defaults(50, 7.5, "pndm", 512, 512)),
    ModelSpec(21, "sdxl", "sdxl", "stabilityai/stable-diffusion-xl-base-1.0",
              "462165984030d82259a11f4367a4eed129e94a7b",
              Defaults(50, 5.0, "euler", 1024, 1024)),
    ModelSpec(22, "sdxl-turbo", "sdxl", "stabilityai/sdxl-turbo",
              "71153311d3dbb46851df1931d3ca6e939de83304",
              Defaults(1, 0.0, "euler_a", 512, 512)),
    ModelSpec(23, "sd3-medium", "sd3", "stabilityai/stable-diffusion-3-medium-diffusers",
              "ea42f8cef0f178587cf766dc8129abd379c90671",
              Defaults(28, 7.0, "flow_euler", 1024, 1024)),
    ModelSpec(24, "sd35-large", "sd3", "stabilityai/stable-diffusion-3.5-large",
              "ceddf0a7fdf2064ea28e2213e3b84e4afa170a0f",
              Defaults(28, 3.5, "flow_euler", 1024, 1024)),
    ModelSpec(25, "sd35-medium", "sd3", "stabilityai/stable-diffusion-3.5-medium",
              "b940f670f0eda2d07fbb75229e779da1ad11eb80",
              Defaults(40, 4.5, "flow_euler", 1024, 1024)),
    ModelSpec(26, "sd35-large-turbo", "sd3", "stabilityai/stable-diffusion-3.5-large-turbo",
              "ec07796fc06b096cc56de9762974a28f4c632eda",
              Defaults(4, 0.0, "flow_euler", 1024, 1024)),
    ModelSpec(27, "flux1-schnell", "flux", "black-forest-labs/FLUX.1-schnell",
              "741f7c3ce8b383c54771c7003378a50191e9efe9",
              Defaults(4, 0.0, "flow_euler", 1024, 1024)),
    ModelSpec(28, "flux1-dev", "flux", "black-forest-labs/FLUX.1-dev",
              "3de623fc3c33e44ffbe2bad470d0f45bccf2eb21",
              Defaults(28, 3.5, "flow_euler", 1024, 1024)),
    ModelSpec(29, "pixart-sigma", "pixart_sigma", "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS",
              "e102b3591cc82e97071b8b4cb90d834d0c487207",
              Defaults(20, 4.5, "dpmpp_2m", 1024, 1024)),
    ModelSpec(30, "lcm-dreamshaper-v7", "lcm", "SimianLuo/LCM_Dreamshaper_v7",
              "a85df6a8bd976cdd08b4fd8f3b73f229c9e54df5",
              Defaults(4, 8.0, "lcm", 768, 768)),
    ModelSpec(31, "aigif-tiny-2", "aigif_tiny", None, None, Defaults(20, 3.0, "dpmpp_2m", 32, 32)),
    ModelSpec(32, "aigif-tiny-video", "aigif_tiny_video", None, None,
              Defaults(20, 3.0, "dpmpp_2m", 32, 32, video=VideoDefaults(8, Fraction(8)))),
    ModelSpec(33, "aigif-tiny-video-2", "aigif_tiny_video", None, None,
              Defaults(20, 3.0, "dpmpp_2m", 32, 32, video=VideoDefaults(8, Fraction(8)))),
    ModelSpec(42, "aigif-tiny-video-3", "aigif_tiny_video", None, None,
              Defaults(20, 3.0, "dpmpp_2m", 32, 32, video=VideoDefaults(8, Fraction(8)))),
    # Well-known video models (issue 19): the hub repos the video backends pin, with their
    # family's defaults (the pipeline call's; CogVideoX-5b ships the DPM scheduler). Code
    # 33 is left to the second embedded video model, added in parallel.
    ModelSpec(34, "cogvideox-2b", "cogvideox", "THUDM/CogVideoX-2b",
              "1137dacfc2c9c012bed6a0793f4ecf2ca8e7ba01",
              Defaults(50, 6.0, "cogvideox_ddim", 720, 480,
                       video=VideoDefaults(49, Fraction(8)))),
    ModelSpec(35, "cogvideox-5b", "cogvideox", "THUDM/CogVideoX-5b",
              "8d6ea3f817438460b25595a120f109b88d5fdfad",
              Defaults(50, 6.0, "cogvideox_dpm", 720, 480,
                       video=VideoDefaults(49, Fraction(8)))),
    ModelSpec(36, "ltx-video", "ltx_video", "Lightricks/LTX-Video",
              "8984fa25007f376c1a299016d0957a37a2f797bb",
              Defaults(50, 3.0, "flow_euler", 704, 512,
                       video=VideoDefaults(161, Fraction(25)))),
    ModelSpec(37, "wan21-t2v-1.3b", "wan", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
              "0fad780a534b6463e45facd96134c9f345acfa5b",
              Defaults(50, 5.0, "unipc", 832, 480,
                       video=VideoDefaults(81, Fraction(16), flow_shift=3.0))),
    ModelSpec(38, "wan21-t2v-14b", "wan", "Wan-AI/Wan2.1-T2V-14B-Diffusers",
              "38ec498cb3208fb688890f8cc7e94ede2cbd7f68",
              Defaults(50, 5.0, "unipc", 832, 480,
                       video=VideoDefaults(81, Fraction(16), flow_shift=3.0))),
    ModelSpec(39, "wan22-t2v-a14b", "wan", "Wan-AI/Wan2.2-T2V-A14B-Diffusers",
              "5be7df9619b54f4e2667b2755bc6a756675b5cd7",
              Defaults(50, 5.0, "unipc", 832, 480,
                       video=VideoDefaults(81, Fraction(16), flow_shift=3.0))),
    ModelSpec(40, "modelscope-t2v-1.7b", "text_to_video_sd", "damo-vilab/text-to-video-ms-1.7b",
              "338683c3175cde59b407a699af8fe68f4a2b8f74",
              Defaults(50, 9.0, "ddim", 256, 256, video=VideoDefaults(16, Fraction(8)))),
    ModelSpec(41, "hunyuan-video", "hunyuan_video", "hunyuanvideo-community/HunyuanVideo",
              "e8c2aaa66fe3742a32c11a6766aecbf07c56e773",
              Defaults(50, 6.0, "flow_euler", 1280, 720,
                       video=VideoDefaults(129, Fraction(24), flow_shift=7.0))),
)
