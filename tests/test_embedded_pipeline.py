"""AigifTinyPipeline and the aigif_tiny generator extension, on seeded random weights.

The pipeline is built from configs, saved with ``save_pretrained`` and loaded through the
real ``from_pretrained`` path, as diffusers' own tests do.
"""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
from training.embedded import train  # noqa: E402
from aigif.embedded.pipeline import AigifTinyPipeline  # noqa: E402


def _tiny(tmp_path):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    cfg = train.unet_config()
    cfg.update(block_out_channels=(8, 16, 16), cross_attention_dim=16, attention_head_dim=2,
               addition_embed_type_num_heads=2)
    tcfg = train.text_config()
    tcfg.hidden_size, tcfg.intermediate_size, tcfg.num_attention_heads = 16, 32, 2
    torch.manual_seed(0)
    unet, te = UNet2DConditionModel(**cfg), CLIPTextModel(tcfg)
    out = tmp_path / "tiny"
    train.save(out, unet, te, tmp_path / "tok")
    return out


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return _tiny(tmp_path_factory.mktemp("aigif_tiny"))


def test_saved_directory_is_a_diffusers_model(tiny_dir):
    idx = json.loads((tiny_dir / "model_index.json").read_text())
    assert idx["_class_name"] == "AigifTinyPipeline"
    assert idx["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert idx["text_encoder"] == ["transformers", "CLIPTextModel"]
    assert idx["tokenizer"] == ["transformers", "CLIPTokenizer"]
    assert list(tiny_dir.rglob("*.safetensors")) and not list(tiny_dir.rglob("*.bin"))


def test_two_renders_are_identical_and_seed_matters(tiny_dir):
    pipe = AigifTinyPipeline.from_pretrained(str(tiny_dir), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)

    def run(seed, prompt="a red circle"):
        g = torch.Generator("cpu").manual_seed(seed)
        return pipe(prompt, num_inference_steps=4, guidance_scale=4.0, generator=g).images[0]

    a, b = run(1), run(1)
    assert a.size == (32, 32) and a.mode == "RGB"
    assert a.tobytes() == b.tobytes()
    assert run(2).tobytes() != a.tobytes()
    assert run(1, "a blue square").tobytes() != a.tobytes()


def test_backend_renders_a_registered_local_copy(tiny_dir):
    """A retrained aigif-tiny registered as a local model renders through aigif.render."""
    import aigif
    from aigif.render import render_meta
    from aigif.render.backends import generator_for_pipeline_class, get_backend

    assert generator_for_pipeline_class("AigifTinyPipeline") == "aigif_tiny"
    assert get_backend("aigif_tiny").pipeline_class == "AigifTinyPipeline"
    aigif.register_model("my-aigif-tiny", str(tiny_dir), override=True)
    meta = aigif.GenerationMeta(model="my-aigif-tiny", prompt="a red circle", seed=5, steps=4)
    assert meta.generator == "aigif_tiny"
    one, two = render_meta(meta).image, render_meta(meta).image
    assert one.size == (32, 32) and one.tobytes() == two.tobytes()


@pytest.fixture
def torch_globals():
    """train.main sets the thread count and deterministic algorithms for the process."""
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(det)


@pytest.mark.parametrize("text", ["frozen", "layers", "vocab"])
def test_stage2_training_is_reproducible_and_ships_only_what_changed(tmp_path, text,
                                                                    torch_globals):
    """Two stage-2 runs (UNet from the packaged aigif-tiny; its text encoder frozen, or
    trained but for the token embedding) give the same bytes; the result loads with the
    packaged tokenizer and token embedding."""
    from aigif.embedded import base_path
    from aigif.embedded.pipeline import from_dir

    def run(out):
        train.main(["--base", str(base_path()), "--out", str(out), "--steps", "2",
                    "--batch", "4", "--warmup", "1", "--eval-every", "0", "--t-power", "2",
                    "--text", text])
        return b"".join(p.read_bytes() for p in sorted(out.rglob("*.safetensors")))

    a, b = run(tmp_path / "a"), run(tmp_path / "b")
    assert a == b
    assert (tmp_path / "a" / "text_encoder").exists() == (text != "frozen")
    assert not (tmp_path / "a" / "tokenizer").exists()
    base = (base_path() / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    unet = (tmp_path / "a" / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert unet != base                      # it trained
    pipe = from_dir(tmp_path / "a", dtype=torch.float32)
    packaged = from_dir(base_path(), dtype=torch.float32)
    same = {k: torch.equal(v, packaged.text_encoder.state_dict()[k])
            for k, v in pipe.text_encoder.state_dict().items()}
    assert all(same.values()) == (text == "frozen")
    table = pipe.text_encoder.get_input_embeddings().weight
    changed = (table != packaged.text_encoder.get_input_embeddings().weight).any(1)
    if text == "vocab":          # only rows of the dataset's words moved, and some did
        vocab = set(train.vocabulary_ids(train._Tokens(
            packaged.tokenizer.__class__.from_pretrained(str(base_path() / "tokenizer")))))
        assert 0 < changed.sum() and set(changed.nonzero().flatten().tolist()) <= vocab
    else:
        assert not changed.any()
    pipe.set_progress_bar_config(disable=True)
    img = pipe("a red circle", num_inference_steps=2,
               generator=torch.Generator("cpu").manual_seed(0)).images[0]
    assert img.size == (32, 32)


def test_from_scratch_with_frozen_text_ships_the_seeded_encoder_as_rows(tmp_path,
                                                                      torch_globals):
    """``--text frozen`` from scratch keeps the text encoder at build(SEED)'s initial
    weights: saved as a stage-2 directory (layers + the rows that differ from the packaged
    base's token embedding), it loads back as exactly that encoder (float16-rounded), with
    the run's noise schedule."""
    from aigif.embedded import base_path
    from aigif.embedded.pipeline import from_dir
    out = tmp_path / "m"
    train.main(["--out", str(out), "--steps", "2", "--batch", "4", "--warmup", "1",
                "--eval-every", "0", "--text", "frozen", "--schedule", "linear"])
    assert not (out / "tokenizer").exists()
    assert (out / "text_encoder" / "model.safetensors").stat().st_size < 300_000
    pipe = from_dir(out, dtype=torch.float32)
    assert pipe.scheduler.config.beta_schedule == "linear"
    _, seeded = train.build(train.SEED)
    mine = pipe.text_encoder.state_dict()
    for k, v in seeded.state_dict().items():
        assert torch.equal(mine[k], v.half().float()), k
    packaged = from_dir(base_path(), dtype=torch.float32).text_encoder
    rows = (packaged.get_input_embeddings().weight
            != pipe.text_encoder.get_input_embeddings().weight).any(1).sum()
    assert 0 < rows <= train.MAX_SHARED_ROWS    # the rows base training moved


def test_stage2_from_a_seeded_text_model_keeps_its_encoder_and_sampler(tmp_path,
                                                                      torch_globals):
    """Stage 2 from a ``--text frozen`` from-scratch model (its encoder saved as layers +
    rows off the packaged base) saves that encoder again, not the packaged one, and the
    ``--sampler`` chosen is the scheduler saved with the model."""
    from aigif.embedded.pipeline import from_dir
    first, second = tmp_path / "m", tmp_path / "s"
    common = ["--steps", "2", "--batch", "4", "--warmup", "1", "--eval-every", "0",
              "--text", "frozen", "--schedule", "linear", "--sampler", "dpmpp_2m"]
    train.main(["--out", str(first)] + common)
    train.main(["--base", str(first), "--out", str(second)] + common)
    a, b = from_dir(first, dtype=torch.float32), from_dir(second, dtype=torch.float32)
    sa, sb = a.text_encoder.state_dict(), b.text_encoder.state_dict()
    assert all(torch.equal(v, sb[k]) for k, v in sa.items())
    assert not torch.equal(a.unet.conv_in.weight, b.unet.conv_in.weight)   # it trained
    for pipe in (a, b):
        cfg = pipe.scheduler.config
        assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
        assert (cfg.algorithm_type, cfg.thresholding, cfg.sample_max_value,
                cfg.beta_schedule) == ("dpmsolver++", True, 1.0, "linear")


@pytest.mark.parametrize("sampler", train.SAMPLERS)
def test_sampler_under_guidance_overshoot(sampler):
    """A guided prediction past the data range (x0 = 3 at every step, as a strong guidance
    scale makes it): the dpmpp_2m sampler ends on the clip (1.0); DDIM, whose noise estimate
    keeps the unclipped x0, is pulled back from it (0.67: each step subtracts the excess),
    which is how a guided "white background" drifted to black (why aigif-tiny-2 saves
    dpmpp_2m)."""
    sched = train.make_scheduler("linear", sampler)
    sched.set_timesteps(20)
    x = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    for t in sched.timesteps:
        a = sched.alphas_cumprod[t].double()
        eps = (x - a.sqrt() * 3) / (1 - a).sqrt()
        x = sched.step(a.sqrt() * eps - (1 - a).sqrt() * 3, t, x).prev_sample
    if sampler == "dpmpp_2m":
        assert torch.allclose(x, torch.ones_like(x), atol=1e-3)
    else:
        assert float(x.mean()) < 0.8


def test_unknown_sampler_is_refused():
    with pytest.raises(ValueError, match="unknown sampler"):
        train.make_scheduler("linear", "euler")


def test_text_joint_needs_a_run_from_scratch(tmp_path):
    from aigif.embedded import base_path
    with pytest.raises(SystemExit):
        train.main(["--base", str(base_path()), "--out", str(tmp_path / "m"),
                    "--text", "joint"])


def test_partial_text_encoder_with_wrong_tensors_is_refused(tmp_path, torch_globals):
    from safetensors.torch import save_file

    from aigif.embedded import base_path
    from aigif.embedded.pipeline import from_dir
    train.main(["--base", str(base_path()), "--out", str(tmp_path / "m"), "--steps", "1",
                "--batch", "2", "--eval-every", "0", "--text", "layers", "--warmup", "1"])
    save_file({"bogus": torch.zeros(2)}, str(tmp_path / "m" / "text_encoder" / "model.safetensors"))
    with pytest.raises(ValueError, match="token embedding"):
        from_dir(tmp_path / "m")


def test_to_film_keeps_every_weight_and_starts_with_unit_scale():
    from diffusers import UNet2DConditionModel
    cfg = train.unet_config()
    cfg.update(block_out_channels=(8, 16, 16), cross_attention_dim=16, attention_head_dim=2,
               addition_embed_type_num_heads=2)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**cfg)
    film = train.to_film(unet)
    assert film.config.resnet_time_scale_shift == "scale_shift"
    old, new = unet.state_dict(), film.state_dict()
    assert old.keys() == new.keys()
    for k, v in new.items():
        if "time_emb_proj" in k:
            scale, shift = v.chunk(2)
            assert not scale.any() and torch.equal(shift, old[k])
        else:
            assert torch.equal(v, old[k]), k


def test_to_attn32_adds_full_resolution_cross_attention_that_starts_as_identity():
    from diffusers import UNet2DConditionModel

    from aigif.embedded.pipeline import unet_input
    cfg = train.unet_config()
    cfg.update(block_out_channels=(8, 16, 16), cross_attention_dim=16, attention_head_dim=2,
               addition_embed_type_num_heads=2)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**cfg)
    new = train.to_attn32(unet)
    assert new.config.down_block_types[0] == "CrossAttnDownBlock2D"
    assert new.config.up_block_types[-1] == "CrossAttnUpBlock2D"
    x, h = torch.randn(2, 3, 32, 32), torch.randn(2, 7, 16)
    with torch.no_grad():
        a = unet(unet_input(unet, x), 500, encoder_hidden_states=h).sample
        b = new(unet_input(new, x), 500, encoder_hidden_states=h).sample
    assert torch.equal(a, b)
