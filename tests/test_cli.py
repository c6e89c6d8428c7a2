"""The aigif command: encode / info / validate, clear errors, no tracebacks."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import aigif

VEC = Path(__file__).resolve().parents[1] / "spec" / "vectors"


def run(*args, stdin=None):
    r = subprocess.run([sys.executable, "-m", "aigif", *map(str, args)], capture_output=True,
                       text=True, input=stdin)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    return r


def test_encode_flags_info_json_and_back(tmp_path):
    out = tmp_path / "c.aigif"
    r = run("encode", "--model", "sd15", "--prompt", "a cat [with] (brackets:1.2)", "--seed",
            "42", "--steps", "30", "--cfg", "7.5", "--scheduler", "euler_a", "-o", out)
    assert r.returncode == 0, r.stderr
    assert f"({out.stat().st_size} bytes)" in r.stdout
    info = json.loads(run("info", "--json", out).stdout)
    assert info["prompt"] == "a cat [with] (brackets:1.2)"
    assert (info["seed"], info["steps"], info["guidance_scale"], info["scheduler"]) == (42, 30, 7.5, "euler_a")
    # the same JSON goes back into encode
    j = tmp_path / "meta.json"
    j.write_text(json.dumps(info), encoding="utf-8")
    out2 = tmp_path / "d.aigif"
    assert run("encode", "--json", j, "-o", out2).returncode == 0
    assert out2.read_bytes() == out.read_bytes()


def test_info_table_shows_brackets(tmp_path):
    out = tmp_path / "c.aigif"
    aigif.save(aigif.GenerationMeta(model="sd15", prompt="[red] cat"), out)
    r = run("info", out)
    assert r.returncode == 0 and "[red] cat" in r.stdout


def test_validate_exit_codes_and_lines():
    good = sorted((VEC / "valid").glob("*.aigif"))[:3]
    r = run("validate", *good)
    assert r.returncode == 0 and r.stdout.count(": ok") == 3
    bad = VEC / "invalid" / "06-bad-check.aigif"
    r = run("validate", *good, bad)
    assert r.returncode == 1
    lines = [ln for ln in r.stdout.splitlines() if "06-bad-check" in ln]
    assert len(lines) == 1 and "checksum" in lines[0] and "byte" in lines[0]
    r = run("validate", "--json", bad)
    assert json.loads(r.stdout)["issues"][0]["code"] == "checksum"


@pytest.mark.parametrize("args,needle", [
    (["encode", "--model", "sd51", "-o", "{tmp}/x.aigif"], "unknown model 'sd51'"),
    (["encode", "--model", "sd15", "--steps", "0", "-o", "{tmp}/x.aigif"], "steps"),
    (["encode", "--json", "{tmp}/missing.json", "-o", "{tmp}/x.aigif"], "cannot read"),
    (["encode", "--json", "{tmp}/bad.json", "-o", "{tmp}/x.aigif"], "invalid JSON at line 1"),
    (["encode", "--json", "{tmp}/unk.json", "-o", "{tmp}/x.aigif"], "unknown keys"),
    (["info", "{tmp}/nope.aigif"], "no such file"),
    (["info", "{tmp}/bad.json"], "not an AIGIF file"),
    (["encode", "-o", "{tmp}/x.aigif"], "nothing to encode"),
])
def test_clear_errors(tmp_path, args, needle):
    (tmp_path / "bad.json").write_text("{bad")
    (tmp_path / "unk.json").write_text('{"model": "sd15", "cfg": 7}')
    r = run(*[a.format(tmp=tmp_path) for a in args])
    assert r.returncode == 2
    assert needle in r.stderr, r.stderr


def test_encode_refuses_to_overwrite(tmp_path):
    out = tmp_path / "x.aigif"
    out.write_bytes(b"keep")
    r = run("encode", "--model", "sd15", "-o", out)
    assert r.returncode == 2 and "--force" in r.stderr
    assert out.read_bytes() == b"keep"
