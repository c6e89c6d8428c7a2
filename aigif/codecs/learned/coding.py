"""Entropy coding of integer symbols with frozen integer frequency tables (no torch).

``encode_tables(symbols, index, tables) -> bytes`` and
``decode_tables(data, index, tables) -> symbols``: ``tables`` is int32 [T, n], each row
summing to 2**PMF_BITS; symbol k (0..n-1) of position i is coded with row ``index[i]``.
Positions are grouped by table row (ascending row, raster order within a row), one rANS
stream (``constriction.stream.stack.AnsCoder``, 32-bit words written little-endian).

Why this cannot desynchronize: the decoder needs only ``index`` (which the caller derives
from already decoded integers, e.g. through :mod:`.intnet`) and the integer table; the
model handed to constriction is the table divided by 2**16, which is exact in float64,
and constriction's fixed-point quantization of it is deterministic Rust integer/IEEE code.
Garbage input decodes to garbage symbols, never hangs: the symbol count is fixed.
"""
from __future__ import annotations

import numpy as np

from .tables import PMF_BITS

__all__ = ["encode_tables", "decode_tables", "CodingError", "TableEncoder", "TableDecoder"]


class CodingError(ValueError):
    """A stream that constriction refuses (e.g. not a whole number of 32-bit words)."""


def _model(row: np.ndarray):
    import constriction
    return constriction.stream.model.Categorical(row.astype(np.float64) / (1 << PMF_BITS), perfect=False)


def encode_tables(symbols: np.ndarray, index: np.ndarray, tables: np.ndarray) -> bytes:
    enc = TableEncoder(tables)
    enc.push(symbols, index)
    return enc.bytes()


def decode_tables(data: bytes, index: np.ndarray, tables: np.ndarray) -> np.ndarray:
    return TableDecoder(data, tables).pop(index)


class TableEncoder:
    """One rANS stream built from several groups of symbols (e.g. the passes of a context
    model), pushed in REVERSE decoding order: ``push(symbols, index)`` for the last group
    first; ``bytes()``. Each group is laid out as :func:`encode_tables` lays out a stream."""

    def __init__(self, tables: np.ndarray):
        import constriction
        self.tables = tables
        self.coder = constriction.stream.stack.AnsCoder()

    def push(self, symbols: np.ndarray, index: np.ndarray) -> None:
        symbols = np.asarray(symbols).reshape(-1).astype(np.int32)
        index = np.asarray(index).reshape(-1)
        if symbols.shape != index.shape:
            raise ValueError("one table index per symbol")
        if symbols.size and (symbols.min() < 0 or symbols.max() >= self.tables.shape[1]):
            raise ValueError("symbol outside the table's alphabet")
        for t in np.unique(index)[::-1]:
            self.coder.encode_reverse(symbols[index == t], _model(self.tables[t]))

    def bytes(self) -> bytes:
        return self.coder.get_compressed().astype("<u4").tobytes()


class TableDecoder:
    """The decoder of a :class:`TableEncoder` stream: ``pop(index)`` per group, in order."""

    def __init__(self, data: bytes, tables: np.ndarray):
        import constriction
        if len(data) % 4:
            raise CodingError("entropy-coded stream is not a whole number of 32-bit words")
        self.tables = tables
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        try:
            self.coder = constriction.stream.stack.AnsCoder(words)
        except (ValueError, RuntimeError, AssertionError) as e:
            raise CodingError(f"entropy-coded stream is corrupt: {e}") from e

    def pop(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= self.tables.shape[0]):
            raise CodingError("table index out of range")
        out = np.empty(index.size, dtype=np.int32)
        try:
            for t in np.unique(index):
                sel = index == t
                out[sel] = self.coder.decode(_model(self.tables[t]), int(sel.sum()))
        except (ValueError, RuntimeError, AssertionError) as e:
            raise CodingError(f"entropy-coded stream is corrupt: {e}") from e
        return out
