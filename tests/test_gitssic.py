"""The ``gitssic`` codec (code 13, issue 18): group-masked transforms, per-group
sub-streams, partial decodes equal to full decodes inside the decoded groups, lossless
group maps, determinism across processes, bad input.

Tiny models with seeded random weights are built here; the shipped weights are tested
when installed."""
from __future__ import annotations

import time

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")
Image = pytest.importorskip("PIL.Image")

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402
from aigif.codecs.learned import gitssic as G  # noqa: E402
from aigif.codecs.learned import gitssic_model as GM  # noqa: E402
from aigif.codecs.learned import zoo  # noqa: E402
from aigif.errors import CodecError, LimitExceededError  # noqa: E402

TEST_ID, TEST_KEY = 251, "gitssic-test-tiny"


def tiny_model(seed: int = 0) -> "GM.GitSsic":
    torch.manual_seed(seed)
    return GM.GitSsic(C=(8, 16, 16), depths=(2, 2, 2), heads=(1, 2, 2), window=4, M=16, H=8,
                      Mh=16).eval()


def picture(w=100, h=70, seed=0) -> "Image.Image":
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([255 * x / w, 255 * y / h, 128 + 60 * np.sin(x / 7.0)], -1)
    a = a + rng.normal(0, 8, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def blocks_for(w, h, seed=0, k=3):
    rng = np.random.default_rng(seed)
    hb, wb = -(-h // 16), -(-w // 16)
    b = rng.integers(0, k, (hb, wb))
    b.flat[:k] = np.arange(k)       # every group present
    return b


@pytest.fixture(scope="module")
def tensors():
    return GM.export_gitssic(tiny_model())


@pytest.fixture
def tiny(monkeypatch, tensors):
    zoo.register(TEST_KEY, tensors, arch="gitssic")
    monkeypatch.setitem(G.MODEL_IDS, TEST_ID, TEST_KEY)
    monkeypatch.setattr(G.GitssicCodec, "default_model", TEST_ID)
    yield tensors
    zoo.register(TEST_KEY, None)


# --- group independence of the transforms ---------------------------------------------------

def test_transforms_never_mix_groups():
    """A group's latents depend only on its pixels, its pixels only on its latents."""
    m = tiny_model(1)
    rng = np.random.default_rng(0)
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    g = torch.from_numpy(rng.integers(0, 3, (1, 6, 8)))
    gp = g[0].repeat_interleave(16, 0).repeat_interleave(16, 1)
    with torch.no_grad():
        y = m.analysis(x, g)
        x2 = x.clone()
        x2[:, :, gp != 1] = torch.rand_like(x2)[:, :, gp != 1]
        assert (m.analysis(x2, g) - y)[0][:, g[0] == 1].abs().max() == 0
        assert (m.analysis(x2, g) - y)[0][:, g[0] != 1].abs().max() > 0  # it can fail
        full = m.synthesis(y, g)
        y0 = y.clone()
        y0[:, :, g[0] != 1] = 0
        part = m.synthesis(y0, g)
    assert (full - part)[0][:, gp == 1].abs().max() == 0
    assert (full - part)[0][:, gp != 1].abs().max() > 0


def test_unmasked_attention_would_mix_groups():
    """The test above can fail: with one group everywhere the same edit leaks."""
    m = tiny_model(1)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    one = torch.zeros(1, 4, 4, dtype=torch.long)
    with torch.no_grad():
        y = m.analysis(x, one)
        x2 = x.clone()
        x2[:, :, :16, :16] = 0
        d = (m.analysis(x2, one) - y)[0]
    assert d[:, 2:, 2:].abs().max() > 0


# --- the group map ------------------------------------------------------------------------

@pytest.mark.parametrize("shape,k", [((1, 1), 1), ((1, 7), 2), ((5, 1), 3), ((9, 13), 4),
                                     ((20, 30), 255), ((6, 6), 1)])
def test_mask_round_trips_losslessly(shape, k):
    rng = np.random.default_rng(k)
    b = rng.integers(0, k, shape)
    b.flat[0] = k - 1
    n = int(b.max()) + 1
    f0, f1, data = G.encode_mask(b, n)
    assert (G.decode_mask(data, *shape, n, f0, f1) == b).all()


def test_smooth_masks_cost_little_and_auto_groups_are_regions():
    b = np.zeros((32, 48), np.int64)
    b[8:20, 10:30] = 1
    b[25:, :] = 2
    _, _, data = G.encode_mask(b, 3)
    assert len(data) <= 64             # 1536 blocks: raw ids would take 304 bytes
    rgb = np.zeros((128, 160, 3), np.uint8)
    rgb[:, 80:] = (200, 30, 30)
    rgb[64:, :80] = (20, 200, 40)
    a = G.auto_groups(rgb, 3)
    assert a.shape == (8, 10) and sorted(np.unique(a)) == [0, 1, 2]
    assert len({int(a[0, 0]), int(a[0, 9]), int(a[7, 0])}) == 3


def test_pixel_masks_snap_to_blocks_by_majority():
    m = np.zeros((40, 50), np.int64)
    m[:, 25:] = 2           # block column 1 (16..31): 9 pixels of 0, 7 of 2 -> 0
    b = G.snap_groups(m, 50, 40)
    assert b.shape == (3, 4) and (b[:, 0] == 0).all() and (b[:, 1] == 0).all()
    assert (b[:, 2:] == 2).all()
    assert (G.snap_groups(b, 50, 40) == b).all()
    for bad in (np.zeros((4, 4)), np.zeros((3, 4), np.int64) - 1, np.full((3, 4), 255),
                np.zeros((3, 4, 1), np.int64), "abc"):
        with pytest.raises(CodecError):
            G.snap_groups(bad, 50, 40)


# --- coding --------------------------------------------------------------------------------

def test_round_trip_and_partial_decode_equals_full_inside_groups(tiny):
    c = C.get_codec("gitssic")
    im = picture(100, 70)
    b = blocks_for(100, 70)
    data = c.encode(im, groups=b)
    assert (c.block_map(data) == b).all()
    full = np.asarray(c.decode(data))
    assert full.shape == (70, 100, 3)
    pix = c.group_map(data)
    for want in ([0], [1, 2], [2]):
        part = np.asarray(c.decode(data, groups=want))
        inside = np.isin(pix, want)
        assert np.abs(part[inside].astype(int) - full[inside]).max() == 0
        assert (part[~inside] == 128).all()
    red = np.asarray(c.decode(data, groups=[1], fill=(255, 0, 0)))
    assert (red[pix != 1] == (255, 0, 0)).all()
    for bad in ((300, 0, 0), (1, 2), "ab"):
        with pytest.raises(CodecError, match="fill"):
            c.decode(data, groups=[1], fill=bad)


@pytest.fixture
def one_thread():
    """The cropped synthesis is taken with one torch thread only (GitSsicCoder.synthesis_box)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _grids_seen(coder, monkeypatch):
    """Record the latent grid (hb, wb) of every synthesis run."""
    seen, synth = [], coder.net.synthesis

    def spy(y, g):
        seen.append(tuple(y.shape[-2:]))
        return synth(y, g)
    monkeypatch.setattr(coder.net, "synthesis", spy)
    return seen


def _random_map(rng, hb, wb):
    k, kind = int(rng.integers(2, 6)), int(rng.integers(0, 3))
    if kind == 0:                                   # salt and pepper
        return rng.integers(0, k, (hb, wb))
    if kind == 1:                                   # rectangles on a background
        b = np.zeros((hb, wb), np.int64)
        for g in range(1, k):
            r, c = rng.integers(0, hb), rng.integers(0, wb)
            b[r:r + rng.integers(1, 5), c:c + rng.integers(1, 5)] = g
        return b
    return (np.arange(wb)[None] * k // wb).repeat(hb, 0)     # vertical bands


@pytest.mark.parametrize("weights", ["tiny", pytest.param("shipped", marks=pytest.mark.skipif(
    not zoo.available("gitssic-1"), reason="no shipped gitssic-1"))])
def test_cropped_synthesis_equals_the_whole_grid_inside_the_groups(weights, tensors,
                                                                   one_thread, monkeypatch):
    """Random latents, maps, sizes and group subsets: a one- or two-group synthesis runs on
    a crop of the grid (aligned to the windows) and its pixels inside the groups equal the
    whole grid's bit for bit."""
    coder = GM.GitSsicCoder(tensors) if weights == "tiny" else zoo.load("gitssic-1")[0]
    seen = _grids_seen(coder, monkeypatch)
    rng = np.random.default_rng(7 if weights == "tiny" else 8)
    cases = cropped = 0
    for _ in range(30 if weights == "tiny" else 10):
        hb, wb = (int(v) for v in rng.integers(2, 13, 2))
        h, w = hb * 16 - int(rng.integers(0, 16)), wb * 16 - int(rng.integers(0, 16))
        b = _random_map(rng, hb, wb)
        y = (rng.normal(0, 3, (coder.M, hb, wb)) * (1 << coder.frac)).astype(np.int64)
        full = coder.synthesize(y, b, h, w)
        ids = np.unique(b)
        for want in [{int(g)} for g in ids] + [set(rng.choice(ids, 2, False).tolist())]:
            keep = np.isin(b, sorted(want))
            yz = np.where(keep[None], y, 0)
            seen.clear()
            part = coder.synthesize(yz, b, h, w, want)
            box = coder.synthesis_box(b, want)
            if box is not None:
                r0, r1, c0, c1 = box
                assert seen == [(r1 - r0, c1 - c0)] and (r1 - r0) * (c1 - c0) < hb * wb
                assert r0 % 4 == 0 and c0 % 4 == 0 and keep[r0:r1, c0:c1].sum() == keep.sum()
                cropped += 1
            else:
                assert seen == [(hb, wb)]
            inside = keep.repeat(16, 0).repeat(16, 1)[:h, :w]
            assert np.abs(part[inside].astype(int) - full[inside]).max() == 0
            cases += 1
    assert cropped >= cases // 4, (cropped, cases)


def test_an_unaligned_crop_would_change_pixels(tensors, one_thread):
    """Why the crop's corner is a multiple of the window: one block off, the windows
    regroup the tokens and the pixels change (this is what the alignment prevents)."""
    coder = GM.GitSsicCoder(tensors)
    rng = np.random.default_rng(3)
    b = np.zeros((8, 8), np.int64)
    b[:, :2] = 1                                    # group 0: columns 2..7
    y = (rng.normal(0, 3, (coder.M, 8, 8)) * (1 << coder.frac)).astype(np.int64)
    y[:, b == 1] = 0
    full = coder.synthesize(y, b, 128, 128)
    assert coder.synthesis_box(b, {0}) is None       # aligned corner = 0: no gain, no crop
    crop = coder.synthesize(y[:, :, 2:], b[:, 2:], 128, 96)
    assert np.abs(crop.astype(int) - full[:, 32:]).max() > 0
    b[:, :4] = 1                                    # group 0: columns 4..7, aligned
    y[:, b == 1] = 0
    full = coder.synthesize(y, b, 128, 128)
    assert coder.synthesis_box(b, {0}) == (0, 8, 4, 8)
    assert (coder.synthesize(y, b, 128, 128, {0})[:, 64:] == full[:, 64:]).all()


def test_synthesis_falls_back_to_the_whole_grid_where_a_crop_may_differ(tensors):
    """More than one torch thread (elementwise kernels chunk by tensor size; a chunk's
    tail takes the scalar GELU, an ulp off the vector one), float16/bfloat16: no crop."""
    b = np.zeros((8, 8), np.int64)
    b[:, :4] = 1
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert GM.GitSsicCoder(tensors).synthesis_box(b, {0}) == (0, 8, 4, 8)
        assert GM.GitSsicCoder(tensors, torch.bfloat16).synthesis_box(b, {0}) is None
        assert GM.GitSsicCoder(tensors).synthesis_box(b, {0, 1}) is None   # whole grid
        torch.set_num_threads(2)
        assert GM.GitSsicCoder(tensors).synthesis_box(b, {0}) is None
    finally:
        torch.set_num_threads(n)


def test_partial_decode_runs_the_synthesis_on_a_crop(tiny, one_thread, monkeypatch):
    c = C.get_codec("gitssic")
    b = np.zeros((6, 10), np.int64)
    b[1:4, 5:7] = 1
    b[4:, :3] = 2
    data = c.encode(picture(150, 90), groups=b)
    full = np.asarray(c.decode(data))
    coder, _ = c._coder(TEST_ID)
    seen = _grids_seen(coder, monkeypatch)
    pix = c.group_map(data)
    for want, grid in (([1], (4, 3)), ([2], (2, 3)), ([1, 2], (6, 7)), ([0], (6, 10))):
        seen.clear()
        part = np.asarray(c.decode(data, groups=want))
        assert seen == [grid]
        inside = np.isin(pix, want)
        assert np.abs(part[inside].astype(int) - full[inside]).max() == 0
        assert (part[~inside] == 128).all()


def test_group_ids_with_gaps_keep_their_numbers(tiny):
    c = C.get_codec("gitssic")
    b = np.zeros((3, 4), np.int64)
    b[:, 2:] = 5                                  # ids 0 and 5: groups 1..4 are empty
    data = c.encode(picture(64, 48), groups=b)
    p = c._parse(data)
    assert p["G"] == 6 and [e - a for a, e in p["subs"]][1:5] == [0, 0, 0, 0]
    assert (c.block_map(data) == b).all()
    full = np.asarray(c.decode(data))
    five = np.asarray(c.decode(data, groups=[5]))
    assert (five[:, 32:] == full[:, 32:]).all() and (five[:, :32] == 128).all()
    assert (np.asarray(c.decode(data, groups=[2])) == 128).all()


def test_partial_decode_reads_only_the_wanted_sub_streams(tiny):
    c = C.get_codec("gitssic")
    data = bytearray(c.encode(picture(96, 64), groups=blocks_for(96, 64, k=2)))
    p = c._parse(bytes(data))
    a, b = p["subs"][0]
    data[a:b] = bytes(b - a)              # wreck group 0's sub-stream
    ok = np.asarray(c.decode(bytes(data), groups=[1]))
    ref = np.asarray(c.decode(c.encode(picture(96, 64), groups=blocks_for(96, 64, k=2)),
                              groups=[1]))
    assert (ok == ref).all()


def test_quality_changes_the_rate_and_decoder_latents_equal_the_encoders(tiny):
    c = C.get_codec("gitssic")
    im = picture(80, 64)
    sizes = [len(c.encode(im, quality=q, groups=2)) for q in (30, 75, 100)]
    assert sizes[0] < sizes[1] < sizes[2]
    coder, _ = zoo.load(TEST_KEY)
    data = c.encode(im, quality=60, groups=2)
    _, blocks, y_fixed, p = c.decode_latents(data)
    z_sym, y = coder.analyse_float(np.asarray(im), blocks)
    means, _ = coder.hyper(z_sym, p["hb"], p["wb"], p["step"])
    y_sym = coder.quantize(y, means, p["step"])
    assert (coder.dequantize(y_sym, means, p["step"]) == y_fixed).all()


_DECODE = r'''
import sys
import numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from aigif.codecs.learned import gitssic as G, zoo
from safetensors.torch import load_file
if sys.argv[1] != "-":
    zoo.register("gitssic-test-tiny", load_file(sys.argv[1]), arch="gitssic")
    G.MODEL_IDS[251] = "gitssic-test-tiny"
data = open(sys.argv[2], "rb").read()
c = G.GitssicCodec()
_, b, y, _ = c.decode_latents(data)
np.savez(sys.argv[4], y=y, b=b, rgb=np.asarray(c.decode(data)),
         part=np.asarray(c.decode(data, groups=[1])))
'''


def _check_other_process(run_py, tmp_path, weights: str, data: bytes, c):
    payload = tmp_path / "p.gssc"
    payload.write_bytes(data)
    _, b0, y0, _ = c.decode_latents(data)
    f = tmp_path / "d.npz"
    r = run_py(_DECODE, weights, str(payload), "2", str(f))
    assert r.returncode == 0, r.stderr[-2000:]
    d = np.load(f)
    assert (d["y"] == y0).all() and (d["b"] == b0).all()
    pix = c.group_map(data) == 1
    assert np.abs(d["part"][pix].astype(int) - d["rgb"][pix]).max() == 0


def test_symbols_identical_in_another_process_with_two_threads(tiny, tmp_path, run_py):
    from safetensors.torch import save_file
    weights = tmp_path / "tiny.safetensors"
    save_file(tiny, weights)
    c = C.get_codec("gitssic")
    _check_other_process(run_py, tmp_path, str(weights),
                         c.encode(picture(130, 90, seed=3), groups=blocks_for(130, 90)), c)


def test_bad_payloads_raise_codec_error_fast(tiny):
    c = C.get_codec("gitssic")
    data = c.encode(picture(80, 60), groups=blocks_for(80, 60))
    H = G.HEADER
    h = list(H.unpack_from(data))
    t0 = time.perf_counter()
    for n in (0, 5, H.size - 1, H.size, H.size + 4, len(data) - 4, len(data) - 1):
        with pytest.raises(CodecError):
            c.decode(data[:n])
    for i, v in ((1, 2), (2, 7), (3, b"\0" * 8), (6, 0), (7, 17), (8, 9), (9, h[9] + 1),
                 (10, h[10] - 1), (11, 0), (11, 2), (11, 200), (12, 0), (13, 65535),
                 (14, h[14] + 4), (15, h[15] - 4)):
        g = list(h)
        g[i] = v
        with pytest.raises(CodecError, match="gitssic"):
            c.decode(H.pack(*g) + data[H.size:])
    g = list(h)
    g[4:6] = [65535, 65535]
    with pytest.raises(LimitExceededError):
        c.decode(H.pack(*g) + data[H.size:])
    with pytest.raises(CodecError, match="no group 3"):
        c.decode(data, groups=[3])
    with pytest.raises(CodecError, match="groups"):
        c.decode(data, groups="x1")
    rng = np.random.default_rng(0)
    head = H.size + 4 * h[11]
    for _ in range(6):
        body = rng.integers(0, 256, len(data) - head, dtype=np.uint8).tobytes()
        try:
            c.decode(data[:head] + body)
        except CodecError:
            pass
    assert time.perf_counter() - t0 < 20


def test_save_open_pixels_groups_and_cli(tiny, tmp_path, capsys):
    im = picture(64, 48)
    mask = np.zeros((48, 64), np.int64)
    mask[:, 32:] = 1
    p = tmp_path / "a.aigif"
    aigif.save(None, p, image=im, fallback="gitssic", groups=mask, quality=60)
    f = aigif.open(p)
    assert f.payload.codec == "gitssic" and C.codec_code("gitssic") == 13
    full = np.asarray(f.pixels())
    right = np.asarray(f.pixels(groups=[1]))
    assert (right[:, 32:] == full[:, 32:]).all() and (right[:, :32] == 128).all()
    with pytest.raises(CodecError):
        aigif.save(None, tmp_path / "b.aigif", image=im, fallback="png", groups=mask)
    aigif.save(None, tmp_path / "c.aigif", image=im, fallback="png")
    with pytest.raises(CodecError, match="no groups"):
        aigif.open(tmp_path / "c.aigif").pixels(groups=[0])
    from aigif.cli.main import main

    def cli(*args):
        try:
            main(["decode", str(p), *args])
        except SystemExit as e:
            return e.code
        return 0
    out = tmp_path / "r.png"
    assert cli("-o", str(out), "--groups", "1") in (0, None)
    assert (np.asarray(Image.open(out)) == right).all()
    capsys.readouterr()
    assert cli("-o", str(tmp_path / "s.png"), "--groups", "1,x") == 2
    assert "--groups takes group ids" in capsys.readouterr().err
    assert cli("-o", str(tmp_path / "s.png"), "--groups", "7") == 2
    err = capsys.readouterr().err
    assert "no group 7" in err and "Traceback" not in err


# --- the shipped weights ---------------------------------------------------------------------

shipped = pytest.mark.skipif(not zoo.available("gitssic-1"), reason="no shipped gitssic-1")


@shipped
def test_shipped_weights_partial_equals_full_and_same_symbols_elsewhere(tmp_path, run_py):
    c = C.get_codec("gitssic")
    im = picture(160, 112, seed=5)
    data = c.encode(im)                      # automatic groups
    full = np.asarray(c.decode(data))
    pix = c.group_map(data)
    n = int(pix.max()) + 1
    assert n >= 2
    threads = torch.get_num_threads()
    try:
        for t in (1, threads):       # cropped synthesis (one thread) and whole grid
            torch.set_num_threads(t)
            for g in range(n):
                part = np.asarray(c.decode(data, groups=[g]))
                assert np.abs(part[pix == g].astype(int) - full[pix == g]).max() == 0
        coder, _ = c._coder(1)
        torch.set_num_threads(1)
        assert any(coder.synthesis_box(c.block_map(data), {g}) for g in range(n))
    finally:
        torch.set_num_threads(threads)
    mse = np.mean((full.astype(float) - np.asarray(im, float)) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 24
    _check_other_process(run_py, tmp_path, "-", data, c)
