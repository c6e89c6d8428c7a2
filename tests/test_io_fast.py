"""The fast read/write/validate path (``aigif.io.FAST``) against the reference path
(construct schemas, full dataclass construction): the same results, and the same errors
(class, message, offset, field), on every conformance vector, ~10k mutants of the valid
vectors, and generated metadata. Speed is shown by ``benchmarks/format.py``, not here.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import aigif
from aigif import AigifFile, GenerationMeta, Lora, Platform, io as aio
from aigif.bitstream.elements import Body
from aigif.bitstream.fastbody import build_body, parse_body
from aigif.container import FileData, Payload
from aigif.io import HEADER_SIZE, check_value

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_fuzz import metas  # noqa: E402

VEC = Path(__file__).resolve().parents[1] / "spec" / "vectors"
VALID = sorted((VEC / "valid").glob("*.aigif"))
INVALID = sorted((VEC / "invalid").glob("*.aigif"))
BODY_FIELDS = ("presence", "seed_low", "seed_high", "steps", "guidance", "scheduler", "width",
               "height", "clip_skip", "platform", "text_offset", "text")
MODEL_FIELDS = ("kind", "generator", "hub_id", "content_hash", "ckpt_name", "revision")


def seal(raw: bytes) -> bytes:
    return raw + check_value(raw, len(raw) + 2).to_bytes(2, "big")


def mutants(data: bytes, step: int = 1):
    """The mutants of tests/attacks/test_attack_format.py (every ``step``-th position)."""
    raw = data[:-2]
    for i in range(0, len(raw), step):
        for b in (raw[i] ^ (1 << (i % 8)), raw[i] ^ 0x80, 0xFF, 0x00, 0x7F):
            yield seal(raw[:i] + bytes([b]) + raw[i + 1:])
        yield seal(raw[:i] + b"\x80" + raw[i:])
        yield seal(raw[:i] + raw[i + 1:])
        yield seal(raw[:i])
        yield seal(raw[:i] + b"\xff\xff\xff\xff\xff\xff\xff\xff\x3f" + raw[i + 1:])


def outcome(fn, *args, **kw):
    """What ``fn`` gives: ("ok", canonical description) or ("error", class, fields)."""
    try:
        r = fn(*args, **kw)
    except aigif.AigifError as e:
        return ("error", type(e).__name__, e.message, e.offset, e.field)
    if isinstance(r, aigif.ValidationReport):
        return ("ok", json.dumps(r.to_dict(), sort_keys=True, default=repr), repr(r.file))
    return ("ok", type(r).__name__, repr(r), r.text_method, r.size)


def both(fn, *args, **kw):
    old = aio.FAST
    try:
        aio.FAST = False
        ref = outcome(fn, *args, **kw)
        aio.FAST = True
        fast = outcome(fn, *args, **kw)
    finally:
        aio.FAST = old
    return ref, fast


def same_body(raw: bytes) -> bool:
    """parse_body gives None or exactly what Body.parse gives."""
    fast = parse_body(raw)
    if fast is None:
        return True
    ref = Body.parse(raw)   # must not raise: the fast parser accepted the body
    assert all(getattr(fast, n) == ref[n] for n in BODY_FIELDS), raw
    assert all(getattr(fast.model, n) == ref.model[n] for n in MODEL_FIELDS), raw
    if ref.elements is None:
        assert fast.elements is None
    else:
        assert [(f.offset, f.type, f.data) for f in fast.elements] == \
            [(f.offset, f.type, bytes(f.data)) for f in ref.elements], raw
    return True


def test_fast_path_is_on_by_default_and_off_with_pure_python():
    assert aio.FAST
    r = subprocess.run([sys.executable, "-c", "import aigif.io as i; print(i.FAST)"],
                       env={"AIGIF_PURE_PYTHON": "1", "PATH": ""}, capture_output=True,
                       text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stderr


@pytest.mark.parametrize("path", VALID + INVALID, ids=lambda p: p.name)
def test_vectors_same_on_both_paths(path):
    data = path.read_bytes()
    for strict in (True, False):
        ref, fast = both(aigif.loads, data, strict=strict)
        assert ref == fast
        ref, fast = both(aigif.validate, data, strict=strict)
        assert ref == fast
    if len(data) > 5:
        assert same_body(data[HEADER_SIZE:-2])


def test_valid_vectors_take_the_fast_parser():
    taken = [p.name for p in VALID if parse_body(p.read_bytes()[HEADER_SIZE:-2]) is not None]
    assert len(taken) >= len(VALID) - 2   # 27/43-pixels-only* (no model) go to the schema


def test_mutants_same_on_both_paths():
    """~10k mutants of the valid vectors: loads (strict and lenient) and the body parser on
    every one; validate on one in 3."""
    n = fast_ok = 0
    for path in VALID:
        for k, m in enumerate(mutants(path.read_bytes())):
            n += 1
            assert same_body(m[HEADER_SIZE:-2])
            for strict in (True, False):
                ref, fast = both(aigif.loads, m, strict=strict)
                assert ref == fast, (path.name, k)
                fast_ok += fast[0] == "ok"
            if k % 3 == 0:
                ref, fast = both(aigif.validate, m)
                assert ref == fast, (path.name, k)
    assert n > 5000 and fast_ok > 500


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(metas(), st.sampled_from([None, 0, 1]))
def test_generated_metas_same_on_both_paths(m, method):
    old = aio.FAST
    try:
        aio.FAST = False
        ref = aigif.dumps(AigifFile(m, text_method=method))
        aio.FAST = True
        fast = aigif.dumps(AigifFile(m, text_method=method))
    finally:
        aio.FAST = old
    assert ref == fast
    ref_r, fast_r = both(aigif.loads, ref)
    assert ref_r == fast_r and ref_r[0] == "ok"
    assert aigif.loads(ref).meta == m
    ref_v, fast_v = both(aigif.validate, ref)
    assert ref_v == fast_v


def _reader_kw(m: GenerationMeta) -> dict:
    """The keyword arguments ``aigif.io`` gives GenerationMeta for a file of ``m``."""
    kw = dict(model=m.model, prompt=m.prompt, negative_prompt=m.negative_prompt, seed=m.seed,
              platform=m.platform, params=dict(m.params), loras=m.loras,
              extensions=dict(m.extensions), steps=m.steps, guidance_scale=m.guidance_scale,
              scheduler=m.scheduler, width=m.width, height=m.height, clip_skip=m.clip_skip)
    if m.model.startswith(("ckpt:", "local:")) or "/" in m.model:
        kw.update(generator=m.generator, model_revision=m.model_revision)
    return kw


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(metas(), st.data())
def test_meta_from_reader_equals_construction(m, data):
    kw = _reader_kw(m)
    for name in data.draw(st.lists(st.sampled_from(
            ["steps", "guidance_scale", "scheduler", "width", "height", "clip_skip"]))):
        kw[name] = None        # left to the model's defaults
    cheap = GenerationMeta._from_reader(kw)
    full = GenerationMeta(**kw)
    if full.video is not None:   # video metas resolve their video fields in the constructor
        assert cheap is None
        return
    assert cheap is not None
    assert cheap == full and repr(cheap) == repr(full) and vars(cheap) == vars(full)
    assert type(cheap.params) is type(full.params)


BAD = [("steps", 0), ("steps", 10_001), ("steps", 2.0), ("guidance_scale", float("nan")),
       ("guidance_scale", -0.5), ("guidance_scale", 1e9), ("seed", -1), ("seed", 2**64),
       ("clip_skip", 65), ("prompt", "\ud800"), ("prompt", "x" * 40_000),
       ("scheduler", "nope"), ("width", 0), ("params", {"": 1}), ("params", {"a": -2**64}),
       ("model", "no such model"), ("generator", "nope"), ("model_revision", "x" * 2000),
       ("loras", (1,)), ("platform", "cpu")]


@pytest.mark.parametrize("name,value", BAD, ids=[f"{n}={v!r:.20}" for n, v in BAD])
def test_meta_from_reader_leaves_bad_values_to_the_constructor(name, value):
    kw = _reader_kw(GenerationMeta(model="sd15", prompt="a cat", seed=1))
    kw[name] = value
    assert GenerationMeta._from_reader(kw) is None
    with pytest.raises(aigif.MetaError):
        GenerationMeta(**kw)


def test_meta_from_reader_keeps_every_kind_of_value():
    m = GenerationMeta(model="org/name", generator="sdxl", model_revision="abc", prompt="p",
                       seed=2**40, params={"b": b"x", "a": -3, "c": 1.5}, guidance_scale=7,
                       loras=(Lora("x", 0.5, -1.0, "ab"),),
                       platform=Platform(device="cuda", flags=frozenset({"tf32_matmul"})))
    cheap = GenerationMeta._from_reader(_reader_kw(m))
    assert cheap == m and repr(cheap) == repr(m) and list(cheap.params) == ["a", "b", "c"]
    assert type(cheap.guidance_scale) is float


@dataclass(frozen=True, eq=False)
class _Tagged(FileData):
    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "size", -1)


@pytest.mark.parametrize("cls", [FileData, AigifFile, _Tagged])
def test_filedata_from_reader_equals_construction(cls):
    meta = GenerationMeta(model="sd15", prompt="a cat")
    values = {"info": {"k": "v"}, "payload": Payload("png", b"\x89PNG")}
    cheap = cls._from_reader(meta, dict(values), [], 2, 40)
    full = cls(meta=meta, unknown_elements=(), text_method=2, size=40, **values)
    assert type(cheap) is cls
    assert cheap == full and repr(cheap) == repr(full) and vars(cheap) == vars(full)


def test_build_body_equals_the_schema():
    for path in VALID:
        raw = path.read_bytes()[HEADER_SIZE:-2]
        ref = Body.parse(raw)
        body = {k: v for k, v in ref.items() if not k.startswith("_")}
        body["model"] = None if ref.model is None else dict(ref.model)
        if ref.elements is not None:
            body["elements"] = [{"offset": None, "type": fr.type, "data": bytes(fr.data)}
                                for fr in ref.elements]
        fast = build_body(body)
        assert fast is None or fast == Body.build(body) == raw, path.name
