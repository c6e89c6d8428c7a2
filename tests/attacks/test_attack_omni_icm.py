"""Mutated ``omni-icm`` payloads (shipped weights, else a tiny seeded model) through
decode_payload (the preview) and ``aigif.features``, inside a file and alone: only
AigifError escapes, each input ends quickly, nothing is built past the header checks."""
from __future__ import annotations

import random
import time

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")
Image = pytest.importorskip("PIL.Image")

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402
from aigif.codecs.learned import omni_icm, zoo  # noqa: E402
from aigif.container import FileData, Payload  # noqa: E402


@pytest.fixture
def payload(monkeypatch):
    if not zoo.available("omni-icm-1"):
        from aigif.codecs.learned.omni_icm_model import OmniIcm, export_omni
        torch.manual_seed(0)
        zoo.register("omni-icm-attack-tiny", export_omni(OmniIcm(8, 12, proj=8).eval()),
                     arch="omni")
        monkeypatch.setitem(omni_icm.MODEL_IDS, 252, "omni-icm-attack-tiny")
        monkeypatch.setattr(omni_icm.OmniIcmCodec, "default_model", 252)
    rnd = np.random.default_rng(7)
    im = Image.fromarray(rnd.integers(0, 255, (40, 48, 3), dtype=np.uint8))
    yield bytes(C.encode_payload(im, "omni-icm", quality=60).data)
    zoo.register("omni-icm-attack-tiny", None)


def _mutants(data: bytes, n: int, seed: int):
    rnd = random.Random(seed)
    yield b""
    for cut in (1, 4, 5, 8, 16, 30, 31, len(data) // 2, len(data) - 1):
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
    for i in range(0, min(len(data), 40)):        # every header byte forced to 0xFF / 0
        yield data[:i] + b"\xff" + data[i + 1:]
        yield data[:i] + b"\x00" + data[i + 1:]
    yield data + b"\0" * 4                        # a longer stream than declared


def test_mutated_omni_icm_payloads_raise_only_aigif_errors(payload):
    worst, refused = 0.0, 0
    for m in _mutants(payload, 60, seed=14):
        for call in (lambda: C.decode_payload(Payload("omni-icm", m)),
                     lambda: aigif.features(aigif.dumps(FileData(None, payload=Payload("omni-icm", m))))):
            t0 = time.perf_counter()
            try:
                call()
            except aigif.AigifError:
                refused += 1
            worst = max(worst, time.perf_counter() - t0)
    assert refused > 100          # every truncation and most header forgeries are refused
    assert worst < 10.0, worst
