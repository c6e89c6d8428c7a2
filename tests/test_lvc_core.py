"""The learned video codecs' core (aigif.codecs.learned.lvc: container, loop, motion, the envc
and vlvc schemes) with tiny random-init models registered in memory: round trips, decode ==
the encoder's reconstruction, probe, options, limits and bad input (CodecError /
LimitExceededError before any model loads), decoded symbols identical in another process with
another thread count and dtype (pixel drift reported), aigif.save / open of a learned video."""
from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")
pytest.importorskip("cv2")

import aigif  # noqa: E402
from aigif.codecs import get_codec  # noqa: E402
from aigif.codecs.learned import rdc, zoo  # noqa: E402
from aigif.codecs.learned.lvc import bitstream as B  # noqa: E402
from aigif.codecs.learned.lvc import motion  # noqa: E402
from aigif.codecs.learned.lvc.residual_model import random_tensors  # noqa: E402
from aigif.codecs.video import decode_video_payload, encode_video_payload  # noqa: E402
from aigif.container import Payload  # noqa: E402
from aigif.errors import CodecError, LimitExceededError, MissingDependencyError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INTRA_KEY, RES_KEY = "lvc-test-intra", "lvc-test-res"


def _intra_tensors():
    torch.manual_seed(0)
    return rdc.export_rdc(rdc.RdcHyperprior(N=12, M=16, H=8, C=8).eval())


@pytest.fixture(scope="module")
def weights():
    return _intra_tensors(), random_tensors(seed=3, N=16, M=16, H=8, C=(8, 8, 8))


@pytest.fixture
def tiny(monkeypatch, weights):
    zoo.register(INTRA_KEY, weights[0], "rdc")
    zoo.register(RES_KEY, weights[1], "lvcres")
    monkeypatch.setitem(B.INTRA_MODELS, 1, INTRA_KEY)
    monkeypatch.setitem(B.RES_MODELS, 1, RES_KEY)
    yield weights
    zoo.register(INTRA_KEY, None)
    zoo.register(RES_KEY, None)


