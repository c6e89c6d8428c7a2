"""Typed-field accuracy on the writers' own values: tests/fixtures/interop (graphs of the
common ComfyUI custom-node packs, A1111 infotexts; see LICENSES.md there), and editor
workflows with primitive nodes, reroutes and subgraphs. Expected values are the ones the
writing tool records (the first-pass sampler's widgets), written down by hand."""
import json
import struct
import zlib
from pathlib import Path

import pytest

from aigif import interop
from aigif.interop.comfyui import graph_to_draft, parse_size, workflow_to_graph

FIX = Path(__file__).parent / "fixtures" / "interop"
CASES = sorted(FIX.glob("*.json"))


def png(texts) -> bytes:
    def chunk(t: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body))
    raw = b"".join(b"\0" + b"\x80" * 12 for _ in range(4))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
    for k, v in texts:
        out += chunk(b"iTXt", k.encode("latin-1") + b"\0\0\0\0\0" + v.encode("utf-8"))
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fixture_fields(path):
    fx = json.loads(path.read_text(encoding="utf-8"))
    texts = [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
             for k, v in fx["chunks"].items()]
    r = interop.read(png(texts))
    got = {f: getattr(r.meta, f) if hasattr(r.meta, f) else r.meta.params.get(f)
           for f in fx["expect"]}
    assert got == fx["expect"]


def test_later_passes_never_fill_core_fields():
    fx = json.loads((FIX / "comfyui_image_saver_pixel_hires.json").read_text(encoding="utf-8"))
    m = interop.read(png([("prompt", json.dumps(fx["chunks"]["prompt"]))])).meta
    assert (m.width, m.height, m.seed) == (512, 768, 501435046813232)
    assert "3559" not in repr(dict(m.params))  # the pixel resize is no core size


def test_parse_size():
    assert parse_size("3:4 portrait 896x1152") == (896, 1152)
    assert parse_size("SDXL - 1:1 square 1024x1024") == (1024, 1024)
    assert parse_size("custom") is None and parse_size("x" * 300) is None


def _wf(nodes, links, **extra):
    return json.dumps({"nodes": nodes, "links": links, **extra})


def _ks(nid, widgets, links):
    names = ("model", "positive", "negative", "latent_image", "seed", "steps")
    return {"id": nid, "type": "KSampler", "widgets_values": widgets,
            "inputs": [{"name": n, "link": lk} for n, lk in zip(names, links)]}


def test_workflow_primitive_reroute_and_literals():
    nodes = [
        {"id": 1, "type": "CheckpointLoaderSimple", "widgets_values": ["m.safetensors"]},
        {"id": 2, "type": "CLIPTextEncode", "widgets_values": ["a boat, "]},
        {"id": 3, "type": "CLIPTextEncode", "widgets_values": ["ugly, "]},
        {"id": 4, "type": "EmptyLatentImage", "widgets_values": [640, 448, 1]},
        {"id": 5, "type": "PrimitiveNode", "widgets_values": [4242, "fixed"]},
        {"id": 6, "type": "Reroute", "inputs": [{"name": "", "link": 6}]},
        {"id": 7, "type": "Int Literal", "widgets_values": [33]},
        _ks(9, [1, "randomize", 20, 6.5, "euler", "normal", 1.0], [1, 2, 3, 7, 5, 8]),
    ]
    links = [[1, 1, 0, 9, 0, "MODEL"], [2, 2, 0, 9, 1, "C"], [3, 3, 0, 9, 2, "C"],
             [6, 4, 0, 6, 0, "LATENT"], [7, 6, 0, 9, 3, "LATENT"], [5, 5, 0, 9, 4, "INT"],
             [8, 7, 0, 9, 5, "INT"]]
    m = interop.read(png([("workflow", _wf(nodes, links))])).meta
    assert (m.prompt, m.negative_prompt) == ("a boat, ", "ugly, ")
    assert (m.seed, m.steps, m.guidance_scale, m.width, m.height) == (4242, 33, 6.5, 640, 448)


def test_workflow_subgraph_flattened():
    inner = [
        {"id": 2, "type": "CLIPTextEncode", "widgets_values": ["inner text"]},
        {"id": 4, "type": "EmptySD3LatentImage", "widgets_values": [1024, 576, 1]},
        _ks(9, [7, "fixed", 8, 1.0, "res_multistep", "simple", 1.0], [None, 2, 2, 4]),
        {"id": 10, "type": "VAEDecode", "inputs": [{"name": "samples", "link": 11}]},
    ]
    for n in inner[2]["inputs"]:
        if n["name"] in ("positive", "negative"):
            n["link"] = 12 if n["name"] == "positive" else 13
        if n["name"] == "latent_image":
            n["link"] = 14
        if n["name"] == "model":
            n["link"] = 15
    ilinks = [{"id": 12, "origin_id": 2, "origin_slot": 0, "target_id": 9, "target_slot": 1},
              {"id": 13, "origin_id": 2, "origin_slot": 0, "target_id": 9, "target_slot": 2},
              {"id": 14, "origin_id": 4, "origin_slot": 0, "target_id": 9, "target_slot": 3},
              {"id": 15, "origin_id": -10, "origin_slot": 0, "target_id": 9, "target_slot": 0},
              {"id": 11, "origin_id": 9, "origin_slot": 0, "target_id": 10, "target_slot": 0}]
    sg = {"id": "sub-1", "nodes": inner, "links": ilinks,
          "inputs": [{"name": "model", "type": "MODEL", "linkIds": [15]}],
          "outputs": [{"name": "IMAGE", "type": "IMAGE", "linkIds": []}]}
    top = [{"id": 1, "type": "UNETLoader", "widgets_values": ["z_image_turbo.safetensors", "default"]},
           {"id": 5, "type": "sub-1", "inputs": [{"name": "model", "link": 1}]}]
    g = workflow_to_graph(_wf(top, [[1, 1, 0, 5, 0, "MODEL"]],
                              definitions={"subgraphs": [sg]}))
    assert g["5:9"]["inputs"]["model"] == ["1", 0]
    d = graph_to_draft(g)
    assert d.fields["prompt"] == "inner text"
    assert (d.fields["seed"], d.fields["steps"], d.fields["width"], d.fields["height"]) == \
        (7, 8, 1024, 576)
    assert d.model == "ckpt:z_image_turbo.safetensors"


