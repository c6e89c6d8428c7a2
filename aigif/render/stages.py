"""Execute a file's generation stages after the text-to-image pass (spec "Syntax: stages").

``run(...)`` turns ``meta`` plus ``meta.stages`` into a list of steps and runs them in
order, each on the previous result, with the components of the loaded pipeline shared
between passes (``DiffusionPipeline.from_pipe``: no reload):

- a denoising pass hands on its latents (``output_type="latent"``) when the next step
  works on latents (a latent upscale, an img2img pass, a refiner hand-over), else a
  decoded image;
- latent upscale: ``torch.nn.functional.interpolate(latents, size=(h // f, w // f),
  mode, antialias)`` with A1111's / ComfyUI's modes (``f``: the VAE's scale factor);
- pixel upscale: decoded image, ``PIL.Image.resize`` (Lanczos, bicubic, bilinear,
  nearest);
- img2img (and the second pass of a hires fix): the family's img2img pipeline running the
  pass's ``steps`` as the last steps of an ``int(steps / strength)``-step schedule (A1111's
  hires fix, ComfyUI's ``denoise``; ``aigif.render.strength``); strength 0 leaves the
  previous result as it is;
- refiner: the previous pass stops at ``denoising_end=switch``, the refiner's
  ``StableDiffusionXLImg2ImgPipeline`` goes on from ``denoising_start=switch``;
- ControlNet stages condition the pass they name (the family's ControlNet pipelines);
- detailer stages and unknown stage kinds cannot be rendered faithfully: RenderError, or
  skipped with ``approximate=True``.

Every pass draws its noise from a new ``torch.Generator`` seeded with the pass's seed on
the render's RNG device. Nothing here imports torch at import time.
"""
from __future__ import annotations

import json

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..codecs import decode_payload
from ..errors import AigifError, RenderError
from .loras import LoraSession
from .schedulers import make_scheduler
from .strength import pass_schedule

__all__ = ["LATENT_MODES", "PIXEL_MODES", "StageRun", "Loader", "run", "decode_latents"]

#: upscaler key -> (``interpolate`` mode, antialias): A1111's ``latent_upscale_modes`` and
#: ComfyUI's ``LatentUpscale`` methods.
LATENT_MODES: dict[str, tuple[str, bool]] = {
    "latent": ("bilinear", False),                       # A1111 "Latent"
    "latent-antialiased": ("bilinear", True),            # "Latent (antialiased)"
    "latent-bicubic": ("bicubic", False),                # "Latent (bicubic)"
    "latent-bicubic-antialiased": ("bicubic", True),     # "Latent (bicubic antialiased)"
    "latent-nearest": ("nearest", False),                # "Latent (nearest)"
    "latent-nearest-exact": ("nearest-exact", False),    # "Latent (nearest-exact)", ComfyUI default
    "latent-area": ("area", False),                      # ComfyUI "area"
}
#: upscaler key -> ``PIL.Image.Resampling`` member name.
PIXEL_MODES: dict[str, str] = {"lanczos": "LANCZOS", "bicubic": "BICUBIC",
                               "bilinear": "BILINEAR", "nearest": "NEAREST"}


@dataclass
class StageRun:
    """What ``run`` returns: the image, (step label, seconds) per step, and one line per
    stage skipped or approximated (only with ``approximate=True``)."""

    image: Any
    timings: list = field(default_factory=list)
    skipped: list = field(default_factory=list)


@dataclass
class Loader:
    """What ``run`` needs from the engine.

    ``pipeline(model, pipeline_class)`` -> ``(pipeline, backend)`` for a stage's other
    checkpoint or refiner; ``controlnet(model)`` -> a loaded ControlNet; ``rng(seed)`` ->
    a seeded ``torch.Generator`` on the render's RNG device.
    """

    pipeline: Callable[[str, str], tuple]
    controlnet: Callable[[str], Any]
    rng: Callable[[int], Any]


@dataclass
class _Step:
    op: str                      # "txt2img", "img2img", "refiner", "upscale"
    label: str
    stage: Any = None
    index: int = 0               # 0: the text-to-image pass, n: meta.stages[n - 1]
    controls: list = field(default_factory=list)
    denoising_end: float | None = None
    upscaler: str | None = None  # upscale steps
    noted: bool = False          # its schedule note is already in StageRun.skipped


