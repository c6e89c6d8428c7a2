"""Reading, writing and validating never import torch, diffusers, transformers or numpy."""
import subprocess
import sys
from pathlib import Path

VEC = Path(__file__).resolve().parents[1] / "spec" / "vectors" / "valid"

CODE = f"""
import sys, aigif
for p in sorted(__import__('pathlib').Path({str(VEC)!r}).glob('*.aigif')):
    f = aigif.open(p)
    _ = f.meta
    aigif.validate(p)
    aigif.dumps(f)
aigif.save(aigif.GenerationMeta(model='sd15', prompt='x', seed=1), {{}}.get('x') or __import__('io').BytesIO())
heavy = [m for m in ('torch', 'diffusers', 'transformers', 'numpy') if m in sys.modules]
print(','.join(heavy))
"""


def test_reading_writing_validating_import_nothing_heavy():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"heavy modules imported: {r.stdout.strip()}"


def test_cli_info_imports_nothing_heavy():
    code = ("import sys\nfrom aigif.cli.main import main\n"
            f"try:\n    main(['info', {str(next(VEC.glob('03-*.aigif')))!r}])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY=' + ','.join(m for m in ('torch','diffusers','numpy') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY=\n" in r.stdout + "\n" and r.stdout.strip().endswith("HEAVY="), r.stdout + r.stderr
