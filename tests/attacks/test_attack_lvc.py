"""Mutated learned-video payloads (envc, vlvc, imclvc in both modes; tiny random-init
models in memory) through
decode_video_payload / probe: only AigifError escapes, each input ends quickly; truncations
at every header byte, forged sizes, frame counts and lengths are refused before a model
loads."""
from __future__ import annotations

import random
import struct
import time

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")
pytest.importorskip("cv2")

import aigif  # noqa: E402
from aigif.codecs.learned import rdc, zoo  # noqa: E402
from aigif.codecs.learned.lvc import bitstream as B  # noqa: E402
from aigif.codecs.learned.lvc import imclvc  # noqa: E402
from aigif.codecs.learned.lvc.flownet import SpyNetMini, export_flow  # noqa: E402
from aigif.codecs.learned.lvc.residual_model import random_tensors  # noqa: E402
from aigif.codecs.learned.lvc.sr import SrNet, export_sr  # noqa: E402
from aigif.codecs.video import decode_video_payload, encode_video_payload  # noqa: E402
from aigif.codecs.video import probe_video_payload  # noqa: E402
from aigif.container import Payload  # noqa: E402
from aigif.errors import CodecError, LimitExceededError  # noqa: E402


@pytest.fixture(scope="module")
def payloads():
    torch.manual_seed(0)
    intra = rdc.export_rdc(rdc.RdcHyperprior(N=12, M=16, H=8, C=8).eval())
    zoo.register("lvc-attack-intra", intra, "rdc")
    zoo.register("lvc-attack-res", random_tensors(seed=1, N=16, M=16, H=8, C=(8, 8, 8)),
                 "lvcres")
    torch.manual_seed(1)
    zoo.register("lvc-attack-sr", export_sr(SrNet(ch=8, layers=3)), "lvcsr")
    zoo.register("lvc-attack-flow", export_flow(SpyNetMini(ch=(8, 8, 8))), "lvcflow")
    saved = B.INTRA_MODELS[1], B.RES_MODELS[1], imclvc.SR_MODELS[1], imclvc.FLOW_KEY
    B.INTRA_MODELS[1], B.RES_MODELS[1] = "lvc-attack-intra", "lvc-attack-res"
    imclvc.SR_MODELS[1], imclvc.FLOW_KEY = "lvc-attack-sr", "lvc-attack-flow"
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (48, 60, 3), np.uint8)
    frames = np.stack([np.roll(base, (i, 2 * i), (0, 1))[:40, :50] for i in range(3)])
    out = {k: bytes(encode_video_payload(frames, 8, k, crf=30).data)
           for k in ("envc", "vlvc", "imclvc")}
    out["imclvc-sr"] = bytes(encode_video_payload(frames, 8, "imclvc", crf=40, sr=True,
                                                  refine=0).data)
    yield out
    B.INTRA_MODELS[1], B.RES_MODELS[1], imclvc.SR_MODELS[1], imclvc.FLOW_KEY = saved
    for k in ("intra", "res", "sr", "flow"):
        zoo.register(f"lvc-attack-{k}", None)


def _mutants(data: bytes, n: int, seed: int):
    rnd = random.Random(seed)
    yield b""
    for cut in range(0, B.HEADER.size + 8):           # every header truncation
        yield data[:cut]
    for cut in (len(data) // 3, len(data) // 2, len(data) - 1):
        yield data[:cut]
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            op = rnd.random()
            i = rnd.randrange(len(b))
            if op < 0.5:
                b[i] ^= 1 << rnd.randrange(8)
            elif op < 0.75:
                b[i] = rnd.choice((0, 0xFF, 0x7F, 0x80))
            else:
                b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        yield bytes(b)
    for i in range(B.HEADER.size + 12):              # every header byte forced to 0xFF
        yield data[:i] + b"\xff" + data[i + 1:]


@pytest.mark.parametrize("key", ["envc", "vlvc", "imclvc", "imclvc-sr"])
def test_mutated_lvc_payloads_raise_only_aigif_errors(payloads, key):
    data = payloads[key]
    codec = key.split("-")[0]
    worst = 0.0
    for m in _mutants(data, 80, seed=len(key)):
        for call in (decode_video_payload, probe_video_payload):
            t0 = time.perf_counter()
            try:
                call(Payload(codec, m))
            except aigif.AigifError:
                pass
            worst = max(worst, time.perf_counter() - t0)
    assert worst < 10.0, worst


def test_forged_counts_and_lengths_refused_before_models_load(payloads, monkeypatch):
    data = payloads["envc"]
    loads = []
    monkeypatch.setattr(zoo, "load", lambda *a, **k: loads.append(a) or 1 / 0)
    head, recs = B.parse(data)
    body = data[B.HEADER.size + len(head.ext):]
    cases = []
    # the first record's sub-stream lengths forged up to 4 GiB, and down
    pos = B.HEADER.size + len(head.ext) + 2
    for v in (0xFFFFFFFF, 0x7FFFFFFF, len(data), 0):
        cases.append(data[:pos] + struct.pack(">I", v) + data[pos + 4:])
    # 255 sub-streams declared; frame counts 1 off and huge; sizes over the limits
    cases.append(data[:pos - 1] + b"\xff" + data[pos:])
    for t in (head.frames + 1, 16384):
        cases.append(B.pack_header(head._replace(frames=t)) + body)
    exceeded = [B.pack_header(head._replace(width=w, height=h, frames=t)) + body
                for w, h, t in ((16385, 16, 3), (16, 16385, 3), (16384, 16384, 3),
                                (1920, 1080, 5000))]
    for m in cases:
        with pytest.raises(CodecError):
            decode_video_payload(Payload("envc", m))
    for m in exceeded:
        with pytest.raises(LimitExceededError):
            decode_video_payload(Payload("envc", m))
        with pytest.raises(LimitExceededError):
            probe_video_payload(Payload("envc", m))
    assert not loads
