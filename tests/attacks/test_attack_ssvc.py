"""Mutated ssvc payloads (code 17) through full and partial decodes, the tile map, the read
ranges and the file API: only AigifError escapes, each input ends quickly, and forged
sizes are refused before anything is built. Tiny random-init models (in memory)."""
from __future__ import annotations

import random
import time

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")
pytest.importorskip("cv2")

import aigif  # noqa: E402
from aigif.codecs.learned import gitssic as G  # noqa: E402
from aigif.codecs.learned import gitssic_model as GM  # noqa: E402
from aigif.codecs.learned import zoo  # noqa: E402
from aigif.codecs.learned.lvc import bitstream as B  # noqa: E402
from aigif.codecs.learned.lvc import ssvc as S  # noqa: E402
from aigif.codecs.learned.lvc.residual_model import random_tensors  # noqa: E402
from aigif.codecs.video import decode_video_payload  # noqa: E402
from aigif.container import Payload  # noqa: E402


@pytest.fixture(scope="module")
def payload():
    torch.manual_seed(0)
    m = GM.GitSsic(C=(8, 16, 16), depths=(2, 2, 2), heads=(1, 2, 2), window=4, M=16, H=8,
                   Mh=16).eval()
    mp = pytest.MonkeyPatch()
    zoo.register("gitssic-attack-tiny", GM.export_gitssic(m), arch="gitssic")
    zoo.register("lvc-res-1", random_tensors(N=16, M=16, H=8, C=(8, 8, 8)), "lvcres")
    from aigif.codecs.learned import rdc
    torch.manual_seed(0)
    zoo.register("sth-attack-tiny", rdc.export_rdc(rdc.RdcHyperprior(N=12, M=16, H=8, C=8)
                                                   .eval()), "rdc")
    mp.setitem(B.INTRA_MODELS, 1, "sth-attack-tiny")
    mp.setitem(G.MODEL_IDS, 250, "gitssic-attack-tiny")
    mp.setattr(G.GitssicCodec, "default_model", 250)
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (3, 70, 130, 3)).astype(np.uint8)
    frames[1:] = np.roll(frames[:1], 3, axis=2)
    tiles = np.array([[0, 1, 2], [2, 1, 0]])
    data = S.SsvcCodec().encode(frames, 8, groups=tiles)
    sth = S.SsvcCodec().encode(frames, 8, groups=tiles, intra="sth")
    yield data, sth
    mp.undo()
    zoo.register("sth-attack-tiny", None)
    zoo.register("gitssic-attack-tiny", None)
    zoo.register("lvc-res-1", None)


def _mutants(data: bytes, n: int, seed: int):
    rnd = random.Random(seed)
    yield b""
    for cut in (1, 4, 8, 47, 48, 60, len(data) // 2, len(data) - 1):
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
    for i in range(0, min(len(data), 64)):        # every header byte (and the ext) forced
        yield data[:i] + b"\xff" + data[i + 1:]


def _calls(c, m):
    yield lambda: c.decode(m)
    yield lambda: c.decode(m, groups=[1])
    yield lambda: c.decode(m, groups=[0, 2], fill=(0, 0, 0))
    yield lambda: c.tile_map(m)
    yield lambda: c.read_ranges(m, [1])
    yield lambda: c.probe(m)
    yield lambda: decode_video_payload(Payload("ssvc", m), groups=[2])


@pytest.mark.parametrize("which", [0, 1], ids=["gitssic-i", "sth-i"])
def test_mutated_ssvc_payloads_raise_only_aigif_errors(payload, which):
    c = S.SsvcCodec()
    worst = 0.0
    for k, m in enumerate(_mutants(payload[which], 25, seed=17 + which)):
        for call in _calls(c, m):
            t0 = time.perf_counter()
            try:
                call()
            except aigif.AigifError:
                pass
            worst = max(worst, time.perf_counter() - t0)
    assert worst < 5.0


def _forge(data: bytes, **fields) -> bytes:
    head, pos = B.parse_header(data)
    head = head._replace(**fields)
    return B.pack_header(head) + data[pos:]


def test_forged_sizes_are_refused_before_decoding(payload):
    payload = payload[0]
    c = S.SsvcCodec()
    for fields in (dict(width=60000, height=60000), dict(frames=60000),
                   dict(width=0), dict(frames=0)):
        t0 = time.perf_counter()
        with pytest.raises(aigif.AigifError):
            c.decode(_forge(payload, **fields), groups=[0])
        assert time.perf_counter() - t0 < 1.0


def test_forged_tile_maps_and_group_streams(payload):
    payload = payload[0]
    c = S.SsvcCodec()
    head, pos = B.parse_header(payload)
    ext = bytearray(head.ext)
    bad_exts = [bytes(ext[:-1]), bytes([9]) + bytes(ext[1:]),        # G > max id + 1
                bytes([3]) + bytes([7] * (len(ext) - 1)),            # ids >= G
                bytes([0]) + bytes(len(ext) - 1)]                     # G = 0
    for e in bad_exts:
        with pytest.raises(aigif.CodecError):
            c.decode(B.pack_header(head._replace(ext=e)) + payload[pos:], groups=[0])
    # a P frame whose group sub-stream lost its last byte (the record's lengths agree)
    _, frames = B.parse(payload)
    recs = [B.pack_frame(f.kind, list(f.streams)) for f in frames]
    s = list(frames[1].streams)
    s[0] = s[0][:-1]
    recs[1] = B.pack_frame(1, s)
    with pytest.raises(aigif.CodecError):
        c.decode(B.pack_header(head) + b"".join(recs))
    # a P frame with one sub-stream too many, an I frame with two
    for i, extra in ((1, [b""]), (0, [b"x"])):
        recs2 = [B.pack_frame(f.kind, list(f.streams)) for f in frames]
        recs2[i] = B.pack_frame(frames[i].kind, list(frames[i].streams) + extra)
        with pytest.raises(aigif.CodecError):
            c.read_ranges(B.pack_header(head) + b"".join(recs2), [0])
    # varint lengths with the continuation bit on every byte
    s = list(frames[1].streams)
    n = (len(np.flatnonzero(c.tile_map(payload) == 0)) + 7) // 8
    s[0] = s[0][:2 + n] + b"\xff" * 6 + s[0][2 + n:]
    recs[1] = B.pack_frame(1, s)
    with pytest.raises(aigif.CodecError):
        c.decode(B.pack_header(head) + b"".join(recs), groups=[0])


def test_an_i_frame_whose_block_map_is_not_the_tile_map_is_refused(payload):
    """Exactness of partial decodes rests on the I frames' groups being the tile map's."""
    payload = payload[0]
    c = S.SsvcCodec()
    head, frames = B.parse(payload)
    ext = bytearray(head.ext)
    ext[1], ext[2] = ext[2], ext[1]                  # tiles 0 and 1 swap groups
    recs = b"".join(B.pack_frame(f.kind, list(f.streams)) for f in frames)
    with pytest.raises(aigif.CodecError, match="block map"):
        c.decode(B.pack_header(head._replace(ext=bytes(ext))) + recs, groups=[0])
