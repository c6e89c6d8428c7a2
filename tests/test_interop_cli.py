"""``aigif convert`` and ``aigif export`` as a user runs them."""
import io
import json

import pytest
from typer.testing import CliRunner

PIL = pytest.importorskip("PIL")
from PIL import Image, PngImagePlugin  # noqa: E402

import aigif  # noqa: E402
from aigif import interop  # noqa: E402
from aigif.cli.main import _register_features, app  # noqa: E402

_register_features()
runner = CliRunner()

INFOTEXT = ("a lighthouse at dusk\nNegative prompt: fog\nSteps: 24, Sampler: DPM++ 2M, "
            "Schedule type: Karras, CFG scale: 6, Seed: 99, Size: 512x768, Model: dreamshaper_8")


def write_png(path, texts, size=(16, 16)):
    info = PngImagePlugin.PngInfo()
    for k, v in texts:
        info.add_text(k, v)
    Image.new("RGB", size, "teal").save(path, "PNG", pnginfo=info)


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    write_png(src / "a.png", [("parameters", INFOTEXT)])
    write_png(src / "sub" / "b.png", [("prompt", json.dumps({"1": {"class_type": "KSampler", "inputs": {
        "seed": 5, "steps": 9, "cfg": 3.0, "sampler_name": "euler", "scheduler": "normal"}}}))])
    write_png(src / "nometa.png", [])
    (src / "empty.png").write_bytes(b"")
    (src / "notes.txt").write_text("ignored")
    return src


def _commands_available():
    return any(c.name == "convert" for c in app.registered_commands)


pytestmark = pytest.mark.skipif(not _commands_available(), reason="interop not in COMMAND_MODULES")


def test_convert_folder_recursive(folder, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["convert", str(folder), "-o", str(out), "--recursive"])
    assert res.exit_code == 1, res.output          # two bad files: non-zero, batch went on
    assert (out / "a.aigif").is_file() and (out / "sub" / "b.aigif").is_file()
    assert "a1111" in res.output and "comfyui" in res.output
    assert "no generation metadata" in res.output and "empty" in res.output
    f = aigif.open(out / "a.aigif")
    assert (f.meta.prompt, f.meta.seed, f.meta.scheduler) == ("a lighthouse at dusk", 99,
                                                              "dpmpp_2m_karras")
    assert f.source["parameters"] == INFOTEXT
    # second run: nothing overwritten without --force
    before = (out / "a.aigif").read_bytes()
    res = runner.invoke(app, ["convert", str(folder / "a.png"), "-o", str(out)])
    assert res.exit_code == 1 and "exists" in res.output
    assert (out / "a.aigif").read_bytes() == before
    res = runner.invoke(app, ["convert", str(folder / "a.png"), "-o", str(out), "--force"])
    assert res.exit_code == 0, res.output


def test_convert_not_recursive_and_missing(folder, tmp_path):
    res = runner.invoke(app, ["convert", str(folder / "sub" / "nothing"), "-o", str(tmp_path / "o")])
    assert res.exit_code != 0 and "no such file" in res.output
    res = runner.invoke(app, ["convert", str(folder), "-o", str(tmp_path / "o2")])
    assert not (tmp_path / "o2" / "sub").exists()


def test_convert_keep_pixels(folder, tmp_path):
    codecs = pytest.importorskip("aigif.codecs")
    if "png" not in codecs.available_codecs():
        pytest.skip("png codec not available")
    out = tmp_path / "px"
    res = runner.invoke(app, ["convert", str(folder / "a.png"), "-o", str(out), "--keep-pixels", "png"])
    assert res.exit_code == 0, res.output
    f = aigif.open(out / "a.aigif")
    assert f.payload is not None and f.payload.codec == "png"
    # export needs no --image now: the payload gives the pixels
    png = tmp_path / "back.png"
    res = runner.invoke(app, ["export", str(out / "a.aigif"), "-o", str(png)])
    assert res.exit_code == 0, res.output
    assert Image.open(png).text["parameters"] == INFOTEXT


def test_export(folder, tmp_path):
    out = tmp_path / "out"
    runner.invoke(app, ["convert", str(folder / "a.png"), "-o", str(out)])
    target = tmp_path / "x.png"
    res = runner.invoke(app, ["export", str(out / "a.aigif"), "-o", str(target)])
    assert res.exit_code == 2 and "no pixels" in res.output
    res = runner.invoke(app, ["export", str(out / "a.aigif"), "-o", str(target), "--as", "a1111",
                              "--image", str(folder / "nometa.png")])
    assert res.exit_code == 0, res.output
    assert Image.open(target).text["parameters"] == INFOTEXT
    res = runner.invoke(app, ["export", str(out / "a.aigif"), "-o", str(target), "--image",
                              str(folder / "nometa.png")])
    assert res.exit_code == 2 and "exists" in res.output
    jpg = tmp_path / "x.jpg"
    res = runner.invoke(app, ["export", str(out / "a.aigif"), "-o", str(jpg), "--as", "comfyui",
                              "--image", str(folder / "nometa.png")])
    assert res.exit_code == 0, res.output
    r = interop.read(jpg)
    assert r.tool == "comfyui" and r.meta.seed == 99 and r.meta.scheduler == "dpmpp_2m_karras"
    # another tool's image straight to another dialect
    res = runner.invoke(app, ["export", str(folder / "a.png"), "-o", str(tmp_path / "y.webp"),
                              "--as", "a1111"])
    assert res.exit_code == 0, res.output
    assert interop.read(tmp_path / "y.webp").source["UserComment"] == INFOTEXT
    res = runner.invoke(app, ["export", str(folder / "a.png"), "-o", str(tmp_path / "y.gif")])
    assert res.exit_code == 2 and ".png" in res.output


def test_import_image_dir_carries_the_conditioning_image(tmp_path):
    """``aigif import`` of an image-to-video ComfyUI graph: without --image-dir a warning
    names the image and the option (exit 0, no image); with it the file holds the PNG's
    own bytes as video.image; a folder that is not there is an error, not a traceback."""
    from pathlib import Path
    build_dir = Path(__file__).parent / "fixtures" / "interop" / "video"
    src = build_dir / "comfy_wan_i2v_animated.webp"
    (tmp_path / "input").mkdir()
    Image.new("RGB", (10, 6), "orange").save(tmp_path / "input" / "portrait.png")
    res = runner.invoke(app, ["import", str(src), str(tmp_path / "a.aigif")])
    assert res.exit_code == 0, res.output
    assert "portrait.png" in res.output and "--image-dir" in res.output
    assert aigif.open(tmp_path / "a.aigif").meta.video.image is None
    res = runner.invoke(app, ["import", str(src), str(tmp_path / "b.aigif"),
                              "--image-dir", str(tmp_path / "input")])
    assert res.exit_code == 0, res.output
    assert "conditioning image" in res.output and "warning" not in res.output
    m = aigif.open(tmp_path / "b.aigif").meta
    assert m.video.image == aigif.Payload("png", (tmp_path / "input" / "portrait.png").read_bytes())
    assert m.params["init_image"] == "portrait.png"
    res = runner.invoke(app, ["import", str(src), str(tmp_path / "c.aigif"),
                              "--image-dir", str(tmp_path / "nope")])
    assert res.exit_code != 0 and "image_dir" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "c.aigif").exists()
