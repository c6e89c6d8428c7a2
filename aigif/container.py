"""What one AIGIF file holds, as plain data: the generation syntax and the elements.

``FileData`` is what the bytes say: ``.meta`` (GenerationMeta, None for pixels-only files),
``.info`` (free-form text key/values), ``.source`` (verbatim metadata of the tool that made
the image), ``.payload`` (pixel payload), ``.fingerprint`` (digest of the intended pixels),
``.residual`` (refinement layer), ``.unknown_elements`` (ancillary elements this reader does
not know, kept byte-for-byte so a rewrite preserves them). ``aigif.io`` turns bytes into it
and back; ``aigif.document.AigifFile`` adds what needs the pixel and render layers
(``.image()``, ``.render()``, ``.pixels()``). This module imports only ``meta``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from .meta import GenerationMeta
from .registry import codec_kind
from .stages import Payload

__all__ = ["Payload", "Fingerprint", "RawElement", "FileData"]


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


@dataclass(frozen=True, eq=False)
class FileData:
    """The content of one AIGIF file. ``meta`` is None for pixels-only files."""

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

    def __eq__(self, other: object) -> bool:
        """Equal content (any FileData, AigifFile included); ``text_method`` and ``size``
        are not compared."""
        if not isinstance(other, FileData):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _COMPARED)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking mappings inside

    @property
    def is_video(self) -> bool:
        """True for a video file (spec 3.1, presence bit VIDEO): a video generation
        (``meta.video``), or a file without generation syntax whose payload is a video."""
        if self.meta is not None:
            return self.meta.video is not None
        return self.payload is not None and codec_kind(self.payload.codec) == "video"

    def __post_init__(self) -> None:
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))
        object.__setattr__(self, "source", MappingProxyType(dict(self.source)))
        object.__setattr__(self, "unknown_elements", tuple(self.unknown_elements))


    @classmethod
    def _from_reader(cls, meta: GenerationMeta | None, values: dict, unknown: list,
                     text_method: int | None, size: int) -> "FileData":
        """``cls(meta=meta, unknown_elements=tuple(unknown), text_method=text_method,
        size=size, **values)`` without the generic ``__init__``/``__post_init__`` work, for
        the reader (``values``: element attributes, info/source as plain dicts). Classes
        that add fields or their own ``__init__``/``__post_init__`` are built normally."""
        if not _plain(cls):
            return cls(meta=meta, unknown_elements=tuple(unknown), text_method=text_method,
                       size=size, **values)
        self = object.__new__(cls)
        get = values.get
        self.__dict__.update(
            meta=meta, info=MappingProxyType(dict(get("info", ()))),
            source=MappingProxyType(dict(get("source", ()))), payload=get("payload"),
            fingerprint=get("fingerprint"), residual=get("residual"),
            unknown_elements=tuple(unknown), text_method=text_method, size=size)
        return self


_COMPARED = tuple(n for n, f in FileData.__dataclass_fields__.items() if f.compare)
_PLAIN: dict[type, bool] = {FileData: True}


def _plain(cls: type) -> bool:
    """Whether constructing ``cls`` does exactly what constructing FileData does."""
    ok = _PLAIN.get(cls)
    if ok is None:
        init_owner = next(c for c in cls.__mro__ if "__init__" in c.__dict__)
        params = init_owner.__dict__.get("__dataclass_params__")
        ok = (issubclass(cls, FileData)
              and cls.__dataclass_fields__.keys() == FileData.__dataclass_fields__.keys()
              and cls.__post_init__ is FileData.__post_init__
              and cls.__dictoffset__ != 0
              and params is not None and params.init)
        _PLAIN[cls] = ok
    return ok
