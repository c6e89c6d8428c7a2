"""Bad input: whatever the bytes, ``interop.read`` returns a result or raises
ImportMetadataError (never anything else, never hangs)."""
import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aigif
from aigif import interop
from aigif.errors import ImportMetadataError

PIL = pytest.importorskip("PIL")
from PIL import Image, PngImagePlugin  # noqa: E402

FIX = Path(__file__).parents[1].parent / "shared" / "fixtures" / "metadata" / "sd-parsers"


def png(texts=(), size=(4, 4)) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in texts:
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.new("RGB", size, "gray").save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


A1111 = png([("parameters", "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, "
                            "CFG scale: 7, Seed: 42, Size: 512x512, Model: m")])


def _read_ok_or_import_error(data):
    try:
        r = interop.read(data)
    except ImportMetadataError as e:
        assert str(e)
        return None
    r.to_aigif  # the result is usable
    return r


def test_empty_and_garbage():
    for data in (b"", b"\0", b"not an image at all", b"\x89PNG\r\n\x1a\n", b"\xff\xd8",
                 b"RIFF\0\0\0\0WEBP", b"GIF89a" + b"\0" * 20):
        with pytest.raises(ImportMetadataError):
            interop.read(data)


def test_wrong_types_and_missing_file(tmp_path):
    with pytest.raises(ImportMetadataError, match="cannot read"):
        interop.read(tmp_path / "nope.png")
    with pytest.raises(ImportMetadataError, match="expected a path"):
        interop.read(12345)


def test_truncated_at_every_offset():
    """Cutting the file anywhere never raises anything but ImportMetadataError; once the
    whole parameters chunk is there, the metadata is read (truncation is reported)."""
    start = A1111.index(b"tEXt") - 4
    end = start + 12 + struct.unpack(">I", A1111[start:start + 4])[0]
    for cut in range(len(A1111)):
        r = _read_ok_or_import_error(A1111[:cut])
        if cut >= end:
            assert r is not None and r.meta.seed == 42, cut
            if cut < len(A1111):
                assert r.warnings, cut


@pytest.mark.skipif(not FIX.is_dir(), reason="shared fixtures not found")
@pytest.mark.parametrize("name", ["parsers/ComfyUI/img2img_cropped.png",
                                  "parsers/AUTOMATIC1111/automatic1111_cropped.jpg",
                                  "bad_images/text_after_idat.png"])
def test_fixture_truncations(name):
    data = (FIX / name).read_bytes()
    for cut in range(0, len(data), 7):
        _read_ok_or_import_error(data[:cut])


def test_single_byte_corruptions_never_escape():
    for i in range(0, len(A1111)):
        b = bytearray(A1111)
        b[i] ^= 0xFF
        _read_ok_or_import_error(bytes(b))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe1",
                                                  b"RIFF\x40\0\0\0WEBP"]))
def test_random_bytes(data, prefix):
    _read_ok_or_import_error(prefix + data)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_random_parameters_text(text):
    r = _read_ok_or_import_error(png([("parameters", text)]) if _latin1(text) else
                                 _itxt_png("parameters", text))
    if r is not None:
        aigif.loads(aigif.dumps(r.to_aigif()))


def _latin1(t):
    try:
        t.encode("latin-1")
        return True
    except UnicodeEncodeError:
        return False


def _itxt_png(key, text):
    info = PngImagePlugin.PngInfo()
    info.add_itxt(key, text)
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                    max_leaves=30),
       st.sampled_from(["prompt", "invokeai_metadata", "sd-metadata", "parameters", "Comment"]))
def test_random_json_in_every_dialect(value, key):
    texts = [(key, json.dumps(value))]
    if key == "Comment":
        texts.append(("Software", "NovelAI"))
    try:
        data = png(texts)
    except UnicodeEncodeError:
        return
    r = _read_ok_or_import_error(data)
    if r is not None:
        aigif.loads(aigif.dumps(r.to_aigif()))


