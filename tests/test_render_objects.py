"""Object regions from the generator's cross-attention (``aigif.render.objects``,
``aigif.render.attention``; issue 18): prompt objects, token positions, heat maps, block
assignment, rendering unchanged by the recording, group names in the file, fallbacks.

Tiny pipelines with seeded random weights go through the real ``from_pretrained`` path;
the packaged aigif-tiny-2 (32 x 32) is used for the pixel-level heat maps."""
from __future__ import annotations

import json
import warnings

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("constriction")
Image = pytest.importorskip("PIL.Image")

import aigif  # noqa: E402
from aigif.codecs.learned import gitssic as G  # noqa: E402
from aigif.codecs.learned import zoo  # noqa: E402
from aigif.codecs.learned import gitssic_model as GM  # noqa: E402
from aigif.document import GROUPS_INFO_KEY  # noqa: E402
from aigif.errors import AigifWarning, CodecError, RenderError  # noqa: E402
from aigif.meta import GenerationMeta  # noqa: E402
from aigif.render import PipelineCache, register_model, render_meta  # noqa: E402
from aigif.render import objects as O  # noqa: E402
from aigif.render.attention import CrossAttentionRecorder, _grid_for  # noqa: E402

import _tiny_pipelines as tp  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("objects_models")
    out = {}
    for fam in ("sd", "sdxl", "lcm", "pixart_sigma", "sd3"):
        out[fam] = tp.build(fam, root / fam)
        register_model(f"tiny-obj-{fam}", out[fam], override=True)
    return out


@pytest.fixture
def cache():
    return PipelineCache(maxsize=1)


def _meta(fam, prompt="a cat and a dog", **kw):
    p = dict(tp.TINY_PARAMS[fam], seed=7, guidance_scale=5.0, prompt=prompt)
    p.update(width=64, height=48)
    p.update(kw)
    return GenerationMeta(model=f"tiny-obj-{fam}", **p)


# --------------------------------------------------------------------------- text
def test_prompt_objects_split_and_drop_stop_words():
    names = lambda p: [n for n, _ in O.prompt_objects(p)]  # noqa: E731
    assert names("a red fox in the snow, highly detailed") == ["red fox", "snow"]
    assert names("a cat and a dog") == ["cat", "dog"]
    assert names("a small red circle in the top left corner on a white background") == \
        ["small red circle", "white background"]
    assert names("(masterpiece), best quality, 4k") == []
    assert names("a cat, a cat") == ["cat"]                   # repeated name: first kept
    text = "portrait of an old man with a hat"
    (n1, s1), (n2, s2), (n3, s3) = O.prompt_objects(text)
    assert (n1, n2, n3) == ("portrait", "old man", "hat")
    assert [text[a:b] for a, b in s2] == ["old", "man"]


def test_token_positions_clip_and_t5_tokenizers(tmp_path):
    clip = tp.clip_tokenizer(16)          # byte-level, no merges: one token a character
    text = "a cat and a dog"
    (_, cat), (_, dog) = O.prompt_objects(text)
    ids = clip(text, padding="max_length", max_length=16)["input_ids"]
    pos = O._token_positions(clip, text, cat, 16)
    assert "".join(clip.convert_ids_to_tokens([ids[p] for p in pos])) == "cat</w>"
    pos = O._token_positions(clip, text, dog, 16)
    assert "".join(clip.convert_ids_to_tokens([ids[p] for p in pos])) == "dog</w>"
    # truncated to 8 tokens (bos + 6 + eos): "dog" is gone, "cat" (positions 2..4) stays
    assert O._token_positions(clip, text, dog, 8) == []
    assert O._token_positions(clip, text, cat, 8) == [2, 3, 4]
    t5 = tp.t5_tokenizer(32)
    ids = t5(text)["input_ids"]
    pos = O._token_positions(t5, text, dog, 32)
    assert "".join(t5.convert_ids_to_tokens([ids[p] for p in pos])).replace("▁", "") == "dog"
    # fast tokenizers: positions from their offsets, the same as the slow prefix count
    from transformers import CLIPTokenizerFast, T5TokenizerFast
    for slow, cls, n in ((clip, CLIPTokenizerFast, 16), (t5, T5TokenizerFast, 32)):
        slow.save_pretrained(tmp_path / cls.__name__)
        fast = cls.from_pretrained(tmp_path / cls.__name__)
        assert fast.is_fast
        for _, spans in O.prompt_objects(text):
            for length in (n, 8):
                assert O._token_positions(fast, text, spans, length) == \
                    O._token_positions(slow, text, spans, length)


def test_assign_blocks_threshold_and_argmax():
    heat = np.zeros((2, 40, 50), np.float32)      # 3 x 4 blocks, ragged edges
    heat[0, :16, :16] = 1.0                       # object 1: block (0, 0)
    heat[1, 16:, 32:] = 0.9                       # object 2: the bottom-right 2 x 2 blocks
    heat[0, 16:, 32:] = 0.5                       # ... where object 1 is weaker
    heat[1, :16, 16:32] = 0.3                     # below the threshold: background
    b = O.assign_blocks(heat, 0.4)
    assert b.shape == (3, 4) and b.dtype == np.int64
    assert b.tolist() == [[1, 0, 0, 0], [0, 0, 2, 2], [0, 0, 2, 2]]
    assert (O.assign_blocks(heat, 0.95) == 0).sum() == 11
    assert O.assign_blocks(np.zeros((0, 20, 20)), 0.4).shape == (2, 2)


