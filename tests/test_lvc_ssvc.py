"""The ``ssvc`` learned video codec (code 17, issue 20): 64 x 64 tile groups, gitssic I
frames, motion-constrained integer prediction, tile-local residuals, one sub-stream per
group; a partial decode equals the full decode inside its groups and reads only its groups'
sub-streams.

Tiny random-init gitssic and residual models are registered in memory (zoo.register)."""
from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")
pytest.importorskip("cv2")

from aigif.codecs.learned import gitssic as G  # noqa: E402
from aigif.codecs.learned import gitssic_model as GM  # noqa: E402
from aigif.codecs.learned import zoo  # noqa: E402
from aigif.codecs.learned.lvc import bitstream as B  # noqa: E402
from aigif.codecs.learned.lvc import ssvc as S  # noqa: E402
from aigif.codecs.learned.lvc.residual_model import random_tensors  # noqa: E402
from aigif.errors import CodecError  # noqa: E402

GITSSIC_ID, GITSSIC_KEY = 251, "gitssic-test-tiny-ssvc"


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    m = GM.GitSsic(C=(8, 16, 16), depths=(2, 2, 2), heads=(1, 2, 2), window=4, M=16, H=8,
                   Mh=16).eval()
    from aigif.codecs.learned import rdc
    torch.manual_seed(0)
    sth = rdc.export_rdc(rdc.RdcHyperprior(N=12, M=16, H=8, C=8).eval())
    return GM.export_gitssic(m), random_tensors(N=16, M=16, H=8, C=(8, 8, 8)), sth


@pytest.fixture(scope="module")
def tiny(models):
    mp = pytest.MonkeyPatch()
    zoo.register(GITSSIC_KEY, models[0], arch="gitssic")
    zoo.register("lvc-res-1", models[1], "lvcres")
    zoo.register("sth-test-tiny-ssvc", models[2], "rdc")
    mp.setitem(B.INTRA_MODELS, 1, "sth-test-tiny-ssvc")
    mp.setitem(G.MODEL_IDS, GITSSIC_ID, GITSSIC_KEY)
    mp.setattr(G.GitssicCodec, "default_model", GITSSIC_ID)
    yield
    mp.undo()
    zoo.register(GITSSIC_KEY, None)
    zoo.register("lvc-res-1", None)
    zoo.register("sth-test-tiny-ssvc", None)


