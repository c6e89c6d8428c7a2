"""Attack: make aigif write where it should not (issue 13, items 8, 9, 11, validate).

Planted links at predictable temporary names and at the output path, symlinked folders
inside a batch output folder, several inputs that map to one output, the mode of new
files, a write that fails half-way, and ``validate`` over files one of which raises. Each
runs the real command (typer's CliRunner on ``aigif.cli.main.app``).
"""
import json
import os
import sys
import stat

import pytest
from typer.testing import CliRunner

PIL = pytest.importorskip("PIL")
from PIL import Image, PngImagePlugin  # noqa: E402

import aigif  # noqa: E402
from aigif.cli.main import _register_features, app  # noqa: E402

if not any(c.name == "convert" for c in app.registered_commands):
    _register_features()
runner = CliRunner()

VICTIM = b"precious bytes that aigif must never touch"
INFOTEXT = ("{p}\nNegative prompt: fog\nSteps: 24, Sampler: DPM++ 2M, Schedule type: Karras, "
            "CFG scale: 6, Seed: 99, Size: 512x768, Model: dreamshaper_8")


def cli(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    return r


def _png(path, prompt="a lighthouse", size=(8, 8)):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", INFOTEXT.format(p=prompt))
    Image.new("RGB", size, "teal").save(path, "PNG", pnginfo=info)


def _pixels_file(path, seed=1):
    """A file whose model is not here but which holds its pixels (no torch needed)."""
    meta = aigif.GenerationMeta(model="local:" + "ef" * 16, generator="sd", seed=seed,
                                prompt="a red square")
    aigif.save(meta, path, image=Image.new("RGB", (8, 8), "red"), fallback="png")
    return path


def _fake_generate(monkeypatch):
    """`aigif generate` without a model: the command's own writing is what is attacked."""
    import aigif.render as r

    def gen(meta, **kw):
        return Image.new("RGB", (8, 8), "blue"), aigif.dumps(meta)
    monkeypatch.setattr(r, "generate", gen, raising=False)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or
                  p.name.endswith((".part", ".tmp")))


# ------------------------------------------------------------------ item 8: symlinks
def test_export_ignores_a_planted_part_symlink(tmp_path):
    src = _pixels_file(tmp_path / "a.aigif")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM)
    (tmp_path / "out.png.part").symlink_to(victim)         # the old predictable temp name
    r = cli("export", src, "-o", tmp_path / "out.png", "--as", "a1111")
    assert r.exit_code == 0, r.output
    assert victim.read_bytes() == VICTIM
    out = tmp_path / "out.png"
    assert not out.is_symlink() and Image.open(out).size == (8, 8)
    assert (tmp_path / "out.png.part").is_symlink()        # never used, never followed


def _command(name, tmp_path, out):
    src = _pixels_file(tmp_path / "in.aigif")
    meta = tmp_path / "m.json"
    meta.write_text(json.dumps({"model": "sd15", "prompt": "a cat", "seed": 3}))
    png = tmp_path / "in.png"
    _png(png)
    return {
        "decode": ["decode", src, "-o", out],
        "export": ["export", src, "-o", out, "--as", "a1111"],
        "render": ["render", src, "-o", out, "--fallback-pixels", "--offline"],
        "generate": ["generate", "--json", meta, "-o", tmp_path / "g.aigif", "--image", out],
        "encode": ["encode", "--model", "sd15", "--prompt", "a cat", "-o", out],
        "hybrid": ["hybrid", "--image", png, "--regenerated", png, "--exact", "--codecs", "png",
                   "-o", out],
    }[name]


COMMANDS = ["decode", "export", "render", "generate", "encode", "hybrid"]


def _out_name(name):
    return "out.aigif" if name in ("encode", "hybrid") else "out.png"


@pytest.mark.parametrize("name", COMMANDS)
def test_dangling_symlink_at_output_is_refused(name, tmp_path, monkeypatch):
    _fake_generate(monkeypatch)
    out = tmp_path / _out_name(name)
    target = tmp_path / "elsewhere" / "planted"
    (tmp_path / "elsewhere").mkdir()
    out.symlink_to(target)
    r = cli(*_command(name, tmp_path, out))
    assert r.exit_code != 0, r.output
    assert "symbolic link" in r.output
    assert not target.exists() and out.is_symlink()


@pytest.mark.parametrize("name", ["decode", "render", "generate"])   # those wrote through
def test_force_replaces_the_link_never_its_target(name, tmp_path, monkeypatch):
    _fake_generate(monkeypatch)
    out = tmp_path / _out_name(name)
    victim = tmp_path / "victim.bin"
    victim.write_bytes(VICTIM)
    out.symlink_to(victim)
    r = cli(*_command(name, tmp_path, out), "--force")
    assert r.exit_code == 0, r.output
    assert victim.read_bytes() == VICTIM
    assert not out.is_symlink() and out.stat().st_size > 0
    assert _leftovers(tmp_path) == []


def test_save_refuses_a_symlink(tmp_path):
    victim = tmp_path / "victim.bin"
    victim.write_bytes(VICTIM)
    link = tmp_path / "x.aigif"
    link.symlink_to(victim)
    with pytest.raises(aigif.errors.FileAccessError, match="symbolic link"):
        aigif.save(aigif.GenerationMeta(model="sd15", prompt="a"), link)
    assert victim.read_bytes() == VICTIM and link.is_symlink()


