"""benchmarks/lvc.py (issue 20): the BD-rate it reports on known curves, and the harness on
two tiny frames with one classical codec."""
from __future__ import annotations

import importlib.util
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lvc():
    name = "_aigif_bench_lvc"
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "lvc.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop(name, None)


ANCHOR = [(100.0, 30.0), (180.0, 33.0), (330.0, 36.0), (600.0, 39.0), (1100.0, 42.0)]


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_known_curves(lvc, method):
    def bd(a, t):
        return lvc.bd_rate(a, t, method)
    assert bd(ANCHOR, ANCHOR) == pytest.approx(0.0, abs=1e-9)
    half = [(r / 2, p) for r, p in ANCHOR]
    assert bd(ANCHOR, half) == pytest.approx(-50.0, abs=1e-6)
    double = [(r * 2, p) for r, p in ANCHOR]
    assert bd(ANCHOR, double) == pytest.approx(100.0, abs=1e-6)
    # the points' order does not matter; a curve 1 dB better costs fewer bits
    better = [(r, p + 1) for r, p in reversed(ANCHOR)]
    assert bd(ANCHOR, better) < -5
    # no common PSNR range, or too few points: n/a
    assert bd(ANCHOR, [(r, p + 20) for r, p in ANCHOR]) is None
    assert bd(ANCHOR, ANCHOR[:3]) is None


def test_bd_rate_pchip_steady_on_a_saturating_curve(lvc):
    # a learned codec's curve that flattens at high rate: the cubic fit of log rate over
    # PSNR swings between the flat points; the piecewise-cubic one stays near the
    # piecewise-linear reading of the same points
    flat = [(80.0, 30.0), (120.0, 33.0), (250.0, 35.0), (500.0, 35.4), (900.0, 35.5)]
    grid = np.linspace(30.0, 35.5, 2001)

    def lin(pts):
        return np.interp(grid, [p for _, p in pts], [math.log(r) for r, _ in pts])
    ref = 100 * (math.exp(float(np.mean(lin(flat) - lin(ANCHOR)))) - 1)
    v = lvc.bd_rate(ANCHOR, flat)
    assert abs(v - ref) < 5, (v, ref)
    assert abs(lvc.bd_rate(ANCHOR, flat, "cubic") - ref) > 10   # what pchip is for


def test_bd_table_per_clip(lvc):
    rows = [dict(clip="c", codec=k, kbps=r * f, psnr=p)
            for k, f in (("h264", 1.0), ("sth", 4.0), ("envc", 2.0)) for r, p in ANCHOR]
    bd = lvc.bd_table(rows, ["c"])
    assert bd["vs h264"]["envc"]["c"] == pytest.approx(100.0, abs=1e-6)
    assert bd["vs h264"]["sth"]["c"] == pytest.approx(300.0, abs=1e-6)
    assert bd["vs sth intra"]["envc"]["c"] == pytest.approx(-50.0, abs=1e-6)
    assert "h264" not in bd["vs h264"] and "sth" not in bd["vs sth intra"]
    text = lvc.format_bd(bd, ["c"])
    assert "| envc | -50.0 % | -50.0 % |" in text


def test_harness_two_tiny_frames(lvc):
    pytest.importorskip("av")
    if lvc.available("h264"):
        pytest.skip("h264 (PyAV with libx264) not available")
    y, x = np.mgrid[0:64, 0:64]
    f0 = ((x * 4 + y * 2) % 256).astype(np.uint8)
    clip = np.stack([np.stack([f0] * 3, -1), np.stack([np.roll(f0, 2, 1)] * 3, -1)])
    rows = lvc.run_clip("tiny", clip, Fraction(10), ["h264"], 2, ablations=True,
                        log=lambda s: None)
    assert [r["setting"] for r in rows] == ["crf 12", "crf 51"]
    lo, hi = rows
    assert all(r["clip"] == "tiny" and r["frames"] == 2 and r["bytes"] > 0 for r in rows)
    assert lo["kbps"] == pytest.approx(lo["bytes"] * 8 * 10 / 2 / 1000)
    assert lo["bytes"] > hi["bytes"] and lo["psnr"] > hi["psnr"] > 15
    assert lo["ms_ssim"] is None          # 64 px: too small for 5-scale MS-SSIM
    assert lo["dec_fps"] > 0
    assert lvc._fmt_row(lo).startswith("| h264 | crf 12 |")


def test_psnr_at_equal_rate(lvc):
    # linear in log rate between the two nearest points; outside: the end segment, flagged
    assert lvc.psnr_at(ANCHOR, 180.0) == (33.0, False)
    p, ext = lvc.psnr_at(ANCHOR, (100.0 * 180.0) ** 0.5)
    assert p == pytest.approx(31.5) and not ext
    p, ext = lvc.psnr_at(ANCHOR, 1100.0 * (1100.0 / 600.0) ** 0.25)
    assert p == pytest.approx(42.75) and ext
    assert lvc.psnr_at(ANCHOR, 1100.0 * 1.3) is None       # too far out: n/a
    assert lvc.psnr_at(ANCHOR, 70.0) is None
    assert lvc.psnr_at(ANCHOR[:1], 100.0) is None
