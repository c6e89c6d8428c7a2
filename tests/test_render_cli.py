"""``aigif render`` and ``aigif generate``: files in, images out, one-line errors."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("diffusers")
import typer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import aigif  # noqa: E402
from aigif.cli import render as render_cli  # noqa: E402
from aigif.render.local import content_hash  # noqa: E402

import _tiny_pipelines as tp  # noqa: E402


@pytest.fixture(scope="module")
def render_cli_model(tmp_path_factory):
    """A tiny SD model in a model folder (found through $AIGIF_MODEL_PATH)."""
    root = tmp_path_factory.mktemp("render_cli_models")
    d = tp.build("sd", root / "tiny-sd")
    return root, content_hash(d)


@pytest.fixture
def render_app(render_cli_model, monkeypatch):
    monkeypatch.setenv("AIGIF_MODEL_PATH", str(render_cli_model[0]))
    app = typer.Typer()
    render_cli.register(app)
    runner = CliRunner()

    def run(*args):
        r = runner.invoke(app, [str(a) for a in args])
        assert "Traceback" not in r.output, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        return r
    return run


def _meta_json(tmp_path, h, **kw):
    d = dict(model="local:" + h.hex(), generator="sd", prompt="a lighthouse", seed=5,
             steps=2, width=16, height=16, scheduler="euler", **kw)
    p = tmp_path / "meta.json"
    p.write_text(json.dumps(d))
    return p


def test_generate_then_render_exactly(render_app, render_cli_model, tmp_path):
    meta = _meta_json(tmp_path, render_cli_model[1])
    r = render_app("generate", "--json", meta, "-o", tmp_path / "a.aigif", "--image",
                   tmp_path / "a.png", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and (tmp_path / "a.png").exists()
    f = aigif.open(tmp_path / "a.aigif")
    assert f.fingerprint is not None and f.meta.platform is not None
    r = render_app("render", tmp_path / "a.aigif", "-o", tmp_path / "b.png")
    assert r.exit_code == 0, r.output
    assert "exact" in r.output
    from PIL import Image
    assert Image.open(tmp_path / "b.png").tobytes() == Image.open(tmp_path / "a.png").tobytes()
    # several files go to a folder, one image each
    aigif.save(f.meta.replace(seed=6), tmp_path / "c.aigif")
    r = render_app("render", tmp_path / "a.aigif", tmp_path / "c.aigif", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]
    r = render_app("render", tmp_path / "a.aigif", "-o", tmp_path / "b.png")
    assert r.exit_code == 2 and "exists" in r.output


def test_render_errors_are_one_line(render_app, tmp_path):
    missing = aigif.GenerationMeta(model="local:" + "ef" * 16, generator="sd", seed=1)
    aigif.save(missing, tmp_path / "m.aigif")
    r = render_app("render", tmp_path / "m.aigif", "-o", tmp_path / "m.png", "--offline")
    assert r.exit_code == 2
    assert "aigif: error:" in r.output and "register_model" in r.output
    (tmp_path / "bad.aigif").write_bytes(b"not an aigif file")
    r = render_app("render", tmp_path / "bad.aigif", "-o", tmp_path / "bad.png")
    assert r.exit_code == 2 and "aigif: error:" in r.output
    r = render_app("generate", "--json", tmp_path / "nope.json", "-o", tmp_path / "x.aigif")
    assert r.exit_code == 2 and "cannot read" in r.output


def test_main_app_lists_render_commands():
    from aigif.cli.main import COMMAND_MODULES
    assert "render" in COMMAND_MODULES


def test_render_approximate_skips_what_cannot_be_rendered(render_app, render_cli_model,
                                                          tmp_path):
    from aigif.stages import Detailer, Upscale
    meta = aigif.GenerationMeta(model="local:" + render_cli_model[1].hex(), generator="sd",
                                prompt="a lighthouse", seed=5, steps=2, width=16, height=16,
                                scheduler="euler",
                                stages=(Upscale(upscaler="lanczos"),
                                        Detailer(detector="face_yolov8n.pt")))
    aigif.save(meta, tmp_path / "d.aigif")
    r = render_app("render", tmp_path / "d.aigif", "-o", tmp_path / "d.png", "--device", "cpu")
    assert r.exit_code == 2 and not (tmp_path / "d.png").exists()
    assert "face_yolov8n" in r.output and "--approximate" in r.output
    assert "approximate=True" not in r.output
    r = render_app("render", tmp_path / "d.aigif", "-o", tmp_path / "d.png", "--device", "cpu",
                   "--approximate")
    assert r.exit_code == 0, r.output
    assert "APPROXIMATE (1 stage skipped or approximated)" in r.output
    assert "aigif: approximate:" in r.output and "stages[1] (detailer)" in r.output
    from PIL import Image
    assert Image.open(tmp_path / "d.png").size == (32, 32)     # the upscale still ran
    # a file every stage of which renders is not marked
    aigif.save(meta.replace(stages=meta.stages[:1]), tmp_path / "u.aigif")
    r = render_app("render", tmp_path / "u.aigif", "-o", tmp_path / "u.png", "--device", "cpu",
                   "--approximate")
    assert r.exit_code == 0 and "APPROXIMATE" not in r.output, r.output
