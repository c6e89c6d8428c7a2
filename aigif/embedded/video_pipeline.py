"""``AigifTinyVideoPipeline``: a pixel-space text-to-video diffusers pipeline (aigif-tiny-video).

The loop of ``AigifTinyPipeline`` with a time axis: CLIP text encoder -> classifier-free
guidance -> scheduler steps on an RGB clip tensor ``(batch, 3, frames, H, W)`` in [-1, 1],
denoised by ``TinyVideoUNet`` (``aigif.embedded.video_unet``). The text encoder and
tokenizer are aigif-tiny-2's (frozen, shared: the video directory holds only ``unet/``,
``scheduler/`` and ``model_index.json``; ``from_dir`` adds them).

The output is shaped like diffusers' text-to-video ones: ``.frames`` holds, per prompt, ``output_type="np"`` a float array ``[T, H, W, 3]`` in [0, 1] (exact
multiples of 1/255, so ``aigif.render.video.to_uint8`` gives back the uint8 pixels), ``"pil"``
a list of PIL images, ``"pt"`` the raw tensor ``[T, 3, H, W]`` in [-1, 1].

Example::

    >>> from aigif.embedded.video_pipeline import load
    >>> pipe = load()
    >>> g = torch.Generator("cpu").manual_seed(1)
    >>> frames = pipe("a red circle moving from left to right on a white background",
    ...               generator=g, output_type="np").frames[0]      # (8, 32, 32, 3)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from ..render.backends.base import dtype_kwarg
from . import VIDEO_MODEL_KEY, model_path
from .video_unet import TinyVideoUNet

__all__ = ["AigifTinyVideoPipeline", "AigifTinyVideoPipelineOutput", "load", "from_dir",
           "TEXT_MODEL_KEY"]

#: The packaged image model whose text encoder and tokenizer the video model uses.
TEXT_MODEL_KEY = "aigif-tiny-2"


@dataclass
class AigifTinyVideoPipelineOutput(BaseOutput):
    """``frames``: one clip per prompt (``output_type`` "np": ``[N, T, H, W, 3]`` float in
    [0, 1]; "pil": lists of PIL images; "pt": ``[N, T, 3, H, W]`` in [-1, 1])."""

    frames: object


class AigifTinyVideoPipeline(DiffusionPipeline):
    """Pixel-space text-to-video pipeline (``unet``, ``text_encoder``, ``tokenizer``,
    ``scheduler``)."""

    model_cpu_offload_seq = "text_encoder->unet"

    def __init__(self, unet: TinyVideoUNet, text_encoder, tokenizer, scheduler) -> None:
        super().__init__()
        self.register_modules(unet=unet, text_encoder=text_encoder, tokenizer=tokenizer,
                              scheduler=scheduler)

    @torch.no_grad()
    def encode_prompt(self, prompt: list[str], device=None) -> torch.Tensor:
        ids = self.tokenizer(prompt, padding="max_length", truncation=True,
                             max_length=self.tokenizer.model_max_length,
                             return_tensors="pt").input_ids
        dev = device or self.text_encoder.device
        return self.text_encoder(ids.to(dev))[0]

    @torch.no_grad()
    def __call__(self, prompt: str | list[str], negative_prompt: str | list[str] | None = None,
                 num_frames: int | None = None, num_inference_steps: int = 20,
                 guidance_scale: float = 3.0, height: int | None = None,
                 width: int | None = None,
                 generator: torch.Generator | list[torch.Generator] | None = None,
                 latents: torch.Tensor | None = None, num_videos_per_prompt: int = 1,
                 output_type: str = "np", return_dict: bool = True,
                 callback_on_step_end: Callable | None = None, **_ignored):
        """Generate clips; returns ``AigifTinyVideoPipelineOutput(frames=[clip, ...])``
        (module docstring). Extra keyword arguments other pipelines take (``eta`` ...) are
        ignored."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        prompts = [p for p in prompts for _ in range(num_videos_per_prompt)]
        n = len(prompts)
        if negative_prompt is None:
            negs = [""] * n
        else:
            negs = [negative_prompt] if isinstance(negative_prompt, str) else list(negative_prompt)
            negs = [p for p in negs for _ in range(num_videos_per_prompt)]
            if len(negs) == 1:
                negs = negs * n
        size = self.unet.config.sample_size
        height, width = height or size, width or size
        frames = num_frames or self.unet.config.num_frames
        step = 4 * self.unet.config.patch_size
        if height % step or width % step or frames < 1:
            raise ValueError(f"height and width must be multiples of {step} and num_frames "
                             f">= 1; found {width} x {height}, {frames} frames")
        device = self._execution_device
        dtype = self.unet.dtype
        cfg = guidance_scale > 1.0
        cond = self.encode_prompt(prompts, device)
        if cfg:
            cond = torch.cat([self.encode_prompt(negs, device), cond])
        shape = (n, self.unet.config.out_channels, frames, height, width)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=torch.device("cpu"),
                                   dtype=torch.float32)
        latents = latents.to(device=device, dtype=dtype) * self.scheduler.init_noise_sigma
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        for i, t in enumerate(self.progress_bar(self.scheduler.timesteps)):
            inp = torch.cat([latents] * 2) if cfg else latents
            inp = self.scheduler.scale_model_input(inp, t)
            out = self.unet(inp, t, encoder_hidden_states=cond.to(dtype)).sample
            if cfg:
                uncond, text = out.chunk(2)
                out = uncond + guidance_scale * (text - uncond)
            latents = self.scheduler.step(out, t, latents, generator=generator).prev_sample
            if callback_on_step_end is not None:
                callback_on_step_end(self, i, t, {"latents": latents})
        clips = latents.float().clamp(-1, 1).permute(0, 2, 1, 3, 4)       # (N, T, 3, H, W)
        if output_type == "pt":
            result = clips
        else:
            arr = ((clips + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
            arr = arr.permute(0, 1, 3, 4, 2).cpu().numpy()                  # (N, T, H, W, 3)
            if output_type == "pil":
                result = [[Image.fromarray(f) for f in clip] for clip in arr]
            else:
                result = arr.astype(np.float32) / 255.0
        self.maybe_free_model_hooks()
        if not return_dict:
            return (result,)
        return AigifTinyVideoPipelineOutput(frames=result)


def load(path=None, torch_dtype: torch.dtype = torch.float32, key: str = VIDEO_MODEL_KEY,
         **kwargs) -> AigifTinyVideoPipeline:
    """Load the packaged video model ``key`` (``aigif.embedded.VIDEO_PACKAGED``: default
    aigif-tiny-video, or aigif-tiny-video-2), or the saved directory ``path``, e.g. the
    output of ``python -m training.embedded.train_video``."""
    kwargs.update(dtype_kwarg(torch_dtype))
    if path is None:
        from importlib.resources import as_file

        with as_file(model_path(key)) as p:
            return from_dir(p, **kwargs)
    return from_dir(path, **kwargs)


def from_dir(path, **kwargs) -> AigifTinyVideoPipeline:
    """``AigifTinyVideoPipeline`` from a directory holding ``unet/`` (``TinyVideoUNet``),
    ``scheduler/`` and ``model_index.json``; the text encoder and tokenizer are the
    packaged aigif-tiny-2's unless passed."""
    from pathlib import Path

    from diffusers import DPMSolverMultistepScheduler

    path = Path(str(path))
    dtype = kwargs.pop("dtype", kwargs.pop("torch_dtype", torch.float32))
    kwargs.pop("use_safetensors", None)
    if "text_encoder" not in kwargs or "tokenizer" not in kwargs:
        from importlib.resources import as_file

        from .pipeline import from_dir as image_from_dir
        with as_file(model_path(TEXT_MODEL_KEY)) as p:
            image = image_from_dir(p, use_safetensors=True, **dtype_kwarg(dtype))
        kwargs.setdefault("text_encoder", image.text_encoder)
        kwargs.setdefault("tokenizer", image.tokenizer)
    unet = kwargs.pop("unet", None) or TinyVideoUNet.from_pretrained(
        str(path / "unet"), use_safetensors=True, **dtype_kwarg(dtype))
    scheduler = kwargs.pop("scheduler", None) or DPMSolverMultistepScheduler.from_pretrained(
        str(path / "scheduler"))
    return AigifTinyVideoPipeline(unet=unet, text_encoder=kwargs.pop("text_encoder"),
                                  tokenizer=kwargs.pop("tokenizer"), scheduler=scheduler)