def clip(t=4, h=100, w=130, seed=0):
    """A gradient background, a red square moving right and down, a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    bg = np.stack([255 * x / w, 255 * y / h, 128 + 60 * np.sin(x / 7.0)], -1)
    out = []
    for i in range(t):
        f = bg.copy()
        f[20 + 3 * i:50 + 3 * i, 30 + 5 * i:60 + 5 * i] = (250, 30, 30)
        out.append(np.clip(f + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8))
    return np.stack(out)


TILES = np.array([[0, 1, 1], [0, 2, 2]])       # 130 x 100 -> 3 x 2 tiles


@pytest.fixture(scope="module")
def coded(tiny):
    frames = clip()
    return frames, S.SsvcCodec().encode(frames, 8, crf=28, groups=TILES, gop=3)


def test_round_trip_probe_and_determinism(tiny, coded):
    frames, data = coded
    c = S.SsvcCodec()
    assert c.probe(data) == (130, 100, 4, 8)
    out, fps = c.decode(data)
    assert out.shape == frames.shape and out.dtype == np.uint8 and fps == 8
    assert (c.tile_map(data) == TILES).all()
    assert c.encode(frames, 8, crf=28, groups=TILES, gop=3) == data
    kinds = [f.kind for f in S.parse(data)[1]]
    assert kinds == [0, 1, 1, 0]                    # gop=3: frames 0 and 3 are I frames


@pytest.mark.parametrize("want", [[0], [1], [2], [0, 2], [2, 1, 0]])
def test_partial_decode_is_exact_inside_its_groups(tiny, coded, want):
    _, data = coded
    c = S.SsvcCodec()
    full, _ = c.decode(data)
    part, _ = c.decode(data, groups=want, fill=(1, 2, 3))
    keep = np.isin(c.group_map(data), want)
    assert np.abs(part.astype(int) - full)[:, keep].max() == 0
    assert (part[:, ~keep] == (1, 2, 3)).all()


def test_partial_decode_reads_only_its_ranges(tiny, coded):
    """Bytes outside read_ranges(groups) scrambled: the partial decode does not change,
    and it reads less than the whole payload."""
    _, data = coded
    c = S.SsvcCodec()
    want = [1]
    ranges = c.read_ranges(data, want)
    used = np.zeros(len(data), bool)
    for a, b in ranges:
        used[a:b] = True
    assert 0.2 < used.mean() < 0.8
    rng = np.random.default_rng(1)
    scrambled = np.frombuffer(data, np.uint8).copy()
    scrambled[~used] = rng.integers(0, 256, int((~used).sum()))
    before, _ = c.decode(data, groups=want)
    after, _ = c.decode(scrambled.tobytes(), groups=want)
    assert (before == after).all()
    assert c.read_ranges(data) == [(0, len(data))] or \
        sum(b - a for a, b in c.read_ranges(data)) == len(data)


def test_prediction_reads_only_its_group(tiny):
    """predict(): whatever the flows, a group's prediction does not change when every
    pixel of the other groups changes."""
    rng = np.random.default_rng(0)
    tiles = np.array([[0, 1, 1], [2, 1, 0]])
    ref = rng.integers(0, 256, (128, 192, 3)).astype(np.uint8)
    for scale in (3, 40, 255):
        v = rng.integers(-scale, scale + 1, (2, 8, 12))
        a = S.predict(ref, v, tiles)
        for g in range(3):
            mine = (tiles == g).repeat(64, 0).repeat(64, 1)
            other = ref.copy()
            other[~mine] = rng.integers(0, 256, (int((~mine).sum()), 3))
            b = S.predict(other, v, tiles)
            assert (a[mine] == b[mine]).all()


def test_dense_flow_is_exact_bilinear_upsampling_per_tile():
    """Inside one tile the integer flow equals torch's bilinear upsampling (align_corners
    False) of the tile's 4 x 4 vectors, exactly (x 1024)."""
    rng = np.random.default_rng(2)
    v = rng.integers(-255, 256, (2, 4, 8))
    d = S.dense_flow(v)
    for c0 in (0, 4):
        t = torch.from_numpy(v[:, :, c0:c0 + 4].astype(np.float64))[None]
        up = torch.nn.functional.interpolate(t, scale_factor=16, mode="bilinear",
                                             align_corners=False)[0].numpy()
        assert (up * 1024 == d[:, :, c0 * 16:c0 * 16 + 64]).all()


def test_zero_flow_predicts_the_reference():
    ref = np.random.default_rng(3).integers(0, 256, (64, 128, 3)).astype(np.uint8)
    p = S.predict(ref, np.zeros((2, 4, 8), np.int64), np.array([[0, 1]]))
    assert (S._rounded(p) == ref).all()


def test_group_options(tiny):
    frames = clip(2)
    # pixel-resolution mask: each tile takes its most frequent object (id > 0) if it has
    # any: an object's tiles hold all of it
    mask = np.zeros((100, 130), np.int64)
    mask[:, 64:] = 1
    assert (S.tile_groups(mask, frames[0], 130, 100) == [[0, 1, 1], [0, 1, 1]]).all()
    mask[:] = 0
    mask[60:70, 60:70] = 2                           # a small object over 4 tiles
    mask[66:100, 0:50] = 1
    assert (S.tile_groups(mask, frames[0], 130, 100) == [[2, 2, 0], [1, 2, 0]]).all()
    blocks = np.zeros((7, 9), np.int64)
    blocks[4:] = 3
    assert (S.tile_groups(blocks, frames[0], 130, 100) == [[0, 0, 0], [3, 3, 3]]).all()
    auto = S.tile_groups(2, frames[0], 130, 100)
    assert auto.shape == (2, 3) and set(np.unique(auto)) <= {0, 1} and auto[0, 0] == 0
    for bad in (np.zeros((2, 3, 1), int), np.full((2, 3), 255), np.zeros((5, 5), int),
                np.zeros((2, 3), float), "objects", 0, 256):
        with pytest.raises(CodecError):
            S.tile_groups(bad, frames[0], 130, 100)