@pytest.mark.parametrize("key,text", [
    ("prompt", '{"3": {"inputs": {"seed": 1'),                 # truncated JSON
    ("invokeai_metadata", "{not json"),
    ("sd-metadata", "[1, 2"),
    ("parameters", '{"sui_image_params": '),
    ("Comment", '{"steps": 5, "uc": '),
])
def test_malformed_json(key, text):
    texts = [(key, text)] + ([("Software", "NovelAI")] if key == "Comment" else [])
    _read_ok_or_import_error(png(texts))


def test_deeply_nested_json():
    deep = "[" * 100000 + "]" * 100000
    _read_ok_or_import_error(png([("prompt", deep)]))
    _read_ok_or_import_error(png([("parameters", "{\"a\": " + deep + "}")]))


def test_huge_prompt_is_reported_not_fatal():
    big = "word, " * 10000          # 60,000 characters: over the format's prompt limit
    r = interop.read(png([("parameters", big + "\nSteps: 20, Sampler: Euler, CFG scale: 7, "
                                                "Seed: 1, Size: 512x512")]))
    assert r.meta.prompt == "" and "prompt" in r.unmapped
    assert r.meta.seed == 1
    assert r.source["parameters"].startswith("word, ")


def test_source_over_the_per_value_limit_is_stored_in_parts():
    """A 1.2 MB workflow (over AIGIF's 1 MiB per source text) survives whole; the split
    never cuts a UTF-8 character."""
    wf = json.dumps({"nodes": [{"id": i, "widgets_values": ["é" * 40 + str(i)]}
                               for i in range(10000)]}, ensure_ascii=False)
    assert len(wf.encode()) > 1024 * 1024
    graph = json.dumps({"1": {"class_type": "KSampler", "inputs": {"seed": 4, "steps": 7}}})
    r = interop.read(png([("prompt", graph)]) [:-12] + _itxt_chunk("workflow", wf) + png()[-12:])
    f = aigif.loads(aigif.dumps(r.to_aigif()))
    assert "workflow~part2" in f.source
    out = interop.export(f, "comfyui", image=png())
    back = interop.read(out)
    assert back.source["workflow"] == wf and back.meta.seed == 4


def _itxt_chunk(key, text):
    body = key.encode() + b"\0\0\0\0\0" + text.encode()
    return struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))


def test_zip_bomb_ztxt_is_skipped():
    bomb = zlib.compress(b"a" * (40 * 1024 * 1024), 9)
    body = b"parameters\0\0" + bomb
    chunk = struct.pack(">I", len(body)) + b"zTXt" + body + struct.pack(">I", zlib.crc32(b"zTXt" + body))
    data = png()
    data = data[:-12] + chunk + data[-12:]
    with pytest.raises(ImportMetadataError, match="over"):
        interop.read(data)


def test_export_errors():
    meta = aigif.GenerationMeta(model="sd15", prompt="x")
    with pytest.raises(ImportMetadataError, match="no pixels"):
        interop.export(meta, "a1111")
    with pytest.raises(ImportMetadataError, match="unknown dialect"):
        interop.export(meta, "midjourney", image=png())
    with pytest.raises(ImportMetadataError, match="cannot write"):
        interop.export(meta, "a1111", image=png(), format="gif")
    with pytest.raises(ImportMetadataError):
        interop.export(meta, "a1111", image=b"\x89PNG\r\n\x1a\ngarbage")


def test_lone_surrogates_in_json_become_replacement_characters():
    g = {"1": {"class_type": "KSampler", "inputs": {
            "seed": 1, "steps": 5, "sampler_name": "\ud800x", "positive": ["2", 0],
            "latent_image": ["3", 0], "model": ["5", 0]}},
         "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "bad \udc00 text"}},
         "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64}},
         "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m\ud800.safetensors"}},
         "5": {"class_type": "LoraLoader", "inputs": {"lora_name": "l\udfff", "model": ["4", 0]}}}
    r = interop.read(png([("prompt", json.dumps(g))]))     # JSON escapes keep it ASCII
    m = r.meta
    assert m.prompt == "bad \ufffd text" and m.model == "ckpt:m\ufffd.safetensors"
    assert m.loras[0].name == "l\ufffd" and m.params["sampler"] == "\ufffdx"
    assert aigif.loads(aigif.dumps(r.to_aigif())).source["prompt"] == json.dumps(g)
