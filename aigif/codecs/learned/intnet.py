"""Integer-only networks (numpy int64, no torch): exact on every machine and thread count.

A network is a list of layers ``("conv", W, b, shift)``, ``("relu",)``, ``("shuffle", r)``.
Activations are fixed-point integers with ``FRAC`` fractional bits. A conv holds integer
weights ``W`` [O, C, k, k] with ``shift`` fractional bits and integer bias ``b`` [O] with
``FRAC + shift`` fractional bits; it computes sum(W * x) + b exactly in int64, then shifts
right by ``shift`` rounding half up (arithmetic shift: floor), then clamps to +-``CLAMP``.
Integer addition is associative, so the result does not depend on summation order,
BLAS, thread count or CPU: an entropy model driven by it cannot desynchronize. (When the
data bound every partial sum below 2**52, the products are summed by a float64 matmul,
which is then exact too; otherwise by int64 arithmetic. Both give the same integers.)

``quantize_conv(weight, bias, shift)`` turns float conv parameters into such a layer;
``run(net, x)`` runs it on an int64 array [C, H, W].
"""
from __future__ import annotations

import numpy as np

__all__ = ["FRAC", "CLAMP", "quantize_conv", "run", "to_fixed", "conv_phase"]

FRAC = 12
CLAMP = 1 << 40


def to_fixed(x: np.ndarray, frac: int = FRAC) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64) * (1 << frac)).astype(np.int64)


def quantize_conv(weight: np.ndarray, bias: np.ndarray, shift: int = 16
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Float conv parameters -> (int32 W with ``shift`` fractional bits, int64 bias)."""
    w = np.round(np.asarray(weight, np.float64) * (1 << shift)).astype(np.int32)
    b = np.round(np.asarray(bias, np.float64) * (1 << (FRAC + shift))).astype(np.int64)
    return w, b


#: float64 represents every integer below 2**53 exactly
_EXACT = 1 << 52


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, shift: int) -> np.ndarray:
    return conv_phase(x, w, b, shift, 0, 0, 1)


def conv_phase(x: np.ndarray, w: np.ndarray, b: np.ndarray, shift: int, a: int, b0: int,
               period: int) -> np.ndarray:
    """The same-padded integer conv of ``x`` [C, H, W] evaluated only at the positions
    (a + period*u, b0 + period*v): output [O, H/period, W/period] (H, W multiples of
    ``period``). ``period`` 1 is the plain conv."""
    o, c, k, _ = w.shape
    if x.shape[0] != c:
        raise ValueError(f"integer conv expects {c} channels, got {x.shape[0]}")
    p = k // 2
    _, hh, ww = x.shape
    h, wd = -(-(hh - a) // period), -(-(ww - b0) // period)
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    cols = np.empty((c, k, k, h, wd), dtype=np.int64)
    for i in range(k):
        for j in range(k):
            cols[:, i, j] = xp[:, a + i:a + i + period * (h - 1) + 1:period,
                               b0 + j:b0 + j + period * (wd - 1) + 1:period]
    cols = cols.reshape(c * k * k, h * wd)
    wm = w.astype(np.int64).reshape(o, c * k * k)
    # Fast path, still exact: when every partial sum is an integer below 2**52 in
    # magnitude, float64 (BLAS, any order, any thread count, FMA or not) computes it
    # exactly. The bound is checked on the actual data; otherwise int64 arithmetic.
    bound = int(np.abs(wm).sum(1).max(initial=0)) * int(np.abs(cols).max(initial=0))
    if bound < _EXACT:
        acc = (wm.astype(np.float64) @ cols.astype(np.float64)).astype(np.int64)
    else:
        acc = wm @ cols
    acc += b.astype(np.int64)[:, None]
    out = (acc + (1 << (shift - 1))) >> shift
    return np.clip(out, -CLAMP, CLAMP).reshape(o, h, wd)


def _shuffle(x: np.ndarray, r: int) -> np.ndarray:
    c, h, w = x.shape
    return x.reshape(c // (r * r), r, r, h, w).transpose(0, 3, 1, 4, 2).reshape(
        c // (r * r), h * r, w * r)


def run(net: list, x: np.ndarray) -> np.ndarray:
    """Run an integer network on int64 activations [C, H, W] (FRAC fractional bits)."""
    x = np.asarray(x, dtype=np.int64)
    for layer in net:
        if layer[0] == "conv":
            x = _conv(x, layer[1], layer[2], layer[3])
        elif layer[0] == "relu":
            x = np.maximum(x, 0)
        elif layer[0] == "shuffle":
            x = _shuffle(x, layer[1])
        else:
            raise ValueError(f"unknown integer layer {layer[0]!r}")
    return x
