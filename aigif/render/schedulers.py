"""Scheduler keys <-> diffusers scheduler classes and options.

The table follows diffusers' official A1111/k-diffusion mapping
(https://huggingface.co/docs/diffusers/api/schedulers/overview): each lowercase key of
``aigif.meta.SCHEDULERS`` names one diffusers class plus the init options that make it that
sampler (``use_karras_sigmas``, ``algorithm_type``, ``solver_order``, exponential/beta
sigmas...). Every sigma-schedule flag the class accepts is set explicitly, so switching from a
model's shipped scheduler never inherits a flag the key does not ask for; everything else
(betas, ``timestep_spacing``, ``prediction_type``...) comes from the model's own scheduler
config, as ``Scheduler.from_config(pipe.scheduler.config)`` does in diffusers. Third-party
keys bring their class and options with ``aigif.register_scheduler``.

Key -> code -> config, both ways::

    code = aigif.meta.scheduler_code("dpmpp_2m_karras")   # 13
    cls, kwargs = scheduler_class("dpmpp_2m_karras")       # DPMSolverMultistepScheduler, {...}
    scheduler_key_for(cls.from_config(cfg, **kwargs))      # "dpmpp_2m_karras"

Other tools' names for these keys (A1111, ComfyUI, InvokeAI, NovelAI) are the interop
layer's (``aigif.interop.samplers``). This module imports diffusers only when a class is
asked for.
"""
from __future__ import annotations

import inspect
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from .. import registry as _registry
from ..errors import MissingDependencyError, RenderError

__all__ = ["SchedulerSpec", "SCHEDULER_TABLE", "FLOW_SCHEDULERS", "SCHEDULER_OPTIONS",
           "scheduler_class", "scheduler_key_for",
           "make_scheduler", "spec_for"]

_SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")


@dataclass(frozen=True)
class SchedulerSpec:
    """One sampler: diffusers class name and the init options that define it (its A1111
    name is ``aigif.interop.samplers.to_a1111_label(key)``).

    ``approximate``: diffusers has no exact equivalent (the official table says "very
    similar to"); rendering warns. ``flow``: a flow-matching scheduler (SD3, FLUX).
    """

    key: str
    cls: str
    options: Mapping[str, Any] = field(default_factory=dict)
    _: KW_ONLY
    approximate: bool = False
    flow: bool = False
    needs: str | None = None          # extra pip package (scipy for beta sigmas)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


def _s(key, cls, **options):
    flags = {k: options.pop(k) for k in ("approximate", "flow", "needs") if k in options}
    return SchedulerSpec(key, cls, options, **flags)


_K = {"use_karras_sigmas": True}
_E = {"use_exponential_sigmas": True}
_B = {"use_beta_sigmas": True, "needs": "scipy"}
_DPM = "DPMSolverMultistepScheduler"
_DPMS = "DPMSolverSinglestepScheduler"
_2M = {"algorithm_type": "dpmsolver++", "solver_order": 2}
_2M_SDE = {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}

_TABLE: dict[str, SchedulerSpec] = {s.key: s for s in (
    _s("ddim", "DDIMScheduler"),
    _s("pndm", "PNDMScheduler"),
    _s("lms", "LMSDiscreteScheduler", needs="scipy"),
    _s("lms_karras", "LMSDiscreteScheduler", needs="scipy", **_K),
    _s("euler", "EulerDiscreteScheduler"),
    _s("euler_a", "EulerAncestralDiscreteScheduler"),
    _s("euler_karras", "EulerDiscreteScheduler", **_K),
    _s("euler_beta", "EulerDiscreteScheduler", **_B),
    _s("heun", "HeunDiscreteScheduler"),
    _s("dpm2", "KDPM2DiscreteScheduler"),
    _s("dpm2_karras", "KDPM2DiscreteScheduler", **_K),
    _s("dpm2_a", "KDPM2AncestralDiscreteScheduler"),
    _s("dpm2_a_karras", "KDPM2AncestralDiscreteScheduler", **_K),
    _s("dpmpp_2m", _DPM, **_2M),
    _s("dpmpp_2m_karras", _DPM, **_2M, **_K),
    _s("dpmpp_2m_exponential", _DPM, **_2M, **_E),
    _s("dpmpp_2m_beta", _DPM, **_2M, **_B),
    _s("dpmpp_2m_sde", _DPM, **_2M_SDE),
    _s("dpmpp_2m_sde_karras", _DPM, **_2M_SDE, **_K),
    _s("dpmpp_2m_sde_exponential", _DPM, **_2M_SDE, **_E),
    _s("dpmpp_3m_sde", _DPM, algorithm_type="sde-dpmsolver++", solver_order=3),
    _s("dpmpp_3m_sde_karras", _DPM, algorithm_type="sde-dpmsolver++", solver_order=3, **_K),
    _s("dpmpp_sde", _DPMS),
    _s("dpmpp_sde_karras", _DPMS, **_K),
    _s("dpmpp_sde_exponential", _DPMS, **_E),
    # diffusers has no DPM++ 2S a; its table points at the single-step solver
    _s("dpmpp_2s_a", _DPMS, approximate=True, solver_order=2),
    _s("dpmpp_2s_a_karras", _DPMS, approximate=True, solver_order=2, **_K),
    _s("unipc", "UniPCMultistepScheduler"),
    _s("unipc_karras", "UniPCMultistepScheduler", **_K),
    _s("deis", "DEISMultistepScheduler"),
    _s("lcm", "LCMScheduler"),
    _s("ddpm", "DDPMScheduler"),
    _s("tcd", "TCDScheduler"),
    _s("flow_euler", "FlowMatchEulerDiscreteScheduler", flow=True),
    _s("cogvideox_ddim", "CogVideoXDDIMScheduler"),
    _s("cogvideox_dpm", "CogVideoXDPMScheduler"),
)}
SCHEDULER_TABLE: Mapping[str, SchedulerSpec] = MappingProxyType(_TABLE)

