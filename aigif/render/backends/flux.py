"""FLUX.1 schnell / dev (``FluxPipeline``), flow matching.

``guidance_scale`` is FLUX.1-dev's distilled guidance (ignored by schnell's transformer);
the negative prompt only acts with ``params["true_cfg_scale"] > 1``.
"""
from __future__ import annotations

from .base import DiffusersBackend


class Flux(DiffusersBackend):
    key = "flux"
    pipeline_class = "FluxPipeline"
    pipeline_classes = ("FluxPipeline",)
    flow = True
    uses = frozenset({"prompt", "negative_prompt", "seed", "steps", "guidance_scale",
                      "scheduler", "width", "height"})
    call_params = {"max_sequence_length": (int,), "true_cfg_scale": (float, int)}
    well_known = ("flux1-schnell", "flux1-dev")


backend = Flux()
