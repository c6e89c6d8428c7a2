"""The residual (refinement) layer, and the encoder's syntax / residual / pixels decision.

When the regenerated image (the *base*) differs from the original (another GPU, dtype,
library version, light edits), the RESIDUAL element carries the difference so the decoded
image reaches a target fidelity. Body of the element (all integers LEB128 varints)::

    method   u8     0 = quantized difference, coded as a lossless image
                    1 = difference + 128, coded with a lossy codec
    step     varint (method 0 only) quantizer step; 1 = exact reconstruction
    base     4 B    first bytes of SHA-256 over the base image (RGB8), to detect a base
                    that differs from the one the residual was made against
    codec    varint pixel codec code (aigif.spec.PixelCodec) of the inner image
    data     ...    the inner image: RGB, same size as the base

Reconstruction, per RGB sample, with ``v`` the inner image's value:
method 0, step 1: ``(base + v - 128) mod 256`` (exact); step s > 1:
``clip(base + (v - 128) * s, 0, 255)``; method 1: ``clip(base + v - 128, 0, 255)``.

Needs numpy and Pillow (``pip install 'aigif[images]'``).

Example::

    >>> d = choose_encoding(original, regenerated, target_psnr=40.0)   # doctest: +SKIP
    >>> d.mode, d.bytes, round(d.psnr, 2)
    ('residual', 2210, 40.31)
"""
from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image

from ..bitstream.elements import ResidualBody, ResidualHeader
from ..bitstream.primitives import FieldError
from ..container import FileData, Payload
from ..errors import CodecError, MissingDependencyError, PlatformMismatchWarning
from ..io import dumps
from . import codec_for_code, get_codec
from .pixels import base_digest, psnr, rgb8

__all__ = ["encode_residual", "apply_residual", "residual_info", "choose_encoding", "encode_hybrid",
           "check_effort", "psnr", "Decision", "Candidate", "ResidualInfo", "EXACT"]

#: ``target_psnr=EXACT`` asks for bit-exact pixels.
EXACT = math.inf
QUANTIZED, LOSSY = 0, 1
_MAX_STEP = 64


# --------------------------------------------------------------------------- helpers
_rgb = rgb8
_digest = base_digest


def _quantize(diff: np.ndarray, step: int) -> np.ndarray:
    """Indices (uint8, offset 128) of the difference for a step (1: modulo-256 exact)."""
    if step == 1:
        return ((diff + 128) & 0xFF).astype(np.uint8)
    q = np.clip(np.floor(diff / step + 0.5), -128, 127).astype(np.int16)
    return (q + 128).astype(np.uint8)


