"""The ``sth`` pixel codec (frozen code 6): a learned mean-scale hyperprior trained
soft-then-hard (training/codecs/train_sth.py, docs/model-card-sth.md).

Payload syntax (spec/aigif-v1.md, "Syntax: sth payload"; integers big-endian)::

    magic "STHC" | version u8 (1: no context; 2: with a complexity level) | model u8
    (1 = sth-mshp-1, version 1; 2 = sth-rdc-1, version 2) | weights: 8 bytes (SHA-256
    prefix of the weights file) | width u16 | height u16 | step u16 (quantization step in
    1/256, 256 = the trained step) | [version 2: level u8] | M u16 | hy u16 | wy u16 |
    H u16 | hz u16 | wz u16 | z_len u32 | y_len u32 | z stream | y stream

Version 2 (model ``sth-rdc-1``, :mod:`.rdc`) adds the RDC complexity level: how much
spatial context the entropy model uses (0 none .. 3 = 16 interleaved passes), chosen per
file with ``effort`` (more effort: fewer bytes, slower decode).

Everything is checked (size against the pixel budget, shapes against the model and the
size, lengths against the payload) before any tensor is built. The decoder derives the
scale indices and means of the latents from the hyper-latent symbols with an integer
network (:mod:`.intnet`), so the symbols decode identically on every machine; only the
final synthesis runs in float (pixels MAY differ by rounding between machines).

One trained model (one lambda); ``quality`` picks the quantization step of its latents:
step = 2^((75 - quality) / 25) (quality 75 or None: the trained step 1; 50: 2; 100: 1/2),
coded exactly in 1/256 units. Steps away from 1 trade rate for quality less efficiently
than separately trained models would (docs/model-card-sth.md).
Torch, numpy and constriction are imported only when a payload is encoded or decoded.
"""
from __future__ import annotations

import struct
from typing import Any, ClassVar

from ...errors import CodecError
from ._base import ZooCodec, quality_step

STEP_ONE = 256  # = models.STEP_ONE (models imports torch; this module must not)

__all__ = ["SthCodec", "MODEL_IDS", "MAGIC", "VERSION", "HEADER"]

MAGIC = b"STHC"
VERSION = 1
#: payload model id -> zoo key
MODEL_IDS: dict[int, str] = {1: "sth-mshp-1", 2: "sth-rdc-1"}
HEADER = struct.Struct(">4sBB8sHHHHHHHHHII")
#: version 2: a level byte after step
HEADER2 = struct.Struct(">4sBB8sHHHBHHHHHHII")
STRIDE = 64
#: RDC complexity levels of version-2 models (= len(rdc.LEVELS)); the default level
LEVELS = 4
DEFAULT_LEVEL = 2


