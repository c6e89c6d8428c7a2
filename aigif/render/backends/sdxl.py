"""Stable Diffusion XL and SDXL-Turbo (``StableDiffusionXLPipeline``)."""
from __future__ import annotations

from .base import DiffusersBackend


class StableDiffusionXL(DiffusersBackend):
    """SDXL base 1.0 and SDXL-Turbo. The invisible watermark is off (it depends on an
    optional package, so it would make pixels depend on the install)."""

    key = "sdxl"
    pipeline_class = "StableDiffusionXLPipeline"
    # a refiner directory (model_index: StableDiffusionXLImg2ImgPipeline) registers as sdxl
    pipeline_classes = ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline")
    call_params = {"eta": (float, int), "guidance_rescale": (float, int),
                   "denoising_end": (float, int)}
    load_kwargs = {"add_watermarker": False}
    well_known = ("sdxl", "sdxl-turbo")
    img2img_class = "StableDiffusionXLImg2ImgPipeline"
    controlnet_class = "StableDiffusionXLControlNetPipeline"
    controlnet_img2img_class = "StableDiffusionXLControlNetImg2ImgPipeline"
    refiner_class = "StableDiffusionXLImg2ImgPipeline"
    refiner_handover = True


backend = StableDiffusionXL()
