"""``render_many``: render many files, in this process, in local worker processes (one per
GPU, or N on the CPU), or on Ray actors; resumable through the run manifest.

The driver plans the jobs (reads each input once: fingerprint and group key), drops those
the manifest shows done, and hands the rest to workers group by group: a worker keeps the
group it holds until that group runs out, then takes the largest group nobody holds (else
the largest), so each worker loads each model at most once and the pipeline loads of a run
are at most workers x distinct models. Results stream back as they finish; the driver
alone appends them to the manifest. A worker process that dies (a SIGKILL, an OOM) fails
its jobs in flight and is replaced; the run goes on.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from ..errors import AigifError
from .cluster import run_ray
from .dispatch import Dispatcher
from .jobs import ItemResult, Job, is_url, plan
from .manifest import Manifest
from .worker import Worker, process_main

__all__ = ["render_many", "RenderRun", "RunReport", "Dispatcher", "MANIFEST_NAME"]

#: The manifest's default name, in the output folder.
MANIFEST_NAME = ".aigif-render.jsonl"
_RENDER_KW = ("device", "dtype", "strict", "fallback", "download", "approximate",
              "rng_device")


@dataclass
class RunReport:
    """Counts of one run: ``done`` (rendered now), ``skipped`` (done by an earlier run),
    ``failed``; ``loads``: pipeline loads (all workers); ``workers``; ``seconds``;
    ``stale_temporaries``: temporary files of killed writes removed before starting;
    ``approximate``: done items marked approximate; ``failures``: (src, error)."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    loads: int = 0
    workers: int = 1
    backend: str = "local"
    seconds: float = 0.0
    stale_temporaries: int = 0
    approximate: int = 0
    groups: int = 0
    failures: list = field(default_factory=list)

    @property
    def files_per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (f"{self.done} rendered, {self.skipped} already done, {self.failed} failed "
                f"of {self.total} ({self.groups} model groups, {self.workers} "
                f"{self.backend} worker{'s' * (self.workers != 1)}, {self.loads} pipeline "
                f"loads, {self.seconds:.1f} s)")


class RenderRun:
    """A run of ``render_many``: iterate it for ItemResults as they finish; ``report``
    holds the counts once iteration ends (or ``wait()`` consumes it)."""

    def __init__(self, gen: Iterator[ItemResult], report: RunReport):
        self._gen = gen
        self.report = report

    def __iter__(self) -> Iterator[ItemResult]:
        return self._gen

    def wait(self) -> RunReport:
        for _ in self._gen:
            pass
        return self.report


def _stale_tmp(jobs: list[Job]) -> int:
    """Remove temporary files that a killed ``write_atomic`` left next to our outputs."""
    n = 0
    by_dir: dict[str, set] = {}
    for j in jobs:
        if not is_url(j.dst):
            d, name = os.path.split(j.dst)
            by_dir.setdefault(d or ".", set()).add(name[:80])
    for d, names in by_dir.items():
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        for e in entries:
            m = re.fullmatch(r"\.(.+)\.[0-9a-f]{16}\.tmp", e)
            if m and m.group(1) in names:
                try:
                    os.unlink(os.path.join(d, e))
                    n += 1
                except OSError:
                    pass
    return n


def _devices(devices: Any, workers: int) -> list[str | None]:
    """One entry per worker: a device name, or None (the render's default)."""
    if devices in (None, "", "none"):
        return [None] * max(1, workers)
    if devices == "all":
        import torch
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            return ["cpu"] * max(1, workers)
        return [f"cuda:{i}" for i in range(n)]
    if isinstance(devices, str):
        devices = [d.strip() for d in devices.split(",") if d.strip()]
    return list(devices)


