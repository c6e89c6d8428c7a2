"""The ``omni-icm`` codec (code 14, issue 18 part 2): coding for machines. Round trips of
the feature map, determinism across processes / threads / precision, ``aigif.features``
and ``aigif features``, bad payloads.

Tiny models with seeded random weights are built here; the shipped weights are tested
when installed."""
from __future__ import annotations

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
from aigif.codecs.learned import omni_icm, omni_icm_model as om, zoo  # noqa: E402
from aigif.errors import CodecError, LimitExceededError  # noqa: E402

TEST_ID, TEST_KEY = 251, "omni-icm-test-tiny"


def tiny_model(seed: int = 0, filter: bool = True) -> "om.OmniIcm":
    torch.manual_seed(seed)
    m = om.OmniIcm(N=8, M=12, filter=filter, proj=8)
    with torch.no_grad():   # a random analysis is small: spread the latents over symbols
        m.g_a[-1].weight.mul_(8)
        m.g_a[-1].bias.normal_(0, 2)
        # round the float weights through float16 as the export does
        for p in m.parameters():
            p.copy_(p.half().float())
    return m.eval()


def picture(w=100, h=70, seed=0) -> "Image.Image":
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([255 * x / w, 255 * y / h, 128 + 60 * np.sin(x / 7.0)], -1)
    a = a + rng.normal(0, 8, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def tensors(model):
    return om.export_omni(model)


@pytest.fixture
def tiny(monkeypatch, tensors):
    zoo.register(TEST_KEY, tensors, arch="omni")
    monkeypatch.setitem(omni_icm.MODEL_IDS, TEST_ID, TEST_KEY)
    monkeypatch.setattr(omni_icm.OmniIcmCodec, "default_model", TEST_ID)
    yield tensors
    zoo.register(TEST_KEY, None)


def test_registered_with_frozen_code_14():
    assert C.codec_code("omni-icm") == 14
    assert C.codec_for_code(14).key == "omni-icm"


def test_decoded_features_are_the_encoders_quantized_latents(tiny, model):
    c = C.get_codec("omni-icm")
    im = picture(100, 70)
    x = torch.from_numpy(np.array(im)).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.pad(x, (0, 4, 0, 2), mode="replicate")
    for quality in (0, 50, 100):
        level = omni_icm.level_of(quality)
        data = c.encode(im, quality=quality)
        f = c.features(data)
        assert f.map.dtype == np.float32 and f.map.shape == (12, 9, 13)
        assert f.level == level and f.step == om.STEPS[level] / 256 and f.size == (100, 70)
        step = om.STEPS[level] / 256
        with torch.no_grad():
            q = torch.round(model.analyse(x) / step).clamp(-om.RADIUS, om.RADIUS)[0]
        # the training graph's quantized latent (float32, same weights) is what decodes
        # (a symbol may differ where y / step sits within rounding noise of a .5)
        agree = (q.numpy() * step == f.map).mean()
        assert agree > 0.99, agree
        assert len(np.unique(f.symbols)) > 3          # not a degenerate all-zero map


def test_rate_points_order_bytes(tiny):
    c = C.get_codec("omni-icm")
    im = picture(96, 64, seed=1)
    sizes = [len(c.encode(im, quality=q)) for q in (0, 25, 50, 75, 100)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1], sizes


_DECODE = """
import sys, numpy as np, torch
from safetensors.torch import load_file
from aigif.codecs.learned import omni_icm, zoo
weights, payload, threads, dtype, out = sys.argv[1:]
torch.set_num_threads(int(threads))
omni_icm.MODEL_IDS[251] = "omni-icm-test-tiny"
zoo.register("omni-icm-test-tiny", load_file(weights), arch="omni")
data = open(payload, "rb").read()
c = omni_icm.OmniIcmCodec()
f = c.features(data)
coder, sym, level, w, h = c.decode_symbols(data, getattr(torch, dtype))
np.savez(out, map=f.map, sym=sym, rgb=coder.preview(sym, level, h, w))
"""


def test_features_identical_across_processes_threads_and_precision(tiny, tmp_path, run_py):
    from safetensors.torch import save_file
    weights = tmp_path / "tiny.safetensors"
    save_file(tiny, weights)
    c = C.get_codec("omni-icm")
    data = c.encode(picture(130, 90, seed=3), quality=80)
    payload = tmp_path / "p.oicm"
    payload.write_bytes(data)
    f = c.features(data)
    for cfg in ((2, "float64"), (1, "float32")):
        out = tmp_path / ("d%s%s.npz" % cfg)
        r = run_py(_DECODE, str(weights), str(payload), *map(str, cfg), str(out))
        assert r.returncode == 0, r.stderr[-2000:]
        d = np.load(out)
        assert (d["sym"] == f.symbols).all() and (d["map"] == f.map).all(), cfg
        assert d["map"].tobytes() == f.map.tobytes()
        assert d["rgb"].shape == (90, 130, 3)


def test_save_features_and_preview(tiny, tmp_path):
    im = picture(64, 48)
    p = tmp_path / "a.aigif"
    aigif.save(None, p, image=im, fallback="omni-icm", quality=60)
    f = aigif.features(p)
    assert f.map.shape == (12, 6, 8) and f.pooled().shape == (12,)
    assert f.model == TEST_KEY
    g = aigif.features(p.read_bytes())
    assert (g.map == f.map).all()
    prev = aigif.open(p).pixels()
    assert prev.size == im.size and prev.mode == "RGB"


def test_features_of_other_payloads_are_clear_errors(tmp_path):
    p = tmp_path / "png.aigif"
    aigif.save(None, p, image=picture(32, 32), fallback="png")
    with pytest.raises(CodecError, match="not a feature codec"):
        aigif.features(p)
    q = tmp_path / "meta.aigif"
    aigif.save(aigif.GenerationMeta(model="sd15", prompt="a cat", seed=1), q)
    with pytest.raises(CodecError, match="no pixel payload"):
        aigif.features(q)
    with pytest.raises(aigif.AigifError):
        aigif.features(b"not an aigif file")


def test_cli_features(tiny, tmp_path):
    from typer.testing import CliRunner

    from aigif.cli.main import _register_features, app
    _register_features()
    p = tmp_path / "a.aigif"
    aigif.save(None, p, image=picture(40, 40), fallback="omni-icm")
    out = tmp_path / "f.npy"
    r = CliRunner().invoke(app, ["features", str(p), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "12x5x5" in r.output
    assert (np.load(out) == aigif.features(p).map).all()
    png = tmp_path / "b.aigif"
    aigif.save(None, png, image=picture(16, 16), fallback="png")
    r = CliRunner().invoke(app, ["features", str(png)])
    assert r.exit_code == 2 and "not a feature codec" in r.output
    assert "Traceback" not in r.output


def test_bad_payloads_raise_codec_error_fast(tiny):
    c = C.get_codec("omni-icm")
    data = c.encode(picture(80, 60), quality=70)
    H = omni_icm.HEADER
    h = list(H.unpack_from(data))
    t0 = time.perf_counter()
    for n in (0, 3, 5, H.size - 1, H.size, len(data) - 4, len(data) - 1):
        with pytest.raises(CodecError):
            c.features(data[:n])
    # magic, version, model, weights hash, level, M, hy, wy, y_len
    for i, v in ((0, b"OICN"), (1, 2), (2, 7), (3, b"\0" * 8), (6, 5), (6, 255), (7, 13),
                 (8, h[8] + 1), (9, h[9] - 1), (10, h[10] + 4), (10, h[10] - 4), (10, 3)):
        g = list(h)
        g[i] = v
        with pytest.raises(CodecError, match="omni-icm"):
            c.features(H.pack(*g) + data[H.size:])
    g = list(h)
    g[4:6] = [65535, 65535]
    with pytest.raises((LimitExceededError, CodecError)):
        c.decode(H.pack(*g) + data[H.size:])
    rng = np.random.default_rng(0)
    for _ in range(5):   # garbage bodies decode to garbage features or a CodecError
        body = rng.integers(0, 256, len(data) - H.size, dtype=np.uint8).tobytes()
        try:
            f = c.features(data[:H.size] + body)
            assert f.map.shape == (12, 8, 10)
        except CodecError:
            pass
    assert time.perf_counter() - t0 < 20


def test_reading_meta_of_an_omni_icm_file_imports_no_torch(tiny, tmp_path, run_py):
    p = tmp_path / "a.aigif"
    aigif.save(None, p, image=picture(24, 24), fallback="omni-icm")
    r = run_py("import sys, aigif\nf = aigif.open(sys.argv[1])\n"
               "from aigif.codecs import get_codec\n"
               "from aigif.codecs.learned import omni_icm\n"
               "omni_icm.MODEL_IDS[251] = 'omni-icm-test-tiny'\n"
               "print(f.payload.codec, get_codec('omni-icm').probe(f.payload.data))\n"
               "assert 'torch' not in sys.modules and 'numpy' not in sys.modules\n", str(p))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "omni-icm (24, 24)" in r.stdout


def test_training_loss_runs_and_filter_ablation_differs():
    m, a = tiny_model(filter=True), tiny_model(filter=False)
    assert hasattr(m, "gate_s") and not hasattr(a, "gate_s")
    x = torch.rand(4, 3, 32, 32)
    for net in (m, a):
        net.train()
        y, lik = net(x, 1.0)
        assert y.shape == (4, 12, 4, 4) and (lik > 0).all() and (lik <= 1).all()
        loss = om.info_nce(net.embed(y), net.embed(y + 0.01)) - torch.log2(lik).mean()
        loss.backward()
        assert net.g_a[0].weight.grad is not None


_TRAIN = Path(__file__).resolve().parents[1] / "training" / "codecs" / "train_omni_icm.py"


@pytest.mark.skipif(not (_TRAIN.parents[2].parent / "shared" / "data" / "images"
                         / "wikipedia-photos").is_dir(), reason="no training photos")
def test_training_resumes_to_the_same_weights_and_the_seed_matters(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("train_omni_icm", _TRAIN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    tiny = ["--N", "8", "--M", "12", "--batch", "4", "--size", "32", "--max-images", "2",
            "--ckpt-every", "100"]
    threads = torch.get_num_threads()

    def train(run, steps, seed=0):
        mod.main(["--run", str(tmp_path / run), "--steps", str(steps), "--seed", str(seed),
                  *tiny])
        return torch.load(tmp_path / run / "ckpt.pt", weights_only=False)

    try:
        train("resumed", 2)
        a = train("resumed", 4)
        b = train("straight", 4)
        c = train("other", 4, seed=1)
    finally:
        torch.set_num_threads(threads)
    assert a["step"] == b["step"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert not torch.equal(a["model"]["g_a.0.weight"], c["model"]["g_a.0.weight"])
    # --accelerate (the GPU route) through a real accelerate.Accelerator on this CPU: the
    # same weights as the plain loop, up to float noise
    pytest.importorskip("accelerate")
    try:
        mod.main(["--run", str(tmp_path / "acc"), "--steps", "4", "--seed", "0",
                  "--accelerate", *tiny])
    finally:
        torch.set_num_threads(threads)
    d = torch.load(tmp_path / "acc" / "ckpt.pt", weights_only=False)
    assert d["step"] == 4 and d["model"].keys() == b["model"].keys()
    assert all(torch.allclose(d["model"][k].float(), b["model"][k].float(), atol=1e-5)
               for k in b["model"])


shipped = pytest.mark.skipif(not zoo.available("omni-icm-1"), reason="no shipped omni-icm-1")


@shipped
def test_shipped_weights_round_trip_and_fit_the_size_budget():
    assert zoo.path("omni-icm-1").stat().st_size < 2_500_000
    c = C.get_codec("omni-icm")
    im = picture(128, 96, seed=5)
    bpps = []
    for q in (0, 50, 100):
        data = c.encode(im, quality=q)
        f = c.features(data)
        assert f.map.shape == (96, 12, 16)
        bpps.append(8 * len(data) / (128 * 96))
    assert bpps == sorted(bpps)