#: Keys whose scheduler works on flow-matching models (SD3, FLUX).
FLOW_SCHEDULERS = frozenset(k for k, s in _TABLE.items() if s.flow)

#: Scheduler options a file may set through ``params["scheduler.<option>"]``; each is passed
#: to the scheduler class only if the class accepts it.
SCHEDULER_OPTIONS = frozenset({
    "timestep_spacing", "steps_offset", "rescale_betas_zero_snr", "final_sigmas_type",
    "lower_order_final", "euler_at_final", "use_lu_lambdas", "solver_order", "solver_type",
    "algorithm_type", "shift", "use_dynamic_shifting", "sigma_min", "sigma_max",
    "interpolation_type", "timestep_type", "use_flow_sigmas", "flow_shift", "clip_sample",
    "set_alpha_to_one", "original_inference_steps", "timestep_scaling", "thresholding",
    "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "stochastic_sampling",
    "shift_terminal", "invert_sigmas", "predict_x0", "disable_corrector", "variance_type",
})


def _registered(key: str) -> SchedulerSpec | None:
    """The diffusers mapping a third party gave with ``aigif.register_scheduler``."""
    info = _registry.schedulers.get(key) if key in _registry.schedulers else None
    if info is None or info.diffusers_class is None:
        return None
    return SchedulerSpec(key, info.diffusers_class, info.options, approximate=info.approximate,
                         flow=info.flow, needs=info.needs)


def spec_for(key: str) -> SchedulerSpec | None:
    """The diffusers mapping of a scheduler key (built-in or registered), or None."""
    return _TABLE.get(key) or _registered(key)


def _spec(key: str) -> SchedulerSpec:
    s = spec_for(key)
    if s is None:
        raise RenderError(f"scheduler {key!r} has no diffusers mapping; known: "
                          f"{', '.join(sorted(_TABLE))}", field="scheduler")
    return s


def _diffusers_class(name: str):
    try:
        import diffusers
    except ImportError as e:
        raise MissingDependencyError(
            "diffusers is not installed: pip install 'aigif[render]'") from e
    cls = getattr(diffusers, name, None)
    if cls is None:
        raise RenderError(f"diffusers {diffusers.__version__} has no {name}; upgrade diffusers")
    return cls


def _accepted(cls) -> set[str]:
    params = inspect.signature(cls.__init__).parameters
    return {n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def scheduler_class(key: str, options: Mapping[str, Any] | None = None):
    """``(diffusers class, init kwargs)`` for a key, with extra ``options`` merged in.

    Raises RenderError for unknown keys or options the class does not take, and
    MissingDependencyError when the scheduler needs a package that is not installed.
    """
    spec = _spec(key)
    cls = _diffusers_class(spec.cls)
    if spec.needs:
        import importlib.util
        if importlib.util.find_spec(spec.needs) is None:
            raise MissingDependencyError(
                f"scheduler {key!r} ({spec.cls}) needs {spec.needs}: pip install {spec.needs}")
    accepted = _accepted(cls)
    kwargs = {f: False for f in _SIGMA_FLAGS if f in accepted}
    kwargs.update(spec.options)
    for k, v in (options or {}).items():
        if k not in SCHEDULER_OPTIONS or k not in accepted:
            raise RenderError(f"scheduler option {k!r} does not apply to {spec.cls} "
                              f"(scheduler {key!r})", field=f"params.scheduler.{k}")
        kwargs[k] = v
    return cls, kwargs


def make_scheduler(key: str, base_config: Mapping[str, Any],
                   options: Mapping[str, Any] | None = None):
    """A scheduler for ``key`` built from a model's scheduler config (diffusers' idiom)."""
    cls, kwargs = scheduler_class(key, options)
    return cls.from_config(dict(base_config), **kwargs)


def _all_specs():
    yield from _TABLE.items()
    for key in _registry.schedulers.keys():
        if key not in _TABLE and (s := _registered(key)) is not None:
            yield key, s


def scheduler_key_for(scheduler_or_config: Any, class_name: str | None = None) -> str | None:
    """Key of a diffusers scheduler (or its config dict), or None if none matches exactly.

    Exact (not approximate) entries win, so ``DPMSolverSinglestepScheduler`` reads back as
    ``"dpmpp_sde"``, never ``"dpmpp_2s_a"``.
    """
    if isinstance(scheduler_or_config, Mapping):
        cfg = dict(scheduler_or_config)
        name = class_name or cfg.get("_class_name")
    else:
        cfg = dict(scheduler_or_config.config)
        name = type(scheduler_or_config).__name__
    best = None
    for key, s in _all_specs():
        if s.cls != name:
            continue
        want = dict(s.options)
        for f in _SIGMA_FLAGS:
            if f in cfg:
                want.setdefault(f, False)
        if all(cfg.get(k, v if k not in _SIGMA_FLAGS else False) == v for k, v in want.items()):
            if not s.approximate:
                return key
            best = best or key
    return best
