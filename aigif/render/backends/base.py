"""The base class of a generator extension: how one model family renders a GenerationMeta.

A family subclasses ``DiffusersBackend`` and declares, as class attributes, the
diffusers pipeline class that loads and runs it, which syntax fields it uses, which extra
``params`` it passes to the pipeline call, the schedulers it can run and its well-known
models. Override ``call_kwargs`` (and rarely ``load`` or ``run``) for anything special.
Nothing here imports torch or diffusers at import time.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from ...errors import AigifWarning, MissingDependencyError, ModelNotAvailableError, RenderError
from ..schedulers import FLOW_SCHEDULERS, SCHEDULER_TABLE, make_scheduler, spec_for

__all__ = ["DiffusersBackend", "ModelSource", "ALL_FIELDS", "dtype_kwarg", "clip_text_model_shim"]

#: The syntax fields a family may use.
ALL_FIELDS = frozenset({"prompt", "negative_prompt", "seed", "steps", "guidance_scale",
                        "scheduler", "width", "height", "clip_skip"})


def network_text(text: str, loras) -> str:
    """``text`` without the A1111 extra-network tags (``<lora:NAME:w>``, ``<lyco:NAME:w>``)
    of the LoRAs in ``loras``: those LoRAs are applied as adapters, and A1111 takes such
    tags out of the prompt before encoding it, so leaving them in would condition on their
    characters too. Tags of LoRAs not in ``loras``, and everything else, stay byte for byte.
    Linear: one scan for "<"."""
    if not loras or "<" not in text:
        return text
    names = {lo.name for lo in loras}
    out, i = [], 0
    while True:
        j = text.find("<", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        if not text.startswith(("<lora:", "<lyco:"), j):
            out.append(text[i:j + 1])
            i = j + 1
            continue
        k = text.find(">", j)
        if k < 0:                       # no ">" after here: nothing more to take out
            out.append(text[i:])
            return "".join(out)
        if text[j + 6:k].split(":")[0] in names:
            out.append(text[i:j])
            i = k + 1
        else:
            out.append(text[i:j + 1])
            i = j + 1


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights come from.

    ``location``: hub id or local directory (None for models a backend ships itself);
    ``revision``: pinned hub commit, or ``local:<hash>``; ``local``: a directory;
    ``key``: what identifies it in caches and messages.
    """

    key: str
    location: str | None
    revision: str | None = None
    local: bool = False

    def how_to_get(self) -> str:
        if self.local or self.location is None:
            return ("register the directory that holds these weights with "
                    "aigif.register_model(name, path), or list its parent folder in "
                    "$AIGIF_MODEL_PATH")
        rev = f" --revision {self.revision}" if self.revision else ""
        return f"download it with: huggingface-cli download {self.location}{rev}"


def _diffusers():
    try:
        import diffusers
    except ImportError as e:
        raise MissingDependencyError(
            "rendering needs torch and diffusers: pip install 'aigif[render]'") from e
    return diffusers


