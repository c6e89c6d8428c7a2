"""The Ray backend of ``render_many`` (``pip install 'aigif[cluster]'``).

Each worker is a Ray actor (``RenderActor``: one ``aigif.scale.worker.Worker``, so its
pipelines stay loaded between tasks), placed by Ray where its resources are (``num_gpus=1``
each on a GPU cluster, ``num_cpus=1`` otherwise). Jobs go to actors with the same
group affinity as local processes (an actor keeps the model it holds until that group runs
out), and at most two tasks per actor are in flight (backpressure: ``ray.wait`` on the
refs; only paths or URLs travel, the actors read inputs and write outputs themselves on
the shared file system or fsspec URLs). An actor that dies is restarted by Ray
(``max_restarts``); its tasks in flight are reported failed and redone by a rerun.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any, Iterator

from ..errors import MissingDependencyError
from .dispatch import Dispatcher
from .jobs import ItemResult, Job
from .manifest import Journal
from .worker import Worker

__all__ = ["run_ray", "RenderActor"]

_IN_FLIGHT = 2          # tasks queued per actor


def _ray():
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError("the Ray backend needs ray: pip install 'aigif[cluster]'"
                                     ) from e
    return ray


class RenderActor:
    """The body of a Ray actor: a Worker that keeps its pipelines loaded."""

    def __init__(self, options: dict, journal_dir: str | None, name: str, batch_size: int,
                 overwrite: bool, within: str | None, threads: int):
        import torch
        torch.set_num_threads(max(1, threads))
        self.worker = Worker(options, journal=Journal(journal_dir, name) if journal_dir
                             else None, name=name, batch_size=batch_size,
                             overwrite=overwrite, within=within)

    def run(self, jobs: list[dict]) -> tuple[list[dict], int]:
        res = self.worker.run([Job(**{**d, "group": tuple(d["group"])}) for d in jobs])
        return [r.to_dict() for r in res], self.worker.loads


def run_ray(todo: list[Job], address: Any, options: dict, man: Any, report: Any, *,
            batch_size: int = 1, overwrite: bool = False, within: str | None = None,
            chunk: int = 1, workers: int = 0) -> Iterator[ItemResult]:
    """Render ``todo`` on Ray actors; yield ItemResults as tasks finish.

    ``address``: True (``ray.init()``: the cluster ``RAY_ADDRESS`` names, else a local
    one), or an address such as ``"ray://head:10001"`` / ``"auto"``. A Ray already
    initialised in this process is used as it is. ``workers``: actors to start (0: one per
    GPU of the cluster, else one per CPU).
    """
    ray = _ray()
    if not ray.is_initialized():
        kw: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
        if isinstance(address, str) and address:
            kw["address"] = address
        ray.init(**kw)
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    n = workers if workers and workers > 1 else (gpus or int(res.get("CPU", 1)))
    n = max(1, min(n, len(todo)))
    per = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    cpus = int(res.get("CPU", 1))
    threads = max(1, cpus // n) if not gpus else 1
    actor_cls = ray.remote(**per, max_restarts=2, max_task_retries=0)(RenderActor)
    opts = dict(options)
    if gpus and "device" not in opts:
        opts["device"] = "cuda"
    actors = {f"ray{i}": actor_cls.remote(opts, man.intents_dir if man else None, f"ray{i}",
                                          batch_size, overwrite, within, threads)
              for i in range(n)}
    report.workers = n
    d = Dispatcher(todo, chunk=max(chunk, batch_size))
    pending: dict[Any, tuple[str, list[Job]]] = {}
    loads: dict[str, int] = {}

    def submit(name: str) -> None:
        jobs = d.next(name)
        if jobs:
            ref = actors[name].run.remote([asdict(j) for j in jobs])
            pending[ref] = (name, jobs)

    try:
        for name in actors:
            for _ in range(_IN_FLIGHT):
                submit(name)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                name, jobs = pending.pop(ref)
                try:
                    results, n_loads = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - actor died / task failed
                    for j in jobs:
                        yield ItemResult(j.src, j.dst, "failed", j.key, worker=name,
                                         error=f"Ray task failed: {type(e).__name__}: "
                                               f"{str(e).splitlines()[0] if str(e) else ''}")
                else:
                    loads[name] = n_loads
                    for r in results:
                        yield ItemResult.from_dict(r)
                submit(name)
    finally:
        for ref in pending:
            try:
                ray.cancel(ref)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        report.loads += sum(loads.values())
        for a in actors.values():
            ray.kill(a)
        if os.environ.get("AIGIF_RAY_SHUTDOWN") == "1":
            ray.shutdown()