def _layout(width: int, height: int) -> tuple[int, int, int, int]:
    hz, wz = -(-height // STRIDE), -(-width // STRIDE)
    return hz * 4, wz * 4, hz, wz


class SthCodec(ZooCodec):
    key: ClassVar[str] = "sth"
    code: ClassVar[int] = 6
    mime: ClassVar[str] = "application/x-aigif-sth"
    extension: ClassVar[str] = "sth"
    lossy: ClassVar[bool] = True
    lossless: ClassVar[bool] = False
    extra: ClassVar[str] = "learned"
    #: ``effort`` = the RDC complexity level of version-2 models (0 fastest .. 3 smallest)
    effort_range: ClassVar[tuple[int, int] | None] = (0, LEVELS - 1)
    #: the model id new payloads use (tests may point it at in-memory weights)
    default_model: ClassVar[int] = 2

    model_ids: ClassVar[dict[int, str]] = MODEL_IDS

    def encode(self, image, quality: int | None = None, lossless: bool = False,
               effort: int | None = None, model: int | None = None, **opts: Any) -> bytes:
        import numpy as np

        if lossless:
            raise CodecError("sth has no lossless mode")
        model_id = self.default_model if model is None else model
        coder, h8 = self._coder(model_id)
        step = quality_step(quality, STEP_ONE)
        image, w, h = self._rgb_input(image)
        hy, wy, hz, wz = _layout(w, h)
        if getattr(coder, "levels", None) is None:      # version 1: no context levels
            if effort not in (None, 0):
                raise CodecError(f"sth model {model_id} has no complexity levels "
                                 f"(effort {effort})")
            z_sym, y_sym = coder.analyse(np.asarray(image), step)
            zb, yb = coder.streams(z_sym, y_sym, step)
            head = HEADER.pack(MAGIC, VERSION, model_id, h8, w, h, step, coder.M, hy, wy,
                               coder.H, hz, wz, len(zb), len(yb))
            return head + zb + yb
        level = DEFAULT_LEVEL if effort is None else int(effort)
        zb, yb, _ = coder.encode(np.asarray(image), step, level)
        head = HEADER2.pack(MAGIC, 2, model_id, h8, w, h, step, level, coder.M, hy, wy,
                            coder.H, hz, wz, len(zb), len(yb))
        return head + zb + yb

    def _parse(self, data: bytes) -> tuple:
        from .._pillow import check_size
        if len(data) < 6:
            raise CodecError(f"sth payload truncated: {len(data)} bytes")
        if data[:4] != MAGIC:
            raise CodecError("not an sth payload (bad magic)")
        version = data[4]
        if version not in (1, 2):
            raise CodecError(f"sth payload version {version} is not supported (1 or 2)")
        head = HEADER if version == 1 else HEADER2
        if len(data) < head.size:
            raise CodecError(f"sth payload truncated: {len(data)} bytes, header is "
                             f"{head.size}")
        if version == 1:
            (magic, version, model_id, h8, w, h, step, m, hy, wy, hh, hz, wz, zl,
             yl) = HEADER.unpack_from(data)
            level = None
        else:
            (magic, version, model_id, h8, w, h, step, level, m, hy, wy, hh, hz, wz, zl,
             yl) = HEADER2.unpack_from(data)
            if level >= LEVELS:
                raise CodecError(f"sth payload declares complexity level {level} (0..{LEVELS - 1})")
        if w < 1 or h < 1:
            raise CodecError(f"sth payload declares an empty image {w}x{h}")
        check_size((w, h), "sth payload")
        if step < 1:
            raise CodecError("sth payload declares quantization step 0")
        if (hy, wy, hz, wz) != _layout(w, h):
            raise CodecError(f"sth payload latent shapes {hy}x{wy}/{hz}x{wz} do not match "
                             f"a {w}x{h} image")
        if zl % 4 or yl % 4 or head.size + zl + yl != len(data):
            raise CodecError(f"sth payload sub-stream lengths {zl} + {yl} do not match its "
                             f"{len(data) - head.size} bytes (truncated or forged)")
        if model_id not in MODEL_IDS:
            raise CodecError(f"sth payload names unknown model {model_id}")
        return model_id, h8, w, h, step, m, hy, wy, hh, hz, wz, zl, yl, level, head.size

    def probe(self, data: bytes) -> tuple[int, int]:
        _, _, w, h, *_ = self._parse(bytes(data))
        return w, h

    def decode_symbols(self, data: bytes, dtype=None):
        """(coder, z_sym, y, width, height, step): all but the float synthesis. ``y`` is
        the latent symbols (version 1) or the fixed-point latents (version 2)."""
        from .coding import CodingError
        data = bytes(data)
        (model_id, h8, w, h, step, m, hy, wy, hh, hz, wz, zl, yl, level,
         hs) = self._parse(data)
        coder, mine = self._coder(model_id, dtype)
        if (level is None) != (getattr(coder, "levels", None) is None):
            raise CodecError(f"sth payload version {data[4]} does not fit model {model_id}")
        if h8 != mine:
            raise CodecError(f"sth payload was made with other weights (hash {h8.hex()}, "
                             f"installed {mine.hex()})")
        if m != coder.M or hh != coder.H:
            raise CodecError(f"sth payload channel counts {m}/{hh} do not match the model "
                             f"({coder.M}/{coder.H})")
        zb = data[hs:hs + zl]
        yb = data[hs + zl:]
        try:
            if level is None:
                z_sym, y_sym = coder.parse(zb, yb, hz, wz, step)
            else:
                z_sym, y_sym = None, coder.decode_latents(zb, yb, hz, wz, step, level)
        except CodingError as e:
            raise CodecError(f"sth payload: {e}") from e
        return coder, z_sym, y_sym, w, h, step

    def decode(self, data: bytes, dtype=None):
        from PIL import Image
        coder, z_sym, y_sym, w, h, step = self.decode_symbols(data, dtype)
        if z_sym is None:
            rgb = coder.synthesize(y_sym, h, w)
        else:
            rgb = coder.synthesize(z_sym, y_sym, h, w, step)
        return Image.fromarray(rgb, "RGB")