def clip(t=4, h=70, w=90, seed=0):
    """A pan over a smooth random picture (odd size: padding is exercised)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h + 3 * t, 0:w + 3 * t]
    a = np.stack([128 + 90 * np.sin(x / 9.0 + y / 13.0), 255 * x / (w + 3 * t),
                  128 + 60 * np.cos(y / 7.0)], -1) + rng.normal(0, 6, (h + 3 * t, w + 3 * t, 3))
    a = np.clip(a, 0, 255).astype(np.uint8)
    return np.stack([a[i:i + h, 2 * i:2 * i + w] for i in range(t)])


# --------------------------------------------------------------------------- registry
def test_codes_registered_and_no_torch_at_import():
    for key, code in (("envc", 15), ("vlvc", 16), ("ssvc", 17), ("imclvc", 18)):
        c = get_codec(key)
        assert (c.key, c.code, c.kind) == (key, code, "video")
        assert int(aigif.spec.PixelCodec[key.upper()]) == code
        assert aigif.spec.PixelCodec[key.upper()] in aigif.spec.VIDEO_CODECS
    assert B.crf_step(28) == 256 and B.crf_step(36) == 512 and B.crf_step(20) == 128
    assert B.crf_step(0) == 23 and B.crf_step(51) == 1878
    code = ("import sys, aigif\nfrom aigif.codecs import get_codec\n"
            "from aigif.codecs.learned.lvc import bitstream\n"
            "get_codec('envc').available(); get_codec('vlvc')\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --------------------------------------------------------------------------- motion
def test_flow_symbols_round_trip_and_tables_are_integer_built():
    t = motion.flow_tables()
    assert t.dtype == np.int32 and (t >= 1).all() and (t.sum(1) == 1 << 16).all()
    rng = np.random.default_rng(1)
    f = rng.integers(-255, 256, (3, 5, 7))
    pred = rng.integers(-300, 300, (3, 5, 7))
    for p in (None, pred):
        data = motion.encode_fields(f, p)
        assert (motion.decode_fields(data, 3, 5, 7, p) == f).all()
    smooth = np.full((2, 6, 8), 12)
    assert len(motion.encode_fields(smooth)) < len(motion.encode_fields(f[:2]))
    with pytest.raises(CodecError):
        motion.decode_fields(b"\x01", 2, 3, 3)               # truncated
    with pytest.raises(CodecError):
        motion.decode_fields(b"\x40\x00" + data[2:], 2, 3, 3)   # table 64


def test_estimated_block_flow_is_the_pan():
    f = clip(2, 96, 128)               # frame 1 = frame 0 moved by (2, 1) px
    bf = motion.block_flow(motion.estimate(f[1], f[0]))
    assert bf.shape == (2, 6, 8)
    assert np.median(bf[0, 1:-1, 1:-1]) == 8 and np.median(bf[1, 1:-1, 1:-1]) == 4


def test_refine_finds_the_block_vectors_that_predict():
    rng = np.random.default_rng(2)
    ref = torch.nn.functional.avg_pool2d(
        torch.rand(1, 3, 72, 72, generator=torch.Generator().manual_seed(0)), 5, 1)[..., :64, :64]
    flow = torch.zeros(1, 2, 64, 64)
    flow[:, 0] = 2.25                                    # x + 2.25 px = 9 quarter pels
    target = motion.warp(ref, flow)
    init = rng.integers(-3, 4, (2, 4, 4))
    f = motion.refine(init, lambda g: motion.warp(ref, motion.dense(g) / 4), target,
                      [(-255, 255)] * 2, iters=60)
    assert np.abs(f[0, 1:3, 1:3] - 9).max() <= 1 and np.abs(f[1, 1:3, 1:3]).max() <= 1
    assert (motion.refine(init, None, target, [(-2, 2)] * 2, iters=0) == np.clip(init, -2, 2)).all()


def _rd_cost(f, predict, target, lam, prediction=None, valid=None):
    """The true D + lam x R that motion.rd_fields minimises (R from field_bits)."""
    with torch.no_grad():
        e = ((predict(torch.from_numpy(f.astype(np.float32))[None]) - target) ** 2).mean(1)
    if valid is not None:
        e = e[..., :valid[0], :valid[1]]
    r = sum(motion.field_bits(f[c], None if prediction is None else prediction[c])
            for c in range(f.shape[0]))
    return float(e.double().sum()) + lam * r, r


def test_vectorised_med_residual_is_the_med_residual():
    rng = np.random.default_rng(5)
    for _ in range(40):
        g = rng.integers(-30, 30, (int(rng.integers(1, 9)), int(rng.integers(1, 9))))
        assert (motion.med_residual_map(g) == motion.med_residual(g)).all()


@pytest.mark.parametrize("lam", [0.0, 1e-3, 3e-2, 1.0])
def test_rd_fields_never_costs_more_and_smooths_with_lambda(lam):
    """A pan of 2.25 px over a textured reference; start from noisy block vectors. The
    optimised fields never cost more (true D + lam R, with R the coded bits) than the ones
    given; a large lambda leaves nearly free (constant) fields, lambda 0 never a worse
    prediction; bounds hold; passes=0 changes nothing."""
    rng = np.random.default_rng(3)
    ref = torch.nn.functional.avg_pool2d(
        torch.rand(1, 3, 84, 100, generator=torch.Generator().manual_seed(1)), 5, 1)[..., :80, :96]
    flow = torch.zeros(1, 2, 80, 96)
    flow[:, 0] = 2.25
    target = motion.warp(ref, flow)

    def predict(g):
        return motion.warp(ref, motion.dense(g) / 4)

    init = np.stack([9 + rng.integers(-4, 5, (5, 6)), rng.integers(-4, 5, (5, 6))])
    bounds = [(-6, 12), (-3, 3)]
    init = np.clip(init, [[[-6]], [[-3]]], [[[12]], [[3]]])
    out = motion.rd_fields(init, predict, target, lam, [(0, 1)], bounds, valid=(70, 90))
    assert out.dtype == np.int64 and out.shape == init.shape
    assert out[0].min() >= -6 and out[0].max() <= 12 and np.abs(out[1]).max() <= 3
    c0, r0 = _rd_cost(init, predict, target, lam, valid=(70, 90))
    c1, r1 = _rd_cost(out, predict, target, lam, valid=(70, 90))
    assert c1 <= c0 + 1e-9
    if lam >= 3e-2:
        assert r1 < 0.25 * r0
        assert np.abs(out[0] - 9).mean() <= 1 and np.abs(out[1]).mean() <= 1
    assert (motion.rd_fields(init, predict, target, lam, [(0, 1)], bounds, passes=0)
            == init).all()


def test_rd_fields_with_a_temporal_prediction():
    """Fields coded against a temporal prediction: where the prediction is the truth, the
    optimised fields equal it at a moderate lambda (zero residuals everywhere)."""
    ref = torch.nn.functional.avg_pool2d(
        torch.rand(1, 3, 68, 68, generator=torch.Generator().manual_seed(2)), 5, 1)[..., :64, :64]
    truth = np.zeros((2, 4, 4), np.int64)
    truth[0] = np.array([[4, 5, 6, 7]] * 4)          # a horizontal gradient of motion
    target = motion.warp(ref, motion.dense(torch.from_numpy(truth).float()[None]) / 4)
    noisy = truth + np.random.default_rng(1).integers(-2, 3, truth.shape)

    def predict(g):
        return motion.warp(ref, motion.dense(g) / 4)

    out = motion.rd_fields(noisy, predict, target, 1e-2, [(0, 1)], [(-255, 255)] * 2,
                           prediction=truth)
    assert (out == truth).all()
    assert _rd_cost(out, predict, target, 1e-2, truth)[0] <= \
        _rd_cost(noisy, predict, target, 1e-2, truth)[0]


@pytest.mark.parametrize("key", ["envc", "vlvc"])
def test_rd_motion_option(tiny, key):
    """``rd`` passes (default 2) vs 0 (the motion of DIS + refinement, no rate term): both
    decode to the encoder's reconstruction; the rd payload's flow sub-streams are no
    larger at a low rate (crf 51)."""
    frames = clip(4)
    c = get_codec(key)
    sizes = {}
    for rd in (0, 2):
        data, rec = c.encode_recon(frames, 8, crf=51, rd=rd)
        assert (c.decode(data)[0] == rec).all()
        sizes[rd] = sum(len(r.streams[0]) for r in B.parse(data)[1][1:])
    assert sizes[2] <= sizes[0]
    with pytest.raises(CodecError, match="rd"):
        c.encode(frames, 8, rd=-1)


def test_warps_follow_the_flow():
    ref = torch.rand(1, 3, 32, 48, dtype=torch.float64)
    flow = torch.zeros(1, 2, 32, 48, dtype=torch.float64)
    flow[:, 0] = 3.0                                           # x + 3
    out = motion.warp(ref, flow)
    assert torch.allclose(out[..., :40], ref[..., 3:43], atol=1e-9)
    vol = motion.pyramid_volume(ref, 3)
    assert vol.shape == (1, 3, 3, 32, 48)
    lv0 = torch.zeros(1, 1, 32, 48, dtype=torch.float64)
    assert torch.allclose(motion.scale_space_warp(vol, flow, lv0), out, atol=1e-9)
    stack = torch.stack([ref, torch.flip(ref, [3])], 2)
    one = torch.ones(1, 1, 32, 48, dtype=torch.float64)
    assert torch.allclose(motion.voxel_warp(stack, flow * 0, one),
                          torch.flip(ref, [3]), atol=1e-9)
    half = motion.voxel_warp(stack, flow * 0, one / 2)
    assert torch.allclose(half, (ref + torch.flip(ref, [3])) / 2, atol=1e-9)
    g = torch.zeros(1, 1, 2, 3, dtype=torch.float64)
    g[0, 0, 0, 0] = 16
    d = motion.dense(g)
    assert d.shape == (1, 1, 32, 48) and d[0, 0, 7, 7] == 16 and d[0, 0, 31, 47] == 0


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("key,opts", [("envc", {}), ("envc", {"cross_scale": False}),
                                      ("envc", {"weights": False}),
                                      ("envc", {"weights": False, "cross_scale": False}),
                                      ("vlvc", {}), ("vlvc", {"flow_prediction": False}),
                                      ("vlvc", {"gop": 2, "crf": 40})])
def test_round_trip_decodes_the_encoders_reconstruction(tiny, key, opts):
    frames = clip(4)
    c = get_codec(key)
    opts = dict(opts)
    crf = opts.pop("crf", 30)
    data, rec = c.encode_recon(frames, Fraction(25, 2), crf=crf, **opts)
    out, fps = c.decode(data)
    assert out.shape == frames.shape and out.dtype == np.uint8 and fps == Fraction(25, 2)
    assert (out == rec).all()
    assert c.probe(data) == (90, 70, 4, Fraction(25, 2))
    head, recs = B.parse(data)
    assert head.step == B.crf_step(crf) and head.intra_step == B.crf_step(crf - 6)
    kinds = [r.kind for r in recs]
    assert kinds == ([0, 1, 0, 1] if opts.get("gop") else [0, 1, 1, 1])
    # an I frame has z, y; a P frame flow, z, y or (residual skipped) flow alone
    assert all(len(r.streams) in ((2,) if r.kind == 0 else (1, 3)) for r in recs)


def test_options_change_the_extension(tiny):
    frames = clip(3)
    e1 = B.parse(get_codec("envc").encode(frames, 8))[0].ext
    e0 = B.parse(get_codec("envc").encode(frames, 8, cross_scale=False))[0].ext
    ew = B.parse(get_codec("envc").encode(frames, 8, weights=False))[0].ext
    assert (e1, e0, ew) == (b"\x03", b"\x02", b"\x01")
    v1 = B.parse(get_codec("vlvc").encode(frames, 8))[0].ext
    v0 = B.parse(get_codec("vlvc").encode(frames, 8, flow_prediction=False))[0].ext
    assert (v1, v0) == (b"\x01\x02", b"\x00\x02")


def test_payload_layer_and_document_round_trip(tiny, tmp_path):
    frames = clip(3, 64, 64)
    p = encode_video_payload(frames, 8, "envc", crf=30)
    out, fps = decode_video_payload(p)
    assert out.shape == frames.shape and fps == 8
    dest = tmp_path / "clip.aigif"
    aigif.save(None, dest, video=frames, fps=8, fallback="vlvc", crf=34)
    f = aigif.open(dest)
    assert f.payload.codec == "vlvc"
    v = f.frames()
    assert np.asarray(v.frames).shape == frames.shape and v.fps == 8


@pytest.mark.parametrize("opts,msg", [({"crf": 52}, "crf"), ({"crf": 2.0}, "crf"),
                                      ({"cross_scale": "yes"}, "True or False"),
                                      ({"flow_prediction": False}, "no option"),
                                      ({"gop": -1}, "gop"), ({"gop": 70000}, "gop"),
                                      ({"intra_level": 4}, "intra_level"),
                                      ({"motion": "slow"}, "motion"),
                                      ({"refine": -1}, "refine"),
                                      ({"lossless": True}, "lossless")])
def test_bad_options_are_codec_errors(tiny, opts, msg):
    with pytest.raises(CodecError, match=msg):
        get_codec("envc").encode(clip(2), 8, **opts)


def test_bad_frames_are_codec_errors(tiny):
    c = get_codec("envc")
    for bad in (np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8, 3), np.float32), [],
                np.zeros((0, 8, 8, 3), np.uint8)):
        with pytest.raises(CodecError):
            c.encode(bad, 8)
    with pytest.raises(CodecError):
        c.encode(clip(2), 0)


def test_encoding_without_opencv_names_the_extra(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(MissingDependencyError, match="learned"):
        get_codec("envc").encode(clip(2), 8)


# --------------------------------------------------------------------------- bad payloads
def _forge(data: bytes, **fields) -> bytes:
    names = ["magic", "version", "scheme", "width", "height", "frames", "fps_num", "fps_den",
             "crf", "step", "intra_step", "gop", "intra_level", "intra_model", "intra_hash",
             "res_model", "res_hash", "ext_len"]
    v = dict(zip(names, B.HEADER.unpack_from(data)))
    v.update(fields)
    return B.HEADER.pack(*[v[n] for n in names]) + data[B.HEADER.size:]


@pytest.fixture
def payload(tiny):
    return get_codec("envc").encode(clip(3), 8)


def test_bad_payloads_raise_codec_errors_before_models_load(payload, monkeypatch):
    c = get_codec("envc")
    cases = {
        "truncated": payload[:-5], "header only": payload[:B.HEADER.size + 1],
        "short": payload[:10], "empty": b"", "trailing": payload + b"\0",
        "magic": b"XXXX" + payload[4:], "version": _forge(payload, version=2),
        "scheme": _forge(payload, scheme=16), "fps": _forge(payload, fps_den=0),
        "fps max": _forge(payload, fps_num=10 ** 6), "step": _forge(payload, step=0),
        "level": _forge(payload, intra_level=4), "crf": _forge(payload, crf=60),
        "ext": _forge(payload, ext_len=2), "frames+": _forge(payload, frames=4),
        "frames-": _forge(payload, frames=2), "empty size": _forge(payload, width=0),
        "no frame": _forge(payload, frames=0), "model": _forge(payload, intra_model=9),
        "first P": payload[:B.HEADER.size + 1] + b"\x01" + payload[B.HEADER.size + 2:],
    }
    loads = []
    monkeypatch.setattr(zoo, "load", lambda *a, **k: loads.append(a) or 1 / 0)
    for name, data in cases.items():
        with pytest.raises(CodecError):
            c.decode(data)
    assert not loads
    for data in (_forge(payload, width=20000), _forge(payload, frames=20000)):
        with pytest.raises(LimitExceededError):
            c.decode(data)
        with pytest.raises(LimitExceededError):
            c.probe(data)
    big = _forge(payload, width=4096, height=4096, frames=60)     # over the decode budget
    with pytest.raises(LimitExceededError):
        c.decode(big)
    assert not loads


def test_corrupt_streams_and_foreign_weights(payload, monkeypatch):
    c = get_codec("envc")
    from aigif.codecs.learned.lvc.scheme import Scheme
    with monkeypatch.context() as m:          # residuals always coded (never skipped)
        m.setattr(Scheme, "res_code", Scheme.res_encode)
        coded = c.encode(clip(3), 8)
    head, recs = B.parse(coded)
    assert [len(r.streams) for r in recs] == [2, 3, 3]
    other = _forge(payload, res_hash=b"\x01" * 8)
    with pytest.raises(CodecError, match="other weights"):
        c.decode(other)
    with pytest.raises(CodecError, match="scheme"):
        get_codec("vlvc").decode(payload)
    with pytest.raises(CodecError):
        get_codec("vlvc").probe(payload)
    # a P frame with a missing residual stream / a flow stream of 3 bytes
    body = B.pack_header(head) + B.pack_frame(*recs[0])
    for bad in (recs[1].streams[:1] + [b"\0" * 8], [b"\0\0\0", *recs[1].streams[1:]],
                [recs[1].streams[0], b"\0\0\0", recs[1].streams[2]], []):
        data = body + B.pack_frame(1, bad) + B.pack_frame(*recs[2])
        with pytest.raises(CodecError):
            c.decode(data)
    bad_ext = _forge(payload[:B.HEADER.size - 2] + b"\x00\x01\x07" + payload[B.HEADER.size + 1:])
    with pytest.raises(CodecError, match="extension"):
        c.decode(bad_ext)
    flag4 = payload[:B.HEADER.size] + b"\x04" + payload[B.HEADER.size + 1:]
    assert payload[B.HEADER.size] == 3
    with pytest.raises(CodecError, match="extension"):
        c.decode(flag4)


def test_envc_weight_field_changes_the_prediction(tiny):
    """The weight map (flags bit 1) is the flow stream's last field: w = 0 everywhere makes the
    prediction the reference's per-channel mean; a fade toward the mean is coded with w < 4."""
    from aigif.codecs.learned.lvc import motion
    frames = np.repeat(clip(1, 64, 64), 3, 0)
    c = get_codec("envc")
    data, rec = c.encode_recon(frames, 8, crf=40)
    head, recs = B.parse(data)
    assert head.ext == b"\x03" and [len(r.streams) for r in recs] == [2, 1, 1]
    f = motion.decode_fields(recs[1].streams[0], 4, 4, 4)
    outs = []
    for w in (4, 0):                                  # the plain warp; the mean
        f[3] = w
        forged = B.pack_header(head) + B.pack_frame(*recs[0]) + \
            B.pack_frame(1, [motion.encode_fields(f)]) + B.pack_frame(*recs[2])
        outs.append(c.decode(forged)[0])
    out = outs[1]
    assert (out[0] == rec[0]).all() and (outs[0][0] == rec[0]).all()
    assert (outs[0][1] != out[1]).any()
    mean = rec[0].reshape(-1, 3).astype(np.float64).mean(0)
    assert np.abs(out[1].reshape(-1, 3) - mean).max() <= 0.5 + 1e-6
    # out of range weight symbol
    f[3, 0, 0] = 5
    bad = B.pack_header(head) + B.pack_frame(*recs[0]) + \
        B.pack_frame(1, [motion.encode_fields(f)]) + B.pack_frame(*recs[2])
    with pytest.raises(CodecError, match="weight symbol"):
        c.decode(bad)
    # a fade toward the mean: the encoder sends weights (and decodes its reconstruction)
    x = frames[0].astype(np.float64)
    fade = np.stack([x, 0.5 * x + 0.5 * x.reshape(-1, 3).mean(0),
                     0.25 * x + 0.75 * x.reshape(-1, 3).mean(0)]).round().astype(np.uint8)
    data, rec = c.encode_recon(fade, 8, crf=40)
    _, recs = B.parse(data)
    w = motion.decode_fields(recs[1].streams[0], 4, 4, 4)[3]
    assert (w < 4).any()
    out, _ = c.decode(data)
    assert (out == rec).all()


