"""The Pillow plugin, lazy loading, and the pixel CLI commands."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402
from aigif import pillow as pil_plugin  # noqa: E402
from aigif.document import AigifFile  # noqa: E402
from aigif.errors import AigifError, CodecError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sample(w=64, h=48):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 4 % 256, y * 5 % 256, (x + y) % 256], -1).astype(np.uint8)
    return Image.fromarray(a, "RGB")


@pytest.fixture(autouse=True)
def _registered():
    pass  # registered when aigif.pillow was imported


def test_open_pixels_only_file_through_pillow(tmp_path):
    im = sample()
    path = tmp_path / "a.aigif"
    path.write_bytes(C.encode_image(im, "png"))
    with Image.open(path) as out:
        assert out.format == "AIGIF" and out.size == im.size and out.mode == "RGB"
        assert out.get_format_mimetype() == "image/aigif"
        assert out.info["aigif_path"] == "pixels"
        assert out.aigif.meta is None
        assert out.tobytes() == im.tobytes()
    assert Image.registered_extensions()[".aigif"] == "AIGIF"


def test_pillow_save_writes_a_pixels_only_file(tmp_path):
    im = sample()
    path = tmp_path / "b.aigif"
    im.save(path, fallback="webp", lossless=True)
    f = aigif.open(path)
    assert f.meta is None and f.payload.codec == "webp"
    assert Image.open(path).tobytes() == im.tobytes()
    buf = io.BytesIO()
    im.save(buf, format="AIGIF", fallback="avif", quality=50)
    assert aigif.loads(buf.getvalue()).payload.codec == "avif"


def test_syntax_only_file_needs_permission_to_render(monkeypatch):
    meta = aigif.GenerationMeta(model="sd15", prompt="a cat", seed=1)
    data = aigif.dumps(meta, text_method=0)  # UTF-8 prompt: independent of the text coder
    with pytest.raises(CodecError, match="ALLOW_RENDER"):
        Image.open(io.BytesIO(data))
    monkeypatch.setattr(pil_plugin, "ALLOW_RENDER", True)
    monkeypatch.setattr(AigifFile, "render", lambda self, **kw: sample())
    out = Image.open(io.BytesIO(data))
    assert out.info["aigif_path"] == "render"
    assert out.tobytes() == sample().tobytes()


def test_corrupt_files_through_pillow_raise_aigif_errors():
    data = C.encode_image(sample(), "webp")
    for cut in (4, 10, len(data) // 2, len(data) - 1):
        with pytest.raises(AigifError):
            Image.open(io.BytesIO(data[:cut])).load()
    with pytest.raises(Image.UnidentifiedImageError):  # not our signature: not our file
        Image.open(io.BytesIO(b"AX" + data[2:]))


def test_import_aigif_registers_the_pillow_plugin_without_numpy(run_py):
    r = run_py(
        "import sys, aigif\n"
        "f = aigif.loads(aigif.dumps(aigif.GenerationMeta(model='sd15', prompt='x'), text_method=0))\n"
        "assert 'numpy' not in sys.modules, 'eager numpy import'\n"
        "assert not any(type(m).__module__.startswith('aigif') for m in sys.meta_path)\n"
        "from PIL import Image\n"
        "assert 'AIGIF' in Image.OPEN and Image.MIME['AIGIF'] == 'image/aigif'\n"
        "assert Image.EXTENSION['.aigif'] == 'AIGIF'\n"
        "print('ok')\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_cli_encode_then_decode(tmp_path):
    src = tmp_path / "in.png"
    sample().save(src)
    out = tmp_path / "o.aigif"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "aigif"]
    r = subprocess.run(cmd + ["encode", "--image", str(src), "--fallback", "webp", "--lossless",
                              "-o", str(out)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    png = tmp_path / "back.png"
    r = subprocess.run(cmd + ["decode", str(out), "-o", str(png)], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "from pixels" in r.stdout
    assert Image.open(png).tobytes() == sample().tobytes()
    bad = tmp_path / "bad.aigif"
    bad.write_bytes(out.read_bytes()[:40])
    r = subprocess.run(cmd + ["decode", str(bad), "-o", str(tmp_path / "x.png")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "error" in r.stderr


def test_cli_hybrid_reports_the_decision(tmp_path):
    import json
    orig = tmp_path / "orig.png"
    regen = tmp_path / "regen.png"
    rng = np.random.default_rng(0)
    im = Image.fromarray(np.clip(np.asarray(sample()) + rng.normal(0, 4, (48, 64, 3)), 0, 255)
                         .astype(np.uint8))
    im.save(orig)
    a = np.asarray(im).copy()
    a[10:20, 10:30] = 0  # the original was edited after generation
    Image.fromarray(a).save(regen)
    meta = tmp_path / "m.json"
    meta.write_text(json.dumps({"model": "sd15", "prompt": "x", "seed": 2, "width": 64,
                                "height": 48}))
    out = tmp_path / "h.aigif"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "aigif", "hybrid", "--image", str(orig),
                        "--regenerated", str(regen), "--json", str(meta), "--exact",
                        "--codecs", "webp", "-o", str(out)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "chose residual" in r.stdout
    f = aigif.open(out)
    assert f.meta is not None and f.residual is not None and f.payload is None
    from aigif.codecs.residual import apply_residual
    assert apply_residual(Image.open(regen), f.residual).tobytes() == im.tobytes()


def _sth_rdc_available() -> bool:
    try:
        from aigif.codecs.learned import zoo
    except ImportError:
        return False
    return C.get_codec("sth").available() and zoo.available("sth-rdc-1")


@pytest.mark.skipif(not _sth_rdc_available(), reason="sth codec or sth-rdc-1 weights missing")
def test_cli_hybrid_effort_reaches_the_pixel_codec(tmp_path):
    """aigif hybrid --effort N goes to the pixel codecs tried: with sth, the payload's
    complexity-level byte (spec "Syntax: sth payload": offset 20 of a version-2 payload)
    is N; an effort outside a codec's effort_range is a one-line error naming the codec
    and its range (exit 2, nothing written)."""
    orig = tmp_path / "orig.png"
    rng = np.random.default_rng(1)
    Image.fromarray(np.clip(np.asarray(sample()) + rng.normal(0, 4, (48, 64, 3)), 0, 255)
                    .astype(np.uint8)).save(orig)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    payloads = {}
    for effort in (0, 3):
        out = tmp_path / f"e{effort}.aigif"
        r = subprocess.run([sys.executable, "-m", "aigif", "hybrid", "--image", str(orig),
                            "--codecs", "sth", "--target", "20", "--effort", str(effort),
                            "-o", str(out)], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        p = aigif.open(out).payload
        assert p.codec == "sth" and p.data[4] == 2
        payloads[effort] = p.data
    assert payloads[0][20] == 0 and payloads[3][20] == 3
    assert payloads[0] != payloads[3]
    out = tmp_path / "bad.aigif"
    r = subprocess.run([sys.executable, "-m", "aigif", "hybrid", "--image", str(orig),
                        "--codecs", "webp,sth", "--effort", "5", "-o", str(out)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "'sth'" in r.stderr and "0..3" in r.stderr and "'webp'" not in r.stderr
    assert not out.exists()
    # a video's codecs take --crf: --effort there is refused, not ignored
    r = subprocess.run([sys.executable, "-m", "aigif", "hybrid", "--video", str(tmp_path / "c.mp4"),
                        "--effort", "1", "-o", str(out)], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "--crf" in r.stderr and not out.exists(), r.stderr


def test_unknown_codec_codes_in_files_load_nothing(run_py):
    r = run_py(
        "import sys, aigif\n"
        "from aigif.codecs import codec_key, codec_code\n"
        "assert [codec_key(c) for c in (2, 99, 40, 1000)] == ['webp', None, None, None]\n"
        "assert codec_code('jxl') == 4\n"
        "loaded = [m for m in ('aigif.codecs.jxl', 'pillow_jxl', 'numpy') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_cli_hybrid_exact_tries_the_codecs_asked_for(tmp_path):
    """aigif hybrid --exact --codecs K: the pixels are coded losslessly by those codecs
    (they used to be ignored: jxl, webp, png were tried whatever --codecs said); a lossy-only
    codec there is a one-line error naming it (exit 2, nothing written)."""
    orig = tmp_path / "orig.png"
    sample().save(orig)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key in ("png", "webp"):
        out = tmp_path / f"{key}.aigif"
        r = subprocess.run([sys.executable, "-m", "aigif", "hybrid", "--image", str(orig),
                            "--exact", "--codecs", key, "-o", str(out)],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        f = aigif.open(out)
        assert f.payload.codec == key
        assert f.pixels().convert("RGB").tobytes() == Image.open(orig).convert("RGB").tobytes()
    out = tmp_path / "bad.aigif"
    r = subprocess.run([sys.executable, "-m", "aigif", "hybrid", "--image", str(orig),
                        "--exact", "--codecs", "png,avif", "-o", str(out)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "avif" in r.stderr and "lossless" in r.stderr and not out.exists()
