"""The cm2 prompt coder (text method 3; aigif/textcoding/cm2.py) with small tables fitted here.

A small table is fitted from the T2I-CompBench training prompts (a few seconds), then:
lossless round trips of arbitrary Unicode, only AigifError from any byte string, bounded
output, and a fit that is deterministic.
"""
from __future__ import annotations

import glob
import gzip
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigif.errors import AigifError, LimitExceededError, MetaError
from aigif.spec import MAX_TEXT_CHARS
from aigif.textcoding import cm2
from training.textcoding import train_cm2 as tr

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "prompts")
LINES = sorted({ln.strip() for p in glob.glob(os.path.join(SHARED, "t2i-compbench", "*.txt"))
                for ln in open(p, encoding="utf-8") if ln.strip()})
pytestmark = pytest.mark.skipif(not LINES or not os.path.exists(tr.BPE_FILE),
                                reason="needs ../shared prompts and the CLIP BPE file")

SPECIAL = ["", " ", "a", "A", "Z9", "(masterpiece:1.2), best quality, <lora:add_detail:0.8>",
           "1girl, solo, BREAK, looking at viewer", "iPhone LoRA SDXL McDonald's",
           "a cat\r\nwith\ttabs\x00\x01 and \x7f", "漂亮的女孩, 高清, 8k", "café naïve Ærø",
           "emoji 🐱🐶 ok", "((((((", "   leading and trailing   ", "\n\n\n",
           "x" * 300, "ab12cd34" * 20, "\U0010ffff\uffff\ue000"]


@pytest.fixture(scope="module")
def model() -> cm2.Model:
    texts = [(t, 0) for t in LINES[:3000]] + [("blurry, lowres, bad anatomy", 1)]
    lex = cm2.Model.lexicon_only(*tr.build_lexicon([t for t, _ in texts]))
    ctx, case, flag = tr.count(lex, texts, 3)
    blob = tr.dump(lex, tr.bake(lex, ctx, tr.PARAMS, log=lambda m: None), case, flag,
                   tr.PARAMS)
    return cm2.read_table_file(blob)


@pytest.mark.parametrize("text", SPECIAL)
def test_special_round_trip(model, text):
    for p, n in ((text, ""), ("", text), (text, text[::-1])):
        assert model.decode(model.encode(p, n)) == (p, n)


def test_corpus_round_trip_and_size(model):
    held = LINES[3000:3300]
    total = raw = 0
    for t in held:
        d = model.encode(t, "")
        assert model.decode(d) == (t, "")
        total += len(d)
        raw += len(t.encode())
    assert total < raw / 3       # held-out natural prompts: well under 2.7 bits/char


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=80),
       st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_unicode_round_trips(model, p, n):
    assert model.decode(model.encode(p, n)) == (p, n)


def test_encoder_refuses(model):
    with pytest.raises(MetaError):
        model.encode("a\ud800b", "")
    with pytest.raises(LimitExceededError):
        model.encode("a" * (MAX_TEXT_CHARS + 1), "")


def _decode_or_error(model, data: bytes):
    try:
        p, n = model.decode(data)
    except AigifError:
        return None
    assert len(p) <= MAX_TEXT_CHARS and len(n) <= MAX_TEXT_CHARS
    return p, n


def test_malformed_streams_raise_only_aigif_errors(model):
    rnd = random.Random(21)
    good = model.encode("portrait of a knight, highly detailed, art by greg rutkowski",
                        "blurry")
    for _ in range(400):
        _decode_or_error(model, bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(40))))
    for k in range(len(good)):
        _decode_or_error(model, good[:k])
        for bit in range(8):
            b = bytearray(good)
            b[k] ^= 1 << bit
            _decode_or_error(model, bytes(b))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes(model, data):
    _decode_or_error(model, data)


def test_bounded_output(model):
    # every coded unit yields at least one character, so a stream of n bytes decodes at
    # most ~ 8n / (min bits per unit) characters or stops at the limit with an error
    data = b"\x00" * 4000
    got = _decode_or_error(model, data)
    assert got is None or len(got[0]) + len(got[1]) < 40_000


def test_table_is_corrupt_error():
    with pytest.raises(MetaError):
        cm2.Model(b"not a table")
