"""Video pixel payloads (aigif.codecs.video): round trips, exact ffv1 / lossless frames,
determinism, payload = the container PyAV writes, limits before decoding, bad input, the
file writers of ``aigif render``, and the ``aigif codecs`` listing. Clips are tiny (8 frames
of 64x64) so each test takes well under a second."""
from __future__ import annotations

import io
import math
import subprocess
import sys
from fractions import Fraction

import pytest

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")
av = pytest.importorskip("av")

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402
from aigif.codecs import video as V  # noqa: E402
from aigif.codecs.video import writers as W  # noqa: E402
from aigif.container import FileData, Payload  # noqa: E402
from aigif.errors import CodecError, LimitExceededError  # noqa: E402

KEYS = ["av1", "vp9", "h264", "h265", "ffv1"]
CODES = {"av1": 8, "vp9": 9, "h264": 10, "h265": 11, "ffv1": 12}
AVAILABLE = [k for k in KEYS if C.get_codec(k).available()]
EXACT = [("ffv1", False), ("vp9", True), ("h264", True)]


def clip(t=8, h=64, w=64, seed=0):
    """A moving gradient with a disc and mild noise: compressible, not trivial."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(t):
        a = np.stack([(x * 3 + i * 6) % 256, (y * 3) % 256, 128 + 60 * np.sin((x + i) / 5)], -1)
        a[(x - w / 2 - i) ** 2 + (y - h / 2) ** 2 < (min(w, h) / 5) ** 2] = (230, 40, 40)
        out.append(a)
    a = np.clip(np.stack(out) + rng.normal(0, 2, (t, h, w, 3)), 0, 255)
    return a.astype(np.uint8)


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def direct(key, frames, fps, options, pix_fmt, encoder, muxer):
    """The same encode called the way a PyAV user would call it."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=muxer, container_options={"fflags": "+bitexact"}) as out:
        s = out.add_stream(encoder, rate=fps, options=options)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for i, f in enumerate(frames):
            fr = av.VideoFrame.from_ndarray(f, format="rgb24")
            fr.pts = i
            out.mux(s.encode(fr))
        out.mux(s.encode(None))
    return buf.getvalue()


# ----------------------------------------------------------------------------- registry
def test_codes_are_frozen_and_registered():
    for k, code in CODES.items():
        assert int(aigif.spec.PixelCodec[k.upper()]) == code
        c = C.codec_for_code(code)
        assert c.key == k and c.kind == "video" and c.code == code
    # the classical ones, then the learned video codecs (aigif.codecs.learned.lvc)
    assert V.video_codecs() == sorted([*CODES, "envc", "vlvc", "ssvc", "imclvc"])
    assert set(C.available_codecs()) & set(CODES) == set()          # image codecs only
    assert set(C.available_codecs("video")) & set(CODES) == set(AVAILABLE)


def test_image_paths_refuse_video_codecs_clearly():
    with pytest.raises(CodecError, match="video codec"):
        C.encode_payload(Image.new("RGB", (8, 8)), "ffv1")
    with pytest.raises(CodecError, match="video codec"):
        C.decode_payload(Payload("av1", b"\x1aE\xdf\xa3"))
    with pytest.raises(CodecError, match="image codec"):
        V.encode_video_payload(clip(2, 8, 8), 8, "png")


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("key", AVAILABLE)
def test_round_trip(key):
    fr = clip()
    p = V.encode_video_payload(fr, 8, key)
    assert p.codec == key
    out, fps = V.decode_video_payload(p)
    assert out.shape == fr.shape and out.dtype == np.uint8 and fps == 8
    assert psnr(fr, out) >= 26          # default crf, noisy clip
    assert V.probe_video_payload(p) == (64, 64, 8, Fraction(8))


@pytest.mark.parametrize("key,lossless", [e for e in EXACT if e[0] in AVAILABLE])
def test_exact_frames(key, lossless):
    fr = clip(8, 48, 64, seed=3)
    fr[0, 0, 0] = (0, 255, 1)        # extremes survive: no range clamping anywhere
    p = V.encode_video_payload(fr, Fraction(30000, 1001), key, lossless=lossless)
    out, fps = V.decode_video_payload(p)
    assert np.array_equal(out, fr)
    assert fps == Fraction(30000, 1001)


