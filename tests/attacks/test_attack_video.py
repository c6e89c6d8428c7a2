"""Mutated and forged video payloads (av1, vp9, h264, h265, ffv1) through
decode_video_payload and a whole .aigif file: only AigifError escapes, each input ends
quickly, and an over-limit frame count is refused after demuxing, before any frame is
decoded."""
from __future__ import annotations

import io
import random
import time

import pytest

np = pytest.importorskip("numpy")
av = pytest.importorskip("av")
pytest.importorskip("PIL.Image")

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402
from aigif.codecs import video as V  # noqa: E402
from aigif.container import FileData, Payload  # noqa: E402

KEYS = [k for k in ("av1", "vp9", "h264", "h265", "ffv1") if C.get_codec(k).available()]


def _payload(key: str) -> bytes:
    rnd = np.random.default_rng(7)
    base = rnd.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8)
    frames = np.concatenate([np.roll(base, 2 * i, axis=2) for i in range(4)])
    return bytes(V.encode_video_payload(frames, 8, key).data)


def _mutants(data: bytes, n: int, seed: int):
    rnd = random.Random(seed)
    yield b""
    for cut in (1, 4, 8, 16, 40, len(data) // 2, len(data) - 1):
        yield data[:cut]
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            op = rnd.random()
            i = rnd.randrange(len(b))
            if op < 0.5:
                b[i] ^= 1 << rnd.randrange(8)
            elif op < 0.75:
                b[i] = rnd.choice((0, 0xFF, 0x7F, 0x80))
            else:
                b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        yield bytes(b)
    for i in range(0, min(len(data), 64)):        # every header byte forced to 0xFF
        yield data[:i] + b"\xff" + data[i + 1:]


@pytest.mark.parametrize("key", KEYS)
def test_mutated_video_payloads_raise_only_aigif_errors(key):
    data = _payload(key)
    worst = 0.0
    for m in _mutants(data, 80, seed=len(key)):
        t0 = time.perf_counter()
        try:
            frames, _ = V.decode_video_payload(Payload(key, m))
            assert frames.ndim == 4 and frames.shape[-1] == 3
        except aigif.AigifError:
            pass
        worst = max(worst, time.perf_counter() - t0)
    assert worst < 5.0, worst


@pytest.mark.parametrize("key", KEYS[:1])
def test_mutated_video_files_read_and_decode_only_aigif_errors(key):
    data = aigif.dumps(FileData(meta=None, payload=Payload(key, _payload(key))))
    for m in _mutants(data, 40, seed=3):
        try:
            f = aigif.loads(m)
            if f.payload is not None and f.payload.codec in V.video_codecs():
                V.decode_video_payload(f.payload)
        except aigif.AigifError:
            pass


def _ebml_uint(data: bytes, ident: bytes, value: int, new: int) -> bytes:
    """``data`` with the 1-byte unsigned EBML element ``ident`` = ``value`` set to ``new``."""
    old = ident + b"\x81" + bytes([value])
    assert old in data
    return data.replace(old, ident + b"\x81" + bytes([new]), 1)


@pytest.mark.parametrize("key", [k for k in KEYS if k in ("av1", "vp9", "ffv1")])
def test_forged_matroska_frame_size(key):
    data = _payload(key)
    for ident in (b"\xb0", b"\xba"):                # PixelWidth, PixelHeight 32 -> 255 / 0
        for new in (255, 0, 1):
            forged = _ebml_uint(data, ident, 32, new)
            try:
                frames, _ = V.decode_video_payload(Payload(key, forged))
            except aigif.AigifError:
                continue
            # decoded frames always have the size the header declared (the one checked
            # against the limits): the true one (av1 and vp9 code the size in the
            # bitstream) or the forged one (ffv1 takes it from the container)
            w, h, n, _ = V.probe_video_payload(Payload(key, forged))
            assert frames.shape == (n, h, w, 3)
            assert (w, h) == (32, 32) or key == "ffv1"


def test_too_many_frames_refused_after_demuxing():
    if "vp9" not in KEYS:
        pytest.skip("no libvpx")
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        s = out.add_stream("libvpx-vp9", rate=1000, options={
            "threads": "1", "crf": "63", "b": "0", "deadline": "realtime", "cpu-used": "8"})
        s.width = s.height = 2
        s.pix_fmt = "yuv420p"
        f = av.VideoFrame.from_ndarray(np.zeros((2, 2, 3), np.uint8), format="rgb24")
        for i in range(aigif.spec.MAX_VIDEO_FRAMES + 1):
            f.pts = i
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    t0 = time.perf_counter()
    with pytest.raises(aigif.LimitExceededError, match="MAX_VIDEO_FRAMES"):
        V.decode_video_payload(Payload("vp9", buf.getvalue()))
    with pytest.raises(aigif.LimitExceededError):
        V.probe_video_payload(Payload("vp9", buf.getvalue()))
    assert time.perf_counter() - t0 < 5.0
