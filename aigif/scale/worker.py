"""One worker: renders jobs through the public render API and publishes their outputs.

A ``Worker`` owns a pipeline cache (one pipeline per group it is given, loaded once) and
a journal of intents. ``run(jobs)`` renders jobs of one group: one ``render_file`` call
each, or (``batch_size > 1``, opt-in) one pipeline call for up to ``batch_size`` files
with one seeded generator each. Batched pixels are not guaranteed bit-identical to single
renders (batched kernels may sum in another order; ``benchmarks/scale.py`` measures it),
so a batched item is marked ``approximate`` unless its pixels match the file's
fingerprint. Outputs are encoded in memory, their sha256 journalled, then written with
``aigif._atomic.write_atomic`` (or one ``pipe_file`` to an fsspec URL). A failure is a
``failed`` ItemResult, never an exception.

Also the entry point of a local worker process (``process_main``).
"""
from __future__ import annotations

import hashlib
import io
import os
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Sequence

from .._atomic import write_atomic
from ..codecs.pixels import matches
from ..codecs.video.writers import encode_video_file
from ..document import loads
from ..errors import AigifError, AigifWarning
from ..render.cache import PipelineCache
from ..render.backends import get_backend
from ..render.engine import render_file
from ..render.video import VideoFrames
from ..render.platform import applied, resolve_settings
from .jobs import ItemResult, Job, is_url, read_bytes
from .manifest import Journal

__all__ = ["Worker", "process_main", "RenderOptions"]

#: render_file keywords a run may set
RenderOptions = dict


def _encode(image: Any, dst: str) -> bytes:
    if isinstance(image, VideoFrames):     # a video file's frames: the file dst names
        return encode_video_file(image.frames, image.fps, dst)
    from PIL import Image
    ext = os.path.splitext(dst)[1].lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise AigifError(f"cannot write {dst}: unknown image extension {ext or '(none)'!r}")
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def publish(dst: str, data: bytes, *, overwrite: bool, within: str | None) -> None:
    """Write ``data`` to ``dst`` atomically (a local path) or in one put (a URL)."""
    if is_url(dst) and not dst.startswith("file://"):
        import fsspec
        fs, path = fsspec.core.url_to_fs(dst)
        if not overwrite and fs.exists(path):
            raise AigifError(f"{dst} exists (use overwrite/--force)")
        fs.pipe_file(path, data)
        return
    if dst.startswith("file://"):
        dst = dst[len("file://"):]
    write_atomic(dst, data, overwrite=overwrite, within=within)


