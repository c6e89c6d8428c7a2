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


def _got(meta, expect: dict) -> dict:
    """The fields ``expect`` names: attributes of the meta, else params; ``"stages"`` is a
    list of partial ``to_dict`` forms (only the keys each expected stage names)."""
    got = {}
    for f, want in expect.items():
        if f == "stages":
            got[f] = [{k: s.to_dict().get(k) for k in w} for s, w in
                      zip(meta.stages, want)] + [s.to_dict() for s in meta.stages[len(want):]]
        else:
            got[f] = getattr(meta, f) if hasattr(meta, f) else meta.params.get(f)
    return got


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fixture_fields(path):
    fx = json.loads(path.read_text(encoding="utf-8"))
    texts = [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
             for k, v in fx["chunks"].items()]
    r = interop.read(png(texts))
    assert _got(r.meta, fx["expect"]) == fx["expect"]


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
    assert _got(r.meta, fx["expect"]) == fx["expect"]
    assert r.tool == fx["tool"]


def test_writers_later_passes_stay_out_of_core_fields():
    # (the later passes are typed stages since issue 15; they were params/unmapped before)
    m = interop.read(_BUILD.build(_writer("sdnext_second_pass"))).meta
    assert (m.width, m.height, m.steps) == (512, 768, 30)          # not Size-1/Size-2, Hires steps
    assert (m.stages[0].scale, m.stages[0].steps, m.stages[0].strength) == (2.0, 15, 0.3)
    m = interop.read(_BUILD.build(_writer("a1111_jpeg_hires"))).meta
    assert (m.width, m.height, m.steps) == (640, 448, 25) and m.stages[0].size == (1280, 896)
    m = interop.read(_BUILD.build(_writer("swarmui_refiner"))).meta
    assert (m.width, m.height) == (1024, 1024)
    assert (m.stages[0].name, m.stages[0].strength, m.stages[0].scale) == ("hires", 0.2, 1.5)
    r = interop.read(_BUILD.build(_writer("invokeai5_hrf_refiner")))
    assert (r.meta.width, r.meta.steps, r.meta.guidance_scale) == (1024, 32, 6.5)
    assert "refiner_steps" not in r.unmapped and r.meta.params["hires_fix"] is True
    (ref,) = r.meta.stages
    assert (ref.model, ref.switch, ref.steps, ref.guidance_scale) == (
        "ckpt:sd_xl_refiner_1.0", 0.8, 20, 7.5)


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


# ------------------------------------------------------------------ ComfyUI: first pass, formats
def _draft_fields(g) -> dict:
    d = graph_to_draft(g)
    return {**d.fields, **{k: d.params.get(k) for k in ("sampler", "schedule_type")}}


def test_saver_infotext_does_not_override_the_executed_graph():
    """comfy-image-saver's infotext is built from the saver's own widgets and rewritten
    for Civitai (flattened prompt, LoRA tags stripped, Civitai sampler names, defaults
    such as seed 0 / 512x512 when unwired): the graph's first pass keeps the fields; the
    infotext adds the model hash; its differing values stay visible in unmapped."""
    fx = json.loads((FIX / "comfyui_image_saver_infotext.json").read_text(encoding="utf-8"))
    texts = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in fx["chunks"].items()]
    r = interop.read(png(texts))
    assert r.tool == "comfyui"
    m = r.meta
    assert (m.seed, m.width, m.height) == (918273645, 640, 896)
    assert m.prompt == "a quiet lake at dawn,\nmist over the water <lora:softlight:0.6>"
    assert m.model_revision == "0a1b2c3d4e" and [lo.name for lo in m.loras] == ["softlight.safetensors"]
    assert r.unmapped["infotext seed"] == "0" and r.unmapped["infotext width"] == "512"
    assert "parameters" in r.source and "prompt" in r.source


def test_saver_infotext_fills_what_the_graph_cannot_resolve():
    t = ("a fox\nNegative prompt: blur\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 5, "
         "Size: 768x512, Model hash: 1234abcd56, Model: foxmix")
    g = {"1": {"class_type": "MysterySampler", "inputs": {"image": ["2", 0]}},
         "2": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}}
    m = interop.read(png([("parameters", t), ("prompt", json.dumps(g))])).meta
    assert (m.prompt, m.seed, m.steps, m.width, m.scheduler) == ("a fox", 5, 30, 768, "euler_a")
    assert m.model == "ckpt:foxmix" and m.model_revision == "1234abcd56"


