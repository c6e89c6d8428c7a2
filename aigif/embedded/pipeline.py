"""``AigifTinyPipeline``: a pixel-space text-to-image diffusers pipeline.

Why pixel space and not ``StableDiffusionPipeline`` + a tiny VAE: at 32 x 32 pixels a VAE
buys no speed, costs a second trained network and blurs the flat colours that the model
must get exactly right; and aigif-tiny's UNet pools the prompt into its time embedding
(``addition_embed_type="text"``) and takes two coordinate channels besides RGB
(CoordConv), which a latent pipeline would have to special-case anyway. The pipeline is
the usual loop: CLIP text encoder -> classifier-free guidance -> scheduler steps on an RGB
tensor in [-1, 1]. All components are stock diffusers / transformers classes loaded with
``from_pretrained`` from safetensors.

Example::

    >>> from aigif.embedded.pipeline import AigifTinyPipeline, load
    >>> pipe = load()                                  # the packaged weights
    >>> g = torch.Generator("cpu").manual_seed(1)
    >>> image = pipe("a small red circle in the center on a white background",
    ...              generator=g).images[0]            # PIL, 32 x 32
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput, UNet2DConditionModel
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from transformers import CLIPTextModel, CLIPTokenizer

from ..render.backends.base import dtype_kwarg
from . import MODEL_KEY, base_path, model_path


def coord_channels(n: int, height: int, width: int, dtype=torch.float32,
                   device=None) -> torch.Tensor:
    """Two constant channels, x and y in [-1, 1] (CoordConv): they tell every convolution
    where it is, so "in the top left corner" can be learned in minutes rather than hours."""
    ys = torch.linspace(-1, 1, height, dtype=dtype, device=device)
    xs = torch.linspace(-1, 1, width, dtype=dtype, device=device)
    grid = torch.stack([xs.view(1, -1).expand(height, width),
                        ys.view(-1, 1).expand(height, width)])
    return grid.unsqueeze(0).expand(n, 2, height, width)


def unet_input(unet, x: torch.Tensor) -> torch.Tensor:
    """The image, plus the coordinate channels when the UNet takes them (in = out + 2)."""
    if unet.config.in_channels == unet.config.out_channels + 2:
        n, _, h, w = x.shape
        return torch.cat([x, coord_channels(n, h, w, x.dtype, x.device)], dim=1)
    return x


class AigifTinyPipeline(DiffusionPipeline):
    """Pixel-space text-to-image pipeline (``unet``, ``text_encoder``, ``tokenizer``,
    ``scheduler``)."""

    model_cpu_offload_seq = "text_encoder->unet"

    def __init__(self, unet: UNet2DConditionModel, text_encoder: CLIPTextModel,
                 tokenizer: CLIPTokenizer, scheduler) -> None:
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
                 num_inference_steps: int = 20, guidance_scale: float = 4.0,
                 height: int | None = None, width: int | None = None,
                 generator: torch.Generator | list[torch.Generator] | None = None,
                 latents: torch.Tensor | None = None, num_images_per_prompt: int = 1,
                 output_type: str = "pil", return_dict: bool = True,
                 callback_on_step_end: Callable | None = None, **_ignored) -> ImagePipelineOutput:
        """Generate images; returns ``ImagePipelineOutput(images=[PIL.Image, ...])``.

        ``output_type`` is ``"pil"``, ``"np"`` (float in [0, 1], NHWC) or ``"pt"`` (the raw
        tensor in [-1, 1], NCHW). Extra keyword arguments that other pipelines accept
        (``clip_skip``, ``eta`` ...) are ignored.
        """
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        prompts = [p for p in prompts for _ in range(num_images_per_prompt)]
        n = len(prompts)
        if negative_prompt is None:
            negs = [""] * n
        else:
            negs = [negative_prompt] if isinstance(negative_prompt, str) else list(negative_prompt)
            negs = [p for p in negs for _ in range(num_images_per_prompt)]
            if len(negs) == 1:
                negs = negs * n
        size = self.unet.config.sample_size
        height, width = height or size, width or size
        device = self._execution_device
        dtype = self.unet.dtype
        cfg = guidance_scale > 1.0
        cond = self.encode_prompt(prompts, device)
        if cfg:
            cond = torch.cat([self.encode_prompt(negs, device), cond])
        shape = (n, self.unet.config.out_channels, height, width)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=torch.device("cpu"),
                                   dtype=torch.float32)
        latents = latents.to(device=device, dtype=dtype) * self.scheduler.init_noise_sigma
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        for i, t in enumerate(self.progress_bar(self.scheduler.timesteps)):
            inp = torch.cat([latents] * 2) if cfg else latents
            inp = self.scheduler.scale_model_input(inp, t)
            out = self.unet(unet_input(self.unet, inp), t,
                            encoder_hidden_states=cond.to(dtype)).sample
            if cfg:
                uncond, text = out.chunk(2)
                out = uncond + guidance_scale * (text - uncond)
            latents = self.scheduler.step(out, t, latents, generator=generator).prev_sample
            if callback_on_step_end is not None:
                callback_on_step_end(self, i, t, {"latents": latents})
        images = latents.float().clamp(-1, 1)
        if output_type == "pt":
            result = images
        else:
            arr = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
            arr = arr.permute(0, 2, 3, 1).cpu().numpy()
            result = [Image.fromarray(a) for a in arr] if output_type == "pil" \
                else arr.astype(np.float32) / 255.0
        self.maybe_free_model_hooks()
        if not return_dict:
            return (result,)
        return ImagePipelineOutput(images=result)


def load(path=None, torch_dtype: torch.dtype = torch.float32, *, key: str | None = None,
         **kwargs) -> AigifTinyPipeline:
    """Load a packaged aigif-tiny model (``key``, default the newest, ``MODEL_KEY``)
    or the saved directory ``path``; a directory without ``text_encoder/`` and
    ``tokenizer/`` (a stage-2 model) takes them from the packaged aigif-tiny."""
    kwargs.update(dtype_kwarg(torch_dtype))
    if path is None:
        from importlib.resources import as_file

        with as_file(model_path(key or MODEL_KEY)) as p:
            return from_dir(p, **kwargs)
    return from_dir(path, **kwargs)


# state-dict key of CLIPTextModel's token embedding (transformers < 5 prefixes "text_model.")
TOKEN_EMBEDDING = "embeddings.token_embedding.weight"
# a partial text encoder may replace some rows of the base's token embedding: these ids ...
TOKEN_ROWS_IDS = "aigif.token_embedding.rows"
# ... with these values (len(ids) x hidden size)
TOKEN_ROWS = "aigif.token_embedding.values"


def state_key(k: str) -> str:
    """A CLIPTextModel state-dict key without the ``text_model.`` prefix of transformers < 5."""
    return k.removeprefix("text_model.")


def from_dir(path, **kwargs) -> AigifTinyPipeline:
    """``AigifTinyPipeline.from_pretrained(path)`` for a full directory; a stage-2
    directory (``train --base``) may lack ``tokenizer/``, ``text_encoder/``, or hold a
    text encoder without its token embedding: those parts are the packaged aigif-tiny's.
    Raises ``ValueError`` when a partial text encoder holds anything but the expected keys."""
    from pathlib import Path
    path = Path(str(path))
    dtype = kwargs.get("dtype", kwargs.get("torch_dtype", torch.float32))
    te_dir = path / "text_encoder"
    partial = te_dir.is_dir() and _lacks_token_embedding(te_dir / "model.safetensors")
    need_te = "text_encoder" not in kwargs and (partial or not te_dir.is_dir())
    need_tok = "tokenizer" not in kwargs and not (path / "tokenizer").is_dir()
    if need_te or need_tok:
        from importlib.resources import as_file

        with as_file(base_path()) as b:
            if need_tok:
                kwargs["tokenizer"] = CLIPTokenizer.from_pretrained(str(b / "tokenizer"))
            if need_te:
                te = CLIPTextModel.from_pretrained(str(b / "text_encoder"), dtype=dtype,
                                                   use_safetensors=True)
                if partial:
                    _load_partial(te, te_dir / "model.safetensors")
                kwargs["text_encoder"] = te
    return AigifTinyPipeline.from_pretrained(str(path), **kwargs)


def _lacks_token_embedding(file) -> bool:
    from safetensors import safe_open
    with safe_open(str(file), framework="pt") as f:
        return TOKEN_EMBEDDING not in {state_key(k) for k in f.keys()}


def _load_partial(te: CLIPTextModel, file) -> None:
    from safetensors.torch import load_file
    sd = {state_key(k): v for k, v in load_file(str(file)).items()}
    ids, values = sd.pop(TOKEN_ROWS_IDS, None), sd.pop(TOKEN_ROWS, None)
    names = {state_key(k): k for k in te.state_dict()}
    want = set(names) - {TOKEN_EMBEDDING}
    if set(sd) != want:
        raise ValueError(f"{file}: a text encoder without its token embedding must hold "
                         f"exactly the other {len(want)} tensors; missing "
                         f"{sorted(want - set(sd))[:3]}, unexpected {sorted(set(sd) - want)[:3]}")
    dtype = te.dtype
    te.load_state_dict({names[k]: v.to(dtype) for k, v in sd.items()}, strict=False)
    if (ids is None) != (values is None):
        raise ValueError(f"{file}: {TOKEN_ROWS_IDS} and {TOKEN_ROWS} go together")
    if ids is not None:
        table = te.get_input_embeddings().weight
        if (ids.dim() != 1 or values.shape != (len(ids), table.shape[1])
                or ids.dtype != torch.int64 or len(ids) and (ids.min() < 0
                                                             or ids.max() >= table.shape[0])):
            raise ValueError(f"{file}: {TOKEN_ROWS_IDS} must be {table.shape[0]}-bounded "
                             f"int64 ids and {TOKEN_ROWS} one row of {table.shape[1]} per id")
        with torch.no_grad():
            table[ids] = values.to(table.dtype)
