"""PixArt-Sigma (``PixArtSigmaPipeline``).

``clean_caption`` defaults to False here (diffusers' default True depends on whether the
optional bs4/ftfy packages are installed, which would make pixels depend on the install);
a file that was made with it sets ``params["clean_caption"] = True``.
"""
from __future__ import annotations

from .base import DiffusersBackend


class PixArtSigma(DiffusersBackend):
    key = "pixart_sigma"
    pipeline_class = "PixArtSigmaPipeline"
    pipeline_classes = ("PixArtSigmaPipeline",)
    uses = frozenset({"prompt", "negative_prompt", "seed", "steps", "guidance_scale",
                      "scheduler", "width", "height"})
    call_params = {"max_sequence_length": (int,), "use_resolution_binning": (bool,),
                   "clean_caption": (bool,), "eta": (float, int)}
    well_known = ("pixart-sigma",)

    def call_kwargs(self, meta, generator) -> dict:
        kw = super().call_kwargs(meta, generator)
        kw["negative_prompt"] = meta.negative_prompt
        kw.setdefault("clean_caption", False)
        return kw


backend = PixArtSigma()
