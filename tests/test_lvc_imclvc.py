"""The imclvc learned video codec (aigif.codecs.learned.lvc.imclvc) with tiny random-init
models registered in memory: the flow net (SpyNet-mini), the SR head, both modes (full size;
low-rate: half size + SR) round trip, decode == the encoder's reconstruction, the header
extension and its checks, options; the shipped lvc-flow-1 / lvc-sr-1 weights where
installed."""
from __future__ import annotations

from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")
pytest.importorskip("cv2")

from aigif.codecs import get_codec  # noqa: E402
from aigif.codecs.learned import rdc, zoo  # noqa: E402
from aigif.codecs.learned.lvc import bitstream as B  # noqa: E402
from aigif.codecs.learned.lvc import imclvc  # noqa: E402
from aigif.codecs.learned.lvc.flownet import FlowEstimator, SpyNetMini, export_flow  # noqa: E402
from aigif.codecs.learned.lvc.residual_model import random_tensors  # noqa: E402
from aigif.codecs.learned.lvc.sr import SrCoder, SrNet, downscale, export_sr  # noqa: E402
from aigif.errors import CodecError  # noqa: E402

SEQ = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "images" / \
    "usc-sipi-sequences"
KEYS = {"intra": "imc-test-intra", "res": "imc-test-res", "sr": "imc-test-sr",
        "flow": "imc-test-flow"}


@pytest.fixture(scope="module")
def weights():
    torch.manual_seed(0)
    intra = rdc.export_rdc(rdc.RdcHyperprior(N=12, M=16, H=8, C=8).eval())
    res = random_tensors(seed=3, N=16, M=16, H=8, C=(8, 8, 8))
    torch.manual_seed(1)
    sr = export_sr(SrNet(ch=8, layers=3))
    flow = export_flow(SpyNetMini(ch=(8, 8, 8)))
    return intra, res, sr, flow


@pytest.fixture
def tiny(monkeypatch, weights):
    intra, res, sr, flow = weights
    zoo.register(KEYS["intra"], intra, "rdc")
    zoo.register(KEYS["res"], res, "lvcres")
    zoo.register(KEYS["sr"], sr, "lvcsr")
    zoo.register(KEYS["flow"], flow, "lvcflow")
    monkeypatch.setitem(B.INTRA_MODELS, 1, KEYS["intra"])
    monkeypatch.setitem(B.RES_MODELS, 1, KEYS["res"])
    monkeypatch.setitem(imclvc.SR_MODELS, 1, KEYS["sr"])
    monkeypatch.setattr(imclvc, "FLOW_KEY", KEYS["flow"])
    yield
    for k in KEYS.values():
        zoo.register(k, None)


