"""EXIF (UserComment and text tags) in JPEG APP1 and WebP EXIF chunks: read and write."""
from __future__ import annotations

import struct

from ._container import MAX_TEXT_BYTES, Container, TextItem, latin1_or_utf8
from ._limits import MAX_EXIF_ENTRIES

__all__ = ["scan_jpeg", "scan_webp", "scan_exif", "decode_user_comment", "encode_user_comment",
           "exif_bytes", "jpeg_replace_exif", "webp_replace_exif"]

_EXIF_TAGS = {0x9286: "UserComment", 0x010E: "ImageDescription", 0x010F: "Make",
              0x0110: "Model", 0x0131: "Software", 0x927C: "MakerNote", 0x9C9C: "XPComment",
              0x013B: "Artist", 0x9C9B: "XPTitle", 0x9C9E: "XPKeywords", 0x9C9F: "XPSubject"}
#: Windows "XP" tags: UTF-16 LE text in a BYTE array (prompts written by web services)
_XP_TAGS = (0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F)
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}


def _score(t: str) -> int:
    """How plausible a decoded text is: ASCII and common scripts count, junk does not."""
    n = 0
    for ch in t[:4000]:
        o = ord(ch)
        if 0x20 <= o < 0x7F or ch in "\n\t" or 0x3000 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF \
                or 0xA0 <= o <= 0x24F or 0x400 <= o <= 0x4FF or 0xFF00 <= o <= 0xFFEF:
            n += 1
    return n


def decode_user_comment(raw: bytes, byte_order: str = ">") -> tuple[str, str]:
    """Text and encoding name of an EXIF UserComment (8-byte charset prefix or bare).

    "UNICODE" text is UTF-16 in either byte order in the wild (A1111/piexif write big
    endian whatever the TIFF header says); the more plausible decoding wins, the TIFF
    byte order breaks ties."""
    head = raw[:8]
    if head == b"UNICODE\0":
        body = raw[8:]
        if len(body) % 2:
            body = body[:-1]
        if body[:2] == b"\xff\xfe":
            return body[2:].decode("utf-16-le", "replace"), "unicode-le-bom"
        if body[:2] == b"\xfe\xff":
            return body[2:].decode("utf-16-be", "replace"), "unicode-be-bom"
        be = body.decode("utf-16-be", "replace")
        le = body.decode("utf-16-le", "replace")
        sb, sl = _score(be), _score(le)
        if sl > sb or (sl == sb and byte_order == "<"):
            return le, "unicode-le"
        return be, "unicode-be"
    if head == b"ASCII\0\0\0":
        return latin1_or_utf8(raw[8:].rstrip(b"\0"))[0], "ascii"
    if head == b"\0" * 8:
        return latin1_or_utf8(raw[8:].rstrip(b"\0"))[0], "undefined"
    if head == b"JIS\0\0\0\0\0":
        return raw[8:].decode("shift_jis", "replace"), "jis"
    return latin1_or_utf8(raw.rstrip(b"\0"))[0], "bare"


def encode_user_comment(text: str, encoding: str = "unicode-be") -> bytes:
    if encoding == "unicode-le":
        return b"UNICODE\0" + text.encode("utf-16-le", "surrogatepass")
    if encoding == "unicode-le-bom":
        return b"UNICODE\0\xff\xfe" + text.encode("utf-16-le", "surrogatepass")
    if encoding == "unicode-be-bom":
        return b"UNICODE\0\xfe\xff" + text.encode("utf-16-be", "surrogatepass")
    if encoding == "ascii":
        return b"ASCII\0\0\0" + text.encode("utf-8")
    if encoding == "undefined":
        return b"\0" * 8 + text.encode("utf-8")
    if encoding == "bare":
        return text.encode("utf-8")
    return b"UNICODE\0" + text.encode("utf-16-be", "surrogatepass")