def test_ffv1_exact_on_odd_sizes_and_random_pixels():
    fr = np.random.default_rng(5).integers(0, 256, (3, 17, 31, 3), dtype=np.uint8)
    out, _ = V.decode_video_payload(V.encode_video_payload(fr, 24, "ffv1"))
    assert np.array_equal(out, fr)


def test_pil_frames_and_arrays_give_the_same_bytes():
    fr = clip(4, 32, 32)
    ims = [Image.fromarray(f) for f in fr]
    assert V.encode_video_payload(ims, 8, "ffv1").data == V.encode_video_payload(fr, 8, "ffv1").data
    rgba = [im.convert("RGBA") for im in ims]                      # alpha is dropped
    assert V.encode_video_payload(rgba, 8, "ffv1").data == V.encode_video_payload(fr, 8, "ffv1").data


@pytest.mark.parametrize("key", AVAILABLE)
def test_crf_lowers_the_rate(key):
    c = C.get_codec(key)
    if c.crf_range is None:
        pytest.skip("lossless only")
    fr = clip()
    hi = V.encode_video_payload(fr, 8, key, crf=c.crf_range[0] + 10).data
    lo = V.encode_video_payload(fr, 8, key, crf=c.crf_range[1] - 5).data
    assert len(lo) < len(hi)


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("key", AVAILABLE)
def test_deterministic_bytes(key):
    fr = clip()
    assert len({V.encode_video_payload(fr, 8, key).data for _ in range(6)}) == 1


def test_deterministic_across_processes():
    code = ("import numpy as np, hashlib; from aigif.codecs import video as V; "
            "f=(np.arange(4*32*32*3)%251).astype(np.uint8).reshape(4,32,32,3); "
            "print(','.join(hashlib.sha256(V.encode_video_payload(f, 8, k).data).hexdigest()"
            f" for k in {AVAILABLE!r}))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)}
    assert len(runs) == 1


# ----------------------------------------------------------------------------- framing
@pytest.mark.parametrize("key", AVAILABLE)
def test_payload_is_the_container_pyav_writes(key):
    c = C.get_codec(key)
    fr = clip()
    p = V.encode_video_payload(fr, 8, key)
    opts = {**c.options(None, False), "threads": "1"}
    assert p.data == direct(key, fr, 8, opts, c.pix_fmt, c.encoder, c.muxer)
    # in a file, the payload costs only the element framing
    bare = len(aigif.dumps(FileData(meta=None, payload=Payload("png", b""))))
    whole = len(aigif.dumps(FileData(meta=None, payload=p)))
    assert whole - bare - len(p.data) <= max(64, len(p.data) // 100)
    back = aigif.loads(aigif.dumps(FileData(meta=None, payload=p)))
    assert back.payload == p


# ----------------------------------------------------------------------------- limits
def test_budget_is_checked_before_decoding(monkeypatch):
    p = V.encode_video_payload(clip(8, 32, 32), 8, "ffv1")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4 * 32 * 32 // 2)      # budget: 4 frames
    decoded = []
    real = av.codec.context.CodecContext.decode
    monkeypatch.setattr(av.codec.context.CodecContext, "decode",
                        lambda self, *a: decoded.append(1) or real(self, *a))
    with pytest.raises(LimitExceededError, match="budget"):
        V.decode_video_payload(p)
    with pytest.raises(LimitExceededError):
        V.probe_video_payload(p)
    assert not decoded
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)                 # lifted
    assert V.decode_video_payload(p)[0].shape == (8, 32, 32, 3)


def test_frame_limit(monkeypatch):
    p = V.encode_video_payload(clip(8, 16, 16), 8, "ffv1")
    monkeypatch.setattr(V, "MAX_VIDEO_FRAMES", 5)
    with pytest.raises(LimitExceededError, match="MAX_VIDEO_FRAMES"):
        V.decode_video_payload(p)
    with pytest.raises(CodecError, match="over the limits"):
        V.encode_video_payload(clip(6, 16, 16), 8, "ffv1")


def test_check_video_size():
    V.check_video_size(64, 64, 8, "x")
    for args in [(0, 64, 8), (64, 64, 0)]:
        with pytest.raises(CodecError):
            V.check_video_size(*args, "x")
    with pytest.raises(LimitExceededError):
        V.check_video_size(aigif.spec.MAX_DIMENSION + 1, 8, 1, "x")
    with pytest.raises(LimitExceededError):
        V.check_video_size(8, 8, aigif.spec.MAX_VIDEO_FRAMES + 1, "x")


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("frames", [
    np.zeros((0, 8, 8, 3), np.uint8), np.zeros((2, 8, 8), np.uint8),
    np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8, 4), np.uint8), [], "frames",
    [Image.new("RGB", (8, 8)), Image.new("RGB", (8, 9))], [np.zeros((8, 8, 3), np.uint8)]])
