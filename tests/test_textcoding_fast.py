"""The compiled cm1 coder (aigif/textcoding/_cmfast.c) against the pure-Python reference.

Every check runs both paths on the same input: encode must give the same bytes, decode the
same strings or the same error (class and message). The reference is what
tests/test_textcoding.py pins to golden bytes; here it is the oracle.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aigif
from aigif.errors import AigifError, LimitExceededError, MetaError
from aigif.spec import MAX_TEXT_CHARS
from aigif.textcoding import cm, encode_text
from aigif.textcoding.rangecoder import Encoder

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT.parent / "shared" / "data" / "prompts"

if cm._cmfast is None:      # no compiler where this was installed: nothing to compare
    pytest.skip("aigif.textcoding._cmfast is not built", allow_module_level=True)

MODEL = cm.load_model()


@contextmanager
def pure():
    old = cm.USE_COMPILED
    cm.USE_COMPILED = False
    try:
        yield
    finally:
        cm.USE_COMPILED = old


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except AigifError as e:
        return ("error", type(e), str(e), getattr(e, "field", None))


def encode_both(p: str, n: str):
    assert MODEL.compiled() is not None
    with pure():
        ref = outcome(MODEL.encode, p, n)
    fast = outcome(MODEL.encode, p, n)
    assert fast == ref, (p[:200], n[:200])
    return ref


def decode_both(data: bytes):
    ref = outcome(MODEL.decode_py, data)
    fast = outcome(MODEL.decode, data)
    assert fast == ref, data[:64].hex()
    return ref


def roundtrip_both(p: str, n: str) -> bytes:
    r = encode_both(p, n)
    assert r[0] == "ok"
    assert decode_both(r[1]) == ("ok", (p, n))
    return r[1]


def test_compiled_is_used_by_default():
    assert cm.USE_COMPILED
    assert MODEL.compiled() is not None
    # the writer's and reader's entry points go through it
    assert cm.METHOD.decode(cm.METHOD.encode("a castle", "blurry")) == ("a castle", "blurry")


def test_env_var_selects_pure_python():
    code = ("from aigif.textcoding import cm; "
            "print(cm.USE_COMPILED, cm.METHOD.decode(cm.METHOD.encode('a cat', '')))")
    env = {**os.environ, "AIGIF_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip() == "False ('a cat', '')"


# ------------------------------------------------------------------- conformance vectors
def _cm1_vectors():
    out = []
    for f in sorted((ROOT / "spec" / "vectors" / "valid").glob("*.aigif")):
        a = aigif.loads(f.read_bytes())
        if a.text_method == cm.CODE:
            out.append(f)
    return out


CM1_VECTORS = _cm1_vectors()


def test_there_are_cm1_vectors():
    assert len(CM1_VECTORS) >= 5


@pytest.mark.parametrize("path", CM1_VECTORS, ids=lambda p: p.stem)
def test_vector_text_block(path):
    raw = path.read_bytes()
    meta = aigif.loads(raw).meta
    data = roundtrip_both(meta.prompt, meta.negative_prompt)
    block = encode_text(meta.prompt, meta.negative_prompt, method=cm.CODE)
    assert block[1:] == data and block in raw      # the compiled writer wrote this file
    for k in range(len(data)):                     # and every truncation reads the same
        decode_both(data[:k])


# ------------------------------------------------------------------- real prompts
def _prompt_sample(n: int = 600) -> list[tuple[str, str]]:
    rng = random.Random(14)
    lines = []
    for p in sorted((PROMPTS / "t2i-compbench").glob("*.txt")):
        if p.name != "LICENSE":
            lines += [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
    names = []

    def walk(node):
        for c in node.get("c", []):
            names.append(c["n"])
            walk(c)
    walk(json.loads((PROMPTS / "diffusiondb" / "phrases-tree.json").read_text()))
    out = []
    for _ in range(n):
        subject = rng.choice(lines)
        style = ", ".join(rng.choice(names) for _ in range(rng.randrange(0, 12)))
        p = subject + (", " + style if style else "")
        if rng.random() < 0.3:
            p = p.title() if rng.random() < 0.5 else p.upper()
        neg = rng.choice(["", "blurry", ", ".join(rng.sample(names, 5)), rng.choice(lines)])
        out.append((p, neg))
    return out


@pytest.mark.skipif(not PROMPTS.exists(), reason="needs ../shared/data/prompts")
def test_real_prompts_same_bytes():
    sample = _prompt_sample()
    for p, n in sample:
        roundtrip_both(p, n)


# ------------------------------------------------------------------- arbitrary text
SPECIALS = [
    ("", ""), (" ", " "), ("\x00", "\x7f\x80"), ("\n\r\t", "\u2028"),
    ("\U0010ffff" * 3 + "\U00010000", "\U0001f600\U0001f600 \U0001f601"),
    ("日本の城、油絵", "ぼやけた"), ("Portrait Of A Knight, HIGHLY DETAILED", "LoWrEs"),
    ("by greg rutkowski and alphonse mucha, trending on artstation", "by by by a the of"),
    ("(masterpiece:1.2), [a:b:0.5], <lora:x:0.8>, BREAK", "((worst quality))"),
    ("a" * MAX_TEXT_CHARS, "\U0001f600" * 50),
    ("highly detailed, " * 1900, "x y " * 4000),
    ("é" * MAX_TEXT_CHARS, ""),
    ("\ud7ff\ue000\ufffd\ufeff", "\U000e0001"),
]


@pytest.mark.parametrize("p,n", SPECIALS, ids=range(len(SPECIALS)))
def test_special_texts(p, n):
    roundtrip_both(p, n)


@settings(max_examples=400, deadline=None)
@given(st.text(), st.text())
def test_any_text(p, n):
    roundtrip_both(p, n)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(min_codepoint=0x80, blacklist_categories=("Cs",)), max_size=60),
       st.text(st.characters(min_codepoint=0x10000), max_size=30))
def test_non_ascii_and_astral_text(p, n):
    # lone surrogates are refused, by both paths alike: test_refused_texts
    roundtrip_both(p, n)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["highly detailed", ", ", " ", "(", ")", ":1.2", "Greg",
                                 "RUTKOWSKI", "8k", "日本", "🐱", "\n", "by", "a", "ÉCOLE",
                                 "x", "BREAK", "<lora:", ">", ",", ".", "Trending On",
                                 "the", "of", "and", "with", "  ", "\t", "4K", "art by"]),
                max_size=60),
       st.text(max_size=20))
def test_prompt_like_text(parts, n):
    roundtrip_both("".join(parts), n)


@pytest.mark.parametrize("p,n", [
    ("a\udc80b", ""), ("", "\ud800"),
    (b"caf\xe9 \xff".decode("utf-8", "surrogateescape"), "ok"),
    ("a" * (MAX_TEXT_CHARS + 1), ""), ("", "\U0001f600" * (MAX_TEXT_CHARS + 1)),
])
def test_refused_texts(p, n):
    r = encode_both(p, n)
    assert r[0] == "error" and r[1] in (MetaError, LimitExceededError)


# ------------------------------------------------------------------- malformed payloads
@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data):
    decode_both(data)


def test_structured_corruption():
    rng = random.Random(2)
    seeds = [roundtrip_both(p, n) for p, n in SPECIALS[:9]]
    checked = 0
    for data in seeds:
        for k in range(len(data) + 1):
            decode_both(data[:k])
            decode_both(data[:k] + bytes([rng.randrange(256)]))
            checked += 2
        for _ in range(200):
            b = bytearray(data)
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(len(b)) if b else 0
                if b:
                    b[i] ^= 1 << rng.randrange(8)
            decode_both(bytes(b))
            checked += 1
    for fill in (0x00, 0xFF, 0x80, 0x7F, 0x01):
        for k in range(0, 300, 7):
            decode_both(bytes([fill]) * k)
            checked += 1
    assert checked > 2000


def _stream(tokens_per_role) -> bytes:
    """A payload of explicit token lists (the reference coder, no limits checked)."""
    enc = Encoder()
    state = [-1]
    for role, toks in enumerate(tokens_per_role):
        MODEL._encode_tokens(enc, role, toks, state)
    return enc.finish()


def test_limits_and_escape_errors_match():
    m = MODEL
    m._prepare_encoder()
    word = m.index["highly detailed"]
    over_words = [(word, 0, "highly detailed")] * (MAX_TEXT_CHARS // 15 + 1)
    over_spell = [(m.SPELL, 0, "q" * (MAX_TEXT_CHARS + 1))]
    exact = [(m.SPELL, 0, "q" * MAX_TEXT_CHARS)]
    cases = {
        "words": _stream([over_words, []]),
        "spelled": _stream([[], over_spell]),
        "exact": _stream([exact, exact]),
    }
    for name, data in cases.items():
        r = decode_both(data)
        if name == "exact":
            assert r == ("ok", ("q" * MAX_TEXT_CHARS,) * 2)
        else:
            assert r[0] == "error" and r[1] is LimitExceededError, name
        # truncated in the middle: malformed or a shorter text, the same either way
        for k in (1, 7, len(data) // 2, len(data) - 1):
            decode_both(data[:k])


def test_threads_share_one_coder():
    texts = [(f"a castle number {i}, highly detailed, 日本 {i}", "blurry") for i in range(50)]
    want = [cm.METHOD.encode(p, n) for p, n in texts]
    errors = []

    def work():
        for (p, n), b in zip(texts, want):
            if cm.METHOD.encode(p, n) != b or cm.METHOD.decode(b) != (p, n):
                errors.append((p, n))

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_bad_tables_fall_back_to_the_reference():
    class Fake:
        pass
    f = Fake()
    f.tabs, f.gtab, f.case, f.chars, f.uni = MODEL.tabs[:3], MODEL.gtab, MODEL.case, [], MODEL.uni
    f.vocab, f.parent, f.big = MODEL.vocab, MODEL.parent[:3], {}
    assert cm._make_compiled(f) is False
