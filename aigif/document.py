"""What one AIGIF file holds besides the generation syntax, and the AigifFile object.

``AigifFile`` is what ``aigif.open`` returns: ``.meta`` (GenerationMeta), ``.info``
(free-form text key/values), ``.source`` (verbatim metadata of the tool that made the
image), ``.payload`` (pixel payload), ``.fingerprint`` (digest of the intended pixels),
``.residual`` (refinement layer), ``.unknown_elements`` (ancillary elements this reader
does not know, kept byte-for-byte so a rewrite preserves them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from .meta import GenerationMeta

__all__ = ["Payload", "Fingerprint", "RawElement", "AigifFile"]


@dataclass(frozen=True)
class Payload:
    """Pixel payload: codec key (``"png"``, ``"webp"``, ``"avif"``, ``"jxl"``...) and bytes."""

    codec: str
    data: bytes


@dataclass(frozen=True)
class Fingerprint:
    """Digest of the intended pixels (``spec.FingerprintAlgo``) and the image size."""

    algo: int
    width: int
    height: int
    digest: bytes


@dataclass(frozen=True)
class RawElement:
    """An extension element kept as bytes (unknown to this reader, or private)."""

    type_id: int
    critical: bool
    data: bytes


@dataclass(frozen=True, eq=True)
class AigifFile:
    """One parsed AIGIF file. Build one with ``aigif.open`` / ``aigif.loads``.

    ``AigifFile(meta=...)`` may also be built directly and given to ``aigif.dumps``.
    ``meta`` is None for pixels-only files.
    """

    meta: GenerationMeta | None
    info: Mapping[str, str] = field(default_factory=dict)
    source: Mapping[str, str] = field(default_factory=dict)
    payload: Payload | None = None
    fingerprint: Fingerprint | None = None
    residual: bytes | None = None
    unknown_elements: tuple = ()
    #: text method code the prompt was coded with (None: let the writer choose)
    text_method: int | None = field(default=None, compare=False)
    #: size in bytes of the file this was read from (None if built in memory)
    size: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))
        object.__setattr__(self, "source", MappingProxyType(dict(self.source)))
        object.__setattr__(self, "unknown_elements", tuple(self.unknown_elements))

    def to_bytes(self) -> bytes:
        """The canonical bytes of this file (same as ``aigif.dumps(self)``)."""
        from .io import dumps
        return dumps(self)

    # Regeneration and pixel decoding load lazily (torch / Pillow never load for .meta).
    def render(self, **kwargs: Any):
        """Regenerate the image (see ``aigif.render.render_file``)."""
        try:
            from .render import render_file
        except ImportError as e:  # pragma: no cover - depends on the install
            from .errors import MissingDependencyError
            raise MissingDependencyError(
                "rendering is not available: install it with pip install 'aigif[render]'") from e
        return render_file(self, **kwargs)

    def pixels(self):
        """Decode the pixel payload to a PIL image (``aigif.codecs.decode_payload``).

        Raises CodecError when there is no payload or it is corrupt, LimitExceededError
        when it declares more pixels than the limits allow.
        """
        from .codecs import decode_payload
        if self.payload is None:
            from .errors import CodecError
            raise CodecError("this file has no pixel payload")
        return decode_payload(self.payload)

    def image(self, policy: str = "auto", *, strict: bool = False, **render_kwargs: Any):
        """The best image available under ``policy``: an ``aigif.codecs.ImageResult``.

        ``policy``: "auto" (pixels if present, else regenerate), "pixels", "render",
        "prefer_render" (regenerate, fall back to pixels). ``.image`` is the PIL image and
        ``.path`` says which path was taken: "pixels", "render" or "render+residual".
        """
        from .codecs import read_image
        return read_image(self, policy, strict=strict, **render_kwargs)
