"""The built-in video codecs, through PyAV (FFmpeg): AV1, VP9, H.264, H.265, FFV1.

Encoding: one thread, FFmpeg's ``bitexact`` muxer flag (no random Matroska segment id, no
library version strings), frame i at time i / fps: the same frames, settings and PyAV build
give the same bytes. Decoding names the one demuxer of the codec's container (a payload's
bytes never pick a demuxer or a decoder), caps each frame's pixels in the decoder itself
(FFmpeg's ``max_pixels``, also while the demuxer probes), checks frame size x packet count
against the limits before decoding a frame, and turns whatever PyAV raises into CodecError.
"""
from __future__ import annotations

import io
import os
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from ...errors import AigifError, CodecError, LimitExceededError, MissingDependencyError
from ...spec import MAX_DECOMPRESSED_PIXELS, MAX_DIMENSION
from ...spec import PixelCodec as CodecCode
from . import VideoCodec, as_fps, as_frames, check_video_size, video_budget

__all__ = ["AvCodec", "Av1Codec", "Vp9Codec", "H264Codec", "H265Codec", "Ffv1Codec",
           "encoder_available", "decoder_available"]

_EBML = b"\x1a\x45\xdf\xa3"   # Matroska / WebM


def _av():
    try:
        import av
    except ImportError as e:
        raise MissingDependencyError("video codecs need PyAV: pip install 'aigif[video]'") from e
    return av


def encoder_available(name: str) -> bool:
    """True when PyAV is installed and its FFmpeg has the encoder ``name``."""
    try:
        _av().codec.Codec(name, "w")
        return True
    except Exception:
        return False


def decoder_available(name: str) -> bool:
    """True when PyAV is installed and its FFmpeg has the decoder ``name``."""
    try:
        _av().codec.Codec(name, "r")
        return True
    except Exception:
        return False


class _Demuxed:
    """An opened payload whose declared size and packets passed the checks."""

    def __init__(self, container: Any, stream: Any, width: int, height: int,
                 fps: Fraction, packets: list) -> None:
        self.container, self.stream = container, stream
        self.width, self.height, self.fps, self.packets = width, height, fps, packets


