"""``aigif hybrid --video``: a clip on disk stored as syntax, syntax + residual or pixels,
whichever is smallest at the target; and ``read_video_file``, which reads the clip."""
from __future__ import annotations

import json
import os
from fractions import Fraction

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("av")
import typer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import aigif  # noqa: E402
from aigif.cli import pixels as pixels_cli  # noqa: E402
from aigif.codecs.residual_video import apply_video_residual  # noqa: E402
from aigif.codecs.video.readers import read_video_file  # noqa: E402
from aigif.codecs.video.writers import write_video  # noqa: E402
from aigif.errors import CodecError, LimitExceededError  # noqa: E402


def _clip(seed=0, t=4, h=16, w=16):
    return np.random.RandomState(seed).randint(0, 256, (t, h, w, 3)).astype(np.uint8)


@pytest.fixture
def run():
    app = typer.Typer()
    pixels_cli.register(app)
    runner = CliRunner()

    def go(*args):
        r = runner.invoke(app, [str(a) for a in args])
        assert "Traceback" not in r.output, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        return r
    return go


@pytest.mark.parametrize("ext,exact", [(".mkv", True), (".apng", True), (".gif", False),
                                       (".webp", False), (".mp4", False), (".webm", False)])
def test_read_video_file_reads_what_the_writers_write(tmp_path, ext, exact):
    a = _clip(1, t=5, h=16, w=16)
    p = tmp_path / f"c{ext}"
    write_video(p, a, Fraction(8))
    frames, fps = read_video_file(p)
    assert frames.shape == a.shape and frames.dtype == np.uint8
    assert fps == 8          # GIF's 120/130 ms frames average back to 8 fps
    if exact:
        assert np.array_equal(frames, a)


def test_read_video_file_refuses(tmp_path):
    with pytest.raises(CodecError, match="known extensions"):
        read_video_file(tmp_path / "x.png.txt")
    (tmp_path / "bad.mkv").write_bytes(b"\x1a\x45\xdf\xa3 not matroska")
    with pytest.raises(CodecError):
        read_video_file(tmp_path / "bad.mkv")
    big = tmp_path / "big.gif"
    # a 1 x 1 GIF whose logical screen says 65535 x 65535: refused before decoding
    data = bytearray(b"GIF89a" + (65535).to_bytes(2, "little") * 2 + b"\x00\x00\x00"
                     + b"\x2c" + bytes(4) + (1).to_bytes(2, "little") * 2 + b"\x00"
                     + b"\x02\x02\x44\x01\x00\x3b")
    big.write_bytes(bytes(data))
    with pytest.raises(LimitExceededError):
        read_video_file(big)


def test_hybrid_video_pixels_only_is_exact_with_ffv1(tmp_path, run):
    a = _clip(2)
    write_video(tmp_path / "in.mkv", a, 12)
    r = run("hybrid", "--video", tmp_path / "in.mkv", "-o", tmp_path / "out.aigif", "--exact")
    assert r.exit_code == 0, r.output
    assert "pixels" in r.output
    f = aigif.open(tmp_path / "out.aigif")
    assert f.is_video and f.meta is None and f.payload.codec in ("ffv1", "vp9", "h264")
    v = f.frames()
    assert np.array_equal(v.frames, a) and v.fps == 12


def test_hybrid_video_residual_and_syntax(tmp_path, run):
    """With the generation's meta: a regeneration that differs a little is stored as a
    residual that gives the original back exactly; one that is the original as syntax
    alone."""
    a = _clip(3)
    base = a.copy()
    base[:, 4:8, 4:8] ^= 1                       # a little different
    write_video(tmp_path / "orig.mkv", a, 8)
    write_video(tmp_path / "regen.mkv", base, 8)
    meta = aigif.GenerationMeta(model="aigif-tiny-video", prompt="a red circle", seed=7,
                                width=16, height=16, video=aigif.Video(frames=4))
    (tmp_path / "m.json").write_text(json.dumps(meta.to_dict()))
    r = run("hybrid", "--video", tmp_path / "orig.mkv", "--json", tmp_path / "m.json",
            "--regenerated", tmp_path / "regen.mkv", "--exact", "--codecs", "ffv1",
            "-o", tmp_path / "res.aigif")
    assert r.exit_code == 0, r.output
    f = aigif.open(tmp_path / "res.aigif")
    assert f.meta == meta and f.residual is not None and f.payload is None
    assert np.array_equal(apply_video_residual(base, f.residual), a)
    assert os.path.getsize(tmp_path / "res.aigif") < 0.5 * a.nbytes
    r = run("hybrid", "--video", tmp_path / "orig.mkv", "--json", tmp_path / "m.json",
            "--regenerated", tmp_path / "orig.mkv", "--exact", "-o", tmp_path / "s.aigif")
    assert r.exit_code == 0, r.output
    assert aigif.open(tmp_path / "s.aigif").meta == meta
    assert aigif.dumps(aigif.open(tmp_path / "s.aigif")) == aigif.dumps(
        aigif.AigifFile(meta=meta))


def test_hybrid_video_errors(tmp_path, run):
    a = _clip(4)
    write_video(tmp_path / "a.mkv", a, 8)
    write_video(tmp_path / "short.mkv", a[:2], 8)
    r = run("hybrid", "-o", tmp_path / "o.aigif")
    assert r.exit_code == 2 and "--image or as --video" in r.output
    r = run("hybrid", "--image", tmp_path / "a.png", "--video", tmp_path / "a.mkv",
            "-o", tmp_path / "o.aigif")
    assert r.exit_code == 2 and "one of them" in r.output
    meta = aigif.GenerationMeta(model="aigif-tiny-video", prompt="x", seed=1, width=16,
                                height=16, video=aigif.Video(frames=4))
    (tmp_path / "m.json").write_text(json.dumps(meta.to_dict()))
    r = run("hybrid", "--video", tmp_path / "a.mkv", "--json", tmp_path / "m.json",
            "--regenerated", tmp_path / "short.mkv", "-o", tmp_path / "o.aigif")
    assert r.exit_code == 2 and "same clip" in r.output
    img = aigif.GenerationMeta(model="sd15", prompt="x", seed=1)
    (tmp_path / "i.json").write_text(json.dumps(img.to_dict()))
    r = run("hybrid", "--video", tmp_path / "a.mkv", "--json", tmp_path / "i.json",
            "-o", tmp_path / "o.aigif")
    assert r.exit_code == 2 and "video generation" in r.output
    assert not (tmp_path / "o.aigif").exists()
