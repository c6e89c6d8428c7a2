"""Latent Consistency Models (``LatentConsistencyModelPipeline``): no negative prompt;
``guidance_scale`` is the guidance embedding's w."""
from __future__ import annotations

from .base import DiffusersBackend


class LatentConsistency(DiffusersBackend):
    key = "lcm"
    pipeline_class = "LatentConsistencyModelPipeline"
    pipeline_classes = ("LatentConsistencyModelPipeline",)
    uses = frozenset({"prompt", "seed", "steps", "guidance_scale", "scheduler", "width",
                      "height", "clip_skip"})
    schedulers = frozenset({"lcm"})
    call_params = {"original_inference_steps": (int,)}
    load_kwargs = {"safety_checker": None, "requires_safety_checker": False}
    well_known = ("lcm-dreamshaper-v7",)


backend = LatentConsistency()
