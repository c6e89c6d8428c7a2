"""Freeze a trained ``sth`` checkpoint into the shipped weights (safetensors).

    python training/codecs/export_sth.py training/codecs/runs/sth/final.pt \
        [aigif/codecs/learned/weights/sth-mshp-1.safetensors]

Float transforms are stored as float16; the hyper-synthesis as an integer network; the
entropy models as 16-bit integer tables (aigif.codecs.learned.models.export_mshp).
Prints the file size and its SHA-256 prefix (what payloads carry).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from aigif.codecs.learned.models import MeanScaleHyperprior, export_mshp  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    src = Path(argv[0])
    dst = Path(argv[1]) if len(argv) > 1 else \
        ROOT / "aigif/codecs/learned/weights/sth-mshp-1.safetensors"
    torch.set_num_threads(1)
    ck = torch.load(src, weights_only=False)
    a = ck["args"]
    model = MeanScaleHyperprior(a["N"], a["M"], a["H"])
    model.load_state_dict(ck["model"])
    model.eval()
    from safetensors.torch import save_file
    meta = {"step": str(ck.get("step")), "lmbda": str(a["lmbda"]), "seed": str(a["seed"]),
            "phase1_steps": str(a["phase1_steps"]), "phase2_steps": str(a["phase2_steps"]),
            "noise_only": str(a.get("noise_only", False))}
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(export_mshp(model), dst, metadata=meta)
    data = dst.read_bytes()
    print(f"{dst}: {len(data)} bytes, sha256[:8] {hashlib.sha256(data).digest()[:8].hex()}")


if __name__ == "__main__":
    main()
