"""Wan 2.1 / 2.2 text-to-video (``WanPipeline``): UMT5 text encoder, Wan VAE, DiT (two
experts in Wan 2.2 A14B: ``params["guidance_scale_2"]`` is the low-noise expert's
guidance).

The shipped scheduler is UniPC on flow sigmas; ``video.flow_shift`` (3.0 by default: 480p;
5.0 for 720p) becomes its ``flow_shift`` (``shift`` for ``flow_euler``).

Image-to-video: a Wan 2.1 I2V checkpoint (``model_index.json`` names
``WanImageToVideoPipeline``, e.g. ``Wan-AI/Wan2.1-I2V-14B-480P-Diffusers``) loads with that
class and renders the file's conditioning image (``video.image``); it needs one, and a
text-to-video checkpoint refuses one.
"""
from __future__ import annotations

from .video import VideoBackend

__all__ = ["WanBackend"]


class WanBackend(VideoBackend):
    key = "wan"
    pipeline_class = "WanPipeline"
    pipeline_classes = ("WanPipeline", "WanImageToVideoPipeline")
    i2v_checkpoint_class = "WanImageToVideoPipeline"
    well_known = ("wan21-t2v-1.3b", "wan21-t2v-14b", "wan22-t2v-a14b")
    uses = frozenset({"prompt", "negative_prompt", "seed", "steps", "guidance_scale",
                      "scheduler", "width", "height"})
    # UniPC / DPM-Solver++ on the model's flow sigmas, or flow-matching Euler
    schedulers = frozenset({"unipc", "dpmpp_2m", "flow_euler"})
    video_uses = frozenset({"frames", "fps", "flow_shift", "image", "vae_tiling"})
    call_params = {"guidance_scale_2": (float, int), "max_sequence_length": (int,)}
    hub_models = {"Wan-AI/Wan2.1-T2V-1.3B-Diffusers": "0fad780a534b6463e45facd96134c9f345acfa5b",
                  "Wan-AI/Wan2.1-T2V-14B-Diffusers": "38ec498cb3208fb688890f8cc7e94ede2cbd7f68",
                  "Wan-AI/Wan2.2-T2V-A14B-Diffusers": "5be7df9619b54f4e2667b2755bc6a756675b5cd7"}


backend = WanBackend()
