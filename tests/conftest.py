"""Fixtures shared by the test modules: repository paths, sealing raw bytes into a file
(the CRC the format ends with), a Python subprocess, and small test images."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return ROOT


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """``spec/vectors`` (``valid/`` and ``invalid/``)."""
    return ROOT / "spec" / "vectors"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repository (data the tests may read; skip when absent)."""
    p = ROOT.parent / "shared"
    if not p.is_dir():
        pytest.skip("../shared is not here")
    return p


@pytest.fixture(scope="session")
def seal() -> Callable[[bytes], bytes]:
    """``seal(raw)``: ``raw`` + the 2-byte integrity check a file of that length needs, so a
    hand-built or mutated body reaches the parser instead of failing the checksum."""
    from aigif.io import check_value

    def _seal(raw: bytes) -> bytes:
        return raw + check_value(raw, len(raw) + 2).to_bytes(2, "big")
    return _seal


@pytest.fixture(scope="session")
def run_py() -> Callable[..., subprocess.CompletedProcess]:
    """``run_py(code, *args)``: run ``python -c code`` in a fresh process (repository on the
    path), capture its output."""
    def _run(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, env=env, timeout=timeout)
    return _run


@pytest.fixture
def rgb_image():
    """``rgb_image(w, h, seed)``: a deterministic noisy RGB PIL image (needs Pillow)."""
    Image = pytest.importorskip("PIL.Image")
    import random

    def _make(w: int = 64, h: int = 48, seed: int = 0):
        rnd = random.Random(seed)
        return Image.frombytes("RGB", (w, h), bytes(rnd.randrange(256) for _ in range(w * h * 3)))
    return _make
