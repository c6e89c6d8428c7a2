"""Prompt text coding methods.

A method turns ``(prompt, negative_prompt)`` into bytes and back, losslessly. Each has a
frozen code (``spec.TextMethod``); the text block of a file starts with the code. The
writer tries every method that ``candidates()`` returns and keeps the shortest output
(ties go to the lower code), so writes are canonical.

Methods here are pure Python: reading a file never imports numpy or torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import LimitExceededError, MalformedError, RegistryError
from ..bitstream.primitives import FieldError, read_uvarint, write_uvarint as write_varint
from ..registry import Registry
from ..spec import MAX_TEXT_BYTES, TextMethod

__all__ = ["Method", "methods", "register_method", "get_method", "candidates", "encode_text",
           "decode_text"]


@dataclass(frozen=True)
class Method:
    code: int
    key: str
    encode: Callable[[str, str], bytes]
    decode: Callable[[bytes], tuple[str, str]]
    #: whether the writer tries this method by default
    default: bool = True
    #: ``worth(utf8_payload, best_block_len) -> bool``: when set, the writer tries this
    #: method only after the unconditional ones and only when this says it could win
    #: (a deterministic, machine-independent test: the choice stays canonical)
    worth: Callable[[bytes, int], bool] | None = None


def _check_method(key: str, m: object) -> None:
    if not isinstance(m, Method):
        raise RegistryError(f"text method {key!r}: expected a Method, got {type(m).__name__}")
    if m.key != key:
        raise RegistryError(f"text method key mismatch: {key!r} vs {m.key!r}")


#: Text methods: key -> Method (or "module:attr", loaded on first use), with the frozen codes
#: of ``spec.TextMethod``; entry-point group ``aigif.text_methods``. Loading happens under
#: the registry's lock, so a first use from many threads sees one method per code.
methods: Registry[Method] = Registry("text method", "aigif.text_methods", _check_method)


def register_method(m: Method, *, override: bool = False) -> None:
    """Register a text method (RegistryError when its key or code is taken)."""
    methods.register(m.key, m, code=m.code, override=override)


def register_lazy(key: str, code: int, ref: str) -> None:
    """Register a method that loads from ``"module:attr"`` (a Method) on first use."""
    methods.register(key, ref, code=code)


def get_method(code: int) -> Method:
    """The method of a text block's code; MalformedError naming the known codes if none."""
    key = methods.key_for_code(code)
    if key is None:
        raise MalformedError(f"unknown text method {code}; this reader knows "
                             f"{sorted(c for c in methods.codes())}", field="text.method")
    m = methods.get(key)
    if m.code != code:
        raise RegistryError(f"text method {key!r} declares code {m.code}, registered as {code}")
    return m


def candidates() -> list[Method]:
    """The methods the writer tries, in code order."""
    return sorted((m for m in (methods.get(k) for k in methods.keys()) if m.default),
                  key=lambda m: m.code)


# --------------------------------------------------------------------------- helpers
def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """``bitstream.read_uvarint`` with errors said as text-block errors."""
    try:
        return read_uvarint(data, pos)
    except FieldError as e:
        raise MalformedError(f"text block: {e.message}", field="text") from None


def _utf8(b: bytes, what: str) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedError(f"{what} is not valid UTF-8 (byte {e.start} of the text)",
                             field=f"text.{what}") from e


def pack_pair(prompt: str, negative: str) -> bytes:
    """``varint(len(prompt_utf8)) prompt_utf8 negative_utf8``: the UTF-8 layout."""
    p = prompt.encode("utf-8")
    out = bytearray()
    write_varint(len(p), out)
    out += p
    out += negative.encode("utf-8")
    return bytes(out)


def unpack_pair(data: bytes) -> tuple[str, str]:
    n, pos = read_varint(data, 0)
    if n > len(data) - pos:
        raise MalformedError(f"prompt length {n} is past the end of the text block",
                             field="text.prompt")
    if n > MAX_TEXT_BYTES or len(data) - pos - n > MAX_TEXT_BYTES:
        raise LimitExceededError(f"prompt over {MAX_TEXT_BYTES} bytes", field="text")
    return _utf8(data[pos:pos + n], "prompt"), _utf8(data[pos + n:], "negative_prompt")


