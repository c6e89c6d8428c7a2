"""Import and export the generation metadata other tools write into their images.

Readers for AUTOMATIC1111 and its family (Forge, reForge, SD.Next, Civitai), ComfyUI
(image and video workflows), InvokeAI (2.x and 3+), NovelAI, Fooocus and SwarmUI; PNG
text chunks (also after IDAT, zTXt/iTXt), JPEG/WebP EXIF UserComment, alpha-channel
"stealth" data, and MP4/MOV/WebM/MKV container tags (PyAV, the ``video`` extra).

Example::

    >>> import aigif.interop as interop
    >>> r = interop.read("00012-1234.png")            # doctest: +SKIP
    >>> r.tool, r.meta.seed, r.meta.scheduler          # doctest: +SKIP
    ('a1111', 1234, 'dpmpp_2m_karras')
    >>> aigif.save(r.to_aigif(), "00012-1234.aigif")   # doctest: +SKIP
    >>> png = interop.export(aigif.open("00012-1234.aigif"), "a1111", image="00012-1234.png")  # doctest: +SKIP

Everything a reader cannot map stays verbatim in ``source`` (the original texts, keyed by
their chunk keyword, plus ``"tool"`` and ``"container"``), so ``export`` writes the
original text back byte for byte.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import AigifError, ImportMetadataError
from . import _container as C
from ._common import Draft, ImportResult
from ._exif import scan_exif
from ._i2v import attach as _attach_image
from ._limits import MAX_INPUT_BYTES, MAX_STEALTH_PIXELS
from ._scan import scan
from ._stealth import png_stealth_signature, read_stealth
from .dialects import Dialect, detect, detect_stealth, dialect_registry, register_dialect
from .export import DIALECTS, export, export_dialects

__all__ = ["read", "export", "ImportResult", "TOOLS", "DIALECTS", "MAX_INPUT_BYTES", "Dialect",
           "dialect_registry", "register_dialect", "export_dialects"]

#: Tools the readers recognise (``ImportResult.tool``).
TOOLS = ("a1111", "forge", "sdnext", "civitai", "comfyui", "invokeai", "novelai", "fooocus",
         "swarmui")
_RESERVED = ("tool", "container")
_A1111_FAMILY = ("a1111", "forge", "sdnext", "civitai", "fooocus-a1111")


# =========================================================================== reading
def _load(src: Any) -> tuple[bytes | None, Any, str]:
    """(file bytes, Pillow image or None, name for messages)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), None, "<bytes>"
    if isinstance(src, (str, os.PathLike)):
        p = Path(src)
        try:
            size = p.stat().st_size
            if size > MAX_INPUT_BYTES:
                raise ImportMetadataError(f"{p}: file is {size} bytes, over the "
                                          f"{MAX_INPUT_BYTES}-byte limit")
            return p.read_bytes(), None, str(p)
        except OSError as e:
            raise ImportMetadataError(f"cannot read {p}: {e.strerror or e}") from e
    if hasattr(src, "read") and not hasattr(src, "getbands"):
        try:
            data = src.read(MAX_INPUT_BYTES + 1)
        except OSError as e:
            raise ImportMetadataError(f"cannot read the file object: {e}") from e
        if not isinstance(data, (bytes, bytearray)):
            raise ImportMetadataError("the file object must be opened in binary mode")
        return bytes(data), None, getattr(src, "name", "<file>")
    if hasattr(src, "getbands"):  # a Pillow image
        fn = getattr(src, "filename", "") or ""
        data = None
        if fn and os.path.isfile(fn):
            try:
                data = Path(fn).read_bytes()
            except OSError:
                data = None
        return data, src, fn or "<image>"
    raise ImportMetadataError(f"expected a path, bytes, a binary file or a Pillow image, "
                              f"found {type(src).__name__}")


def _pil_container(im: Any) -> C.Container:
    c = C.Container(format=str(getattr(im, "format", "") or "image").lower())
    c.width, c.height = im.size
    c.has_alpha = "A" in im.getbands()
    if c.width * c.height <= MAX_STEALTH_PIXELS:   # texts after the pixels need a load
        try:
            im.load()
        except Exception:  # noqa: BLE001 - a damaged image still has its header texts
            pass
    else:
        c.problems.append(f"the image is {c.width}x{c.height}, over {MAX_STEALTH_PIXELS} "
                          f"pixels: not decoded (texts after its pixels are not read)")
    texts = dict(getattr(im, "text", None) or {}) if hasattr(im, "text") else {}
    for k, v in {**(im.info or {}), **texts}.items():
        if isinstance(v, str) and k not in ("dpi", "gamma", "icc_profile"):
            c.texts.append(C.TextItem(str(k), v, "tEXt"))
    exif = (im.info or {}).get("exif")
    if isinstance(exif, (bytes, bytearray)):
        scan_exif(bytes(exif[6:] if exif.startswith(b"Exif\0\0") else exif), c, "exif")
    return c


