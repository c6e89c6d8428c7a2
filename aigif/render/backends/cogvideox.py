"""CogVideoX (``CogVideoXPipeline``): T5 text encoder, 3D-VAE, expert transformer.

Its schedulers are its own: ``cogvideox_ddim`` (CogVideoX-2b's ``CogVideoXDDIMScheduler``)
and ``cogvideox_dpm`` (CogVideoX-5b's ``CogVideoXDPMScheduler``). CogVideoX-5b is usually
run with ``params={"use_dynamic_cfg": True}``.

Image-to-video: a CogVideoX I2V checkpoint (``model_index.json`` names
``CogVideoXImageToVideoPipeline``, e.g. ``THUDM/CogVideoX-5b-I2V``) loads with that class and
renders the file's conditioning image (``video.image``); it needs one, and a text-to-video
checkpoint refuses one.
"""
from __future__ import annotations

from .video import VideoBackend

__all__ = ["CogVideoXBackend"]


class CogVideoXBackend(VideoBackend):
    key = "cogvideox"
    pipeline_class = "CogVideoXPipeline"
    pipeline_classes = ("CogVideoXPipeline", "CogVideoXImageToVideoPipeline")
    i2v_checkpoint_class = "CogVideoXImageToVideoPipeline"
    well_known = ("cogvideox-2b", "cogvideox-5b")
    video_uses = frozenset({"frames", "fps", "image", "vae_tiling"})
    uses = frozenset({"prompt", "negative_prompt", "seed", "steps", "guidance_scale",
                      "scheduler", "width", "height"})
    schedulers = frozenset({"cogvideox_ddim", "cogvideox_dpm"})
    call_params = {"use_dynamic_cfg": (bool,), "eta": (float, int),
                   "max_sequence_length": (int,)}
    hub_models = {"THUDM/CogVideoX-2b": "1137dacfc2c9c012bed6a0793f4ecf2ca8e7ba01",
                  "THUDM/CogVideoX-5b": "8d6ea3f817438460b25595a120f109b88d5fdfad"}


backend = CogVideoXBackend()