def test_vlvc_prediction_orders_are_checked(tiny):
    data = get_codec("vlvc").encode(clip(3), 8)
    head, recs = B.parse(data)
    flow = recs[1].streams[0]
    assert len(flow) > 7 and max(flow[:7]) <= 2
    for bad_flow in (b"\x03" + flow[1:], flow[:5]):
        bad = B.pack_header(head) + B.pack_frame(*recs[0]) + \
            B.pack_frame(1, [bad_flow, *recs[1].streams[1:]]) + B.pack_frame(*recs[2])
        with pytest.raises(CodecError):
            get_codec("vlvc").decode(bad)
    off = get_codec("vlvc").encode(clip(3), 8, flow_prediction=False)
    assert all(r.streams[0][:7] == b"\0" * 7 for r in B.parse(off)[1] if r.kind == 1)


def test_residual_skipped_where_it_does_not_pay(tiny):
    """A P frame whose residual costs more than it gains (a random-init residual model never
    gains) is sent as its flow alone and decodes to the prediction rounded."""
    frames = np.repeat(clip(1, 64, 64), 3, 0)
    c = get_codec("envc")
    data, rec = c.encode_recon(frames, 8, crf=40)
    _, recs = B.parse(data)
    assert [len(r.streams) for r in recs] == [2, 1, 1]
    out, _ = c.decode(data)
    assert (out == rec).all()


