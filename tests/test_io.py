"""Round trips, canonical writes, defaults elision and the byte budget."""
import io
import struct

import pytest

import aigif
from aigif import AigifFile, GenerationMeta, Lora, Payload, Platform, RawElement
from aigif.errors import CanonicalFormError, MetaError


def test_roundtrip_paths_fileobjects_bytes(tmp_path):
    m = GenerationMeta(model="sd15", prompt="a castle on a hill, oil painting",
                       negative_prompt="blurry", seed=1234, steps=30, guidance_scale=7.5,
                       scheduler="dpmpp_2m_karras", width=512, height=512)
    p = tmp_path / "castle.aigif"
    n = aigif.save(m, p)
    assert n == p.stat().st_size
    assert aigif.open(p).meta == m
    assert aigif.open(str(p)).meta == m
    with open(p, "rb") as fh:
        assert aigif.open(fh).meta == m
    assert aigif.loads(p.read_bytes()).meta == m
    buf = io.BytesIO()
    aigif.save(m, buf)
    assert buf.getvalue() == p.read_bytes()


def test_save_is_atomic_and_leaves_no_temp_on_error(tmp_path):
    p = tmp_path / "x.aigif"
    p.write_bytes(b"old")
    with pytest.raises(MetaError):
        aigif.save(GenerationMeta(model="sd15", extensions={"not.registered": 1}), p)
    assert p.read_bytes() == b"old"
    assert [q.name for q in tmp_path.iterdir()] == ["x.aigif"]


def test_defaults_are_elided_and_resolved():
    bare = aigif.dumps(GenerationMeta(model="sd15", prompt="p", seed=1))
    explicit = aigif.dumps(GenerationMeta(model="sd15", prompt="p", seed=1, steps=50,
                                          guidance_scale=7.0, scheduler="pndm", width=512,
                                          height=512, clip_skip=0))
    assert bare == explicit
    m = aigif.loads(bare).meta
    assert (m.steps, m.guidance_scale, m.scheduler, m.width, m.height) == (50, 7.0, "pndm", 512, 512)


def test_hand_built_bytes_match_the_spec():
    # Built by hand from spec/aigif-v1.md: "AI", 0xF1 (version 1), presence TEXT|SEED|STEPS (0x07),
    # model code 17 (sd15), seed u32 BE, steps varint 30, text block: method 0, len 2, "hi".
    from binascii import crc_hqx
    body = b"AI\xf1" + bytes([0x07, 17]) + struct.pack(">I", 1234) + bytes([30]) + b"\x00\x02hi"
    crc = crc_hqx((len(body) + 2).to_bytes(4, "big"), crc_hqx(body, 0xFFFF))
    want = body + crc.to_bytes(2, "big")
    got = aigif.dumps(AigifFile(GenerationMeta(model="sd15", prompt="hi", seed=1234, steps=30),
                                text_method=0))
    assert got == want
    assert aigif.loads(want).meta.seed == 1234


def test_typical_file_overhead_is_at_most_six_bytes():
    # signature+version (3) + presence word (1) + check (2) = 6 bytes of framing
    m = GenerationMeta(model="sd15", prompt="x", seed=3954772125, steps=30)
    data = aigif.dumps(AigifFile(m, text_method=0))
    payload = 1 + 4 + 1 + (1 + 1 + 1)   # model, seed, steps, text(method, len, 'x')
    assert len(data) - payload == 6


@pytest.mark.parametrize("g", [0.0, 0.5, 1.0, 3.5, 7.0, 7.5, 12.0, 31.5, 7.25, 6.8, 1.234,
                               7.123456789, 999.999, 1e-9])
def test_guidance_exact(g):
    m = GenerationMeta(model="sd15", guidance_scale=g)
    assert aigif.loads(aigif.dumps(m)).meta.guidance_scale == g


def test_guidance_half_steps_cost_one_byte():
    a = len(aigif.dumps(GenerationMeta(model="sd15", guidance_scale=7.5)))
    b = len(aigif.dumps(GenerationMeta(model="sd15")))
    assert a - b == 1


@pytest.mark.parametrize("seed,extra", [(0, 4), (2**32 - 1, 4), (2**32, 8), (2**64 - 1, 8)])
def test_seed_raw_bits(seed, extra):
    base = len(aigif.dumps(GenerationMeta(model="sd15")))
    data = aigif.dumps(GenerationMeta(model="sd15", seed=seed))
    # SEED_HIGH lives in the second presence byte
    assert len(data) - base == extra + (1 if seed >= 2**32 else 0)
    assert aigif.loads(data).meta.seed == seed