def clip(t=3, h=66, w=70, seed=0):
    """A pan (2 px left, 1 px up per frame) over a smooth random picture (odd half size:
    padding exercised)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h + 3 * t, 0:w + 3 * t]
    a = np.stack([128 + 90 * np.sin(x / 9.0 + y / 13.0), 255 * x / (w + 3 * t),
                  128 + 60 * np.cos(y / 7.0)], -1) + rng.normal(0, 6, (h + 3 * t, w + 3 * t, 3))
    a = np.clip(a, 0, 255).astype(np.uint8)
    return np.stack([a[i:i + h, 2 * i:2 * i + w] for i in range(t)])


def test_flow_estimator_shapes_and_pan(weights):
    """Any size in, [2, H, W] float32 out; the untrained net's matching already finds a
    2-px pan (the cost volume's soft-argmin), so its flow points the right way."""
    fe = FlowEstimator(weights[3])
    c = clip(2, 45, 77)
    f = fe.estimate(c[1], c[0])
    assert f.shape == (2, 45, 77) and f.dtype == np.float32
    assert float(np.median(f[0])) > 0.5          # frame 1 = frame 0 shifted left by 2 px


def test_sr_upscale_shapes_and_downscale(weights):
    x = clip(1, 9, 7)[0]
    d = downscale(x)
    assert d.shape == (5, 4, 3)
    assert int(d[0, 0, 0]) == (int(x[0, 0, 0]) + int(x[1, 0, 0]) + int(x[0, 1, 0])
                               + int(x[1, 1, 0]) + 2) // 4
    sr = SrCoder(weights[2])
    out = sr.upscale(d, None, None, (9, 7))
    assert out.shape == (9, 7, 3) and out.dtype == np.uint8
    out2 = sr.upscale(d, x, torch.zeros(1, 2, 5, 4), (9, 7))
    assert out2.shape == (9, 7, 3)
    with pytest.raises(ValueError):
        sr.upscale(d, None, None, (12, 7))


@pytest.mark.parametrize("opts", [{}, {"sr": True}, {"flow": "dis", "refine": 0},
                                  {"sr": True, "gop": 2, "refine": 0}])
def test_round_trip_decode_equals_recon(tiny, opts):
    codec = get_codec("imclvc")
    frames = clip()
    data, recon = codec.encode_recon(frames, 8, crf=40, **opts)
    out, fps = codec.decode(data)
    assert out.shape == frames.shape and fps == 8
    assert np.array_equal(out, recon)
    head, _ = B.parse(data)
    assert head.scheme == 18
    assert len(head.ext) == (10 if opts.get("sr") else 1)


def test_low_rate_codes_half_size(tiny):
    """The low-rate payload is smaller (a quarter of the pixels coded) and its frames are
    full size; sr_from switches it on by crf."""
    codec = get_codec("imclvc")
    frames = clip()
    full = codec.encode(frames, 8, crf=44, refine=0)
    half = codec.encode(frames, 8, crf=44, sr=True, refine=0)
    auto = codec.encode(frames, 8, crf=44, sr_from=40, refine=0)
    off = codec.encode(frames, 8, crf=36, sr_from=40, refine=0)
    assert len(half) < len(full)
    assert B.parse(auto)[0].ext == B.parse(half)[0].ext
    assert B.parse(off)[0].ext == b"\0"
    assert codec.decode(half)[0].shape == frames.shape


def test_header_extension_checked(tiny):
    codec = get_codec("imclvc")
    data = codec.encode(clip(2), 8, crf=40, sr=True, refine=0)
    head, _ = B.parse(data)
    off = B.HEADER.size
    for bad in (b"\x02", b"", b"\x01\x01", b"\x01\x07" + head.ext[2:],
                b"\x01\x01" + bytes(8)):
        forged = B.pack_header(head._replace(ext=bad)) + data[off + len(head.ext):]
        with pytest.raises(CodecError):
            codec.decode(forged)


def test_options_checked(tiny):
    codec = get_codec("imclvc")
    with pytest.raises(CodecError):
        codec.encode(clip(2), 8, flow="spynet")
    with pytest.raises(CodecError):
        codec.encode(clip(2), 8, sr=1)
    with pytest.raises(CodecError):
        codec.encode(clip(2), 8, bicubic=True)


def test_missing_sr_weights_is_codec_error(tiny, monkeypatch):
    codec = get_codec("imclvc")
    data = codec.encode(clip(2), 8, crf=40, sr=True, refine=0)
    monkeypatch.setitem(zoo.MODELS, "imc-test-absent", ("imc-test-absent.safetensors", "lvcsr"))
    monkeypatch.setitem(imclvc.SR_MODELS, 1, "imc-test-absent")
    with pytest.raises(CodecError, match="not installed"):
        codec.decode(data)


@pytest.mark.skipif(not (zoo.available("lvc-flow-1") and zoo.available("lvc-sr-1")),
                    reason="lvc-flow-1 / lvc-sr-1 weights not installed")
def test_shipped_flow_and_sr_weights():
    fe, _ = zoo.load("lvc-flow-1")
    c = clip(2, 64, 96)
    f = fe.estimate(c[1], c[0])
    # frame 1 = frame 0 moved 2 px left and 1 px up: backward flow (2, 1)
    assert abs(float(np.median(f[0])) - 2.0) < 0.25 and abs(float(np.median(f[1])) - 1.0) < 0.25
    sr, _ = zoo.load("lvc-sr-1")
    if not (SEQ / "6.2.01.png").exists():
        pytest.skip("needs ../shared/data/images/usc-sipi-sequences")
    from PIL import Image
    x = np.asarray(Image.open(SEQ / "6.2.01.png").convert("RGB"))[64:128, 64:160]
    d = downscale(x)
    bic = torch.nn.functional.interpolate(
        torch.from_numpy(d).permute(2, 0, 1)[None].float(), scale_factor=2,
        mode="bicubic", align_corners=False).clamp(0, 255).round()[0].permute(1, 2, 0).numpy()
    alone = sr.upscale(d, None, None, (64, 96))
    # a static scene: the previous full-size output (here the frame itself) warped by a
    # zero flow carries detail the half-size frame lost; the head must use it
    up = sr.upscale(d, x, torch.zeros(1, 2, 32, 48), (64, 96))

    def err(a):
        return np.mean((a.astype(float) - x) ** 2)
    assert err(up) < 0.97 * err(bic) and err(up) < 0.97 * err(alone)


def test_decode_integers_and_trace(tiny):
    """decode_integers (conformance vectors) walks the same decode: the frames equal
    decode's, the integers are the flow fields and latents of every frame."""
    codec = get_codec("imclvc")
    for opts in ({"refine": 0}, {"sr": True, "refine": 0}):
        data = codec.encode(clip(), 8, crf=36, **opts)
        ints, frames = codec.decode_integers(data)
        assert np.array_equal(frames, codec.decode(data)[0])
        assert len(ints) >= 3 and all(np.asarray(a).dtype.kind in "iu" for a in ints)


def test_corrupt_payloads_raise_codec_errors_only(tiny):
    """Truncations and byte flips of a low-rate payload: CodecError (or a decode), never
    another exception, never a hang."""
    from aigif.errors import AigifError
    codec = get_codec("imclvc")
    data = codec.encode(clip(), 8, crf=40, sr=True, refine=0)
    for cut in (1, 7, len(data) // 2, len(data) - 1):
        with pytest.raises(CodecError):
            codec.decode(data[:cut])
    rng = np.random.default_rng(5)
    for _ in range(12):
        b = bytearray(data)
        i = int(rng.integers(B.HEADER.size, len(b)))
        b[i] ^= 1 << int(rng.integers(8))
        try:
            out, _ = codec.decode(bytes(b))
            assert out.shape == (3, 66, 70, 3)
        except AigifError:
            pass


_CHILD = """
import hashlib, json, sys
import numpy as np, torch
from safetensors.torch import load_file
from aigif.codecs import get_codec
from aigif.codecs.learned import zoo
from aigif.codecs.learned.lvc import bitstream as B, imclvc
d = sys.argv[1]
for name, arch in (("intra", "rdc"), ("res", "lvcres"), ("sr", "lvcsr")):
    zoo.register("imc-child-" + name, load_file(d + "/" + name + ".safetensors"), arch)
B.INTRA_MODELS[1], B.RES_MODELS[1] = "imc-child-intra", "imc-child-res"
imclvc.SR_MODELS[1] = "imc-child-sr"
out = {}
for run in sys.argv[2].split(","):                 # threads:dtype bits
    threads, bits = run.split(":")
    torch.set_num_threads(int(threads))
    dtype = {"32": torch.float32, "64": torch.float64}[bits]
    for mode in ("full", "sr"):
        ints, frames = get_codec("imclvc").decode_integers(
            open(d + "/" + mode + ".bin", "rb").read(), dtype)
        h = hashlib.sha256()
        for a in ints:
            h.update(np.ascontiguousarray(a, np.int64).tobytes())
        np.save(d + "/" + mode + "-" + threads + "-" + bits + ".npy", frames)
        out[mode + " " + run] = h.hexdigest()
print(json.dumps(out))
"""


def test_symbols_identical_across_threads_and_dtypes(tiny, weights, tmp_path):
    """imclvc (full size and the low-rate SR mode) decoded in another process with 1 and 2
    threads, float32 and float64: the same decoded integers (flows, I-frame and residual
    latents); the pixel drift (SR head included) is printed and bounded."""
    import json
    import os
    import subprocess
    import sys

    from safetensors.torch import save_file
    intra, res, sr, _ = weights
    for name, t in (("intra", intra), ("res", res), ("sr", sr)):
        save_file(t, str(tmp_path / f"{name}.safetensors"))
    frames = clip(4, 64, 64, seed=3)
    c = get_codec("imclvc")
    (tmp_path / "full.bin").write_bytes(c.encode(frames, 8, crf=30))
    (tmp_path / "sr.bin").write_bytes(c.encode(frames, 8, crf=40, sr=True))
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), "1:32,2:32,2:64"],
                       capture_output=True, text=True, cwd=root, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr[-2000:]
    sym = json.loads(r.stdout.strip().splitlines()[-1])
    for mode in ("full", "sr"):
        assert sym[f"{mode} 1:32"] == sym[f"{mode} 2:32"] == sym[f"{mode} 2:64"]
        a = np.load(tmp_path / f"{mode}-1-32.npy")
        for other in ("2-32", "2-64"):
            b = np.load(tmp_path / f"{mode}-{other}.npy")
            d = np.abs(a.astype(int) - b).max()
            print(f"imclvc {mode}: 1 thread float32 vs {other}: max |d| {d}")
            assert d <= 3
