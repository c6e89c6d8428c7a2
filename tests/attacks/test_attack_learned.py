"""Mutated learned-codec payloads (sth, nvtc, gitssic; shipped weights) through decode_payload:
only AigifError escapes, each input ends quickly, nothing is built past the header checks."""
from __future__ import annotations

import random
import time

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("torch")
pytest.importorskip("constriction")
Image = pytest.importorskip("PIL.Image")

import aigif  # noqa: E402
from aigif import codecs as C  # noqa: E402
from aigif.container import Payload  # noqa: E402


def _payload(key: str) -> bytes:
    rnd = np.random.default_rng(7)
    im = Image.fromarray(rnd.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    try:
        return bytes(C.encode_payload(im, key, quality=50).data)
    except aigif.MissingDependencyError as e:      # weights or an extra not installed
        pytest.skip(str(e))


def _mutants(data: bytes, n: int, seed: int):
    rnd = random.Random(seed)
    yield b""
    for cut in (1, 4, 8, 16, len(data) // 2, len(data) - 1):
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
    for i in range(0, min(len(data), 40)):        # every header byte forced to 0xFF
        yield data[:i] + b"\xff" + data[i + 1:]


@pytest.mark.parametrize("key", ["sth", "nvtc", "gitssic"])
def test_mutated_learned_payloads_raise_only_aigif_errors(key):
    data = _payload(key)
    worst = 0.0
    for m in _mutants(data, 60, seed=len(key)):
        t0 = time.perf_counter()
        try:
            C.decode_payload(Payload(key, m))
        except aigif.AigifError:
            pass
        worst = max(worst, time.perf_counter() - t0)
    assert worst < 10.0, worst


def test_mutated_gitssic_payloads_through_partial_decodes_and_the_block_map():
    """gitssic: the same mutants through a partial decode (groups=[1]) and through
    ``block_map`` (the mask stream alone) raise only AigifError, quickly."""
    data = _payload("gitssic")
    c = C.get_codec("gitssic")
    worst = 0.0
    for m in _mutants(data, 60, seed=13):
        for call in (lambda: C.decode_payload(Payload("gitssic", m), groups=[1]),
                     lambda: c.block_map(m)):
            t0 = time.perf_counter()
            try:
                call()
            except aigif.AigifError:
                pass
            worst = max(worst, time.perf_counter() - t0)
    assert worst < 10.0, worst
