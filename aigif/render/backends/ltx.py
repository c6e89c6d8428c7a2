"""LTX-Video (``LTXPipeline``): T5 text encoder, causal video VAE, transformer conditioned
on the frame rate (``video.fps`` is the call's ``frame_rate``).

Image-to-video: a file with ``video.image`` renders with ``LTXImageToVideoPipeline`` on the
same weights (the same repository serves both, as diffusers documents:
``LTXImageToVideoPipeline.from_pretrained("Lightricks/LTX-Video")``), the decoded
conditioning image as its ``image``.

LTX-Video 0.9.1 and later are usually run with ``params={"decode_timestep": 0.03,
"decode_noise_scale": 0.025}`` (the VAE decodes with a little noise at that timestep).
"""
from __future__ import annotations

from .video import VideoBackend

__all__ = ["LTXBackend"]


class LTXBackend(VideoBackend):
    key = "ltx_video"
    pipeline_class = "LTXPipeline"
    pipeline_classes = ("LTXPipeline", "LTXImageToVideoPipeline")
    i2v_class = "LTXImageToVideoPipeline"
    well_known = ("ltx-video",)
    uses = frozenset({"prompt", "negative_prompt", "seed", "steps", "guidance_scale",
                      "scheduler", "width", "height"})
    flow = True
    frame_rate_arg = "frame_rate"
    video_uses = frozenset({"frames", "fps", "image", "vae_tiling"})
    call_params = {"guidance_rescale": (float, int), "decode_timestep": (float, int),
                   "decode_noise_scale": (float, int), "max_sequence_length": (int,)}
    hub_models = {"Lightricks/LTX-Video": "8984fa25007f376c1a299016d0957a37a2f797bb"}


backend = LTXBackend()
