"""``nvtc`` pixel codec (code 7): small NVTC with frozen integer index tables.

Payload (spec/aigif-v1.md, "Syntax: nvtc payload"), all integers big-endian::

    magic "NVTC" | version u8 = 1 | model u8 | weights u8[8] | width u16 | height u16
    | n u8 | n x length u32 | n sub-streams

One sub-stream per quantization layer, coarse to fine (``NvtcConfig.layers()``); each is
a range-coded (constriction ``queue.RangeEncoder``, 32-bit words, big-endian) sequence of
codeword indices, block position 0..15 outer, blocks in raster order inner, every symbol
coded with the frozen 16-bit integer table of its (layer, position). The header is
checked (magic, version, model, weights hash, size against the pixel budget, stream
lengths) before any tensor is built; a sub-stream must decode to exactly its symbols.

The decoder's symbols depend only on integers: decoding the same bytes gives the same
indices on every machine, thread count and dtype; only the final float synthesis may
differ by rounding (tests compare float32 and float64).

Example::

    >>> import aigif.codecs as codecs                                  # doctest: +SKIP
    >>> p = codecs.encode_payload(img, "nvtc", quality=75)
    >>> codecs.decode_payload(p).size == img.size
    True
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...errors import CodecError
from ...spec import PixelCodec as CodecCode
from .. import Codec

__all__ = ["NvtcCodec", "MAGIC", "VERSION", "MODELS", "parse_header", "decode_indices",
           "load_model", "encode_indices", "save_weights", "synthesize"]

MAGIC = b"NVTC"
VERSION = 1
#: model id (in the payload) -> weights file (relative: shipped beside this module)
MODELS: dict[int, str] = {1: "nvtc_small.safetensors"}
_HEAD = struct.Struct(">4sBB8sHHB")
_lock = threading.Lock()


def _weights_path(model_id: int) -> Path:
    return Path(__file__).parent / MODELS[model_id]


def _weights_hash(model_id: int) -> bytes:
    """First 8 bytes of the SHA-256 of the weights file."""
    return _hash_file(str(_weights_path(model_id)))


@lru_cache(maxsize=None)
def _hash_file(path: str) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()[:8]


class _Loaded:
    """A model, its integer tables and their constriction models."""

    def __init__(self, model, freq, lam_latent):
        import numpy as np
        import constriction
        self.model = model
        self.freq = freq                       # list of (P, K) int32 arrays, flat layer order
        self.lam_latent = lam_latent
        cat = constriction.stream.model.Categorical
        # 16-bit integers / 2**16 are exact in float64: every machine gives constriction
        # the same numbers, and its fixed-point quantization of them is integer arithmetic
        self.cms = [[cat(row.astype(np.float64) / 65536.0, perfect=False) for row in f]
                    for f in freq]
        self.order = [model.qindex(s, l) for s, l in model.config.layers()]


def _build(tensors: dict, config: dict, lam_latent: float, dtype=None):
    import torch
    from .nvtc_model import NVTC, NvtcConfig
    from .nvtc_tables import check_table
    cfg = NvtcConfig.from_dict(config)
    model = NVTC(cfg)
    freq = []
    for q in range(len(model.codebooks)):
        f = tensors.pop(f"freq.{q}").numpy()
        check_table(f)
        if f.shape != tuple(model.codebooks[q].shape[:2]):
            raise ValueError(f"freq.{q} has shape {f.shape}")
        freq.append(f)
    sd = model.state_dict()
    for q in range(len(model.codebooks)):
        tensors[f"logits.{q}"] = sd[f"logits.{q}"]
    model.load_state_dict(tensors, strict=True)
    model.eval()
    if dtype is not None:
        model.to(dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    return _Loaded(model, freq, lam_latent)


def load_model(model_id: int = 1, dtype: str = "float32") -> _Loaded:
    """The model ``model_id`` at ``dtype`` (cached). Raises CodecError if absent."""
    path = _weights_path(model_id)
    if not path.is_file():
        raise CodecError(f"nvtc weights {path.name} are not installed")
    return _load_path(str(path), dtype)


@lru_cache(maxsize=4)
def _load_path(path: str, dtype: str) -> _Loaded:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(str(path), "pt") as f:
        md = f.metadata() or {}
    tensors = load_file(str(path))
    return _build(tensors, json.loads(md["config"]), float(md["lam_latent"]),
                  getattr(torch, dtype))


def save_weights(model, path, meta: dict | None = None) -> None:
    """Write ``model`` as nvtc weights: tensors (float32), ``freq.{q}`` 16-bit integer
    tables quantized from its index logits, the config and ``lam_latent`` as metadata."""
    import torch
    from safetensors.torch import save_file
    from .nvtc_tables import quantize_pmf
    meta = dict(meta or {})
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()
               if not k.startswith("logits.")}
    for q, lg in enumerate(model.logits):
        pmf = torch.softmax(lg.detach().double(), -1).numpy()
        tensors[f"freq.{q}"] = torch.from_numpy(quantize_pmf(pmf))
    md = {"config": json.dumps(model.config.to_dict()), **{k: str(v) for k, v in meta.items()}}
    md.setdefault("lam_latent", "280.0")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=md)


def _lam(quality: int | None, lam_latent: float) -> float:
    q = 75 if quality is None else quality
    return lam_latent * 2.0 ** ((q - 75) / 12.5)


def encode_indices(loaded: _Loaded, indices) -> list[bytes]:
    """Range-code per-layer index arrays ((N, P) ints, coding order) into sub-streams."""
    import numpy as np
    import constriction
    out = []
    for q, idx in zip(loaded.order, indices):
        idx = np.asarray(idx, dtype=np.int32)
        enc = constriction.stream.queue.RangeEncoder()
        for p in range(idx.shape[1]):
            enc.encode(np.ascontiguousarray(idx[:, p]), loaded.cms[q][p])
        out.append(enc.get_compressed().astype(">u4").tobytes())
    return out


def parse_header(data: bytes) -> dict:
    """Check and parse an nvtc payload's header; no tensors, no model load beyond the hash.

    Returns dict(model, width, height, streams=[bytes, ...]). Raises CodecError for a
    malformed or forged header, LimitExceededError for a size over the pixel budget.
    """
    from .._pillow import check_size
    if len(data) < _HEAD.size:
        raise CodecError(f"nvtc payload truncated: {len(data)} bytes, header is {_HEAD.size}")
    magic, version, model, whash, w, h, n = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise CodecError(f"nvtc payload: bad magic {magic!r} at byte 0, expected {MAGIC!r}")
    if version != VERSION:
        raise CodecError(f"nvtc payload: unsupported version {version} at byte 4 (expected 1)")
    if model not in MODELS:
        raise CodecError(f"nvtc payload: unknown model id {model} at byte 5 "
                         f"(known: {sorted(MODELS)})")
    check_size((w, h), "nvtc payload")
    pos = _HEAD.size
    if len(data) < pos + 4 * n:
        raise CodecError(f"nvtc payload truncated in the stream lengths at byte {pos}")
    lengths = struct.unpack_from(f">{n}I", data, pos)
    pos += 4 * n
    if any(ln % 4 for ln in lengths):
        raise CodecError("nvtc payload: a sub-stream length is not a multiple of 4")
    if pos + sum(lengths) != len(data):
        raise CodecError(f"nvtc payload: sub-streams declare {sum(lengths)} bytes, "
                         f"{len(data) - pos} follow the header")
    streams = []
    for ln in lengths:
        streams.append(data[pos:pos + ln])
        pos += ln
    if not _weights_path(model).is_file():
        raise CodecError(f"nvtc payload needs model {model} ({MODELS[model]}), not installed")
    if whash != _weights_hash(model):
        raise CodecError(f"nvtc payload was coded with other weights for model {model} "
                         f"(hash {whash.hex()}, installed {_weights_hash(model).hex()})")
    return {"model": model, "width": w, "height": h, "streams": streams}


def _block_counts(cfg, w: int, h: int) -> dict[int, int]:
    from .nvtc_model import BLOCK
    st = cfg.stride
    H, W = -(-h // st) * st, -(-w // st) * st
    out, f = {}, 1
    for s, fs in enumerate(cfg.factors):
        f *= fs
        out[s] = (H // f // BLOCK) * (W // f // BLOCK)
    return out


def decode_indices(loaded: _Loaded, w: int, h: int, streams: list[bytes]):
    """Index arrays ((N, P) int32, coding order) of the sub-streams; CodecError if corrupt."""
    import numpy as np
    import constriction
    cfg = loaded.model.config
    layers = cfg.layers()
    if len(streams) != len(layers):
        raise CodecError(f"nvtc payload has {len(streams)} sub-streams, model needs {len(layers)}")
    counts = _block_counts(cfg, w, h)
    out = []
    for (s, _), q, data in zip(layers, loaded.order, streams):
        n = counts[s]
        P = loaded.freq[q].shape[0]
        # every symbol costs at most 16 bits: a longer stream is forged
        if len(data) > 4 * (n * P // 2 + 2):
            raise CodecError(f"nvtc sub-stream of stage {s} is {len(data)} bytes, "
                             f"more than {n * P} symbols can take")
        words = np.frombuffer(data, dtype=">u4").astype(np.uint32)
        try:
            dec = constriction.stream.queue.RangeDecoder(words)
            cols = [np.asarray(dec.decode(loaded.cms[q][p], n), dtype=np.int32)
                    for p in range(P)]
            exhausted = dec.maybe_exhausted()
        except Exception as e:  # constriction raises on invalid compressed data
            raise CodecError(f"nvtc sub-stream of stage {s} is corrupt: {e}") from e
        if not exhausted:
            raise CodecError(f"nvtc sub-stream of stage {s} has data after its symbols")
        out.append(np.stack(cols, 1) if cols else np.zeros((n, 0), np.int32))
    return out


def _to_tensor(image, dtype, stride):
    import numpy as np
    import torch
    a = np.asarray(image.convert("RGB"), dtype=np.uint8)
    h, w = a.shape[:2]
    H, W = -(-h // stride) * stride, -(-w // stride) * stride
    a = np.pad(a, ((0, H - h), (0, W - w), (0, 0)), mode="edge")
    return torch.from_numpy(a.copy()).permute(2, 0, 1)[None].to(dtype) / 255


def synthesize(loaded: _Loaded, indices, w: int, h: int):
    """Pillow RGB image of size (w, h) from decoded indices."""
    import numpy as np
    import torch
    from PIL import Image
    st = loaded.model.config.stride
    H, W = -(-h // st) * st, -(-w // st) * st
    idx = [torch.from_numpy(np.asarray(i, dtype=np.int64)) for i in indices]
    x = loaded.model.synthesize(idx, H, W)[0, :, :h, :w]
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(x), "RGB")


class NvtcCodec(Codec):
    """Learned NVTC codec (lossy; ``quality`` 0..100 moves the ECVQ rate weight)."""

    key = "nvtc"
    code = int(CodecCode.NVTC)
    mime = "application/x-aigif-nvtc"
    extension = ".nvtc"
    lossy, lossless = True, False
    extra = "learned"
    model_id = 1

    def available(self) -> bool:
        return (all(importlib.util.find_spec(m) is not None
                    for m in ("torch", "numpy", "constriction", "safetensors", "PIL"))
                and _weights_path(self.model_id).is_file())

    def encode(self, image, quality: int | None = None, lossless: bool = False,
               effort: int | None = None, **opts: Any) -> bytes:
        import torch
        from .._pillow import check_size
        from .nvtc_tables import code_lengths
        if lossless:
            raise CodecError("codec 'nvtc' has no lossless mode")
        w, h = image.size
        check_size((w, h), "nvtc image")
        if w > 0xFFFF or h > 0xFFFF:
            raise CodecError(f"nvtc codes at most 65535 per side, got {w}x{h}")
        loaded = load_model(self.model_id)
        m = loaded.model
        dtype = next(m.parameters()).dtype
        x = _to_tensor(image, dtype, m.config.stride)
        bits = [torch.from_numpy(code_lengths(f)).to(dtype) for f in loaded.freq]
        idx = m.quantize_all(x, lambda q: bits[q], _lam(quality, loaded.lam_latent))
        streams = encode_indices(loaded, [i.numpy() for i in idx])
        head = _HEAD.pack(MAGIC, VERSION, self.model_id, _weights_hash(self.model_id), w, h,
                          len(streams))
        return head + struct.pack(f">{len(streams)}I", *map(len, streams)) + b"".join(streams)

    def probe(self, data: bytes) -> tuple[int, int]:
        hd = parse_header(bytes(data))
        return hd["width"], hd["height"]

    def decode(self, data: bytes):
        hd = parse_header(bytes(data))
        loaded = load_model(hd["model"])
        idx = decode_indices(loaded, hd["width"], hd["height"], hd["streams"])
        return synthesize(loaded, idx, hd["width"], hd["height"])