# ---------------------------------------------------- item 9: escapes and collisions
def test_convert_does_not_follow_a_symlinked_subfolder_out_of_out(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    _png(src / "a.png")
    _png(src / "sub" / "b.png")
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "sub").symlink_to(outside, target_is_directory=True)
    for extra in ([], ["--force"]):
        r = cli("convert", src, "-o", out, "--recursive", *extra)
        assert r.exit_code == 1, r.output
        assert "outside the output folder" in r.output
        assert list(outside.iterdir()) == []
        assert (out / "a.aigif").is_file()


def test_convert_roots_with_the_same_name_never_overwrite(tmp_path):
    roots = []
    for i in range(3):
        d = tmp_path / f"r{i}"
        d.mkdir()
        _png(d / "x.png", prompt=f"picture number {i}")
        roots.append(d)
    out = tmp_path / "out"
    for extra in ([], ["--force"]):
        r = cli("convert", *roots, "-o", out, *extra)
        assert r.exit_code == 1, r.output                    # one input refused, said so
        assert "converted 2 of 3" in r.output
        assert "already that of" in r.output and "r2" in r.output
        assert aigif.open(out / "x.aigif").meta.prompt == "picture number 0"
        assert aigif.open(out / "x.png.aigif").meta.prompt == "picture number 1"
        assert sorted(p.name for p in out.iterdir()) == ["x.aigif", "x.png.aigif"]


def test_render_inputs_with_the_same_name_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _pixels_file(tmp_path / "a" / "x.aigif", seed=1)
    b = _pixels_file(tmp_path / "b" / "x.aigif", seed=2)
    out = tmp_path / "out"
    r = cli("render", a, b, "-o", out, "--fallback-pixels", "--offline", "--force")
    assert r.exit_code == 2, r.output
    assert "would both be written to" in r.output
    assert not (out / "x.png").exists()


# ------------------------------------------------------------------ item 11: modes
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_new_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        p = tmp_path / "s.aigif"
        aigif.save(aigif.GenerationMeta(model="sd15", prompt="a"), p)
        src = tmp_path / "in"
        src.mkdir()
        _png(src / "a.png")
        assert cli("convert", src, "-o", tmp_path / "out").exit_code == 0
        assert cli("encode", "--model", "sd15", "-o", tmp_path / "e.aigif").exit_code == 0
        assert cli("decode", _pixels_file(tmp_path / "px.aigif"), "-o",
                   tmp_path / "d.png").exit_code == 0
        for f in (p, tmp_path / "out" / "a.aigif", tmp_path / "e.aigif", tmp_path / "d.png"):
            assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f
    finally:
        os.umask(old)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_overwrite_keeps_the_mode_of_the_old_file(tmp_path):
    p = tmp_path / "s.aigif"
    p.write_bytes(b"old")
    p.chmod(0o640)
    aigif.save(aigif.GenerationMeta(model="sd15", prompt="a"), p)
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


# -------------------------------------------------------------- atomicity
def test_a_write_failing_midway_leaves_the_old_file_whole(tmp_path, monkeypatch):
    """--force over an existing image: the PNG encoder dies after writing some bytes."""
    src = _pixels_file(tmp_path / "a.aigif")
    out = tmp_path / "out.png"
    out.write_bytes(VICTIM)

    def broken(im, fp, filename, *a, **k):
        fp.write(b"\x89PNG half an image")
        raise OSError(28, "No space left on device")
    monkeypatch.setitem(Image.SAVE, "PNG", broken)
    for cmd in (["decode", src, "-o", out, "--force"],
                ["render", src, "-o", out, "--force", "--fallback-pixels", "--offline"]):
        r = cli(*cmd)
        assert r.exit_code == 2, r.output
        assert "No space left" in r.output
        assert out.read_bytes() == VICTIM
        assert _leftovers(tmp_path) == []
    new = tmp_path / "new.png"
    assert cli("decode", src, "-o", new).exit_code == 2
    assert not new.exists() and _leftovers(tmp_path) == []


def test_write_atomic_failing_writer_leaves_nothing(tmp_path):
    from aigif._atomic import write_atomic

    def writer(fh):
        fh.write(b"partial")
        raise RuntimeError("writer died")
    (tmp_path / "keep.bin").write_bytes(VICTIM)
    for name in ("keep.bin", "fresh.bin"):
        with pytest.raises(RuntimeError):
            write_atomic(tmp_path / name, writer)
    assert sorted(os.listdir(tmp_path)) == ["keep.bin"]
    assert (tmp_path / "keep.bin").read_bytes() == VICTIM


# -------------------------------------------------------------- validate goes on
def test_validate_reports_every_file_when_one_raises(tmp_path, monkeypatch):
    files = []
    for i, name in enumerate(("a", "boom", "c")):
        p = tmp_path / f"{name}.aigif"
        aigif.save(aigif.GenerationMeta(model="sd15", prompt=name, seed=i), p)
        files.append(p)
    mod = sys.modules["aigif.cli.main"]       # the CLI's own reference to aigif.validate
    real = mod.check

    def flaky(src, **kw):
        if "boom" in str(src):
            raise RecursionError("maximum recursion depth exceeded")
        return real(src, **kw)
    monkeypatch.setattr(mod, "check", flaky)
    r = cli("validate", *files)
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    assert any(ln.startswith(str(files[0])) and ln.endswith(": ok") for ln in lines)
    assert any(ln.startswith(str(files[2])) and ln.endswith(": ok") for ln in lines)
    boom = [ln for ln in lines if ln.startswith(str(files[1]))]
    assert len(boom) == 1 and "error" in boom[0] and "RecursionError" in boom[0]
    r = cli("validate", "--json", *files)
    reports = [json.loads(ln) for ln in r.output.splitlines()]
    assert [rep["ok"] for rep in reports] == [True, False, True] and r.exit_code == 1