def test_refiner_and_latent_hires_keep_the_first_pass():
    for name, first in (("comfyui_api_sdxl_refiner", (721897303308196, 25, 1024)),
                        ("comfyui_api_hires_latent", (1111, 28, 512))):
        fx = json.loads((FIX / f"{name}.json").read_text(encoding="utf-8"))
        d = graph_to_draft(fx["chunks"]["prompt"])
        assert (d.fields["seed"], d.fields["steps"], d.fields["width"]) == first, name
    d = graph_to_draft(json.loads((FIX / "comfyui_api_sdxl_refiner.json").read_text(
        encoding="utf-8"))["chunks"]["prompt"])
    assert [st.model for st in d.stages] == ["ckpt:sd_xl_refiner_1.0.safetensors"]  # was a param
    assert "hires_steps" not in d.params and "refiner" not in d.params


def _encode(nid, text, clip="1"):
    return {nid: {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": [clip, 1]}}}


def test_depth_map_pass_is_not_the_first_pass():
    """A Lotus-style depth pass (no noise, from a loaded image) makes the picture that a
    full-denoise sampler is started from: the prompted sampler is the first pass."""
    g = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
         "2": {"class_type": "LoadImage", "inputs": {"image": "room.png"}},
         "3": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["1", 2]}},
         "4": {"class_type": "DisableNoise", "inputs": {}},
         "5": {"class_type": "BasicGuider", "inputs": {"model": ["1", 0], "conditioning": ["6", 0]}},
         "6": {"class_type": "LotusConditioning", "inputs": {}},
         "7": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
         "8": {"class_type": "BasicScheduler", "inputs": {"scheduler": "normal", "steps": 1,
                                                          "denoise": 1.0, "model": ["1", 0]}},
         "9": {"class_type": "SamplerCustomAdvanced", "inputs": {
             "noise": ["4", 0], "guider": ["5", 0], "sampler": ["7", 0], "sigmas": ["8", 0],
             "latent_image": ["3", 0]}},
         "10": {"class_type": "VAEDecode", "inputs": {"samples": ["9", 0], "vae": ["1", 2]}},
         "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["1", 2]}},
         **_encode("12", "a cosy reading room"), **_encode("13", ""),
         "14": {"class_type": "KSampler", "inputs": {
             "seed": 42, "steps": 20, "cfg": 8.0, "sampler_name": "euler", "scheduler": "normal",
             "denoise": 1.0, "model": ["1", 0], "positive": ["12", 0], "negative": ["13", 0],
             "latent_image": ["11", 0]}}}
    f = _draft_fields(g)
    assert (f["prompt"], f["seed"], f["steps"]) == ("a cosy reading room", 42, 20)
    # the same shape after a text-to-image pass (image -> video): that pass stays first
    g["3"] = {"class_type": "EmptyLatentImage", "inputs": {"width": 640, "height": 384,
                                                           "batch_size": 1}}
    g["4"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 7}}
    g["6"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a lake", "clip": ["1", 1]}}
    f = _draft_fields(g)
    assert (f["prompt"], f["seed"], f["width"]) == ("a lake", 7, 640)


def test_parallel_generations_take_the_lowest_node_id():
    g = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
         **_encode("2", "first"), **_encode("3", "second"), **_encode("4", ""),
         "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512,
                                                            "batch_size": 1}}}
    for nid, seed, pos in (("9:30", 2, "3"), ("9:12", 1, "2")):
        g[nid] = {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": 10, "cfg": 5, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1, "model": ["1", 0], "positive": [pos, 0], "negative": ["4", 0],
            "latent_image": ["5", 0]}}
    assert _draft_fields(g)["prompt"] == "first"   # 9:12 before 9:30, not "30" > "12"


def _link(lid, src, slot, dst, dslot, typ):
    return [lid, src, slot, dst, dslot, typ]


