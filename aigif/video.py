"""``Video``: what a video generation needs beyond an image's (spec/aigif-v1.md, "Syntax:
video").

A ``GenerationMeta`` of a video generator family (``animatediff``, ``cogvideox``,
``ltx_video``, ``wan``, ``text_to_video_sd``, ``hunyuan_video``, or a third party's family
registered with video defaults) always has a ``meta.video``: a ``Video`` whose fields left
``None`` took the family's frozen defaults (``spec.models.VideoDefaults``), so a file
stores only the values that differ. Image families have ``meta.video is None``.

Example::

    meta = GenerationMeta(model="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", generator="wan",
                          prompt="a cat surfing a wave", seed=42)
    assert meta.video.frames == 81 and meta.video.fps == 16
    meta = meta.replace(video=Video(frames=49, fps=Fraction(24000, 1001)))
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from fractions import Fraction
from typing import Any, Mapping

from . import spec
from .errors import MetaError
from .payload import Payload
from .registry import codec_code

__all__ = ["Video", "frame_rate", "fps_to_json"]

_CODEC_N = re.compile(r"codec-(0|[1-9][0-9]{0,18})")   # a codec code this reader does not know
_MAX_BUCKET = 65_535


def frame_rate(v: Any, name: str = "video.fps") -> Fraction:
    """``v`` (an int, a Fraction, a float or a string ``"24000/1001"`` / ``"29.97"``) as the
    exact frame rate it names; MetaError naming ``name`` when it is not one.

    A float stands for its shortest decimal form (``29.97`` -> 2997/100); pass
    ``Fraction(30000, 1001)`` (or ``"30000/1001"``) for NTSC rates.
    """
    try:
        if isinstance(v, bool) or not isinstance(v, (int, float, str, Fraction)):
            raise TypeError
        if isinstance(v, float):
            if not math.isfinite(v):
                raise ValueError
            f = Fraction(repr(v))
        else:
            f = Fraction(v.strip() if isinstance(v, str) else v)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        raise MetaError(f"expected a frame rate (an int, a Fraction, a float or a string "
                        f"such as '24000/1001'), found {v!r}", field=name) from None
    if not 0 < f <= spec.MAX_FPS or f.denominator > spec.MAX_FPS_DENOMINATOR:
        raise MetaError(f"a frame rate is in (0, {spec.MAX_FPS}] with a denominator of at "
                        f"most {spec.MAX_FPS_DENOMINATOR}, found {f}", field=name)
    return f


def fps_to_json(f: Fraction) -> int | str:
    """An exact frame rate as JSON: an int when whole, else ``"num/den"``."""
    return f.numerator if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _int(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise MetaError(f"expected an int, found {type(v).__name__} {v!r}", field=name)
    if not lo <= v <= hi:
        raise MetaError(f"expected {lo}..{hi}, found {v}", field=name)
    return int(v)


def _real(v: Any, name: str, lo: float, hi: float, *, above: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MetaError(f"expected a number, found {type(v).__name__}", field=name)
    v = float(v)
    if not math.isfinite(v) or not lo <= v <= hi or (above and v == lo):
        raise MetaError(f"expected a finite number in {'(' if above else '['}{lo}, {hi}], "
                        f"found {v!r}", field=name)
    return v


def _image(img: Any) -> Payload:
    if not hasattr(img, "codec") or not hasattr(img, "data"):
        raise MetaError("image must be an aigif.Payload (codec, data) or None",
                        field="video.image")
    if not isinstance(img.codec, str) or (codec_code(img.codec) is None and
                                          not _CODEC_N.fullmatch(img.codec)):
        raise MetaError(f"unknown pixel codec {img.codec!r}", field="video.image")
    if not isinstance(img.data, (bytes, bytearray, memoryview)) or not img.data:
        raise MetaError("the conditioning image needs its encoded bytes", field="video.image")
    if isinstance(img, Payload) and isinstance(img.data, bytes):
        return img
    return Payload(img.codec, bytes(img.data))


@dataclass(frozen=True)
class Video:
    """The video fields of a generation (``GenerationMeta.video``). ``None`` = the video
    family's frozen default (``meta.video`` always holds the resolved values; a field the
    family has no default for stays ``None``: its pipeline does not take it).

    - ``frames``: number of frames generated (the pipeline's ``num_frames``),
      1..``MAX_VIDEO_FRAMES``; frames x width x height is at most
      ``MAX_DECOMPRESSED_PIXELS``.
    - ``fps``: frame rate, an exact ``fractions.Fraction`` (ints, floats and strings such
      as ``"24000/1001"`` are accepted); playback rate, and the ``frame_rate``
      conditioning of pipelines that take one (LTX-Video). In (0, ``MAX_FPS``].
    - ``image``: the conditioning image of an image-to-video generation, an
      ``aigif.Payload`` (codec key, the codec's own bytes); ``None`` for text-to-video.
    - ``motion_adapter``: the motion module (AnimateDiff ``MotionAdapter``): a hub id
      ``"owner/name"`` with an optional ``"@revision"``, ``"ckpt:<file name>"`` or
      ``"local:<hash>"``.
    - ``motion_bucket_id``: motion-amount conditioning (Stable Video Diffusion-like
      pipelines), 0..65535.
    - ``noise_aug_strength``: noise added to the conditioning image (SVD-like), 0..1000.
    - ``flow_shift``: shift of the flow-matching sigma schedule (the scheduler's
      ``flow_shift`` / ``shift``: Wan 3.0 at 480p, 5.0 at 720p; HunyuanVideo 7.0), in
      (0, 1000].
    - ``decode_chunk_size``: frames the VAE decodes at once (AnimateDiff, SVD), 0 = all at
      once, 0..``MAX_VIDEO_FRAMES``.
    - ``vae_tiling``: whether the VAE decoded in tiles (``pipe.vae.enable_tiling()``),
      which changes pixels.

    Example::

        Video(frames=49, fps=Fraction(24000, 1001), flow_shift=5.0)
        Video(image=aigif.Payload("webp", first_frame_bytes))   # image-to-video
    """

    frames: int | None = None
    fps: Any = None
    image: Any = None
    motion_adapter: str | None = None
    motion_bucket_id: int | None = None
    noise_aug_strength: float | None = None
    flow_shift: float | None = None
    decode_chunk_size: int | None = None
    vae_tiling: bool | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.frames is not None:
            _int(self.frames, "video.frames", 1, spec.MAX_VIDEO_FRAMES)
        if self.fps is not None:
            set_(self, "fps", frame_rate(self.fps))
        if self.image is not None:
            set_(self, "image", _image(self.image))
        a = self.motion_adapter
        if a is not None and (not isinstance(a, str) or not a.strip() or
                              len(a.encode("utf-8", "surrogatepass")) > spec.MAX_STRING_BYTES):
            raise MetaError(f"motion_adapter must be a non-empty model string of at most "
                            f"{spec.MAX_STRING_BYTES} bytes ('owner/name[@revision]', "
                            f"'ckpt:<name>' or 'local:<hash>')", field="video.motion_adapter")
        if a is not None:
            try:
                a.encode("utf-8")
            except UnicodeEncodeError:
                raise MetaError("motion_adapter is not valid Unicode",
                                field="video.motion_adapter") from None
        if self.motion_bucket_id is not None:
            _int(self.motion_bucket_id, "video.motion_bucket_id", 0, _MAX_BUCKET)
        if self.noise_aug_strength is not None:
            set_(self, "noise_aug_strength",
                 _real(self.noise_aug_strength, "video.noise_aug_strength", 0.0, 1000.0))
        if self.flow_shift is not None:
            set_(self, "flow_shift",
                 _real(self.flow_shift, "video.flow_shift", 0.0, 1000.0, above=True))
        if self.decode_chunk_size is not None:
            _int(self.decode_chunk_size, "video.decode_chunk_size", 0, spec.MAX_VIDEO_FRAMES)
        if self.vae_tiling is not None and not isinstance(self.vae_tiling, bool):
            raise MetaError(f"vae_tiling must be a bool, found {self.vae_tiling!r}",
                            field="video.vae_tiling")

    def resolve(self, defaults: spec.VideoDefaults) -> "Video":
        """This video with every ``None`` set to the family's default (``defaults``)."""
        changes = {f.name: getattr(defaults, f.name) for f in fields(self)
                   if getattr(self, f.name) is None and hasattr(defaults, f.name)}
        return replace(self, **changes) if changes else self

    def differences(self, defaults: spec.VideoDefaults) -> dict[str, Any]:
        """The fields whose value differs from the family's default (what a file stores)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(defaults, f.name, None)}

    @property
    def duration(self) -> Fraction:
        """Length in seconds (frames / fps), exact."""
        return Fraction(self.frames or 0) / (self.fps or 1)

    def to_dict(self) -> dict:
        """JSON-ready dict (``fps`` as an int or ``"num/den"``, the image as
        ``{"codec": key, "data": hex}``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "fps" and v is not None:
                v = fps_to_json(v)
            elif f.name == "image" and v is not None:
                v = {"codec": v.codec, "data": v.data.hex()}
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: Any) -> "Video":
        """Inverse of ``to_dict``; MetaError naming a bad or unknown key."""
        if not isinstance(d, Mapping):
            raise MetaError(f"video must be a JSON object, found {type(d).__name__}",
                            field="video")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise MetaError(f"unknown keys {sorted(unknown)}; expected some of {sorted(names)}",
                            field="video")
        kw = dict(d)
        img = kw.get("image")
        if img is not None:
            if not isinstance(img, Mapping) or set(img) != {"codec", "data"}:
                raise MetaError('image must be {"codec": key, "data": hex}', field="video.image")
            try:
                kw["image"] = Payload(img["codec"], bytes.fromhex(img["data"]))
            except (TypeError, ValueError) as e:
                raise MetaError(f"image data is not hex: {e}", field="video.image") from e
        return cls(**kw)
