"""Semantic checks of an AIGIF file -> a report of issues.

``validate`` never raises for bad file content: every problem becomes an ``Issue`` with a
stable code, the field path, the byte offset and a message. ``report.ok`` is False when
any issue has severity "error"; warnings say what makes a file less useful (for example
no seed: the image cannot be regenerated exactly).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from . import errors, spec
from . import io as _io
from .bitstream.elements import Body
from .bitstream.fastbody import parse_body as _fast_parse
from .io import CHECK_SIZE, HEADER_SIZE, _to_bytes, dumps, element_bodies, loads, rewrite
from .spec.models import IMAGE_TO_VIDEO_ONLY
from .textcoding import encode_text

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
    if meta is not None and meta.stages:
        _check_stages(meta.stages, warn)
    if meta is not None and meta.video is not None:
        _check_video(meta, warn)
    if f.fingerprint is not None and f.fingerprint.algo not in set(spec.FingerprintAlgo):
        warn(Issue("unknown-fingerprint", f"fingerprint algorithm {f.fingerprint.algo} is not "
                   "known: exactness cannot be checked", "fingerprint", severity="warning"))
    elif f.fingerprint is not None and \
            (f.fingerprint.algo == spec.FingerprintAlgo.SHA256_RGB8_VIDEO) != f.is_video:
        kind = "video frames" if f.is_video else "an image"
        warn(Issue("fingerprint-kind", f"fingerprint algorithm {f.fingerprint.algo} is not one "
                   f"of {kind}: it can never match this file's render", "fingerprint",
                   severity="warning"))
    if f.payload is not None and f.payload.codec.startswith("codec-"):
        warn(Issue("unknown-codec", f"pixel payload codec {f.payload.codec[6:]} is not known "
                   "here", "pixels", severity="warning"))
    for el in f.unknown_elements:
        warn(Issue("unknown-element", f"ancillary element {el.type_id} ({len(el.data)} bytes) is "
                   "unknown to this reader; kept as is", f"elements[{el.type_id}]",
                   severity="warning"))
    _check_canonical(f, data, warn)
    return report


_DENOISING = ("hires", "img2img", "refiner", "detailer")
#: video fields a family may leave without a default (its pipeline does not take them)
_VIDEO_OPTIONAL = ("motion_adapter", "motion_bucket_id", "noise_aug_strength", "flow_shift",
                   "decode_chunk_size")


def _check_video(meta, warn) -> None:
    """Semantics of the video fields (spec "Syntax: video"): the limits hold already (the
    reader refuses frames over ``MAX_VIDEO_FRAMES`` and frames x width x height over
    ``MAX_DECOMPRESSED_PIXELS``); here: what a renderer of the family cannot apply."""
    v, d = meta.video, meta.defaults.video
    for name in _VIDEO_OPTIONAL:
        if getattr(v, name) is not None and getattr(d, name) is None:
            warn(Issue("video-field-unused", f"{name} is set but the {meta.generator} pipeline "
                       "has no such parameter: a renderer of this family cannot apply it",
                       f"video.{name}", severity="warning"))
    if v.image is None and meta.generator in IMAGE_TO_VIDEO_ONLY:
        warn(Issue("no-conditioning-image", f"{meta.generator} makes video from an image "
                   "only, and the file has none: it cannot be rendered", "video.image",
                   severity="warning"))
    if v.image is not None and v.image.codec.startswith("codec-"):
        warn(Issue("unknown-codec", f"conditioning image codec {v.image.codec[6:]} is not "
                   "known here", "video.image", severity="warning"))


def _check_stages(stages, warn) -> None:
    """Semantics of the stage list (spec "Syntax: stages"): ControlNet passes, order,
    unknown kinds."""
    for i, st in enumerate(stages):
        where = f"stages[{i}]"
        if st.name == "unknown":
            warn(Issue("unknown-stage", f"stage kind {st.kind} is unknown to this reader "
                       f"({len(st.data)} bytes kept as is): the image cannot be rendered "
                       "exactly", where, severity="warning"))
            continue
        if st.name == "controlnet":
            p = st.pass_index
            if p and (p > len(stages) or stages[p - 1].name not in _DENOISING):
                what = "does not exist" if p > len(stages) else \
                    f"is a {stages[p - 1].name} stage, not a denoising pass"
                warn(Issue("bad-stage-pass", f"controlnet conditions pass {p}, which {what}",
                           f"{where}.pass_index"))
                continue
            between = [s.name for s in stages[p:i]]
            if p > i or any(n != "controlnet" for n in between):
                warn(Issue("stage-order", f"controlnet for pass {p} is not placed right after "
                           "that pass (canonical order)", f"{where}.pass_index",
                           severity="warning"))
            if st.image is None and "preprocessor" not in st.params:
                warn(Issue("no-control-image", "controlnet has no control image and no "
                           "'preprocessor' param: a renderer cannot make its input",
                           f"{where}.image", severity="warning"))
        if st.name == "detailer":
            warn(Issue("approximate-stage", "detailer stages are recorded; renderers apply "
                       "them approximately (detection models differ)", where,
                       severity="warning"))


#: Work bounds of the canonical-form check (spec/aigif-v1.md, section 7 rationale). The
#: text coder's encoder (cm1) is superlinear and ~30x slower than its decoder, and
#: re-compressing a 64 MiB source element costs seconds and hundreds of MB: validate
#: re-encodes a text block / source element only up to these sizes, so its cost is linear
#: in the file size, and says so (a warning) when it skips one.
RECHECK_TEXT_BYTES = 16 * 1024
RECHECK_SOURCE_BYTES = 1024 * 1024


def _check_canonical(f, data: bytes, warn) -> None:
    """Warn when re-encoding ``f`` would not give ``data`` back.

    Everything but the text block and the source element (the two compressor outputs) is
    re-serialised once and compared with the file, with the file's own text block and
    source element spliced in; those two are re-encoded (same method) only when small.
    ``io.FAST``: the file is rewritten once with the two spliced in (``io.rewrite``) and
    compared whole; else (the reference) the bodies are compared through the schema.
    Both report the same issues (tests/test_io_fast.py).
    """
    if not _io.FAST:
        return _check_canonical_reference(f, data, warn)
    if not f.source:
        # the common case, without parsing the body again: the file's text block (when it
        # has one) is what follows the rewrite's bytes when the file is canonical, since
        # the same bytes parse the same way up to the text. A file that does not match
        # (or holds a SOURCE element) takes the full route below.
        has_text = f.meta is not None and f.text_method is not None
        try:
            head = rewrite(f, b"" if has_text else None, None, seal=False)
        except Exception:  # noqa: BLE001 - the full route reports it
            head = None
        if head is not None and len(head) <= len(data) - CHECK_SIZE and (
                data[:len(head)] == head if has_text else data[:-CHECK_SIZE] == head):
            text = data[len(head):-CHECK_SIZE] if has_text else None
            return _check_compressed(f, text, [], warn)
    raw = data[HEADER_SIZE:-CHECK_SIZE]
    orig = _fast_parse(raw)
    try:
        if orig is None:
            orig = Body.parse(raw)
        src_id = int(spec.Element.SOURCE)
        src_frames = [fr for fr in (orig.elements or []) if fr.type >> 1 == src_id]
        text = None if orig.text is None else bytes(orig.text)
        same = rewrite(f, text, bytes(src_frames[0].data) if src_frames else None) == data
    except Exception as e:  # noqa: BLE001 - reported, never raised
        return _rewrite_failed(e, warn)
    _compare(same, f, orig, src_frames, warn)


def _check_canonical_reference(f, data: bytes, warn) -> None:
    try:
        orig_raw = data[HEADER_SIZE:-CHECK_SIZE]
        orig = Body.parse(orig_raw)
        src_id = int(spec.Element.SOURCE)
        src_frames = [fr for fr in (orig.elements or []) if fr.type >> 1 == src_id]
        meta = f.meta
        bare = replace(f, meta=None if meta is None else replace(meta, prompt="",
                                                                 negative_prompt=""),
                       source={})
        if bare.meta is None and not (bare.payload or bare.fingerprint or bare.info or
                                      bare.residual is not None or bare.unknown_elements):
            bare = replace(bare, info={"": ""})   # only a source element: keep a frame list
            placeholder = True
        else:
            placeholder = False
        canon = Body.parse(dumps(bare)[HEADER_SIZE:-CHECK_SIZE])
        if placeholder:
            canon.elements = []
        if orig.text is not None:
            canon.presence |= int(spec.Presence.TEXT)
            canon.text = orig.text
        if src_frames:
            canon.presence |= int(spec.Presence.ELEMENTS)
            canon.elements = sorted(list(canon.elements or []) + src_frames,
                                    key=lambda fr: fr.type >> 1)
        same = Body.build(canon) == orig_raw
    except Exception as e:  # noqa: BLE001 - reported, never raised
        return _rewrite_failed(e, warn)
    _compare(same, f, orig, src_frames, warn)


def _rewrite_failed(e: Exception, warn) -> None:
    if isinstance(e, errors.AigifError):
        warn(Issue("rewrite-failed", f"the file cannot be re-encoded: {e.message}", e.field,
                   severity="warning"))
    else:   # a third-party extension schema: report, never raise
        warn(Issue("rewrite-failed", f"the file cannot be re-encoded: {type(e).__name__}: "
                   f"{e}", severity="warning"))


def _compare(same: bool, f, orig, src_frames, warn) -> None:
    if not same:
        warn(Issue("non-canonical", "re-encoding gives other bytes (the writer is not "
                   "canonical)", severity="warning"))
        return
    _check_compressed(f, None if orig.text is None else bytes(orig.text), src_frames, warn)


def _check_compressed(f, block: bytes | None, src_frames, warn) -> None:
    """Re-encode the text block and the source element (when small) and compare."""
    meta = f.meta
    if block is not None and meta is not None:
        if len(block) <= RECHECK_TEXT_BYTES or f.text_method == spec.TextMethod.UTF8:
            try:
                again = encode_text(meta.prompt, meta.negative_prompt, f.text_method)
            except errors.AigifError as e:
                again = None
                warn(Issue("rewrite-failed", f"the text block cannot be re-encoded: "
                           f"{e.message}", "text", severity="warning"))
            if again is not None and again != block:
                warn(Issue("non-canonical", "re-encoding the text block with its method gives "
                           "other bytes (the text coder version differs, or the writer is not "
                           "canonical)", "text", severity="warning"))
        else:
            warn(Issue("canonical-unchecked", f"text block of {len(block)} bytes: its coding "
                       f"is not re-checked over {RECHECK_TEXT_BYTES} bytes", "text",
                       severity="warning"))
    if src_frames:
        size = sum(len(k) + len(v) for k, v in f.source.items())
        if size <= RECHECK_SOURCE_BYTES:
            bodies = element_bodies(type(f)(meta=None, source=f.source)) if f.source else []
            again = bodies[0][2] if bodies else None   # an empty source element: never canonical
            if again != bytes(src_frames[0].data):
                warn(Issue("non-canonical", "re-encoding the source element gives other bytes "
                           "(the brotli version differs, or the writer is not canonical)",
                           "source", severity="warning"))
        else:
            warn(Issue("canonical-unchecked", f"source element of {size} characters: its "
                       f"compression is not re-checked over {RECHECK_SOURCE_BYTES}",
                       "source", severity="warning"))