def test_decode_options_are_checked(payload):
    with pytest.raises(CodecError, match="no option"):
        get_codec("envc").decode(payload, groups=[1])
    with pytest.raises(CodecError, match="dtype"):
        get_codec("envc").decode(payload, "float16")


# --------------------------------------------------------------------------- platform safety
_CHILD = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np, torch
    from safetensors.torch import load_file
    from aigif.codecs import get_codec
    from aigif.codecs.learned import zoo
    from aigif.codecs.learned.lvc import bitstream as B, motion
    from aigif.codecs.learned.lvc.residual import ResidualCoder
    from aigif.codecs.learned.rdc import RdcCoder
    d = sys.argv[1]
    zoo.register("lvc-test-intra", load_file(d + "/intra.safetensors"), "rdc")
    zoo.register("lvc-test-res", load_file(d + "/res.safetensors"), "lvcres")
    B.INTRA_MODELS[1], B.RES_MODELS[1] = "lvc-test-intra", "lvc-test-res"
    sym = [None]
    def spy(obj, name, pick):
        f = getattr(obj, name)
        def g(*a, **k):
            out = f(*a, **k)
            sym[0].update(np.ascontiguousarray(pick(out), np.int64).tobytes())
            return out
        setattr(obj, name, g)
    spy(motion, "decode_fields", lambda o: o)
    spy(ResidualCoder, "decode_symbols", lambda o: o[1])
    spy(RdcCoder, "decode_latents", lambda o: o)
    out = {}
    for run in sys.argv[3].split(","):            # threads:dtype bits
        threads, bits = run.split(":")
        torch.set_num_threads(int(threads))
        dtype = {"32": torch.float32, "64": torch.float64}[bits]
        for key in sys.argv[2].split(","):
            sym[0] = hashlib.sha256()
            data = open(d + "/" + key + ".bin", "rb").read()
            frames, _ = get_codec(key).decode(data, dtype)
            np.save(d + "/" + key + "-" + threads + "-" + bits + ".npy", frames)
            out[key + " " + run] = sym[0].hexdigest()
    print(json.dumps(out))
