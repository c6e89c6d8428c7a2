"""The AigifError hierarchy and aigif's warnings.

Every error raised while reading, writing or validating a file is an ``AigifError``
subclass. Messages say what went wrong, where (byte offset or field path), what was
expected and what was found.
"""
from __future__ import annotations

__all__ = [
    "AigifError", "FileAccessError", "NotAigifError", "TruncatedError", "ChecksumError",
    "UnsupportedVersionError", "UnknownCriticalElementError", "LimitExceededError",
    "MalformedError", "CanonicalFormError", "MetaError", "RegistryError",
    "UnknownModelError", "MissingDependencyError", "RenderError", "ModelNotAvailableError",
    "CodecError", "ImportMetadataError", "AigifWarning", "PlatformMismatchWarning",
]


class AigifError(Exception):
    """Root of every error aigif raises on purpose.

    ``offset`` is the byte offset in the file where the problem was found (or None);
    ``field`` is the dotted field path (or None); ``code`` is a stable short string
    that tools and the conformance vectors use.
    """

    code = "error"

    def __init__(self, message: str, *, offset: int | None = None, field: str | None = None):
        self.message = message
        self.offset = offset
        self.field = field
        where = []
        if field:
            where.append(f"field {field}")
        if offset is not None:
            where.append(f"byte {offset}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)


class FileAccessError(AigifError, OSError):
    """The file cannot be read or written (missing, a directory, no permission...)."""
    code = "io"


class NotAigifError(AigifError):
    """The bytes do not start with the AIGIF signature."""
    code = "not-aigif"


class TruncatedError(AigifError):
    """The file ends before a field it declares."""
    code = "truncated"


class ChecksumError(AigifError):
    """The integrity check does not match: the file is corrupt."""
    code = "checksum"


class UnsupportedVersionError(AigifError):
    """The file uses a format version or a feature bit this reader does not know."""
    code = "unsupported-version"


class UnknownCriticalElementError(AigifError):
    """The file holds a critical element this reader does not know, so it must refuse it."""
    code = "unknown-critical-element"


class LimitExceededError(AigifError):
    """A declared size or value is over the format's hard limits."""
    code = "limit-exceeded"


class MalformedError(AigifError):
    """A field's value is not allowed by the spec (bad UTF-8, unknown code, bad order...)."""
    code = "malformed"


class CanonicalFormError(MalformedError):
    """The file is readable but not written in canonical form (strict readers refuse it)."""
    code = "non-canonical"


class MetaError(AigifError, ValueError):
    """A GenerationMeta value is invalid (wrong type, out of range, unknown key)."""
    code = "invalid-meta"


class RegistryError(AigifError):
    """A registry entry is invalid, duplicated or missing."""
    code = "registry"


class UnknownModelError(RegistryError, MetaError):
    """A model key or code is not registered."""
    code = "unknown-model"


class MissingDependencyError(AigifError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""
    code = "missing-dependency"


class RenderError(AigifError):
    """Regeneration failed."""
    code = "render"


class ModelNotAvailableError(RenderError):
    """The weights a file needs are not on this machine; the message says how to get them."""
    code = "model-not-available"


class CodecError(AigifError):
    """A pixel payload could not be encoded or decoded."""
    code = "codec"


class ImportMetadataError(AigifError):
    """Another tool's metadata could not be read."""
    code = "import"


class AigifWarning(UserWarning):
    """Base class of aigif's warnings."""


class PlatformMismatchWarning(AigifWarning):
    """The rendering platform differs from the one the file records; pixels may differ."""
