"""Sampler names of other tools <-> aigif scheduler keys (pure Python, no torch).

aigif names a sampling method with one lowercase key (``aigif.meta.SCHEDULERS``:
``"dpmpp_2m_karras"``, ``"euler_a"``...). Other tools spell the same thing their own way:

* AUTOMATIC1111 and its family (Forge, reForge, SD.Next, Fooocus' A1111 scheme):
  ``"DPM++ 2M Karras"`` before 1.9, ``Sampler: DPM++ 2M`` + ``Schedule type: Karras``
  since 1.9, where ``Automatic`` means the sampler's own default sigma schedule. This
  module is the one table of these names (``scheduler_from_a1111`` / ``a1111_name`` give
  the one-string forms with errors for unknown names).
* ComfyUI (and Fooocus, SwarmUI): ``sampler_name`` + ``scheduler``, e.g.
  ``"dpmpp_2m"`` + ``"karras"``; old graphs prefix ``"sample_"``.
* InvokeAI: 2.x ``"k_lms"``, 3+ ``"dpmpp_2m_k"``; NovelAI ``"k_euler_ancestral"``.

The tables follow diffusers' "A1111 / k-diffusion -> diffusers" table. A name with no
exact counterpart (``"DPM adaptive"``, ``"Restart"``, ComfyUI's ``"simple"`` schedule on
SD models...) maps to ``None``; importers then keep the verbatim name (see
``docs/interop.md``). Mapping these keys to diffusers classes is the rendering layer's job.

Example::

    >>> from_a1111("DPM++ 2M", "Karras")
    'dpmpp_2m_karras'
    >>> to_a1111("dpmpp_2m_karras")
    ('DPM++ 2M', 'Karras')
    >>> from_comfyui("euler_ancestral", "normal")
    'euler_a'
"""
from __future__ import annotations

from ..errors import MetaError
from ..meta import SCHEDULERS
from ..registry import schedulers as _registry

__all__ = ["from_a1111", "to_a1111", "to_a1111_legacy", "from_a1111_label", "to_a1111_label",
           "a1111_labels", "from_comfyui", "to_comfyui", "from_invokeai", "to_invokeai",
           "from_novelai", "from_any", "scheduler_from_a1111", "a1111_name", "registered_from",
           "registered_to"]

# --------------------------------------------------------------------------- A1111
# A1111 sampler label -> (base key, default schedule of "Automatic" since 1.9).
# Defaults from modules/sd_samplers_kdiffusion.py (samplers_k_diffusion options).
_A1111: dict[str, tuple[str, str]] = {
    "DPM++ 2M": ("dpmpp_2m", "karras"),
    "DPM++ SDE": ("dpmpp_sde", "karras"),
    "DPM++ 2M SDE": ("dpmpp_2m_sde", "exponential"),
    "DPM++ 2S a": ("dpmpp_2s_a", "karras"),
    "DPM++ 3M SDE": ("dpmpp_3m_sde", "exponential"),
    "Euler a": ("euler_a", "uniform"),
    "Euler": ("euler", "uniform"),
    "LMS": ("lms", "uniform"),
    "Heun": ("heun", "uniform"),
    "DPM2": ("dpm2", "uniform"),
    "DPM2 a": ("dpm2_a", "uniform"),
    "DDIM": ("ddim", "uniform"),
    "PLMS": ("pndm", "uniform"),
    "UniPC": ("unipc", "uniform"),
    "LCM": ("lcm", "uniform"),
    "DDPM": ("ddpm", "uniform"),
    "DEIS": ("deis", "uniform"),
    "TCD": ("tcd", "uniform"),
    # SD.Next / Forge spellings of the same diffusers schedulers
    "Euler A": ("euler_a", "uniform"),
    "Euler Ancestral": ("euler_a", "uniform"),
    "Euler FlowMatch": ("flow_euler", "uniform"),
    "Flow Match Euler": ("flow_euler", "uniform"),
    "DPM SDE": ("dpmpp_sde", "uniform"),
    "DPM2 A": ("dpm2_a", "uniform"),
}
_A1111_CI = {k.lower(): v for k, v in _A1111.items()}

