"""Model code 16 (aigif-tiny) names these exact weights: files made with them regenerate
exactly only if they never change. A retrained model gets a new model code."""
from importlib.resources import files

import pytest

pytest.importorskip("torch")


def test_aigif_tiny_weights_are_frozen():
    from aigif.render.local import content_hash
    h = content_hash(str(files("aigif.embedded") / "aigif_tiny")).hex()
    assert h == "f4c342716c8e6f693306870feb490b56", (
        "the shipped aigif-tiny weights changed: give the new weights a new model code in "
        "aigif/spec/models.py instead of replacing code 16's")