def render_many(inputs: Iterable[Any], output: str | os.PathLike, *, workers: int = 1,
                devices: Any = None, ray: Any = None, manifest: Any = True,
                overwrite: bool = False, batch_size: int = 1, suffix: str = ".png",
                chunk: int = 1, video_suffix: str = ".mp4", **render_kw: Any) -> RenderRun:
    """Render every input into folder ``output``; return a RenderRun (iterate it).

    ``inputs``: paths, fsspec URLs, or ``(src, dst)`` pairs (``read_list`` reads a list
    file). ``workers``: local processes (1: this process). ``devices``: ``"all"`` (one
    process per visible GPU; ``workers`` CPU processes when there is none), or a list
    such as ``["cuda:0", "cuda:1"]``. ``ray``: True (a local Ray, or the one
    ``RAY_ADDRESS`` names) or an address: Ray actors instead of processes (``aigif[cluster]``).
    ``manifest``: True (``<output>/.aigif-render.jsonl``), a path, or False (no resume).
    Outputs are ``<stem><suffix>``; a video file's frames are ``<stem><video_suffix>``
    (``.mp4``: H.264, or ``.webm`` ``.mkv`` ``.gif`` ``.apng`` ``.webp``; see
    ``aigif.codecs.video.writers``).
    ``overwrite``: replace outputs that exist and the manifest does not show done.
    ``batch_size`` > 1: batch compatible files into one pipeline call (opt-in: the pixels
    may differ from single renders, and such items say ``approximate``). Other keywords go
    to ``render_file`` (device, dtype, strict, fallback, download, approximate, rng_device).

    Raises AigifError only for bad arguments; each file's failure is a ``failed`` item.

    Example::

        run = render_many(["a.aigif", "b.aigif"], "out", workers=2)
        for item in run:
            print(item.src, item.status)
        print(run.report)
    """
    bad = set(render_kw) - set(_RENDER_KW)
    if bad:
        raise AigifError(f"render_many got unknown keywords: {', '.join(sorted(bad))}")
    out = os.fspath(output)
    options = {k: v for k, v in render_kw.items() if v is not None}
    devs = _devices(devices, workers) if ray is None else []
    key_opts = {k: options.get(k) for k in ("dtype", "rng_device", "strict", "approximate",
                                            "fallback")}
    key_opts["device"] = options.get("device") or (devs[0] if devs and devs[0] else None)
    key_opts["batch"] = batch_size > 1
    if not is_url(out):
        os.makedirs(out, exist_ok=True)
    jobs, failures = plan(inputs, out, suffix=suffix, options=key_opts,
                          video_suffix=video_suffix)
    if manifest is True:
        if is_url(out):
            raise AigifError("an output URL needs manifest=<local path> or manifest=False")
        manifest = os.path.join(out, MANIFEST_NAME)
    man = Manifest(manifest) if manifest else None
    report = RunReport(total=len(jobs) + len(failures))
    report.groups = len({j.group for j in jobs})
    within = None if is_url(out) else out

    def gen() -> Iterator[ItemResult]:
        t0 = time.perf_counter()
        for r in failures:
            _count(report, r, man)
            yield r
        todo = []
        for j in jobs:
            sha = man.done(j) if man else None
            if sha is not None:
                r = ItemResult(j.src, j.dst, "skipped", j.key, out_sha256=sha)
                if man.records.get(j.dst, {}).get("status") != "done" or \
                        man.records[j.dst].get("key") != j.key:
                    man.record(ItemResult(j.src, j.dst, "done", j.key, out_sha256=sha),
                               recovered=True)
                _count(report, r, None)
                yield r
            else:
                todo.append(j)
        report.stale_temporaries = _stale_tmp(todo)
        if not todo:
            it = iter(())
        elif ray is not None:
            report.backend = "ray"
            it = run_ray(todo, ray, options, man, report, batch_size=batch_size,
                         overwrite=overwrite, within=within, chunk=chunk, workers=workers)
        elif len(devs) > 1 or (devs and devs[0] not in (None, "cpu") and workers > 1):
            report.backend = "process"
            it = _run_processes(todo, devs, options, man, report, batch_size, overwrite,
                                within, chunk)
        else:
            opts = dict(options)
            if devs and devs[0] and "device" not in opts:
                opts["device"] = devs[0]
            it = _run_here(todo, opts, man, report, batch_size, overwrite, within)
        try:
            for r in it:
                _count(report, r, man)
                yield r
        finally:
            report.seconds = time.perf_counter() - t0
    return RenderRun(gen(), report)


def _count(report: RunReport, r: ItemResult, man: Manifest | None) -> None:
    if r.status == "done":
        report.done += 1
        report.approximate += bool(r.approximate)
    elif r.status == "skipped":
        report.skipped += 1
    else:
        report.failed += 1
        report.failures.append((r.src, r.error))
    if man is not None and r.status in ("done", "failed"):
        man.record(r)