def _label(i: int, stage: Any) -> str:
    return f"stages[{i}] ({stage.name})"


def _plan(meta, backend, approximate: bool) -> tuple[list[_Step], list[str]]:
    """The steps of ``meta``; RenderError (or a skip note with ``approximate``) for what
    cannot be rendered."""
    skipped: list[str] = []

    def refuse(msg: str, field_: str) -> None:
        if not approximate:
            raise RenderError(msg + "; pass approximate=True to skip it (the result is "
                              "then marked approximate)", field=field_)
        skipped.append(msg)

    if meta.stages and not backend.img2img_class:
        raise RenderError(f"generator {backend.key!r} does not render generation stages here "
                          f"(it has no img2img pipeline); the file's image needs its "
                          f"{len(meta.stages)} stage(s)", field="stages")
    steps = [_Step("txt2img", "txt2img")]
    by_index: dict[int, _Step] = {0: steps[0]}
    pending_cn = []
    stages = meta.stages
    for i, st in enumerate(stages):
        where, n = _label(i, st), i + 1
        if st.kind == 0 or st.name == "unknown":
            msg = (f"{where}: stage kind {st.kind} is unknown to this aigif (upgrade aigif); "
                   f"the stages from it on cannot be rendered")
            if not approximate:
                raise RenderError(msg, field=f"stages[{i}]")
            skipped.append(msg)
            break
        if st.name == "detailer":
            refuse(f"{where}: a detailer needs detection model {st.detector!r} and "
                   f"re-denoises the regions it finds; aigif does not run detectors",
                   f"stages[{i}]")
            continue
        if st.name == "controlnet":
            pending_cn.append((i, st))
            continue
        if st.name in ("hires", "upscale"):
            up = st.upscaler
            if up == "model":
                refuse(f"{where}: upscaler model {st.upscaler_model!r} (a pixel upscaler "
                       f"network) is not run by aigif; approximated with lanczos", f"stages[{i}]")
                up = "lanczos"
            steps.append(_Step("upscale", where + " upscale", st, n, upscaler=up))
            if st.name == "upscale":
                by_index[n] = steps[-1]
                continue
        if st.name in ("hires", "img2img"):
            steps.append(_Step("img2img", where, st, n))
        elif st.name == "refiner":
            prev = steps[-1]
            if prev.op not in ("txt2img", "img2img") or not backend.refiner_handover:
                raise RenderError(f"{where}: a refiner takes over the latents of the pass "
                                  f"right before it, which generator {backend.key!r} cannot "
                                  f"hand over (diffusers denoising_end)", field=f"stages[{i}]")
            prev.denoising_end = st.switch
            steps.append(_Step("refiner", where, st, n))
        elif st.name not in ("hires", "upscale"):
            refuse(f"{where}: aigif cannot render stage kind {st.name!r}", f"stages[{i}]")
            continue
        by_index[n] = steps[-1]
    for i, st in pending_cn:
        where = _label(i, st)
        target = by_index.get(st.pass_index)
        if target is None or target.op not in ("txt2img", "img2img"):
            what = "no pass" if target is None else f"a {target.op} step"
            raise RenderError(f"{where}: pass_index {st.pass_index} names {what}, not a "
                              f"text-to-image, hires or img2img pass", field=f"stages[{i}]")
        if st.image is None:
            refuse(f"{where}: no control image stored (a preprocessor "
                   f"{st.params.get('preprocessor', '?')!r} would make it from an input "
                   f"aigif does not have)", f"stages[{i}]")
            continue
        target.controls.append(st)
    if any(s.controls for s in steps):
        cls = [backend.controlnet_class if s.op == "txt2img" else backend.controlnet_img2img_class
               for s in steps if s.controls]
        if not all(cls):
            raise RenderError(f"generator {backend.key!r} has no ControlNet pipeline here",
                              field="stages")
    return steps, skipped