def _brotli_encode(prompt: str, negative: str) -> bytes:
    import brotli
    return brotli.compress(pack_pair(prompt, negative), quality=11, lgwin=22,
                           mode=brotli.MODE_TEXT)


def _brotli_decode(data: bytes) -> tuple[str, str]:
    import brotli
    limit = 2 * MAX_TEXT_BYTES + 10
    try:
        dec = brotli.Decompressor()
        out = dec.process(data, output_buffer_limit=limit + 1)
        if len(out) > limit or (not dec.is_finished() and not dec.can_accept_more_data()):
            raise LimitExceededError(f"text block decompresses past {limit} bytes", field="text")
        if not dec.is_finished():
            raise MalformedError("brotli text stream is incomplete", field="text")
    except brotli.error as e:
        raise MalformedError(f"brotli text stream is corrupt: {e}", field="text") from e
    return unpack_pair(out)


register_method(Method(int(TextMethod.UTF8), "utf8", pack_pair, unpack_pair))
#: brotli (quality 11, ~0.5 ms a prompt) is tried only where it can win: text that the
#: other methods code poorly (their best block over BROTLI_TRY_RATIO of the UTF-8 payload)
#: or that repeats itself (at least BROTLI_TRY_REPEATS of its 8-byte substrings occurred
#: before). On 4,500 real and synthetic prompts plus repetitive and CJK texts this never
#: changed the chosen method (benchmarks/format.py); it keeps dumps from paying for a
#: brotli trial on every prompt.
BROTLI_TRY_RATIO = 0.35
BROTLI_TRY_REPEATS = 0.2


def _brotli_worth(raw: bytes, shortest: int) -> bool:
    if shortest > BROTLI_TRY_RATIO * len(raw):
        return True
    n = len(raw) - 7
    if n <= 0:
        return False
    return n - len({raw[i:i + 8] for i in range(n)}) >= BROTLI_TRY_REPEATS * n


register_method(Method(int(TextMethod.BROTLI), "brotli", _brotli_encode, _brotli_decode,
                       worth=_brotli_worth))
register_lazy("cm1", 2, "aigif.textcoding.cm:METHOD")  # context model v1 (spec/text-coding.md)
register_lazy("cm2", 3, "aigif.textcoding.cm2:METHOD")  # context model v2 (spec/text-coding.md)


def _block(m: Method, prompt: str, negative: str) -> bytes:
    out = bytearray()
    write_varint(m.code, out)
    out += m.encode(prompt, negative)
    return bytes(out)


def encode_text(prompt: str, negative: str, method: int | None = None) -> bytes:
    """Text block: ``varint(method) payload``, with the shortest method unless one is named.

    The writer's rule (spec/aigif-v1.md 4.3): the shortest block among the methods it
    tries, ties to the lower code; a method with a ``worth`` test (brotli) is tried only
    when that test says it could beat the shortest block of the others.
    """
    if method is not None:
        return _block(get_method(method), prompt, negative)
    ms = candidates()
    blocks = [(_block(m, prompt, negative), m.code) for m in ms if m.worth is None]
    conditional = [m for m in ms if m.worth is not None]
    if conditional:
        raw = pack_pair(prompt, negative)
        shortest = min(len(b) for b, _ in blocks) if blocks else len(raw) + 1
        blocks += [(_block(m, prompt, negative), m.code) for m in conditional
                   if not blocks or m.worth(raw, shortest)]
    return min(blocks, key=lambda bc: (len(bc[0]), bc[1]))[0]


def decode_text(block: bytes) -> tuple[str, str, int]:
    """Inverse of encode_text: ``(prompt, negative_prompt, method_code)``."""
    code, pos = read_varint(block, 0)
    m = get_method(code)
    p, n = m.decode(bytes(block[pos:]))
    return p, n, code