# A1111 "Schedule type" label -> suffix. Uniform and "Automatic" on a sampler whose
# default is uniform give the base key.
_SCHEDULE_SUFFIX = {"uniform": "", "karras": "_karras", "exponential": "_exponential",
                    "beta": "_beta"}
_SCHEDULE_LABEL = {"": "Automatic", "_karras": "Karras", "_exponential": "Exponential",
                   "_beta": "Beta"}
# Schedule words a one-string label may end with (pre-1.9 "DPM++ 2M Karras"; " Beta" is
# the same form for the Beta schedule, as aigif's renderer has always spelt it).
_LEGACY_SUFFIX = (" Karras", " Exponential", " Beta")
_LEGACY_WORD = (("_karras", " Karras"), ("_exponential", " Exponential"), ("_beta", " Beta"),
                ("", ""))

# Flow-matching models (SD3, FLUX): A1111-family tools list their sampler as plain "Euler"
# (the model, not the label, says it is flow matching); SD.Next writes "Euler FlowMatch".
_FLOW_EULER_LABEL = "Euler"
_FLOW_EULER_NAMES = ("euler", "euler simple")

# key -> A1111 label of its base sampler (first label wins)
_A1111_BASE_LABEL: dict[str, str] = {}
for _label, (_base, _) in _A1111.items():
    _A1111_BASE_LABEL.setdefault(_base, _label)


def registered_from(dialect: str, name: str | None) -> str | None:
    """Key of a third-party scheduler whose ``names[dialect]`` is ``name`` (case and runs of
    spaces ignored; see ``aigif.register_scheduler``), or None."""
    if not isinstance(name, str):
        return None
    want = " ".join(name.split()).lower()
    for key in _registry.keys():
        if key in SCHEDULERS:
            continue
        spelled = _registry.get(key).names.get(dialect)
        if isinstance(spelled, str) and " ".join(spelled.split()).lower() == want:
            return key
    return None


def registered_to(dialect: str, key: str) -> str | None:
    """What a third-party scheduler registered as its name in ``dialect``, or None."""
    if key in SCHEDULERS or key not in _registry:
        return None
    return _registry.get(key).names.get(dialect)


def _join(base: str, suffix: str) -> str | None:
    key = base + suffix
    return key if key in SCHEDULERS else None


def from_a1111(sampler: str | None, schedule_type: str | None = None) -> str | None:
    """aigif scheduler key of an A1111-family sampler label, or None if none is exact.

    ``schedule_type`` is the separate "Schedule type" of A1111 1.9+ (``"Karras"``,
    ``"Exponential"``, ``"Automatic"``...); ``"Automatic"`` resolves to the sampler's own
    default, as A1111 1.9+ does (``"DPM++ 2M"`` + ``"Automatic"`` is Karras). No schedule
    type at all means a pre-1.9 label, where ``"DPM++ 2M"`` was the plain schedule and
    ``"DPM++ 2M Karras"`` spelled the schedule in the label (``" Exponential"`` and
    ``" Beta"`` likewise).

    >>> from_a1111("DPM++ 2M Karras")
    'dpmpp_2m_karras'
    >>> from_a1111("DPM++ 2M", "Automatic")
    'dpmpp_2m_karras'
    >>> from_a1111("DPM adaptive") is None
    True
    """
    if not isinstance(sampler, str):
        return None
    label = " ".join(sampler.split())
    sched = (schedule_type or "").strip().lower()
    legacy_suffix = ""
    for suf in _LEGACY_SUFFIX:
        if label.lower().endswith(suf.lower()) and label.lower() not in _A1111_CI:
            legacy_suffix = suf.strip().lower()
            label = label[: -len(suf)]
            break
    entry = _A1111_CI.get(label.lower())
    if entry is None:
        return None
    base, auto = entry
    if legacy_suffix:
        if sched and sched != "automatic" and sched != legacy_suffix:
            return None  # contradictory labels
        return _join(base, _SCHEDULE_SUFFIX[legacy_suffix])
    if not sched:
        # no "Schedule type": before 1.9 a bare label meant the uniform schedule
        return base
    if sched == "automatic":
        sched = auto
    suffix = _SCHEDULE_SUFFIX.get(sched)
    if suffix is None:
        return None
    return _join(base, suffix)


