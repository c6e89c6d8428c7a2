"""Record a diffusers pipeline's text cross-attention while it renders (DAAM-style heat maps).

``CrossAttentionRecorder(pipe)`` is a context manager: inside it, every cross-attention
layer of the pipeline's denoiser (the diffusers ``Attention`` modules named ``attn2`` of
``BasicTransformerBlock``: SD 1.x/2.x, SDXL, LCM, PixArt, aigif-tiny) reports its
inputs to a forward *pre-hook*, and the recorder recomputes, on the side,
``softmax(Q K^T * scale)`` of the conditional batch element (the last one: diffusers puts
the unconditional half first) with diffusers' own ``Attention.prepare_attention_mask`` /
``head_to_batch_dim`` / ``get_attention_scores``. It sums the probabilities over heads,
layers and denoising steps per attention resolution, and ``token_maps(width, height)``
upsamples the sums (bilinear) to the image size: one map per text token.

Why a pre-hook and not a replacement attention processor: the hook does not take part in
the forward pass, so the layers run exactly the processor they had (SDPA, xformers, a
LoRA's), and the rendered pixels are bit-identical with and without recording (tested).
The hooks are removed when the block exits, also on error; a cached pipeline keeps
nothing. Imports torch (this module is loaded when an object map is asked for).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["CrossAttentionRecorder", "cross_attention_layers", "denoiser"]


def denoiser(pipe) -> Any:
    """The pipeline's denoising network (``unet`` or ``transformer``), or None."""
    for name in ("unet", "transformer"):
        m = getattr(pipe, name, None)
        if isinstance(m, torch.nn.Module):
            return m
    return None


def cross_attention_layers(pipe) -> list[tuple[str, Any]]:
    """``(name, module)`` of every text cross-attention layer of the pipeline's denoiser:
    diffusers ``Attention`` modules named ``attn2`` that attend to another sequence.
    Empty for families whose text enters through joint attention (SD3, Flux) or not at
    all."""
    from diffusers.models.attention_processor import Attention
    net = denoiser(pipe)
    if net is None:
        return []
    return [(n, m) for n, m in net.named_modules()
            if n.rsplit(".", 1)[-1] == "attn2" and isinstance(m, Attention)
            and getattr(m, "is_cross_attention", True)]


class CrossAttentionRecorder:
    """Context manager that sums a pipeline's text cross-attention over heads, layers and
    steps (see the module docstring). After the block: ``calls`` (layer calls recorded),
    ``tokens`` (text sequence length), ``token_maps(width, height)``; ``tokenizer``: the
    pipeline's (first) tokenizer, whose positions the tokens are."""

    def __init__(self, pipe) -> None:
        self.layers = cross_attention_layers(pipe)
        self.tokenizer = getattr(pipe, "tokenizer", None)
        self._sums: dict[int, torch.Tensor] = {}    # query length -> [tokens, query length]
        self._handles: list[Any] = []
        self.calls = 0
        self.tokens = 0
        #: the first exception the side computation raised (the render is not affected:
        #: the hook swallows it and records nothing more)
        self.error: BaseException | None = None

    def __enter__(self) -> "CrossAttentionRecorder":
        for _, m in self.layers:
            self._handles.append(m.register_forward_pre_hook(self._hook, with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, attn, args, kwargs) -> None:
        if self.error is not None:
            return None
        try:
            self._record(attn, args, kwargs)
        except Exception as e:  # noqa: BLE001 (an unusual layer: never break the render)
            self.error = e
        return None

    def _record(self, attn, args, kwargs) -> None:
        hidden = args[0] if args else kwargs.get("hidden_states")
        context = args[1] if len(args) > 1 else kwargs.get("encoder_hidden_states")
        mask = args[2] if len(args) > 2 else kwargs.get("attention_mask")
        if hidden is None or context is None or hidden.ndim != 3:
            return None
        with torch.no_grad():
            probs = self._probs(attn, hidden[-1:], context[-1:],
                                None if mask is None else mask[-1:])
        # [heads, query, tokens] -> summed over heads, [tokens, query], float32 on CPU
        s = probs.float().sum(0).transpose(0, 1).cpu()
        n = s.shape[1]
        if self._sums and s.shape[0] != self.tokens:
            raise RuntimeError(f"text length changed between layers ({self.tokens} -> "
                               f"{s.shape[0]})")
        self.tokens = s.shape[0]
        if n in self._sums:
            self._sums[n] += s
        else:
            self._sums[n] = s
        self.calls += 1

    @staticmethod
    def _probs(attn, hidden, context, mask):
        """softmax(Q K^T * scale) as diffusers' plain ``AttnProcessor`` computes it."""
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query = attn.head_to_batch_dim(attn.to_q(hidden))
        key = attn.head_to_batch_dim(attn.to_k(context))
        if mask is not None:
            mask = attn.prepare_attention_mask(mask, key.shape[1], 1)
        return attn.get_attention_scores(query, key, mask)

    def token_maps(self, width: int, height: int) -> torch.Tensor:
        """float32 ``[tokens, height, width]``: each token's attention, summed over heads,
        layers and steps, every resolution upsampled (bilinear) to the image size.
        RuntimeError when nothing was recorded or a resolution fits no downscaled grid."""
        if not self._sums:
            raise RuntimeError("no cross-attention was recorded")
        out = torch.zeros(self.tokens, height, width)
        for n, s in self._sums.items():
            h, w = _grid_for(n, width, height)
            out += F.interpolate(s.reshape(1, self.tokens, h, w), size=(height, width),
                                 mode="bilinear", align_corners=False)[0]
        return out


def _grid_for(n: int, width: int, height: int) -> tuple[int, int]:
    """(h, w) of an attention resolution with ``n`` query positions: the image size divided
    by a power of two (rounded up, as strided convolutions with padding round), h*w == n."""
    for k in range(0, 12):
        f = 1 << k
        for h, w in ((-(-height // f), -(-width // f)), (height // f, width // f)):
            if h * w == n:
                return h, w
    raise RuntimeError(f"cross-attention over {n} positions fits no downscaled "
                       f"{width}x{height} grid")