# --------------------------------------------------------------------------- helpers
def _sub(root, class_name: str, **components):
    """``class_name`` sharing ``root``'s components (``from_pipe``), memoised on ``root``
    unless other components are given. The new pipeline gets a throwaway scheduler: some
    pipelines' ``__init__`` rewrite their scheduler's config (SD's ``clip_sample`` fix),
    which must not touch the scheduler the cached pipeline renders with."""
    if type(root).__name__ == class_name and not components:
        return root
    memo = root.__dict__.setdefault("_aigif_subs", {})
    if not components and class_name in memo:
        return memo[class_name]
    import diffusers
    cls = getattr(diffusers, class_name)
    throwaway = type(root.scheduler).from_config(root.scheduler.config)
    sub = cls.from_pipe(root, scheduler=throwaway, **components)
    sub.set_progress_bar_config(disable=True)
    if not components:
        memo[class_name] = sub
    return sub


def decode_latents(pipe, latents):
    """Latents -> PIL image, as the SD/SDXL pipelines decode (``latents_mean/std`` when
    the VAE has them, the fp16 SDXL VAE upcast to float32)."""
    import torch
    vae = pipe.vae
    cfg = vae.config
    upcast = vae.dtype == torch.float16 and getattr(cfg, "force_upcast", False)
    with torch.no_grad():
        if upcast:
            vae.to(torch.float32)
        try:
            x = latents.to(vae.dtype)
            mean, std = getattr(cfg, "latents_mean", None), getattr(cfg, "latents_std", None)
            if mean is not None and std is not None:
                m = torch.tensor(mean).view(1, -1, 1, 1).to(x.device, x.dtype)
                s = torch.tensor(std).view(1, -1, 1, 1).to(x.device, x.dtype)
                x = x * s / cfg.scaling_factor + m
            else:
                x = x / cfg.scaling_factor
            image = vae.decode(x, return_dict=False)[0]
        finally:
            if upcast:
                vae.to(torch.float16)
    return pipe.image_processor.postprocess(image, output_type="pil")[0]


def _encode(pipe, image):
    """PIL image -> latents (the VAE posterior's mode, scaled): only for a latent step
    after a pixel upscale."""
    import torch
    vae = pipe.vae
    cfg = vae.config
    with torch.no_grad():
        x = pipe.image_processor.preprocess(image).to(vae.device, vae.dtype)
        lat = vae.encode(x).latent_dist.mode()
        mean, std = getattr(cfg, "latents_mean", None), getattr(cfg, "latents_std", None)
        if mean is not None and std is not None:
            m = torch.tensor(mean).view(1, -1, 1, 1).to(lat.device, lat.dtype)
            s = torch.tensor(std).view(1, -1, 1, 1).to(lat.device, lat.dtype)
            return (lat - m) * cfg.scaling_factor / s
        return lat * cfg.scaling_factor