class DiffusersBackend:
    """Render a GenerationMeta with one diffusers pipeline class.

    Subclass attributes:

    - ``key``: the generator key (as registered in ``aigif.registry.generators``)
    - ``pipeline_class``: diffusers pipeline class name used to load and run it
    - ``pipeline_classes``: ``model_index.json`` class names it renders (for
      ``aigif.register_model`` to infer the family)
    - ``uses``: syntax fields the pipeline takes; a non-default value in another field is
      ignored with a warning
    - ``call_params``: ``meta.params`` keys passed to the pipeline call, with their types
    - ``flow``: a flow-matching family (runs only flow schedulers)
    - ``schedulers``: keys it can run (None: every non-flow key, or every flow key)
    - ``load_kwargs``: extra ``from_pretrained`` arguments
    - ``well_known``: well-known model keys of the family
    - ``img2img_class`` / ``controlnet_class`` / ``controlnet_img2img_class`` /
      ``refiner_class``: the diffusers pipelines that run the family's generation stages
      (``aigif.render.stages``; None: those stages cannot be rendered), built from the
      loaded pipeline with ``from_pipe`` (the refiner's loads its own model);
      ``refiner_handover``: the family's passes can stop at ``denoising_end`` and hand
      their latents to a refiner
    """

    key: ClassVar[str] = ""
    pipeline_class: ClassVar[str] = ""
    pipeline_classes: ClassVar[tuple[str, ...]] = ()
    uses: ClassVar[frozenset] = ALL_FIELDS
    call_params: ClassVar[Mapping[str, tuple]] = {}
    flow: ClassVar[bool] = False
    schedulers: ClassVar[frozenset | None] = None
    load_kwargs: ClassVar[Mapping[str, Any]] = {}
    well_known: ClassVar[tuple[str, ...]] = ()
    img2img_class: ClassVar[str | None] = None
    controlnet_class: ClassVar[str | None] = None
    controlnet_img2img_class: ClassVar[str | None] = None
    refiner_class: ClassVar[str | None] = None
    refiner_handover: ClassVar[bool] = False

    # ------------------------------------------------------------------ loading
    def load(self, source: ModelSource, *, dtype: Any, device: str, download: bool = True,
             pipeline_class: str | None = None, components: Mapping[str, Any] | None = None):
        """Load the pipeline (safetensors only) onto ``device``; raise
        ModelNotAvailableError when the weights are not here. ``pipeline_class``: another
        diffusers class than ``self.pipeline_class`` (a refiner's img2img pipeline);
        ``components``: loaded models passed to ``from_pretrained`` by name (AnimateDiff's
        ``motion_adapter``)."""
        diffusers = _diffusers()
        name = pipeline_class or self.pipeline_class
        cls = getattr(diffusers, name, None)
        if cls is None:
            raise MissingDependencyError(
                f"diffusers {diffusers.__version__} has no {name}: "
                f"pip install -U 'aigif[render]'")
        if source.location is None:
            raise ModelNotAvailableError(f"model {source.key!r} has no location to load from")
        kw = dict(self.load_kwargs)
        kw.update(dtype_kwarg(dtype), use_safetensors=True)
        kw.update(components or {})
        if not source.local:
            kw.update(revision=source.revision, local_files_only=not download)
        try:
            pipe = cls.from_pretrained(source.location, **kw)
        except (OSError, ValueError) as e:
            if _is_missing(e):
                rev = f" at revision {source.revision}" if source.revision else ""
                raise ModelNotAvailableError(
                    f"model {source.key!r} ({source.location}{rev}) is not available on this "
                    f"machine; {source.how_to_get()}") from e
            raise RenderError(f"could not load {source.key!r} from {source.location} with "
                              f"{name}: {e}") from e
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        clip_text_model_shim(pipe)
        # The model's own scheduler config: every render builds its scheduler from it.
        pipe._aigif_scheduler_config = dict(pipe.scheduler.config)
        return pipe

    # ------------------------------------------------------------------ rendering
    def check(self, meta, *, strict: bool = False) -> None:
        """Refuse what this family cannot render faithfully; warn about ignored fields."""
        spec = spec_for(meta.scheduler)
        ok = self.schedulers if self.schedulers is not None else (
            FLOW_SCHEDULERS if self.flow else
            frozenset(k for k, s in SCHEDULER_TABLE.items() if not s.flow))
        registered_ok = self.schedulers is None and spec is not None and \
            meta.scheduler not in SCHEDULER_TABLE and spec.flow == self.flow
        if spec is None or (meta.scheduler not in ok and not registered_ok):
            raise RenderError(f"generator {self.key!r} cannot run scheduler "
                              f"{meta.scheduler!r}; it runs: {', '.join(sorted(ok))}",
                              field="scheduler")
        if spec.approximate:
            self._say(f"scheduler {meta.scheduler!r} has no exact diffusers equivalent; "
                      f"using {spec.cls} (the image is approximate)", strict)
        d = meta.defaults
        for name in sorted(ALL_FIELDS - self.uses):
            v = getattr(meta, name)
            default = "" if name in ("prompt", "negative_prompt") else getattr(d, name, None)
            if v not in (default, None):
                self._say(f"generator {self.key!r} does not use {name}; its value {v!r} "
                          f"is ignored", strict)
        for k in meta.params:
            if k.startswith("scheduler."):
                continue
            if k not in self.call_params:
                self._say(f"generator {self.key!r} does not know param {k!r}; it is ignored "
                          f"(known: {', '.join(sorted(self.call_params)) or 'none'})", strict)
            elif not isinstance(meta.params[k], self.call_params[k]) or \
                    isinstance(meta.params[k], bool) and bool not in self.call_params[k]:
                raise RenderError(f"param {k!r} must be "
                                  f"{' or '.join(t.__name__ for t in self.call_params[k])}",
                                  field=f"params.{k}")

    @staticmethod
    def _say(msg: str, strict: bool) -> None:
        if strict:
            raise RenderError(msg)
        warnings.warn(msg, AigifWarning, stacklevel=4)

    def scheduler(self, pipe, meta):
        """The scheduler for ``meta``, built from the model's own scheduler config.

        Built once per (pipeline, key, options) and reused, as diffusers users reuse
        ``pipe.scheduler``: ``set_timesteps``, which every pipeline call runs first, resets
        a scheduler's state, so nothing carries over from one render to the next.
        """
        options = self.scheduler_options(meta)
        memo = pipe.__dict__.setdefault("_aigif_schedulers", {})
        key = (meta.scheduler, tuple(sorted(options.items())))
        template = memo.get(key)
        if template is None:
            base = getattr(pipe, "_aigif_scheduler_config", None) or dict(pipe.scheduler.config)
            template = memo[key] = make_scheduler(meta.scheduler, base, options)
        return template

    def scheduler_options(self, meta) -> dict:
        """Scheduler init options of ``meta``: its ``params["scheduler.<option>"]``."""
        return {k[len("scheduler."):]: v for k, v in meta.params.items()
                if k.startswith("scheduler.")}

    def call_kwargs(self, meta, generator) -> dict:
        """Keyword arguments of the pipeline call for ``meta``."""
        kw: dict[str, Any] = {"prompt": network_text(meta.prompt, meta.loras),
                              "num_inference_steps": meta.steps,
                              "width": meta.width, "height": meta.height,
                              "generator": generator, "output_type": "pil"}
        if "guidance_scale" in self.uses:
            kw["guidance_scale"] = meta.guidance_scale
        if "negative_prompt" in self.uses:
            kw["negative_prompt"] = network_text(meta.negative_prompt, meta.loras) or None
        if "clip_skip" in self.uses and meta.clip_skip:
            kw["clip_skip"] = meta.clip_skip
        for k, v in meta.params.items():
            if k in self.call_params:
                kw[k] = v
        return kw

    def run(self, pipe, meta, generator):
        """Render ``meta`` on a loaded pipeline; return a PIL image."""
        pipe.scheduler = self.scheduler(pipe, meta)
        out = pipe(**self.call_kwargs(meta, generator))
        return out.images[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r} ({self.pipeline_class})>"


