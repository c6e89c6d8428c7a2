"""``AigifFile``: one AIGIF file as users hold it — its content (``FileData``) plus what
needs the pixel and render layers: ``.pixels()``, ``.image(policy)``, ``.render()``.

``aigif.open`` / ``aigif.loads`` return an AigifFile; ``aigif.save`` writes one (coding an
image as its pixel payload on the way). Nothing here imports Pillow, numpy or torch until a
method that needs pixels is called.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import IO, Any

from . import codecs as _codecs
from . import io as _io
from . import render as _render
from ._atomic import write_atomic
from .codecs.learned.gitssic import GROUPS_INFO_KEY, group_names_json
from .codecs.video import DEFAULT_VIDEO_CODEC, decode_video_payload, encode_video_payload
from .container import Fingerprint, FileData, Payload, RawElement
from .errors import CodecError, MetaError, MissingDependencyError, RenderError
from .meta import GenerationMeta
from .registry import codec_kind
from .render.video import VideoFrames

__all__ = ["AigifFile", "Payload", "Fingerprint", "RawElement", "ImageResult", "VideoResult",
           "POLICIES", "loads", "open_file", "save", "read_image", "read_video",
           "encode_hybrid", "GROUPS_INFO_KEY"]


@dataclass(frozen=True, eq=False)
class AigifFile(FileData):
    """One AIGIF file. Build one with ``aigif.open`` / ``aigif.loads``, or directly
    (``AigifFile(meta=...)``) to give to ``aigif.dumps`` / ``aigif.save``."""

    def to_bytes(self) -> bytes:
        """The canonical bytes of this file (same as ``aigif.dumps(self)``)."""
        return _io.dumps(self)

    def render(self, **kwargs: Any):
        """Regenerate the image (``aigif.render.render_file``; needs ``aigif[render]``)."""
        return _render.render_file(self, **kwargs)

    def group_names(self) -> dict[int, str]:
        """The names of the pixel payload's groups that the file's info records
        (``"gitssic.groups"``, written by ``aigif.save(..., groups="objects")``): group id
        -> name, e.g. ``{0: "background", 1: "red fox"}``; ``{}`` when it records none.
        Raises CodecError when the entry is not a JSON object of id -> name."""
        import json
        text = self.info.get(GROUPS_INFO_KEY)
        if text is None:
            return {}
        try:
            d = json.loads(text)
            out = {int(k): v for k, v in d.items()}
            if any(not isinstance(v, str) or k < 0 for k, v in out.items()):
                raise ValueError("names must be strings, ids >= 0")
        except (ValueError, TypeError, AttributeError) as e:
            raise CodecError(f"info {GROUPS_INFO_KEY!r} is not a JSON object of group id -> "
                             f"name: {e}", field=f"info.{GROUPS_INFO_KEY}") from e
        return out

    def group_ids(self, groups) -> list[int]:
        """Group ids of ``groups``: ints as they are, names looked up in
        ``group_names()`` (case-insensitive; a name matches exactly, or as the only name
        that contains it: "fox" finds "red fox"). CodecError for a name that matches none
        or several."""
        names = None
        out = []
        for g in groups:
            if not isinstance(g, str) or g.strip().isdigit():
                out.append(int(g))
                continue
            names = self.group_names() if names is None else names
            want = g.strip().lower()
            hits = [i for i, n in names.items() if n.lower() == want] or \
                [i for i, n in names.items() if want in n.lower()]
            if len(hits) != 1:
                known = ", ".join(f"{i} {n!r}" for i, n in sorted(names.items())) or \
                    "none recorded"
                raise CodecError(f"group {g!r} {'is ambiguous' if hits else 'is not named'} "
                                 f"in this file (groups: {known})")
            out.append(hits[0])
        return out

    def pixels(self, groups=None, fill=None):
        """Decode the pixel payload to a PIL image (``aigif.codecs.decode_payload``).

        ``groups`` (a list of group ids or names; gitssic payloads only): decode only those
        regions (their pixels equal a full decode's); the rest is ``fill`` (an (r, g, b)
        triple, default mid-gray (128, 128, 128)). ``f.pixels(groups=[1, 3])``;
        ``f.pixels(groups=["fox"])`` for a file whose info names its groups
        (``group_names()``).
        Raises CodecError when there is no payload or it is corrupt, or when it is a video
        (a video payload's frames are ``.frames()``: one method, one return type),
        LimitExceededError when it declares more pixels than the limits allow.
        """
        if self.payload is None:
            raise CodecError("this file has no pixel payload")
        _not_video(self.payload)
        if groups is None and fill is not None:
            raise CodecError("fill= is for a partial decode (groups=[...])")
        if groups is not None and not isinstance(groups, (str, bytes)) and \
                any(isinstance(g, str) for g in groups):
            groups = self.group_ids(groups)
        return _codecs.decode_payload(self.payload, groups=groups, fill=fill)

    def frames(self, groups=None, fill=None):
        """Decode the video payload: ``aigif.render.VideoFrames`` (``.frames`` uint8
        ``[T, H, W, 3]``, ``.fps`` exact), needs ``aigif[video]``.

        ``groups`` (a list of group ids or names; ssvc payloads only): decode only those
        groups over the whole clip, reading only their sub-streams; their pixels equal a
        full decode's, the rest is ``fill`` (default mid-gray). ``f.frames(groups=[1])``.

        Raises CodecError when there is no payload, it is an image (``.pixels()``) or it is
        corrupt; LimitExceededError when it declares more frames x pixels than the limits
        and the decode budget allow (checked before decoding).

        Example::

            v = aigif.open("clip.aigif").frames()
            v.frames.shape, v.fps          # (8, 32, 32, 3), Fraction(8, 1)
        """
        if self.payload is None:
            raise CodecError("this file has no pixel payload")
        if groups is None and fill is not None:
            raise CodecError("fill= is for a partial decode (groups=[...])")
        if groups is not None and not isinstance(groups, (str, bytes)) and \
                any(isinstance(g, str) for g in groups):
            groups = self.group_ids(groups)
        return _payload_frames(self.payload, groups=groups, fill=fill)

    def video(self, policy: str = "auto", *, strict: bool = False, **render_kwargs: Any):
        """The best frames available under ``policy`` (as ``.image``): a ``VideoResult``
        whose ``.video`` is the VideoFrames and ``.path`` says "pixels", "render" or
        "render+residual"."""
        return read_video(self, policy, strict=strict, **render_kwargs)

    def image(self, policy: str = "auto", *, strict: bool = False, **render_kwargs: Any):
        """The best image available under ``policy``: an ``ImageResult``.

        ``policy``: "auto" (pixels if present, else regenerate), "pixels", "render",
        "prefer_render" (regenerate, fall back to pixels). ``.image`` is the PIL image and
        ``.path`` says which path was taken: "pixels", "render" or "render+residual".
        """
        return read_image(self, policy, strict=strict, **render_kwargs)


# ============================================================================ files
def loads(src: _io.Source, *, strict: bool = True) -> AigifFile:
    """Parse AIGIF bytes (or a path / binary file object) into an AigifFile.

    ``strict=True`` (default) also refuses non-canonical encodings. Raises only AigifError
    subclasses, whatever the bytes (see ``aigif.io.loads``).

    Example::

        f = aigif.loads(data)
        print(f.meta.prompt)
    """
    return _io.loads(src, strict=strict, cls=AigifFile)


def open_file(src: _io.Source, *, strict: bool = True) -> AigifFile:
    """Open an AIGIF file from a path, a binary file object or bytes (see ``loads``)."""
    return _io.loads(src, strict=strict, cls=AigifFile)


def save(obj: GenerationMeta | FileData | None, dest: str | os.PathLike | IO[bytes], *,
         image: Any = None, fallback: str | None = None, quality: int | None = None,
         lossless: bool = False, effort: int | None = None, info: dict | None = None,
         text_method: int | None = None, meta: GenerationMeta | None = None,
         video: Any = None, fps: Any = None, crf: int | None = None,
         groups: Any = None) -> int:
    """Write an AIGIF file; return the number of bytes written.

    Paths are written atomically (a new temporary file in the same folder, then a rename):
    a failed write leaves the old file, or nothing; a new file gets ``0o666 & ~umask``, a
    replaced one keeps its mode. A symbolic link at ``dest`` is refused (FileAccessError):
    aigif never writes through one; remove it, or pass ``os.path.realpath(dest)`` to write
    its target. ``image`` adds a pixel payload coded with ``fallback`` (a codec key: "avif"
    by default, "webp", "jxl", "png", "jpeg") at ``quality`` / ``lossless`` / ``effort``;
    ``obj=None`` with an image makes a pixels-only file. ``meta``: the generation syntax
    given by keyword (``aigif.save(None, "clip.aigif", meta=video_meta)``), for when
    ``obj`` is None. ``video`` adds a video payload instead (frames: a uint8 array
    ``[T, H, W, 3]``, a list of PIL images or a ``VideoFrames``) coded with ``fallback``
    ("av1" by default, "vp9", "h264", "h265", "ffv1"; the learned "envc", "vlvc", "ssvc",
    "imclvc": docs/learned-video.md) at ``crf`` / ``lossless``; its frame rate is the
    VideoFrames', else ``fps``, else the generation's ``video.fps``; without meta it makes a
    pixels-only video file (spec 3.1: VIDEO set). Needs ``aigif[video]`` (the learned ones
    ``aigif[learned]``).
    ``groups`` (``fallback="gitssic"``, or ``"ssvc"`` for a video: its regions snap to
    64 x 64 tiles, fixed over the clip, the objects of frame 0): the regions a reader can
    decode alone, a 2-D int array at pixel or 16 x 16 block resolution (ids 0..254; a
    block takes its pixels' most frequent id), an int k (automatic map of k regions;
    default 4), or ``"objects"``: for an image the regions of the objects the prompt
    names, from the generator's cross-attention (``aigif.render.object_groups``:
    regenerates the image here, with models already on this machine); for a video the
    tubes of the objects that move apart from the camera (``aigif.render.
    video_object_groups``: optical flow of the frames); their names recorded in the
    file's info under ``"gitssic.groups"`` (``f.group_names()``); where neither can tell,
    the automatic map, with an ``AigifWarning`` saying why.
    Raises MetaError / LimitExceededError / CodecError.

    Example::

        n = aigif.save(GenerationMeta(model="sd15", prompt="a cat"), "cat.aigif")
        n = aigif.save(None, "clip.aigif", video=frames, fps=8, fallback="ffv1")
    """
    if meta is not None:
        if obj is not None:
            raise MetaError("give the generation syntax once: as obj or as meta=, not both",
                            field="meta")
        obj = meta
    f = obj if isinstance(obj, FileData) else AigifFile(meta=obj)
    if groups is not None and ((image is None and video is None) or fallback is None or
                               not getattr(_codecs.get_codec(fallback), "partial", False)):
        raise CodecError("groups= is for an image coded with a group-structured codec "
                         "(fallback='gitssic') or a video coded with one (fallback='ssvc')")
    if isinstance(groups, str):
        if groups != "objects":
            raise CodecError(f"groups= takes a mask, an int k or 'objects', not {groups!r}")
        if video is None:
            groups, names = _render.object_groups(f, image)
        else:
            groups, names = _render.video_object_groups(getattr(video, "frames", video))
        if names:
            f = replace(f, info={**f.info, GROUPS_INFO_KEY: group_names_json(names)})
    if video is not None:
        if image is not None:
            raise MetaError("give image= or video=, not both: a file holds one payload",
                            field="payload")
        if quality is not None or effort is not None:
            raise CodecError("a video payload takes crf= (and lossless=), not quality= / "
                             "effort=")
        f = replace(f, payload=_video_payload(f.meta, video, fps, fallback, crf, lossless,
                                              groups))
    elif crf is not None or fps is not None:
        raise CodecError("crf= and fps= are for a video payload (video=)")
    if image is not None:
        opts = {} if groups is None else {"groups": groups}
        f = replace(f, payload=_codecs.encode_payload(
            image, codec=fallback or _codecs.DEFAULT_CODEC, quality=quality,
            lossless=lossless, effort=effort, **opts))
    if info:
        f = replace(f, info={**f.info, **info})
    data = _io.dumps(f, text_method=text_method)
    if hasattr(dest, "write"):
        dest.write(data)
        return len(data)
    return write_atomic(dest, data)


def _video_payload(meta: GenerationMeta | None, video: Any, fps: Any, codec: str | None,
                   crf: int | None, lossless: bool, groups: Any = None) -> Payload:
    frames = getattr(video, "frames", video)           # VideoFrames or frames
    rate = getattr(video, "fps", None)
    if rate is not None and fps is not None and rate != fps:
        raise CodecError(f"fps={fps} differs from the frames' own rate {rate}")
    rate = rate or fps or (meta.video.fps if meta is not None and meta.video else None)
    if rate is None:
        raise CodecError("a video payload needs its frame rate: give fps= (or VideoFrames, "
                         "or the generation's video.fps)")
    if meta is not None and meta.video is None:
        raise MetaError(f"a video payload in the file of an image generation "
                        f"({meta.generator!r}): a file's payload is of the file's kind",
                        field="payload")
    opts = {} if groups is None else {"groups": groups}
    return encode_video_payload(frames, rate, codec or DEFAULT_VIDEO_CODEC, crf=crf,
                                lossless=lossless, **opts)


def _not_video(p: Payload) -> None:
    if codec_kind(p.codec) == "video":
        raise CodecError(f"this file's payload is a video ({p.codec}): its frames are "
                         f".frames() (aigif.render.VideoFrames), not one image")


def _payload_frames(p: Payload, **opts: Any):
    if codec_kind(p.codec) != "video":
        raise CodecError(f"this file's payload is an image ({p.codec}): use .pixels()")
    frames, fps = decode_video_payload(p, **opts)
    return VideoFrames(frames, fps)


# ============================================================================ images
#: auto: pixels when the file has them (cheap, platform-independent), else regenerate;
#: pixels: the payload only; render: regeneration only (plus the residual, if any);
#: prefer_render: regenerate, and fall back to the payload when regeneration fails.
POLICIES = ("auto", "pixels", "render", "prefer_render")


@dataclass(frozen=True)
class ImageResult:
    """An image and the path that produced it.

    ``path`` is ``"pixels"`` (decoded payload), ``"render"`` (regenerated) or
    ``"render+residual"`` (regenerated, then refined by the residual layer); ``note`` says
    why a fallback was taken, if one was.
    """

    image: Any
    path: str
    note: str = ""
    render_result: Any = None


def _regenerate(f: FileData, strict: bool, kwargs: dict) -> ImageResult:
    if f.meta is None:
        raise RenderError("this file has no generation syntax to regenerate from")
    out = f.render(**kwargs) if isinstance(f, AigifFile) else _render.render_file(f, **kwargs)
    if getattr(out, "video", None) is not None:
        raise RenderError("this file is a video: its frames are in .render().video "
                          "(aigif.render.VideoFrames), not an image", field="video")
    img = getattr(out, "image", out)
    if getattr(out, "source", "render") == "payload":  # render_file(fallback="payload")
        return ImageResult(img, "pixels", note="model not available: used the pixel payload",
                           render_result=out)
    if f.residual is None:
        return ImageResult(img, "render", render_result=out)
    from .codecs.residual import apply_residual      # numpy + Pillow: loaded when needed
    return ImageResult(apply_residual(img, f.residual, strict=strict), "render+residual",
                       render_result=out)


def read_image(f: FileData, policy: str = "auto", *, strict: bool = False,
               **render_kwargs: Any) -> ImageResult:
    """The image of file ``f`` under ``policy`` (see POLICIES).

    Raises CodecError when the policy allows no path this file has (e.g. "pixels" on a
    file without a payload), and whatever decoding or regeneration raises (AigifError).
    """
    if policy not in POLICIES:
        raise CodecError(f"unknown image policy {policy!r}; expected one of {', '.join(POLICIES)}")
    if f.payload is not None:
        _not_video(f.payload)
    if policy == "pixels" or (policy == "auto" and f.payload is not None):
        if f.payload is None:
            raise CodecError("this file has no pixel payload (policy='pixels')")
        return ImageResult(_codecs.decode_payload(f.payload), "pixels")
    if policy == "prefer_render" and f.payload is not None:
        try:
            return _regenerate(f, strict, render_kwargs)
        except (RenderError, MissingDependencyError) as e:
            return ImageResult(_codecs.decode_payload(f.payload), "pixels",
                               note=f"regeneration failed, used the pixel payload: {e}")
    return _regenerate(f, strict, render_kwargs)


# ============================================================================ video
@dataclass(frozen=True)
class VideoResult:
    """Frames and the path that produced them (as ``ImageResult``): ``video`` is an
    ``aigif.render.VideoFrames``; ``path`` is "pixels", "render" or "render+residual"."""

    video: Any
    path: str
    note: str = ""
    render_result: Any = None


def _regenerate_video(f: FileData, strict: bool, kwargs: dict) -> VideoResult:
    if f.meta is None:
        raise RenderError("this file has no generation syntax to regenerate from")
    out = _render.render_file(f, **kwargs)
    v = out.video
    if v is None:
        raise RenderError("this file is an image: use .image() / .render().image")
    if out.source == "payload":       # render_file(fallback="payload")
        return VideoResult(v, "pixels", note="model not available: used the pixel payload",
                           render_result=out)
    if f.residual is None:
        return VideoResult(v, "render", render_result=out)
    from .codecs.residual_video import apply_video_residual   # numpy + PyAV
    return VideoResult(apply_video_residual(v, f.residual, strict=strict), "render+residual",
                       render_result=out)


def read_video(f: FileData, policy: str = "auto", *, strict: bool = False,
               **render_kwargs: Any) -> VideoResult:
    """The frames of video file ``f`` under ``policy`` (see POLICIES): "auto" (the payload
    if present, else regenerate), "pixels", "render", "prefer_render" (regenerate, fall back
    to the payload when regeneration fails). Returns a ``VideoResult``.

    Raises CodecError when the policy allows no path this file has, or the file is an
    image; whatever decoding or regeneration raises (AigifError).

    >>> r = read_video(aigif.open("clip.aigif"), "prefer_render")    # doctest: +SKIP
    >>> r.video.frames.shape, r.path
    """
    if policy not in POLICIES:
        raise CodecError(f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}")
    if not f.is_video:
        raise CodecError("this file is an image, not a video: use .image()")
    if policy == "pixels" or (policy == "auto" and f.payload is not None):
        if f.payload is None:
            raise CodecError("this file has no video payload (policy='pixels')")
        return VideoResult(_payload_frames(f.payload), "pixels")
    if policy == "prefer_render" and f.payload is not None:
        try:
            return _regenerate_video(f, strict, render_kwargs)
        except (RenderError, MissingDependencyError) as e:
            return VideoResult(_payload_frames(f.payload), "pixels",
                               note=f"regeneration failed, used the video payload: {e}")
    return _regenerate_video(f, strict, render_kwargs)


def encode_hybrid(meta: GenerationMeta | None, original: Any, regenerated: Any = None,
                  target_psnr: float = 40.0, *, keep_syntax: bool = True, render: bool = True,
                  **choose_kw: Any):
    """Build the smallest AigifFile that gives ``original`` at ``target_psnr``
    (``aigif.codecs.residual.encode_hybrid``), regenerating the image here when
    ``regenerated`` is None and ``render`` is true. Returns ``(AigifFile, Decision)``.

    >>> f, d = encode_hybrid(meta, original, target_psnr=40.0)   # doctest: +SKIP
    >>> print(d.report()); data = aigif.dumps(f)
    """
    from .codecs.residual import check_effort, encode_hybrid as _encode   # numpy + Pillow
    if "effort" in choose_kw:   # refused before a render, not after
        check_effort(target_psnr, **choose_kw)
    if meta is not None and regenerated is None and render:
        regenerated = _render.render_meta(meta).image
    data, d = _encode(meta, original, regenerated, target_psnr, keep_syntax=keep_syntax,
                      **choose_kw)
    return AigifFile(**{k: getattr(data, k) for k in FileData.__dataclass_fields__}), d
