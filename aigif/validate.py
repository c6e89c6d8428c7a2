"""Semantic checks of an AIGIF file -> a report of issues.

``validate`` never raises for bad file content: every problem becomes an ``Issue`` with a
stable code, the field path, the byte offset and a message. ``report.ok`` is False when
any issue has severity "error"; warnings say what makes a file less useful (for example
no seed: the image cannot be regenerated exactly).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import errors, spec

__all__ = ["Issue", "ValidationReport", "validate"]


@dataclass(frozen=True)
class Issue:
    code: str
    message: str
    field: str | None = None
    offset: int | None = None
    severity: str = "error"          # "error" or "warning"

    def __str__(self) -> str:
        where = []
        if self.field:
            where.append(self.field)
        if self.offset is not None:
            where.append(f"byte {self.offset}")
        loc = f" [{', '.join(where)}]" if where else ""
        return f"{self.severity}: {self.code}{loc}: {self.message}"


@dataclass
class ValidationReport:
    source: str
    issues: list[Issue] = field(default_factory=list)
    file: Any = None                 # the AigifFile when it could be read

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    def to_dict(self) -> dict:
        return {"source": self.source, "ok": self.ok,
                "issues": [{"code": i.code, "severity": i.severity, "field": i.field,
                            "offset": i.offset, "message": i.message} for i in self.issues]}


def validate(src: Any, *, strict: bool = True) -> ValidationReport:
    """Check a file (path, bytes or binary file object) against the spec.

    Returns a ValidationReport; raises nothing for bad content (only TypeError for an
    argument of the wrong type).

    Example::

        report = aigif.validate("castle.aigif")
        if not report.ok:
            for issue in report.issues: print(issue)
    """
    from .io import _to_bytes, dumps, loads
    name = src if isinstance(src, str) else getattr(src, "name", None) or "<bytes>"
    report = ValidationReport(str(name))
    try:
        data = _to_bytes(src)
        f = loads(data, strict=strict)
    except errors.AigifError as e:
        report.issues.append(Issue(e.code, e.message, e.field, e.offset))
        return report
    report.file = f
    meta = f.meta
    warn = report.issues.append
    if meta is not None:
        if meta.seed is None:
            warn(Issue("no-seed", "no seed is recorded: the image cannot be regenerated exactly",
                       "seed", severity="warning"))
        hub = "/" in meta.model and not meta.model.startswith(("local:", "ckpt:"))
        if hub and not meta.model_revision:
            warn(Issue("unpinned-model", f"hub model {meta.model!r} has no pinned revision: "
                       "regeneration may change when the repository changes", "model_revision",
                       severity="warning"))
        if meta.model.startswith("ckpt:"):
            warn(Issue("unresolved-model", f"checkpoint {meta.model[5:]!r} is known only by name; "
                       "it cannot be loaded automatically", "model", severity="warning"))
    if f.fingerprint is not None and f.fingerprint.algo not in set(spec.FingerprintAlgo):
        warn(Issue("unknown-fingerprint", f"fingerprint algorithm {f.fingerprint.algo} is not "
                   "known: exactness cannot be checked", "fingerprint", severity="warning"))
    if f.payload is not None and f.payload.codec.startswith("codec-"):
        warn(Issue("unknown-codec", f"pixel payload codec {f.payload.codec[6:]} is not known "
                   "here", "pixels", severity="warning"))
    for el in f.unknown_elements:
        warn(Issue("unknown-element", f"ancillary element {el.type_id} ({len(el.data)} bytes) is "
                   "unknown to this reader; kept as is", f"elements[{el.type_id}]",
                   severity="warning"))
    try:
        if dumps(f) != data:
            warn(Issue("non-canonical", "re-encoding gives other bytes (the text coder or "
                       "compressor version differs, or the writer is not canonical)",
                       severity="warning"))
    except errors.AigifError as e:
        warn(Issue("rewrite-failed", f"the file cannot be re-encoded: {e.message}",
                   e.field, severity="warning"))
    return report
