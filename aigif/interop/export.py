"""Write generation metadata back into an image in another tool's dialect.

``export(file, "source")`` writes the original texts exactly as they were stored;
``"a1111"`` writes an infotext (the original one when the file came from the A1111
family, else one built from the typed metadata); ``"comfyui"`` writes the original
``prompt``/``workflow`` graph, or a minimal core-node graph built from the metadata.
The pixels come from ``image`` (an image file's bytes or path, or a Pillow image) or
from the file's pixel payload; PNG, JPEG and WebP bytes are changed only in their
metadata chunks (no re-encoding).
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from ..codecs import decode_payload
from ..document import AigifFile
from ..errors import AigifError, ImportMetadataError, RegistryError
from ..meta import GenerationMeta
from . import _container as C
from . import _exif as E
from . import _png as P
from ._common import ImportResult, join_source
from ._xmp import xmp_user_comment
from ._scan import scan
from .dialects import dialect_registry, ordered

__all__ = ["export", "texts_for", "DIALECTS", "export_dialects"]

#: The built-in dialects ``export`` writes (``export_dialects()`` adds registered ones).
DIALECTS = ("source", "a1111", "comfyui")


def export_dialects() -> list[str]:
    """Every dialect ``export`` writes: the original texts ("source") and each registered
    dialect with a writer, in detection order."""
    return ["source"] + [d.key for d in ordered() if d.write is not None]

_FAMILY = ("a1111", "forge", "sdnext", "civitai")
_EXIF_TAG = {"make": 0x010F, "model": 0x0110, "imagedescription": 0x010E, "software": 0x0131,
             "makernote": 0x927C, "artist": 0x013B}
_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}


def _parts(obj: Any) -> tuple[GenerationMeta | None, dict, Any]:
    if isinstance(obj, ImportResult):
        return obj.meta, dict(obj.source), None
    if isinstance(obj, AigifFile):
        return obj.meta, join_source(obj.source), obj.payload
    if isinstance(obj, GenerationMeta):
        return obj, {}, None
    raise ImportMetadataError(f"expected an AigifFile, ImportResult or GenerationMeta, found "
                              f"{type(obj).__name__}")


def _container_desc(source: dict) -> tuple[str, list[tuple[str, str, str]]]:
    """(original format, [(source key, where, chunk keyword)])."""
    try:
        d = json.loads(source.get("container", "{}"))
        out = []
        for e in d.get("texts", []):
            if isinstance(e, list) and len(e) >= 2 and e[0] in source:
                out.append((e[0], e[1], e[2] if len(e) > 2 else e[0]))
        return str(d.get("format", "")), out
    except (ValueError, AttributeError, TypeError):
        return "", []


def _main_infotext(source: dict) -> tuple[str, str] | None:
    """(text, where) of the A1111-style infotext a file carried, if any."""
    _, items = _container_desc(source)
    for key, where, kw in items:
        if kw in ("parameters", "UserComment", "stealth") or where.startswith("stealth"):
            text = source[key]
            if not text.lstrip().startswith("{") and (
                    "Steps:" in text or source.get("tool") in _FAMILY):
                return text, where
    return None


def texts_for(obj: Any, dialect: str = "source") -> list[tuple[str, str, str]]:
    """The (keyword, text, where) items ``export`` writes for a dialect."""
    meta, source, _ = _parts(obj)
    _, items = _container_desc(source)
    if dialect == "source":
        if items:
            return [(kw, source[key], where) for key, where, kw in items]
        dialect = "a1111"
    if dialect == "a1111":
        hit = _main_infotext(source)
        if hit is not None:
            text, where = hit
            return [("parameters", text, where)]
        if meta is None:
            raise ImportMetadataError("the file has no generation metadata to export")
        return [(kw, text, "") for kw, text in dialect_registry.get("a1111").write(meta)]
    if dialect == "comfyui":
        if any(kw == "prompt" for _, _, kw in items) or source.get("tool") == "comfyui":
            out = [(kw, source[key], where) for key, where, kw in items
                   if kw in ("prompt", "workflow") or source[key][:7].lower() == "prompt:"
                   or source[key][:9].lower() == "workflow:"]
            if out:
                return out
        if meta is None:
            raise ImportMetadataError("the file has no generation metadata to export")
        return [(kw, text, "") for kw, text in dialect_registry.get("comfyui").write(meta)]
    try:   # a registered third-party dialect with a writer
        d = dialect_registry.get(dialect) if isinstance(dialect, str) else None
    except RegistryError:
        d = None
    if d is not None and d.write is not None:
        if meta is None:
            raise ImportMetadataError("the file has no generation metadata to export")
        return [(kw, text, "") for kw, text in d.write(meta)]
    writers = [k for k in dialect_registry.keys() if dialect_registry.get(k).write is not None]
    raise ImportMetadataError(f"unknown dialect {dialect!r}; expected one of source, "
                              f"{', '.join(writers)}")


def _image_bytes(image: Any, payload: Any, fmt: str | None) -> tuple[bytes, str]:
    """(image file bytes in the target format, format)."""
    pil = None
    if image is None and payload is not None:
        pil = decode_payload(payload)
    elif image is None:
        raise ImportMetadataError("no pixels to write the metadata into: pass an image "
                                  "(--image) or convert with --keep-pixels")
    elif isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    elif isinstance(image, (str, os.PathLike)):
        try:
            data = Path(image).read_bytes()
        except OSError as e:
            raise ImportMetadataError(f"cannot read {image}: {e.strerror or e}") from e
    elif hasattr(image, "getbands"):
        pil = image
    else:
        raise ImportMetadataError(f"image must be bytes, a path or a Pillow image, found "
                                  f"{type(image).__name__}")
    if pil is None:
        have = C.sniff(data)
        if have in ("png", "jpeg", "webp") and (fmt is None or _norm(fmt) == have):
            return data, have
        try:
            from PIL import Image
            pil = Image.open(io.BytesIO(data))
            pil.load()
        except Exception as e:  # noqa: BLE001
            raise ImportMetadataError(f"cannot decode the image: {e}") from e
    target = _norm(fmt or "png")
    try:
        buf = io.BytesIO()
        im = pil
        if target == "jpeg" and im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        kw = {"quality": 95} if target == "jpeg" else {"lossless": True} if target == "webp" else {}
        im.save(buf, _FORMATS[target], **kw)
    except Exception as e:  # noqa: BLE001
        raise ImportMetadataError(f"cannot encode the image as {target}: {e}") from e
    return buf.getvalue(), target


def _norm(fmt: str) -> str:
    f = fmt.lower().lstrip(".")
    f = "jpeg" if f in ("jpg", "jpeg") else f
    if f not in ("png", "jpeg", "webp"):
        raise ImportMetadataError(f"cannot write metadata into {fmt!r}; expected png, jpeg "
                                  f"or webp")
    return f


def export(obj: Any, dialect: str = "source", *, image: Any = None,
           format: str | None = None) -> bytes:
    """An image file (PNG/JPEG/WebP bytes) carrying ``obj``'s metadata in ``dialect``.

    ``obj``: an AigifFile, ImportResult or GenerationMeta. ``dialect``: ``"source"``
    (the original texts as stored; A1111 infotext when there is no source),
    ``"a1111"`` or ``"comfyui"``. ``image``: pixels (file bytes, path or Pillow image;
    default: the file's pixel payload). ``format``: png/jpeg/webp (default: the image's).
    Raises ImportMetadataError.

    Example::

        png = export(aigif.open("x.aigif"), "a1111", image="x.png")
    """
    try:
        meta, source, payload = _parts(obj)
        items = texts_for(obj, dialect)
        data, fmt = _image_bytes(image, payload, format)
        if fmt == "png":
            chunks, late = [], []
            for kw, text, where in items:
                if where.startswith("stealth"):
                    kw, where = ("parameters", "") if source.get("tool") != "novelai" else \
                        (kw, "")
                    if source.get("tool") == "novelai":
                        return _novelai_png(data, text)
                elif not where.split("|")[0].split(":")[0] in ("tEXt", "zTXt", "iTXt"):
                    kw, where = _png_key(kw, text), ""
                (late if where.endswith("|late") else chunks).append(
                    P.png_text_chunk(kw, text, where))
            return P.png_replace_text(data, chunks, late)
        # JPEG / WebP: the main text in the EXIF UserComment, others in IFD0 text tags
        if source.get("tool") in ("invokeai", "novelai") and dialect == "source" and \
                not any(w.startswith("exif") for _, _, w in items):
            raise ImportMetadataError(
                f"{source['tool']} metadata lives in PNG text chunks; export it to a .png, or "
                f"use --as a1111 for a {fmt.upper()} file")
        user_comment, enc, extra = None, "unicode-be", {}
        for kw, text, where in items:
            w = where.split(":")
            if w[0] == "exif" and len(w) > 1 and w[1] in _EXIF_TAG:
                extra[_EXIF_TAG[w[1]]] = text
            elif w[0] == "exif" and len(w) > 2 and w[1] == "usercomment":
                user_comment, enc = text, w[2]
            elif w[0] == "xmp" or kw in ("XMP", "XML:com.adobe.xmp"):
                uc = xmp_user_comment(text)
                if uc and user_comment is None:
                    user_comment = uc
            elif kw == "workflow":
                extra[0x010F] = "workflow:" + text
            elif kw == "prompt" and text.lstrip().startswith("{"):
                extra[0x0110] = "prompt:" + text
            elif user_comment is None and kw not in ("fooocus_scheme",):
                user_comment = text
        tiff = E.exif_bytes(user_comment or "", enc, extra)
        if fmt == "jpeg":
            return E.jpeg_replace_exif(data, tiff)
        w_, h_ = _size(data)
        return E.webp_replace_exif(data, tiff, w_, h_)
    except AigifError:
        raise
    except (ValueError, OSError) as e:
        raise ImportMetadataError(f"cannot write the metadata: {e}") from e


def _png_key(kw: str, text: str) -> str:
    if kw in ("UserComment", "stealth", "Comment") and not text.lstrip().startswith("{"):
        return "parameters"
    return {"UserComment": "parameters"}.get(kw, kw)


def _novelai_png(png: bytes, text: str) -> bytes:
    """NovelAI stealth JSON -> its PNG text chunks (Title, Description, Software...)."""
    try:
        j = json.loads(text)
    except ValueError:
        j = None
    if not isinstance(j, dict):
        return P.png_replace_text(png, [P.png_text_chunk("parameters", text)])
    chunks = [P.png_text_chunk(str(k), v if isinstance(v, str) else json.dumps(v))
              for k, v in j.items()]
    return P.png_replace_text(png, chunks)


def _size(data: bytes) -> tuple[int, int]:
    c = scan(data)
    if not c.width or not c.height:
        raise ImportMetadataError("cannot read the WebP image size")
    return c.width, c.height
