"""The base class of the video families: a diffusers video pipeline renders ``meta`` (the
image fields) plus ``meta.video`` (``aigif.Video``: frames, fps, motion parameters, the
conditioning image of an image-to-video generation) into ``VideoFrames``.

A video family declares, besides what ``DiffusersBackend`` declares, which ``Video``
fields its pipeline applies (``video_uses``; a non-default value in another field is
ignored with a warning, or refused with ``strict=True``), the call argument that takes the
frame rate (``frame_rate_arg``: LTX-Video conditions on it) and the hub repositories of
its well-known models (``hub_models``: repo id -> pinned revision).

Image-to-video: a family that lists ``"image"`` in ``video_uses`` decodes the file's
conditioning image (``video.image``, a pixel payload) and passes it as the call's ``image``
(an RGB PIL image, what a diffusers user passes). It runs either on the family's own
pipeline (``pipeline_class`` takes the image: Stable Video Diffusion) or, when the family
declares ``i2v_class``, on that image-to-video pipeline built from the loaded weights with
``from_pipe`` (LTX-Video: ``LTXImageToVideoPipeline`` on the ``LTXPipeline``'s components,
as ``LTXImageToVideoPipeline.from_pretrained`` on the same repository loads them), or, when
the checkpoint itself is an image-to-video one (its ``model_index.json`` names the family's
``i2v_checkpoint_class``: Wan 2.1 I2V's ``WanImageToVideoPipeline``), on that class, loaded
as such; such a checkpoint cannot render without an image, nor a text-to-video checkpoint
whose pipeline takes no image with one.

LoRAs: ``run`` loads the file's LoRAs into the pipeline with its own ``load_lora_weights``
and activates them with ``set_adapters`` (``aigif.render.loras.LoraSession``, as for the
image families), and unloads them after the call; ``check`` refuses them (naming
``loras``) for a family whose pipeline cannot load one.
"""
from __future__ import annotations

import inspect
from typing import ClassVar, Mapping

from ...codecs import decode_payload
from ...errors import AigifError, MissingDependencyError, RenderError
from ..loras import LoraSession
from ..schedulers import spec_for
from ..stages import _sub
from ..video import VideoFrames, to_uint8
from .base import DiffusersBackend, _diffusers

__all__ = ["VideoBackend", "VIDEO_FIELDS"]

#: The ``aigif.Video`` fields a video family may apply.
VIDEO_FIELDS = frozenset({"frames", "fps", "image", "motion_adapter", "motion_bucket_id",
                          "noise_aug_strength", "flow_shift", "decode_chunk_size",
                          "vae_tiling"})


