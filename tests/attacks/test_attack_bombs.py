"""Decompression bombs (issue 13.6, 13.12): every decompressor and pixel codec refuses an
over-budget declaration before the expensive work, or does that work within a stated
bound. Each test reproduces the attack: a spy fails the test if the decoder runs, and
time / tracemalloc peaks are bounded.

- pixel payloads (PNG, WebP VP8/VP8L, AVIF, JPEG, JPEG XL) whose header declares up to
  16384 x 16384: refused from the header, by ``decode_payload``, ``PIL.Image.open`` (the
  plugin) and the residual layer; Pillow's ``Image.MAX_IMAGE_PIXELS`` is the budget
  through every path, and Pillow's DecompressionBombError never escapes.
- brotli: a 64 MiB source element from a few hundred bytes reads in bounded memory, and
  validate does not hold extra copies; over the limit it is refused mid-stream; the text
  block's brotli is bounded at its own limit.
"""
from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib

import pytest

import aigif
import aigif.codecs as C
from aigif.document import AigifFile, Payload

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageFile  # noqa: E402

MiB = 1024 * 1024


# ------------------------------------------------------------------ crafted headers
def _small(codec: str) -> bytes:
    return C.encode_payload(Image.new("RGB", (16, 16), "red"), codec, quality=50).data


def png_bomb(w: int, h: int) -> bytes:
    d = bytearray(_small("png"))
    d[16:24] = struct.pack(">II", w, h)
    d[29:33] = struct.pack(">I", zlib.crc32(bytes(d[12:29])))
    return bytes(d)


