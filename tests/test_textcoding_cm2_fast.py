"""The compiled cm2 decoder (aigif/textcoding/_cm2fast.c) against the pure-Python reference.

Every check decodes the same payload both ways: the same pair of texts, or the same error
(class, message and field). Payloads: the reference encoder's output for prompt-like, corpus
and arbitrary Unicode texts, and random, truncated and corrupted bytes, on the shipped table
and on a small hand-made table in which every unit may follow every context (with ESC in the
order-0 tables and zero case counts), so that every error of M3.3-M3.6 and §4/§5 is reached,
which the shipped table's grammar-aware tables mostly do not allow.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import threading
from array import array
from contextlib import contextmanager
from pathlib import Path

import pytest

from aigif.errors import AigifError, LimitExceededError, MalformedError, MetaError
from aigif.spec import MAX_TEXT_CHARS
from aigif.textcoding import cm2
from aigif.textcoding.rangecoder import Encoder

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "prompts"

if cm2._cm2fast is None:    # no C compiler where this was installed: nothing to compare
    pytest.skip("aigif.textcoding._cm2fast is not built (no C compiler at install time); "
                "cm2 decodes with its pure-Python reference", allow_module_level=True)

TABLE = ROOT / "aigif" / "textcoding" / "data" / cm2.TABLE_FILE


@pytest.fixture(scope="module")
def model() -> cm2.Model:
    if not TABLE.exists():
        pytest.skip(f"{TABLE} is not there")
    return cm2.load_model()


@contextmanager
def compiled(on: bool):
    old = cm2.USE_COMPILED
    cm2.USE_COMPILED = on
    try:
        yield
    finally:
        cm2.USE_COMPILED = old


def outcome_of(fn, data: bytes):
    try:
        return ("ok", fn(data))
    except AigifError as e:
        return ("error", type(e), str(e), e.field)


def outcome(m: cm2.Model, data: bytes):
    return outcome_of(m.decode, data)


def both(m: cm2.Model, data: bytes):
    """The reference's outcome, after checking that the compiled decoder gives the same."""
    with compiled(True):
        fast = outcome(m, data)
    assert m._fast_decode, "the compiled decoder refused the tables"
    with compiled(False):
        ref = outcome(m, data)
    assert fast == ref, data[:80].hex()
    return ref


def round_trip(m: cm2.Model, p: str, n: str) -> bytes:
    data = m.encode(p, n)
    assert both(m, data) == ("ok", (p, n))
    return data


# ------------------------------------------------------------------ texts
WORDS = ["masterpiece", "best quality", "1girl", "solo", "portrait", "of", "a", "the", "knight",
         "Greg Rutkowski", "iPhone", "McDonald's", "SDXL", "LoRA", "8k", "35mm", "日本の城",
         "🐱", "café", "BREAK", "highly detailed", "trending on artstation", "by", "and",
         "cinematic lighting", "UHD", "octane render", "x4", "2024", "EasyNegative", "Ærø",
         "𝓯𝓪𝓷𝓬𝔂", "ultra-detailed", "f/1.8", "gReG", "\u200d", "Zoë", "e\u0301",
         "ArtStation", "HDR", "DSLR", "4K UHD", "sks", "a1b2c3", "0.5", "漂亮的女孩"]
SEPS = [", ", " ", ". ", " | ", "\n", ", (", ":1.2), ", " <lora:", ":0.8> ", "((", ")) ",
        "; ", "! ", "? ", " - ", "_", "\t", "，", "、", " , ", ",", " [", "] ", "\r\n"]


def prompt_like(rnd: random.Random) -> str:
    out = []
    for _ in range(rnd.randrange(1, 30)):
        w = rnd.choice(WORDS)
        r = rnd.random()
        if r < 0.1:
            w = w.upper()
        elif r < 0.2:
            w = w.title()
        elif r < 0.25:
            w = "".join(c.upper() if rnd.random() < 0.5 else c for c in w)
        out += [w, rnd.choice(SEPS)]
    return "".join(out)[:rnd.randrange(0, 400)]


def any_unicode(rnd: random.Random) -> str:
    def ch():
        r = rnd.random()
        if r < 0.4:
            return chr(rnd.randrange(32, 127))
        if r < 0.6:
            return chr(rnd.randrange(0, 0x800))
        if r < 0.9:
            c = rnd.randrange(0x800, 0x10000)
            return chr(c) if not 0xD800 <= c <= 0xDFFF else "x"
        return chr(rnd.randrange(0x10000, 0x110000))
    return "".join(ch() for _ in range(rnd.randrange(0, 60)))


