"""HunyuanVideo (``HunyuanVideoPipeline``): Llama + CLIP text encoders, causal 3D VAE,
guidance-distilled transformer (``guidance_scale`` is the embedded guidance; real
classifier-free guidance with the negative prompt is ``params["true_cfg_scale"]`` > 1).
``video.flow_shift`` (7.0 by default) is the flow-matching scheduler's ``shift``.
"""
from __future__ import annotations

from .video import VideoBackend

__all__ = ["HunyuanVideoBackend"]


class HunyuanVideoBackend(VideoBackend):
    key = "hunyuan_video"
    pipeline_class = "HunyuanVideoPipeline"
    pipeline_classes = ("HunyuanVideoPipeline",)
    well_known = ("hunyuan-video",)
    uses = frozenset({"prompt", "negative_prompt", "seed", "steps", "guidance_scale",
                      "scheduler", "width", "height"})
    flow = True
    video_uses = frozenset({"frames", "fps", "flow_shift", "vae_tiling"})
    call_params = {"true_cfg_scale": (float, int), "max_sequence_length": (int,)}
    hub_models = {"hunyuanvideo-community/HunyuanVideo":
                  "e8c2aaa66fe3742a32c11a6766aecbf07c56e773"}


backend = HunyuanVideoBackend()
