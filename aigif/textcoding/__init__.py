"""Prompt text coding methods.

A method turns ``(prompt, negative_prompt)`` into bytes and back, losslessly. Each has a
frozen code (``spec.TextMethod``); the text block of a file starts with the code. The
writer tries every method that ``candidates()`` returns and keeps the shortest output
(ties go to the lower code), so writes are canonical.

Methods here are pure Python: reading a file never imports numpy or torch.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from ..errors import LimitExceededError, MalformedError, RegistryError
from ..bitstream.primitives import FieldError, read_uvarint, write_uvarint as write_varint
from ..registry import load_ref
from ..spec import MAX_TEXT_BYTES, TextMethod

__all__ = ["Method", "register_method", "get_method", "candidates", "encode_text", "decode_text"]


@dataclass(frozen=True)
class Method:
    code: int
    key: str
    encode: Callable[[str, str], bytes]
    decode: Callable[[bytes], tuple[str, str]]
    #: whether the writer tries this method by default
    default: bool = True


_methods: dict[int, Method] = {}
_lazy: dict[int, str] = {}
#: guards _methods and _lazy: a lazy entry moves to _methods under it, so no thread ever
#: sees a code in neither (the first-use race of issue 13, item 7). Re-entrant because
#: loading a lazy method imports its module, which may register methods itself.
_lock = threading.RLock()


def register_method(m: Method, *, override: bool = False) -> None:
    with _lock:
        if m.code in _methods and not override:
            raise RegistryError(f"text method code {m.code} is already registered "
                                f"({_methods[m.code].key!r})")
        _methods[m.code] = m
        _lazy.pop(m.code, None)


def register_lazy(code: int, ref: str) -> None:
    """Register a method that loads from ``"module:attr"`` (a Method) on first use."""
    with _lock:
        _lazy[code] = ref


def get_method(code: int) -> Method:
    m = _methods.get(code)
    if m is not None:
        return m
    with _lock:
        m = _methods.get(code)
        if m is None and code in _lazy:
            # load first, publish, then drop the lazy entry: a failed import leaves the
            # entry in place and raises, never a silent "unknown method"
            loaded = load_ref(_lazy[code])
            if not isinstance(loaded, Method) or loaded.code != code:
                raise RegistryError(f"lazy text method {code} ({_lazy[code]!r}) is not a "
                                    f"Method with that code")
            _methods[code] = m = loaded
            del _lazy[code]
        if m is None:
            raise MalformedError(f"unknown text method {code}; this reader knows "
                                 f"{sorted(set(_methods) | set(_lazy))}", field="text.method")
        return m


def candidates() -> list[Method]:
    with _lock:
        for code in list(_lazy):
            get_method(code)
        return [m for _, m in sorted(_methods.items()) if m.default]


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
register_method(Method(int(TextMethod.BROTLI), "brotli", _brotli_encode, _brotli_decode))
register_lazy(2, "aigif.textcoding.cm:METHOD")  # cm1: context model v1 (spec/text-coding.md)


def encode_text(prompt: str, negative: str, method: int | None = None) -> bytes:
    """Text block: ``varint(method) payload``, with the shortest method unless one is named."""
    ms = [get_method(method)] if method is not None else candidates()
    best: bytes | None = None
    for m in ms:
        out = bytearray()
        write_varint(m.code, out)
        out += m.encode(prompt, negative)
        if best is None or len(out) < len(best):
            best = bytes(out)
    assert best is not None
    return best


def decode_text(block: bytes) -> tuple[str, str, int]:
    """Inverse of encode_text: ``(prompt, negative_prompt, method_code)``."""
    code, pos = read_varint(block, 0)
    m = get_method(code)
    p, n = m.decode(bytes(block[pos:]))
    return p, n, code
