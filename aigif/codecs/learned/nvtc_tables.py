"""NVTC's frozen index tables: 16-bit integer frequencies (no torch).

Every codebook position has a categorical distribution over its codewords, frozen with
the weights as integers that sum to exactly ``TOTAL`` (2**16), each at least 1 so that
any index can be coded. Encoder and decoder use these integers only, so the symbols a
stream decodes to never depend on float rounding.
"""
from __future__ import annotations

import numpy as np

from .tables import PMF_BITS as PRECISION
from .tables import quantize_pmf  # float PMFs -> int32 rows >= 1 summing to 2**16

__all__ = ["PRECISION", "TOTAL", "quantize_pmf", "check_table", "code_lengths"]

TOTAL = 1 << PRECISION


def check_table(freq: np.ndarray) -> None:
    """Raise ValueError unless every row is >= 1 and sums to TOTAL."""
    f = np.asarray(freq)
    if f.dtype.kind not in "iu" or f.ndim < 1 or (f < 1).any() \
            or (f.astype(np.int64).sum(-1) != TOTAL).any():
        raise ValueError("index table rows must be integers >= 1 summing to 2**16")


def code_lengths(freq: np.ndarray) -> np.ndarray:
    """Ideal code lengths in bits, -log2(freq / TOTAL), float64."""
    return PRECISION - np.log2(np.asarray(freq, dtype=np.float64))