def test_bad_group_lists_and_fill(tiny, coded):
    _, data = coded
    c = S.SsvcCodec()
    for bad in ([3], [-1], [], "1", [1.5], [True], [None], 5):
        with pytest.raises(CodecError):
            c.decode(data, groups=bad)
        if bad not in ([],):
            with pytest.raises(CodecError):
                c.read_ranges(data, bad)
    for fill in ((0, 0), (0, 0, 256), "gray", None):
        with pytest.raises(CodecError):
            c.decode(data, groups=[0], fill=fill)


def test_bad_encode_options(tiny):
    c = S.SsvcCodec()
    frames = clip(2, 64, 64)
    for kw in (dict(crf=52), dict(crf=1.5), dict(gop=-1), dict(motion="slow"),
               dict(lossless=True), dict(foo=1)):
        with pytest.raises(CodecError):
            c.encode(frames, 8, **kw)


def test_one_group_and_tiny_frames(tiny):
    """One group (the whole frame), a frame smaller than a tile."""
    frames = clip(3, 40, 50)
    c = S.SsvcCodec()
    data = c.encode(frames, 8, groups=1)
    full, _ = c.decode(data)
    part, _ = c.decode(data, groups=[0])
    assert full.shape == (3, 40, 50, 3) and (full == part).all()


# --- the file level: aigif.save(video=, fallback="ssvc", groups=), f.frames(groups=), CLI --

def test_save_and_frames_of_groups(tiny, tmp_path):
    import aigif
    frames = clip(3)
    p = tmp_path / "clip.aigif"
    aigif.save(None, p, video=frames, fps=8, fallback="ssvc", groups=TILES)
    f = aigif.open(p)
    full = f.frames()
    part = f.frames(groups=[2], fill=(0, 0, 0))
    keep = (TILES == 2).repeat(64, 0).repeat(64, 1)[:100, :130]
    assert part.frames.shape == full.frames.shape and part.fps == 8
    assert (part.frames[:, keep] == full.frames[:, keep]).all()
    assert (part.frames[:, ~keep] == 0).all()
    with pytest.raises(CodecError):
        f.frames(groups=[7])
    with pytest.raises(CodecError):
        f.frames(fill=(0, 0, 0))
    q = tmp_path / "h.aigif"
    aigif.save(None, q, video=frames, fps=8, fallback="ffv1")
    with pytest.raises(CodecError, match="no groups"):
        aigif.open(q).frames(groups=[0])
    with pytest.raises(CodecError, match="group-structured"):
        aigif.save(None, tmp_path / "x.aigif", video=frames, fps=8, fallback="ffv1",
                   groups=TILES)


def test_cli_decode_objects_of_a_video(tiny, tmp_path):
    import typer
    from typer.testing import CliRunner

    import aigif
    from aigif.cli import pixels as pixels_cli
    from aigif.codecs.video.readers import read_video_file
    pytest.importorskip("av")
    frames = clip(3)
    p = tmp_path / "clip.aigif"
    aigif.save(None, p, video=frames, fps=8, fallback="ssvc", groups=TILES)
    app = typer.Typer()
    pixels_cli.register(app)
    r = CliRunner().invoke(app, ["decode", str(p), "-o", str(tmp_path / "o.mkv"),
                                 "--objects", "0,2"])
    assert r.exit_code == 0, r.output
    got, fps = read_video_file(tmp_path / "o.mkv")             # ffv1: exact
    want = aigif.open(p).frames(groups=[0, 2]).frames
    assert (got == want).all() and fps == 8
    r = CliRunner().invoke(app, ["decode", str(p), "-o", str(tmp_path / "g.mkv"),
                                 "--groups", "9"])
    assert r.exit_code != 0 and "no group 9" in r.output
    r = CliRunner().invoke(app, ["decode", str(p), "-o", str(tmp_path / "b.mkv"),
                                 "--groups", "1", "--objects", "1"])
    assert r.exit_code != 0 and "not both" in r.output