def jpeg_bomb(w: int, h: int) -> bytes:
    d = bytearray(_small("jpeg"))
    i = d.index(b"\xff\xc0") if b"\xff\xc0" in d else d.index(b"\xff\xc2")
    d[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(d)


def webp_bomb(w: int, h: int) -> bytes:
    d = bytearray(_small("webp"))       # lossy: "VP8 " chunk, frame tag, 9d 01 2a, w, h
    i = d.index(b"\x9d\x01\x2a")
    d[i + 3:i + 7] = struct.pack("<HH", w & 0x3FFF, h & 0x3FFF)
    return bytes(d)


def webp_lossless_bomb(w: int, h: int) -> bytes:
    d = bytearray(C.encode_payload(Image.new("RGB", (16, 16), "red"), "webp",
                                   lossless=True).data)
    i = d.index(b"VP8L") + 8
    assert d[i] == 0x2F
    bits = int.from_bytes(d[i + 1:i + 5], "little")
    bits = (bits & ~0xFFFFFFF) | (w - 1) | (h - 1) << 14
    d[i + 1:i + 5] = bits.to_bytes(4, "little")
    return bytes(d)


def avif_bomb(w: int, h: int) -> bytes:
    d = bytearray(_small("avif"))
    i = d.index(b"ispe")
    d[i + 8:i + 16] = struct.pack(">II", w, h)
    return bytes(d)


def jxl_bomb(w: int, h: int) -> bytes:
    """A bare JPEG XL codestream whose SizeHeader declares w x h (30-bit u32 fields)."""
    bits = [0]                                        # small = 0
    bits += [1, 1] + [(h - 1) >> k & 1 for k in range(30)]   # height: selector 3, 30 bits
    bits += [0, 0, 0]                                 # ratio 0: explicit width
    bits += [1, 1] + [(w - 1) >> k & 1 for k in range(30)]
    bits += [0] * (-len(bits) % 8)
    body = bytes(sum(b << k for k, b in enumerate(bits[j:j + 8])) for j in range(0, len(bits), 8))
    return b"\xff\x0a" + body + bytes(64)


BOMBS = {"png": png_bomb, "jpeg": jpeg_bomb, "webp": webp_bomb,
         "webp-lossless": webp_lossless_bomb, "avif": avif_bomb, "jxl": jxl_bomb}


def codec_of(name: str) -> str:
    return name.split("-")[0]


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Fail the test if any pixel decoder runs (Pillow's load, libjxl's decoder)."""
    calls = []

    def spy(*a, **k):
        calls.append(a)
        raise AssertionError("a pixel decoder ran for an over-budget payload")
    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    try:
        import pillow_jxl
        monkeypatch.setattr(pillow_jxl, "Decoder", spy)
    except ImportError:
        pass
    return calls


def _available(name: str) -> bool:
    return C.get_codec(codec_of(name)).available()


@pytest.mark.parametrize("name", sorted(BOMBS))
@pytest.mark.parametrize("size", [(16384, 16384), (16383, 16383), (20000, 8)])
def test_header_bomb_refused_before_decoding(name, size, no_pixel_decoding):
    if not _available(name):
        pytest.skip(f"{name} not installed")
    if name.startswith("webp") and max(size) > 16384:
        pytest.skip("WebP cannot declare more than 16384 per side")
    data = BOMBS[name](*size)
    p = Payload(codec_of(name), data)
    file = aigif.dumps(AigifFile(meta=None, payload=p))
    t = time.perf_counter()
    with pytest.raises(aigif.AigifError) as ei:
        C.decode_payload(p)
    assert ei.value.code in ("limit-exceeded", "codec")
    with pytest.raises(aigif.AigifError):          # the Pillow plugin: an AigifError too
        Image.open(io.BytesIO(file))
    with pytest.raises(aigif.AigifError):
        aigif.loads(file).image(policy="pixels")
    assert time.perf_counter() - t < 2.0
    assert not no_pixel_decoding


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_header_bomb_size_is_read_from_the_header(name):
    """The crafted headers really declare the bomb (else the test above proves nothing)."""
    if not _available(name):
        pytest.skip(f"{name} not installed")
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        assert C.get_codec(codec_of(name)).probe(BOMBS[name](4000, 3000)) == (4000, 3000)
    finally:
        Image.MAX_IMAGE_PIXELS = old


@pytest.mark.parametrize("name", ["png", "webp", "avif", "jpeg", "jxl"])
def test_real_bomb_respects_max_image_pixels(name, monkeypatch, no_pixel_decoding):
    """A real (decodable) 1024x1024 payload, with Pillow's MAX_IMAGE_PIXELS at 100k:
    refused from the header by every path; Pillow's DecompressionBombError never escapes
    (issue 13.6: JXL decoded fully in 11.6 s / 2.1 GB, then Pillow raised its own error)."""
    if not _available(name):
        pytest.skip(f"{name} not installed")
    monkeypatch.setattr(ImageFile.ImageFile, "load", ImageFile.ImageFile.load)  # encode
    p = C.encode_payload(Image.new("RGB", (1024, 1024), "blue"), name, quality=30)
    file = aigif.dumps(AigifFile(meta=None, payload=p))
    assert len(file) < 50_000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    t = time.perf_counter()
    for fn in (lambda: C.decode_payload(p), lambda: Image.open(io.BytesIO(file)).load(),
               lambda: aigif.loads(file).image(policy="pixels")):
        with pytest.raises(aigif.LimitExceededError):
            fn()
    assert time.perf_counter() - t < 1.0


def test_budget_follows_pillow_and_the_spec(monkeypatch):
    from aigif.codecs._pillow import pixel_budget
    from aigif.spec import MAX_DECOMPRESSED_PIXELS
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert pixel_budget() == MAX_DECOMPRESSED_PIXELS
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert pixel_budget() == 2000


@pytest.mark.filterwarnings("ignore::aigif.errors.PlatformMismatchWarning")
def test_residual_bomb_refused_before_decoding(no_pixel_decoding):
    """A residual whose inner image declares 16384x16384 over a 16x16 base."""
    pytest.importorskip("numpy")
    from aigif.codecs.residual import _pack, apply_residual
    base = Image.new("RGB", (16, 16), "gray")
    for name in ("png", "jxl"):
        if not _available(name):
            continue
        data = _pack(0, 1, b"\0\0\0\0", name, BOMBS[name](16384, 16384))
        t = time.perf_counter()
        with pytest.raises(aigif.AigifError):
            apply_residual(base, data)
        assert time.perf_counter() - t < 1.0


# ------------------------------------------------------------------ brotli
def _source_bomb(n_values: int, value_bytes: int = MiB) -> bytes:
    """A pixels-only file whose brotli source element decodes to n x 1 MiB values."""
    import brotli
    from aigif.bitstream.primitives import uvarint as _varint
    from aigif.spec import Element
    comp = brotli.Compressor(quality=1, lgwin=24)
    out = [comp.process(_varint(n_values))]
    chunk = b"a" * value_bytes
    for i in range(n_values):
        key = f"k{i:03d}".encode()
        out.append(comp.process(_varint(len(key)) + key + _varint(value_bytes)))
        out.append(comp.process(chunk))
    out.append(comp.finish())
    src = b"\x01" + b"".join(out)
    px = _small("png")
    els = [(Element.PIXELS, _varint(1) + px), (Element.SOURCE, src)]
    from aigif.io import check_value
    body = _varint(int(aigif.spec.Presence.NO_MODEL | aigif.spec.Presence.ELEMENTS))
    body += _varint(len(els))
    for eid, d in els:
        body += _varint(int(eid) << 1) + _varint(len(d)) + d
    raw = b"AI\xf1" + body
    return raw + check_value(raw, len(raw) + 2).to_bytes(2, "big")


def _peak(fn):
    tracemalloc.start()
    t = time.perf_counter()
    try:
        out = fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out, peak, time.perf_counter() - t


def test_brotli_source_bomb_within_the_limit_is_bounded():
    """~400 B -> 63 MiB of source (allowed: MAX_ELEMENT_BYTES): reading holds the decoded
    bytes and the strings (about 2 x 63 MiB); validate adds no re-compression (it peaked
    at 276 MB and re-ran brotli over 63 MiB)."""
    data = _source_bomb(63)
    assert len(data) < 20_000                  # quality 1; quality 11 gives ~330 B
    f, peak_loads, t_loads = _peak(lambda: aigif.loads(data))
    assert sum(map(len, f.source.values())) == 63 * MiB
    del f
    rep, peak_val, t_val = _peak(lambda: aigif.validate(data))
    assert rep.ok and "canonical-unchecked" in [i.code for i in rep.warnings]
    del rep
    assert peak_loads < 150 * MiB, peak_loads / MiB
    assert peak_val < peak_loads + 16 * MiB, (peak_val / MiB, peak_loads / MiB)
    assert t_loads < 3 and t_val < 3, (t_loads, t_val)


def test_brotli_source_over_the_limit_is_refused_mid_stream():
    data = _source_bomb(65)                        # 65 MiB > MAX_ELEMENT_BYTES
    _, peak, t = _peak(lambda: pytest.raises(aigif.AigifError, aigif.loads, data))
    assert peak < 80 * MiB and t < 3, (peak / MiB, t)


def test_brotli_text_block_bomb_is_bounded():
    import brotli
    from aigif import GenerationMeta
    raw = aigif.dumps(GenerationMeta(model="sd15", prompt="x"), text_method=0)[:-2]
    small = aigif.textcoding.encode_text("x", "", 0)
    block = b"\x01" + brotli.compress(b"\x00" * (50 * MiB), quality=1)
    from aigif.io import check_value
    body = raw[:-len(small)] + block
    data = body + check_value(body, len(body) + 2).to_bytes(2, "big")
    _, peak, t = _peak(lambda: pytest.raises(aigif.AigifError, aigif.loads, data))
    assert peak < 4 * MiB and t < 1, (peak / MiB, t)
