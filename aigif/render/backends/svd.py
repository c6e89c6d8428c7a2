"""Stable Video Diffusion: image-to-video (``StableVideoDiffusionPipeline``). No text: the
file's conditioning image (``video.image``) is the only input besides the noise, and
the micro-conditioning the pipeline adds to the time embedding comes from ``meta.video``:

- ``video.fps`` -> the call's ``fps`` (the pipeline conditions on ``fps - 1``; also the
  playback rate of the frames),
- ``video.motion_bucket_id`` -> ``motion_bucket_id`` (how much motion),
- ``video.noise_aug_strength`` -> ``noise_aug_strength`` (noise added to the image),
- ``video.decode_chunk_size`` -> ``decode_chunk_size`` (0: all frames at once, the
  pipeline's default).

``guidance_scale`` is the call's ``max_guidance_scale`` (the guidance ramps linearly over
the frames from ``params["min_guidance_scale"]``, 1.0 by default, to it). The shipped
scheduler is Euler with Karras sigmas on v-prediction and continuous timesteps
(``euler_karras``, built from the model's own scheduler config). As diffusers documents::

    pipe = StableVideoDiffusionPipeline.from_pretrained(
        "stabilityai/stable-video-diffusion-img2vid-xt")
    frames = pipe(image, decode_chunk_size=8, generator=torch.manual_seed(42)).frames[0]
"""
from __future__ import annotations

from .video import VideoBackend

__all__ = ["StableVideoDiffusionBackend"]


class StableVideoDiffusionBackend(VideoBackend):
    key = "stable_video_diffusion"
    pipeline_class = "StableVideoDiffusionPipeline"
    pipeline_classes = ("StableVideoDiffusionPipeline",)
    uses = frozenset({"seed", "steps", "guidance_scale", "scheduler", "width", "height"})
    # Euler on the model's v-prediction / continuous-timestep config, Karras sigmas or not
    schedulers = frozenset({"euler_karras", "euler"})
    video_uses = frozenset({"frames", "fps", "image", "motion_bucket_id",
                            "noise_aug_strength", "decode_chunk_size", "vae_tiling"})
    frame_rate_arg = "fps"
    needs_image = True
    call_params = {"min_guidance_scale": (float, int)}
    # revisions not pinned here: no commit of these repositories was recorded without
    # access to the hub (a file naming one without model_revision warns that it is not)
    hub_models = {"stabilityai/stable-video-diffusion-img2vid-xt": None,
                  "stabilityai/stable-video-diffusion-img2vid": None,
                  "stabilityai/stable-video-diffusion-img2vid-xt-1-1": None}

    def call_kwargs(self, meta, generator) -> dict:
        """The pipeline call: no prompt; ``guidance_scale`` as ``max_guidance_scale``; the
        micro-conditioning from ``meta.video`` (``fps`` as an int when whole)."""
        kw = super().call_kwargs(meta, generator)
        kw.pop("prompt", None)
        kw.pop("negative_prompt", None)
        kw["max_guidance_scale"] = kw.pop("guidance_scale", meta.guidance_scale)
        fps = meta.video.fps
        kw["fps"] = fps.numerator if fps.denominator == 1 else float(fps)
        kw["motion_bucket_id"] = meta.video.motion_bucket_id
        kw["noise_aug_strength"] = meta.video.noise_aug_strength
        return kw


backend = StableVideoDiffusionBackend()
