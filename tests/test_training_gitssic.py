"""training/codecs/train_gitssic.py: random group maps, and a run stopped and resumed
ends with the same weights as an uninterrupted one (seeded, checkpointed), across the
phase-1 / phase-2 switch; the export loads as a working codec."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("constriction")
pytest.importorskip("safetensors")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training" / "codecs"))
import train_gitssic as T  # noqa: E402

TINY = ["--C", "8", "16", "16", "--depths", "2", "1", "1", "--heads", "1", "2", "2",
        "--M", "16", "--H", "8", "--Mh", "16", "--batch", "2", "--crop", "64",
        "--phase2-at", "3", "--ckpt-every", "2"]


def test_random_groups_are_labelled_regions():
    rng = np.random.default_rng(0)
    ks = set()
    for _ in range(40):
        g = T.random_groups(rng, 8, 8)
        assert g.shape == (8, 8) and g.min() >= 0 and g.max() < 6
        ks.add(int(g.max()) + 1)
    assert len(ks) >= 4               # 1..6 regions drawn


@pytest.fixture
def data(monkeypatch):
    rng = np.random.default_rng(1)
    ims = [rng.integers(0, 256, (260, 270, 3), dtype=np.uint8) for _ in range(3)]
    monkeypatch.setattr(T, "image_files", lambda: (["a", "b"], ["c"]))
    monkeypatch.setattr(T, "load", lambda paths: [ims[i % 3] for i in range(len(paths))])


def test_resumed_run_equals_uninterrupted_run_and_exports(data, tmp_path):
    T.main(["--run", str(tmp_path / "a"), "--steps", "5", *TINY])
    T.main(["--run", str(tmp_path / "b"), "--steps", "2", *TINY])      # stop at 2
    T.main(["--run", str(tmp_path / "b"), "--steps", "5", *TINY])      # resume to 5
    a = torch.load(tmp_path / "a" / "final.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "final.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = T.main(["--run", str(tmp_path / "c"), "--steps", "5", "--seed", "7", *TINY])
    assert c is None
    cw = torch.load(tmp_path / "c" / "final.pt", weights_only=False)["model"]
    assert not all(torch.equal(a[k], cw[k]) for k in a)      # the seed matters
    out = tmp_path / "w.safetensors"
    T.main(["--run", str(tmp_path / "a"), "--export", str(out)])
    from safetensors.torch import load_file

    from aigif.codecs.learned.gitssic_model import GitSsicCoder
    coder = GitSsicCoder(load_file(out))
    assert coder.M == 16 and coder.H == 8


def test_accelerate_path_trains_like_the_plain_loop_on_cpu(data, tmp_path):
    """``--accelerate`` (the GPU route) runs here on the CPU through a real
    ``accelerate.Accelerator``: same steps, same weights as the plain loop up to float
    noise (one process, no mixed precision)."""
    pytest.importorskip("accelerate")
    T.main(["--run", str(tmp_path / "plain"), "--steps", "4", *TINY])
    T.main(["--run", str(tmp_path / "acc"), "--steps", "4", "--accelerate", *TINY])
    a = torch.load(tmp_path / "plain" / "final.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "acc" / "final.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