def test_bad_frames(frames):
    with pytest.raises(CodecError):
        V.encode_video_payload(frames, 8, "ffv1")


@pytest.mark.parametrize("kw", [dict(fps=0), dict(fps=-1), dict(fps=1001), dict(fps="x"),
                                dict(fps=float("nan")), dict(fps=True),
                                dict(codec="av1", crf=64), dict(codec="av1", crf=1.5),
                                dict(codec="h264", crf=-1), dict(codec="ffv1", crf=10),
                                dict(codec="av1", lossless=True),
                                dict(codec="h265", lossless=True),
                                dict(codec="vp9", lossless=True, crf=10),
                                dict(codec="nope")])
def test_bad_settings(kw):
    kw = {"fps": 8, "codec": "ffv1", **kw}
    with pytest.raises(CodecError):
        V.encode_video_payload(clip(2, 16, 16), **kw)


@pytest.mark.skipif("h264" not in AVAILABLE, reason="no x264")
def test_odd_size_in_420_is_a_clear_error():
    with pytest.raises(CodecError, match="even"):
        V.encode_video_payload(clip(2, 17, 16), 8, "h264")
    out, _ = V.decode_video_payload(V.encode_video_payload(clip(2, 17, 16), 8, "h264",
                                                           lossless=True))
    assert out.shape == (2, 17, 16, 3)