# ------------------------------------------------------------------ the other writers
# tests/fixtures/interop/writers/*.json: A1111/Forge/SD.Next/Civitai infotexts (PNG, JPEG
# and WebP EXIF, JPEG COM, XMP), Fooocus, RuinedFooocus, SwarmUI, InvokeAI 3-5, NovelAI
# v3/v4, Draw Things, Stability Matrix, Easy Diffusion, Midjourney-style descriptions and
# web-service JPEGs; rebuilt into image files by writers/build.py (see LICENSES.md).
def _load_build():
    import importlib.util
    spec = importlib.util.spec_from_file_location("_writers_build", FIX / "writers" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_BUILD = _load_build()
WRITERS = sorted((FIX / "writers").glob("*.json"))


def _writer(name: str) -> dict:
    return json.loads((FIX / "writers" / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", WRITERS, ids=[p.stem for p in WRITERS])
def test_writer_fields(path):
    fx = json.loads(path.read_text(encoding="utf-8"))
    r = interop.read(_BUILD.build(fx))
    got = {f: getattr(r.meta, f) if hasattr(r.meta, f) else r.meta.params.get(f)
           for f in fx["expect"]}
    assert got == fx["expect"]
    assert r.tool == fx["tool"]


def test_writers_later_passes_stay_out_of_core_fields():
    m = interop.read(_BUILD.build(_writer("sdnext_second_pass"))).meta
    assert (m.width, m.height, m.steps) == (512, 768, 30)          # not Size-1/Size-2, Hires steps
    m = interop.read(_BUILD.build(_writer("a1111_jpeg_hires"))).meta
    assert (m.width, m.height, m.steps) == (640, 448, 25) and m.params["hires_resize"] == "1280x896"
    m = interop.read(_BUILD.build(_writer("swarmui_refiner"))).meta
    assert (m.width, m.height, m.params["hires_denoise"]) == (1024, 1024, 0.2)
    r = interop.read(_BUILD.build(_writer("invokeai5_hrf_refiner")))
    assert (r.meta.width, r.meta.steps, r.meta.guidance_scale) == (1024, 32, 6.5)
    assert "refiner_steps" in r.unmapped and r.meta.params["hires_fix"] is True


def test_prompts_are_byte_exact():
    for name in ("a1111_jpeg_hires", "civitai_jpeg_ja", "fooocus_a1111_scheme", "swarmui_refiner",
                 "jpeg_com_infotext", "webservice_jpeg_xpcomment"):
        fx = _writer(name)
        m = interop.read(_BUILD.build(fx)).meta
        assert (m.prompt, m.negative_prompt) == (fx["expect"]["prompt"],
                                                 fx["expect"].get("negative_prompt", "")), name


def test_crlf_infotext_keeps_trailing_separators_in_the_text():
    text = ("a, \r\nb, \r\nNegative prompt: x, \r\ny, \r\n"
            "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512")
    m = interop.read(png([("parameters", text)])).meta
    assert (m.prompt, m.negative_prompt, m.steps) == ("a, \r\nb, ", "x, \r\ny, ", 20)


def test_xmp_user_comment_infotext_is_not_stripped():
    text = "  a cat, \nNegative prompt: dog, "     # an rdf:li text is kept as written
    xmp = ('<x:xmpmeta><rdf:RDF><rdf:Description><exif:UserComment><rdf:Alt>'
           f'<rdf:li xml:lang="x-default">{text}</rdf:li></rdf:Alt></exif:UserComment>'
           '</rdf:Description></rdf:RDF></x:xmpmeta>')
    fx = {"container": "webp",
          "xmp": xmp.replace("dog, ", "dog, \nSteps: 9, Sampler: Euler, Seed: 3, Size: 64x64")}
    m = interop.read(_BUILD.build(fx)).meta
    assert (m.prompt, m.negative_prompt, m.steps) == ("  a cat, ", "dog, ", 9)


def test_description_without_flags_is_no_metadata():
    for fx in ({"container": "jpeg", "exif": {"ImageDescription": "OLYMPUS DIGITAL CAMERA"}},
               {"chunks": {"Description": "a photo -- taken at noon --like this"}}):
        with pytest.raises(interop.ImportMetadataError, match="no generation metadata"):
            interop.read(_BUILD.build(fx))


def test_midjourney_description():
    r = interop.read(_BUILD.build(_writer("midjourney_description")))
    assert r.meta.params["aspect_ratio"] == "16:9"
    assert r.unmapped["--v"] == "6.1" and r.unmapped["job_id"].startswith("0a1b2c3d")
    assert r.source["Description"].endswith("6789")