@pytest.mark.parametrize("w,h", [(512, 768), (1024, 1024), (520, 776), (1, 16384), (832, 1216)])
def test_sizes(w, h):
    m = GenerationMeta(model="sd15", width=w, height=h)
    assert aigif.loads(aigif.dumps(m)).meta == m


def test_unknown_ancillary_element_is_kept_byte_for_byte():
    f = AigifFile(GenerationMeta(model="sd15", prompt="x"),
                  unknown_elements=(RawElement(5000, False, b"\x00future\xff"),))
    data = aigif.dumps(f)
    g = aigif.loads(data)
    assert g.unknown_elements == (RawElement(5000, False, b"\x00future\xff"),)
    assert aigif.dumps(g) == data


def test_everything_roundtrips():
    m = GenerationMeta(model="org/model", generator="sdxl", model_revision="a" * 40,
                       prompt="p", negative_prompt="n", seed=2**40 + 3, steps=7,
                       guidance_scale=3.3, scheduler="unipc", width=640, height=960,
                       clip_skip=2, loras=(Lora("a", 0.8), Lora("b", -1.25, 0.5, "ff00")),
                       params={"denoise": 0.4, "k": "v", "n": -7, "z": None, "b": b"\x01"},
                       platform=Platform(device="cuda", accelerator="A100", torch="2.5.1",
                                         diffusers="0.31", transformers="4.46",
                                         dtype="bfloat16", rng_device="cpu",
                                         flags=frozenset({"deterministic_algorithms"}),
                                         threads=8))
    f = AigifFile(m, info={"author": "me"}, source={"parameters": "x" * 3000},
                  payload=Payload("webp", b"RIFF"), residual=b"r",
                  fingerprint=aigif.Fingerprint(1, 640, 960, b"12345678"))
    g = aigif.loads(aigif.dumps(f))
    assert g == f
    assert len(aigif.dumps(f)) < 3000     # the source text is compressed


def test_pixels_only_file():
    f = AigifFile(None, payload=Payload("png", b"\x89PNG"))
    g = aigif.loads(aigif.dumps(f))
    assert g.meta is None and g.payload == f.payload
    with pytest.raises(MetaError):
        aigif.dumps(AigifFile(None))


def test_lenient_reader_accepts_non_canonical():
    from binascii import crc_hqx
    body = b"AI\xf1" + bytes([0x04, 17, 50])     # steps stored although default
    data = body + crc_hqx((len(body) + 2).to_bytes(4, "big"), crc_hqx(body, 0xFFFF)).to_bytes(2, "big")
    with pytest.raises(CanonicalFormError):
        aigif.loads(data)
    assert aigif.loads(data, strict=False).meta.steps == 50


def test_register_extension_roundtrip_and_critical_refusal():
    from construct import Int16ub, Struct
    aigif.register_extension("acme.strength", 4097, Struct("level" / Int16ub), critical=True)
    try:
        m = GenerationMeta(model="sd15", extensions={"acme.strength": {"level": 300}})
        data = aigif.dumps(m)
        assert aigif.loads(data).meta.extensions["acme.strength"].level == 300
        with pytest.raises(aigif.RegistryError):
            aigif.register_extension("acme.other", 4097, Struct("x" / Int16ub))
        with pytest.raises(aigif.RegistryError):
            aigif.register_extension("acme.bad", 12, Struct("x" / Int16ub))
    finally:
        aigif.unregister_extension("acme.strength")
    with pytest.raises(aigif.UnknownCriticalElementError):
        aigif.loads(data)


def test_meta_validation_messages():
    with pytest.raises(MetaError, match="unknown scheduler 'dpm'"):
        GenerationMeta(model="sd15", scheduler="dpm")
    with pytest.raises(MetaError, match="steps"):
        GenerationMeta(model="sd15", steps=0)
    with pytest.raises(MetaError, match="guidance"):
        GenerationMeta(model="sd15", guidance_scale=float("nan"))
    with pytest.raises(aigif.UnknownModelError, match="sd51"):
        GenerationMeta(model="sd51")
    with pytest.raises(MetaError, match="generator"):
        GenerationMeta(model="org/name")
    with pytest.raises(MetaError, match="surrogate"):
        GenerationMeta(model="sd15", prompt="\ud800")
    with pytest.raises(MetaError):
        GenerationMeta(model="sd15", seed=2**64)
    with pytest.raises(MetaError):
        GenerationMeta(model="sd15", seed=True)


def test_from_dict_to_dict_roundtrip():
    m = GenerationMeta(model="sd15", prompt="p", seed=5, params={"b": b"\x00"},
                       loras=(Lora("x", 0.5),))
    assert GenerationMeta.from_dict(m.to_dict()) == m
    with pytest.raises(MetaError, match="unknown keys"):
        GenerationMeta.from_dict({"model": "sd15", "cfg": 7})
