"""Compiled twin of text method 2 (cm1); see _cmfast.c. Used through cm.Model only."""

ERR_RANGE: int
ERR_END: int
ERR_EMPTY_SPELL: int
ERR_NO_PREV: int
ERR_SURROGATE: int
ERR_LIMIT: int

class Coder:
    def __init__(self, vocab: list[str], tables: list[tuple[list[int], list[int]]],
                 parent: list[int], big: list[tuple[str, int]], groups: list[tuple[str, int]],
                 logtab: list[int], max_chars: int) -> None: ...
    def decode(self, data: bytes) -> tuple[str, str] | int:
        """(prompt, negative), or an error code: kind | code_point << 8."""
    def encode(self, prompt: str, negative: str) -> bytes: ...
