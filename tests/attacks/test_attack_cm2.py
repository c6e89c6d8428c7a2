"""Attacks on text method 3 (cm2) payloads (issue 21): whatever the bytes of a method-3 text
block, decoding raises only AigifError (MalformedError / LimitExceededError) and stops in
bounded time, with the compiled decoder and with the pure-Python one. (Whole-file mutants
of vector 80-text-cm2 run in test_attack_format.py's vector mutation test.)"""
from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import aigif
from aigif.textcoding import cm2, decode_text, encode_text

PROMPT = ("masterpiece, best quality, (portrait of a Knight:1.2), highly detailed, digital "
          "painting, ArtStation, concept art, sharp focus, art by greg rutkowski "
          "<lora:add_detail:0.8>, 漂亮的女孩 🐱")
NEG = "lowres, bad anatomy, bad hands, blurry"

PATHS = [pytest.param(True, id="compiled"), pytest.param(False, id="pure-python")]


def _decode_bounded(block: bytes, limit_s: float) -> None:
    t0 = time.perf_counter()
    try:
        decode_text(block)
    except aigif.AigifError:
        pass
    assert time.perf_counter() - t0 < limit_s, block[:64].hex()


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    if request.param and not cm2.USE_COMPILED:
        pytest.skip("the compiled cm2 decoder was not built here")
    monkeypatch.setattr(cm2, "USE_COMPILED", request.param)
    return request.param


def test_truncated_and_bit_flipped_blocks(path):
    block = encode_text(PROMPT, NEG, 3)
    assert block[0] == 3 and decode_text(block)[:2] == (PROMPT, NEG)
    rnd = random.Random(21)
    mutants = [block[:n] for n in range(1, len(block))]
    for _ in range(300):
        b = bytearray(block)
        i = rnd.randrange(1, len(b))
        b[i] ^= 1 << rnd.randrange(8)
        mutants.append(bytes(b))
    for m in mutants:
        _decode_bounded(m, 2.0)


def test_large_random_payloads_stop_in_bounded_time(path):
    """64 KiB of noise: each text stops at its limit or at an inconsistency."""
    rnd = random.Random(3)
    for _ in range(4):
        _decode_bounded(bytes([3]) + rnd.randbytes(65536), 30.0 if not path else 5.0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_payloads_raise_only_aigif_errors(data):
    _decode_bounded(bytes([3]) + data, 2.0)
