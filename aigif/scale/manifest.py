"""The run manifest: a JSONL file of what each job became, and the workers' intents.

A run appends one line per finished job (``{"src", "dst", "key", "status",
"out_sha256", ...}``; ``key`` is the input's fingerprint) to the manifest, fsynced, from
the driver only. Before a worker publishes an output it appends an *intent*
(``{"dst", "key", "out_sha256"}``, fsynced) to its own journal in ``<manifest>.intents/``
(one file per worker: no two processes append to one file, which also holds on shared
file systems), then renames the output into place atomically (``aigif._atomic``).

A rerun skips a job when the manifest says ``done`` for its output with the same input
fingerprint, or an intent names it, and the output on disk has the recorded sha256. So a
crash anywhere (driver or worker, before, during or after the rename) costs at most the
renders in flight and never leaves a partial output: the output is either the whole new
file or absent, and a published output is never rendered again.

A torn last line (a crash in the middle of an append) is ignored on reading.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from .jobs import ItemResult, Job, is_url, read_bytes

__all__ = ["Manifest", "Journal", "sha256_of"]


def sha256_of(path: str) -> str | None:
    """sha256 of a local file or URL's bytes; None when it is not there."""
    try:
        if is_url(path):
            return hashlib.sha256(read_bytes(path, 1 << 40)).hexdigest()
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except Exception:  # noqa: BLE001 - absent / unreadable: not done
        return None


def _append(path: str, line: dict) -> None:
    data = (json.dumps(line, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                 0o666)
    try:
        st = os.fstat(fd)
        if st.st_size:                      # a torn last line: start a fresh one
            with open(path, "rb") as fh:
                fh.seek(st.st_size - 1)
                if fh.read(1) != b"\n":
                    data = b"\n" + data
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _lines(path: Path) -> Iterator[dict]:
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return
    for line in text.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue                         # torn by a crash
        if isinstance(d, dict):
            yield d


class Journal:
    """One worker's intents file (append-only, fsynced)."""

    def __init__(self, folder: str | os.PathLike, name: str | None = None):
        self.folder = os.fspath(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.path = os.path.join(self.folder, (name or f"{os.getpid()}-"
                                               f"{secrets.token_hex(4)}") + ".jsonl")

    def intend(self, dst: str, key: str, out_sha256: str) -> None:
        _append(self.path, {"dst": dst, "key": key, "out_sha256": out_sha256,
                            "t": round(time.time(), 3)})


class Manifest:
    """A run's JSONL manifest (see the module docstring).

    ``Manifest(path)`` reads what earlier runs recorded; ``done(job)`` says whether a job
    needs no render; ``record(result)`` appends one finished job; ``journal()`` makes a
    worker's intents journal. Example::

        m = Manifest("out/.aigif-run.jsonl")
        todo = [j for j in jobs if not m.done(j)]
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.intents_dir = self.path + ".intents"
        self._lock = threading.Lock()
        self.records: dict[str, dict] = {}
        self.intents: dict[tuple[str, str], str] = {}
        self.reload()

    def reload(self) -> None:
        self.records.clear()
        self.intents.clear()
        for d in _lines(Path(self.path)):
            if "dst" in d and "status" in d:
                self.records[d["dst"]] = d
        folder = Path(self.intents_dir)
        if folder.is_dir():
            for p in sorted(folder.glob("*.jsonl")):
                for d in _lines(p):
                    if {"dst", "key", "out_sha256"} <= set(d):
                        self.intents[(d["dst"], d["key"])] = d["out_sha256"]

    def journal(self, name: str | None = None) -> Journal:
        return Journal(self.intents_dir, name)

    def done(self, job: Job) -> str | None:
        """The output's sha256 when ``job`` is already done (manifest or intent agree with
        the file on disk), else None."""
        want = set()
        r = self.records.get(job.dst)
        if r and r.get("status") == "done" and r.get("key") == job.key and r.get("out_sha256"):
            want.add(r["out_sha256"])
        if (job.dst, job.key) in self.intents:
            want.add(self.intents[(job.dst, job.key)])
        if not want:
            return None
        have = sha256_of(job.dst)
        return have if have in want else None

    def record(self, res: ItemResult, **extra: Any) -> None:
        d = {k: v for k, v in res.to_dict().items() if v not in (None, [], "", False)}
        d.update(status=res.status, t=round(time.time(), 3), **extra)
        with self._lock:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            _append(self.path, d)
            self.records[res.dst] = d

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records.values():
            out[r["status"]] = out.get(r["status"], 0) + 1
        return out
