"""XMP ``exif:UserComment`` (Draw Things, some web UIs) and ``dc:description`` (web
services, WebP/JPEG exporters): linear text scans, no regex."""
from __future__ import annotations

import html

__all__ = ["xmp_user_comment", "xmp_property", "between"]


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


def xmp_property(xmp: str, name: str) -> str | None:
    """The text of the XMP property ``name`` (``"exif:UserComment"``, ``"dc:description"``)
    in element form (a bare value, or the first ``rdf:li`` of an ``rdf:Alt``) or attribute
    form, or None. The text of an ``rdf:li`` is kept exactly (prompts are byte-exact);
    only a bare element value loses the whitespace a pretty-printer puts around it."""
    body = between(xmp, f"<{name}>", f"</{name}>")
    if body is None:
        v = between(xmp, f'{name}="', '"')
        return html.unescape(v) if v is not None else None
    li = between(body, "<rdf:li", "</rdf:li>", after=">")
    return html.unescape(li) if li is not None else html.unescape(body).strip()


def xmp_user_comment(xmp: str) -> str | None:
    """The ``exif:UserComment`` of an XMP packet (element or attribute form), or None."""
    return xmp_property(xmp, "exif:UserComment")
