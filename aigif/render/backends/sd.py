"""Stable Diffusion 1.x / 2.x (``StableDiffusionPipeline``)."""
from __future__ import annotations

from .base import DiffusersBackend


class StableDiffusion(DiffusersBackend):
    """SD 1.4/1.5/2.x. The safety checker is not loaded: it would replace some images
    with black ones, which is no part of the generation syntax."""

    key = "sd"
    pipeline_class = "StableDiffusionPipeline"
    pipeline_classes = ("StableDiffusionPipeline",)
    call_params = {"eta": (float, int), "guidance_rescale": (float, int)}
    load_kwargs = {"safety_checker": None, "requires_safety_checker": False}
    well_known = ("sd15", "sd14", "sd21", "sd21-base")
    img2img_class = "StableDiffusionImg2ImgPipeline"
    controlnet_class = "StableDiffusionControlNetPipeline"
    controlnet_img2img_class = "StableDiffusionControlNetImg2ImgPipeline"


backend = StableDiffusion()