class AvCodec(VideoCodec):
    """A video codec PyAV's FFmpeg implements: subclasses give the names and options."""

    #: FFmpeg encoder, and the one for exact frames (None: as ``encoder``)
    encoder: ClassVar[str] = ""
    lossless_encoder: ClassVar[str | None] = None
    #: decoders PyAV may pick for the stream (FFmpeg picks by codec id; a hardware-only
    #: decoder such as FFmpeg's own "av1" cannot decode here)
    decoders: ClassVar[tuple[str, ...]] = ()
    #: FFmpeg muxer writing the payload, demuxer reading it
    muxer: ClassVar[str] = ""
    demuxer: ClassVar[str] = ""
    pix_fmt: ClassVar[str] = "yuv420p"
    lossless_pix_fmt: ClassVar[str | None] = None
    #: 4:2:0 encoders that refuse odd sizes
    even: ClassVar[bool] = False
    min_side: ClassVar[int] = 1

    _ok: ClassVar[dict[str, bool]] = {}

    def available(self) -> bool:
        key = type(self).__qualname__
        if key not in AvCodec._ok:
            AvCodec._ok[key] = (encoder_available(self.encoder)
                                and any(decoder_available(d) for d in self.decoders))
        return AvCodec._ok[key]

    # ------------------------------------------------------------------ encode
    def options(self, crf: int | None, lossless: bool) -> dict[str, str]:
        """The encoder's options (strings, as FFmpeg takes them) for these settings."""
        raise NotImplementedError

    def _check_encode(self, arr: np.ndarray, crf: int | None, lossless: bool) -> None:
        t, h, w, _ = arr.shape
        if lossless and not self.lossless:
            raise CodecError(f"video codec {self.key!r} has no exact (lossless) mode")
        if crf is not None and (lossless or self.crf_range is None):
            raise CodecError(f"{self.key}{' lossless' if lossless else ''} takes no crf")
        if crf is not None:
            lo, hi = self.crf_range
            if isinstance(crf, bool) or not isinstance(crf, int) or not lo <= crf <= hi:
                raise CodecError(f"{self.key} crf must be an integer {lo}..{hi}, got {crf!r}")
        if min(w, h) < self.min_side:
            raise CodecError(f"{self.key}: frames of {w}x{h} are under the encoder's minimum "
                             f"of {self.min_side} pixels per side")
        if self.even and not lossless and (w % 2 or h % 2):
            raise CodecError(f"{self.key}: frames of {w}x{h}: 4:2:0 needs an even width and "
                             f"height (pad or crop the frames, or use ffv1 / vp9)")

    def encode(self, frames: Any, fps: Any, crf: int | None = None, lossless: bool = False,
               **opts: Any) -> bytes:
        arr = as_frames(frames)
        rate = as_fps(fps)
        self._check_encode(arr, crf, lossless)
        av = _av()
        t, h, w, _ = arr.shape
        name = (self.lossless_encoder or self.encoder) if lossless else self.encoder
        pix = (self.lossless_pix_fmt or self.pix_fmt) if lossless else self.pix_fmt
        muxer = opts.pop("_muxer", self.muxer)       # the file writers' other containers
        copts = {"fflags": "+bitexact"}
        options = self.options(crf, lossless)
        options["threads"] = "1"     # x264 ignores a thread_count set on the context: say it
        options.update({str(k): str(v) for k, v in opts.items()})
        if self.key == "av1":
            os.environ.setdefault("SVT_LOG", "1")   # SVT-AV1 prints to stderr: errors only
        buf = io.BytesIO()
        try:
            with av.open(buf, "w", format=muxer, container_options=copts) as out:
                s = out.add_stream(name, rate=rate, options=options)
                s.width, s.height, s.pix_fmt = w, h, pix
                s.codec_context.thread_count = 1
                for i in range(t):
                    fr = av.VideoFrame.from_ndarray(arr[i], format="rgb24")
                    fr.pts = i
                    out.mux(s.encode(fr))
                out.mux(s.encode(None))
        except AigifError:
            raise
        except Exception as e:
            raise CodecError(f"{self.key} could not encode {t} frames of {w}x{h} at {rate} fps "
                             f"with {name} {options}: {type(e).__name__}: {e}") from e
        return buf.getvalue()

    # ------------------------------------------------------------------ decode
    def _structure(self, data: bytes) -> str | None:
        """Why ``data`` is not a whole file of the container (None: it is one)."""
        raise NotImplementedError

    def _open(self, data: bytes, what: str) -> _Demuxed:
        """Open ``data``, check the header, count the packets; the caller closes it."""
        av = _av()
        why = self._structure(data)
        if why:
            raise CodecError(f"{what} is not a whole {self.muxer} file: {why}")
        cap = min(MAX_DECOMPRESSED_PIXELS, video_budget() or MAX_DECOMPRESSED_PIXELS)
        try:
            c = av.open(io.BytesIO(data), "r", format=self.demuxer,
                        options={"max_pixels": str(cap)},
                        container_options={"probesize": str(max(32, min(len(data), 1 << 20)))},
                        timeout=(10.0, 10.0))
        except Exception as e:
            raise CodecError(f"{what} could not be opened: {type(e).__name__}: {e}") from e
        try:
            return self._check_open(c, what)
        except BaseException:
            c.close()
            raise

    def _check_open(self, c: Any, what: str) -> _Demuxed:
        streams = list(c.streams)
        if len(streams) != 1 or streams[0].type != "video":
            kinds = ", ".join(s.type for s in streams) or "none"
            raise CodecError(f"{what} must hold exactly one stream, a video stream; it holds "
                             f"{len(streams)} ({kinds})")
        s = streams[0]
        cc = s.codec_context
        if cc is None or cc.name not in self.decoders:
            found = cc.name if cc is not None else "no decoder"
            raise CodecError(f"{what}: its stream is {found}, expected {self.decoders[0]} "
                             f"({self.key})")
        w, h = int(cc.width or 0), int(cc.height or 0)
        declared = int(s.frames or 0)   # MP4 indexes its samples; Matroska does not
        check_video_size(w, h, max(declared, 1), what)
        fps = s.average_rate or s.guessed_rate or s.base_rate
        try:
            fps = as_fps(Fraction(fps))
        except (CodecError, TypeError, ValueError, ZeroDivisionError):
            raise CodecError(f"{what}: no valid frame rate ({fps})") from None
        packets = []
        try:
            for p in c.demux(s):
                if p.size:
                    packets.append(p)
                    check_video_size(w, h, len(packets), what)
        except AigifError:
            raise
        except Exception as e:
            raise CodecError(f"{what}: damaged after packet {len(packets)}: "
                             f"{type(e).__name__}: {e}") from e
        check_video_size(w, h, len(packets), what)
        return _Demuxed(c, s, w, h, fps, packets)

    def probe(self, data: bytes) -> tuple[int, int, int, Fraction]:
        what = f"{self.key} payload"
        d = self._open(bytes(data), what)
        try:
            return d.width, d.height, len(d.packets), d.fps
        finally:
            d.container.close()

    def decode(self, data: bytes) -> tuple[np.ndarray, Fraction]:
        what = f"{self.key} payload"
        d = self._open(bytes(data), what)
        try:
            n, w, h = len(d.packets), d.width, d.height
            cc = d.stream.codec_context
            # FFmpeg checks its buffers' padded size (width to its SIMD alignment, up to 64)
            cc.options = {"max_pixels": str(-(-w // 64) * 64 * -(-h // 64) * 64)}
            out = np.empty((n, h, w, 3), np.uint8)
            i = 0
            try:
                for p in d.packets + [None]:
                    for fr in cc.decode(p):
                        if i >= n:
                            raise CodecError(f"{what}: more frames than its {n} packets")
                        if (fr.width, fr.height) != (w, h):
                            raise CodecError(f"{what}: frame {i} is {fr.width}x{fr.height}, "
                                             f"the stream header says {w}x{h}")
                        out[i] = fr.to_ndarray(format="rgb24")
                        i += 1
            except AigifError:
                raise
            except Exception as e:
                raise CodecError(f"{what}: frame {i} could not be decoded: "
                                 f"{type(e).__name__}: {e}") from e
            if i != n:
                raise CodecError(f"{what}: {i} frames decoded from {n} packets (damaged)")
            return out, d.fps
        finally:
            d.container.close()


def _vint(data: bytes, off: int, what: str) -> tuple[int, int, bool]:
    """An EBML variable-length integer at ``off``: (value, next offset, all ones)."""
    if off >= len(data):
        raise ValueError(f"{what} missing at byte {off}")
    b = data[off]
    n = 9 - b.bit_length() if b else 9
    if n > 8 or off + n > len(data):
        raise ValueError(f"{what} at byte {off} is malformed")
    v = b & (0xFF >> n)
    for x in data[off + 1:off + n]:
        v = v << 8 | x
    return v, off + n, v == (1 << 7 * n) - 1


class _Matroska(AvCodec):
    def _structure(self, data: bytes) -> str | None:
        # EBML header, then one Segment whose declared size ends exactly at the end
        if bytes(data[:4]) != _EBML:
            return f"its first bytes are {bytes(data[:8]).hex()}, not an EBML header"
        try:
            size, off, _ = _vint(data, 4, "EBML header size")
            off += size
            if bytes(data[off:off + 4]) != b"\x18\x53\x80\x67":
                return f"no Segment after the EBML header (byte {off})"
            size, off, unknown = _vint(data, off + 4, "Segment size")
        except ValueError as e:
            return str(e)
        if unknown or off + size != len(data):
            return (f"its Segment declares {'an unknown size' if unknown else size} bytes "
                    f"from byte {off}; the payload has {len(data) - off} (truncated or "
                    f"trailing bytes)")
        return None


class _Mp4(AvCodec):
    muxer, demuxer = "mp4", "mp4"

    def _structure(self, data: bytes) -> str | None:
        # top-level boxes, ftyp first, tiling the payload exactly
        if len(data) < 16 or bytes(data[4:8]) != b"ftyp":
            return f"its first bytes are {bytes(data[:8]).hex()}, not an ftyp box"
        off, n = 0, len(data)
        while off < n:
            if off + 8 > n:
                return f"a box header at byte {off} is cut"
            size = int.from_bytes(data[off:off + 4], "big")
            head = 8
            if size == 1:
                if off + 16 > n:
                    return f"a box header at byte {off} is cut"
                size, head = int.from_bytes(data[off + 8:off + 16], "big"), 16
            elif size == 0:
                size = n - off
            if size < head or off + size > n:
                return (f"the box at byte {off} declares {size} bytes; {n - off} are left "
                        f"(truncated?)")
            off += size
        return None


class Av1Codec(_Matroska):
    """AV1 in WebM: SVT-AV1 (``preset`` 8 unless given) to encode, dav1d to decode."""

    key, code, mime, extension = "av1", int(CodecCode.AV1), "video/webm", ".webm"
    encoder, decoders = "libsvtav1", ("libdav1d",)
    muxer, demuxer = "webm", "matroska"
    crf_range, default_crf = (0, 63), 35
    min_side = 4

    def options(self, crf: int | None, lossless: bool) -> dict[str, str]:
        return {"crf": str(self.default_crf if crf is None else crf), "preset": "8"}


class Vp9Codec(_Matroska):
    """VP9 in WebM (libvpx); lossless: planar RGB (profile 1), exact frames."""

    key, code, mime, extension = "vp9", int(CodecCode.VP9), "video/webm", ".webm"
    encoder, decoders = "libvpx-vp9", ("vp9", "libvpx-vp9")
    muxer, demuxer = "webm", "matroska"
    lossless = True
    lossless_pix_fmt = "gbrp"
    crf_range, default_crf = (0, 63), 32

    def options(self, crf: int | None, lossless: bool) -> dict[str, str]:
        o = {"deadline": "good", "cpu-used": "1", "row-mt": "0", "tile-columns": "0"}
        if lossless:
            o["lossless"] = "1"
        else:
            o.update({"crf": str(self.default_crf if crf is None else crf), "b": "0"})
        return o


class H264Codec(_Mp4):
    """H.264 in MP4 (x264, preset medium); lossless: x264's RGB mode at QP 0, exact frames."""

    key, code, mime, extension = "h264", int(CodecCode.H264), "video/mp4", ".mp4"
    encoder, lossless_encoder, decoders = "libx264", "libx264rgb", ("h264",)
    lossless = True
    lossless_pix_fmt = "rgb24"
    crf_range, default_crf = (0, 51), 23
    even = True

    def options(self, crf: int | None, lossless: bool) -> dict[str, str]:
        if lossless:
            return {"qp": "0", "preset": "medium"}
        return {"crf": str(self.default_crf if crf is None else crf), "preset": "medium"}


class H265Codec(_Mp4):
    """H.265 in MP4 (x265, preset medium, no thread pool, no options SEI)."""

    key, code, mime, extension = "h265", int(CodecCode.H265), "video/mp4", ".mp4"
    encoder, decoders = "libx265", ("hevc",)
    crf_range, default_crf = (0, 51), 28
    even = True
    min_side = 16

    def options(self, crf: int | None, lossless: bool) -> dict[str, str]:
        return {"crf": str(self.default_crf if crf is None else crf), "preset": "medium",
                "tag": "hvc1",
                # no thread pool (determinism), no 2 KB "x265 options" SEI in the header
                "x265-params": "log-level=none:pools=none:frame-threads=1:info=0"}


class Ffv1Codec(_Matroska):
    """FFV1 level 3 in Matroska, RGB (``bgr0``) with slice CRCs: always exact frames."""

    key, code, mime, extension = "ffv1", int(CodecCode.FFV1), "video/x-matroska", ".mkv"
    encoder, decoders = "ffv1", ("ffv1",)
    muxer, demuxer = "matroska", "matroska"
    lossy, lossless = False, True
    pix_fmt = lossless_pix_fmt = "bgr0"

    def options(self, crf: int | None, lossless: bool) -> dict[str, str]:
        return {"level": "3", "coder": "1", "context": "1", "slicecrc": "1", "g": "1"}