@pytest.mark.parametrize("key", AVAILABLE)
def test_bad_payloads_raise_codec_error(key):
    good = V.encode_video_payload(clip(4, 32, 32), 8, key).data
    other = "vp9" if key != "vp9" else "ffv1"
    wrong = V.encode_video_payload(clip(4, 32, 32), 8, other).data
    for data in [b"", b"\x00" * 64, good[:8], good[: len(good) // 2], good[:-1], good[:40],
                 good + b"\x00", wrong, b"garbage" + good]:
        with pytest.raises(CodecError):
            V.decode_video_payload(Payload(key, data))


def test_second_stream_is_refused():
    buf = io.BytesIO()
    fr = clip(2, 16, 16)
    with av.open(buf, "w", format="matroska") as out:
        ss = [out.add_stream("ffv1", rate=8) for _ in range(2)]
        for s in ss:
            s.width = s.height = 16
            s.pix_fmt = "bgr0"
        for i, f in enumerate(fr):
            for s in ss:
                vf = av.VideoFrame.from_ndarray(f, format="rgb24")
                vf.pts = i
                out.mux(s.encode(vf))
        for s in ss:
            out.mux(s.encode(None))
    with pytest.raises(CodecError, match="exactly one stream"):
        V.decode_video_payload(Payload("ffv1", buf.getvalue()))


# ----------------------------------------------------------------------------- writers
@pytest.mark.parametrize("name,codec,decoder", [
    ("a.mp4", None, "h264"), ("b.mp4", "av1", "libdav1d"), ("c.webm", None, "vp9"),
    ("d.webm", "av1", "libdav1d"), ("e.mkv", None, "ffv1")])
def test_writers_av(tmp_path, name, codec, decoder):
    fr = clip(6, 33, 47)          # odd: h264 pads by one row and column, the rest keep it
    path = tmp_path / name
    n = W.write_video(path, fr, 12, codec=codec)
    assert n == path.stat().st_size
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        got = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        assert s.codec_context.name == decoder and s.average_rate == 12
    assert len(got) == 6
    assert got[0].shape == ((34, 48, 3) if decoder == "h264" else (33, 47, 3))
    if name.endswith(".mkv"):
        assert np.array_equal(np.stack(got), fr)


@pytest.mark.parametrize("name", ["a.webp", "b.gif", "c.apng"])
def test_writers_pillow(tmp_path, name):
    fr = clip(6, 24, 40)
    path = tmp_path / name
    W.write_video(path, fr, Fraction(25, 2))
    im = Image.open(path)
    assert im.n_frames == 6 and im.size == (40, 24) and im.info.get("loop") == 0
    total = 0
    for i in range(6):
        im.seek(i)
        im.load()                                  # WebP sets the duration on load
        total += im.info["duration"]
    assert abs(total - 6 * 80) <= 10              # the clip keeps its length
    if name == "c.apng":
        im.seek(5)
        assert np.array_equal(np.asarray(im.convert("RGB")), fr[5])


def test_writer_bad_input_and_atomic(tmp_path):
    with pytest.raises(CodecError, match="extension"):
        W.write_video(tmp_path / "x.avi", clip(2, 8, 8), 8)
    with pytest.raises(CodecError):
        W.write_video(tmp_path / "x.webm", clip(2, 8, 8), 8, codec="h264")
    with pytest.raises(CodecError):
        W.write_video(tmp_path / "x.gif", clip(2, 8, 8), 8, crf=10)
    assert list(tmp_path.iterdir()) == []          # nothing left behind
    (tmp_path / "x.gif").write_bytes(b"old")
    with pytest.raises(aigif.errors.OutputExistsError if hasattr(aigif.errors, "OutputExistsError")
                       else aigif.AigifError):
        W.write_video(tmp_path / "x.gif", clip(2, 8, 8), 8, overwrite=False)
    assert (tmp_path / "x.gif").read_bytes() == b"old"
    (tmp_path / "link.mp4").symlink_to(tmp_path / "target.mp4")
    with pytest.raises(aigif.AigifError, match="symbolic link"):
        W.write_video(tmp_path / "link.mp4", clip(2, 8, 8), 8)
    assert not (tmp_path / "target.mp4").exists()


# ----------------------------------------------------------------------------- CLI
def test_cli_codecs_lists_video_codecs(capsys):
    from aigif.cli.main import main
    with pytest.raises(SystemExit) as e:
        main(["codecs"])
    assert e.value.code in (0, None)
    out = capsys.readouterr().out
    for k in KEYS:
        line = next(ln for ln in out.splitlines() if ln.startswith(k + " "))
        assert f"code {CODES[k]}" in line and "video" in line
        assert ("available" in line) == (k in AVAILABLE) or "missing" in line
    # one column per field, whatever the key's length (gitssic, omni-icm are longer)
    rows = [ln for ln in out.splitlines() if " code " in ln]
    assert len({ln.index(" code ") for ln in rows}) == 1, rows
    assert any(ln.startswith("omni-icm ") and " features " in ln for ln in rows)
    assert any(ln.startswith("gitssic ") and " groups " in ln for ln in rows)


def test_cli_render_writes_a_video_result(tmp_path):
    """``aigif render`` hands a video result (VideoFrames-like: frames + fps) to the
    writers, by the output's suffix; an image suffix for a video is refused."""
    from types import SimpleNamespace

    import typer
    from aigif.cli import render as R
    v = SimpleNamespace(frames=clip(4, 16, 16), fps=Fraction(8))
    R._save(None, tmp_path / "v.webm", force=False, video=v)
    with av.open(str(tmp_path / "v.webm")) as c:
        assert c.streams.video[0].codec_context.name == "vp9"
    with pytest.raises(aigif.AigifError):
        R._save(None, tmp_path / "v.webm", force=False, video=v)        # exists, no --force
    R._save(None, tmp_path / "v.webm", force=True, video=v)
    with pytest.raises((SystemExit, typer.Exit)):
        R._save(None, tmp_path / "v.png", force=False, video=v)
    assert not (tmp_path / "v.png").exists()
