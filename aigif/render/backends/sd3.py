"""Stable Diffusion 3 / 3.5 (``StableDiffusion3Pipeline``), flow matching."""
from __future__ import annotations

from .base import DiffusersBackend


class StableDiffusion3(DiffusersBackend):
    key = "sd3"
    pipeline_class = "StableDiffusion3Pipeline"
    pipeline_classes = ("StableDiffusion3Pipeline",)
    flow = True
    call_params = {"max_sequence_length": (int,), "skip_layer_guidance_scale": (float, int),
                   "skip_layer_guidance_start": (float, int),
                   "skip_layer_guidance_stop": (float, int)}
    well_known = ("sd3-medium", "sd35-large", "sd35-medium", "sd35-large-turbo")


backend = StableDiffusion3()
