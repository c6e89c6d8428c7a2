"""aigif.scale: batch rendering of many files, resumable after a crash (real SIGKILLs),
local worker processes with the same pixels as one process."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
import aigif  # noqa: E402
from aigif.render.local import content_hash  # noqa: E402
from aigif.scale import Manifest, render_many  # noqa: E402

import _tiny_pipelines as tp  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scale_model(tmp_path_factory):
    """A tiny SD model in a model folder ($AIGIF_MODEL_PATH) and its content hash."""
    import torch
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("scale_models")
    return root, content_hash(tp.build("sd", root / "tiny-sd"))


@pytest.fixture
def make_files(scale_model, monkeypatch, tmp_path):
    """``make_files(n)``: n generated .aigif files (32x32, 2 steps, with fingerprints)."""
    monkeypatch.setenv("AIGIF_MODEL_PATH", str(scale_model[0]))

    def make(n: int, folder: str = "in", seed0: int = 0) -> list[Path]:
        d = tmp_path / folder
        d.mkdir(exist_ok=True)
        out = []
        for i in range(seed0, seed0 + n):
            m = aigif.GenerationMeta(model="local:" + scale_model[1].hex(), generator="sd",
                                     prompt=f"a lighthouse {i}", seed=i, steps=2, width=32,
                                     height=32, scheduler="euler")
            _, data = aigif.render.generate(m, device="cpu")
            p = d / f"f{i:02d}.aigif"
            p.write_bytes(data)
            out.append(p)
        return out
    return make


def _pixels(p: Path) -> bytes:
    from PIL import Image
    with Image.open(p) as im:
        return im.convert("RGB").tobytes()


def test_render_many_streams_reports_failures_and_resumes(make_files, tmp_path):
    files = make_files(3)
    bad = tmp_path / "in" / "bad.aigif"
    bad.write_bytes(b"not an aigif file")
    missing = tmp_path / "in" / "missing.aigif"
    aigif.save(aigif.GenerationMeta(model="local:" + "ef" * 16, generator="sd", seed=1), missing)
    out = tmp_path / "out"
    run = render_many([*files, bad, missing], out, device="cpu", download=False)
    items = list(run)
    by = {Path(i.src).name: i for i in items}
    assert [by[f.name].status for f in files] == ["done"] * 3
    assert all(by[f.name].exact is True for f in files)
    assert by["bad.aigif"].status == "failed" and by["bad.aigif"].error
    assert by["missing.aigif"].status == "failed" and "register_model" in by["missing.aigif"].error
    r = run.report
    assert (r.done, r.failed, r.skipped, r.loads) == (3, 2, 0, 1)
    for f in files:                           # the pixels the file's fingerprint names
        assert aigif.open(f).fingerprint == aigif.render.image_fingerprint(
            __import__("PIL.Image").Image.open(out / (f.stem + ".png")))
    # the manifest says what each became; a rerun renders only the failures again
    m = Manifest(out / ".aigif-render.jsonl")
    assert m.counts() == {"done": 3, "failed": 2}
    again = render_many([*files, bad, missing], out, device="cpu", download=False).wait()
    assert (again.done, again.skipped, again.failed, again.loads) == (0, 3, 2, 0)
    # an output changed behind the run's back is rendered again (its sha256 differs)
    (out / "f00.png").write_bytes(b"junk")
    again = render_many(files, out, device="cpu", overwrite=True).wait()
    assert (again.done, again.skipped) == (1, 2)
    assert _pixels(out / "f00.png")
    # other render options (here the dtype) make other fingerprints: all rendered again
    again = render_many(files, out, device="cpu", dtype="float32", overwrite=True).wait()
    assert again.done == 3


def test_published_output_without_a_manifest_line_is_not_rendered_again(make_files, tmp_path):
    """A crash between the rename and the manifest line: the worker's intent (sha256 of
    the bytes it published) lets the rerun count the output as done."""
    files = make_files(2)
    out = tmp_path / "out"
    render_many(files, out, device="cpu").wait()
    man = out / ".aigif-render.jsonl"
    man.write_text(man.read_text().splitlines()[0] + "\n" + '{"dst": "torn')  # lost + torn
    again = render_many(files, out, device="cpu")
    assert [i.status for i in again] == ["skipped", "skipped"]
    assert Manifest(man).counts() == {"done": 2}


_DRIVER = """
import sys, torch
torch.set_num_threads(1)
from aigif.scale import render_many
for r in render_many(sys.argv[2:], sys.argv[1], device="cpu", workers=1):
    print(r.status, r.src, flush=True)
