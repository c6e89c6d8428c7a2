"""nvtc learned codec: round trip, integer-table determinism, bad input, the codec paths.

Fast tests use a tiny seeded model built here (random weights, random index tables)
written through the same ``save_weights`` as training; one test uses the shipped
weights when they are installed.
"""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")
Image = pytest.importorskip("PIL.Image")

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402
from aigif.codecs.learned import nvtc  # noqa: E402
from aigif.codecs.learned.nvtc_model import NVTC, NvtcConfig  # noqa: E402
from aigif.codecs.learned.nvtc_tables import TOTAL, quantize_pmf  # noqa: E402
from aigif.errors import AigifError, CodecError, LimitExceededError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = NvtcConfig(vt_dim=(8, 8, 12), n_layer=(1, 1, 2), vt_nunit=(1, 1, 1),
                  cb_dim=(4, 8, 16), cb_size=(16, 32, 64), n_res=1)


def sample(w=96, h=64, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([255 * x / (w - 1), 255 * y / (h - 1),
                  128 + 100 * np.sin(x / 7.0) * np.cos(y / 5.0)], -1)
    a = np.clip(a + rng.normal(0, 2, a.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(a, "RGB")


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Model id 1 points at a tiny seeded model for the duration of a test."""
    torch.manual_seed(0)
    m = NVTC(TINY)
    with torch.no_grad():
        for lg in m.logits:
            lg.copy_(torch.randn(lg.shape) * 2)
    path = tmp_path / "nvtc_tiny.safetensors"
    nvtc.save_weights(m, path, {"lam_latent": 100.0})
    monkeypatch.setitem(nvtc.MODELS, 1, str(path))
    return path


def test_tables_are_16_bit_integers():
    f = quantize_pmf(np.array([[0.0, 1e-9, 0.5, 0.5 - 1e-9], [0.25] * 4]))
    assert f.dtype == np.int32 and (f >= 1).all() and (f.sum(-1) == TOTAL).all()


def test_round_trip_and_decoded_symbols_equal_encoded(tiny):
    im = sample(70, 50)          # not a multiple of the stride: padded and cropped
    data = C.get_codec("nvtc").encode(im, quality=75)
    hd = nvtc.parse_header(data)
    assert (hd["width"], hd["height"]) == (70, 50) and len(hd["streams"]) == 4
    loaded = nvtc.load_model(1)
    x = nvtc._to_tensor(im, torch.float32, TINY.stride)
    bits = [torch.from_numpy(16 - np.log2(f.astype(np.float64))).float() for f in loaded.freq]
    enc = loaded.model.quantize_all(x, lambda q: bits[q], nvtc._lam(75, loaded.lam_latent))
    dec = nvtc.decode_indices(loaded, 70, 50, hd["streams"])
    assert [e.shape for e in enc] == [d.shape for d in dec]
    assert all((e.numpy() == d).all() for e, d in zip(enc, dec))
    out = C.get_codec("nvtc").decode(data)
    assert out.size == (70, 50) and out.mode == "RGB"
    assert C.get_codec("nvtc").probe(data) == (70, 50)
    assert C.get_codec("nvtc").encode(im, quality=75) == data   # deterministic


def test_quality_moves_the_rate(tiny):
    im = sample(128, 128)
    sizes = [len(C.get_codec("nvtc").encode(im, quality=q)) for q in (0, 100)]
    assert sizes[0] < sizes[1]


_CHILD = r"""
import json, sys, numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from aigif.codecs.learned import nvtc
nvtc.MODELS[1] = sys.argv[1]
data = open(sys.argv[2], 'rb').read()
hd = nvtc.parse_header(data)
loaded = nvtc.load_model(1, dtype=sys.argv[4])
idx = nvtc.decode_indices(loaded, hd['width'], hd['height'], hd['streams'])
im = nvtc.synthesize(loaded, idx, hd['width'], hd['height'])
print(json.dumps({'idx': [i.tolist() for i in idx], 'px': np.asarray(im).tolist()}))
"""


def test_same_symbols_in_another_process_threads_and_dtype(tiny, tmp_path):
    im = sample(64, 64, seed=3)
    data = C.get_codec("nvtc").encode(im)
    f = tmp_path / "p.nvtc"
    f.write_bytes(data)
    runs = []
    for threads, dtype in ((1, "float32"), (2, "float64")):
        r = subprocess.run([sys.executable, "-c", _CHILD, str(tiny), str(f), str(threads), dtype],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 0, r.stderr
        runs.append(json.loads(r.stdout))
    here = nvtc.decode_indices(nvtc.load_model(1), 64, 64, nvtc.parse_header(data)["streams"])
    assert runs[0]["idx"] == runs[1]["idx"] == [i.tolist() for i in here]
    a, b = (np.array(r["px"], dtype=np.int16) for r in runs)
    assert np.abs(a - b).max() <= 1        # float rounding only, never a desync
    assert (a == np.asarray(C.get_codec("nvtc").decode(data))).all()


def _forge(data, **kw):
    magic, version, model, whash, w, h, n = nvtc._HEAD.unpack_from(data)
    f = dict(magic=magic, version=version, model=model, whash=whash, w=w, h=h, n=n) | kw
    return nvtc._HEAD.pack(*f.values()) + data[nvtc._HEAD.size:]


def test_bad_input(tiny, monkeypatch):
    codec = C.get_codec("nvtc")
    data = codec.encode(sample(64, 64))
    for cut in list(range(0, 40)) + [len(data) - 4, len(data) - 1]:
        with pytest.raises(CodecError):
            codec.decode(data[:cut])
    with pytest.raises(CodecError, match="magic"):
        codec.decode(_forge(data, magic=b"NVTX"))
    with pytest.raises(CodecError, match="version"):
        codec.decode(_forge(data, version=2))
    with pytest.raises(CodecError, match="model id"):
        codec.decode(_forge(data, model=9))
    with pytest.raises(CodecError, match="other weights"):
        codec.decode(_forge(data, whash=b"\0" * 8))
    with pytest.raises(CodecError):
        codec.decode(data + b"\0\0\0\0")
    with pytest.raises(CodecError, match="sub-streams"):
        codec.decode(_forge(data[:nvtc._HEAD.size], n=0) + b"")
    # a forged size is refused before any tensor is built or the model is loaded
    monkeypatch.setattr(nvtc, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    t = time.perf_counter()
    with pytest.raises(LimitExceededError):
        codec.decode(_forge(data, w=65535, h=65535))
    with pytest.raises(CodecError):
        codec.decode(_forge(data, w=0))
    assert time.perf_counter() - t < 0.5


def test_forged_streams_raise_only_aigif_errors(tiny):
    codec = C.get_codec("nvtc")
    data = codec.encode(sample(64, 64))
    rng = np.random.default_rng(0)
    head = nvtc._HEAD.size + 4 * 4
    refused = 0
    for _ in range(60):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(head, len(b)))] ^= int(rng.integers(1, 256))
        try:
            assert codec.decode(bytes(b)).size == (64, 64)
        except AigifError:
            refused += 1
    assert refused > 0
    # a stream that claims more bytes than its symbols could take is refused up front
    n_body = len(data) - head
    big = _forge(data)[:nvtc._HEAD.size] + struct.pack(">4I", n_body + 4096, 0, 0, 0)
    with pytest.raises(CodecError):
        codec.decode(big + data[head:] + b"\0" * 4096)


def test_via_save_decode_payload_and_cli(tiny, tmp_path, capsys):
    im = sample(64, 48)
    path = tmp_path / "x.aigif"
    aigif.save(None, path, image=im, fallback="nvtc", quality=75)
    f = aigif.open(path)
    assert f.payload.codec == "nvtc"
    assert f.pixels().size == (64, 48)
    assert C.decode_payload(f.payload).tobytes() == f.pixels().tobytes()
    assert C.codec_for_code(7).key == "nvtc" and int(aigif.spec.PixelCodec.NVTC) == 7
    from aigif.cli.main import main
    with pytest.raises(SystemExit) as e:
        main(["codecs"])
    assert e.value.code in (0, None)
    assert "nvtc" in capsys.readouterr().out


SHIPPED = Path(nvtc.__file__).with_name("nvtc_small.safetensors")


@pytest.mark.skipif(not SHIPPED.is_file(), reason="nvtc weights not shipped")
def test_shipped_weights_round_trip():
    assert SHIPPED.stat().st_size <= 15 * 2 ** 20
    im = sample(128, 96)
    p = C.encode_payload(im, "nvtc")
    out = C.decode_payload(p)
    x = np.asarray(im, dtype=np.float64)
    y = np.asarray(out, dtype=np.float64)
    psnr = 10 * np.log10(255 ** 2 / np.mean((x - y) ** 2))
    assert psnr > 24
    assert len(p.data) * 8 / (128 * 96) < 2.0
