"""The residual layer over regenerated frames (spec 6.7, for a video file).

A video file's RESIDUAL element has the image residual's body (``aigif.codecs.residual``:
method, step, base digest, codec, data) with a video codec (spec 6.2, video payloads) as
its inner codec: the inner *video* has the base's frame count and size, and its sample
``v`` refines the regenerated frames (the *base*) sample by sample exactly as for an image:

* method 0 (a lossless video codec: ffv1, or vp9 / h264 coded lossless), step 1:
  ``(base + v - 128) mod 256``, every frame exact; step s > 1:
  ``clip(base + (v - 128) * s, 0, 255)``;
* method 1 (a lossy video codec at some crf): ``clip(base + v - 128, 0, 255)``.

The base digest is the first 4 bytes of SHA-256 over ASCII ``"W H T "`` (decimal width,
height, frame count) and the base frames' RGB8 rows, frame after frame.

``choose_video_encoding`` measures, per codec, the pixel payload and the residual of the
same frames and keeps the smallest that reaches the target (``EXACT``: every sample), so a
file carries a residual only where it is smaller than pixels. Needs numpy and PyAV
(``pip install 'aigif[video]'``).

Example::

    >>> r = encode_video_residual(original, regenerated, fps=8)          # doctest: +SKIP
    >>> (apply_video_residual(regenerated, r) == original).all()
    True
"""
from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..container import FileData, Payload
from ..errors import CodecError, PlatformMismatchWarning
from ..io import dumps
from ..meta import GenerationMeta
from .residual import EXACT, LOSSY, QUANTIZED, _pack, _quantize, _reconstruct, residual_info
from .pixels import BASE_DIGEST_BYTES
from .video import (Frames, as_fps, as_frames, decode_video_payload, encode_video_payload,
                    probe_video_payload)

__all__ = ["video_base_digest", "encode_video_residual", "apply_video_residual",
           "choose_video_encoding", "encode_video_hybrid", "video_psnr", "VideoDecision",
           "EXACT"]


def _frames(v: Any) -> np.ndarray:
    return as_frames(getattr(v, "frames", v))


def video_base_digest(frames: Any) -> bytes:
    """The residual element's base digest of frames (uint8 ``[T, H, W, 3]`` or VideoFrames):
    SHA-256 over ``"W H T "`` and the RGB8 rows of every frame, first 4 bytes."""
    a = _frames(frames)
    t, h, w, _ = a.shape
    d = hashlib.sha256(b"%d %d %d " % (w, h, t))
    d.update(a.tobytes())
    return d.digest()[:BASE_DIGEST_BYTES]