class Worker:
    """Renders jobs; see the module docstring. ``options``: keywords of ``render_file``
    (device, dtype, strict, fallback, download, approximate, rng_device)."""

    def __init__(self, options: dict | None = None, *, journal: Journal | None = None,
                 name: str = "main", batch_size: int = 1, overwrite: bool = False,
                 within: str | None = None, cache_size: int = 1):
        self.options = dict(options or {})
        self.journal = journal
        self.name = name
        self.batch_size = max(1, int(batch_size))
        self.overwrite = overwrite
        self.within = within
        self.cache = PipelineCache(cache_size)
        self.loads = 0

    # -------------------------------------------------------------- one group of jobs
    def run(self, jobs: Sequence[Job]) -> list[ItemResult]:
        out: list[ItemResult] = []
        files = []
        for job in jobs:
            try:
                files.append((job, loads(read_bytes(job.src), strict=False)))
            except AigifError as e:
                out.append(self._fail(job, e))
        i = 0
        while i < len(files):
            n = 1
            if self.batch_size > 1 and self.cache.keys():
                n = self._batchable(files[i:i + self.batch_size])
            chunk = files[i:i + n]
            out += self._batch(chunk) if n > 1 else [self._one(*chunk[0])]
            i += n
        return out

    def _fail(self, job: Job, e: BaseException, t0: float | None = None) -> ItemResult:
        msg = str(e) if isinstance(e, AigifError) else f"{type(e).__name__}: {e}"
        return ItemResult(job.src, job.dst, "failed", job.key, error=msg, worker=self.name,
                          seconds=0.0 if t0 is None else time.perf_counter() - t0)

    def _finish(self, job: Job, image: Any, res: ItemResult) -> ItemResult:
        data = _encode(image, job.dst)
        sha = hashlib.sha256(data).hexdigest()
        if self.journal is not None:
            self.journal.intend(job.dst, job.key, sha)
        if not is_url(job.dst):
            Path(job.dst).parent.mkdir(parents=True, exist_ok=True)
        publish(job.dst, data, overwrite=self.overwrite, within=self.within)
        res.out_sha256 = sha
        return res

    def _one(self, job: Job, f: Any) -> ItemResult:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", AigifWarning)
                r = render_file(f, cache=self.cache, **self.options)
            if r.source == "render" and not r.cache_hit:
                self.loads += 1
            res = ItemResult(job.src, job.dst, "done", job.key, exact=r.exact,
                             approximate=r.approximate, source=r.source, worker=self.name,
                             load=r.source == "render" and not r.cache_hit,
                             warnings=[str(w.message) for w in caught
                                       if issubclass(w.category, AigifWarning)])
            res = self._finish(job, r.image if r.video is None else r.video, res)
        except AigifError as e:
            return self._fail(job, e, t0)
        except Exception as e:  # noqa: BLE001 - one bad file never stops the run
            return self._fail(job, RuntimeError(f"{e}\n{traceback.format_exc(limit=3)}"), t0)
        res.seconds = time.perf_counter() - t0
        return res

    # -------------------------------------------------------------- opt-in batching
    @staticmethod
    def _same_call(a: Any, b: Any) -> bool:
        keys = ("generator", "model", "model_revision", "steps", "guidance_scale",
                "scheduler", "width", "height", "clip_skip", "platform")
        return all(getattr(a, k) == getattr(b, k) for k in keys) and \
            dict(a.params) == dict(b.params) and not (a.stages or a.loras or b.stages or b.loras)

    def _batchable(self, files: list) -> int:
        first = files[0][1].meta
        if first is None or first.seed is None or first.stages or first.loras or \
                first.video is not None:     # video pipelines are not batched
            return 1
        n = 1
        while n < len(files) and files[n][1].meta is not None and \
                files[n][1].meta.seed is not None and self._same_call(first, files[n][1].meta):
            n += 1
        return n

    def _batch(self, chunk: list) -> list[ItemResult]:
        """One pipeline call for every file of ``chunk`` (same pipeline and call
        arguments but prompt, negative prompt and seed); a generator per item."""
        import torch
        t0 = time.perf_counter()
        metas = [f.meta for _, f in chunk]
        m0 = metas[0]
        try:
            pipe, _ = self.cache.get(self.cache.keys()[-1], lambda: None)
            backend = get_backend(m0.generator)
            s = resolve_settings(m0.platform, self.options.get("device"),
                                 self.options.get("dtype"), self.options.get("rng_device"))
            gens = [torch.Generator(device=s.rng_device).manual_seed(m.seed) for m in metas]
            kw = backend.call_kwargs(m0, gens)
            kw["prompt"] = [m.prompt for m in metas]
            if "negative_prompt" in kw:
                kw["negative_prompt"] = [m.negative_prompt or "" for m in metas]
            with applied(s):
                pipe.scheduler = backend.scheduler(pipe, m0)
                images = pipe(**kw).images
        except Exception as e:  # noqa: BLE001 - fall back to single renders
            return [self._one(j, f) for j, f in chunk] if not isinstance(e, KeyboardInterrupt) \
                else []
        dt = (time.perf_counter() - t0) / len(chunk)
        out = []
        for (job, f), image in zip(chunk, images):
            exact = None if f.fingerprint is None else matches(f.fingerprint, image)
            res = ItemResult(job.src, job.dst, "done", job.key, exact=exact,
                             approximate=exact is not True, worker=self.name, seconds=dt)
            try:
                out.append(self._finish(job, image, res))
            except Exception as e:  # noqa: BLE001
                out.append(self._fail(job, e))
        return out


def process_main(conn: Any, options: dict, journal_dir: str | None, name: str,
                 batch_size: int, overwrite: bool, within: str | None, threads: int) -> None:
    """A local worker process: receives lists of jobs on ``conn``, sends back
    ``(name, [ItemResult dicts], loads)``; ``None`` ends it."""
    import torch
    torch.set_num_threads(max(1, threads))
    try:
        from diffusers.utils import logging as dl
        dl.set_verbosity_error()
        dl.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    w = Worker(options, journal=Journal(journal_dir, name) if journal_dir else None,
               name=name, batch_size=batch_size, overwrite=overwrite, within=within)
    conn.send(("ready", name, [], 0))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        jobs = [Job(**d) if isinstance(d, dict) else d for d in msg]
        res = w.run(jobs)
        conn.send(("done", name, [r.to_dict() for r in res], w.loads))