""")


def _child(tmp: Path, keys: str, runs: str) -> dict:
    """Decode ``tmp/<key>.bin`` in a fresh process for each ``threads:bits`` run: the
    hashes of the decoded symbols (flows, residual and intra latents) per key and run."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    r = subprocess.run([sys.executable, "-c", _CHILD, str(tmp), keys, runs],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def test_symbols_identical_across_threads_and_dtypes(tiny, tmp_path):
    """Another process, 1 vs 2 threads, float32 vs float64: the same symbols; the pixel
    drift is printed (random tiny models mostly saturate: usually 0; benchmarks/lvc_drift.py
    measures the shipped weights over 30+ frames)."""
    from safetensors.torch import save_file
    save_file(tiny[0], str(tmp_path / "intra.safetensors"))
    save_file(tiny[1], str(tmp_path / "res.safetensors"))
    frames = clip(5, 64, 64, seed=5)
    for key in ("envc", "vlvc"):
        (tmp_path / f"{key}.bin").write_bytes(get_codec(key).encode(frames, 8, crf=30))
    sym = _child(tmp_path, "envc,vlvc", "1:32,2:32,2:64")
    for key in ("envc", "vlvc"):
        assert sym[f"{key} 1:32"] == sym[f"{key} 2:32"] == sym[f"{key} 2:64"]
        a = np.load(tmp_path / f"{key}-1-32.npy")
        for other in ("2-32", "2-64"):
            b = np.load(tmp_path / f"{key}-{other}.npy")
            drift = min(_psnr(x, y) for x, y in zip(a, b))
            print(f"{key} 1 thread float32 vs {other}: worst-frame PSNR {drift:.1f} dB, "
                  f"max |d| {np.abs(a.astype(int) - b).max()}")
            assert drift > 40