class VideoBackend(DiffusersBackend):
    """Render a video generation with one diffusers text-to-video pipeline class.

    Subclass attributes, besides ``DiffusersBackend``'s:

    - ``video_uses``: ``aigif.Video`` fields the family applies (``frames`` and ``fps``
      always: fps is the playback rate even where the pipeline does not take it)
    - ``frame_rate_arg``: the pipeline call argument that takes ``video.fps`` (None: the
      pipeline does not condition on it)
    - ``hub_models``: hub repo id -> pinned revision (None: not pinned here) of the
      family's well-known models, for ``aigif.GenerationMeta(model=<repo id>)``
    - ``i2v_class``: the diffusers pipeline that renders a file with ``video.image`` from
      the same weights (built with ``from_pipe``); None: ``pipeline_class`` takes the image
      itself (when ``"image"`` is in ``video_uses``)
    - ``needs_image``: the family is image-to-video only (a file without ``video.image``
      is refused)
    - ``i2v_checkpoint_class``: the pipeline class of the family's image-to-video
      checkpoints (read from ``model_index.json``); such a checkpoint loads with it
    - ``lora_loader``: False where the family's pipeline cannot load LoRAs although its
      class has ``load_lora_weights`` (a file with LoRAs is refused, naming ``loras``)

    ``run`` returns ``aigif.render.VideoFrames`` (uint8 ``[T, H, W, 3]`` + fps): the pixels
    of the bare pipeline call with ``output_type="pil"``.
    """

    video_uses: ClassVar[frozenset] = frozenset({"frames", "fps", "vae_tiling"})
    frame_rate_arg: ClassVar[str | None] = None
    hub_models: ClassVar[Mapping[str, str | None]] = {}
    i2v_class: ClassVar[str | None] = None
    needs_image: ClassVar[bool] = False
    i2v_checkpoint_class: ClassVar[str | None] = None
    lora_loader: ClassVar[bool] = True

    # ------------------------------------------------------------------ loading
    def load(self, source, *, dtype, device: str, download: bool = True,
             pipeline_class: str | None = None, components=None, **kw):
        """``DiffusersBackend.load``, with the family's image-to-video class for a
        checkpoint whose ``model_index.json`` names it (``i2v_checkpoint_class``)."""
        if pipeline_class is None and self.i2v_checkpoint_class and \
                _checkpoint_class(source, download) == self.i2v_checkpoint_class:
            pipeline_class = self.i2v_checkpoint_class
        return super().load(source, dtype=dtype, device=device, download=download,
                            pipeline_class=pipeline_class, components=components, **kw)

    # ------------------------------------------------------------------ checking
    def check(self, meta, *, strict: bool = False) -> None:
        video = getattr(meta, "video", None)
        if video is None:
            raise RenderError(f"generator {self.key!r} makes video, but the file has no video "
                              f"element", field="video")
        if meta.stages:
            raise RenderError(f"generator {self.key!r}: generation stages of video files are "
                              f"not rendered here", field="stages")
        if meta.loras:
            self._check_lora_loader()
        super().check(meta, strict=strict)
        if video.image is not None and "image" not in self.video_uses:
            raise RenderError(f"generator {self.key!r} renders text-to-video only; the file's "
                              f"conditioning image (image-to-video) cannot be applied",
                              field="video.image")
        if video.image is None and self.needs_image:
            raise RenderError(f"generator {self.key!r} is image-to-video: the file needs its "
                              f"conditioning image (video.image)", field="video.image")
        dv = meta.defaults.video
        for name in sorted(VIDEO_FIELDS - self.video_uses - {"image"}):
            v = getattr(video, name)
            if v not in (getattr(dv, name, None), None, False):
                self._say(f"generator {self.key!r} does not use video.{name}; its value "
                          f"{v!r} is ignored", strict)
        if "flow_shift" in self.video_uses and video.flow_shift is not None and \
                self._shift_option(meta) is None and video.flow_shift != dv.flow_shift:
            self._say(f"scheduler {meta.scheduler!r} has no flow shift; video.flow_shift "
                      f"{video.flow_shift!r} is ignored", strict)

    def _check_lora_loader(self) -> None:
        """RenderError naming ``loras`` when the family's diffusers pipeline class has no
        LoRA loader (``load_lora_weights``: Stable Video Diffusion). A class diffusers does
        not have (the embedded tiny model's) is checked on the loaded pipeline instead."""
        if not self.lora_loader:
            raise RenderError(f"generator {self.key!r}: {self.pipeline_class} cannot load "
                              f"LoRAs, so the file's LoRAs cannot be applied", field="loras")
        names = {self.pipeline_class, self.i2v_class, self.i2v_checkpoint_class} - {None}
        for name in sorted(names):
            cls = getattr(_diffusers(), name, None)
            if cls is not None and not callable(getattr(cls, "load_lora_weights", None)):
                raise RenderError(f"generator {self.key!r}: {name} has no LoRA loader "
                                  f"(load_lora_weights), so the file's LoRAs cannot be "
                                  f"applied", field="loras")

    # ------------------------------------------------------------------ scheduler
    @staticmethod
    def _shift_option(meta) -> str | None:
        """The scheduler option that takes ``video.flow_shift``: ``flow_shift`` (UniPC /
        DPM-Solver on flow sigmas), ``shift`` (flow-matching Euler), else None."""
        spec = spec_for(meta.scheduler)
        cls = getattr(_diffusers(), spec.cls, None) if spec is not None else None
        if cls is None:
            return None
        accepted = inspect.signature(cls.__init__).parameters
        for name in ("flow_shift", "shift"):
            if name in accepted:
                return name
        return None

    def scheduler_options(self, meta) -> dict:
        """The file's ``scheduler.*`` params, plus ``video.flow_shift`` as the scheduler's
        ``flow_shift`` / ``shift`` where the family applies it (an explicit
        ``params["scheduler.flow_shift"]`` / ``["scheduler.shift"]`` wins)."""
        options = super().scheduler_options(meta)
        shift = meta.video.flow_shift if "flow_shift" in self.video_uses else None
        if shift is not None:
            name = self._shift_option(meta)
            if name is not None and name not in options:
                options[name] = float(shift)
        return options

    # ------------------------------------------------------------------ calling
    def call_kwargs(self, meta, generator) -> dict:
        """The image families' arguments plus ``num_frames`` (and the frame rate where the
        pipeline takes it); ``output_type="np"`` (uint8 conversion as for ``"pil"``)."""
        kw = super().call_kwargs(meta, generator)
        kw["num_frames"] = meta.video.frames
        kw["output_type"] = "np"
        if self.frame_rate_arg:
            kw[self.frame_rate_arg] = float(meta.video.fps)
        if "decode_chunk_size" in self.video_uses and meta.video.decode_chunk_size is not None:
            kw["decode_chunk_size"] = meta.video.decode_chunk_size or meta.video.frames
        return kw

    def _vae_tiling(self, pipe, on: bool) -> None:
        vae = getattr(pipe, "vae", None)
        if on:
            try:
                if not hasattr(vae, "enable_tiling"):
                    raise NotImplementedError
                vae.enable_tiling()
            except NotImplementedError as e:    # diffusers' base raises it where absent
                raise RenderError(f"the VAE of {type(pipe).__name__} has no tiled decoding",
                                  field="video.vae_tiling") from e
        elif hasattr(vae, "disable_tiling"):
            vae.disable_tiling()

    @staticmethod
    def conditioning_image(meta):
        """The file's conditioning image (``video.image``) decoded as an RGB PIL image, or
        None for text-to-video. RenderError naming ``video.image`` when it cannot be
        decoded (its size is checked against the pixel budget before decoding)."""
        payload = meta.video.image
        if payload is None:
            return None
        try:
            im = decode_payload(payload)
        except AigifError as e:
            raise RenderError(f"the conditioning image ({payload.codec}, {len(payload.data)} "
                              f"bytes) cannot be decoded: {e}", field="video.image") from e
        return im if im.mode == "RGB" else im.convert("RGB")

    def run(self, pipe, meta, generator) -> VideoFrames:
        """Render ``meta`` on a loaded pipeline; return its ``VideoFrames``. With a
        conditioning image, the call's ``image`` is that image, on ``i2v_class`` (built
        from ``pipe``'s components) where the family declares one. The file's LoRAs
        (``meta.loras``) are loaded with the pipeline's own ``load_lora_weights`` and
        activated with ``set_adapters`` (``aigif.render.loras.LoraSession``, as for the
        image families) for this call only: they are unloaded afterwards, whatever
        happens, so the cached pipeline renders the next file without them."""
        session = LoraSession(output="video")
        try:
            session.activate(pipe, meta.loras)
            return self._run(pipe, meta, generator)
        finally:
            session.close()

    def _run(self, pipe, meta, generator) -> VideoFrames:
        scheduler = self.scheduler(pipe, meta)
        self._vae_tiling(pipe, bool(meta.video.vae_tiling))
        kw = self.call_kwargs(meta, generator)
        cls = type(pipe).__name__
        if meta.video.image is None and cls == self.i2v_checkpoint_class:
            raise RenderError(f"model {meta.model!r} is an image-to-video checkpoint ({cls}): "
                              f"the file needs its conditioning image (video.image)",
                              field="video.image")
        image = self.conditioning_image(meta) if "image" in self.video_uses else None
        if image is not None:
            if self.i2v_class and cls != self.i2v_checkpoint_class:
                if getattr(_diffusers(), self.i2v_class, None) is None:
                    raise MissingDependencyError(
                        f"diffusers {_diffusers().__version__} has no {self.i2v_class} "
                        f"(image-to-video): pip install -U 'aigif[render]'")
                pipe = _sub(pipe, self.i2v_class)
            if "image" not in inspect.signature(type(pipe).__call__).parameters:
                raise RenderError(f"model {meta.model!r} is a text-to-video checkpoint ({cls}): "
                                  f"the file's conditioning image cannot be applied",
                                  field="video.image")
            kw["image"] = image
        pipe.scheduler = scheduler
        try:
            out = pipe(**kw)
        except ValueError as e:   # the pipeline's own argument checks (sizes, frame counts)
            raise RenderError(f"{type(pipe).__name__} refused the generation: {e}") from e
        except NameError as e:    # diffusers' Wan I2V prompt cleaning calls ftfy unguarded
            if "ftfy" in str(e):
                raise MissingDependencyError(f"{type(pipe).__name__} needs ftfy: pip install "
                                             f"-U 'aigif[render]' (or pip install ftfy)") from e
            raise
        return VideoFrames(to_uint8(out.frames[0]), meta.video.fps)


def _checkpoint_class(source, download: bool) -> str | None:
    """The pipeline class ``model_index.json`` of ``source`` names (diffusers'
    ``DiffusionPipeline.load_config``; a hub source fetches that one small file, at the
    source's revision), or None when it cannot be read here (``from_pretrained`` then says
    why)."""
    if source.location is None:
        return None
    kw = {} if source.local else dict(revision=source.revision, local_files_only=not download)
    try:
        cfg = _diffusers().DiffusionPipeline.load_config(source.location, **kw)
    except Exception:   # noqa: BLE001 - missing / unreadable: the load itself reports it
        return None
    name = cfg.get("_class_name") if isinstance(cfg, dict) else None
    return name if isinstance(name, str) else None