def sd_prompts() -> list[str]:
    with open(ROOT / "benchmarks" / "sd_prompts.txt", encoding="utf-8") as f:
        return [ln.rstrip("\n") for ln in f if ln.strip()]


def corpus_sample(n: int) -> list[str]:
    lines = [ln.strip() for f in sorted(SHARED.glob("t2i-compbench/*.txt"))
             for ln in f.read_text(encoding="utf-8").splitlines()]
    lines = sorted({ln for ln in lines if ln})
    return random.Random(5).sample(lines, min(n, len(lines)))


def test_compiled_is_the_default_and_aigif_pure_python_turns_it_off():
    code = "from aigif.textcoding import cm2; print(cm2.USE_COMPILED)"
    for env, want in (("", "True"), ("0", "True"), ("1", "False")):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=ROOT, env={**os.environ, "AIGIF_PURE_PYTHON": env},
                           timeout=120)
        assert r.stdout.strip() == want, (env, r.stdout, r.stderr)


def test_spec_vectors(model):
    path = ROOT / "spec" / "vectors" / "text" / "cm2.json"
    if not path.exists():
        pytest.skip(f"{path} is not there")
    vec = json.loads(path.read_text(encoding="utf-8"))
    if vec["table_sha256"] != hashlib.sha256(TABLE.read_bytes()).hexdigest():
        pytest.skip("the vectors are of another table (rebuild them: make_text_vectors.py)")
    for v in vec["vectors"]:
        data = bytes.fromhex(v["payload"])
        assert both(model, data) == ("ok", (v["prompt"], v["negative"])), v["name"]
        for k in range(len(data)):        # and every truncation of it
            both(model, data[:k])


def test_prompt_like_corpus_and_unicode_texts(model):
    rnd = random.Random(21)
    texts = sd_prompts() + corpus_sample(400)
    texts += [prompt_like(rnd) for _ in range(1500)]
    texts += [any_unicode(rnd) for _ in range(600)]
    texts += ["".join(rnd.choice("aAbBzZ09") for _ in range(rnd.randrange(1, 12)))
              for _ in range(300)]                       # every case mode, flags
    for i, t in enumerate(texts):
        neg = texts[i - 7] if i % 3 == 0 else ""
        round_trip(model, t, neg)
    assert len(texts) >= 2500


