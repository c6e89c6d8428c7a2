"""Rendering and converting at scale: many files, many processes, many machines.

``render_many`` renders a list of files (paths, a list file, fsspec URLs) into a folder:
jobs grouped by model so each worker loads a pipeline once, results streamed as they
finish, a per-file failure reported and never fatal, every output written atomically, a
JSONL manifest that makes a rerun after a crash finish only what is missing. Workers are
the calling process (``workers=1``), local processes (``workers=N``, ``devices="all"``)
or Ray actors (``ray=True`` / an address). ``convert_verified`` imports other tools'
images and keeps, per file, syntax only, syntax + residual, or pixels, after regenerating.

Importing this package is cheap: torch, diffusers and ray load when something runs.

Example::

    from aigif.scale import render_many
    run = render_many(["a.aigif", "b.aigif"], "out/", workers=2)
    for item in run:                    # streamed as they finish
        print(item.src, item.status, item.exact)
    print(run.report)
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["render_many", "RenderRun", "RunReport", "ItemResult", "Job", "plan",
           "read_list", "Manifest", "group_key", "convert_verified", "VerifyReport"]

_WHERE = {
    "render_many": "run", "RenderRun": "run", "RunReport": "run",
    "ItemResult": "jobs", "Job": "jobs", "plan": "jobs", "read_list": "jobs",
    "group_key": "jobs", "Manifest": "manifest",
    "convert_verified": "verify", "VerifyReport": "verify",
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'aigif.scale' has no attribute {name!r}")
    value = getattr(import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
