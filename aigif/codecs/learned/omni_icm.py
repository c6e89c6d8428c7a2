"""The ``omni-icm`` pixel codec (frozen code 14): image coding for machines. The payload
is an entropy-coded feature map that tasks read directly (``aigif.features``) without
pixel synthesis; ``decode`` gives only a low-fidelity *preview* from a light decoder.
Model: :mod:`.omni_icm_model` (training/codecs/train_omni_icm.py,
docs/model-card-omni-icm.md).

Payload syntax (spec/aigif-v1.md, "Syntax: omni-icm payload"; integers big-endian)::

    magic "OICM" | version u8 (1) | model u8 (1 = omni-icm-1) | weights: 8 bytes (SHA-256
    prefix of the weights file) | width u16 | height u16 | level u8 (rate point,
    0 = coarsest) | M u16 | hy u16 | wy u16 | y_len u32 | y stream

hy = ceil(height / 8), wy = ceil(width / 8); the y stream codes M*hy*wy symbols, channel
by channel's table (one 16-bit integer PMF per channel and level), so decoding is
integer-only and the features (symbol - R) * step are identical on every machine.
Everything is checked (size against the pixel budget, shapes against the model and the
size, lengths against the payload) before any tensor is built.

``quality`` picks the level: 0..100 -> level round(quality * (LEVELS - 1) / 100)
(None: level 2). Torch, numpy and constriction are imported only to encode or decode.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar

from ...errors import CodecError
from ._base import ZooCodec

__all__ = ["OmniIcmCodec", "FeatureMap", "MODEL_IDS", "MAGIC", "VERSION", "HEADER",
           "STRIDE", "LEVELS", "DEFAULT_LEVEL"]

MAGIC = b"OICM"
VERSION = 1
#: payload model id -> zoo key
MODEL_IDS: dict[int, str] = {1: "omni-icm-1"}
HEADER = struct.Struct(">4sBB8sHHBHHHI")
STRIDE = 8
#: rate points of model 1 (= len(omni_icm_model.STEPS)) and the default one
LEVELS = 5
DEFAULT_LEVEL = 2


@dataclass(frozen=True, eq=False)
class FeatureMap:
    """Decoded features of an ``omni-icm`` payload (``aigif.features``).

    ``map``: numpy float32 [C, h, w] (h = ceil(height / 8), w = ceil(width / 8)), the
    dequantized latent, identical on every machine; ``symbols``: the integer symbols it
    is made of (int32, same shape); ``step``: the quantization step (float);
    ``level``: the rate point; ``model``: the zoo key; ``size``: the image's (width,
    height). ``pooled()``: the C-vector of the mean over space (a global descriptor).
    """
    map: Any
    symbols: Any
    step: float
    level: int
    model: str
    size: tuple[int, int]

    def pooled(self):
        return self.map.mean(axis=(1, 2))


def _layout(width: int, height: int) -> tuple[int, int]:
    return -(-height // STRIDE), -(-width // STRIDE)


def level_of(quality: int | None) -> int:
    return DEFAULT_LEVEL if quality is None else round(quality * (LEVELS - 1) / 100)


class OmniIcmCodec(ZooCodec):
    key: ClassVar[str] = "omni-icm"
    code: ClassVar[int] = 14
    mime: ClassVar[str] = "application/x-aigif-omni-icm"
    extension: ClassVar[str] = "oicm"
    lossy: ClassVar[bool] = True
    lossless: ClassVar[bool] = False
    extra: ClassVar[str] = "learned"
    #: a codec whose payload is features for machines (``aigif.features``)
    feature_codec: ClassVar[bool] = True
    #: the model id new payloads use (tests may point it at in-memory weights)
    default_model: ClassVar[int] = 1

    model_ids: ClassVar[dict[int, str]] = MODEL_IDS

    def encode(self, image, quality: int | None = None, lossless: bool = False,
               effort: int | None = None, model: int | None = None, **opts: Any) -> bytes:
        import numpy as np

        if lossless:
            raise CodecError("omni-icm has no lossless mode")
        if effort is not None:
            raise CodecError("omni-icm has no effort setting")
        model_id = self.default_model if model is None else model
        coder, h8 = self._coder(model_id)
        level = level_of(quality)
        if not 0 <= level < coder.levels:
            raise CodecError(f"omni-icm model {model_id} has levels 0..{coder.levels - 1}")
        image, w, h = self._rgb_input(image)
        hy, wy = _layout(w, h)
        sym = coder.analyse(np.asarray(image), level)
        yb = coder.stream(sym, level)
        return HEADER.pack(MAGIC, VERSION, model_id, h8, w, h, level, coder.M, hy, wy,
                           len(yb)) + yb

    def _parse(self, data: bytes) -> tuple:
        from .._pillow import check_size
        if len(data) < 5:
            raise CodecError(f"omni-icm payload truncated: {len(data)} bytes")
        if data[:4] != MAGIC:
            raise CodecError("not an omni-icm payload (bad magic)")
        if data[4] != VERSION:
            raise CodecError(f"omni-icm payload version {data[4]} is not supported (1)")
        if len(data) < HEADER.size:
            raise CodecError(f"omni-icm payload truncated: {len(data)} bytes, header is "
                             f"{HEADER.size}")
        (_, _, model_id, h8, w, h, level, m, hy, wy, yl) = HEADER.unpack_from(data)
        if w < 1 or h < 1:
            raise CodecError(f"omni-icm payload declares an empty image {w}x{h}")
        check_size((w, h), "omni-icm payload")
        if level >= LEVELS:
            raise CodecError(f"omni-icm payload declares level {level} (0..{LEVELS - 1})")
        if (hy, wy) != _layout(w, h):
            raise CodecError(f"omni-icm payload feature shape {hy}x{wy} does not match a "
                             f"{w}x{h} image (expected {_layout(w, h)[0]}x{_layout(w, h)[1]})")
        if yl % 4 or HEADER.size + yl != len(data):
            raise CodecError(f"omni-icm payload stream length {yl} does not match its "
                             f"{len(data) - HEADER.size} bytes (truncated or forged)")
        if model_id not in MODEL_IDS:
            raise CodecError(f"omni-icm payload names unknown model {model_id}")
        return model_id, h8, w, h, level, m, hy, wy

    def probe(self, data: bytes) -> tuple[int, int]:
        _, _, w, h, *_ = self._parse(bytes(data))
        return w, h

    def decode_symbols(self, data: bytes, dtype=None):
        """(coder, symbols int32 [M, hy, wy], level, width, height): integers only."""
        from .coding import CodingError
        data = bytes(data)
        model_id, h8, w, h, level, m, hy, wy = self._parse(data)
        coder, mine = self._coder(model_id, dtype)
        if h8 != mine:
            raise CodecError(f"omni-icm payload was made with other weights (hash "
                             f"{h8.hex()}, installed {mine.hex()})")
        if m != coder.M:
            raise CodecError(f"omni-icm payload channel count {m} does not match the model "
                             f"({coder.M})")
        if level >= coder.levels:
            raise CodecError(f"omni-icm payload level {level} is not one of model "
                             f"{model_id}'s 0..{coder.levels - 1}")
        try:
            sym = coder.parse(data[HEADER.size:], level, hy, wy)
        except CodingError as e:
            raise CodecError(f"omni-icm payload: {e}") from e
        return coder, sym, level, w, h

    def features(self, data: bytes) -> FeatureMap:
        """The decoded feature map, without pixel synthesis (no float network runs)."""
        coder, sym, level, w, h = self.decode_symbols(data)
        model_id = data[5]
        return FeatureMap(coder.features(sym, level), sym, coder.steps[level] / 256.0,
                          level, MODEL_IDS[model_id], (w, h))

    def decode(self, data: bytes, dtype=None):
        """A *preview* image from the light decoder (not a faithful reconstruction)."""
        from PIL import Image
        coder, sym, level, w, h = self.decode_symbols(data, dtype)
        return Image.fromarray(coder.preview(sym, level, h, w), "RGB")