def test_shipped_weights_partial_decode_exact():
    """gitssic-1 and lvc-res-1 as shipped (skipped where a weights file is missing), in a
    fresh process (this module registers tiny models under the shipped keys)."""
    import subprocess
    import sys
    if not (zoo.path("gitssic-1").is_file() and zoo.path("lvc-res-1").is_file()):
        pytest.skip("shipped gitssic-1 / lvc-res-1 weights not installed")
    code = """
import sys, numpy as np
sys.path.insert(0, "tests")
from test_lvc_ssvc import clip
from aigif.codecs.learned.lvc import ssvc as S
frames = clip(3, 64, 128)
c = S.SsvcCodec()
for intra in ("gitssic", "sth"):
    data = c.encode(frames, 8, groups=np.array([[0, 1]]), intra=intra)
    full, _ = c.decode(data)
    part, _ = c.decode(data, groups=[1])
    assert (part[:, :, 64:] == full[:, :, 64:]).all()
    mse = np.mean((full.astype(float) - frames) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 20, (intra, mse)
"""
    root = S.__file__.rsplit("/aigif/", 1)[0]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=300)


def test_encoder_reconstruction_and_integer_trace(tiny, coded):
    frames, data = coded
    c = S.SsvcCodec()
    payload, recon = c.encode_recon(frames, 8, crf=28, groups=TILES, gop=3)
    full, _ = c.decode(data)
    assert payload == data and (recon == full).all()
    ints, out = c.decode_integers(data)
    assert (out == full).all()
    # 2 I frames (latents) + 2 P frames (flows, flags, coded tiles' latents)
    assert len(ints) >= 6 and all(np.asarray(a).dtype == np.int64 for a in ints)


def test_prediction_of_a_tile_subset_equals_the_whole_frames():
    rng = np.random.default_rng(4)
    tiles = np.array([[0, 1, 1], [2, 1, 0]])
    ref = rng.integers(0, 256, (128, 192, 3)).astype(np.uint8)
    v = rng.integers(-60, 61, (2, 8, 12))
    full = S.predict(ref, v, tiles)
    sel = tiles == 1
    part = S.predict(ref, v, tiles, sel)
    m = sel.repeat(64, 0).repeat(64, 1)
    assert (part[m] == full[m]).all() and (part[~m] == 0).all()