def _run_here(todo: list[Job], options: dict, man: Manifest | None, report: RunReport,
              batch_size: int, overwrite: bool, within: str | None) -> Iterator[ItemResult]:
    report.workers = 1
    w = Worker(options, journal=man.journal() if man else None, batch_size=batch_size,
               overwrite=overwrite, within=within)
    d = Dispatcher(todo, chunk=max(1, batch_size))
    while True:
        jobs = d.next(w.name)
        if not jobs:
            break
        before = w.loads
        for r in w.run(jobs):
            yield r
        report.loads += w.loads - before


def _run_processes(todo: list[Job], devs: list, options: dict, man: Manifest | None,
                   report: RunReport, batch_size: int, overwrite: bool, within: str | None,
                   chunk: int) -> Iterator[ItemResult]:
    import multiprocessing as mp
    from multiprocessing.connection import wait
    from dataclasses import asdict
    # never fork this process (it may hold torch threads): a fork server that imported
    # torch and diffusers once forks the workers (fast); spawn where there is none
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["torch", "diffusers", "aigif.scale.worker"])
    else:  # pragma: no cover - Windows, macOS without forkserver
        ctx = mp.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // len(devs))
    report.workers = len(devs)
    d = Dispatcher(todo, chunk=max(chunk, batch_size))
    procs: dict[str, Any] = {}
    conns: dict[Any, str] = {}
    inflight: dict[str, list[Job]] = {}
    loads: dict[str, int] = {}
    respawns = 2 * len(devs)
    serial = [0]

    def start(dev: str | None) -> None:
        serial[0] += 1
        name = f"w{serial[0]}" + (f"-{dev}" if dev else "")
        opts = dict(options)
        if dev and "device" not in opts:
            opts["device"] = dev
        a, b = ctx.Pipe()
        p = ctx.Process(target=process_main, name=f"aigif-{name}", daemon=True,
                        args=(b, opts, man.intents_dir if man else None, name, batch_size,
                              overwrite, within, threads))
        p.start()
        b.close()
        procs[name] = (p, a, dev)
        conns[a] = name
        inflight[name] = []

    def feed(name: str) -> None:
        jobs = d.next(name)
        inflight[name] = jobs
        if jobs:
            try:
                procs[name][1].send([asdict(j) for j in jobs])
            except OSError:     # the worker died after its last answer (broken pipe): its
                pass            # sentinel fires next and reports these jobs as failed

    for dev in devs:
        start(dev)
    try:
        while procs:
            if not d and not any(inflight.values()):
                break
            ready = wait(list(conns) + [p.sentinel for p, _, _ in procs.values()])
            for obj in ready:
                name = conns.get(obj)
                if name is None:                          # a sentinel: the process ended
                    name = next((n for n, (p, _, _) in procs.items() if p.sentinel == obj),
                                None)
                    if name is None or name not in procs:
                        continue
                    p, conn, dev = procs.pop(name)
                    conns.pop(conn, None)
                    p.join(1)
                    for j in inflight.pop(name, []):
                        yield ItemResult(j.src, j.dst, "failed", j.key, worker=name,
                                         error=f"worker {name} died (exit code {p.exitcode})")
                    report.loads += loads.pop(name, 0)
                    if d and respawns > 0:
                        respawns -= 1
                        start(dev)
                    continue
                try:
                    kind, _, results, n_loads = obj.recv()
                except (EOFError, OSError):
                    continue                               # its sentinel fires next
                loads[name] = n_loads
                for r in results:
                    yield ItemResult.from_dict(r)
                feed(name)
        for name in list(inflight):
            for j in inflight.pop(name):
                yield ItemResult(j.src, j.dst, "failed", j.key, error="no worker left")
        while d:
            for j in d.next("-"):
                yield ItemResult(j.src, j.dst, "failed", j.key,
                                 error="no worker left (every worker process died)")
    finally:
        for name, (p, conn, _) in procs.items():
            try:
                conn.send(None)
            except OSError:
                pass
        for name, (p, conn, _) in procs.items():
            p.join(10)
            if p.is_alive():
                p.terminate()
            report.loads += loads.get(name, 0)