def to_a1111(key: str) -> tuple[str, str] | None:
    """(sampler label, "Schedule type" label) A1111 1.9+ writes for a key, or None.

    >>> to_a1111("dpmpp_2m")
    ('DPM++ 2M', 'Uniform')
    >>> to_a1111("euler_a")
    ('Euler a', 'Automatic')
    """
    for suffix in ("_karras", "_exponential", "_beta", ""):
        if suffix and not key.endswith(suffix):
            continue
        base = key[: len(key) - len(suffix)] if suffix else key
        label = _A1111_BASE_LABEL.get(base)
        if label is None:
            continue
        if suffix:
            return label, _SCHEDULE_LABEL[suffix]
        return label, "Automatic" if _A1111[label][1] == "uniform" else "Uniform"
    return None


def to_a1111_legacy(key: str) -> str | None:
    """The single pre-1.9 label of a key (``"DPM++ 2M Karras"``, ``"Euler Beta"``), or None.

    >>> to_a1111_legacy("dpmpp_2m_karras")
    'DPM++ 2M Karras'
    """
    for suffix, word in _LEGACY_WORD:
        if suffix and not key.endswith(suffix):
            continue
        base = key[: len(key) - len(suffix)] if suffix else key
        label = _A1111_BASE_LABEL.get(base)
        if label is not None:
            return label + word
    return None


def from_a1111_label(name: str | None, *, flow: bool = False) -> str | None:
    """Key of one A1111 sampler string, or None: a one-string label (``"DPM++ 2M Karras"``,
    read as :func:`from_a1111` reads a label with no "Schedule type") or an aigif key
    itself. Case, runs of spaces and ``_`` for a space do not matter.

    ``flow=True`` (SD3/FLUX files): ``"Euler"`` (and ``"Euler Simple"``) is ``"flow_euler"``.

    >>> from_a1111_label("DPM++ 2M Beta")
    'dpmpp_2m_beta'
    >>> from_a1111_label("dpmpp_2m_karras")
    'dpmpp_2m_karras'
    >>> from_a1111_label("Euler", flow=True)
    'flow_euler'
    """
    if not isinstance(name, str):
        return None
    n = " ".join(name.replace("_", " ").split())
    low = n.lower()
    if flow and low in _FLOW_EULER_NAMES:
        return "flow_euler"
    key = low.replace(" ", "_")
    if key in SCHEDULERS:
        return key
    return from_a1111(n) or registered_from("a1111", n) or (key if key in _registry else None)


def to_a1111_label(key: str) -> str | None:
    """One-string A1111 label of a key that :func:`from_a1111_label` reads back: the
    pre-1.9 label (:func:`to_a1111_legacy`), except ``"flow_euler"``, which A1111-family
    tools list as ``"Euler"`` (read back with ``flow=True``).

    >>> to_a1111_label("euler_beta")
    'Euler Beta'
    >>> to_a1111_label("flow_euler")
    'Euler'
    """
    if key == "flow_euler":
        return _FLOW_EULER_LABEL
    return to_a1111_legacy(key) or registered_to("a1111", key)


def a1111_labels(*, flow: bool = False) -> list[str]:
    """The one-string label of every key that has one (:func:`to_a1111_label`), in key-code
    order; ``flow=False`` leaves out flow-matching keys (their label is plain ``"Euler"``)."""
    out = []
    for key in SCHEDULERS:
        if key == "flow_euler" and not flow:
            continue
        label = to_a1111_label(key)
        if label is not None and label not in out:
            out.append(label)
    return out


# --------------------------------------------------------------------------- ComfyUI
# ComfyUI KSampler sampler_name -> base key (k-diffusion names; "_gpu" variants only
# draw their noise on the GPU).
_COMFY: dict[str, str] = {
    "euler": "euler", "euler_ancestral": "euler_a", "heun": "heun", "dpm_2": "dpm2",
    "dpm_2_ancestral": "dpm2_a", "lms": "lms", "dpmpp_2s_ancestral": "dpmpp_2s_a",
    "dpmpp_sde": "dpmpp_sde", "dpmpp_sde_gpu": "dpmpp_sde", "dpmpp_2m": "dpmpp_2m",
    "dpmpp_2m_sde": "dpmpp_2m_sde", "dpmpp_2m_sde_gpu": "dpmpp_2m_sde",
    "dpmpp_3m_sde": "dpmpp_3m_sde", "dpmpp_3m_sde_gpu": "dpmpp_3m_sde", "ddpm": "ddpm",
    "lcm": "lcm", "ddim": "ddim", "uni_pc": "unipc", "uni_pc_bh2": "unipc", "deis": "deis",
    "tcd": "tcd", "plms": "pndm",
}
# ComfyUI scheduler -> suffix; "normal" is the model's own sigmas (A1111 "Uniform").
_COMFY_SCHED = {"normal": "", "karras": "_karras", "exponential": "_exponential",
                "beta": "_beta"}
