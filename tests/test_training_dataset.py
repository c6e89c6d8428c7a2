"""The procedural captioned dataset of aigif-tiny: reproducible, held-out split respected."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL")
from training.embedded import dataset as ds  # noqa: E402


def test_same_seed_same_batch():
    a_img, a_cap = ds.sample_batch(np.random.default_rng(3), 16)
    b_img, b_cap = ds.sample_batch(np.random.default_rng(3), 16)
    assert a_cap == b_cap and np.array_equal(a_img, b_img)
    c_img, c_cap = ds.sample_batch(np.random.default_rng(4), 16)
    assert c_cap != a_cap


def test_images_are_32px_rgb_and_show_the_background():
    img, caps = ds.sample_batch(np.random.default_rng(0), 8)
    assert img.shape == (8, ds.SIZE, ds.SIZE, 3) and img.dtype == np.uint8
    scene = ds.single_scene(np.random.default_rng(0),
                            ("red", "circle", "small", "center", "black"))
    px = ds.render_scene(scene)
    assert tuple(px[0, 0]) == ds.BACKGROUNDS["black"]
    assert tuple(px[16, 16]) == ds.COLORS["red"]


def test_heldout_split_is_disjoint_and_large_enough():
    train, held = ds.split_combos()
    assert len(held) >= 200 and not set(train) & set(held)
    assert len(train) + len(held) == len(ds.single_combos())
    held_captions = {s.caption for s in ds.heldout_scenes()}
    assert len(held_captions) == len(held)
    rng = np.random.default_rng(11)
    for _ in range(3000):
        sc = ds.sample_scene(rng)
        assert sc.caption not in held_captions
        if sc.kind == "single":
            o = sc.objects[0]
            assert (o.color, o.shape, o.size, o.position, sc.background) not in set(held)


def test_captions_cover_every_kind_of_scene():
    rng = np.random.default_rng(5)
    kinds = {ds.sample_scene(rng).kind for _ in range(400)}
    assert kinds == {"single", "relation", "count"}
    words = set(ds.vocabulary())
    assert set(ds.COLORS) | set(ds.SHAPES) | set(ds.BACKGROUNDS) <= words
    assert {"above", "below", "two", "three"} <= words


def test_objects_stay_in_their_grid_cell():
    for sc in ds.heldout_scenes():
        o = sc.objects[0]
        assert ds.cell_of(o.cx, o.cy) == o.position
        assert o.side / 2 <= o.cx <= ds.SIZE - o.side / 2
