"""The lvc payload container (no torch, no numpy at import): header, frame records, the
shared encode/decode loop, the codec classes.

Payload syntax (spec/aigif-v1.md, "Syntax: lvc video payloads"; integers big-endian)::

    header (48 bytes):
      magic "LVC1" | version u8 (1) | scheme u8 (the codec's PixelCodec code: 15 envc,
      16 vlvc, 17 ssvc, 18 imclvc) | width u16 | height u16 | frames u16 | fps_num u32 |
      fps_den u32 | crf u8 (informative) | step u16 (P-frame latent step, 1/256 units) |
      intra_step u16 | gop u16 (intra period, 0: only frame 0; informative) |
      intra_level u8 (RDC context level of I frames, 0..3) | intra_model u8 |
      intra_hash 8 bytes | res_model u8 | res_hash 8 bytes | ext_len u16
    ext: ext_len bytes, the scheme's own header fields (scheme.read_ext parses them)
    frames x frame record:
      kind u8 (0 = I, 1 = P; a scheme may define more) | n u8 (sub-streams) |
      n x length u32 | the n sub-streams, in order

Everything is parsed and checked (sizes against ``check_video_size``, the record count,
every length against the bytes left, no byte left over) before a model is loaded or a
tensor built: ``parse`` raises CodecError / LimitExceededError only.

``LvcCodec`` is the video codec base of the four schemes; its ``encode``/``decode`` run the
shared loop (``encode`` / ``decode`` here: I frames, P frames, references; the per-frame
work is the scheme's, :class:`.scheme.Scheme`) with the codec's scheme class (``scheme_ref``, a
"module:attr" string chosen by the codec class, never by the payload's bytes). ssvc has its
own codec class (``lvc.ssvc.SsvcCodec``, its own loop over per-group sub-streams) on the
same container.
"""
from __future__ import annotations

import importlib.util
import struct
from fractions import Fraction
from typing import Any, ClassVar, NamedTuple

from ....errors import AigifError, CodecError, LimitExceededError
from ....registry import load_ref
from ....spec import MAX_FPS
from ...video import VideoCodec, as_fps, as_frames, check_video_size
from .._base import load_model

__all__ = ["MAGIC", "VERSION", "HEADER", "Header", "Frame", "parse", "pack_header",
           "pack_frame", "crf_step", "intra_step", "LvcCodec", "EnvcCodec", "VlvcCodec",
           "ImclvcCodec", "INTRA_MODELS", "RES_MODELS", "KIND_I", "KIND_P",
           "DEFAULT_CRF", "STEP_ONE", "COMMON_OPTIONS", "SKIP_LAMBDA", "encode", "decode"]

MAGIC = b"LVC1"
VERSION = 1
HEADER = struct.Struct(">4sBBHHHIIBHHHBB8sB8sH")
_REC = struct.Struct(">BB")
KIND_I = 0
KIND_P = 1
STEP_ONE = 256
DEFAULT_CRF = 28
#: I frames are coded this many crf units finer than P frames
INTRA_CRF_OFFSET = 6
#: intra_model id -> zoo key (frozen: the spec's table)
INTRA_MODELS: dict[int, str] = {1: "sth-rdc-1", 2: "gitssic-1"}
#: res_model id -> zoo key
RES_MODELS: dict[int, str] = {1: "lvc-res-1"}

#: MSE (0..1 units) per bit per pixel at crf 28 below which a P frame's residual is skipped
#: (about the slope of the learned codecs' rate-distortion curves there)
SKIP_LAMBDA = 1e-3

#: encode options every scheme takes: name -> default
COMMON_OPTIONS: dict[str, Any] = {"gop": 0, "intra_level": 2, "motion": "medium"}


def crf_step(crf: int) -> int:
    """The latent quantization step (1/256 units) of ``crf`` (0..51; 28 = the trained step
    256): ``round(256 * 2^((crf - 28) / 8))`` clamped to 1..65535 (8 crf = 2x the step)."""
    return max(1, min(0xFFFF, round(STEP_ONE * 2 ** ((crf - 28) / 8))))


def intra_step(crf: int) -> int:
    """The I-frame step of ``crf``: ``crf_step(crf - 6)`` (I frames finer: P frames lean on
    them)."""
    return crf_step(crf - INTRA_CRF_OFFSET)


