"""Conformance vectors: every valid file parses to its expected JSON and re-encodes to the
same bytes; every invalid file raises its expected error code at its expected offset."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import aigif

VEC = Path(__file__).resolve().parents[1] / "spec" / "vectors"
VALID = sorted((VEC / "valid").glob("*.aigif"))
INVALID = sorted((VEC / "invalid").glob("*.aigif"))
sys.path.insert(0, str(VEC))
from make_vectors import expected, legacy_text_writer  # noqa: E402


def test_vector_counts():
    assert len(VALID) >= 20 and len(INVALID) >= 20


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_vector(path):
    data = path.read_bytes()
    f = aigif.loads(data)
    want = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert json.loads(json.dumps(expected(f), ensure_ascii=False)) == want
    with legacy_text_writer():                         # the writer they were made with
        assert aigif.dumps(f) == data                  # canonical rewrite
    assert aigif.validate(data).ok


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_vector(path):
    want = json.loads(path.with_suffix(".json").read_text())
    with pytest.raises(aigif.AigifError) as ei:
        aigif.loads(path.read_bytes())
    assert ei.value.code == want["error"], str(ei.value)
    if want["offset"] is not None:
        assert ei.value.offset == want["offset"], str(ei.value)
    report = aigif.validate(path.read_bytes())
    assert not report.ok and report.errors[0].code == want["error"]


def test_vectors_match_generator():
    r = subprocess.run([sys.executable, str(VEC / "make_vectors.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_every_single_byte_corruption_is_detected(path):
    data = path.read_bytes()
    for i in range(len(data)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(data)
            bad[i] ^= flip
            with pytest.raises(aigif.AigifError):
                aigif.loads(bytes(bad))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_every_truncation_is_detected(path):
    data = path.read_bytes()
    for n in range(len(data)):
        with pytest.raises(aigif.AigifError):
            aigif.loads(data[:n])
