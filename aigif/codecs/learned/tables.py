"""Integer probability tables (numpy only, no torch): built once at export, stored with
the weights, used by the coder (:mod:`.coding`) on every machine unchanged.

``quantize_pmf(p)``: float PMFs -> int32 frequencies summing to 2**PMF_BITS, each >= 1.
``scale_table(n, lo, hi)``: geometric scale table; ``gaussian_pmf_table(scales, radius)``:
zero-mean quantized-Gaussian PMFs per table scale; ``scale_thresholds(scales, frac)``:
fixed-point midpoints for an integer-only scale -> index mapping.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["PMF_BITS", "SCALE_MIN", "quantize_pmf", "scale_table", "gaussian_pmf_table",
           "scale_thresholds"]

#: Integer tables sum to 2**PMF_BITS, every symbol at least 1.
PMF_BITS = 16
SCALE_MIN = 0.11


def quantize_pmf(p: np.ndarray, bits: int = PMF_BITS) -> np.ndarray:
    """Float PMFs (..., n) -> int32 frequencies (..., n), each >= 1, each row summing to
    2**bits exactly (the remainder goes to the row's most probable symbol)."""
    p = np.asarray(p, dtype=np.float64)
    n = p.shape[-1]
    total = 1 << bits
    if n >= total:
        raise ValueError("alphabet too large for the table precision")
    p = np.clip(p, 0, None)
    p = p / np.maximum(p.sum(-1, keepdims=True), 1e-300)
    f = np.floor(p * (total - n)).astype(np.int64) + 1
    rest = total - f.sum(-1)
    idx = np.argmax(f, axis=-1)
    np.put_along_axis(f, idx[..., None], np.take_along_axis(f, idx[..., None], -1)
                      + rest[..., None], -1)
    assert (f >= 1).all() and (f.sum(-1) == total).all()
    return f.astype(np.int32)


def scale_table(n: int = 64, lo: float = SCALE_MIN, hi: float = 40.0) -> np.ndarray:
    """The scale table: ``n`` geometrically spaced standard deviations (float64)."""
    return np.exp(np.linspace(math.log(lo), math.log(hi), n))


def gaussian_pmf_table(scales: np.ndarray, radius: int) -> np.ndarray:
    """int32 [len(scales), 2*radius+1]: zero-mean Gaussian PMFs of integer residuals."""
    v = np.arange(-radius, radius + 1, dtype=np.float64)
    edges = np.concatenate([v - 0.5, v[-1:] + 0.5])
    cdf = 0.5 * np.vectorize(math.erfc)(-edges[None, :] / (np.asarray(scales)[:, None]
                                                            * math.sqrt(2)))
    cdf[:, 0], cdf[:, -1] = 0.0, 1.0
    return quantize_pmf(np.diff(cdf, axis=1))


def scale_thresholds(scales: np.ndarray, frac_bits: int) -> np.ndarray:
    """int64 [len(scales) - 1]: fixed-point (``frac_bits``) geometric midpoints between
    neighbouring table scales. The table index of a fixed-point scale S is
    ``searchsorted(thresholds, S, side='right')``: integer comparisons only."""
    mid = np.sqrt(scales[:-1] * scales[1:])
    return np.round(mid * (1 << frac_bits)).astype(np.int64)
