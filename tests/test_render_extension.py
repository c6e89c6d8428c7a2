"""The example generator extension, found through an ``aigif.generators`` entry point."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "example_extension"

SCRIPT = textwrap.dedent("""
    import sys, warnings
    import aigif
    from aigif.registry import generators
    from aigif.errors import AigifWarning, RenderError
    sys.path.insert(0, sys.argv[2])
    import make_tiny_model

    assert "uncond" in generators, generators.keys()          # discovered, not imported
    assert "aigif_uncond" not in sys.modules
    info = generators.get("uncond")
    assert info.code == 1024 and info.defaults.scheduler == "ddim"
    assert generators.key_for_code(1024) == "uncond"

    path = make_tiny_model.make(sys.argv[1])
    model = aigif.register_model("tiny-uncond", path)
    assert model.generator == "uncond"                         # from model_index.json
    meta = aigif.GenerationMeta(model="tiny-uncond", seed=42, steps=3, width=8, height=8)
    assert meta.guidance_scale == 0.0                          # the extension's defaults
    image, data = aigif.generate(meta, device="cpu")
    f = aigif.loads(data)
    assert f.meta.generator == "uncond" and f.meta.model == "tiny-uncond"
    res = f.render(device="cpu")
    assert res.exact is True and res.image.size == (8, 8)
    assert res.image.tobytes() == image.tobytes()

    # the same model straight through diffusers gives the same pixels
    import torch, diffusers
    pipe = diffusers.DDIMPipeline.from_pretrained(path, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    want = pipe(batch_size=1, num_inference_steps=3, eta=0.0,
                generator=torch.Generator().manual_seed(42)).images[0]
    assert want.tobytes() == image.tobytes()

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        aigif.render_file(aigif.AigifFile(meta=meta.replace(prompt="a cat")), device="cpu")
    assert any("does not use prompt" in str(x.message) for x in w)
    try:
        aigif.render_file(aigif.AigifFile(meta=meta.replace(width=16, height=16)),
                          device="cpu")
    except RenderError as e:
        assert "8x8" in str(e)
    else:
        raise AssertionError("size mismatch not refused")
    print("OK")
""")


def _fake_install(site: Path) -> None:
    """What ``pip install examples/example_extension`` leaves in site-packages."""
    shutil.copy(EXAMPLE / "aigif_uncond.py", site / "aigif_uncond.py")
    dist = site / "aigif_uncond-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: aigif-uncond\n"
                                   "Version: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[aigif.generators]\n"
                                           "uncond = aigif_uncond:GENERATOR\n")


def test_entry_point_matches_pyproject():
    text = (EXAMPLE / "pyproject.toml").read_text()
    assert '[project.entry-points."aigif.generators"]' in text
    assert 'uncond = "aigif_uncond:GENERATOR"' in text


def test_example_extension_through_entry_point(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _fake_install(site)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    env["AIGIF_PIPELINE_CACHE"] = "1"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT,
                          str(tmp_path / "model"), str(EXAMPLE)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")