def test_grid_for_downscaled_resolutions():
    assert _grid_for(48 * 64, 64, 48) == (48, 64)
    assert _grid_for(6 * 8, 64, 48) == (6, 8)
    assert _grid_for(2 * 3, 40, 24) == (2, 3)       # 40x24 / 16 rounds up to 3x2
    with pytest.raises(RuntimeError, match="fits no"):
        _grid_for(7, 64, 48)


# --------------------------------------------------------------------------- rendering
@pytest.mark.parametrize("fam", ["sd", "sdxl", "lcm", "pixart_sigma"])
def test_recording_leaves_the_image_bit_identical(models, cache, fam):
    meta = _meta(fam)
    plain = np.asarray(render_meta(meta, cache=cache).image)
    om = O.object_map(meta, cache=cache, threshold=0.0)
    assert np.array_equal(np.asarray(om.image), plain)          # exact, every pixel
    again = np.asarray(render_meta(meta, cache=cache).image)   # hooks are gone after
    assert np.array_equal(again, plain)
    pipe = next(iter(cache._items.values()))
    net = pipe.transformer if fam == "pixart_sigma" else pipe.unet
    assert all(not m._forward_pre_hooks for m in net.modules())
    # tiny PixArt encodes 8 T5 tokens, one a character: "and a dog" is truncated away
    assert om.names == (("cat",) if fam == "pixart_sigma" else ("cat", "dog"))
    k = len(om.names)
    assert om.heat.shape == (k, 48, 64) and om.heat.dtype == np.float32
    assert np.allclose(om.heat.max((1, 2)), 1.0) and np.allclose(om.heat.min((1, 2)), 0.0)
    assert om.blocks.shape == (3, 4)
    # threshold 0: every block goes to an object; the groups name what is in the map
    assert set(np.unique(om.blocks)) == set(om.groups) - {0}
    assert om.groups[0] == "background" and set(om.groups.values()) <= {"background", "cat",
                                                                        "dog"}
    assert json.loads(om.info()[O.INFO_KEY]) == {str(k): v for k, v in om.groups.items()}


def test_heat_maps_follow_the_token_attention(models, cache):
    """The object's heat is its tokens' recorded attention (not some other token's)."""
    meta = _meta("sd")
    rec = []
    from aigif.render import engine
    from aigif.render.platform import resolve_settings

    def observe(pipe):
        rec.append(CrossAttentionRecorder(pipe))
        return rec[-1]
    image, *_ = engine._render(meta, resolve_settings(None, "cpu", None, None), cache=cache,
                               download=False, strict=False, observe=observe)
    r = rec[0]
    # tiny SD UNet: 4 cross-attention layers (down 1, mid 1, up 2), each called once a
    # step (2 steps: the cfg batch in one call)
    assert len(r.layers) == 4 and r.calls == 4 * meta.steps and r.tokens == 16
    maps = r.token_maps(64, 48).numpy()
    assert maps.shape == (16, 48, 64)
    # softmax over the 16 tokens, summed over heads, layers and steps: 2 heads x 4 calls
    heads = r.layers[0][1].heads
    assert np.allclose(maps.sum(0), heads * r.calls, atol=1e-3)
    om = O.object_map(meta, cache=cache, threshold=0.0)
    cat = O._token_positions(r.tokenizer, meta.prompt, O.prompt_objects(meta.prompt)[0][1],
                             16)
    m = maps[cat].sum(0)
    assert np.allclose(om.heat[0], (m - m.min()) / (m.max() - m.min()), atol=1e-6)


def test_aigif_tiny_heat_maps_at_pixel_level(cache):
    """aigif-tiny-2 (32 x 32, 2 x 2 blocks): the image is unchanged, and for this seed the
    circle's heat is higher on the circle's pixels than off them (measured: 0.72 vs 0.41
    mean normalized heat; the model's attention is weakly localized, see the model card)."""
    meta = GenerationMeta(model="aigif-tiny-2", seed=1,
                          prompt="a small red circle in the top left corner on a white "
                                 "background")
    plain = np.asarray(render_meta(meta, cache=cache).image)
    om = O.object_map(meta, cache=cache)
    assert np.array_equal(np.asarray(om.image), plain)
    assert om.names == ("small red circle", "white background")
    assert om.heat.shape == (2, 32, 32) and om.blocks.shape == (2, 2)
    a = plain.astype(int)
    circle = (a.max(2) - a.min(2)) > 80                 # the saturated (red) pixels
    assert 40 < circle.sum() < 300
    h = om.heat[0]
    assert h[circle].mean() > h[~circle].mean() + 0.15