_COMFY_BASE = {}
for _name, _base in _COMFY.items():
    _COMFY_BASE.setdefault(_base, _name)


def from_comfyui(sampler_name: str | None, scheduler: str | None = None, *,
                 flow: bool = False) -> str | None:
    """aigif key of a ComfyUI ``sampler_name`` + ``scheduler`` pair, or None.

    ``flow=True`` for flow-matching models (SD3, FLUX), where ``euler`` with the
    ``simple``/``normal`` schedule is diffusers' FlowMatchEulerDiscreteScheduler.

    >>> from_comfyui("dpmpp_2m", "karras")
    'dpmpp_2m_karras'
    >>> from_comfyui("sample_dpmpp_2m", "normal")
    'dpmpp_2m'
    >>> from_comfyui("euler", "simple", flow=True)
    'flow_euler'
    """
    if not isinstance(sampler_name, str):
        return None
    name = sampler_name.strip().lower()
    if name.startswith("sample_"):
        name = name[len("sample_"):]
    sched = (scheduler or "normal").strip().lower()
    if flow and name == "euler" and sched in ("simple", "normal", "sgm_uniform"):
        return "flow_euler"
    base = _COMFY.get(name)
    if base is None:
        return registered_from("comfyui", name)
    if name == "ddim" and sched == "ddim_uniform":
        return "ddim"
    suffix = _COMFY_SCHED.get(sched)
    if suffix is None:
        return None
    return _join(base, suffix)


def to_comfyui(key: str) -> tuple[str, str] | None:
    """(sampler_name, scheduler) that ComfyUI's KSampler takes for a key, or None.

    >>> to_comfyui("dpmpp_2m_karras")
    ('dpmpp_2m', 'karras')
    """
    if key == "flow_euler":
        return "euler", "simple"
    for suffix, sched in (("_karras", "karras"), ("_exponential", "exponential"),
                          ("_beta", "beta"), ("", "normal")):
        if suffix and not key.endswith(suffix):
            continue
        base = key[: len(key) - len(suffix)] if suffix else key
        name = _COMFY_BASE.get(base)
        if name is not None:
            return name, sched
    name = registered_to("comfyui", key)
    return (name, "normal") if name is not None else None


# --------------------------------------------------------------------------- InvokeAI
# InvokeAI 3+ scheduler names (diffusers classes; "_k" = Karras sigmas).
_INVOKE3 = {
    "ddim": "ddim", "ddpm": "ddpm", "deis": "deis", "deis_k": None, "lms": "lms",
    "lms_k": "lms_karras", "pndm": "pndm", "heun": "heun", "heun_k": None,
    "euler": "euler", "euler_k": "euler_karras", "euler_a": "euler_a", "kdpm_2": "dpm2",
    "kdpm_2_k": "dpm2_karras", "kdpm_2_a": "dpm2_a", "kdpm_2_a_k": "dpm2_a_karras",
    "dpmpp_2m": "dpmpp_2m", "dpmpp_2m_k": "dpmpp_2m_karras", "dpmpp_2m_sde": "dpmpp_2m_sde",
    "dpmpp_2m_sde_k": "dpmpp_2m_sde_karras", "dpmpp_sde": "dpmpp_sde",
    "dpmpp_sde_k": "dpmpp_sde_karras", "dpmpp_3m": None, "dpmpp_3m_k": None,
    "unipc": "unipc", "unipc_k": "unipc_karras", "lcm": "lcm", "tcd": "tcd",
    "dpmpp_2s": None, "dpmpp_2s_k": None,
}
# InvokeAI 2.x (and the old "dream" CLI / lstein fork) names.
_INVOKE2 = {
    "k_lms": "lms", "k_euler": "euler", "k_euler_a": "euler_a", "k_heun": "heun",
    "k_dpm_2": "dpm2", "k_dpm_2_a": "dpm2_a", "k_dpmpp_2": "dpmpp_2m",
    "k_dpmpp_2_a": "dpmpp_2s_a", "ddim": "ddim", "plms": "pndm",
}


