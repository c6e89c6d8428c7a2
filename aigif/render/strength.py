"""A denoising pass's ``steps`` and ``strength`` -> the diffusers call that runs it
(spec "Syntax: stage fields", ``steps``).

A file's pass with strength ``s`` and steps ``n`` executes ``n`` steps: the last ``n`` of a
schedule of ``int(n / s)`` steps, as A1111's hires fix (``setup_img2img_steps``:
``sigmas[total - t_enc - 1:]``) and ComfyUI's ``KSampler`` with ``denoise``
(``sigmas[-(steps + 1):]`` of an ``int(steps / denoise)``-step schedule) run it. diffusers'
img2img pipelines run ``int(num_inference_steps * strength)`` steps of a
``num_inference_steps``-step schedule (``get_timesteps``), so the pass is called with
``num_inference_steps = int(n / s)`` and a strength that makes that product ``n``.

That is the tail of the full schedule when the scheduler lays out ``order`` timesteps per
step (Euler, DPM++, UniPC, DDIM... and Heun / DPM2's ``2N - 1``); PNDM (its Runge-Kutta
warm-up steps) and a schedule longer than the model's training timesteps are not, and are
reported as approximate. Pure Python: the scheduler is probed, never imported here.
"""
from __future__ import annotations

import json

from dataclasses import dataclass
from typing import Any

__all__ = ["PassSchedule", "schedule_length", "pass_schedule"]


@dataclass(frozen=True)
class PassSchedule:
    """``num_inference_steps`` and ``strength`` for the diffusers img2img call; ``executed``:
    the steps it runs; ``note``: why the pass is not the file's schedule (None: it is)."""

    num_inference_steps: int
    strength: float
    executed: int
    note: str | None = None


def schedule_length(steps: int, strength: float) -> int:
    """``int(steps / strength)`` in binary64, as A1111 and ComfyUI compute it (0 when
    ``strength`` is 0: nothing is denoised).

    >>> schedule_length(20, 0.45), schedule_length(9, 0.5), schedule_length(4, 1.0)
    (44, 18, 4)
    """
    return int(steps / strength) if strength > 0 else 0


def pass_schedule(scheduler: Any, steps: int, strength: float) -> PassSchedule:
    """The diffusers call that executes the last ``steps`` steps of a ``int(steps /
    strength)``-step schedule of ``scheduler`` (a diffusers scheduler; a fresh copy of it is
    probed with ``set_timesteps``). ``strength`` must be > 0.

    Example::

        ps = pass_schedule(pipe.scheduler, 20, 0.45)   # 44-step schedule, 20 run
        img2img(..., num_inference_steps=ps.num_inference_steps, strength=ps.strength)
    """
    total = schedule_length(steps, strength)
    note = None
    limit = int(getattr(scheduler.config, "num_train_timesteps", 0) or 0)
    if limit and total > limit:
        note = (f"a {total}-step schedule (steps {steps} / strength {strength:g}) is longer "
                f"than the model's {limit} training timesteps, which diffusers' "
                f"{type(scheduler).__name__} cannot lay out; ran the last "
                f"{min(steps, limit)} steps of a {limit}-step schedule")
        total, steps = limit, min(steps, limit)
    else:
        order, have = _layout(scheduler, total)
        if have not in (total * order, total * order - (order - 1)):
            note = (f"{type(scheduler).__name__} lays out {have} timesteps for {total} "
                    f"steps, so diffusers' img2img start (timesteps[t_start * order:]) is "
                    f"not the last {steps} steps of the schedule")
    run = 1.0 if steps >= total else (steps + 0.5) / total   # int(total * run) == steps
    return PassSchedule(total, run, steps, note)


_LAYOUTS: dict[tuple, tuple[int, int]] = {}


def _layout(scheduler: Any, total: int) -> tuple[int, int]:
    """(order, timesteps laid out for ``total`` steps) of a scheduler, probed on a fresh
    copy once per (class, config, total): building a scheduler from its config costs
    milliseconds, more than the rest of a stage's own work."""
    key = (type(scheduler), json.dumps(dict(scheduler.config), sort_keys=True, default=repr),
           total)
    hit = _LAYOUTS.get(key)
    if hit is None:
        probe = type(scheduler).from_config(scheduler.config)
        probe.set_timesteps(total)
        hit = (int(getattr(probe, "order", 1) or 1), len(probe.timesteps))
        if len(_LAYOUTS) > 256:
            _LAYOUTS.clear()
        _LAYOUTS[key] = hit
    return hit