def test_long_texts_and_the_limit(model):
    for p, n in (("ab, " * (MAX_TEXT_CHARS // 4), "\U0001f600" * 10),
                 ("", "a." * (MAX_TEXT_CHARS // 2)), ("x" * 1500, "Y" * 1000)):
        round_trip(model, p, n)
    # over the limit (the encoder refuses such texts: code them below its check)
    for p, n in (("ab, " * (MAX_TEXT_CHARS // 4) + "a", ""), ("", "é" * (MAX_TEXT_CHARS + 1)),
                 ("Word " * (MAX_TEXT_CHARS // 5 + 1), "")):
        enc = Encoder()
        prev = [-1]
        model._encode_text(enc, p, cm2.BOS0, prev)
        model._encode_text(enc, n, cm2.BOS1, prev)
        got = both(model, enc.finish())
        assert got[:2] == ("error", LimitExceededError)


def test_random_truncated_and_corrupted_payloads(model):
    rnd = random.Random(7)
    kinds = set()
    for _ in range(2500):
        r = both(model, bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(80))))
        kinds.add(r[1] if r[0] == "error" else "ok")
    goods = [model.encode(prompt_like(rnd), rnd.choice(["", "blurry, lowres"]))
             for _ in range(25)]
    goods.append(model.encode("portrait of a knight, highly detailed, art by greg rutkowski",
                              "blurry"))
    for good in goods:
        for k in range(len(good)):
            both(model, good[:k])
            b = bytearray(good)
            b[k] ^= 1 << rnd.randrange(8)
            both(model, bytes(b))
            b[k] = rnd.getrandbits(8)
            both(model, bytes(b) + bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(4))))
    for data in (b"", bytes(4000), b"\xff" * 4000, b"\x80" * 4000, b"\x01" * 200):
        both(model, data)
    assert MalformedError in kinds and "ok" in kinds


def test_threads_share_one_decoder(model):
    rnd = random.Random(3)
    pairs = [(prompt_like(rnd), prompt_like(rnd)) for _ in range(200)]
    payloads = [model.encode(p, n) for p, n in pairs]
    bad = []

    def work():
        with_errors = [bytes(rnd.getrandbits(8) for _ in range(20)) for _ in range(50)]
        for _ in range(5):
            if [model.decode(d) for d in payloads] != pairs:
                bad.append(1)
            for d in with_errors:
                outcome(model, d)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_arrays_are_not_copied(model):
    if not isinstance(model.keys, memoryview):
        pytest.skip("a big-endian host: the model holds converted arrays")
    with compiled(True):
        outcome(model, b"")
    assert model._fast_decode
    with pytest.raises(BufferError):     # the compiled decoder holds a view of the table
        model.keys.release()


# ------------------------------------------------------------------ a hand-made table
UNITS = [("", "e"), ("", "u"), ("", "b"), ("", "b"), (" ", "g"), (", ", "g"), (". ", "g"),
         ("\n", "g"), ("é!", "g"), ("(", "g"), ("ab", "n"), ("c1", "f"), ("x", "f"),
         ("12", "f"), ("9", "n"), ("", "f"), ("Qz", "f"), ("hello", "f"), ("w", "n"),
         ("", "n"), ("-", "f")]


def _wide_tables(rnd: random.Random, n: int) -> dict:
    """Full chains of 256-entry tables (255 symbols + ESC, the exclusion bound of M3.4) for
    every history over BOS and the gaps 5, 6, 7, 9, which are likely, as are END and ESC."""
    def table():
        t = {s: rnd.randrange(1, 6) for s in rnd.sample(range(10, n), 250)}
        return t | {0: 300, 5: 400, 6: 400, 7: 300, 9: 300, 0xFFFF: 600}
    tables = {pos << 2: table() for pos in range(3)}
    ids = [2, 3, 5, 6, 7, 9]
    for pos in range(3):
        for h0 in ids:
            for h1 in ids:
                for h2 in ids:
                    tables[1 | pos << 2 | h0 << 4] = table()
                    tables[2 | pos << 2 | h0 << 4 | h1 << 20] = table()
                    tables[3 | pos << 2 | h0 << 4 | h1 << 20 | h2 << 36] = table()
    return tables


def small_table(seed: int = 1, wide: bool = False, **bad) -> bytes:
    """A table file's decompressed bytes (spec M3.2) with every unit legal everywhere."""
    rnd = random.Random(seed)
    units = [u for u, _ in UNITS] + [f"<{i}>" for i in range(250 if wide else 0)]
    kinds = "".join(k for _, k in UNITS) + "g" * (len(units) - len(UNITS))
    n = len(units)
    tables = {}
    for pos in range(3):
        tables[pos << 2] = {s: rnd.randrange(1, 60) for s in range(n)} | {0xFFFF: 3}
    hist_ids = [2, 3] + list(range(5, n))
    for k in (1, 2, 3):
        for pos in range(3):
            for _ in range(40):
                key = k | pos << 2
                for j in range(k):
                    key |= rnd.choice(hist_ids) << (4 + 16 * j)
                t = {s: rnd.randrange(1, 300) for s in rnd.sample(range(n), rnd.randrange(1, 8))}
                if rnd.random() < 0.8:
                    t[0xFFFF] = rnd.randrange(1, 100)
                tables[key] = t
    if wide:
        tables = _wide_tables(rnd, n)
    keys = sorted(tables)
    if bad.get("keys_unsorted"):
        keys[1], keys[2] = keys[2], keys[1]
    start, syms, cum = array("I", [0]), array("H"), array("I")
    for key in keys:
        c = 0
        for s, f in sorted(tables[key].items()):
            syms.append(s)
            cum.append(c)
            c += f
        syms.append(0xFFFF)
        cum.append(c)
        start.append(len(syms))
    if bad.get("sym_out_of_range"):
        syms[0] = n + 5
    if bad.get("syms_unsorted"):      # (exclusion searches a table's ascending symbols)
        syms[0], syms[1] = syms[1], syms[0]
    if bad.get("non_ascii_piece"):
        units[11] = "ç1"
    case = [[rnd.choice([0, 1, 5, 40]) for _ in range(4)] for _ in range(15)]
    for c in case:
        c[rnd.randrange(4)] += 1
    head = {"version": cm2.MODEL_VERSION, "units": units, "kinds": kinds,
            "space": 4, "merges": "", "nctx": len(keys), "nent": len(syms), "case": case,
            "flag": [[3, 1], [1, 3]]}
    hj = json.dumps(head, ensure_ascii=True).encode("ascii")
    hj += b" " * (-(12 + len(hj)) % 8)
    return (cm2.MAGIC + struct.pack("<I", len(hj)) + hj + array("Q", keys).tobytes()
            + start.tobytes() + syms.tobytes() + b"\0\0" * (len(syms) % 2) + cum.tobytes())


MESSAGES = ["code value past the range", "ends before its last symbol", "escape from order 0",
            "ends inside a word", "word piece right after a word", "gap inside a word",
            "a BOS unit", "'same block' escape", "escaped surrogate",
            "text over 60 characters"]


def gaps_past_the_limit(m: cm2.Model) -> bytes:
    """A prompt of gap units longer than cm2.MAX_TEXT_CHARS (the reference's chain coder)."""
    enc = Encoder()
    hist, n = [cm2.BOS0], 0
    while n <= cm2.MAX_TEXT_CHARS:
        for s in (5, 6, 7, 8, 9):
            state = enc.low, enc.rng, enc.shifts
            try:
                m._code(enc, cm2.P_GAP, hist, s)
            except MetaError:       # behind a table without ESC: undo, try the next gap
                enc.low, enc.rng, enc.shifts = state
                continue
            hist.append(s)
            n += len(m.units[s])
            break
        else:
            raise AssertionError("no gap codes here")
    return enc.finish()


def test_every_error_and_case_path_on_a_small_table(monkeypatch):
    monkeypatch.setattr(cm2, "MAX_TEXT_CHARS", 60)     # read by both decoders
    rnd = random.Random(11)
    seen = set()
    for seed in (1, 2, 3):
        m = cm2.Model(small_table(seed))
        payloads = [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 40)))
                    for _ in range(1500)]
        payloads += [bytes(300), b"\xff" * 300, b"\xff" * 6, b"\x80" * 50]
        for block in (0xD8, 0xDF, 0x4E):        # UNI: a surrogate, then a plain code point
            enc = Encoder()
            m._code(enc, cm2.P_GAP, [cm2.BOS0], cm2.UNI)
            u = m.uni.cum
            enc.encode(u[block], u[block + 1] - u[block], u[-1])
            enc.encode(0x2D, 1, 256)
            payloads.append(enc.finish())
        payloads.append(gaps_past_the_limit(m))
        for data in payloads:
            r = both(m, data)
            if r[0] == "ok":
                seen.add("ok")
                if any(c in "ABCXHELW" for c in "".join(r[1])):    # a re-cased piece
                    seen.add("recased")
            else:
                seen.update(msg for msg in MESSAGES if msg in r[2])
                assert r[3] == "text"
    missing = set(MESSAGES) - seen
    assert not missing, missing
    assert {"ok", "recased"} <= seen


def test_exclusion_through_full_chains_of_256_entry_tables():
    """Escapes from orders 3, 2, 1 and 0 in turn, each table at the exclusion bound: the
    largest exclusion set a unit can build (and ESC from order 0 after it)."""
    rnd = random.Random(12)
    m = cm2.Model(small_table(4, wide=True))
    seen = set()
    for _ in range(400):
        r = both(m, bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 40))))
        seen.add(r[0] if r[0] == "ok" else r[2])
    assert "ok" in seen and any("escape from order 0" in x for x in seen)


