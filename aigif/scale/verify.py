"""Verified conversion: import another tool's image, regenerate it here, keep what is needed.

For each image ``convert_verified`` reads the generation metadata (``aigif.interop``),
regenerates the image where its model is available, and compares with the original
pixels: identical -> syntax only; else the existing hybrid decision
(``aigif.codecs.residual.choose_encoding``): syntax + residual when that is smaller than
pixels at the target fidelity, else pixels. Model not available -> pixels at the target
(or syntax only with ``trust_syntax=True``). Checkpoint names (``ckpt:NAME``) map to
models through ``models={"NAME": "registered-name"}``; ``ckpt:local:<hash>`` and
``ckpt:<registered name>`` map by themselves. Originals are only read.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from .. import interop
from ..container import FileData
from ..errors import AigifError, MissingDependencyError, ModelNotAvailableError, RenderError
from ..io import dumps
from ..registry import models as _models
from ..render.engine import render_file

__all__ = ["convert_verified", "verify_one", "VerifyReport", "VerifyItem", "WAYS"]

#: What a verified conversion kept, per file.
WAYS = ("syntax", "residual", "pixels", "syntax-trusted", "failed")
_LOCAL = re.compile(r"^local:[0-9a-f]{32}$")


@dataclass
class VerifyItem:
    """One converted file: ``way`` (one of WAYS), ``before``/``after`` bytes, ``psnr`` of
    what a reader gets (inf: exact), ``note`` (why), ``data`` (the .aigif bytes)."""

    src: str
    way: str
    before: int = 0
    after: int = 0
    psnr: float | None = None
    note: str = ""
    data: bytes | None = field(default=None, repr=False)


@dataclass
class VerifyReport:
    """Counts per way and bytes before/after of a verified conversion."""

    ways: dict = field(default_factory=lambda: {w: 0 for w in WAYS})
    before: int = 0
    after: int = 0

    def add(self, item: VerifyItem) -> None:
        self.ways[item.way] += 1
        if item.way != "failed":
            self.before += item.before
            self.after += item.after

    def __str__(self) -> str:
        ways = ", ".join(f"{k} {v}" for k, v in self.ways.items() if v)
        return f"verified: {ways or 'nothing'}; bytes {self.before} -> {self.after}"


def _map_model(meta: Any, mapping: dict) -> Any:
    m = meta.model
    if not m.startswith("ckpt:"):
        return meta
    name = m[len("ckpt:"):]
    new = mapping.get(name) or (name if _LOCAL.match(name) or name in _models else None)
    if new is None:
        return meta
    return meta.replace(model=new, model_revision=None)


def _image(path: str):
    from PIL import Image
    with Image.open(path) as im:
        return im.convert("RGB")


def verify_one(path: str | os.PathLike, *, target: float = math.inf,
               trust_syntax: bool = False, models: dict | None = None,
               download: bool = False, device: str | None = None) -> VerifyItem:
    """Convert one image with verification; return a VerifyItem (``data`` holds the file).
    ``target``: dB, or ``math.inf`` for exact. Raises AigifError when the image has no
    readable metadata."""
    from ..codecs.residual import choose_encoding, encode_hybrid   # numpy + Pillow
    src = os.fspath(path)
    before = os.path.getsize(src)
    r = interop.read(src)
    base = r.to_aigif(None)
    original = _image(src)
    meta = _map_model(base.meta, models or {}) if base.meta is not None else None
    regenerated, note = None, ""
    if meta is not None:
        try:
            regenerated = render_file(FileData(meta=meta), download=download, device=device,
                                      strict=False).image
        except (ModelNotAvailableError, MissingDependencyError) as e:
            note = f"model not available: {str(e).splitlines()[0]}"
        except RenderError as e:
            note = f"cannot regenerate: {e}"
    if regenerated is not None and regenerated.convert("RGB").tobytes() == original.tobytes():
        f = dataclasses.replace(base, meta=meta)
        return VerifyItem(src, "syntax", before, len(d := dumps(f)), math.inf,
                          "regenerates exactly", d)
    if regenerated is not None:
        fd, dec = encode_hybrid(meta, original, regenerated, target)
        f = dataclasses.replace(base, meta=meta, residual=fd.residual, payload=fd.payload)
        d = dumps(f)
        return VerifyItem(src, dec.mode, before, len(d), dec.psnr,
                          f"regenerated at {dec.regen_psnr:.2f} dB" if dec.regen_psnr
                          is not None and math.isfinite(dec.regen_psnr) else "", d)
    if trust_syntax and meta is not None:
        d = dumps(dataclasses.replace(base, meta=meta))
        return VerifyItem(src, "syntax-trusted", before, len(d), None, note, d)
    dec = choose_encoding(original, None, target)
    d = dumps(dataclasses.replace(base, meta=meta, payload=dec.payload))
    return VerifyItem(src, "pixels", before, len(d), dec.psnr, note, d)


def convert_verified(paths: list, *, target: float = math.inf, trust_syntax: bool = False,
                     models: dict | None = None, download: bool = False,
                     device: str | None = None, report: VerifyReport | None = None
                     ) -> Iterator[VerifyItem]:
    """``verify_one`` for each path, streamed; a failure is a ``failed`` item. Pass a
    VerifyReport to have it counted. Writing is the caller's (the CLI writes atomically).

    Example::

        rep = VerifyReport()
        for item in convert_verified(["a.png"], target=40.0, report=rep):
            open(item.src + ".aigif", "wb").write(item.data)
        print(rep)
    """
    for p in paths:
        try:
            item = verify_one(p, target=target, trust_syntax=trust_syntax, models=models,
                              download=download, device=device)
        except AigifError as e:
            item = VerifyItem(os.fspath(p), "failed", note=str(e))
        except OSError as e:
            item = VerifyItem(os.fspath(p), "failed", note=e.strerror or str(e))
        if report is not None:
            report.add(item)
        yield item