def test_workflow_and_prompt_give_the_same_fields():
    """A Flux SamplerCustomAdvanced graph (RandomNoise, CFGGuider, KSamplerSelect,
    BasicScheduler, FluxGuidance), a bypassed LoRA loader and a reroute: the editor
    workflow and the API prompt ComfyUI queues for it read the same."""
    def n(nid, typ, widgets, inputs=(), mode=0, outputs=()):
        return {"id": nid, "type": typ, "mode": mode, "widgets_values": widgets,
                "inputs": [{"name": a, "type": t, "link": lk} for a, t, lk in inputs],
                "outputs": [{"name": t, "type": t, "links": []} for t in outputs]}
    nodes = [
        n(1, "UNETLoader", ["flux1-dev.safetensors", "default"], outputs=["MODEL"]),
        n(2, "DualCLIPLoader", ["clip_l.safetensors", "t5xxl.safetensors", "flux"],
          outputs=["CLIP"]),
        n(3, "LoraLoaderModelOnly", ["style.safetensors", 0.7], [("model", "MODEL", 1)], mode=4,
          outputs=["MODEL"]),
        n(4, "CLIPTextEncode", ["ein Leuchtturm im Nebel"], [("clip", "CLIP", 2)]),
        n(5, "FluxGuidance", [3.5], [("conditioning", "CONDITIONING", 3)]),
        n(6, "Reroute", [], [("", "*", 4)]),
        n(7, "CFGGuider", [1.0], [("model", "MODEL", 5), ("positive", "CONDITIONING", 6),
                                  ("negative", "CONDITIONING", 7)]),
        n(8, "RandomNoise", [90210, "fixed"]),
        n(9, "KSamplerSelect", ["euler"]),
        n(10, "BasicScheduler", ["simple", 28, 1.0], [("model", "MODEL", 8)]),
        n(11, "EmptySD3LatentImage", [1152, 896, 1]),
        n(12, "SamplerCustomAdvanced", [], [("noise", "NOISE", 9), ("guider", "GUIDER", 10),
                                            ("sampler", "SAMPLER", 11), ("sigmas", "SIGMAS", 12),
                                            ("latent_image", "LATENT", 13)]),
        n(13, "CLIPTextEncode", [""], [("clip", "CLIP", 14)]),
    ]
    links = [_link(1, 1, 0, 3, 0, "MODEL"), _link(2, 2, 0, 4, 0, "CLIP"),
             _link(3, 4, 0, 5, 0, "CONDITIONING"), _link(4, 5, 0, 6, 0, "CONDITIONING"),
             _link(5, 3, 0, 7, 0, "MODEL"), _link(6, 6, 0, 7, 1, "CONDITIONING"),
             _link(7, 13, 0, 7, 2, "CONDITIONING"), _link(8, 3, 0, 10, 0, "MODEL"),
             _link(9, 8, 0, 12, 0, "NOISE"), _link(10, 7, 0, 12, 1, "GUIDER"),
             _link(11, 9, 0, 12, 2, "SAMPLER"), _link(12, 10, 0, 12, 3, "SIGMAS"),
             _link(13, 11, 0, 12, 4, "LATENT"), _link(14, 2, 0, 13, 0, "CLIP")]
    api = {"1": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors",
                                                         "weight_dtype": "default"}},
           "2": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "clip_l.safetensors",
                                                             "clip_name2": "t5xxl.safetensors",
                                                             "type": "flux"}},
           "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "ein Leuchtturm im Nebel",
                                                             "clip": ["2", 0]}},
           "5": {"class_type": "FluxGuidance", "inputs": {"guidance": 3.5,
                                                           "conditioning": ["4", 0]}},
           "7": {"class_type": "CFGGuider", "inputs": {"cfg": 1.0, "model": ["1", 0],
                                                        "positive": ["5", 0],
                                                        "negative": ["13", 0]}},
           "8": {"class_type": "RandomNoise", "inputs": {"noise_seed": 90210}},
           "9": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
           "10": {"class_type": "BasicScheduler", "inputs": {"scheduler": "simple", "steps": 28,
                                                             "denoise": 1.0, "model": ["1", 0]}},
           "11": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 1152, "height": 896,
                                                                  "batch_size": 1}},
           "12": {"class_type": "SamplerCustomAdvanced", "inputs": {
               "noise": ["8", 0], "guider": ["7", 0], "sampler": ["9", 0], "sigmas": ["10", 0],
               "latent_image": ["11", 0]}},
           "13": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}}}
    wf = _wf(nodes, links)
    a = interop.read(png([("prompt", json.dumps(api)), ("workflow", wf)])).meta
    w = interop.read(png([("workflow", wf)])).meta
    assert a == w
    assert (a.prompt, a.seed, a.steps, a.guidance_scale, a.width, a.height) == (
        "ein Leuchtturm im Nebel", 90210, 28, 3.5, 1152, 896)
    assert a.model == w.model and not a.loras            # the bypassed LoRA did not run


def test_muted_subgraph_runs_nothing():
    inner = {"id": "sg-1", "inputs": [], "outputs": [], "links": [],
             "nodes": [{"id": 1, "type": "KSampler", "widgets_values": [9, "fixed", 4, 1, "euler",
                                                                        "simple", 1],
                        "inputs": []}]}
    top = [{"id": 5, "type": "sg-1", "mode": 4, "inputs": [], "widgets_values": []}]
    g = workflow_to_graph(_wf(top, [], definitions={"subgraphs": [inner]}))
    assert g is None or not any(k.startswith("5:") for k in g)
