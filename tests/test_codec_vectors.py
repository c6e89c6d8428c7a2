"""Learned-codec payload vectors (spec/vectors/codecs): every shipped model's vectors
decode to the recorded integers (exactly) and pixels (within the bound), invalid payloads
are refused."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")

VEC = Path(__file__).resolve().parents[1] / "spec" / "vectors"
sys.path.insert(0, str(VEC))
import make_codec_vectors as M  # noqa: E402


def test_vectors_exist_for_every_shipped_model():
    for name, codec, kw, key in M.cases():
        if M._available(key):
            j = json.loads((M.HERE / f"{name}.json").read_text())
            assert j["codec"] == codec and (M.HERE / j["pixels"]).is_file()
            assert (M.HERE / f"{name}.bin").stat().st_size == j["bytes"]


def test_codec_vectors_decode_to_their_integers_and_pixels(capsys):
    assert M.main(check=True) == 0, capsys.readouterr().out