def _reconstruct(base: np.ndarray, v: np.ndarray, method: int, step: int) -> np.ndarray:
    b = base.astype(np.int16)
    d = v.astype(np.int16) - 128
    if method == QUANTIZED and step == 1:
        return ((b + d) & 0xFF).astype(np.uint8)
    return np.clip(b + d * (step if method == QUANTIZED else 1), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- format
@dataclass(frozen=True)
class ResidualInfo:
    """The header of a residual: method, step, base digest, inner codec key, inner size."""

    method: int
    step: int
    base_digest: bytes
    codec: str
    header_bytes: int


def residual_info(data: bytes) -> ResidualInfo:
    """Parse a residual's header (``bitstream.elements.ResidualHeader``; no pixel decoding).
    Raises CodecError when malformed."""
    data = bytes(data)
    if not data:
        raise CodecError("residual is empty")
    stream = io.BytesIO(data)
    try:
        h = ResidualHeader.parse_stream(stream)
    except FieldError as e:
        raise CodecError(e.message, offset=0) from None
    except Exception as e:  # construct: StreamError (truncated) and kin
        raise CodecError(f"residual header is truncated or malformed: {e}") from None
    step = 1 if h.method == LOSSY else h.step
    if not 1 <= step <= _MAX_STEP:
        raise CodecError(f"residual step {step} is out of range 1..{_MAX_STEP}", offset=1)
    return ResidualInfo(h.method, step, bytes(h.base), codec_for_code(h.codec).key,
                        stream.tell())


def _pack(method: int, step: int, digest: bytes, codec: str, inner: bytes) -> bytes:
    return ResidualBody.build({"method": method, "step": step if method == QUANTIZED else None,
                               "base": digest, "codec": get_codec(codec).code, "data": inner})


def apply_residual(base: Image.Image, data: bytes, *, strict: bool = False) -> Image.Image:
    """Add a residual to the regenerated ``base`` image; returns the refined RGB image.

    When ``base`` is not the image the residual was made against (its digest differs),
    warns PlatformMismatchWarning, or raises CodecError if ``strict``. Raises CodecError
    for a corrupt residual or a size mismatch, LimitExceededError over the pixel limits.
    """
    info = residual_info(data)
    b = _rgb(base)
    if _digest(b) != info.base_digest:
        msg = ("the regenerated image differs from the one the residual was made against: "
               "the refined image will not reach the encoder's fidelity")
        if strict:
            raise CodecError(msg)
        warnings.warn(msg, PlatformMismatchWarning, stacklevel=2)
    codec = get_codec(info.codec)
    if not codec.available():
        raise MissingDependencyError(f"the residual is coded with {codec.key}, which is not "
                                     f"installed: pip install 'aigif[{codec.extra}]'")
    if codec.probe(data[info.header_bytes:]) != (b.shape[1], b.shape[0]):
        raise CodecError(f"residual image size does not match the base "
                         f"{b.shape[1]}x{b.shape[0]}")
    v = _rgb(codec.decode(data[info.header_bytes:]))
    return Image.fromarray(_reconstruct(b, v, info.method, info.step), "RGB")


# --------------------------------------------------------------------------- encoder
def _encode_inner(v: np.ndarray, inner: Sequence[str]) -> tuple[str, bytes]:
    im = Image.fromarray(v, "RGB")
    best: tuple[str, bytes] | None = None
    for key in inner:
        c = get_codec(key)
        if not c.available():
            continue
        data = c.encode(im, lossless=True, effort=_LOSSLESS_EFFORT.get(key))
        if best is None or len(data) < len(best[1]):
            best = (key, data)
    if best is None:
        raise CodecError(f"none of the residual codecs {list(inner)} is available")
    return best


_LOSSLESS_EFFORT = {"webp": 4, "jxl": 7, "png": 6}


def encode_residual(original: Image.Image, base: Image.Image, target_psnr: float = EXACT, *,
                    inner: Sequence[str] = ("jxl", "webp"),
                    lossy_codecs: Sequence[str] = ("avif", "jxl")) -> tuple[bytes, float]:
    """Code ``original - base`` so that ``apply_residual(base, r)`` reaches ``target_psnr``.

    ``target_psnr=EXACT`` gives bit-exact pixels. Tries a quantized difference (largest
    step that meets the target, coded losslessly with each of ``inner``) and, for finite
    targets, the difference coded with each of ``lossy_codecs`` (lowest quality that meets
    the target); returns ``(residual bytes, achieved PSNR)`` of the smallest.
    """
    o, b = _rgb(original), _rgb(base)
    if o.shape != b.shape:
        raise CodecError(f"original {o.shape[1]}x{o.shape[0]} and base {b.shape[1]}x"
                         f"{b.shape[0]} differ in size")
    digest = _digest(b)
    diff = o.astype(np.int16) - b.astype(np.int16)
    cands: list[tuple[bytes, float]] = []

    # method 0: largest step whose reconstruction meets the target (PSNR needs no coding)
    def q_psnr(s: int) -> float:
        return psnr(o, _reconstruct(b, _quantize(diff, s), QUANTIZED, s))

    step = 1
    if math.isfinite(target_psnr):
        lo, hi = 1, _MAX_STEP
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if q_psnr(mid) >= target_psnr:
                lo = mid
            else:
                hi = mid - 1
        step = lo
    v = _quantize(diff, step)
    key, data = _encode_inner(v, inner)
    cands.append((_pack(QUANTIZED, step, digest, key, data), q_psnr(step)))

    # method 1: lossy codec on the clipped difference, lowest quality meeting the target
    if math.isfinite(target_psnr):
        r = Image.fromarray(np.clip(diff + 128, 0, 255).astype(np.uint8), "RGB")
        for key in lossy_codecs:
            c = get_codec(key)
            if not c.available():
                continue

            def trial(q: int) -> tuple[bytes, float]:
                d = c.encode(r, quality=q, **_LOSSY_OPTS.get(key, {}))
                rec = _reconstruct(b, _rgb(c.decode(d)), LOSSY, 1)
                return d, psnr(o, rec)

            got = _lowest_quality(trial, target_psnr)
            if got is not None:
                cands.append((_pack(LOSSY, 1, digest, key, got[0]), got[1]))
    return min(cands, key=lambda c: len(c[0]))


_LOSSY_OPTS = {"avif": {"subsampling": "4:4:4"}}
#: settings tried, in order, when a codec's defaults cannot reach the target
_HIGH_FIDELITY = {"avif": ({"subsampling": "4:4:4"},)}


def _lowest_quality(trial, target: float, lo: int = 0, hi: int = 100):
    """Bisection over quality for the smallest output meeting ``target`` (None if none)."""
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        data, p = trial(mid)
        if p >= target:
            best = (data, p)
            hi = mid - 1
        else:
            lo = mid + 1
    return best


@dataclass(frozen=True)
class Candidate:
    """One way to store the image: mode, bytes beyond the syntax, PSNR reached, detail."""

    mode: str            # "syntax", "residual" or "pixels"
    bytes: int
    psnr: float
    detail: str = ""
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Decision:
    """What ``choose_encoding`` picked and why.

    ``mode`` is "syntax" (regeneration alone meets the target), "residual" (syntax plus
    ``residual``) or "pixels" (``payload``, a Payload, instead of regeneration).
    ``bytes`` counts what the chosen mode adds to the syntax (plus ``syntax_bytes``
    for the syntax modes); ``candidates`` lists every option that was measured.
    """

    mode: str
    bytes: int
    psnr: float
    target_psnr: float
    residual: bytes | None
    payload: object | None
    candidates: tuple[Candidate, ...]
    #: PSNR of the regenerated image alone (None when there was none)
    regen_psnr: float | None = None

    def report(self) -> str:
        t = "exact" if math.isinf(self.target_psnr) else f"{self.target_psnr:g} dB"
        lines = [f"target {t}: chose {self.mode} ({self.bytes} B, {_fmt(self.psnr)})"
                 + ("" if self.regen_psnr is None else
                    f"; regeneration alone {_fmt(self.regen_psnr)}")]
        for c in self.candidates:
            lines.append(f"  {c.mode:<8} {c.bytes:>8} B  {_fmt(c.psnr):>9}  {c.detail}")
        return "\n".join(lines)


def _fmt(p: float) -> str:
    return "exact" if math.isinf(p) else f"{p:.2f} dB"


def choose_encoding(original: Image.Image, regenerated: Image.Image | None,
                    target_psnr: float = 40.0, *, syntax_bytes: int = 0,
                    codecs: Iterable[str] = ("avif", "jxl", "webp"),
                    lossless_codecs: Iterable[str] = ("jxl", "webp", "png"),
                    residual_inner: Sequence[str] = ("jxl", "webp"),
                    residual_lossy: Sequence[str] = ("avif", "jxl"),
                    pixels_keep_syntax: bool = False, effort: int | None = None) -> Decision:
    """Pick syntax-only, syntax + residual or pixels-only: the smallest meeting the target.

    ``regenerated`` is the image the decoder will regenerate (None: no syntax, pixels
    only). ``syntax_bytes`` is the size of the file without pixels or residual; it is
    added to the two syntax modes (and to pixels when ``pixels_keep_syntax``). ``target_psnr=EXACT`` asks for bit-exact pixels.
    Pixels-only takes, per codec, the lowest quality that meets the target (lossless
    codecs for EXACT). ``effort``: the pixel codecs' speed/size setting, on each codec's
    own scale (``Codec.effort_range``; None: each codec's default); it goes to every codec
    tried for pixels mode (not to the residual's codecs). Returns a Decision;
    ``Decision.report()`` is a readable table. Raises CodecError when no codec reaches the
    target, or when ``effort`` is outside the range of a codec to try (naming it).
    """
    pixel_keys = tuple(lossless_codecs if not math.isfinite(target_psnr) else codecs)
    check_effort(target_psnr, effort, codecs=pixel_keys, lossless_codecs=pixel_keys)
    o = _rgb(original)
    cands: list[Candidate] = []
    exact = not math.isfinite(target_psnr)
    p0 = None
    if regenerated is not None:
        p0 = psnr(o, _rgb(regenerated))
        if p0 >= target_psnr:
            cands.append(Candidate("syntax", syntax_bytes, p0, "regeneration alone"))
        else:
            r, p = encode_residual(original, regenerated, target_psnr, inner=residual_inner,
                                   lossy_codecs=() if exact else residual_lossy)
            info = residual_info(r)
            how = ("exact" if info.method == QUANTIZED and info.step == 1 else
                   f"step {info.step}" if info.method == QUANTIZED else "lossy")
            cands.append(Candidate("residual", syntax_bytes + len(r), p,
                                   f"{how}, {info.codec}", r))
    im = Image.fromarray(o, "RGB")
    for key in pixel_keys:
        c = get_codec(key)
        if not c.available():
            continue
        lossless_effort = _LOSSLESS_EFFORT.get(key) if effort is None else effort
        if exact:
            data = c.encode(im, lossless=True, effort=lossless_effort)
            got = (data, math.inf)
        else:
            for opts in ({}, *_HIGH_FIDELITY.get(key, ())):
                def trial(q: int, c=c, opts=opts) -> tuple[bytes, float]:
                    d = c.encode(im, quality=q, effort=effort, **opts)
                    return d, psnr(o, _rgb(c.decode(d)))
                got = _lowest_quality(trial, target_psnr)
                if got is not None:
                    break
            if got is None and c.lossless:  # lossy mode cannot reach it: lossless can
                got = (c.encode(im, lossless=True, effort=lossless_effort), math.inf)
        if got is not None:
            extra = syntax_bytes if pixels_keep_syntax else 0
            cands.append(Candidate("pixels", extra + len(got[0]), got[1], f"{key}", got[0]))
    if not cands:
        raise CodecError(f"no codec reaches {_fmt(target_psnr)}")
    best = min(cands, key=lambda c: (c.bytes, c.mode != "syntax"))
    return Decision(best.mode, best.bytes, best.psnr, target_psnr,
                    best.data if best.mode == "residual" else None,
                    Payload(best.detail, best.data) if best.mode == "pixels" else None,
                    tuple(cands), p0)


def check_effort(target_psnr: float, effort: Any, *,
                 codecs: Iterable[str] = ("avif", "jxl", "webp"),
                 lossless_codecs: Iterable[str] = ("jxl", "webp", "png"), **_: Any) -> None:
    """Check ``effort`` (None: nothing to check) against the codecs ``choose_encoding``
    tries for pixels mode at ``target_psnr`` (``lossless_codecs`` for EXACT, else
    ``codecs``; other keywords of ``choose_encoding`` are ignored), so a caller can refuse
    it before rendering. CodecError naming the first codec whose ``effort_range`` does not
    hold ``effort`` (or that has no effort setting)."""
    if effort is None:
        return
    for key in (lossless_codecs if not math.isfinite(target_psnr) else codecs):
        r = get_codec(key).effort_range
        if r is None:
            raise CodecError(f"codec {key!r} has no effort setting; effort {effort!r} "
                             f"cannot be applied to it")
        if isinstance(effort, bool) or not isinstance(effort, int) or \
                not r[0] <= effort <= r[1]:
            raise CodecError(f"effort {effort!r} is outside codec {key!r}'s effort range "
                             f"{r[0]}..{r[1]}")


def encode_hybrid(meta, original: Image.Image, regenerated: Image.Image | None,
                  target_psnr: float = 40.0, *, keep_syntax: bool = True, **choose_kw):
    """Build the smallest file content (FileData) that gives ``original`` at ``target_psnr``.

    ``meta`` is the GenerationMeta (None: pixels only); ``regenerated`` is what the decoder
    will regenerate (``aigif.document.encode_hybrid`` renders it when not given).
    ``keep_syntax`` keeps the syntax in a pixels-mode file (a few dozen bytes, so readers
    can still regenerate). Other keywords go to ``choose_encoding``. Returns
    ``(FileData, Decision)``.

    >>> f, d = encode_hybrid(meta, original, regenerated, 40.0)   # doctest: +SKIP
    >>> print(d.report()); data = aigif.dumps(f)
    """
    if meta is not None and regenerated is None:
        raise CodecError("encode_hybrid needs the regenerated image (aigif.document."
                         "encode_hybrid renders it)")
    syntax_bytes = len(dumps(meta)) if meta is not None else 0
    d = choose_encoding(original, regenerated if meta is not None else None, target_psnr,
                        syntax_bytes=syntax_bytes, pixels_keep_syntax=keep_syntax,
                        **choose_kw)
    if d.mode == "syntax":
        return FileData(meta=meta), d
    if d.mode == "residual":
        return FileData(meta=meta, residual=d.residual), d
    return FileData(meta=meta if keep_syntax else None, payload=d.payload), d
