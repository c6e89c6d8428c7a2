"""``aigif.features(src)``: the decoded feature map of a file coded for machines.

A pixel payload coded with a *feature codec* (``omni-icm``, code 14) holds an entropy-coded
feature map that tasks (classifiers, retrieval, linear probes) read directly, without pixel
synthesis. Nothing here imports numpy or torch until a payload is decoded.
"""
from __future__ import annotations

from typing import Any

from . import codecs as _codecs
from . import io as _io
from .container import FileData
from .errors import CodecError

__all__ = ["features"]


def features(src: Any, *, strict: bool = True):
    """The feature map of an AIGIF file whose pixel payload is a feature codec's.

    ``src``: a path, bytes, a binary file object or an opened ``AigifFile``. Returns an
    ``aigif.codecs.learned.omni_icm.FeatureMap``: ``.map`` (numpy float32 [C, h, w], the
    same on every machine), ``.symbols`` (int32), ``.step``, ``.level``, ``.model``,
    ``.size`` and ``.pooled()`` (the C-vector mean over space).

    Raises CodecError when the file has no pixel payload, or its payload is not coded
    with a feature codec (e.g. avif: use ``.pixels()``), or is corrupt; LimitExceededError
    when it declares more pixels than the limits allow; any ``AigifError`` of
    ``aigif.open`` for bytes that are not a valid file.

    Example::

        aigif.save(None, "x.aigif", image=img, fallback="omni-icm", quality=50)
        f = aigif.features("x.aigif")
        f.map.shape, f.pooled().shape      # (96, 32, 32), (96,)
    """
    data = src if isinstance(src, FileData) else _io.loads(src, strict=strict)
    p = data.payload
    if p is None:
        raise CodecError("this file has no pixel payload, so no features",
                         field="payload")
    c = _codecs._resolve(p.codec)
    if not getattr(c, "feature_codec", False):
        raise CodecError(f"the file's pixel payload is coded with {c.key!r}, which is not a "
                         f"feature codec (features need a payload coded with 'omni-icm'; "
                         f"read this one's pixels with .pixels())", field="payload")
    return c.features(bytes(p.data))
