"""The conditioning image of an imported image-to-video workflow.

A ComfyUI image-to-video graph (``WanImageToVideo``, ``LTXVImgToVideo``, CogVideoX I2V,
``SVD_img2vid_Conditioning``) names the image its ``LoadImage`` node reads from ComfyUI's
``input/`` folder; the importer records that name as ``params["init_image"]``, but the
pixels are not in the file. ``attach`` looks the name up in a folder the caller gives
(``image_dir``) and puts the image into ``meta.video.image`` as a lossless pixel payload:
the file's own bytes for a PNG, else its decoded pixels encoded as PNG. The name stays in
``params`` (and the graph in ``source``). Without the folder, or when the image cannot
be used, the result carries a warning naming the file and the option instead.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from ..codecs import encode_payload
from ..errors import AigifError, ImportMetadataError
from ..payload import Payload
from ._limits import MAX_INPUT_BYTES

__all__ = ["attach", "I2V_FAMILIES"]

#: video families whose pipelines take ``video.image`` (render backends' ``video_uses``)
I2V_FAMILIES = ("ltx_video", "wan", "cogvideox", "stable_video_diffusion")
_PNG = b"\x89PNG\r\n\x1a\n"
_ORIENTATION = 0x0112
_HOW = "import with image_dir= (aigif import --image-dir DIR), the folder that holds it " \
       "(ComfyUI's input/)"


def attach(res: Any, image_dir: Any) -> None:
    """Put the conditioning image named by ``res.meta.params["init_image"]`` into
    ``res.meta.video.image`` when ``image_dir`` holds it; else append a warning to
    ``res.warnings``. Raises ImportMetadataError only when ``image_dir`` is given and is
    not a folder (the caller's mistake, not the file's)."""
    m = res.meta
    name = m.params.get("init_image") if m.video is not None else None
    if not isinstance(name, str) or not name or m.video.image is not None:
        return
    base = None
    if image_dir is not None:
        try:
            base = Path(image_dir).resolve(strict=True)
        except (OSError, RuntimeError) as e:
            raise ImportMetadataError(f"image_dir {str(image_dir)!r}: no such folder") from e
        if not base.is_dir():
            raise ImportMetadataError(f"image_dir {str(image_dir)!r} is not a folder")
    if base is None:
        res.warnings.append(f"the workflow's conditioning image {name!r} is not in the "
                            f"file, so the video cannot be regenerated; {_HOW}")
        return
    if m.generator not in I2V_FAMILIES:
        res.warnings.append(f"the conditioning image {name!r} is not attached: generator "
                            f"{m.generator!r} takes no conditioning image")
        return
    try:
        payload = _payload(base, name)
        video = dataclasses.replace(m.video, image=payload)
        res.meta = dataclasses.replace(m, video=video)
    except AigifError as e:
        res.warnings.append(f"the conditioning image {name!r} is not attached: "
                            f"{getattr(e, 'message', None) or e}")


def _path(base: Path, name: str) -> Path:
    """``name`` under ``base``; ImportMetadataError for a name that leaves it (absolute,
    a drive, ``..``, a link leading outside) or that is not there."""
    n = name[:-len("[input]")].rstrip() if name.endswith("[input]") else name
    # (ComfyUI's annotated names: "x.png [input]"; string ops: a "\s*...$" regex is
    # quadratic on a long run of spaces)
    parts = re.split(r"[\\/]", n)
    if "\0" in n or n.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", n) or \
            any(p == ".." for p in parts):
        raise ImportMetadataError(f"refused: {name!r} is an absolute name or climbs out "
                                  f"of the image folder ('..')")
    rel = [p for p in parts if p not in ("", ".")]
    if not rel:
        raise ImportMetadataError(f"{name!r} names no file")
    p = base.joinpath(*rel)
    try:
        real = p.resolve(strict=True)
    except (OSError, RuntimeError) as e:
        raise ImportMetadataError(f"there is no {'/'.join(rel)} in {base} (image_dir / "
                                  f"--image-dir: the folder that holds it)") from e
    if not real.is_relative_to(base):
        raise ImportMetadataError(f"refused: {p} is a link leading out of {base}")
    if not real.is_file():
        raise ImportMetadataError(f"{p} is not a file")
    return real


def _payload(base: Path, name: str) -> Payload:
    """The image as a lossless payload, its size checked against the pixel limits
    before any pixel is decoded."""
    p = _path(base, name)
    try:
        size = p.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise ImportMetadataError(f"{p} is {size} bytes, over the {MAX_INPUT_BYTES}-byte "
                                      f"limit")
        data = p.read_bytes()
    except OSError as e:
        raise ImportMetadataError(f"cannot read {p}: {e.strerror or e}") from e
    try:
        from PIL import ImageOps

        from ..codecs._pillow import safe_decode
    except ImportError as e:
        raise ImportMetadataError("reading the conditioning image needs Pillow: "
                                  "pip install 'aigif[images]'") from e
    im = safe_decode(data, None, f"image {str(p)!r}")     # limits checked, then decoded
    turned = im.getexif().get(_ORIENTATION, 1) not in (0, 1)
    if data.startswith(_PNG) and im.format == "PNG" and not turned:
        return Payload("png", data)                       # its own bytes: byte-exact
    # as ComfyUI's LoadImage: the first frame, upright (EXIF orientation)
    im.seek(0)
    return encode_payload(ImageOps.exif_transpose(im), "png")