@pytest.mark.parametrize("bad", ["keys_unsorted", "sym_out_of_range", "non_ascii_piece",
                                 "syms_unsorted"])
def test_tables_the_compiled_decoder_refuses_decode_with_the_reference(bad):
    m = cm2.Model(small_table(1, **{bad: True}))
    assert m._compiled_decode() is False
    with compiled(True):
        got = [outcome(m, bytes([i, 7, 200, i])) for i in range(40)]
    with compiled(False):
        assert got == [outcome(m, bytes([i, 7, 200, i])) for i in range(40)]
    assert m._fast_decode is False


def test_decoder_checks_its_arguments():
    m = cm2.Model(small_table(1))
    args = dict(keys=m.keys, start=m.start, syms=m.syms, cum=m.cum, units=m.units,
                kinds=m.kinds, space=m.space, case=[c.cum for c in m.case],
                flag=[f.cum for f in m.flag], uni=m.uni.cum, max_chars=MAX_TEXT_CHARS,
                malformed=MalformedError, limit=LimitExceededError)
    dec = cm2._cm2fast.Decoder(**args)
    # lists instead of buffers are copied, with the same results
    dec2 = cm2._cm2fast.Decoder(**{**args, "keys": list(m.keys), "cum": list(m.cum)})
    for i in range(50):
        d = bytes([i, 3, i * 5 % 256, 9])
        assert outcome_of(dec.decode, d) == outcome_of(dec2.decode, d)
    for change in ({"keys": m.cum}, {"start": m.start[:-1]}, {"kinds": m.kinds[:-1]},
                   {"case": [c.cum for c in m.case][:-1]}, {"flag": [[0, 0, 0], [0, 1, 2]]},
                   {"uni": m.uni.cum[:-1]}, {"units": [1] * len(m.units)}, {"space": None},
                   {"keys": array("q", m.keys)}, {"max_chars": -1}):
        with pytest.raises((ValueError, TypeError)):
            cm2._cm2fast.Decoder(**{**args, **change})
    with pytest.raises(TypeError):
        dec.decode("not bytes")
