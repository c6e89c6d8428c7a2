"""ReDoS probes for every regex (and hand-written scanner) of aigif.interop that runs on
untrusted text (issue 13, item 2).

Each probe times a worst-case input at size n and 4n (best of 3 runs): a linear scanner
takes about 4x as long, a quadratic one 16x. The test allows 5x (plus 5 ms of timer
noise). ``test_every_regex_is_probed`` fails when a regex is added to aigif/interop
without a probe here.
"""
from __future__ import annotations

import ast
import random
import re
import time
from pathlib import Path

import pytest

from aigif.interop import _common, a1111, comfyui, comfyui_video, fooocus, generic, invokeai
from aigif.interop._i2v import _path as _i2v_path
from aigif.interop._xmp import xmp_user_comment as _xmp_user_comment

INTEROP = Path(a1111.__file__).parent


def _best(fn, arg, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn(arg)
        best = min(best, time.perf_counter() - t)
    return best


def _assert_linear(fn, make, n: int) -> None:
    small, big = make(n), make(4 * n)
    for _ in range(3):      # the machine is shared: a quadratic scan fails every time
        t1 = _best(fn, small)
        t4 = _best(fn, big)
        if t4 <= 5 * t1 + 0.005:
            return
    raise AssertionError(f"size 4n took {t4:.4f} s, size n took {t1:.4f} s (n = {n})")


# (name, function under test, input of size ~n, n, regex patterns the probe covers)
PROBES = [
    # the reproduction: the last line of "parameters" without colons
    ("params-line-no-colon", a1111.parse_infotext, lambda n: "p\n" + "a" * n, 40_000,
     [r"\s*", r"\w", r"[\w \-/+().\[\]]*"]),
    ("params-line-key-runs", a1111.parse_infotext, lambda n: "p\n" + "a-" * (n // 2) + "!",
     40_000, []),
    ("steps-line-no-colon", a1111.parse_infotext, lambda n: "p\nSteps: " + "a" * n, 40_000, []),
    ("params-line-spaces", a1111.parse_infotext, lambda n: "p\nSteps: 1, " + "a " * (n // 2),
     40_000, []),
    ("params-line-open-quotes", a1111.parse_infotext,
     lambda n: 'p\nSteps: "' + '\\"a: ' * (n // 5), 40_000,
     [r'"[^\\"]*(?:\\.[^\\"]*)*"', r'[^\\"]*(?:\\[\s\S][^\\"]*)*']),
    ("params-line-quoted-values", a1111.parse_infotext,
     lambda n: "p\nSteps: 1, " + 'k: "a\\", ' * (n // 10), 40_000, []),
    ("params-line-many-items", a1111.parse_infotext,
     lambda n: "p\nSteps: 1, " + "a: 1, " * (n // 6), 40_000,
     [r"^\w[\w \-/+().\[\]']*$", r"^[a-z][a-z0-9_]*$"]),
    ("params-line-json-values", a1111.parse_infotext,
     lambda n: "p\nSteps: 1, Hashes: " + "[" * (n // 2) + '"' * (n // 2), 40_000, []),
    ("infotext-no-params", a1111.parse_infotext, lambda n: ("a, b: c\n" * (n // 8)), 40_000, []),
    ("size", lambda v: a1111._RE_SIZE.match(v), lambda n: " " * n + "1" * n + "x" + "1" * n + " y",
     20_000, [r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$"]),
    ("guess-value", a1111._guess_value, lambda n: "1" * n + ".1" + "1" * n + "ex", 20_000,
     [r"-?(\d+\.\d*|\.\d+|\d+)(e[-+]?\d+)?", r"-?\d+"]),
    ("version", a1111._version_tuple, lambda n: ("v" + "1" * 9) * (n // 10) + " " + "1" * n,
     20_000, [r"v(\d+)\.(\d+)", r"\s*(\d+)\.(\d+)"]),
    ("detect-tool", a1111.detect_tool, lambda n: {"Version": "f" * n, "App": "x" * n}, 20_000,
     [r"^f\d"]),
    ("strip-ext", a1111._strip_ext, lambda n: ".ckpt" * (n // 5) + "x", 40_000,
     [r"\.(safetensors|ckpt|pt|pth|bin|gguf)$"]),
    ("to-int", _common.to_int, lambda n: " " * n + "1" * n + " " * n + "x", 20_000,
     [r"^\s*[+-]?\d+\s*$"]),
    ("clean-text", _common.clean_text, lambda n: "a\ud800" * (n // 2), 40_000,
     ["[\ud800-\udfff]"]),
    ("guess-generator", _common.guess_generator, lambda n: "stable diffusion " * (n // 17),
     40_000, [r"xl|pony|illustrious|noob|animagine|playground|kolors",
              r"sd3|sd_3|stable[-_ ]?diffusion[-_ ]?3"]),
    ("resolve-model", lambda v: _common.resolve_model(v, v), lambda n: "a/" * (n // 2), 40_000,
     [r"[\\/]", r"[0-9a-f]{6,64}"]),
    ("make-lora", lambda v: _common.make_lora(v, 1.0, None, v), lambda n: "a" * n, 40_000,
     [r"[0-9a-f]{2,64}"]),
    ("fooocus-resolution", fooocus.fooocus_to_draft,
     lambda n: {"resolution": "(" + " " * n + "1" * n + " , " + "1" * n + " )x"}, 20_000,
     [r"^\(?\s*(\d+)\s*[,x×]\s*(\d+)\s*\)?$"]),
    ("generic-size", generic.fields_to_draft,
     lambda n: {"size": "(" + " " * n + "1" * n + " x " + "1" * n + " )x"}, 20_000,
     [r"^\(?\s*(\d+)\s*[x×,]\s*(\d+)\s*\)?$"]),
    ("invokeai-unclosed-brackets", invokeai.split_negative, lambda n: "[" * n, 20_000,
     [r"[\[\]]"]),
    ("invokeai-nested-brackets", invokeai.split_negative, lambda n: "[" * n + "]" + "(" * n,
     20_000, []),
    ("xmp-unclosed", _xmp_user_comment, lambda n: "<exif:UserComment>" * (n // 18), 40_000, []),
    ("xmp-unclosed-li", _xmp_user_comment,
     lambda n: "<exif:UserComment>" + "<rdf:li>" * (n // 8) + "</exif:UserComment>", 40_000, []),
    ("lora-tags-unclosed", a1111.prompt_loras, lambda n: "<lora:" + "a" * 250 + ":" * 40
     + "<lora:a:" * (n // 8), 40_000,
     [r"<(?:lora|lyco):([^:<>\n]{1,255}):([^:<>\n]{0,32})(?::[^<>\n]{0,64})?>"]),
    ("lora-tags-long-names", a1111.prompt_loras, lambda n: ("<lora:" + "a" * 300) * (n // 306),
     40_000, []),
    ("adetailer-and-hires-keys", lambda t: a1111.infotext_to_draft(t)[0].build(),
     lambda n: "p\nSteps: 1, Hires upscale: 2, ADetailer model: x, " + "ADetailer a b: 1, "
     * (n // 18), 40_000, [r"^\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*$"]),
    ("xmp-attribute", _xmp_user_comment, lambda n: 'exif:UserComment="' * (n // 18), 40_000, []),
    # ComfyUI video workflows (comfyui_video): family names, hub ids, math-node input keys
    ("video-family-name", comfyui_video._name_family, lambda n: "wan" * (n // 3) + "x",
     40_000, [r"(^|[^a-z])wan([^a-z]|$)"]),
    ("video-family-svd", comfyui_video._name_family, lambda n: "svd" * (n // 3) + "x",
     40_000, [r"(^|[^a-z])svd([^a-z]|$)"]),
    ("video-hub-id", lambda v: comfyui_video._model(_common.Draft(), "wan", v),
     lambda n: "a" * (n // 2) + "/" + "a" * (n // 2) + "!", 40_000,
     [r"[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}"]),
    # the conditioning-image name of an image-to-video graph (_i2v._path: refused or not
    # found; the split and the drive check must stay linear on long names)
    ("i2v-image-name-spaces", lambda v: _i2v_path_quiet(v), lambda n: "a" + " " * n + "[inpu",
     40_000, [r"[\\/]", r"[A-Za-z]:"]),
    ("i2v-image-name-parts", lambda v: _i2v_path_quiet(v), lambda n: "a/" * (n // 2) + "..",
     40_000, []),
    ("video-math-keys", comfyui.graph_to_draft, lambda n: {
        "1": {"class_type": "ComfyMathExpression", "inputs": {
            "expression": "a", "values." + "a" * n: 1, "values.b": ["6", 0]}},
        "6": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
        "2": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {
            "width": 64, "height": 64, "length": ["1", 0]}},
        "4": {"class_type": "UNETLoader", "inputs": {"unet_name": "wan2.1_t2v.safetensors"}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "x", "clip": ["4", 0]}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 1, "steps": 2, "cfg": 1, "sampler_name": "euler", "scheduler": "simple",
            "model": ["4", 0], "positive": ["5", 0], "negative": ["5", 0],
            "latent_image": ["2", 0]}}}, 20_000, [r"[a-z]"]),
]


def _i2v_path_quiet(name: str) -> None:
    from aigif.errors import ImportMetadataError
    try:
        _i2v_path(INTEROP, name)
    except ImportMetadataError:
        pass


@pytest.mark.parametrize("name,fn,make,n", [p[:4] for p in PROBES], ids=[p[0] for p in PROBES])
def test_linear(name, fn, make, n):
    _assert_linear(fn, make, n)


def _interop_patterns() -> set[str]:
    out = set()
    for f in sorted(INTEROP.glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                out.add(node.args[0].value)
    return out


def test_every_regex_is_probed():
    probed = {pat for p in PROBES for pat in p[4]}
    missing = _interop_patterns() - probed
    assert not missing, f"regexes in aigif/interop without a ReDoS probe here: {missing}"


# The old parameter-line regex: the linear scanner must find exactly its matches.
_OLD_RE_PARAM = re.compile(r'\s*(\w[\w \-/+().\[\]]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


def test_param_scan_matches_the_old_regex():
    rng = random.Random(13)
    alphabet = ["a", "B", "1", "_", " ", ":", ",", '"', "\\", "\n", "\t", "-", "(", "]", "é",
                ".", "\u3000"]
    for _ in range(20_000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert a1111._count_params(s, 99) == len(_OLD_RE_PARAM.findall(s)), repr(s)


def test_old_regex_is_quadratic():
    """The probe above can fail: the old regex is caught by the same assertion."""
    with pytest.raises(AssertionError):
        _assert_linear(lambda s: _OLD_RE_PARAM.findall(s), lambda n: "a" * n, 1000)
