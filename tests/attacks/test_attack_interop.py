"""Denial-of-service attacks on the importers (issue 13, items 3-5) and a mutation fuzz of
real and generated metadata files through every entry point of aigif.interop.

The bomb files are built here (PIL + zlib); nothing big is committed. Each attack must
end quickly with a result or an AigifError; the old code took minutes and GBs on them.
"""
from __future__ import annotations

import io
import json
import random
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from PIL import Image

import aigif
from aigif import interop
from aigif.errors import AigifError, ImportMetadataError
from aigif.interop import _container as C
from aigif.interop._exif import exif_bytes, webp_replace_exif
from aigif.interop._limits import (MAX_FILE_TEXT_BYTES, MAX_GRAPH_TEXT_CHARS,
                                   MAX_STEALTH_PIXELS, MAX_TEXT_BYTES)
from aigif.interop._png import png_replace_text, png_text_chunk
from aigif.interop._scan import scan
from aigif.interop._stealth import png_stealth_signature

FIXTURES = Path("/work/shared/fixtures/metadata")
MiB = 1024 * 1024


def _timed(fn, *args):
    t = time.perf_counter()
    try:
        out = fn(*args)
    except AigifError as e:
        out = e
    return out, time.perf_counter() - t


def _png(w=8, h=8, mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h), (10, 20, 30)[:len(mode)] if mode != "L" else 10).save(buf, "PNG")
    return buf.getvalue()


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(
        ">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def _with_texts(chunks: list[bytes], base: bytes | None = None) -> bytes:
    return png_replace_text(base or _png(), chunks)


A1111 = ("a red fox\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, Schedule type: "
         "Karras, CFG scale: 7, Seed: 1234, Size: 512x768, Model hash: 6ce0161689, "
         "Model: v1-5-pruned-emaonly, Version: v1.9.4")


# --------------------------------------------------------------------------- ComfyUI graphs
def _comfy(nodes: dict) -> bytes:
    return _with_texts([png_text_chunk("prompt", json.dumps(nodes))])


def _sampler_graph(extra: dict, positive: str) -> dict:
    g = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
         "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512}},
         "6": {"class_type": "CLIPTextEncode", "inputs": {"text": [positive, 0], "clip": ["4", 1]}},
         "3": {"class_type": "KSampler", "inputs": {
             "seed": 1, "steps": 20, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
             "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0],
             "latent_image": ["5", 0]}}}
    g.update(extra)
    return g


def _concat(inputs: dict) -> dict:
    return {"class_type": "StringConcatenate", "inputs": {"delimiter": ", ", **inputs}}


