"""PNG text chunks (tEXt, zTXt, iTXt, before or after IDAT): read and write."""
from __future__ import annotations

import struct
import zlib

from ._container import (MAX_TEXT_BYTES, PNG_SIG, Container, TextItem, inflate,
                         latin1_or_utf8)

__all__ = ["scan_png", "png_text_chunk", "png_replace_text"]

_MAX_CHUNKS = 100_000


def scan_png(data: bytes, c: Container) -> None:
    i = 8
    n = len(data)
    count = 0
    seen_idat = False
    while i < n:
        count += 1
        if count > _MAX_CHUNKS:
            c.problems.append("too many PNG chunks; stopped")
            return
        if i + 8 > n:
            c.problems.append(f"PNG truncated at byte {i} (chunk header)")
            return
        length, ctype = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + length]
        truncated = len(body) < length
        name = ctype.decode("latin-1")
        if ctype == b"IHDR" and len(body) >= 13:
            c.width, c.height = struct.unpack(">II", body[:8])
            color_type = body[9]
            c.has_alpha = color_type in (4, 6)
        elif ctype == b"tRNS":
            c.has_alpha = True
        elif ctype in (b"tEXt", b"zTXt", b"iTXt"):
            if truncated:
                c.problems.append(f"{name} chunk at byte {i} is truncated "
                                  f"({len(body)} of {length} bytes)")
            before = len(c.texts)
            _png_text(ctype, body, c, i, truncated)
            if seen_idat and len(c.texts) > before:
                c.texts[-1].where += "|late"
        elif ctype == b"IDAT":
            seen_idat = True
        if ctype == b"IEND" or truncated:
            if truncated and ctype not in (b"tEXt", b"zTXt", b"iTXt"):
                c.problems.append(f"PNG truncated in {name} chunk at byte {i}")
            elif i + 12 + length > n:
                c.problems.append(f"PNG truncated in the CRC of {name} at byte {i}")
            return
        i += 12 + length
    c.problems.append(f"PNG truncated: no IEND chunk before the end of the file (byte {n})")


def _png_text(ctype: bytes, body: bytes, c: Container, off: int, truncated: bool) -> None:
    key_b, sep, rest = body.partition(b"\0")
    if not sep:
        c.problems.append(f"{ctype.decode()} chunk at byte {off} has no keyword separator")
        return
    key = key_b.decode("latin-1")
    if ctype == b"tEXt":
        if len(rest) > MAX_TEXT_BYTES:
            c.problems.append(f"tEXt {key!r} at byte {off} is over {MAX_TEXT_BYTES} bytes; "
                              f"skipped")
            return
        if not c.take(len(rest), f"tEXt {key!r} at byte {off}"):
            return
        text, enc = latin1_or_utf8(rest)
        where = "tEXt" if enc == "latin-1" else "tEXt:utf-8"
    elif ctype == b"zTXt":
        if truncated:
            return
        raw = inflate(rest[1:], f"zTXt {key!r}", c)
        if raw is None:
            return
        text, enc = latin1_or_utf8(raw)
        where = "zTXt" if enc == "latin-1" else "zTXt:utf-8"
    else:
        if len(rest) < 2:
            c.problems.append(f"iTXt {key!r} at byte {off} is too short")
            return
        comp_flag, _method = rest[0], rest[1]
        rest = rest[2:]
        lang, _, rest = rest.partition(b"\0")
        tkey, _, rest = rest.partition(b"\0")
        if comp_flag:
            if truncated:
                return
            raw = inflate(rest, f"iTXt {key!r}", c)
            if raw is None:
                return
            where = "iTXt:z"
        else:
            if len(rest) > MAX_TEXT_BYTES:
                c.problems.append(f"iTXt {key!r} at byte {off} is over {MAX_TEXT_BYTES} "
                                  f"bytes; skipped")
                return
            if not c.take(len(rest), f"iTXt {key!r} at byte {off}"):
                return
            raw = rest
            where = "iTXt"
        if lang or tkey:
            where += ":" + lang.decode("latin-1", "replace") + ":" + tkey.decode("utf-8", "replace")
        text = raw.decode("utf-8", "replace")
    if len(text) > MAX_TEXT_BYTES:
        c.problems.append(f"text {key!r} is over {MAX_TEXT_BYTES} characters; skipped")
        return
    c.texts.append(TextItem(key, text, where))


def png_text_chunk(key: str, text: str, where: str = "") -> bytes:
    """One PNG text chunk written the way ``where`` says (default: tEXt when the text is
    Latin-1, else iTXt, as Pillow and A1111 do)."""
    where = where.split("|")[0]
    kind = where.split(":")[0] if where else ""
    if not kind:
        try:
            text.encode("latin-1")
            kind = "tEXt"
        except UnicodeEncodeError:
            kind = "iTXt"
    k = key.encode("latin-1", "replace")[:79]
    if kind == "tEXt":
        enc = "utf-8" if where.endswith(":utf-8") else "latin-1"
        try:
            body = k + b"\0" + text.encode(enc)
        except UnicodeEncodeError:
            return png_text_chunk(key, text, "iTXt")
        ctype = b"tEXt"
    elif kind == "zTXt":
        enc = "utf-8" if where.endswith(":utf-8") else "latin-1"
        try:
            raw = text.encode(enc)
        except UnicodeEncodeError:
            return png_text_chunk(key, text, "iTXt:z")
        body = k + b"\0\0" + zlib.compress(raw, 9)
        ctype = b"zTXt"
    else:
        parts = where.split(":")
        comp = len(parts) > 1 and parts[1] == "z"
        rest = parts[2:] if comp else parts[1:]
        lang = (rest[0] if rest else "").encode("latin-1", "replace")
        tkey = (rest[1] if len(rest) > 1 else "").encode("utf-8")
        raw = text.encode("utf-8", "surrogatepass")
        body = (k + b"\0" + (b"\1\0" if comp else b"\0\0") + lang + b"\0" + tkey + b"\0"
                + (zlib.compress(raw, 9) if comp else raw))
        ctype = b"iTXt"
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(
        ">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def png_replace_text(png: bytes, chunks: list[bytes], late: list[bytes] = ()) -> bytes:
    """The PNG with its text chunks removed, ``chunks`` inserted after IHDR and ``late``
    ones after the image data (before IEND)."""
    if not png.startswith(PNG_SIG):
        raise ValueError("not a PNG")
    out = [PNG_SIG]
    i = 8
    inserted = False
    while i + 8 <= len(png):
        length, ctype = struct.unpack(">I4s", png[i:i + 8])
        end = i + 12 + length
        if end > len(png):
            raise ValueError(f"PNG truncated in chunk at byte {i}")
        if ctype == b"IEND":
            out.extend(late)
        if ctype not in (b"tEXt", b"zTXt", b"iTXt"):
            out.append(png[i:end])
        if ctype == b"IHDR" and not inserted:
            out.extend(chunks)
            inserted = True
        i = end
        if ctype == b"IEND":
            break
    if not inserted:
        raise ValueError("PNG has no IHDR chunk")
    return b"".join(out)