# --------------------------------------------------------------------------- shipped weights
@pytest.mark.skipif(not zoo.available("lvc-res-1") or not zoo.available("sth-rdc-1"),
                    reason="lvc-res-1 / sth-rdc-1 weights not installed")
@pytest.mark.parametrize("key", ["envc", "vlvc"])
def test_shipped_weights_predict(key):
    """With the shipped models: decode == the encoder's reconstruction, a faithful clip, and
    P frames far cheaper than the I frame on a slow pan (temporal prediction works)."""
    frames = clip(4, 96, 128, seed=9)
    c = get_codec(key)
    data, rec = c.encode_recon(frames, 8, crf=28)
    out, _ = c.decode(data)
    assert (out == rec).all()
    psnr = [10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2))
            for a, b in zip(out, frames)]
    assert min(psnr) > 25, psnr
    _, recs = B.parse(data)
    sizes = [sum(map(len, r.streams)) for r in recs]
    assert max(sizes[1:]) < 0.6 * sizes[0], sizes


def test_spec_header_table_matches_the_struct():
    """spec/aigif-v1.md "Syntax: lvc video payloads": the header rows, in order, are the
    fields of bitstream.HEADER (then ext and the records)."""
    import re
    doc = (ROOT / "spec" / "aigif-v1.md").read_text("utf-8")
    sec = doc[doc.index("#### Syntax: lvc video payloads"):]
    table = sec[:sec.index("A frame record:")]
    rows = re.findall(r"^\| (\w+) \| ([^|]+?) \|", table, re.M)
    codes = {"u8": "B", "u16": "H", "u32": "I", "bytes(4)": "4s", "bytes(8)": "8s"}
    fmt = ">" + "".join(codes[d] for n, d in rows if d in codes)
    assert fmt == B.HEADER.format
    assert [n for n, _ in rows][-2:] == ["ext", "records"]
    rec = re.findall(r"^\| (\w+) \| ([^|]+?) \|", sec[sec.index("A frame record:"):
                                                       sec.index("A reader MUST check")], re.M)
    assert [(n, d) for n, d in rec][1:3] == [("kind", "u8"), ("n", "u8")]