def _upscale(pipe, state, stage, upscaler: str, size: tuple[int, int]):
    """One upscale; returns (new state, new (width, height))."""
    tw, th = stage.target_size(*size)
    if upscaler in LATENT_MODES:
        import torch
        mode, aa = LATENT_MODES[upscaler]
        lat = state if not _is_image(state) else _encode(pipe, state)
        f = pipe.vae_scale_factor
        lh, lw = max(1, th // f), max(1, tw // f)
        kw = {"antialias": True} if aa else {}
        with torch.no_grad():
            out = torch.nn.functional.interpolate(lat, size=(lh, lw), mode=mode, **kw)
        return out, (lw * f, lh * f)
    from PIL import Image
    img = decode_latents(pipe, state) if not _is_image(state) else state
    return img.resize((tw, th), getattr(Image.Resampling, PIXEL_MODES[upscaler])), (tw, th)


def _is_image(x) -> bool:
    return hasattr(x, "size") and hasattr(x, "mode") and not hasattr(x, "shape")


def _wants_latents(step: _Step | None) -> bool:
    if step is None:
        return False
    if step.op == "upscale":
        return step.upscaler in LATENT_MODES
    return step.op in ("img2img", "refiner")


def _pass_settings(meta, stage):
    """A GenerationMeta for a stage's denoising pass (its effective values), and them."""
    eff = stage.effective(meta)
    params = dict(stage.params)
    if not any(k.startswith("scheduler.") for k in params) and eff.scheduler == meta.scheduler:
        params.update({k: v for k, v in meta.params.items() if k.startswith("scheduler.")})
    m = meta.replace(prompt=eff.prompt, negative_prompt=eff.negative_prompt, seed=eff.seed,
                     steps=eff.steps, guidance_scale=eff.guidance_scale,
                     scheduler=eff.scheduler, clip_skip=eff.clip_skip or None, params=params,
                     loras=eff.loras, stages=())
    return m, eff


def _pass_meta(meta, stage, strict: bool, backend):
    """``_pass_settings``, checked by the backend like a first pass."""
    m, eff = _pass_settings(meta, stage)
    backend.check(m, strict=strict)
    return m, eff


_NOTES: dict[tuple, str | None] = {}


def _schedule_notes(steps: list[_Step], pipe, meta, approximate: bool) -> list[str]:
    """Up front, before any pass runs: the img2img passes whose steps/strength diffusers
    cannot lay out as the file's schedule (``aigif.render.strength``); RenderError unless
    ``approximate``. Probed with the first pass's scheduler config (a pass on another
    checkpoint is probed again with its own when it runs)."""
    notes = []
    base = getattr(pipe, "_aigif_scheduler_config", None) or dict(pipe.scheduler.config)
    for step in steps:
        if step.op != "img2img" or not step.stage.strength:
            continue
        pm, _ = _pass_settings(meta, step.stage)
        options = {k[len("scheduler."):]: v for k, v in pm.params.items()
                   if k.startswith("scheduler.")}
        key = (pm.scheduler, json.dumps(base, sort_keys=True, default=repr),
               json.dumps(options, sort_keys=True, default=repr), pm.steps, step.stage.strength)
        if key in _NOTES:       # building a scheduler costs milliseconds: probe once
            note = _NOTES[key]
        else:
            try:
                sched = make_scheduler(pm.scheduler, base, options)
            except AigifError:  # the pass's own check says what is wrong when it runs
                continue
            note = pass_schedule(sched, pm.steps, step.stage.strength).note
            if len(_NOTES) > 256:
                _NOTES.clear()
            _NOTES[key] = note
        if note is None:
            continue
        msg = f"{step.label}: {note}"
        if not approximate:
            raise RenderError(msg + "; pass approximate=True to render it so (the result "
                              "is then marked approximate)",
                              field=f"stages[{step.index - 1}].strength")
        step.noted = True
        notes.append(msg)
    return notes


def _controlnet_kwargs(controls: list, loader: Loader) -> tuple[Any, dict]:
    models = [loader.controlnet(c.model) for c in controls]
    images = [decode_payload(c.image).convert("RGB") for c in controls]
    one = len(controls) == 1
    pick = (lambda xs: xs[0]) if one else list
    return (models[0] if one else models), {
        "controlnet_conditioning_scale": pick([float(c.scale) for c in controls]),
        "control_guidance_start": pick([float(c.start) for c in controls]),
        "control_guidance_end": pick([float(c.end) for c in controls]),
        "_images": pick(images)}


# --------------------------------------------------------------------------- running
def run(backend, pipe, meta, loader: Loader, *, strict: bool = False,
        approximate: bool = False, loras=None) -> StageRun:
    """Render ``meta`` (its first pass and every stage) on ``pipe``, the loaded pipeline
    of ``backend``; return a StageRun. ``loras``: a LoraSession (None: a fresh one, closed
    at the end)."""
    steps, skipped = _plan(meta, backend, approximate)
    skipped += _schedule_notes(steps, pipe, meta, approximate)
    session = LoraSession() if loras is None else loras
    res = StageRun(None, skipped=skipped)
    try:
        state, size = None, (meta.width, meta.height)
        for k, step in enumerate(steps):
            t0 = time.perf_counter()
            nxt = steps[k + 1] if k + 1 < len(steps) else None
            out_type = "latent" if _wants_latents(nxt) else "pil"
            if step.op == "upscale":
                state, size = _upscale(pipe, state, step.stage, step.upscaler, size)
            elif step.op == "txt2img":
                state = _txt2img(backend, pipe, meta, step, out_type, loader, session)
            elif step.op == "img2img":
                state, size = _img2img(backend, pipe, meta, step, state, out_type, loader,
                                       session, strict, approximate, res.skipped)
            else:
                state = _refiner(backend, meta, step, state, out_type, loader, session,
                                 strict)
            res.timings.append((step.label, time.perf_counter() - t0))
        if not _is_image(state):
            t0 = time.perf_counter()
            state = decode_latents(pipe, state)
            res.timings.append(("decode", time.perf_counter() - t0))
    finally:
        if loras is None:
            session.close()
    res.image = state
    return res


def _images(out, out_type: str):
    return out.images if out_type == "latent" else out.images[0]


def _txt2img(backend, pipe, meta, step, out_type, loader, session):
    kw = backend.call_kwargs(meta, loader.rng(meta.seed))
    kw["output_type"] = out_type
    p = pipe
    if step.controls:
        cn, ckw = _controlnet_kwargs(step.controls, loader)
        kw["image"] = ckw.pop("_images")
        kw.update(ckw)
        p = _sub(pipe, backend.controlnet_class, controlnet=cn)
    if step.denoising_end is not None:
        kw["denoising_end"] = step.denoising_end
    session.activate(pipe, meta.loras)
    p.scheduler = backend.scheduler(pipe, meta)
    return _images(p(**kw), out_type)


def _img2img(backend, pipe, meta, step, state, out_type, loader, session, strict,
             approximate=False, skipped=None):
    pm, eff = _pass_meta(meta, step.stage, strict, backend)
    strength = step.stage.strength
    if not strength:          # strength 0: nothing is denoised (A1111, ComfyUI)
        return state, _size_of(pipe, state)
    root, be = pipe, backend
    if eff.model != meta.model:
        root, be = loader.pipeline(eff.model, backend.pipeline_class)
        if be.key != backend.key:
            raise RenderError(f"{step.label}: model {eff.model!r} is of generator "
                              f"{be.key!r}, the first pass's of {backend.key!r}",
                              field=f"stages[{step.index - 1}].model")
    scheduler = be.scheduler(root, pm)
    ps = pass_schedule(scheduler, pm.steps, strength)
    if ps.note is not None and not step.noted:     # probed otherwise up front
        if not approximate:
            raise RenderError(f"{step.label}: {ps.note}",
                              field=f"stages[{step.index - 1}].strength")
        if skipped is not None:
            skipped.append(f"{step.label}: {ps.note}")
    kw = be.call_kwargs(pm, loader.rng(pm.seed))
    kw.pop("width", None)
    kw.pop("height", None)
    kw.update(output_type=out_type, num_inference_steps=ps.num_inference_steps,
              strength=ps.strength)
    if step.controls:
        cn, ckw = _controlnet_kwargs(step.controls, loader)
        kw["control_image"] = ckw.pop("_images")
        kw.update(ckw)
        p = _sub(root, be.controlnet_img2img_class, controlnet=cn)
    else:
        p = _sub(root, be.img2img_class)
    kw["image"] = state
    if step.denoising_end is not None:
        kw["denoising_end"] = step.denoising_end
    session.activate(root, pm.loras)
    p.scheduler = scheduler
    out = _images(p(**kw), out_type)
    return out, _size_of(root, out)


def _size_of(pipe, state) -> tuple[int, int]:
    if _is_image(state):
        return state.size
    f = pipe.vae_scale_factor
    return state.shape[-1] * f, state.shape[-2] * f


def _refiner(backend, meta, step, state, out_type, loader, session, strict):
    st = step.stage
    pm, eff = _pass_meta(meta, st, strict, backend)
    root, be = loader.pipeline(st.model, backend.refiner_class or backend.img2img_class)
    kw = be.call_kwargs(pm, loader.rng(pm.seed))
    kw.pop("width", None)
    kw.pop("height", None)
    kw.update(image=state, denoising_start=st.switch, output_type=out_type,
              aesthetic_score=float(st.aesthetic_score),
              negative_aesthetic_score=float(st.negative_aesthetic_score))
    session.activate(root, ())
    root.scheduler = be.scheduler(root, pm)
    return _images(root(**kw), out_type)

