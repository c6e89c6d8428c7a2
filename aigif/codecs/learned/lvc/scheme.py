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
The loop itself (``encode`` / ``decode``, re-exported here) lives in :mod:`.bitstream`,
beside the container it writes and reads; it loads the scheme class by the codec's
``scheme_ref``. Torch and numpy are imported inside the methods.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ....errors import CodecError
from .bitstream import COMMON_OPTIONS, KIND_I, KIND_P, SKIP_LAMBDA, Header, decode, encode
from .motion import to_uint8

__all__ = ["Scheme", "encode", "decode", "COMMON_OPTIONS"]

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
    @property
    def lam(self) -> float:
        """The crf's rate-distortion trade: MSE (0..1 units) one bit per pixel is worth,
        ``SKIP_LAMBDA`` at crf 28, doubling every 4 crf (the residual skip's and the
        motion's)."""
        return SKIP_LAMBDA * 2 ** ((self.head.crf - 28) / 4)

    def res_encode(self, x, pred) -> tuple[list, Any]:
        """The conditional residual coder on frame ``x`` given ``pred`` ([1, 3, H, W])."""
        return self.residual.encode(x, pred, self.head.step)

    def res_code(self, x, pred) -> tuple[list, Any]:
        """The residual of a P frame, or none: ``([z, y], x_hat)``, or ``([], prediction
        rounded to 8 bits)`` when coding the residual is not worth its bits (its MSE gain
        below ``lam x bits / pixels``: static content, or a residual model that cannot
        improve on the prediction at this step). ``x`` may be smaller than the output
        frame (imclvc's low-rate mode codes half size): its own pixels count."""
        import numpy as np
        streams, x_hat = self.res_encode(x, pred)
        p8 = to_uint8(pred)
        xf = np.asarray(x, np.float64)
        mse_r = np.mean((x_hat - xf) ** 2) / 255 ** 2
        mse_p = np.mean((p8 - xf) ** 2) / 255 ** 2
        bits = 8 * sum(map(len, streams))
        if mse_p <= mse_r + self.lam * bits / (xf.shape[0] * xf.shape[1]):
            return [], p8
        return streams, x_hat

    def res_uncode(self, streams: list, pred):
        """Decoder of :meth:`res_code`: no sub-stream = the prediction rounded."""
        if not streams:
            return to_uint8(pred)
        return self.res_decode(streams, pred)

    def res_decode(self, streams: list, pred):
        if self.trace is not None:
            h, w = pred.shape[-2:]
            self.note(self.residual.decode_symbols(list(streams), h, w, self.head.step)[2])
        return self.residual.decode(list(streams), pred, self.head.step)

    def padded_refs(self, bs: int = 16):
        """The references padded (edge replicate) to multiples of ``bs``: newest last."""
        import numpy as np
        ph, pw = -self.height % bs, -self.width % bs
        return [np.pad(r, ((0, ph), (0, pw), (0, 0)), mode="edge") for r in self.refs]