"""


def _kill_after(out: Path, files: list, n_done: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-c", _DRIVER, str(out), *map(str, files)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    seen = 0
    for line in p.stdout:
        seen += line.startswith("done")
        if seen >= n_done:
            os.kill(p.pid, signal.SIGKILL)
            break
    p.wait(30)
    return seen


def _published(out: Path) -> set:
    folder = out / ".aigif-render.jsonl.intents"
    return {json.loads(line)["dst"] for p in folder.glob("*.jsonl")
            for line in p.read_text().splitlines() if line.endswith("}")}


def _check_outputs(out: Path, files: list) -> None:
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]   # no partials
    for f in files:
        from PIL import Image
        with Image.open(out / (f.stem + ".png")) as im:
            assert aigif.render.image_fingerprint(im) == aigif.open(f).fingerprint


def test_sigkill_of_the_driver_then_rerun_finishes_only_what_is_missing(make_files, tmp_path):
    files = make_files(12)
    out = tmp_path / "out1"
    seen = _kill_after(out, files, 2)
    assert seen >= 2
    before = _published(out)
    assert 2 <= len(before) < len(files)       # killed mid-run
    run = render_many(files, out, workers=1, device="cpu")
    items = list(run)
    rendered = {i.dst for i in items if i.status == "done"}
    assert not rendered & before               # nothing rendered twice
    assert len(rendered) + len(before) == len(files)
    assert {i.status for i in items} <= {"done", "skipped"}
    _check_outputs(out, files)


def test_two_worker_processes_same_pixels_and_a_killed_worker(make_files, tmp_path):
    files = make_files(4)
    one = render_many(files, tmp_path / "one", device="cpu").wait()
    assert one.done == 4
    run = render_many(files, tmp_path / "two", workers=2, device="cpu")
    items = []
    for item in run:
        items.append(item)
        if len(items) == 1:     # SIGKILL one worker process in the middle of the run
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid, signal.SIGKILL)
    r = run.report
    assert r.workers == 2 and r.backend == "process"
    assert r.done + r.failed == 4 and r.done >= 1
    assert all("died" in (e or "") for _, e in r.failures)
    again = render_many(files, tmp_path / "two", device="cpu").wait()
    assert again.done == r.failed and again.skipped == r.done and again.failed == 0
    for f in files:             # identical pixels to the single-process run
        assert _pixels(tmp_path / "two" / (f.stem + ".png")) == \
            _pixels(tmp_path / "one" / (f.stem + ".png"))
    _check_outputs(tmp_path / "two", files)


def test_batching_is_opt_in_and_marked_unless_exact(make_files, tmp_path):
    files = make_files(4)
    run = render_many(files, tmp_path / "b", device="cpu", batch_size=4)
    items = list(run)
    assert {i.status for i in items} == {"done"}
    for i in items:      # approximate exactly when the pixels miss the fingerprint
        assert i.approximate == (i.exact is not True)
    for f in files:
        img = _pixels(tmp_path / "b" / (f.stem + ".png"))
        assert img


def test_cli_render_batch_run_resumes(make_files, tmp_path):
    import typer
    from typer.testing import CliRunner
    from aigif.cli import render as render_cli
    files = make_files(2)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# inputs\n{files[1].name}\n")
    (tmp_path / "in" / "list.txt").write_text(listing.read_text())
    app = typer.Typer()
    render_cli.register(app)
    args = ["render", str(files[0]), "--list", str(tmp_path / "in" / "list.txt"), "-o",
            str(tmp_path / "out"), "--resume", "--device", "cpu"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "2 rendered, 0 already done, 0 failed of 2" in r.output and "exact" in r.output
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and "0 rendered, 2 already done" in r.output, r.output


def test_convert_verify_keeps_syntax_residual_or_pixels(make_files, tmp_path):
    import typer
    from PIL import Image
    from typer.testing import CliRunner
    from aigif import interop
    from aigif.cli import interop as interop_cli
    f = aigif.open(make_files(1)[0])
    src = tmp_path / "src"
    src.mkdir()
    img = f.render(device="cpu").image
    (src / "exact.png").write_bytes(interop.export(f, "a1111", image=img, format="png"))
    noisy = img.copy()
    for i in range(0, 32, 3):
        noisy.putpixel((i, i), (0, 0, 0))
    (src / "noisy.png").write_bytes(interop.export(f, "a1111", image=noisy, format="png"))
    other = f.meta.replace(model="ckpt:someone-elses-model", model_revision=None)
    (src / "elsewhere.png").write_bytes(interop.export(aigif.AigifFile(meta=other), "a1111",
                                                       image=img, format="png"))
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    app = typer.Typer()
    interop_cli.register(app)
    r = CliRunner().invoke(app, ["convert", str(src), "-o", str(tmp_path / "out"),
                                 "--verify", "--target", "exact", "--offline"])
    assert r.exit_code == 0, r.output
    assert "verified: syntax 1, residual 1, pixels 1" in r.output, r.output
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before   # originals untouched
    out = tmp_path / "out"
    e, n, o = (aigif.open(out / f"{k}.aigif") for k in ("exact", "noisy", "elsewhere"))
    assert e.payload is None and e.residual is None
    assert n.residual is not None and n.payload is None
    assert o.payload is not None
    for name, g in (("exact", e), ("noisy", n), ("elsewhere", o)):   # exact pixels back
        with Image.open(src / f"{name}.png") as im:
            want = im.convert("RGB").tobytes()
        assert g.image(policy="auto", device="cpu").image.convert("RGB").tobytes() == want