GRAPHS = {
    # the reproduction: a concat node whose text_* inputs point back at itself
    "self-loop-8": _sampler_graph({"9": _concat({f"text_{i}": ["9", 0] for i in range(8)}
                                                | {"text_z": "fox"})}, "9"),
    "two-node-cycle": _sampler_graph({"9": _concat({"text_a": ["10", 0], "text_b": "fox"}),
                                      "10": _concat({"text_a": ["9", 0], "text_b": "cat"})}, "9"),
    # a shared sub-graph: node k joins node k+1 eight times (8^30 paths, 30 nodes)
    "shared-dag-30": _sampler_graph(
        {str(100 + k): _concat({f"text_{i}": [str(101 + k), 0] for i in range(8)})
         for k in range(30)} | {"130": {"class_type": "PrimitiveString", "inputs": {"value": "x"}}},
        "100"),
    "conditioning-cycle": _sampler_graph(
        {"11": {"class_type": "ConditioningCombine",
                "inputs": {"conditioning_1": ["11", 0], "conditioning_2": ["12", 0]}},
         "12": {"class_type": "ConditioningCombine",
                "inputs": {"conditioning_1": ["11", 0], "conditioning_2": ["6", 0]}}}, "6")
    | {"3": {"class_type": "KSampler", "inputs": {
        "seed": 1, "steps": 20, "cfg": 7.0, "model": ["3", 0], "positive": ["11", 0],
        "negative": ["12", 0], "latent_image": ["3", 0]}},
       "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "fox", "clip": ["6", 0]}}},
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_comfyui_graph_walks_end(name):
    out, dt = _timed(interop.read, _comfy(GRAPHS[name]))
    assert dt < 2.0, f"{name}: {dt:.1f} s"
    if isinstance(out, AigifError):
        assert isinstance(out, ImportMetadataError) and "ComfyUI graph" in str(out)
    else:
        assert out.tool == "comfyui"
        assert len(out.meta.prompt) <= MAX_GRAPH_TEXT_CHARS


def test_comfyui_cycle_keeps_the_literal_texts():
    r = interop.read(_comfy(GRAPHS["two-node-cycle"]))
    assert r.meta.prompt == "cat, fox"
    assert r.meta.seed == 1


def test_comfyui_shared_dag_is_refused_cleanly():
    with pytest.raises(ImportMetadataError, match="characters"):
        interop.read(_comfy(_sampler_graph(
            {str(100 + k): _concat({f"text_{i}": [str(101 + k), 0] for i in range(8)})
             for k in range(8)} | {"108": {"class_type": "PrimitiveString",
                                          "inputs": {"value": "x" * 100}}}, "100")))


def test_comfyui_many_samplers():
    """20,000 chained samplers: the old trace copied the sampler set once per sampler."""
    nodes = {"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64}}}
    for k in range(20_000):
        nodes[str(10 + k)] = {"class_type": "KSampler", "inputs": {
            "seed": k, "steps": 1, "cfg": 1.0, "positive": ["5", 0],
            "latent_image": [str(9 + k) if k else "5", 0]}}
    out, dt = _timed(interop.read, _comfy(nodes))
    assert dt < 5.0, f"{dt:.1f} s"
    assert isinstance(out, (AigifError, interop.ImportResult))


# --------------------------------------------------------------------------- amplification
@pytest.fixture(scope="module")
def zbomb() -> bytes:
    """16 MiB of text compressed to ~16 KiB."""
    return zlib.compress(b"a" * MAX_TEXT_BYTES, 9)


def _peak(fn, *args):
    tracemalloc.start()
    try:
        t = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t
        return out, dt, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["zTXt", "iTXt"])
def test_compressed_text_budget_per_file(zbomb, kind):
    head = b"\0" if kind == "zTXt" else b"\1\0\0\0"
    chunks = [_chunk(kind.encode(), f"k{i}".encode() + b"\0" + head + zbomb) for i in range(64)]
    chunks.append(png_text_chunk("parameters", A1111))
    data = _with_texts(chunks)
    assert len(data) < 2 * MiB
    c, dt, peak = _peak(scan, data)
    assert dt < 3.0, f"{dt:.1f} s"
    assert peak < 2.5 * MAX_FILE_TEXT_BYTES, f"{peak / MiB:.0f} MiB"
    assert any("budget" in p for p in c.problems)
    assert sum(len(t.text) for t in c.texts) <= MAX_FILE_TEXT_BYTES
    out, dt = _timed(interop.read, data)
    assert dt < 3.0 and isinstance(out, AigifError) and "budget" in str(out)


def test_text_before_the_bombs_is_still_read(zbomb):
    chunks = [png_text_chunk("parameters", A1111)]
    chunks += [_chunk(b"zTXt", f"k{i}".encode() + b"\0\0" + zbomb) for i in range(8)]
    r = interop.read(_with_texts(chunks))
    assert r.meta.seed == 1234 and any("budget" in w for w in r.warnings)


def test_oversized_compressed_text_is_skipped():
    bomb = zlib.compress(b"a" * (MAX_TEXT_BYTES + 10), 9)
    c = scan(_with_texts([_chunk(b"zTXt", b"k\0\0" + bomb)]))
    assert not c.texts and any("over" in p for p in c.problems)


def _webp_exif_bomb(n_entries: int, value: bytes, tag: int = 0x010E, typ: int = 2) -> bytes:
    ifd_off = 8
    val_off = ifd_off + 2 + 12 * n_entries + 4
    entries = b"".join(struct.pack(">HHII", tag, typ, len(value), val_off)
                       for _ in range(n_entries))
    tiff = b"MM\0\x2a" + struct.pack(">I", ifd_off) + struct.pack(">H", n_entries) + entries \
        + b"\0\0\0\0" + value
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "WEBP", lossless=True)
    return webp_replace_exif(buf.getvalue(), tiff, 8, 8)


@pytest.mark.parametrize("tag,typ", [(0x010E, 2), (0x9286, 7)])
def test_exif_entries_sharing_one_value(tag, typ):
    """64 EXIF entries pointing at one 16 MiB value (non-ASCII: the slow decode path)."""
    data = _webp_exif_bomb(64, b"\xe9" * (MAX_TEXT_BYTES - 16), tag, typ)
    c, dt, peak = _peak(scan, data)
    assert dt < 3.0, f"{dt:.1f} s"
    assert peak < 4 * MAX_FILE_TEXT_BYTES, f"{peak / MiB:.0f} MiB"
    assert len(c.texts) <= 2 and any("budget" in p for p in c.problems)


def test_exif_entry_count_is_bounded():
    data = _webp_exif_bomb(512, b"x" * 100)
    c = scan(data)
    assert len(c.texts) == 512
    # nested directories cannot multiply that: 4096 entries at most
    assert len(scan(_webp_exif_bomb(60_000 // 12, b"x" * 8)).texts) <= 4096


def test_latin1_or_utf8_is_vectorised():
    big = b"\xe9" * (8 * MiB)
    t = time.perf_counter()
    assert C.latin1_or_utf8(big)[1] == "latin-1"
    assert C.latin1_or_utf8("é".encode() * MiB)[1] == "utf-8"
    assert time.perf_counter() - t < 0.5


# --------------------------------------------------------------------------- stealth
def _raw_png(w: int, h: int, first_column_alpha: list[int] | None = None) -> bytes:
    """An RGBA PNG of zeros (built row by row, never held whole); the first pixel of the
    first rows may carry alpha values."""
    rowbytes = 1 + 4 * w
    z = zlib.compressobj(1)
    parts = []
    zero_rows = bytes(rowbytes * 64)
    first = first_column_alpha or []
    for y in range(len(first)):
        row = bytearray(rowbytes)
        row[4] = first[y]
        parts.append(z.compress(bytes(row)))
    left = h - len(first)
    while left > 0:
        k = min(64, left)
        parts.append(z.compress(zero_rows[:k * rowbytes]))
        left -= k
    parts.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return C.PNG_SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + \
        _chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def big_png() -> bytes:
    return _raw_png(8192, 8192)     # 67 Mpixels, 268 MB of RGBA; a few hundred KB of file


def _sig_bits(sig: bytes, payload: bytes) -> list[int]:
    data = sig + struct.pack(">I", len(payload) * 8) + payload
    return [(b >> (7 - i)) & 1 for b in data for i in range(8)]


def test_stealth_big_image_is_not_decoded(big_png):
    assert 8192 * 8192 > MAX_STEALTH_PIXELS
    out, dt, peak = _peak(lambda: _timed(interop.read, big_png))
    err, dt = out
    assert dt < 2.0, f"{dt:.1f} s"
    assert peak < 64 * MiB, f"{peak / MiB:.0f} MiB"
    assert isinstance(err, ImportMetadataError) and "no generation metadata" in str(err)


def test_stealth_big_image_with_a_signature_says_why():
    bits = _sig_bits(b"stealth_pnginfo", A1111.encode())
    data = _raw_png(6000, 6000, [254 | b for b in bits[:152]])
    assert png_stealth_signature(data) is True
    with pytest.raises(ImportMetadataError, match="stealth signature.*pixel limit"):
        interop.read(data)


def _stealth_image(mode: str, w: int, h: int, sig: bytes | None, rng) -> Image.Image:
    im = Image.frombytes(mode, (w, h), rng.randbytes(w * h * len(mode)))
    if sig is None:
        return im
    chan = "A" if "A" in mode and sig.startswith(b"stealth_png") else None
    bits = _sig_bits(sig, A1111.encode())
    px = im.load()
    k = 0
    for x in range(w):
        for y in range(h):
            if k >= len(bits):
                return im
            p = list(px[x, y]) if isinstance(px[x, y], tuple) else [px[x, y]]
            if chan:
                p[-1] = (p[-1] & ~1) | bits[k]
                k += 1
            else:
                for i in range(3):
                    if k < len(bits):
                        p[i] = (p[i] & ~1) | bits[k]
                        k += 1
            px[x, y] = tuple(p)
    return im


@pytest.mark.parametrize("mode,sig", [("RGBA", b"stealth_pnginfo"), ("LA", b"stealth_pnginfo"),
                                      ("RGBA", b"stealth_rgbinfo"), ("RGB", b"stealth_rgbinfo"),
                                      ("RGBA", None), ("RGB", None), ("LA", None)])
def test_stealth_signature_check_agrees_with_decoding(mode, sig):
    """The cheap first-column check must see what the full decode sees (random pixels make
    Pillow use every PNG filter)."""
    rng = random.Random(5)
    im = _stealth_image(mode, 173, 160, sig, rng)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    data = buf.getvalue()
    assert png_stealth_signature(data) is (sig is not None)
    if sig is not None:
        r = interop.read(data)
        assert r.meta.seed == 1234 and r.source["stealth"] == A1111
    else:
        with pytest.raises(ImportMetadataError):
            interop.read(data)


# --------------------------------------------------------------------------- mutation fuzz
def _seeds() -> list[tuple[str, bytes]]:
    out = [(p.name, p.read_bytes()) for p in sorted(FIXTURES.rglob("*"))
           if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")]
    im = Image.new("RGB", (64, 48), (1, 2, 3))
    for fmt in ("PNG", "JPEG", "WEBP"):
        for name, text in (("a1111", A1111), ("comfyui", json.dumps(GRAPHS["two-node-cycle"]))):
            buf = io.BytesIO()
            if fmt == "PNG":
                im.save(buf, fmt)
                key = "parameters" if name == "a1111" else "prompt"
                data = _with_texts([png_text_chunk(key, text)], buf.getvalue())
            else:
                uc = text if name == "a1111" else None
                extra = None if uc else {0x0110: "prompt:" + text}
                im.save(buf, fmt, exif=b"Exif\0\0" + exif_bytes(uc or "", extra=extra))
                data = buf.getvalue()
            out.append((f"gen-{name}.{fmt.lower()}", data))
    return out


def _mutate(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return rng.randbytes(rng.randint(1, 64))
    b = bytearray(data)
    op = rng.randrange(6)
    if op == 0:                                   # flip bytes
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 1:                                 # truncate
        del b[rng.randrange(len(b)):]
    elif op == 2:                                 # duplicate a slice (repeats chunks)
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.randint(1, 4096))
        b[i:i] = b[i:j] * rng.randint(1, 16)
    elif op == 3:                                 # large lengths / counts
        i = rng.randrange(max(1, len(b) - 4))
        b[i:i + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\xff\xff"])
    elif op == 4:                                 # insert junk
        i = rng.randrange(len(b))
        b[i:i] = rng.randbytes(rng.randint(1, 64))
    else:                                         # text-shaped junk into a text
        i = rng.randrange(len(b))
        b[i:i] = rng.choice([b"[" * 300, b"a" * 2000, b'"\\' * 300, b":,", b"{" * 200])
    return bytes(b)


_SEEDS = _seeds()


def test_fuzz_seeds_exist():
    assert len(_SEEDS) >= 20, [n for n, _ in _SEEDS]
    assert interop.read(dict(_SEEDS)["gen-a1111.png"]).meta.seed == 1234


@pytest.mark.parametrize("name,data", _SEEDS, ids=[n for n, _ in _SEEDS])
def test_mutation_fuzz(name, data, tmp_path):
    rng = random.Random(name)
    doc = aigif.loads(aigif.dumps(interop.read(dict(_SEEDS)["gen-a1111.png"]).to_aigif()))
    worst = 0.0
    for k in range(25):
        m = _mutate(data, rng)
        entry = k % 5
        t = time.perf_counter()
        try:
            if entry == 0:
                interop.read(m)
            elif entry == 1:
                p = tmp_path / "m.img"
                p.write_bytes(m)
                interop.read(p)
            elif entry == 2:
                interop.read(io.BytesIO(m), stealth=False)
            elif entry == 3:
                try:
                    im = Image.open(io.BytesIO(m))
                except Exception:   # noqa: BLE001 - Pillow refuses it; nothing to hand over
                    continue
                interop.read(im)
            else:                   # the image export writes into is untrusted too
                interop.export(doc, "a1111", image=m)
        except AigifError:
            pass
        worst = max(worst, time.perf_counter() - t)
    assert worst < 2.0, f"{name}: a mutation took {worst:.1f} s"


# ----------------------------------------------------- video containers (issue 19, PyAV tags)
_VIDEO_FIX = Path(__file__).resolve().parents[1] / "fixtures" / "interop" / "video"


@pytest.mark.parametrize("name", ["vhs_animatediff.mp4", "vhs_animatediff_evolved.webm",
                                  "comfy_wan22_savevideo.mp4", "comfy_ltxv_savewebm.mkv"])
def test_mutated_video_containers_raise_only_aigif_errors(name):
    """The MP4/WebM/Matroska tag reader (header only, through PyAV) on mutated files:
    only AigifError escapes, each read quickly."""
    pytest.importorskip("av")
    data = (_VIDEO_FIX / name).read_bytes()
    rng = random.Random(name)
    worst = 0.0
    for _ in range(60):
        m = _mutate(data, rng)
        t0 = time.perf_counter()
        try:
            interop.read(m)
        except AigifError:
            pass
        worst = max(worst, time.perf_counter() - t0)
    assert worst < 5, worst
