"""An example aigif generator extension: unconditional image models (``DDIMPipeline``).

Models such as ``google/ddpm-cifar10-32`` draw an image from noise alone: no prompt, no
guidance, a fixed size. This extension teaches aigif to store and regenerate their images.
It is what docs/extension-guide.md walks through; copy it to start your own.

Install it (``pip install -e examples/example_extension``) and aigif finds it through the
``aigif.generators`` entry point declared in ``pyproject.toml``: nothing to import.

    import aigif
    aigif.register_model("cifar", "/models/ddpm-cifar10-32")   # a diffusers directory
    image, data = aigif.generate(aigif.GenerationMeta(model="cifar", seed=1, steps=20))
"""
from __future__ import annotations

from aigif.errors import RenderError
from aigif.registry import GeneratorInfo
from aigif.render.backends.base import DiffusersBackend
from aigif.spec.models import Defaults

__all__ = ["GENERATOR", "backend", "UnconditionalDDIM"]


class UnconditionalDDIM(DiffusersBackend):
    """Render with diffusers' ``DDIMPipeline`` (imports diffusers only when rendering)."""

    key = "uncond"
    pipeline_class = "DDIMPipeline"
    # model_index.json class names that register_model() maps to this family
    pipeline_classes = ("DDIMPipeline", "DDPMPipeline")
    # the syntax fields it uses: a prompt or a guidance scale would be ignored (warned)
    uses = frozenset({"seed", "steps", "scheduler", "width", "height"})
    # DDIMPipeline steps with eta, which only DDIMScheduler takes
    schedulers = frozenset({"ddim"})
    # extra generation parameters a file may carry in meta.params
    call_params = {"eta": (float, int)}
    well_known = ()

    def call_kwargs(self, meta, generator) -> dict:
        return {"batch_size": 1, "generator": generator, "num_inference_steps": meta.steps,
                "eta": float(meta.params.get("eta", 0.0)), "output_type": "pil"}

    def run(self, pipe, meta, generator):
        size = pipe.unet.config.sample_size
        if (meta.width, meta.height) != (size, size):
            raise RenderError(f"this model draws {size}x{size} images, the file asks for "
                              f"{meta.width}x{meta.height}", field="width")
        return super().run(pipe, meta, generator)


backend = UnconditionalDDIM()

#: What the entry point names. Code 1024 is in the private range (1024..2047); the
#: defaults are frozen with it forever (files omit values equal to them).
GENERATOR = GeneratorInfo(
    key="uncond", code=1024,
    defaults=Defaults(steps=50, guidance_scale=0.0, scheduler="ddim", width=32, height=32),
    backend="aigif_uncond:backend",
    description="unconditional diffusion models (DDIMPipeline), example extension")