def test_joint_attention_family_falls_back_with_a_warning(models, cache):
    meta = _meta("sd3")
    with pytest.raises(RenderError, match="no text cross-attention"):
        O.object_map(meta, cache=cache)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8))
    with pytest.warns(AigifWarning, match="cannot tell.*cross-attention.*automatic"):
        blocks, names = O.object_groups(meta, img, k=3, cache=cache)
    assert names == {} and np.array_equal(blocks, G.auto_groups(np.asarray(img), 3))


def test_fallbacks_without_syntax_model_or_objects(models, cache):
    img = Image.new("RGB", (64, 48), (200, 10, 10))
    cases = [(None, "no generation syntax"),
             (GenerationMeta(model="nobody/not-here", generator="sd", prompt="a cat", seed=1, width=64,
                             height=48), "not available"),
             (_meta("sd", prompt="best quality, 4k"), "names no object"),
             (_meta("sd", width=32, height=32), "regenerated image is 32x32"),
             (_meta("sd").replace(seed=None), "no seed")]
    for meta, why in cases:
        with pytest.warns(AigifWarning, match=why):
            blocks, names = O.object_groups(meta, img, cache=cache)
        assert names == {} and blocks.shape == (3, 4)
    with pytest.raises(RenderError, match="no object map"):
        O.object_groups(None)


# --------------------------------------------------------------------------- files
@pytest.fixture
def tiny_codec(monkeypatch):
    torch.manual_seed(0)
    model = GM.GitSsic(C=(8, 16, 16), depths=(2, 2, 2), heads=(1, 2, 2), window=4, M=16,
                       H=8, Mh=16).eval()
    zoo.register("gitssic-objects-tiny", GM.export_gitssic(model), arch="gitssic")
    monkeypatch.setitem(G.MODEL_IDS, 250, "gitssic-objects-tiny")
    monkeypatch.setattr(G.GitssicCodec, "default_model", 250)


def test_save_groups_objects_names_groups_in_info(models, tiny_codec, tmp_path,
                                                  monkeypatch, capsys):
    from aigif.render import pipeline_cache
    meta = _meta("sd")
    img = render_meta(meta).image
    om = O.object_map(meta)                               # the default threshold, as save
    p = tmp_path / "pets.aigif"
    with warnings.catch_warnings():
        warnings.simplefilter("error", AigifWarning)     # the same image: no warning
        aigif.save(meta, p, image=img, fallback="gitssic", groups="objects")
    f = aigif.open(p)
    assert f.meta == meta                                 # the syntax is untouched
    names = f.group_names()
    assert names == om.groups and len(names) >= 2
    assert names[0] == "background" and GROUPS_INFO_KEY in f.info
    blocks = G.GitssicCodec().block_map(f.payload.data)
    assert set(np.unique(blocks)) <= set(names)
    g = max(names)
    assert f.group_ids([names[g].upper(), 0, "0"]) == [g, 0, 0]
    assert np.array_equal(np.asarray(f.pixels(groups=[names[g]])),
                          np.asarray(f.pixels(groups=[g])))
    with pytest.raises(CodecError, match="not named.*background"):
        f.pixels(groups=["unicorn"])
    from aigif.cli.main import main
    capsys.readouterr()
    try:
        main(["decode", str(p), "-o", str(tmp_path / "g.png"), "--groups", names[g]])
    except SystemExit as e:
        assert e.code in (0, None)
    assert f"{g} ({names[g]})" in capsys.readouterr().out.replace("\n", "")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g.png")),
                          np.asarray(f.pixels(groups=[g])))
    # a file without syntax: the automatic map, a warning, no names
    with pytest.warns(AigifWarning, match="no generation syntax"):
        aigif.save(None, tmp_path / "x.aigif", image=img, fallback="gitssic",
                   groups="objects")
    assert aigif.open(tmp_path / "x.aigif").group_names() == {}
    with pytest.raises(CodecError, match="'objects'"):
        aigif.save(meta, tmp_path / "y.aigif", image=img, fallback="gitssic", groups="cats")
    pipeline_cache.clear()


def test_group_names_json_matches_document():
    assert O.INFO_KEY == GROUPS_INFO_KEY
    assert O.group_names_json({2: "dog", 0: "background"}) == \
        '{"0":"background","2":"dog"}'
    f = aigif.AigifFile(meta=None, info={GROUPS_INFO_KEY: "[1, 2]"})
    with pytest.raises(CodecError, match="not a JSON object"):
        f.group_names()


def test_a_failing_side_computation_never_breaks_the_render(models, cache, monkeypatch):
    meta = _meta("sd")
    plain = np.asarray(render_meta(meta, cache=cache).image)

    def boom(*a, **k):
        raise ValueError("unusual attention layer")
    monkeypatch.setattr(CrossAttentionRecorder, "_probs", staticmethod(boom))
    with pytest.raises(RenderError, match="failed.*unaffected.*unusual attention layer"):
        O.object_map(meta, cache=cache)
    img = Image.fromarray(plain)
    with pytest.warns(AigifWarning, match="unusual attention layer.*automatic"):
        blocks, names = O.object_groups(meta, img, cache=cache)
    assert names == {} and blocks.shape == (3, 4)
    assert np.array_equal(np.asarray(render_meta(meta, cache=cache).image), plain)