def video_psnr(a: Any, b: Any) -> float:
    """PSNR in dB over all samples of two clips (``inf`` when identical). CodecError when
    their shapes differ."""
    x, y = _frames(a), _frames(b)
    if x.shape != y.shape:
        raise CodecError(f"clips differ in shape: {list(x.shape)} vs {list(y.shape)}")
    mse = float(np.mean((x.astype(np.int32) - y.astype(np.int32)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def encode_video_residual(original: Frames, base: Frames, fps: Any, codec: str = "ffv1", *,
                          crf: int | None = None, lossless: bool | None = None,
                          step: int = 1) -> bytes:
    """The RESIDUAL element body that turns ``base`` (the regenerated frames) into
    ``original``. ``codec``: a video codec; with ``lossless`` (the default for ffv1) the
    difference is quantized with ``step`` (1: exact) and coded losslessly (method 0), else
    ``difference + 128`` is coded at ``crf`` (method 1). ``fps``: the inner video's rate
    (the clip's). Raises CodecError (shapes differ, codec or settings refused).
    """
    o, b = _frames(original), _frames(base)
    if o.shape != b.shape:
        raise CodecError(f"original {list(o.shape)} and base {list(b.shape)} differ in shape")
    if lossless is None:
        lossless = codec == "ffv1"
    diff = o.astype(np.int16) - b.astype(np.int16)
    if lossless:
        if not 1 <= step <= 64:
            raise CodecError(f"residual step {step} is out of range 1..64")
        method, inner = QUANTIZED, _quantize(diff, step)
    else:
        method, step, inner = LOSSY, 1, np.clip(diff + 128, 0, 255).astype(np.uint8)
    p = encode_video_payload(inner, fps, codec, crf=None if lossless else crf,
                             lossless=lossless and codec != "ffv1")
    return _pack(method, step, video_base_digest(b), p.codec, p.data)


def apply_video_residual(base: Any, data: bytes, *, strict: bool = False) -> Any:
    """Add a video residual to the regenerated frames ``base`` (a VideoFrames, returned as
    one, or a uint8 array ``[T, H, W, 3]``, returned as one).

    When ``base`` is not the clip the residual was made against (its digest differs),
    warns PlatformMismatchWarning, or raises CodecError if ``strict``. Raises CodecError
    for a corrupt residual, an image codec inside, or a frame count / size mismatch
    (checked from the inner container's header, before decoding), LimitExceededError
    over the limits.
    """
    info = residual_info(data)
    b = _frames(base)
    if video_base_digest(b) != info.base_digest:
        msg = ("the regenerated frames differ from the ones the residual was made against: "
               "the refined frames will not reach the encoder's fidelity")
        if strict:
            raise CodecError(msg)
        warnings.warn(msg, PlatformMismatchWarning, stacklevel=2)
    inner = Payload(info.codec, bytes(data[info.header_bytes:]))
    t, h, w, _ = b.shape
    pw, ph, pt, _ = probe_video_payload(inner)     # CodecError for an image codec
    if (pw, ph, pt) != (w, h, t):
        raise CodecError(f"residual video is {pt} frames of {pw}x{ph}, the base {t} frames "
                         f"of {w}x{h}")
    v, _ = decode_video_payload(inner)
    out = _reconstruct(b, v, info.method, info.step)
    if hasattr(base, "frames") and hasattr(base, "fps"):
        return type(base)(out, base.fps)
    return out


# --------------------------------------------------------------------------- decision
@dataclass(frozen=True)
class VideoCandidate:
    """One way to store the clip: ``mode`` "syntax" / "residual" / "pixels", ``codec``,
    ``bytes`` (of the element body or payload), ``psnr`` reached."""

    mode: str
    codec: str
    bytes: int
    psnr: float


@dataclass
class VideoDecision:
    """What ``choose_video_encoding`` kept: ``mode``, ``bytes``, ``psnr``; ``residual``
    (element body) or ``payload`` (Payload); every ``candidates`` entry."""

    mode: str
    bytes: int
    psnr: float
    regen_psnr: float
    residual: bytes | None = None
    payload: Payload | None = None
    candidates: list[VideoCandidate] = field(default_factory=list)

    def report(self) -> str:
        t = lambda p: "exact" if p == math.inf else f"{p:.2f} dB"   # noqa: E731
        lines = [f"chose {self.mode} ({self.bytes} B, {t(self.psnr)}); regeneration alone "
                 f"{t(self.regen_psnr)}"]
        for c in sorted(self.candidates, key=lambda c: c.bytes):
            lines.append(f"  {c.mode:<9} {c.bytes:>8} B  {t(c.psnr):>9}  {c.codec}")
        return "\n".join(lines)


def choose_video_encoding(original: Frames, regenerated: Frames | None, fps: Any, *,
                          target_psnr: float = EXACT, codecs: Sequence[str] = ("ffv1",),
                          crf: int | None = None) -> VideoDecision:
    """Measure the ways to store ``original`` (frames) and keep the smallest that reaches
    ``target_psnr`` (``EXACT``: every sample): "syntax" (the regeneration alone reaches
    it: 0 bytes), a "residual" over ``regenerated`` or the "pixels" payload, per codec in
    ``codecs`` (ffv1: exact; vp9 / h264: exact when ``target_psnr`` is EXACT, else at
    ``crf``; av1 / h265: at ``crf``). Raises CodecError when nothing reaches the target.
    """
    o = _frames(original)
    rate = as_fps(fps)
    cands: list[tuple[VideoCandidate, Any]] = []
    regen_psnr = -math.inf
    if regenerated is not None:
        r = _frames(regenerated)
        regen_psnr = video_psnr(o, r)
        cands.append((VideoCandidate("syntax", "-", 0, regen_psnr), None))
    exact = target_psnr == EXACT
    for key in codecs:
        lossless = exact or key == "ffv1"
        if lossless and key in ("av1", "h265"):
            continue                       # no exact mode: cannot reach EXACT
        p = encode_video_payload(o, rate, key, crf=None if lossless else crf,
                                 lossless=lossless and key != "ffv1")
        got = o if lossless else decode_video_payload(p)[0]
        cands.append((VideoCandidate("pixels", key, len(p.data), video_psnr(o, got)), p))
        if regenerated is not None:
            body = encode_video_residual(o, r, rate, key, crf=crf, lossless=lossless)
            got = o if lossless else apply_video_residual(r, body)
            cands.append((VideoCandidate("residual", key, len(body), video_psnr(o, got)),
                          body))
    ok = [(c, x) for c, x in cands if c.psnr >= target_psnr]
    if not ok:
        raise CodecError(f"no candidate reaches {target_psnr} dB: "
                         + ", ".join(f"{c.mode} {c.codec} {c.psnr:.2f} dB" for c, _ in cands))
    best, x = min(ok, key=lambda cx: cx[0].bytes)
    return VideoDecision(best.mode, best.bytes, best.psnr, regen_psnr,
                         residual=x if best.mode == "residual" else None,
                         payload=x if best.mode == "pixels" else None,
                         candidates=[c for c, _ in cands])


def encode_video_hybrid(meta: GenerationMeta | None, original: Frames,
                        regenerated: Frames | None, fps: Any = None, *,
                        keep_syntax: bool = True, **choose_kw: Any
                        ) -> tuple[FileData, VideoDecision]:
    """The smallest file that gives ``original`` at the target (``choose_video_encoding``):
    ``(FileData, VideoDecision)``. ``fps``: the clip's rate (default: the meta's
    ``video.fps``). A pixels-mode file keeps the syntax unless ``keep_syntax=False``."""
    if fps is None:
        fps = getattr(original, "fps", None) or (meta.video.fps if meta is not None and
                                                 meta.video is not None else None)
    if fps is None:
        raise CodecError("give fps= (the clip's frame rate)")
    if meta is None:
        regenerated = None
    d = choose_video_encoding(original, regenerated, fps, **choose_kw)
    if d.mode == "syntax":
        return FileData(meta=meta), d
    if d.mode == "residual":
        return FileData(meta=meta, residual=d.residual), d
    f = FileData(meta=meta if keep_syntax else None, payload=d.payload)
    dumps(f)      # refuse here what the writer refuses (e.g. a payload of another kind)
    return f, d

