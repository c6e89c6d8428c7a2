"""What a scale run is made of: jobs (one input -> one output), their group keys, the
inputs' fingerprints, and the record of one finished job.

Inputs are local paths or fsspec URLs (``memory://``, ``s3://``... read with
``fsspec.open`` when fsspec is installed); ``read_list`` reads a list file (one path or
URL a line, or JSONL ``{"src": ..., "dst": ...}``). This module imports no torch.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..document import loads
from ..errors import AigifError, FileAccessError, MissingDependencyError

__all__ = ["Job", "ItemResult", "plan", "read_list", "group_key", "read_bytes",
           "is_url", "options_digest"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Largest input read (a .aigif file is at most 16 MiB by the format's limits).
MAX_INPUT_BYTES = 64 << 20


def is_url(s: str) -> bool:
    """True for ``scheme://...`` (an fsspec URL); ``file://`` counts as one too."""
    return bool(_URL.match(s))


def read_bytes(src: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a local path or fsspec URL (at most ``limit``); AigifError otherwise."""
    try:
        if is_url(src):
            try:
                import fsspec
            except ImportError as e:
                raise MissingDependencyError(f"{src}: reading URLs needs fsspec "
                                             f"(pip install fsspec)") from e
            with fsspec.open(src, "rb") as fh:
                data = fh.read(limit + 1)
        else:
            with open(src, "rb") as fh:
                data = fh.read(limit + 1)
    except AigifError:
        raise
    except (OSError, ValueError) as e:
        raise FileAccessError(f"cannot read {src}: {getattr(e, 'strerror', None) or e}") from e
    if len(data) > limit:
        raise FileAccessError(f"{src} is larger than {limit} bytes")
    return data


@dataclass(frozen=True)
class Job:
    """One input and where its image goes. ``key``: the input's fingerprint (sha256 of its
    bytes and the run's render options), what the manifest matches on; ``group``: the
    pipeline it needs (``group_key``), jobs of one group share one loaded pipeline."""

    src: str
    dst: str
    key: str = ""
    group: tuple = ()
    index: int = 0


@dataclass
class ItemResult:
    """What became of one job: ``status`` is ``"done"``, ``"skipped"`` (already done by
    an earlier run: the manifest and the output agree), or ``"failed"`` (``error`` says
    why). ``exact``: the pixels match the file's fingerprint (None: no fingerprint);
    ``approximate``: rendered in a batch whose pixels may differ from a single render, or
    with skipped stages; ``worker``: which worker; ``load``: that render loaded a pipeline."""

    src: str
    dst: str
    status: str
    key: str = ""
    exact: bool | None = None
    approximate: bool = False
    source: str = "render"
    seconds: float = 0.0
    out_sha256: str | None = None
    error: str | None = None
    worker: str = ""
    load: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ItemResult":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def group_key(meta: Any, dtype: str | None = None) -> tuple:
    """What a render needs loaded: (generator, model, revision, dtype, width, height,
    stage kinds, LoRAs). Files with one key share a pipeline and may share a batch."""
    if meta is None:
        return ("pixels",)
    plat_dtype = getattr(meta.platform, "dtype", None) if meta.platform else None
    return (meta.generator, meta.model, meta.model_revision or "",
            str(dtype or plat_dtype or ""), meta.width, meta.height,
            tuple(getattr(s, "name", type(s).__name__) for s in meta.stages),
            tuple(sorted(repr(lo) for lo in meta.loras)))


def options_digest(options: dict) -> str:
    """A short digest of the render options that change pixels (device, dtype...)."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()
                          ).hexdigest()[:16]


def read_list(path: str | os.PathLike) -> list:
    """The inputs a list file names: one path or URL a line (``#`` comments and blank
    lines skipped), or JSONL objects ``{"src": ..., "dst": ...}`` (``dst`` optional).
    Relative paths are taken relative to the list file's folder."""
    base = Path(path).parent
    out: list = []
    for n, line in enumerate(read_bytes(os.fspath(path)).decode("utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                d = json.loads(line)
                src, dst = d["src"], d.get("dst")
            except (ValueError, KeyError, TypeError) as e:
                raise AigifError(f"{path}:{n}: expected {{\"src\": ...}}: {e}") from e
            out.append((_rel(src, base), dst and _rel(dst, base)) if dst else _rel(src, base))
        else:
            out.append(_rel(line, base))
    return out


def _rel(s: str, base: Path) -> str:
    return s if is_url(s) or os.path.isabs(s) else os.fspath(base / s)


def _stem(src: str) -> str:
    name = src.rstrip("/").rsplit("/", 1)[-1] if is_url(src) else Path(src).name
    return name[:-6] if name.lower().endswith(".aigif") else Path(name).stem


def plan(inputs: Iterable[Any], output: str | os.PathLike, *, suffix: str = ".png",
         options: dict | None = None, video_suffix: str = ".mp4"
         ) -> tuple[list[Job], list[ItemResult]]:
    """Jobs for ``inputs`` (paths, URLs, or ``(src, dst)`` pairs) writing into folder
    ``output``: ``<stem><suffix>`` each, ``<stem><video_suffix>`` for a video file (a
    video file, ``.mp4`` by default; ``aigif.codecs.video.writers``). Reads every input
    once (its fingerprint and group key). Returns ``(jobs, failures)``: an input that
    cannot be read or parsed, or whose output another input already takes, is a failure,
    never an exception."""
    out = os.fspath(output)
    digest = options_digest(options or {})
    jobs: list[Job] = []
    failed: list[ItemResult] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(inputs):
        src, dst = (item if isinstance(item, (tuple, list)) else (item, None))
        src = os.fspath(src)
        f = err = None
        try:
            data = read_bytes(src)
            f = loads(data, strict=False)
            gk = group_key(f.meta, (options or {}).get("dtype"))
        except AigifError as e:
            err = e
        sfx = video_suffix if f is not None and f.is_video else suffix
        dst = os.fspath(dst) if dst else (f"{out.rstrip('/')}/{_stem(src)}{sfx}"
                                          if is_url(out) else
                                          os.path.join(out, _stem(src) + sfx))
        k = os.path.normcase(os.path.normpath(dst)).casefold()
        if k in seen:
            failed.append(ItemResult(src, dst, "failed", error=f"{seen[k]} is written to "
                                     f"{dst} too; give inputs of one name distinct outputs"))
            continue
        seen[k] = src
        if err is not None:
            failed.append(ItemResult(src, dst, "failed", error=str(err)))
            continue
        key = hashlib.sha256(data).hexdigest() + ":" + digest
        jobs.append(Job(src, dst, key, gk, i))
    return jobs, failed


def order(jobs: Sequence[Job]) -> list[Job]:
    """Jobs sorted by group (largest group first), then input order."""
    sizes: dict[tuple, int] = {}
    for j in jobs:
        sizes[j.group] = sizes.get(j.group, 0) + 1
    return sorted(jobs, key=lambda j: (-sizes[j.group], repr(j.group), j.index))