def test_ssvc_is_registered_and_imports_no_torch():
    import subprocess
    import sys
    code = ("import sys\nfrom aigif.codecs import get_codec\nc = get_codec('ssvc')\n"
            "assert (c.key, c.code, c.kind, c.partial) == ('ssvc', 17, 'video', True)\n"
            "c.available()\nassert 'torch' not in sys.modules and 'numpy' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("vx,vy", [(5, -3), (-37, 22), (255, -255)])
def test_uniform_flow_prediction_equals_grid_sample(vx, vy):
    """One group, one vector everywhere: the integer prediction is lvc's grid_sample warp
    (bilinear, border) of the reference, to float precision."""
    from aigif.codecs.learned.lvc import motion
    ref = np.random.default_rng(5).integers(0, 256, (128, 192, 3)).astype(np.uint8)
    v = np.zeros((2, 8, 12), np.int64)
    v[0], v[1] = vx, vy
    p = S.predict(ref, v, np.zeros((2, 3), int)) / 2 ** 24
    flow = torch.tensor([vx / 4, vy / 4], dtype=torch.float64).view(1, 2, 1, 1)
    t = torch.from_numpy(ref).permute(2, 0, 1)[None].double()
    q = motion.warp(t, flow.expand(1, 2, 128, 192))[0].permute(1, 2, 0).numpy()
    assert np.abs(p - q).max() < 1e-9


def test_partial_decode_is_exact_with_two_threads(tiny, coded):
    """With 2 torch threads gitssic's partial synthesis runs on the whole grid and the
    residual coder's kernels split work: still the full decode's pixels."""
    _, data = coded
    c = S.SsvcCodec()
    n = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        full, _ = c.decode(data)
        part, _ = c.decode(data, groups=[2])
    finally:
        torch.set_num_threads(n)
    keep = c.group_map(data) == 2
    assert (part[:, keep] == full[:, keep]).all()


def test_zero_flow_sends_no_flow_stream(tiny, monkeypatch):
    """A group whose flow residuals are all 0 sends mv_len = 0 and no rANS stream."""
    from aigif.codecs.learned.lvc import motion
    monkeypatch.setattr(motion, "estimate",
                        lambda cur, ref, preset: np.zeros(cur.shape[:2] + (2,), np.float32))
    frames = clip(3, 64, 128)
    c = S.SsvcCodec()
    data = c.encode(frames, 8, groups=np.array([[0, 1]]), refine=0, rd=0)
    for f in S.parse(data)[1][1:]:
        for s in f.streams:                         # one tile a group: 1 flag byte
            assert s[:2] == b"\0\0" and s[3] == 0
    full, _ = c.decode(data)
    part, _ = c.decode(data, groups=[0])
    assert (part[:, :, :64] == full[:, :, :64]).all()
    forged = bytearray(data)
    i = len(data) - len(S.parse(data)[1][-1].streams[1])      # last frame, group 1: kx
    forged[i] = 3
    with pytest.raises(CodecError, match="no flow stream"):
        c.decode(bytes(forged))


def test_sth_tile_i_frames(tiny):
    """intra="sth": I frames by sth-rdc-1, each tile alone, one sub-stream per group;
    partial decodes exact and reading only their groups' bytes."""
    frames = clip()
    c = S.SsvcCodec()
    data, recon = c.encode_recon(frames, 8, crf=28, groups=TILES, intra="sth",
                                 intra_level=2, gop=2)
    head, recs = S.parse(data)
    assert (head.intra_model, head.intra_level) == (1, 2)
    assert [len(f.streams) for f in recs] == [3, 3, 3, 3] and recs[2].kind == 0
    full, _ = c.decode(data)
    assert (full == recon).all()
    used = np.zeros(len(data), bool)
    for a, b in c.read_ranges(data, [2]):
        used[a:b] = True
    scrambled = np.frombuffer(data, np.uint8).copy()
    scrambled[~used] = 7
    part, _ = c.decode(scrambled.tobytes(), groups=[2])
    keep = c.group_map(data) == 2
    assert (part[:, keep] == full[:, keep]).all() and used.mean() < 0.7
    ints, _ = c.decode_integers(data)
    assert len(ints) >= 2 * 6
    for kw in (dict(intra="jpeg"), dict(intra="sth", intra_level=4)):
        with pytest.raises(CodecError):
            c.encode(frames[:2], 8, **kw)
    with pytest.raises(CodecError, match="intra level"):
        gd = c.encode(frames[:2], 8, groups=TILES)
        h2, r2 = S.parse(gd)
        c.decode(B.pack_header(h2._replace(intra_level=1)) +
                 b"".join(B.pack_frame(f.kind, list(f.streams)) for f in r2))


def test_refine_option(tiny):
    frames = clip(3, 64, 128)
    c = S.SsvcCodec()
    a = c.encode(frames, 8, groups=1, refine=0)
    b = c.encode(frames, 8, groups=1, refine=5)
    assert a != b and c.decode(b)[0].shape == frames.shape
    for bad in (-1, 1.5, True):
        with pytest.raises(CodecError):
            c.encode(frames, 8, refine=bad)


def test_rd_residual_map_is_the_group_substreams():
    """motion.rd_fields counts ssvc's flow bits with ``_group_residuals``: for every group
    the same residuals as the group sub-streams code (``_flow_residuals``)."""
    rng = np.random.default_rng(4)
    for _ in range(10):
        tiles = rng.integers(0, 3, (int(rng.integers(1, 4)), int(rng.integers(1, 5))))
        res = S._group_residuals(tiles.repeat(S.TB, 0).repeat(S.TB, 1))
        v = rng.integers(-40, 40, (2, tiles.shape[0] * S.TB, tiles.shape[1] * S.TB))
        for g in np.unique(tiles):
            r, c, _, bsel = S._group_blocks(tiles, int(g))
            assert (S._flow_residuals(v, r, c, bsel)
                    == np.stack([res(v[k])[r, c] for k in range(2)])).all()


def test_rd_motion_option(tiny):
    """``rd`` (default 2 passes, 0 = off): both decode to the encoder's reconstruction,
    partial decodes stay exact, the flow bits do not grow at a low rate; bad values are
    CodecErrors."""
    frames = clip(4, 64, 128)
    c = S.SsvcCodec()
    groups = np.array([[0, 1]])
    size = {}
    for rd in (0, 2):
        data, rec = c.encode_recon(frames, 8, crf=51, groups=groups, rd=rd)
        full, _ = c.decode(data)
        assert (full == rec).all()
        part, _ = c.decode(data, groups=[1])
        assert (part[:, :, 64:] == full[:, :, 64:]).all()
        size[rd] = len(data)
    assert size[2] <= size[0]
    for bad in (-1, 17, True, 1.5):
        with pytest.raises(CodecError, match="rd"):
            c.encode(frames, 8, rd=bad)


def _sprite_clip(t=5, h=128, w=192, move=True):
    """A textured static background and a 24 x 24 textured square moving 6 px right a
    frame along row 40 (or standing still)."""
    rng = np.random.default_rng(9)
    y, x = np.mgrid[0:h, 0:w]
    bg = np.stack([128 + 60 * np.sin(x / 7.0) * np.cos(y / 11.0), 100 + 0.5 * x,
                   120 + 40 * np.cos((x + y) / 9.0)], -1)
    bg = np.clip(bg + rng.normal(0, 3, bg.shape), 0, 255).astype(np.uint8)
    spr = rng.integers(0, 255, (24, 24, 3)).astype(np.uint8)
    out = []
    for i in range(t):
        f = bg.copy()
        x0 = 20 + (6 * i if move else 0)
        f[40:64, x0:x0 + 24] = spr
        out.append(f)
    return np.stack(out)


def test_moving_objects_finds_the_tube():
    """The moving square's path (rows 40..63, columns 20..~67) is object 1; a clip where
    nothing moves has no objects; the tile map gives the path's tiles group 1."""
    frames = _sprite_clip()
    mask = S.moving_objects(frames)
    assert mask is not None and mask.shape == (128, 192) and mask.max() == 1
    ys, xs = np.nonzero(mask == 1)
    assert 36 <= ys.min() and ys.max() <= 68 and 14 <= xs.min() and xs.max() <= 74
    assert (mask[44:60, 30:60] == 1).mean() > 0.8          # the path's core is inside
    tiles = S.tile_groups(mask, frames[0], 192, 128)
    assert tiles.tolist() == [[1, 1, 0], [0, 0, 0]]
    assert S.moving_objects(_sprite_clip(move=False)) is None
    assert S.moving_objects(frames[:1]) is None
    with pytest.raises(CodecError, match="uint8"):
        S.moving_objects(frames.astype(np.float32))


def test_save_video_objects_groups(tiny, tmp_path):
    """aigif.save(video=..., fallback="ssvc", groups="objects"): the moving object's tube
    is group 1, named in the file's info; decoding it alone gives its tiles exactly. A
    clip where nothing moves warns and uses the automatic map."""
    import aigif
    from aigif.errors import AigifWarning
    frames = _sprite_clip()
    p = tmp_path / "o.aigif"
    aigif.save(None, p, video=frames, fps=8, fallback="ssvc", groups="objects", crf=40)
    f = aigif.open(p)
    assert f.group_names() == {0: "background", 1: "moving object 1"}
    full = f.frames().frames
    part = f.frames(groups=[1]).frames
    assert (part[:, :64, :128] == full[:, :64, :128]).all()
    with pytest.warns(AigifWarning, match="nothing in the clip moves"):
        aigif.save(None, tmp_path / "s.aigif", video=_sprite_clip(move=False), fps=8,
                   fallback="ssvc", groups="objects", crf=40)