def dtype_kwarg(dtype) -> dict:
    """``{"dtype": dtype}`` for diffusers that renamed ``torch_dtype`` (0.42+), else
    ``{"torch_dtype": dtype}``: the ``from_pretrained`` argument without a FutureWarning."""
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401
    except ImportError:
        return {"torch_dtype": dtype}
    return {"dtype": dtype}


def clip_text_model_shim(pipe) -> None:
    """Give flattened ``CLIPTextModel``s back their ``text_model.final_layer_norm``.

    transformers >= 5.6 moved ``CLIPTextModel``'s submodules up one level, while diffusers'
    SD 1.x/2.x and LCM pipelines still call ``text_encoder.text_model.final_layer_norm``
    when ``clip_skip`` is set (diffusers issue #14124). The shim is a plain attribute (not
    a submodule), so weights, ``state_dict`` and the computation are unchanged.
    """
    from types import SimpleNamespace
    for name in ("text_encoder", "text_encoder_2"):
        te = getattr(pipe, name, None)
        if te is None or "text_model" in te.__dict__ or "text_model" in getattr(te, "_modules", {}):
            continue
        norm = getattr(te, "final_layer_norm", None)
        if norm is not None:
            te.text_model = SimpleNamespace(final_layer_norm=norm)


def _is_missing(e: BaseException) -> bool:
    names = {type(x).__name__ for x in _chain(e)}
    if names & {"LocalEntryNotFoundError", "RepositoryNotFoundError", "RevisionNotFoundError",
                "EntryNotFoundError", "GatedRepoError", "OfflineModeIsEnabled",
                "FileNotFoundError"}:
        return True
    text = " ".join(str(x) for x in _chain(e)).lower()
    return any(s in text for s in ("does not appear to have", "no such file", "couldn't connect",
                                   "cannot find the requested files", "not found",
                                   "offline", "local_files_only"))


def _chain(e: BaseException):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__
