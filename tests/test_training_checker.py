"""The pixel-based prompt-following checker is right on pictures of known content."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL")
from training.embedded import checker, dataset as ds  # noqa: E402


def test_checker_reads_every_heldout_ground_truth_picture():
    scenes = ds.heldout_scenes()
    ok = {"color": 0, "shape": 0, "position": 0, "background": 0}
    for sc in scenes:
        for k, v in checker.check(ds.render_scene(sc), sc.caption).items():
            ok[k] += v
    assert all(v / len(scenes) >= 0.99 for v in ok.values()), ok


def test_checker_catches_wrong_color_shape_and_position():
    rng = np.random.default_rng(0)
    sc = ds.single_scene(rng, ("blue", "square", "large", "top left", "white"))
    img = ds.render_scene(sc)
    assert checker.check(img, sc.caption) == {"color": True, "shape": True,
                                              "position": True, "background": True}
    assert not checker.check(img, "a large red square in the top left corner")["color"]
    assert not checker.check(img, "a large blue circle in the top left corner")["shape"]
    assert not checker.check(img, "a large blue square at the bottom")["position"]
    assert not checker.check(img, "a blue square on a black background")["background"]


@pytest.mark.parametrize("shape", ds.SHAPES)
@pytest.mark.parametrize("size", list(ds.SIZES))
def test_each_shape_is_told_apart(shape, size):
    sc = ds.single_scene(np.random.default_rng(1), ("green", shape, size, "center", "gray"))
    assert checker.detect(ds.render_scene(sc)).shape == shape


def test_empty_picture_has_no_object():
    img = np.full((32, 32, 3), 255, np.uint8)
    seen = checker.detect(img)
    assert seen.color is None and seen.background == "white"
    assert checker.check(img, "a red circle") == {"color": False, "shape": False}


def test_parse_prompt():
    assert checker.parse_prompt("a small red circle in the top left corner on a white "
                                "background") == {"color": "red", "shape": "circle",
                                                  "size": "small", "position": "top left",
                                                  "background": "white"}
    assert checker.parse_prompt("a green diamond at the bottom")["position"] == "bottom"
    with pytest.raises(ValueError):
        checker.parse_prompt("two red circles on a gray background")


def test_relation_checker_reads_ground_truth_and_catches_the_wrong_side():
    rng = np.random.default_rng(5)
    flips = {"above": "below", "below": "above", "to the left of": "to the right of",
             "to the right of": "to the left of"}
    for _ in range(60):
        sc = ds.relation_scene(rng)
        img = ds.render_scene(sc)
        assert checker.check_relation(img, sc.caption) == {"both": True, "relation": True}
        rel = next(r for r in flips if f" {r} " in sc.caption)
        wrong = sc.caption.replace(f" {rel} ", f" {flips[rel]} ")
        assert checker.check_relation(img, wrong)["relation"] is False


def test_relation_checker_needs_both_colours():
    sc = ds.single_scene(np.random.default_rng(2), ("red", "circle", "large", "left", "white"))
    img = ds.render_scene(sc)
    r = checker.check_relation(img, "a large red circle to the left of a small blue square")
    assert r == {"both": False, "relation": False}
    with pytest.raises(ValueError):
        checker.check_relation(img, "a red circle")