def from_invokeai(name: str | None) -> str | None:
    """aigif key of an InvokeAI scheduler/sampler name (2.x or 3+), or None.

    >>> from_invokeai("dpmpp_2m_k")
    'dpmpp_2m_karras'
    >>> from_invokeai("k_lms")
    'lms'
    """
    if not isinstance(name, str):
        return None
    n = name.strip().lower()
    if n in _INVOKE2:
        return _INVOKE2[n]
    return _INVOKE3.get(n) or registered_from("invokeai", n)


def to_invokeai(key: str) -> str | None:
    """InvokeAI 3+ scheduler name of a key, or None."""
    for name, k in _INVOKE3.items():
        if k == key:
            return name
    return registered_to("invokeai", key)


# --------------------------------------------------------------------------- NovelAI
def from_novelai(sampler: str | None, noise_schedule: str | None = None) -> str | None:
    """aigif key of a NovelAI ``sampler`` (``"k_euler_ancestral"``) and
    ``noise_schedule`` (``"native"``, ``"karras"``, ``"exponential"``), or None.

    >>> from_novelai("k_euler_ancestral")
    'euler_a'
    """
    if not isinstance(sampler, str):
        return None
    s = sampler.strip().lower()
    if s.startswith("k_"):
        s = s[2:]
    if s == "ddim_v3":
        s = "ddim"
    sched = (noise_schedule or "native").strip().lower()
    sched = {"native": "normal"}.get(sched, sched)
    return from_comfyui(s, sched)


def from_any(name: str | None, scheduler: str | None = None) -> str | None:
    """Best exact match of a sampler name in any dialect (A1111, ComfyUI, InvokeAI), or
    None. Used for tools that mix dialects (SwarmUI, Fooocus, SD.Next)."""
    if not isinstance(name, str) or not name.strip():
        return None
    if name in SCHEDULERS and not scheduler:
        return name
    for fn in (lambda: from_comfyui(name, scheduler),
               lambda: from_a1111(name, scheduler),
               lambda: from_invokeai(name) if not scheduler else None):
        k = fn()
        if k is not None:
            return k
    return None


# --------------------------------------------------------------------------- one-string forms
def scheduler_from_a1111(name: str, *, flow: bool = False) -> str:
    """Key of an A1111 sampler name (``"DPM++ 2M Karras"`` -> ``"dpmpp_2m_karras"``).

    Also accepts A1111's split form joined (``"DPM++ 2M Automatic"``: the sampler's own
    default schedule) and keys themselves. ``flow=True`` (SD3/FLUX files) maps ``"Euler"``
    to ``"flow_euler"``. Raises MetaError naming the known names.
    """
    key = None
    if isinstance(name, str):
        base, _, word = " ".join(name.replace("_", " ").split()).rpartition(" ")
        # sampler and A1111 1.9+ schedule type joined ("DPM++ 2M Automatic"): "Automatic" is
        # the sampler's own default schedule (Karras for DPM++ 2M), "Uniform" the plain one
        if base and word.lower() in ("automatic", "uniform"):
            key = from_a1111_label(base, flow=True) if flow else from_a1111(base, word)
    if key is None:
        key = from_a1111_label(name, flow=flow)
    if key is None:
        raise MetaError(f"unknown sampler name {name!r}; expected one of: "
                        f"{', '.join(a1111_labels())}", field="scheduler")
    return key


def a1111_name(key: str) -> str:
    """A1111 sampler name of a key (``"dpmpp_2m_karras"`` -> ``"DPM++ 2M Karras"``); the key
    itself when A1111 has no name for it. Raises MetaError for an unknown key."""
    if key not in SCHEDULERS and key not in _registry:
        raise MetaError(f"unknown scheduler {key!r}", field="scheduler")
    return to_a1111_label(key) or key
