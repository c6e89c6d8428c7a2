"""Compiled twin of the text method 3 (cm2) decoder; see _cm2fast.c. Used through cm2.Model."""
from collections.abc import Sequence

class Decoder:
    def __init__(self, keys: Sequence[int], start: Sequence[int], syms: Sequence[int],
                 cum: Sequence[int], units: list[str], kinds: str, space: int,
                 case: Sequence[Sequence[int]], flag: Sequence[Sequence[int]],
                 uni: Sequence[int], max_chars: int, malformed: type[Exception],
                 limit: type[Exception]) -> None:
        """keys/start/syms/cum: u64/u32/u16/u32 buffers (held, not copied) or int sequences
        (copied); raises ValueError or TypeError for tables it does not take."""
    def decode(self, data: bytes) -> tuple[str, str]:
        """(prompt, negative); raises ``malformed`` or ``limit`` as cm2.Model.decode does."""
