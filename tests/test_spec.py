"""spec/aigif-v1.md says the same as the code: syntax tables vs the construct schema,
code tables vs aigif.spec, limits vs aigif.spec.limits."""
import re
from pathlib import Path

import pytest

from aigif import spec
from aigif.bitstream import elements
from aigif.meta import SCHEDULERS
from aigif.spec import limits
from aigif.stages import UPSCALERS

DOC = (Path(__file__).resolve().parents[1] / "spec" / "aigif-v1.md").read_text(encoding="utf-8")


def tables(kind: str) -> dict[str, list[list[str]]]:
    out = {}
    for m in re.finditer(rf"^### {kind}: (\S+(?: \S+)*)\n(.*?)(?=^#|\Z)", DOC, re.M | re.S):
        rows = [ln for ln in m.group(2).splitlines() if ln.startswith("|")]
        out[m.group(1).replace(" ", "_")] = [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]
    return out


SYNTAX = tables("Syntax")
CODES = tables("Codes")


def test_every_schema_structure_has_a_table():
    assert set(SYNTAX) == set(elements.SYNTAX)


@pytest.mark.parametrize("name", sorted(elements.SYNTAX))
def test_syntax_table_matches_schema(name):
    col = 1 if name in ("stage_fields", "video_fields") else 0   # these start with the bit
    assert [r[col] for r in SYNTAX[name]] == elements.SYNTAX[name]


def _subcon_names(struct):
    return [sc.name for sc in struct.subcons
            if sc.name and not sc.name.startswith("_") and sc.name not in ("offset", "text_offset", "count")]


def test_schema_field_order_matches_syntax_constant():
    assert _subcon_names(elements.Body) == elements.SYNTAX["body"]
    assert _subcon_names(elements.ModelRef) == elements.SYNTAX["model"]
    assert _subcon_names(elements.PlatformBody) == elements.SYNTAX["platform"]
    assert _subcon_names(elements.ElementFrame) == elements.SYNTAX["element"]
    assert _subcon_names(elements.FingerprintBody) == elements.SYNTAX["fingerprint"]
    assert _subcon_names(elements.PixelsBody) == elements.SYNTAX["pixels"]
    assert _subcon_names(elements.SourceBody) == elements.SYNTAX["source"]
    assert _subcon_names(elements.LoraItem) == elements.SYNTAX["lora"]
    assert _subcon_names(elements.ResidualBody) == elements.SYNTAX["residual"]
    stage = _subcon_names(elements.StageItem)
    assert stage[:2] == elements.SYNTAX["stages"][:2]
    assert stage[2:] == elements.SYNTAX["stage_fields"]
    video = _subcon_names(elements.VideoBody)
    assert video[:1] == elements.SYNTAX["video"][:1]
    assert video[1:] == elements.SYNTAX["video_fields"]
    assert _subcon_names(elements.FrameRate) == elements.SYNTAX["frame_rate"]


def test_video_fields_table():
    """bit and name of "Syntax: video fields" vs spec.VideoField, the schema and aigif.Video."""
    from dataclasses import fields

    from aigif import Video
    rows = SYNTAX["video_fields"]
    assert {int(r[0]): r[1].upper() for r in rows} == {
        b.bit_length() - 1: b.name for b in spec.VideoField}
    assert [r[1] for r in rows] == [f.name for f in fields(Video)]


def test_video_generator_codes_and_defaults():
    """"Codes: video generators" vs the frozen VideoDefaults of each video family, and the
    image-family table holds every video family too."""
    doc = {int(r[0]): r[1:9] for r in CODES["video_generators"]}
    dash = lambda v: "—" if v is None else str(v)   # noqa: E731
    for g in spec.GENERATORS:
        v = g.defaults.video
        if v is None:
            continue
        assert not v.vae_tiling
        assert doc.pop(g.code) == [g.key, str(v.frames), str(v.fps), dash(v.flow_shift),
                                   dash(v.motion_adapter), dash(v.decode_chunk_size),
                                   dash(v.motion_bucket_id), dash(v.noise_aug_strength)]
    assert not doc


def test_stage_fields_table():
    """bit, name and field order of "Syntax: stage fields" vs spec.StageField and the schema."""
    rows = SYNTAX["stage_fields"]
    assert [r[1] for r in rows] == elements.SYNTAX["stage_fields"]
    assert {int(r[0]): r[1].upper() for r in rows} == {
        b.bit_length() - 1: b.name for b in spec.StageField}


def _bits(text: str) -> int:
    out = 0
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        out |= sum(1 << b for b in range(int(lo), int(hi or lo) + 1))
    return out


def test_stage_kinds_table():
    doc = {int(r[0]): (r[1], _bits(r[2])) for r in CODES["stage_kinds"]}
    assert doc == {int(k): (k.name.lower(), spec.STAGE_FIELDS[k]) for k in spec.StageKind}


def test_upscaler_codes():
    assert {int(r[0]): r[1] for r in CODES["upscalers"]} == {v: k for k, v in UPSCALERS.items()}


def test_presence_bits():
    rows = re.search(r"### 3.1 Presence bits\n\n(.*?)\n\n", DOC, re.S).group(1).splitlines()[2:]
    doc = {int(r.split("|")[1]): r.split("|")[2].strip() for r in rows}
    assert doc == {b.bit_length() - 1: b.name for b in spec.Presence}


def test_scheduler_codes():
    assert {int(c): k for c, k in CODES["schedulers"]} == {v: k for k, v in SCHEDULERS.items()}


def test_generator_codes_and_defaults():
    doc = {int(r[0]): r[1:] for r in CODES["generators"]}
    for g in spec.GENERATORS:
        d = g.defaults
        assert doc.pop(g.code) == [g.key, str(d.steps), str(d.guidance_scale), d.scheduler,
                                   str(d.width), str(d.height)]
    assert not doc


def test_model_codes_and_defaults():
    doc = {int(r[0]): r[1:] for r in CODES["models"]}
    for m in spec.MODELS:
        d = m.defaults
        assert doc.pop(m.code) == [m.key, m.generator, str(d.steps), str(d.guidance_scale),
                                   d.scheduler, str(d.width), str(d.height)]
    assert not doc


@pytest.mark.parametrize("table,enum", [("devices", spec.Device), ("dtypes", spec.DType),
                                        ("text", spec.TextMethod), ("pixel", spec.PixelCodec)])
def test_small_code_tables(table, enum):
    name = next(k for k in CODES if k == table)
    # a pixel codec's key may hold "-" (omni-icm), which an enum name spells "_"
    expected = {int(e): e.name.lower() for e in enum} if table != "pixel" else \
        {int(e): e.name.lower().replace("_", "-") for e in enum}
    assert {int(c): k for c, k in CODES[name]} == expected


def test_determinism_flags():
    assert {int(b): k for b, k in CODES["determinism"]} == {
        f.value.bit_length() - 1: f.name.lower() for f in spec.DeterminismFlag}


def test_element_ids_and_criticality():
    doc = {int(r[0]): (r[1], r[2]) for r in CODES["elements"]}
    for e in spec.Element:
        name, crit = doc.pop(int(e))
        assert name == e.name.lower()
        assert (crit == "yes") == spec.ELEMENT_CRITICAL.get(e, True)
    assert not doc


def test_limits_table():
    rows = re.search(r"## 7. Limits\n(.*?)\n## ", DOC, re.S).group(1)
    doc = {m.group(1): m.group(2) for m in re.finditer(r"^\| (MAX_\w+) \| ([\d.]+) \|", rows, re.M)}
    assert doc == {n: str(getattr(limits, n)) for n in limits.__all__}
