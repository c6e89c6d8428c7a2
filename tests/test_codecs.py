"""Pixel payload codecs: round trips, parity with direct codec calls, bad input, limits."""
from __future__ import annotations

import io
import math
import struct
import zlib

import pytest

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")

from hypothesis import given, settings, strategies as st  # noqa: E402

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402
from aigif.document import AigifFile, Payload  # noqa: E402
from aigif.errors import (AigifError, CodecError, LimitExceededError,  # noqa: E402
                          RegistryError)

ALL = ["png", "webp", "avif", "jxl", "jpeg"]
AVAILABLE = [k for k in ALL if C.get_codec(k).available()]


def sample(w=96, h=64, mode="RGB", seed=0):
    """A smooth image with some edges: gradients, a disc and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 128 + 100 * np.sin(x / 7.0) * np.cos(y / 5.0)
    a = np.stack([r, g, b], -1)
    a[(x - w / 2) ** 2 + (y - h / 2) ** 2 < (min(w, h) / 4) ** 2] = (250, 30, 40)
    a = np.clip(a + rng.normal(0, 2, a.shape), 0, 255).astype(np.uint8)
    im = Image.fromarray(a, "RGB")
    if mode == "RGBA":
        im.putalpha(Image.fromarray((x * 255 // max(w - 1, 1)).astype(np.uint8), "L"))
    elif mode != "RGB":
        im = im.convert(mode)
    return im


def psnr(a, b):
    x = np.asarray(a.convert("RGB"), dtype=np.float64)
    y = np.asarray(b.convert("RGB"), dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def direct(key, im, **kw):
    """The same codec called the way a user would call it directly."""
    buf = io.BytesIO()
    if key == "jxl":
        import pillow_jxl  # noqa: F401
        im.save(buf, format="JXL", **kw)
    else:
        im.save(buf, format={"png": "PNG", "webp": "WEBP", "avif": "AVIF",
                             "jpeg": "JPEG"}[key], **kw)
    return buf.getvalue()


# ----------------------------------------------------------------------------- basics
def test_builtin_codes_are_the_frozen_ones():
    for k in ALL:
        assert C.get_codec(k).code == int(aigif.spec.PixelCodec[k.upper()])
        assert C.codec_key(C.codec_code(k)) == k
    assert C.codec_key(99) is None
    with pytest.raises(CodecError):
        C.codec_for_code(99)


@pytest.mark.parametrize("key", AVAILABLE)
def test_lossy_round_trip(key):
    im = sample()
    p = C.encode_payload(im, key, quality=90)
    assert p.codec == key
    out = C.decode_payload(p)
    assert out.size == im.size
    assert psnr(im, out) >= (30 if key != "png" else math.inf)


@pytest.mark.parametrize("key", [k for k in AVAILABLE if C.get_codec(k).lossless])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_lossless_is_exact(key, mode):
    im = sample(mode=mode)
    out = C.decode_payload(C.encode_payload(im, key, lossless=True))
    want = im if key != "webp" or mode != "L" else im.convert("RGB")
    assert out.tobytes() == want.convert(out.mode).tobytes()
    assert out.mode in (mode, "RGB")


@pytest.mark.parametrize("key", ["avif", "jpeg"])
def test_lossless_refused_where_codec_cannot(key):
    with pytest.raises(CodecError, match="no lossless mode"):
        C.encode_payload(sample(), key, lossless=True)


def test_option_checks():
    with pytest.raises(CodecError, match="quality"):
        C.encode_payload(sample(), "webp", quality=101)
    with pytest.raises(CodecError, match="effort"):
        C.encode_payload(sample(), "avif", effort=11)
    with pytest.raises(CodecError):
        C.encode_payload(sample(), "nope")
    with pytest.raises(CodecError, match="PIL.Image"):
        C.encode_payload(b"not an image", "png")


def test_jpeg_drops_alpha_and_webp_keeps_it():
    im = sample(mode="RGBA")
    assert C.decode_payload(C.encode_payload(im, "jpeg")).mode == "RGB"
    assert C.decode_payload(C.encode_payload(im, "webp", lossless=True)).mode == "RGBA"


@pytest.mark.parametrize("key,aigif_kw,direct_kw", [
    ("png", {}, {"compress_level": 6}),
    ("webp", {"quality": 70}, {"quality": 70, "method": 4}),
    ("webp", {"lossless": True}, {"lossless": True, "quality": 100, "exact": True}),
    ("avif", {"quality": 60}, {"quality": 60}),
    ("avif", {"quality": 60, "effort": 2}, {"quality": 60, "speed": 8}),
    ("jxl", {"quality": 80}, {"quality": 80}),
    ("jxl", {"lossless": True}, {"lossless": True}),
    ("jpeg", {"quality": 80}, {"quality": 80, "optimize": True}),
])
def test_payload_is_the_codec_output_byte_for_byte(key, aigif_kw, direct_kw):
    if key not in AVAILABLE:
        pytest.skip(f"{key} not installed")
    im = sample(128, 96)
    assert C.encode_payload(im, key, **aigif_kw).data == direct(key, im, **direct_kw)


@pytest.mark.parametrize("key", AVAILABLE)
def test_pixels_only_file_overhead_is_small(key):
    im = sample(128, 96)
    p = C.encode_payload(im, key)
    data = C.encode_image(im, key)
    assert len(data) - len(p.data) <= 16
    f = aigif.loads(data)
    assert f.meta is None and f.payload == p
    assert f.pixels().size == im.size


def test_save_with_image_and_fallback(tmp_path):
    meta = aigif.GenerationMeta(model="sd15", prompt="a red disc", seed=3)
    path = tmp_path / "x.aigif"
    aigif.save(meta, path, image=sample(), fallback="webp", quality=75, text_method=0)
    f = aigif.open(path)
    assert f.meta == meta and f.payload.codec == "webp"
    res = f.image()
    assert res.path == "pixels" and res.image.size == (96, 64)


# ----------------------------------------------------------------------------- policies
def test_image_policies(monkeypatch):
    meta = aigif.GenerationMeta(model="sd15", prompt="p", seed=1)
    im = sample()
    with_pixels = AigifFile(meta=meta, payload=C.encode_payload(im, "png"))
    syntax_only = AigifFile(meta=meta)
    with pytest.raises(CodecError, match="no pixel payload"):
        syntax_only.image(policy="pixels")
    with pytest.raises(CodecError, match="no pixel payload"):
        syntax_only.pixels()
    with pytest.raises(CodecError, match="policy"):
        with_pixels.image(policy="best")

    def broken_render(self, **kw):
        raise aigif.errors.RenderError("no weights here")
    monkeypatch.setattr(AigifFile, "render", broken_render)
    r = with_pixels.image(policy="prefer_render")
    assert r.path == "pixels" and "no weights here" in r.note
    assert with_pixels.image(policy="auto").path == "pixels"
    with pytest.raises(aigif.errors.RenderError):
        syntax_only.image(policy="auto")

    monkeypatch.setattr(AigifFile, "render", lambda self, **kw: im)
    r = syntax_only.image()
    assert r.path == "render" and r.image is im
    assert with_pixels.image(policy="render").path == "render"


# ----------------------------------------------------------------------------- bad input
def _truncations(data):
    n = len(data)
    return sorted({0, 1, 2, 5, 12, 30, n // 4, n // 2, n - 20, n - 1} & set(range(n)))


@pytest.mark.parametrize("key", AVAILABLE)
def test_truncated_payloads_raise_codec_error(key):
    data = C.encode_payload(sample(), key, quality=80).data
    for cut in _truncations(data):
        with pytest.raises(AigifError):
            C.decode_payload(Payload(key, data[:cut]))


@pytest.mark.parametrize("key", AVAILABLE)
def test_corrupt_payloads_raise_only_aigif_errors(key):
    data = bytearray(C.encode_payload(sample(), key, quality=80).data)
    rng = np.random.default_rng(1)
    for i in range(40):
        d = bytearray(data)
        for pos in rng.integers(0, len(d), size=1 + i % 4):
            d[pos] ^= int(rng.integers(1, 256))
        try:
            C.decode_payload(Payload(key, bytes(d)))
        except AigifError:
            pass


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(AVAILABLE), data=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_aigif_errors(key, data):
    try:
        C.decode_payload(Payload(key, data))
    except AigifError:
        pass


def test_mislabelled_payload_is_refused():
    png = C.encode_payload(sample(), "png").data
    with pytest.raises(CodecError, match="webp payload"):
        C.decode_payload(Payload("webp", png))


def test_unknown_codec_payload():
    with pytest.raises(CodecError):
        C.decode_payload(Payload("codec-99", b"xx"))


def _png_header(w, h):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = lambda t, d: (struct.pack(">I", len(d)) + t + d +  # noqa: E731
                          struct.pack(">I", zlib.crc32(t + d)))
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jxl_header(w, h):
    bits = []

    def put(v, n):
        bits.extend((v >> i) & 1 for i in range(n))
    put(0, 1)                 # not div8
    put(3, 2); put(h - 1, 30)  # U32 selector 3: 30 bits  # noqa: E702
    put(0, 3)                 # no ratio
    put(3, 2); put(w - 1, 30)  # noqa: E702
    bits.extend([0] * (-len(bits) % 8))
    body = bytes(sum(b << i for i, b in enumerate(bits[k:k + 8])) for k in range(0, len(bits), 8))
    return b"\xff\x0a" + body + b"\x00" * 16


@pytest.mark.parametrize("w,h", [(16385, 8), (20000, 20000), (16384, 16385)])
def test_png_bomb_is_refused_before_decoding(w, h):
    with pytest.raises(LimitExceededError):
        C.decode_payload(Payload("png", _png_header(w, h)))


def test_jxl_bomb_is_refused_before_decoding():
    if "jxl" not in AVAILABLE:
        pytest.skip("jxl not installed")
    from aigif.codecs.jxl import jxl_size
    assert jxl_size(_jxl_header(100000, 70000)) == (100000, 70000)
    with pytest.raises(LimitExceededError):
        C.decode_payload(Payload("jxl", _jxl_header(100000, 70000)))
    with pytest.raises(LimitExceededError):  # inside a container
        box = lambda t, d: struct.pack(">I", 8 + len(d)) + t + d  # noqa: E731
        cont = (b"\x00\x00\x00\x0cJXL \r\n\x87\n" + box(b"ftyp", b"jxl \x00\x00\x00\x00jxl ")
                + box(b"jxlc", _jxl_header(40000, 40000)))
        C.decode_payload(Payload("jxl", cont))


@pytest.mark.parametrize("w,h", [(1, 1), (100, 37), (512, 768), (1024, 576), (300, 200)])
def test_jxl_header_probe_matches_encoder(w, h):
    if "jxl" not in AVAILABLE:
        pytest.skip("jxl not installed")
    from aigif.codecs.jxl import jxl_size
    assert jxl_size(C.encode_payload(Image.new("RGB", (w, h)), "jxl", effort=1).data) == (w, h)


# ----------------------------------------------------------------------------- registry
class _Raw(C.Codec):
    key, code, lossy, lossless = "rawtest", 100, False, True

    def encode(self, image, quality=None, lossless=False, effort=None, **opts):
        im = image.convert("RGB")
        return struct.pack(">HH", *im.size) + im.tobytes()

    def decode(self, data):
        if len(data) < 4:
            raise CodecError("raw payload too short")
        w, h = struct.unpack(">HH", data[:4])
        try:
            return Image.frombytes("RGB", (w, h), data[4:])
        except ValueError as e:
            raise CodecError(str(e)) from e


def test_third_party_codec_registry():
    C.register_codec(_Raw)
    try:
        im = sample(8, 8)
        data = C.encode_image(im, "rawtest", lossless=True)
        f = aigif.loads(data)
        assert f.payload.codec == "rawtest"
        assert f.pixels().tobytes() == im.tobytes()
        with pytest.raises(RegistryError):
            C.register_codec(_Raw)
    finally:
        C.codecs.unregister("rawtest")
        C._instances.pop("rawtest", None)

    class Bad(_Raw):
        key, code = "badcode", 40     # neither a frozen code nor private
    with pytest.raises(RegistryError, match="private range"):
        C.register_codec(Bad)

    class Liar(_Raw):
        key, code = "png", 100
    with pytest.raises(RegistryError, match="frozen code"):
        C.register_codec(Liar, override=True)


def test_avif_with_a_huge_declared_size_is_refused():
    if "avif" not in AVAILABLE:
        pytest.skip("avif not installed")
    d = bytearray(C.encode_payload(Image.new("RGB", (64, 48)), "avif").data)
    i = d.find(b"ispe")
    d[i + 8:i + 16] = struct.pack(">II", 20000, 20000)
    with pytest.raises((LimitExceededError, CodecError)):
        C.decode_payload(Payload("avif", bytes(d)))


def test_missing_codec_library_names_the_extra(monkeypatch):
    data = C.encode_payload(sample(), "webp").data
    monkeypatch.setattr(type(C.get_codec("webp")), "available", lambda self: False)
    with pytest.raises(aigif.errors.MissingDependencyError, match=r"aigif\[images\]"):
        C.decode_payload(Payload("webp", data))
    with pytest.raises(aigif.errors.MissingDependencyError):
        C.encode_payload(sample(), "webp")
