"""The RDC model of the ``sth`` codec (version-2 payloads, issue 17): complexity levels,
integer context model, pass-by-pass coding, determinism across processes, bad input.

Tiny models with seeded random weights are built here (the integer parts are what
matters); the shipped weights are tested when installed."""
from __future__ import annotations

import json
import time

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")
Image = pytest.importorskip("PIL.Image")

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402
from aigif.codecs.learned import intnet, rdc, sth, zoo  # noqa: E402
from aigif.errors import CodecError, LimitExceededError  # noqa: E402

TEST_ID, TEST_KEY = 251, "sth-rdc-test-tiny"


def tiny_model(seed: int = 0) -> "rdc.RdcHyperprior":
    torch.manual_seed(seed)
    m = rdc.RdcHyperprior(N=12, M=16, H=8, C=8)
    with torch.no_grad():   # make the context matter: a random model's context is weak
        m.ctx.weight.mul_(4)
    return m.eval()


def picture(w=100, h=70, seed=0) -> "Image.Image":
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([255 * x / w, 255 * y / h, 128 + 60 * np.sin(x / 7.0)], -1)
    a = a + rng.normal(0, 8, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


@pytest.fixture(scope="module")
def tensors():
    return rdc.export_rdc(tiny_model())


@pytest.fixture
def tiny(monkeypatch, tensors):
    zoo.register(TEST_KEY, tensors, arch="rdc")
    monkeypatch.setitem(sth.MODEL_IDS, TEST_ID, TEST_KEY)
    monkeypatch.setattr(sth.SthCodec, "default_model", TEST_ID)
    yield tensors
    zoo.register(TEST_KEY, None)


# --- the pass patterns ------------------------------------------------------------------

def test_levels_are_nested_pass_patterns_with_causal_masks():
    for level, pm in rdc.LEVELS.items():
        p = len(pm)
        passes = sorted(v for row in pm for v in row)
        assert passes == sorted(set(passes)) or level == 1   # checkerboard: 2 phases a pass
        for a in range(p):
            for b in range(p):
                mk = np.array(rdc.tap_mask(level, a, b))
                assert mk[2, 2] == 0                          # never its own value
                # a tap is available iff its pass is earlier
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        assert mk[dy + 2, dx + 2] == (pm[(a + dy) % p][(b + dx) % p] < pm[a][b])
    assert [len(rdc.phases(lv)) for lv in sorted(rdc.LEVELS)] == [1, 2, 4, 16]


def test_conv_phase_equals_the_full_conv_at_those_positions():
    rng = np.random.default_rng(0)
    x = rng.integers(-5000, 5000, (6, 8, 12)).astype(np.int64)
    w = rng.integers(-3000, 3000, (4, 6, 5, 5)).astype(np.int64)
    b = rng.integers(-10 ** 6, 10 ** 6, 4).astype(np.int64)
    full = intnet.conv_phase(x, w, b, 16, 0, 0, 1)
    for p in (2, 4):
        for a in range(p):
            for bb in range(p):
                assert (intnet.conv_phase(x, w, b, 16, a, bb, p) == full[:, a::p, bb::p]).all()


def test_training_forward_in_hard_mode_matches_the_integer_decoder(tensors):
    """The torch model's hard pass-by-pass latents equal the integer decoder's up to the
    fixed-point rounding of the exported networks: the model trains what is decoded."""
    m = tiny_model()
    coder = rdc.RdcCoder(tensors)
    im = np.array(picture(64, 64, seed=1))
    x = torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255
    for level in rdc.LEVELS:
        zb, yb, zs = coder.encode(im, 256, level)
        y_int = coder.decode_latents(zb, yb, zs[1], zs[2], 256, level) / 4096.0
        with torch.no_grad():
            y = m.g_a(x)
            feats = m.h_s(torch.round(m.h_a(y)))
            y_hat, _, _ = m.code_latents(y, feats, level, "hard")
        close = np.isclose(y_hat[0].double().numpy(), y_int, atol=1e-2).mean()
        assert close > 0.99, (level, close)


# --- coding -----------------------------------------------------------------------------

def test_every_level_round_trips_deterministically(tiny):
    c = C.get_codec("sth")
    im = picture(130, 90, seed=2)
    sizes = {}
    for level in rdc.LEVELS:
        data = c.encode(im, effort=level)
        assert data[4] == 2
        assert sth.HEADER2.unpack_from(data)[7] == level
        coder, _, y, w, h, step = c.decode_symbols(data)
        assert y.shape == (16, 8, 12)
        out = c.decode(data)
        assert out.size == im.size and c.encode(im, effort=level) == data   # deterministic
        sizes[level] = len(data)
    assert c.probe(data) == im.size
    # quality = the latent step: monotone rate
    q = [len(c.encode(im, quality=v, effort=1)) for v in (10, 50, 75, 100)]
    assert q == sorted(q)
    with pytest.raises(CodecError, match="effort"):
        C.encode_payload(im, "sth", effort=4)
    print("bytes per level:", sizes)


def test_decoder_latents_equal_the_encoders(tiny):
    """Encoder and decoder walk the same integer passes: identical fixed-point latents."""
    c = C.get_codec("sth")
    im = picture(96, 70, seed=5)
    coder, _ = zoo.load(TEST_KEY)
    for level in rdc.LEVELS:
        data = c.encode(im, effort=level, quality=60)
        _, _, y_dec, *_ = c.decode_symbols(data)
        # re-walk with the encoder's float latents: same integers
        z_sym, y = coder.analyse(np.asarray(im))
        feats = coder.hyper_features(z_sym)
        step = sth.HEADER2.unpack_from(data)[6]
        p = len(rdc.LEVELS[level])

        def take(k, params):
            return [(np.clip(np.rint((y[:, a::p, b::p] - mu / 4096.0) * (256 / step)),
                             -127, 127) + 127).astype(np.int64) for a, b, mu, _ in params]
        assert (coder._walk(feats, level, step, take) == y_dec).all()


_DECODE = """
import sys, numpy as np, torch
from safetensors.torch import load_file
from aigif.codecs.learned import sth, zoo
weights, payload, threads, dtype, onednn, out = sys.argv[1:]
torch.set_num_threads(int(threads))
torch.backends.mkldnn.enabled = onednn == "on"
sth.MODEL_IDS[251] = "sth-rdc-test-tiny"
if weights != "-":
    zoo.register("sth-rdc-test-tiny", load_file(weights), arch="rdc")
data = open(payload, "rb").read()
c = sth.SthCodec()
coder, _, y, w, h, step = c.decode_symbols(data, getattr(torch, dtype))
np.savez(out, y=y, rgb=coder.synthesize(y, h, w))
"""


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def test_latents_identical_across_processes_threads_and_precision(tiny, tmp_path, run_py):
    from safetensors.torch import save_file
    weights = tmp_path / "tiny.safetensors"
    save_file(tiny, weights)
    c = C.get_codec("sth")
    data = c.encode(picture(130, 90, seed=3), effort=3)
    payload = tmp_path / "p.sth"
    payload.write_bytes(data)
    _, _, y, _, _, _ = c.decode_symbols(data)
    rgbs = {}
    for cfg in ((1, "float32", "on"), (2, "float64", "on"), (2, "float32", "off")):
        f = tmp_path / ("d%s%s%s.npz" % cfg)
        r = run_py(_DECODE, str(weights), str(payload), *map(str, cfg), str(f))
        assert r.returncode == 0, r.stderr[-2000:]
        d = np.load(f)
        assert (d["y"] == y).all(), cfg
        rgbs[cfg] = d["rgb"]
    ref = rgbs[(1, "float32", "on")]
    print("pixel drift vs 1 thread float32 oneDNN on: " + ", ".join(
        f"{k}: {_psnr(ref, v):.1f} dB" for k, v in rgbs.items()))


def test_bad_version_2_payloads_raise_codec_error_fast(tiny):
    c = C.get_codec("sth")
    data = c.encode(picture(80, 60), effort=2)
    H2 = sth.HEADER2
    h = list(H2.unpack_from(data))
    t0 = time.perf_counter()
    for n in (0, 5, H2.size - 1, H2.size, len(data) - 4, len(data) - 1):
        with pytest.raises(CodecError):
            c.decode(data[:n])
    for i, v in ((1, 3), (2, 1), (2, 99), (3, b"\0" * 8), (7, 4), (7, 255), (8, 17),
                 (9, 9), (12, 2), (14, h[14] + 4), (15, h[15] - 4)):
        g = list(h)
        g[i] = v
        with pytest.raises(CodecError, match="sth"):
            c.decode(H2.pack(*g) + data[H2.size:])
    g = list(h)
    g[4:6] = [65535, 65535]
    with pytest.raises((LimitExceededError, CodecError)):
        c.decode(H2.pack(*g) + data[H2.size:])
    rng = np.random.default_rng(0)
    for _ in range(5):
        body = rng.integers(0, 256, len(data) - H2.size, dtype=np.uint8).tobytes()
        try:
            c.decode(data[:H2.size] + body)
        except CodecError:
            pass
    assert time.perf_counter() - t0 < 20


def test_save_open_with_effort(tiny, tmp_path):
    im = picture(64, 48)
    p = tmp_path / "a.aigif"
    aigif.save(None, p, image=im, fallback="sth", quality=60, effort=3)
    f = aigif.open(p)
    assert f.payload.codec == "sth" and f.payload.data[4] == 2
    assert C.decode_payload(f.payload).size == im.size


shipped = pytest.mark.skipif(not zoo.available("sth-rdc-1"), reason="no shipped sth-rdc-1")


@shipped
def test_shipped_rdc_weights_decode_the_same_latents_everywhere(tmp_path, run_py):
    """The shipped weights: identical latents across threads / precision / oneDNN, and the
    pixel drift that float synthesis leaves (reported, bounded at 40 dB)."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:128, 0:192]
    a = np.stack([x, y, (x * y) % 255], -1).astype(np.float64) + rng.normal(0, 6, (128, 192, 3))
    c = C.get_codec("sth")
    data = c.encode(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), effort=3)
    payload = tmp_path / "p.sth"
    payload.write_bytes(data)
    _, _, y0, *_ = c.decode_symbols(data)
    rgbs = {}
    for cfg in ((1, "float32", "on"), (2, "float64", "on"), (2, "float32", "off")):
        f = tmp_path / ("d%s%s%s.npz" % cfg)
        code = _DECODE.replace('sth.MODEL_IDS[251] = "sth-rdc-test-tiny"\n', "")
        r = run_py(code, "-", str(payload), *map(str, cfg), str(f))
        assert r.returncode == 0, r.stderr[-2000:]
        d = np.load(f)
        assert (d["y"] == y0).all(), cfg
        rgbs[cfg] = d["rgb"]
    ref = rgbs[(1, "float32", "on")]
    drift = {k: _psnr(ref, v) for k, v in rgbs.items()}
    print("shipped sth-rdc-1 pixel drift vs 1 thread float32 oneDNN on: " + ", ".join(
        f"{k}: {v:.1f} dB" for k, v in drift.items()))
    assert min(drift.values()) > 40


@shipped
def test_shipped_rdc_weights_quality_per_level():
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:192, 0:256]
    a = np.stack([x, y, (x + y) // 2], -1).astype(np.float64) + rng.normal(0, 4, (192, 256, 3))
    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    c = C.get_codec("sth")
    out = {}
    for level in rdc.LEVELS:
        data = c.encode(im, effort=level)
        out[level] = (len(data), _psnr(np.asarray(im), np.asarray(c.decode(data))))
    print(json.dumps(out))
    assert all(q > 28 for _, q in out.values())
    assert out[3][0] <= out[0][0]


def test_cli_encode_with_effort(tiny, tmp_path):
    from aigif.cli.main import main
    src = tmp_path / "in.png"
    picture(64, 48).save(src)
    out = {}
    for level in (0, 3):
        p = tmp_path / f"l{level}.aigif"
        with pytest.raises(SystemExit) as e:
            main(["encode", "-o", str(p), "--image", str(src), "--fallback", "sth", "--effort",
                  str(level)])
        assert e.value.code in (0, None)
        out[level] = aigif.open(p).payload.data
    assert out[0][20] == 0 and out[3][20] == 3      # the level byte of payload version 2
    with pytest.raises(SystemExit) as e:
        main(["encode", "-o", str(tmp_path / "bad.aigif"), "--image", str(src), "--fallback", "sth",
              "--effort", "9"])
    assert e.value.code not in (0, None)
