"""The examples run as a newcomer would run them."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_runs():
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "valid=True" in r.stdout


SHARED = ROOT.parent / "shared"


def test_pixels_only_example(tmp_path):
    import pytest
    kodak = SHARED / "data" / "kodak" / "kodim23.png"
    if not kodak.exists():
        pytest.skip("needs ../shared/data/kodak")
    out = tmp_path / "k.aigif"
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "pixels_only.py"), str(kodak),
                        str(out), "webp", "70"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "AIGIF" in r.stdout and out.stat().st_size > 1000


def test_convert_folder_example(tmp_path):
    import pytest
    src = SHARED / "fixtures" / "metadata" / "sd-parsers" / "parsers" / "AUTOMATIC1111"
    if not src.exists():
        pytest.skip("needs ../shared/fixtures")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "convert_folder.py"), str(src),
                        str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "out").rglob("*.aigif"))


def test_examples_print_usage_without_arguments():
    for name in ("pixels_only.py", "convert_folder.py"):
        r = subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode != 0 and "Traceback" not in r.stderr and "python examples" in r.stderr


def test_tiny_demo_main_job(tmp_path):
    """The README's main job: prompt -> tiny .aigif -> rendered back exactly, offline."""
    import pytest
    pytest.importorskip("torch")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "tiny_demo.py"),
                        "a small blue square on a black background"], capture_output=True,
                       text=True, timeout=600, cwd=tmp_path,
                       env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    assert "render exact  : True" in r.stdout
    size = (tmp_path / "out" / "tiny.aigif").stat().st_size
    assert f"out/tiny.aigif: {size} bytes" in r.stdout and size < 200


def test_object_regions_example(tmp_path):
    """Object regions from cross-attention, stored as gitssic groups named in the file."""
    import pytest
    pytest.importorskip("torch")
    pytest.importorskip("constriction")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "object_regions.py"),
                        "a large red circle in the top left corner on a white background"],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path,
                       env={**__import__("os").environ, "HF_HUB_OFFLINE": "1",
                            "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert "objects   : large red circle, white background" in r.stdout
    assert "only 'large red circle' decoded" in r.stdout
    assert (tmp_path / "out" / "object.png").is_file()