class Header(NamedTuple):
    scheme: int
    width: int
    height: int
    frames: int
    fps: Fraction
    crf: int
    step: int
    intra_step: int
    gop: int
    intra_level: int
    intra_model: int
    intra_hash: bytes
    res_model: int
    res_hash: bytes
    ext: bytes


class Frame(NamedTuple):
    kind: int
    streams: list


def pack_header(h: Header) -> bytes:
    ext = bytes(h.ext)
    if len(ext) > 0xFFFF:
        raise CodecError("lvc header extension over 65535 bytes")
    return HEADER.pack(MAGIC, VERSION, h.scheme, h.width, h.height, h.frames,
                       h.fps.numerator, h.fps.denominator, h.crf, h.step, h.intra_step,
                       h.gop, h.intra_level, h.intra_model, h.intra_hash, h.res_model,
                       h.res_hash, len(ext)) + ext


def pack_frame(kind: int, streams) -> bytes:
    if not 0 <= kind <= 255 or len(streams) > 255:
        raise CodecError(f"lvc frame record: kind {kind}, {len(streams)} sub-streams")
    out = [_REC.pack(kind, len(streams))]
    for s in streams:
        if len(s) > 0xFFFFFFFF:
            raise CodecError("lvc sub-stream over 4 GiB")
        out.append(struct.pack(">I", len(s)))
    out.extend(bytes(s) for s in streams)
    return b"".join(out)


def parse_header(data: bytes, what: str = "lvc payload") -> tuple[Header, int]:
    """The header and the offset of the first frame record; sizes checked."""
    if len(data) < HEADER.size:
        raise CodecError(f"{what} truncated: {len(data)} bytes, the header is {HEADER.size}")
    (magic, version, scheme, w, h, t, fn, fd, crf, step, istep, gop, level, im, ih, rm, rh,
     el) = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CodecError(f"not an {what} (bad magic {magic!r})")
    if version != VERSION:
        raise CodecError(f"{what} version {version} is not supported ({VERSION})")
    check_video_size(w, h, t, what)
    if fn == 0 or fd == 0 or Fraction(fn, fd) > MAX_FPS:
        raise CodecError(f"{what} declares frame rate {fn}/{fd} (0 < fps <= {MAX_FPS})")
    if step == 0 or istep == 0:
        raise CodecError(f"{what} declares quantization step 0")
    if level > 3:
        raise CodecError(f"{what} declares intra level {level} (0..3)")
    if crf > 51:
        raise CodecError(f"{what} declares crf {crf} (0..51)")
    end = HEADER.size + el
    if end > len(data):
        raise CodecError(f"{what} truncated in its header extension ({el} bytes declared, "
                         f"{len(data) - HEADER.size} left)")
    return Header(scheme, w, h, t, Fraction(fn, fd), crf, step, istep, gop, level, im, ih,
                  rm, rh, bytes(data[HEADER.size:end])), end


def parse(data: bytes, what: str = "lvc payload") -> tuple[Header, list[Frame]]:
    """Header and every frame record (sub-streams as bytes). Raises CodecError for a bad
    magic/version/field, a record count or length that does not fit the bytes, bytes left
    over; LimitExceededError for sizes over the limits. Frame 0 must be an I frame."""
    data = bytes(data)
    head, pos = parse_header(data, what)
    n = len(data)
    frames = []
    for i in range(head.frames):
        if pos + _REC.size > n:
            raise CodecError(f"{what} truncated: frame {i} of {head.frames} missing at byte "
                             f"{pos}")
        kind, k = _REC.unpack_from(data, pos)
        pos += _REC.size
        if pos + 4 * k > n:
            raise CodecError(f"{what} truncated in the lengths of frame {i} (byte {pos})")
        lens = struct.unpack_from(f">{k}I", data, pos)
        pos += 4 * k
        streams = []
        for j, ln in enumerate(lens):
            if ln > n - pos:
                raise CodecError(f"{what} frame {i} sub-stream {j} declares {ln} bytes, "
                                 f"{n - pos} left (truncated or forged)")
            streams.append(data[pos:pos + ln])
            pos += ln
        frames.append(Frame(kind, streams))
    if pos != n:
        raise CodecError(f"{what}: {n - pos} bytes after the last of {head.frames} frames")
    if frames[0].kind != KIND_I:
        raise CodecError(f"{what}: frame 0 is not an I frame (kind {frames[0].kind})")
    return head, frames


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
    return load_model(codec.key, table, model_id, dtype, what)


