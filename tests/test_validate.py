"""aigif.validate: issues with code, field, offset; warnings that don't fail a file."""
import aigif
from aigif import GenerationMeta


def test_valid_file_no_issues():
    r = aigif.validate(aigif.dumps(GenerationMeta(model="sd15", prompt="x", seed=1)))
    assert r.ok and r.issues == []


def test_warnings_do_not_fail():
    r = aigif.validate(aigif.dumps(GenerationMeta(model="org/x", generator="sd", prompt="x")))
    assert r.ok
    assert {i.code for i in r.warnings} == {"no-seed", "unpinned-model"}
    assert all(i.severity == "warning" for i in r.issues)


def test_error_has_offset_and_field():
    data = bytearray(aigif.dumps(GenerationMeta(model="sd15", prompt="x", seed=1)))
    data[-1] ^= 0xFF
    r = aigif.validate(bytes(data))
    assert not r.ok
    e = r.errors[0]
    assert (e.code, e.field, e.offset) == ("checksum", "check", len(data) - 2)
    assert "checksum" in str(e) and f"byte {len(data) - 2}" in str(e)


def test_missing_file_is_reported_not_raised(tmp_path):
    r = aigif.validate(str(tmp_path / "nope.aigif"))
    assert not r.ok and "no such file" in r.errors[0].message


def test_unknown_ancillary_is_a_warning():
    f = aigif.AigifFile(GenerationMeta(model="sd15", seed=1),
                        unknown_elements=(aigif.RawElement(4500, False, b"x"),))
    r = aigif.validate(aigif.dumps(f))
    assert r.ok and [i.code for i in r.warnings] == ["unknown-element"]


def test_empty_source_element_is_reported_not_raised(monkeypatch):
    """A SOURCE element with zero entries (no writer makes one) is a warning, never an
    exception out of validate (it raised IndexError)."""
    from aigif import spec
    from aigif.bitstream.elements import Body, SourceBody, TextKeyValues
    from aigif.io import check_value
    base = aigif.dumps(aigif.AigifFile(meta=aigif.GenerationMeta(model="sd15", prompt="x",
                                                                  seed=1), info={"a": "b"}))
    b = Body.parse(base[3:-2])
    b.elements.append({"offset": None, "type": int(spec.Element.SOURCE) << 1,
                       "data": SourceBody.build({"method": 0, "data": TextKeyValues.build([])})})
    raw = spec.HEADER + Body.build(b)
    data = raw + check_value(raw, len(raw) + 2).to_bytes(2, "big")
    for fast in (True, False):              # the fast path and the construct reference
        monkeypatch.setattr(aigif.io, "FAST", fast)
        r = aigif.validate(data)
        assert r.ok and [i.code for i in r.issues] == ["non-canonical"]