def read(src: Any, *, stealth: bool = True, image_dir: Any = None) -> ImportResult:
    """Read the generation metadata of an image written by another tool.

    ``src``: a path, the file's bytes, a binary file object, or a Pillow image.
    ``stealth``: also look for alpha-channel "stealth" data when no text is found (needs
    Pillow). ``image_dir``: a folder (ComfyUI's ``input/``) where the conditioning image
    an image-to-video workflow names (``params["init_image"]``) is looked up; when found
    it becomes ``meta.video.image`` (a lossless PNG payload: a PNG's own bytes), else, or
    without the folder, a warning names it. A name that is absolute or climbs out of the
    folder is refused (warning). Returns an ImportResult (``.tool``, ``.meta``, ``.unmapped``, ``.source``,
    ``.to_aigif()``). Raises ImportMetadataError when the file cannot be read or holds no
    generation metadata, or ``image_dir`` is not a folder; never anything else.

    Example::

        r = read("image.png")
        print(r.tool, r.meta.prompt, r.unmapped)
        r = read("ComfyUI_00001_.webp", image_dir="ComfyUI/input")   # image-to-video
        r.meta.video.image                 # Payload('png', ...) or None (see r.warnings)
    """
    try:
        res = _read(src, stealth)
        _attach_image(res, image_dir)
        return res
    except AigifError:
        raise
    except (RecursionError, MemoryError) as e:
        raise ImportMetadataError(f"metadata is too deeply nested or too large: "
                                  f"{type(e).__name__}") from e
    except Exception as e:  # noqa: BLE001 - the read path raises only AigifError
        raise ImportMetadataError(f"could not read the metadata: {type(e).__name__}: {e}") from e


def _read(src: Any, stealth: bool) -> ImportResult:
    data, im, name = _load(src)
    if data is not None:
        if not data:
            raise ImportMetadataError(f"{name}: the file is empty")
        c = scan(data)
        if c.format == "unknown" and im is None:
            raise ImportMetadataError(f"{name}: not a PNG, JPEG or WebP image nor an "
                                      f"MP4/MOV/WebM/MKV video "
                                      f"(starts with {data[:8].hex()})")
    else:
        c = _pil_container(im)
    res = detect(c)
    if res is None and stealth and (c.has_alpha or c.format in ("png", "webp", "image")):
        item = _stealth(data, im, c)
        if item is not None:
            c.texts.append(item)
            res = detect_stealth(item, c)
    if res is None:
        found = ", ".join(sorted({t.key for t in c.texts})) or "none"
        why = f"; damage: {'; '.join(c.problems)}" if c.problems else ""
        raise ImportMetadataError(f"{name}: no generation metadata found "
                                  f"({c.format}; text keys: {found}){why}")
    tool, draft, used = res
    return _finish(tool, draft, used, c)


def _stealth(data: bytes | None, im: Any, c: C.Container) -> C.TextItem | None:
    """Stealth data in the pixels. A PNG's signature is checked first without decoding
    the image (png_stealth_signature); pixels are decoded only for an image of at most
    MAX_STEALTH_PIXELS (size from the header)."""
    if data is not None and c.format == "png":
        sig = png_stealth_signature(data)
        if sig is False:
            return None
    else:
        sig = None
    try:
        from PIL import Image
    except ImportError:
        return None
    import io
    try:
        if im is None:
            im = Image.open(io.BytesIO(data))      # reads the header only
        w, h = im.size
        if w * h > MAX_STEALTH_PIXELS:
            found = "has a stealth signature, but " if sig else ""
            c.problems.append(f"the image {found}is {w}x{h} ({w * h} pixels), over the "
                              f"{MAX_STEALTH_PIXELS}-pixel limit of the alpha-channel "
                              f"(stealth) metadata scan; its pixels were not decoded")
            return None
        im.load()
        if im.mode not in ("RGBA", "RGB", "LA", "PA"):
            im = im.convert("RGBA")
        elif im.mode in ("LA", "PA"):
            im = im.convert("RGBA")
        return read_stealth(im)
    except Exception as e:  # noqa: BLE001 - damaged pixels: no stealth data
        c.problems.append(f"pixels could not be decoded for stealth data: {e}")
        return None


def _finish(tool: str, draft: Draft, used: list[C.TextItem], c: C.Container) -> ImportResult:
    if c.width and c.height and "width" not in draft.fields and "height" not in draft.fields:
        draft.set("width", c.width)
        draft.set("height", c.height)
        draft.keep("size", f"{c.width}x{c.height} (taken from the image; not in the metadata)")
    meta, core = draft.build()
    source: dict[str, str] = {"tool": tool}
    container = []
    items = [t for t in c.texts if any(t is u for u in used) or t.where != "xmp"]
    for item in items:
        key = item.key if item.key not in _RESERVED else "text:" + item.key
        base, n = key, 2
        while key in source:
            key = f"{base}#{n}"
            n += 1
        source[key] = item.text
        container.append([key, item.where] if key == item.key else [key, item.where, item.key])
    source["container"] = json.dumps({"format": c.format, "texts": container},
                                     separators=(",", ":"), ensure_ascii=False)
    info = {}
    sw = c.get("Software")
    if sw is not None and len(sw.text) < 200:
        info["software"] = sw.text
    return ImportResult(tool=tool, meta=meta, unmapped=dict(draft.unmapped), source=source,
                        info=info, warnings=list(c.problems) + list(draft.warnings),
                        image_size=(c.width, c.height) if c.width and c.height else None,
                        core_set=core)