def _attach(codec, scheme, dtype, check: Header | None) -> None:
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


def _push(scheme, x_hat) -> None:
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
    if dtype not in (torch.float32, torch.float64):
        raise CodecError(f"{what}: dtype must be torch.float32 or torch.float64, not {dtype!r}")
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


# --------------------------------------------------------------------------- codecs
class LvcCodec(VideoCodec):
    """A learned video codec of the lvc family (one scheme). ``encode(frames, fps,
    crf=None, gop=0, intra_level=2, motion="medium", **scheme options)``; ``decode(data,
    dtype=None)``; ``probe(data)``."""

    lossy: ClassVar[bool] = True
    lossless: ClassVar[bool] = False
    crf_range: ClassVar[tuple[int, int] | None] = (0, 51)
    default_crf: ClassVar[int | None] = DEFAULT_CRF
    extra: ClassVar[str] = "learned"
    #: "module:attr" of the scheme class (a :class:`.scheme.Scheme` subclass)
    scheme_ref: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ("torch", "numpy", "constriction", "safetensors")

    def available(self) -> bool:
        mod = self.scheme_ref.partition(":")[0]
        try:
            found = importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError):
            found = False
        return found and all(importlib.util.find_spec(m) is not None for m in self.needs)

    def scheme_class(self):
        try:
            return load_ref(self.scheme_ref)
        except ImportError as e:
            raise CodecError(f"{self.key}: its scheme module is not installed ({e})") from e

    def encode(self, frames, fps, crf: int | None = None, lossless: bool = False,
               **opts: Any) -> bytes:
        if lossless:
            raise CodecError(f"{self.key} has no lossless mode")
        return encode(self, as_frames(frames), as_fps(fps), crf, opts)

    def encode_recon(self, frames, fps, crf: int | None = None, **opts: Any):
        """``(payload bytes, the encoder's reconstruction uint8 [T, H, W, 3])``: what
        ``decode`` returns on this machine and dtype, without decoding."""
        import numpy as np
        recon: list = []
        data = encode(self, as_frames(frames), as_fps(fps), crf, opts, recon)
        return data, np.stack(recon)

    def decode(self, data: bytes, dtype=None, **opts: Any):
        return decode(self, bytes(data), dtype, opts)

    def decode_integers(self, data: bytes, dtype=None):
        """``(integer arrays, frames)``: every integer the decoder derives (flow fields,
        I-frame and residual fixed-point latents, in decoding order; the same on every
        machine) and the decoded frames (conformance vectors)."""
        trace: list = []
        frames, _ = decode(self, bytes(data), dtype, {}, trace)
        return trace, frames

    def probe(self, data: bytes) -> tuple[int, int, int, Fraction]:
        head, _ = parse_header(bytes(data), f"{self.key} payload")
        if head.scheme != self.code:
            raise CodecError(f"{self.key} payload declares scheme {head.scheme} "
                             f"(expected {self.code})")
        return head.width, head.height, head.frames, head.fps


class EnvcCodec(LvcCodec):
    key: ClassVar[str] = "envc"
    code: ClassVar[int] = 15
    mime: ClassVar[str] = "application/x-aigif-envc"
    extension: ClassVar[str] = "envc"
    scheme_ref: ClassVar[str] = "aigif.codecs.learned.lvc.envc:EnvcScheme"


class VlvcCodec(LvcCodec):
    key: ClassVar[str] = "vlvc"
    code: ClassVar[int] = 16
    mime: ClassVar[str] = "application/x-aigif-vlvc"
    extension: ClassVar[str] = "vlvc"
    scheme_ref: ClassVar[str] = "aigif.codecs.learned.lvc.vlvc:VlvcScheme"


class ImclvcCodec(LvcCodec):
    key: ClassVar[str] = "imclvc"
    code: ClassVar[int] = 18
    mime: ClassVar[str] = "application/x-aigif-imclvc"
    extension: ClassVar[str] = "imclvc"
    scheme_ref: ClassVar[str] = "aigif.codecs.learned.lvc.imclvc:ImclvcScheme"
