"""The residual layer and the syntax / residual / pixels decision, on synthetic pairs."""
from __future__ import annotations

import math
import warnings

import pytest

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")
ImageFilter = pytest.importorskip("PIL.ImageFilter")

from hypothesis import given, settings, strategies as st  # noqa: E402

from aigif.codecs import residual as R  # noqa: E402
from aigif.errors import AigifError, CodecError, PlatformMismatchWarning  # noqa: E402


def original(w=128, h=96, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([255 * x / (w - 1), 255 * y / (h - 1),
                  128 + 90 * np.sin(x / 6.0) * np.cos(y / 9.0)], -1)
    a[(x - w / 3) ** 2 + (y - h / 2) ** 2 < 300] = (240, 20, 30)
    return Image.fromarray(np.clip(a + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8))


def plus_minus_one(im, frac=0.3, seed=1):
    rng = np.random.default_rng(seed)
    a = np.asarray(im).astype(np.int16)
    n = rng.integers(-1, 2, a.shape) * (rng.random(a.shape) < frac)
    return Image.fromarray(np.clip(a + n, 0, 255).astype(np.uint8))


def edited(im, seed=2):
    rng = np.random.default_rng(seed)
    a = np.asarray(im).copy()
    a[20:50, 60:100] = rng.integers(0, 256, (30, 40, 3))
    return Image.fromarray(a)


PAIRS = {
    "noise": lambda o: plus_minus_one(o),
    "blur": lambda o: o.filter(ImageFilter.GaussianBlur(0.8)),
    "edit": lambda o: edited(o),
    "extremes": lambda o: Image.fromarray(255 - np.asarray(o)),  # |diff| up to 255
}


@pytest.mark.parametrize("name", PAIRS)
def test_exact_residual_restores_every_pixel(name):
    o = original()
    base = PAIRS[name](o)
    r, p = R.encode_residual(o, base, R.EXACT, inner=("webp",))
    assert p == math.inf
    assert R.residual_info(r).step == 1
    assert R.apply_residual(base, r).tobytes() == o.tobytes()


@pytest.mark.parametrize("name", ["blur", "edit", "extremes"])
def test_lossy_residual_reaches_the_target(name):
    o = original()
    base = PAIRS[name](o)
    r, p = R.encode_residual(o, base, 40.0, inner=("webp",), lossy_codecs=("jxl",))
    assert p >= 40.0
    assert R.psnr(o, R.apply_residual(base, r)) == pytest.approx(p)
    exact, _ = R.encode_residual(o, base, R.EXACT, inner=("webp",))
    assert len(r) < len(exact)


def test_decision_syntax_when_regeneration_is_good_enough():
    o = original()
    d = R.choose_encoding(o, o, 40.0, syntax_bytes=30, codecs=("webp",))
    assert (d.mode, d.bytes, d.psnr) == ("syntax", 30, math.inf)
    d = R.choose_encoding(o, plus_minus_one(o), 40.0, codecs=("webp",))
    assert d.mode == "syntax" and d.psnr > 40
    assert "chose syntax" in d.report()


def test_decision_residual_for_a_small_edit():
    o = original()
    d = R.choose_encoding(o, edited(o), 40.0, syntax_bytes=30, codecs=("webp", "jxl"),
                          residual_inner=("webp",), residual_lossy=("jxl",))
    assert d.mode == "residual", d.report()
    assert d.psnr >= 40 and d.residual is not None
    assert d.bytes == 30 + len(d.residual)
    pixels = [c for c in d.candidates if c.mode == "pixels"]
    assert pixels and all(c.bytes > d.bytes for c in pixels)


def test_decision_pixels_when_regeneration_is_unrelated():
    o = original()
    other = Image.fromarray(np.random.default_rng(9).integers(0, 256, (96, 128, 3),
                                                              dtype=np.uint8))
    d = R.choose_encoding(o, other, 35.0, codecs=("webp",), residual_inner=("webp",),
                          residual_lossy=())
    assert d.mode == "pixels", d.report()
    assert d.payload.codec == "webp" and d.psnr >= 35
    d = R.choose_encoding(o, None, R.EXACT, lossless_codecs=("webp", "png"))
    assert d.mode == "pixels" and d.psnr == math.inf
    assert d.payload.codec in ("webp", "png")


def test_exact_decision_compares_lossless_options():
    o = original()
    d = R.choose_encoding(o, plus_minus_one(o, 0.05), R.EXACT,
                          lossless_codecs=("webp",), residual_inner=("webp",))
    assert d.mode == "residual" and d.psnr == math.inf, d.report()


def test_wrong_base_warns_or_raises():
    o = original()
    base = PAIRS["blur"](o)
    r, _ = R.encode_residual(o, base, R.EXACT, inner=("webp",))
    other = PAIRS["noise"](base)
    with pytest.warns(PlatformMismatchWarning):
        R.apply_residual(other, r)
    with pytest.raises(CodecError, match="differs"):
        R.apply_residual(other, r, strict=True)
    with pytest.raises(CodecError, match="size"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PlatformMismatchWarning)
            R.apply_residual(base.resize((64, 48)), r)


def test_corrupt_residuals_raise_codec_errors():
    o = original(48, 32)
    base = o.filter(ImageFilter.BLUR)
    r, _ = R.encode_residual(o, base, R.EXACT, inner=("webp",))
    for cut in range(0, len(r), max(1, len(r) // 25)):
        with pytest.raises(AigifError):
            R.apply_residual(base, r[:cut])
    for bad in (b"\x02" + r[1:], r[:1] + b"\x00" + r[2:], r[:1] + b"\x41" + r[2:]):
        with pytest.raises(CodecError):
            R.apply_residual(base, bad)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_residual_bytes_raise_only_aigif_errors(data):
    base = Image.new("RGB", (8, 8))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PlatformMismatchWarning)
            R.apply_residual(base, data)
    except AigifError:
        pass


def test_hybrid_file_round_trip_through_render(monkeypatch):
    import aigif
    from aigif.document import AigifFile
    o = original()
    base = edited(o)  # the regeneration lacks the edit the original has
    meta = aigif.GenerationMeta(model="sd15", prompt="p", seed=1, width=128, height=96)
    f, d = R.encode_hybrid(meta, o, base, 40.0, codecs=("webp",), residual_inner=("webp",),
                           residual_lossy=("jxl",))
    assert d.mode == "residual" and f.residual == d.residual and f.payload is None
    g = aigif.loads(aigif.dumps(f, text_method=0))
    assert g.residual == f.residual
    monkeypatch.setattr(AigifFile, "render", lambda self, **kw: base)
    res = g.image()
    assert res.path == "render+residual"
    assert R.psnr(o, res.image) == pytest.approx(d.psnr) and d.psnr >= 40

    f, d = R.encode_hybrid(meta, o, o, 40.0, codecs=("webp",))
    assert d.mode == "syntax" and f == AigifFile(meta=meta)
    f, d = R.encode_hybrid(None, o, None, 40.0, codecs=("webp",))
    assert d.mode == "pixels" and f.meta is None and f.payload.codec == "webp"