def scan_exif(tiff: bytes, c: Container, where: str) -> None:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        c.problems.append(f"{where}: EXIF has no TIFF header")
        return
    e = "<" if tiff[:2] == b"II" else ">"
    seen: set[int] = set()
    left = [MAX_EXIF_ENTRIES]   # directories may overlap: bound the entries read in all

    def ifd(off: int, depth: int) -> None:
        if depth > 4 or off in seen or off + 2 > len(tiff):
            return
        seen.add(off)
        (n,) = struct.unpack(e + "H", tiff[off:off + 2])
        for k in range(min(n, 512)):
            left[0] -= 1
            if left[0] < 0:
                if left[0] == -1:
                    c.problems.append(f"{where}: EXIF has over {MAX_EXIF_ENTRIES} directory "
                                      f"entries; the rest is skipped")
                return
            p = off + 2 + 12 * k
            if p + 12 > len(tiff):
                c.problems.append(f"{where}: EXIF directory truncated")
                return
            tag, typ, count, val = struct.unpack(e + "HHI4s", tiff[p:p + 12])
            if tag in (0x8769,):  # Exif sub-IFD
                ifd(struct.unpack(e + "I", val)[0], depth + 1)
                continue
            name = _EXIF_TAGS.get(tag)
            if name is None:
                continue
            size = _TYPE_SIZE.get(typ, 1) * count
            if size > MAX_TEXT_BYTES:
                c.problems.append(f"{where}: EXIF {name} is over {MAX_TEXT_BYTES} bytes")
                continue
            if size <= 4:
                raw = val[:size]
            else:
                (vo,) = struct.unpack(e + "I", val)
                # the budget is spent before the value is copied and decoded: many
                # entries may point at one large value
                if not c.take(max(0, min(size, len(tiff) - vo)), f"{where}: EXIF {name}"):
                    continue
                raw = tiff[vo:vo + size]
                if len(raw) < size:
                    c.problems.append(f"{where}: EXIF {name} value truncated")
            if tag == 0x9286:
                text, enc = decode_user_comment(raw, e)
                c.texts.append(TextItem("UserComment", text, f"{where}:usercomment:{enc}"))
            elif tag in _XP_TAGS:
                c.texts.append(TextItem(name, raw[:len(raw) & ~1].decode("utf-16-le", "replace")
                                        .rstrip("\0"), f"{where}:{name.lower()}"))
            elif tag == 0x927C:
                c.texts.append(TextItem(name, latin1_or_utf8(raw.rstrip(b"\0"))[0],
                                        f"{where}:makernote"))
            else:
                c.texts.append(TextItem(name, latin1_or_utf8(raw.rstrip(b"\0"))[0],
                                        f"{where}:{name.lower()}"))
        nxt = off + 2 + 12 * n
        if depth == 0 and nxt + 4 <= len(tiff):
            (n1,) = struct.unpack(e + "I", tiff[nxt:nxt + 4])
            if n1:
                ifd(n1, depth + 1)

    (first,) = struct.unpack(e + "I", tiff[4:8])
    ifd(first, 0)


def exif_bytes(user_comment: str, encoding: str = "unicode-be", extra: dict | None = None) -> bytes:
    """A minimal big-endian TIFF/EXIF block holding a UserComment in the Exif IFD (as
    A1111 writes it via piexif); ``extra`` adds IFD0 ASCII tags (tag -> text)."""
    uc = encode_user_comment(user_comment, encoding)
    extra = dict(sorted((extra or {}).items()))
    n0 = len(extra) + 1
    ifd0_size = 2 + 12 * n0 + 4
    data_off = 8 + ifd0_size
    entries, blobs = [], b""
    for tag, text in extra.items():
        raw = text.encode("utf-8") + b"\0"
        if len(raw) <= 4:
            entries.append(struct.pack(">HHI4s", tag, 2, len(raw), raw.ljust(4, b"\0")))
        else:
            entries.append(struct.pack(">HHII", tag, 2, len(raw), data_off + len(blobs)))
            blobs += raw + (b"\0" if len(raw) % 2 else b"")
    exif_ifd_off = data_off + len(blobs)
    entries.append(struct.pack(">HHII", 0x8769, 4, 1, exif_ifd_off))
    ifd0 = struct.pack(">H", n0) + b"".join(entries) + b"\0\0\0\0"
    # the Exif IFD is laid out as piexif (A1111) writes it: the value right after the
    # entry, no next-IFD pointer; so an A1111 JPEG comes back byte for byte
    uc_off = exif_ifd_off + 2 + 12
    exif_ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0x9286, 7, len(uc), uc_off)
    return b"MM\0\x2a\0\0\0\x08" + ifd0 + blobs + exif_ifd + uc


# --------------------------------------------------------------------------- JPEG
def scan_jpeg(data: bytes, c: Container) -> None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            c.problems.append(f"JPEG marker expected at byte {i}")
            return
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no more metadata
            return
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        seg = data[i + 4:i + 2 + length]
        if len(seg) < length - 2:
            c.problems.append(f"JPEG segment at byte {i} is truncated")
        if marker == 0xE1 and seg.startswith(b"Exif\0"):
            scan_exif(seg[6:], c, "exif")
        elif marker == 0xE1 and seg.startswith(b"http://ns.adobe.com/xap/1.0/\0"):
            if c.take(len(seg) - 29, "JPEG XMP"):
                c.texts.append(TextItem("XMP", seg[29:].decode("utf-8", "replace"), "xmp"))
        elif marker == 0xFE:
            if c.take(len(seg), "JPEG comment"):
                c.texts.append(TextItem("Comment", latin1_or_utf8(seg)[0], "jpeg:com"))
        elif marker in (0xC0, 0xC1, 0xC2, 0xC3) and len(seg) >= 5:
            c.height, c.width = struct.unpack(">HH", seg[1:5])
        i += 2 + length


