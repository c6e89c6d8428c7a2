"""XMP ``exif:UserComment`` (Draw Things, some web UIs): linear text scans, no regex."""
from __future__ import annotations

import html

__all__ = ["xmp_user_comment", "between"]


def between(s: str, start: str, end: str, after: str = "") -> str | None:
    """Text between the first ``start`` (then up to the next ``after`` character, when
    given) and the next ``end``; None when there is none. Linear: a lazy ``start(.*?)end``
    regex rescans the rest of the text from every ``start`` when ``end`` is missing."""
    i = s.find(start)
    if i < 0:
        return None
    i += len(start)
    if after:
        i = s.find(after, i)
        if i < 0:
            return None
        i += len(after)
    j = s.find(end, i)
    return s[i:j] if j >= 0 else None


def xmp_user_comment(xmp: str) -> str | None:
    """The ``exif:UserComment`` of an XMP packet (element or attribute form), or None."""
    body = between(xmp, "<exif:UserComment>", "</exif:UserComment>")
    if body is None:
        v = between(xmp, 'exif:UserComment="', '"')
        return html.unescape(v) if v is not None else None
    li = between(body, "<rdf:li", "</rdf:li>", after=">")
    return html.unescape(li if li is not None else body).strip()
