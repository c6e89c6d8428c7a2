"""Model codes 16 (aigif-tiny), 31 (aigif-tiny-2), 32 (aigif-tiny-video), 33
(aigif-tiny-video-2) and 42 (aigif-tiny-video-3) name these exact weights: files made with them regenerate exactly only
if they never change. A retrained model gets a new code. (The video models' text encoder and
tokenizer are aigif-tiny-2's, frozen by that directory's hash.)"""
from importlib.resources import files

import pytest

pytest.importorskip("torch")

FROZEN = {"aigif_tiny": "f4c342716c8e6f693306870feb490b56",     # code 16
          "aigif_tiny_2": "81f971807e07b30acd429091d6750afe",   # code 31
          "aigif_tiny_video": "de10bd914b3f53ad1bf09785305c1e82",   # code 32
          "aigif_tiny_video_2": "c61f41d9784e57182d68308ba4930123",  # code 33
          "aigif_tiny_video_3": "9095046c80a0ccaaa14c67fe18336229"}  # code 42


@pytest.mark.parametrize("directory", sorted(FROZEN))
def test_packaged_weights_are_frozen(directory):
    from aigif.render.local import content_hash
    h = content_hash(str(files("aigif.embedded") / directory)).hex()
    assert h == FROZEN[directory], (
        f"the shipped weights in aigif/embedded/{directory} changed: give new weights a new "
        f"model code in aigif/spec/models.py instead of replacing a frozen one")


def test_every_packaged_model_is_frozen():
    from aigif.embedded import PACKAGED, VIDEO_PACKAGED
    assert set(PACKAGED.values()) | set(VIDEO_PACKAGED.values()) == set(FROZEN)
