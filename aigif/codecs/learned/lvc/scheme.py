"""The encode/decode loop every lvc scheme shares, and the ``Scheme`` hook a scheme
implements (envc: :mod:`.envc`, vlvc: :mod:`.vlvc`, ssvc: :mod:`.ssvc`, imclvc:
:mod:`.imclvc`).

The loop (low-delay P): frame 0, and every ``gop``-th frame when ``gop`` > 0, is an I
frame (``Scheme.encode_intra``: by default the ``sth-rdc-1`` coder at ``intra_step``);
the others are P frames (``Scheme.encode_inter``: motion + the conditional residual coder
``lvc-res-1`` at ``step``). After each frame the loop appends the decoded frame (uint8,
rounded: the next frame's reference, so float drift cannot accumulate past one frame) to
``scheme.refs`` (the newest last, at most ``scheme.n_refs`` kept). Decoding runs the same
scheme methods' decoder halves, so the encoder's reconstruction and the decoder's output
are the same arrays on the same machine and dtype.

Writing a scheme (see :class:`Scheme`): subclass it, set ``key`` (= the codec key),
``options`` (its own encode options and defaults), ``n_refs``; implement ``ext`` /
``read_ext`` (its header extension bytes), ``encode_inter`` / ``decode_inter`` (and
``encode_intra`` / ``decode_intra`` to replace the I-frame coder, ``reset`` for state
cleared at I frames, ``encode_frame`` / ``decode_frame`` for frame kinds beyond I/P).
Torch is imported lazily by the scheme modules' callers: this module is only imported
from ``LvcCodec.encode``/``decode``.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, ClassVar

from ....errors import AigifError, CodecError, LimitExceededError
from .. import zoo
from .bitstream import (DEFAULT_CRF, INTRA_MODELS, KIND_I, KIND_P, RES_MODELS, Header,
                        crf_step, intra_step, pack_frame, pack_header, parse)

__all__ = ["Scheme", "encode", "decode", "COMMON_OPTIONS"]

#: MSE (0..1 units) per bit per pixel at crf 28 below which a P frame's residual is skipped
#: (about the slope of the learned codecs' rate-distortion curves there)
SKIP_LAMBDA = 1e-3

#: encode options every scheme takes: name -> default
COMMON_OPTIONS: dict[str, Any] = {"gop": 0, "intra_level": 1, "motion": "medium"}


class Scheme:
    """One coding scheme; an instance codes or decodes ONE payload.

    Attributes the loop sets: ``head`` (:class:`.bitstream.Header`), ``width``,
    ``height``, ``dtype`` (torch dtype of every float network), ``opts`` (the encode
    options, defaults filled; empty when decoding), ``intra`` / ``intra_hash`` (the I-frame
    coder), ``residual`` / ``res_hash`` (the ``lvc-res-1`` coder), ``refs`` (decoded
    frames, uint8 [H, W, 3], newest last), ``index`` (the frame number being coded).
    """

    #: the codec key (envc, vlvc, ...)
    key: ClassVar[str] = ""
    #: the scheme's own encode options: name -> default (checked: bool/int/str by default)
    options: ClassVar[dict[str, Any]] = {}
    #: the scheme's decode options (``LvcCodec.decode(data, **opts)``): name -> default
    decode_options: ClassVar[dict[str, Any]] = {}
    #: how many decoded frames it keeps as references
    n_refs: ClassVar[int] = 1
    #: intra_model / res_model ids it codes with (bitstream.INTRA_MODELS / RES_MODELS)
    intra_model: ClassVar[int] = 1
    res_model: ClassVar[int] = 1

    def __init__(self, head: Header, dtype, opts: dict):
        self.head = head
        self.width, self.height = head.width, head.height
        self.dtype = dtype
        self.opts = opts
        self.refs: list = []
        self.index = 0
        self.intra = self.intra_hash = self.residual = self.res_hash = None
        #: None, or a list that collects every integer array the decoder derives (flow
        #: fields, latents) in decoding order: conformance vectors hash it
        self.trace: list | None = None

    def note(self, *arrays) -> None:
        """Record decoded integer arrays in ``trace`` (when tracing)."""
        if self.trace is not None:
            self.trace.extend(arrays)

    # -- header extension -------------------------------------------------------------------
    def ext(self) -> bytes:
        """Encoder: the scheme's header extension (from ``self.opts``)."""
        return b""

    def read_ext(self, ext: bytes) -> None:
        """Decoder: parse and check the header extension; CodecError when it is bad."""
        if ext:
            raise CodecError(f"{self.key} payload: unexpected {len(ext)}-byte header "
                             f"extension")

    # -- per frame ---------------------------------------------------------------------------
    def is_intra(self, t: int) -> bool:
        gop = self.opts.get("gop", 0)
        return t == 0 or bool(gop and t % gop == 0)

    def encode_frame(self, t: int, x) -> tuple[int, list, Any]:
        """Frame ``x`` (uint8 [H, W, 3]) -> (kind, sub-streams, decoded frame uint8)."""
        if self.is_intra(t):
            self.reset()
            return (KIND_I, *self.encode_intra(x))
        return (KIND_P, *self.encode_inter(x))

    def decode_frame(self, kind: int, streams: list):
        """One frame record -> the decoded frame (uint8 [H, W, 3]); CodecError if bad."""
        if kind == KIND_I:
            self.reset()
            return self.decode_intra(streams)
        if kind == KIND_P:
            return self.decode_inter(streams)
        raise CodecError(f"{self.key} payload frame {self.index}: unknown frame kind {kind}")

    def reset(self) -> None:
        """Clear the state an I frame resets (e.g. flow history)."""

    def encode_intra(self, x) -> tuple[list, Any]:
        """Default I frame: the sth-rdc-1 coder. Streams [z, y]."""
        head = self.head
        zb, yb, _ = self.intra.encode(x, head.intra_step, head.intra_level)
        return [zb, yb], self.decode_intra([zb, yb])

    def decode_intra(self, streams: list):
        from ..coding import CodingError
        if len(streams) != 2:
            raise CodecError(f"{self.key} payload frame {self.index}: an I frame has 2 "
                             f"sub-streams, not {len(streams)}")
        head = self.head
        hz, wz = -(-head.height // 64), -(-head.width // 64)
        try:
            y = self.intra.decode_latents(streams[0], streams[1], hz, wz, head.intra_step,
                                          head.intra_level)
        except CodingError as e:
            raise CodecError(f"{self.key} payload frame {self.index} (I): {e}") from e
        self.note(y)
        return self.intra.synthesize(y, head.height, head.width)

    def encode_inter(self, x) -> tuple[list, Any]:
        raise NotImplementedError

    def decode_inter(self, streams: list):
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------
    def res_encode(self, x, pred) -> tuple[list, Any]:
        """The conditional residual coder on frame ``x`` given ``pred`` ([1, 3, H, W])."""
        return self.residual.encode(x, pred, self.head.step)

    def res_code(self, x, pred) -> tuple[list, Any]:
        """The residual of a P frame, or none: ``([z, y], x_hat)``, or ``([], prediction
        rounded to 8 bits)`` when coding the residual is not worth its bits (its MSE gain
        below ``lambda x bits / pixels``, lambda doubling every 4 crf: static content, or
        a residual model that cannot improve on the prediction at this step)."""
        import numpy as np

        from .motion import to_uint8
        streams, x_hat = self.res_encode(x, pred)
        p8 = to_uint8(pred)
        xf = np.asarray(x, np.float64)
        mse_r = np.mean((x_hat - xf) ** 2) / 255 ** 2
        mse_p = np.mean((p8 - xf) ** 2) / 255 ** 2
        lam = SKIP_LAMBDA * 2 ** ((self.head.crf - 28) / 4)
        bits = 8 * sum(map(len, streams))
        if mse_p <= mse_r + lam * bits / (self.width * self.height):
            return [], p8
        return streams, x_hat

    def res_uncode(self, streams: list, pred):
        """Decoder of :meth:`res_code`: no sub-stream = the prediction rounded."""
        if not streams:
            from .motion import to_uint8
            return to_uint8(pred)
        return self.res_decode(streams, pred)

    def res_decode(self, streams: list, pred):
        if self.trace is not None:
            self.note(self.residual.decode_symbols(list(streams), self.height, self.width,
                                                   self.head.step)[2])
        return self.residual.decode(list(streams), pred, self.head.step)

    def padded_refs(self, bs: int = 16):
        """The references padded (edge replicate) to multiples of ``bs``: newest last."""
        import numpy as np
        ph, pw = -self.height % bs, -self.width % bs
        return [np.pad(r, ((0, ph), (0, pw), (0, 0)), mode="edge") for r in self.refs]


# --------------------------------------------------------------------------- options
def _options(codec, cls, crf, opts: dict) -> tuple[int, dict]:
    known = {**COMMON_OPTIONS, **cls.options}
    bad = sorted(set(opts) - set(known))
    if bad:
        raise CodecError(f"{codec.key} has no option {', '.join(map(repr, bad))}; its "
                         f"options: crf, {', '.join(known)}")
    if crf is None:
        crf = DEFAULT_CRF
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise CodecError(f"{codec.key} crf must be an integer 0..51, got {crf!r}")
    out = dict(known)
    for k, v in opts.items():
        d = known[k]
        if isinstance(d, bool):
            if not isinstance(v, bool):
                raise CodecError(f"{codec.key} option {k} must be True or False, got {v!r}")
        elif isinstance(d, int):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise CodecError(f"{codec.key} option {k} must be an integer >= 0, got {v!r}")
        elif isinstance(d, str) and not isinstance(v, str):
            raise CodecError(f"{codec.key} option {k} must be a string, got {v!r}")
        out[k] = v
    if out["gop"] > 0xFFFF:
        raise CodecError(f"{codec.key} gop must be 0..65535, got {out['gop']}")
    if out["intra_level"] > 3:
        raise CodecError(f"{codec.key} intra_level must be 0..3, got {out['intra_level']}")
    if out["motion"] not in ("ultrafast", "fast", "medium"):
        raise CodecError(f"{codec.key} motion must be 'ultrafast', 'fast' or 'medium', got "
                         f"{out['motion']!r}")
    return crf, out


def _load(codec, table: dict, model_id: int, dtype, what: str):
    key = table.get(model_id)
    if key is None:
        raise CodecError(f"{codec.key} payload names unknown {what} model {model_id}")
    if not zoo.available(key):
        raise CodecError(f"{codec.key} {what} model {key!r}: weights not installed "
                         f"({zoo.path(key)})")
    return zoo.load(key, dtype)


def _attach(codec, scheme: Scheme, dtype, check: Header | None) -> None:
    scheme.intra, scheme.intra_hash = _load(codec, INTRA_MODELS, scheme.intra_model, dtype,
                                            "intra")
    scheme.residual, scheme.res_hash = _load(codec, RES_MODELS, scheme.res_model, dtype,
                                             "residual")
    if check is not None:
        if check.intra_hash != scheme.intra_hash or check.res_hash != scheme.res_hash:
            raise CodecError(
                f"{codec.key} payload was made with other weights (intra "
                f"{check.intra_hash.hex()} / residual {check.res_hash.hex()}, installed "
                f"{scheme.intra_hash.hex()} / {scheme.res_hash.hex()})")


# --------------------------------------------------------------------------- loop
def encode(codec, frames, fps: Fraction, crf, opts: dict, recon: list | None = None) -> bytes:
    """``frames`` (uint8 [T, H, W, 3], checked) -> the payload bytes; ``recon`` (a list)
    receives the encoder's decoded frames."""
    import torch

    from ...video import check_video_size
    cls = codec.scheme_class()
    crf, opts = _options(codec, cls, crf, opts)
    t, h, w, _ = frames.shape
    check_video_size(w, h, t, f"{codec.key} frames")
    if w > 0xFFFF or h > 0xFFFF or t > 0xFFFF:
        raise CodecError(f"{codec.key} codes at most 65535 frames of 65535 x 65535")
    if fps.numerator > 0xFFFFFFFF or fps.denominator > 0xFFFFFFFF:
        raise CodecError(f"{codec.key}: frame rate {fps} does not fit 32-bit terms")
    dtype = torch.float32
    head = Header(codec.code, w, h, t, fps, crf, crf_step(crf), intra_step(crf), opts["gop"],
                  opts["intra_level"], cls.intra_model, b"\0" * 8, cls.res_model, b"\0" * 8,
                  b"")
    scheme = cls(head, dtype, opts)
    _attach(codec, scheme, dtype, None)
    head = head._replace(intra_hash=scheme.intra_hash, res_hash=scheme.res_hash)
    scheme.head = head
    head = head._replace(ext=scheme.ext())
    scheme.head = head
    out = [pack_header(head)]
    with torch.no_grad():
        for i in range(t):
            scheme.index = i
            kind, streams, x_hat = scheme.encode_frame(i, frames[i])
            out.append(pack_frame(kind, streams))
            _push(scheme, x_hat)
            if recon is not None:
                recon.append(x_hat)
    return b"".join(out)


def _push(scheme: Scheme, x_hat) -> None:
    scheme.refs.append(x_hat)
    del scheme.refs[:-scheme.n_refs]


def decode(codec, data: bytes, dtype, opts: dict, trace: list | None = None):
    """The payload -> (frames uint8 [T, H, W, 3], fps). CodecError / LimitExceededError.
    ``trace`` (a list) receives the decoded integer arrays (``Scheme.note``)."""
    what = f"{codec.key} payload"
    head, records = parse(data, what)
    if head.scheme != codec.code:
        raise CodecError(f"{what} declares scheme {head.scheme} (expected {codec.code})")
    cls = codec.scheme_class()
    if head.intra_model != cls.intra_model or head.res_model != cls.res_model:
        raise CodecError(f"{what} names models {head.intra_model}/{head.res_model} "
                         f"({codec.key} codes with {cls.intra_model}/{cls.res_model})")
    bad = sorted(set(opts) - set(cls.decode_options))
    if bad:
        raise CodecError(f"{codec.key} decode has no option {', '.join(map(repr, bad))}"
                         + (f"; its options: {', '.join(cls.decode_options)}"
                            if cls.decode_options else ""))
    import numpy as np
    import torch
    dtype = dtype or torch.float32
    scheme = cls(head, dtype, {**cls.decode_options, **opts})
    scheme.read_ext(head.ext)
    scheme.trace = trace
    _attach(codec, scheme, dtype, head)
    out = np.empty((head.frames, head.height, head.width, 3), np.uint8)
    try:
        with torch.no_grad():
            for i, rec in enumerate(records):
                scheme.index = i
                x_hat = scheme.decode_frame(rec.kind, rec.streams)
                out[i] = x_hat
                _push(scheme, x_hat)
    except AigifError:
        raise
    except MemoryError:
        raise LimitExceededError(f"{what}: out of memory while decoding") from None
    except (ValueError, RuntimeError, IndexError, OverflowError, TypeError) as e:
        raise CodecError(f"{what} frame {scheme.index} does not decode: "
                         f"{type(e).__name__}: {e}") from e
    return out, head.fps
