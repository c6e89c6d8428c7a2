"""Property tests: round trips over generated metadata; arbitrary bytes raise only
AigifError and never hang."""
import math
import string

from hypothesis import HealthCheck, given, settings, strategies as st

import aigif
from aigif import GenerationMeta, Lora
from aigif.meta import SCHEDULERS
from aigif.spec import MAX_DECOMPRESSED_PIXELS, MODELS

# Unicode without lone surrogates: CJK, emoji, combining marks, odd whitespace all included
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
prompt_like = st.one_of(
    text,
    st.text(alphabet=string.ascii_letters + " ,()[]:.<>|0123456789_-", max_size=200),
    st.sampled_from(["", "(masterpiece:1.2), best quality", "[a:b:0.5] BREAK <lora:x:0.8>",
                     "富士山 🌸", "e\u0301\u0308", " \t\n\u00a0\u2028\u3000 ", "\x00nul"]),
)
reals = st.one_of(st.floats(0, 1000, allow_nan=False), st.integers(0, 60).map(lambda x: x / 2),
                  st.integers(0, 30000).map(lambda x: x / 1000))


@st.composite
def metas(draw):
    model = draw(st.sampled_from([m.key for m in MODELS] + ["org/name", "ckpt:my model.safetensors"]))
    kw = {}
    if model in ("org/name",) or model.startswith("ckpt:"):
        kw["generator"] = draw(st.sampled_from(["sd", "sdxl", "flux"]))
        kw["model_revision"] = draw(st.one_of(st.none(), st.text("0123456789abcdef", min_size=1, max_size=40)))
    # a video model's frames x width x height must stay within the pixel budget
    v = GenerationMeta(model=model, **kw).video
    side = 16384 if v is None else math.isqrt(MAX_DECOMPRESSED_PIXELS // v.frames)
    return GenerationMeta(
        model=model, prompt=draw(prompt_like), negative_prompt=draw(prompt_like),
        seed=draw(st.one_of(st.none(), st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1))),
        steps=draw(st.one_of(st.none(), st.integers(1, 10000))),
        guidance_scale=draw(st.one_of(st.none(), reals)),
        scheduler=draw(st.one_of(st.none(), st.sampled_from(sorted(SCHEDULERS)))),
        width=draw(st.one_of(st.none(), st.integers(1, side))),
        height=draw(st.one_of(st.none(), st.integers(1, side))),
        clip_skip=draw(st.one_of(st.none(), st.integers(0, 12))),
        loras=tuple(draw(st.lists(st.builds(Lora, st.text(min_size=1, max_size=20),
                                            st.floats(-10, 10, allow_nan=False)), max_size=3))),
        params=draw(st.dictionaries(st.text(min_size=1, max_size=10), st.one_of(
            st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(allow_nan=False),
            st.text(max_size=20), st.binary(max_size=10)), max_size=4)),
        **kw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(metas())
def test_open_save_roundtrip(m):
    data = aigif.dumps(m)
    f = aigif.loads(data)
    assert f.meta == m
    assert aigif.dumps(f) == data          # canonical: save(open(b)) == b


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_aigif_errors(data):
    try:
        aigif.loads(data)
    except aigif.AigifError:
        pass


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=120))
def test_random_bodies_with_valid_header_and_check(body):
    from aigif.io import check_value
    raw = b"AI\xf1" + body
    data = raw + check_value(raw, len(raw) + 2).to_bytes(2, "big")
    try:
        f = aigif.loads(data)
    except aigif.AigifError:
        return
    # whatever parses strictly re-encodes to the same bytes, unless a compressor differs
    assert aigif.validate(data).ok
    assert aigif.loads(aigif.dumps(f)) == f


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_bodies_lenient(body):
    from aigif.io import check_value
    raw = b"AI\xf1" + body
    data = raw + check_value(raw, len(raw) + 2).to_bytes(2, "big")
    try:
        aigif.loads(data, strict=False)
    except aigif.AigifError:
        pass
