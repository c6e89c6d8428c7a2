"""Find and write the metadata text other tools put in PNG, JPEG and WebP files.

Pure Python (``struct`` + ``zlib``): the chunk walkers (``_png``, ``_exif``) tolerate
truncated files, chunks after IDAT and bad CRCs, and keep going after a damaged chunk.
Only the alpha-channel "stealth" reader (``_stealth``) needs Pillow (it reads pixels).

Each text found is a ``TextItem``: the keyword, the decoded text, and ``where`` (how it
was stored: ``"tEXt"``, ``"iTXt"``, ``"zTXt"``, ``"exif:usercomment:unicode-be"``,
``"stealth:pngcomp"``...) so that an exporter can store it back the same way.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from ._limits import MAX_FILE_TEXT_BYTES, MAX_TEXT_BYTES

__all__ = ["TextItem", "Container", "sniff", "inflate", "latin1_or_utf8",
           "MAX_TEXT_BYTES", "MAX_FILE_TEXT_BYTES", "PNG_SIG"]

PNG_SIG = b"\x89PNG\r\n\x1a\n"


@dataclass
class TextItem:
    key: str
    text: str
    where: str


@dataclass
class Container:
    """What ``scan`` found: the image format and size, the texts, and any damage."""

    format: str = "unknown"          # png, jpeg, webp, gif, unknown
    width: int | None = None
    height: int | None = None
    has_alpha: bool = False
    texts: list[TextItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: text bytes this file may still make the reader decode (MAX_FILE_TEXT_BYTES in all)
    text_budget: int = MAX_FILE_TEXT_BYTES

    def take(self, nbytes: int, what: str) -> bool:
        """Spend ``nbytes`` of the file's text budget on ``what``; False (and a problem
        noted) when the budget does not hold them: the caller then skips the work."""
        if nbytes > self.text_budget:
            self.problems.append(f"{what}: the file's texts are over the {MAX_FILE_TEXT_BYTES}-"
                                 f"byte budget of one file; skipped")
            self.text_budget = 0
            return False
        self.text_budget -= nbytes
        return True

    def get(self, key: str) -> TextItem | None:
        for t in self.texts:
            if t.key == key:
                return t
        lk = key.lower()
        for t in self.texts:
            if t.key.lower() == lk:
                return t
        return None


def sniff(data: bytes) -> str:
    if data.startswith(PNG_SIG):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return "unknown"


# --------------------------------------------------------------------------- text codecs
def inflate(data: bytes, what: str, c: Container) -> bytes | None:
    """Decompress a zlib text; at most MAX_TEXT_BYTES and at most what is left of the
    file's text budget is ever produced (zip bombs stop there)."""
    limit = min(MAX_TEXT_BYTES, c.text_budget)
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        c.problems.append(f"{what}: compressed text is corrupt ({e})")
        return None
    if len(out) > limit:
        if limit < MAX_TEXT_BYTES:            # the file's budget ran out
            c.take(len(out), what)
        else:                                 # this one text is too long: skip it, but the
            c.text_budget -= min(len(out), c.text_budget)   # work done still counts
            c.problems.append(f"{what}: text is over {MAX_TEXT_BYTES} bytes; skipped")
        return None
    c.take(len(out), what)
    return out


def latin1_or_utf8(b: bytes) -> tuple[str, str]:
    """tEXt is Latin-1 by the PNG spec, but many tools write UTF-8 there."""
    if not b.isascii():
        try:
            return b.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    return b.decode("latin-1"), "latin-1"