def jpeg_replace_exif(jpeg: bytes, tiff: bytes) -> bytes:
    """The JPEG with its EXIF APP1 and COM segments replaced by one EXIF APP1 block."""
    if not jpeg.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    app1 = b"Exif\0\0" + tiff
    if len(app1) + 2 > 0xFFFF:
        raise ValueError(f"EXIF block is {len(app1)} bytes; JPEG allows at most 65533")
    out = [b"\xff\xd8"]
    i = 2
    insert_at = None
    while i + 4 <= len(jpeg):
        marker = jpeg[i + 1]
        if marker in (0xDA, 0xD9):
            break
        (length,) = struct.unpack(">H", jpeg[i + 2:i + 4])
        seg = jpeg[i:i + 2 + length]
        drop = (marker == 0xE1 and seg[4:9] == b"Exif\0") or marker == 0xFE
        if marker == 0xE0 and insert_at is None:
            out.append(seg)
            insert_at = len(out)
        elif not drop:
            if insert_at is None:
                insert_at = len(out)
            out.append(seg)
        i += 2 + length
    if insert_at is None:
        insert_at = len(out)
    out.insert(insert_at, b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1)
    out.append(jpeg[i:])
    return b"".join(out)


# --------------------------------------------------------------------------- WebP
def scan_webp(data: bytes, c: Container) -> None:
    i = 12
    end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0]) if len(data) >= 8 else 0
    while i + 8 <= end:
        ctype = data[i:i + 4]
        (length,) = struct.unpack("<I", data[i + 4:i + 8])
        body = data[i + 8:i + 8 + length]
        if len(body) < length:
            c.problems.append(f"WebP chunk {ctype!r} at byte {i} is truncated")
        if ctype == b"VP8X" and len(body) >= 10:
            c.has_alpha = bool(body[0] & 0x10)
            c.width = 1 + int.from_bytes(body[4:7], "little")
            c.height = 1 + int.from_bytes(body[7:10], "little")
        elif ctype == b"VP8L" and len(body) >= 5:
            bits = int.from_bytes(body[1:5], "little")
            c.width = 1 + (bits & 0x3FFF)
            c.height = 1 + ((bits >> 14) & 0x3FFF)
            c.has_alpha = bool(bits >> 28 & 1)
        elif ctype == b"VP8 " and len(body) >= 10:
            c.width = int.from_bytes(body[6:8], "little") & 0x3FFF
            c.height = int.from_bytes(body[8:10], "little") & 0x3FFF
        elif ctype == b"EXIF":
            scan_exif(body[6:] if body.startswith(b"Exif\0\0") else body, c, "exif")
        elif ctype == b"XMP ":
            if len(body) > MAX_TEXT_BYTES:
                c.problems.append(f"WebP XMP is over {MAX_TEXT_BYTES} bytes; skipped")
            elif c.take(len(body), "WebP XMP"):
                c.texts.append(TextItem("XMP", body.decode("utf-8", "replace"), "xmp"))
        i += 8 + length + (length & 1)


def webp_replace_exif(webp: bytes, tiff: bytes, width: int, height: int) -> bytes:
    """The WebP with an EXIF chunk (VP8X added or updated, old EXIF dropped)."""
    if not (webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"):
        raise ValueError("not a WebP")
    chunks = []
    i = 12
    vp8x = None
    has_alpha = False
    while i + 8 <= len(webp):
        ctype = webp[i:i + 4]
        (length,) = struct.unpack("<I", webp[i + 4:i + 8])
        body = webp[i + 8:i + 8 + length]
        if ctype == b"VP8X":
            vp8x = bytearray(body)
        elif ctype != b"EXIF":
            if ctype == b"VP8L" and len(body) >= 5:
                has_alpha = bool(int.from_bytes(body[1:5], "little") >> 28 & 1)
            if ctype == b"ALPH":
                has_alpha = True
            chunks.append((ctype, body))
        i += 8 + length + (length & 1)
    if vp8x is None:
        vp8x = bytearray(10)
        vp8x[4:7] = (width - 1).to_bytes(3, "little")
        vp8x[7:10] = (height - 1).to_bytes(3, "little")
        if has_alpha:
            vp8x[0] |= 0x10
    vp8x[0] |= 0x08
    out = [(b"VP8X", bytes(vp8x))]
    xmp = [ch for ch in chunks if ch[0] == b"XMP "]
    out += [ch for ch in chunks if ch[0] != b"XMP "]
    out.append((b"EXIF", tiff))
    out += xmp
    body = b"WEBP" + b"".join(t + struct.pack("<I", len(b)) + b + (b"\0" if len(b) & 1 else b"")
                              for t, b in out)
    return b"RIFF" + struct.pack("<I", len(body)) + body
