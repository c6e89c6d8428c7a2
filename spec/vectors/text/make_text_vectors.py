"""Regenerate the text-coding vectors of method 3 (spec/vectors/text/cm2.json).

    python spec/vectors/text/make_text_vectors.py [--check]

``cm2.json`` holds the SHA-256 of the table file ``aigif/textcoding/data/cm2.bin`` (the
authoritative value, spec/text-coding.md M3.1) and, for each case below, the payload the
reference encoder writes for ``(prompt, negative)``: the bytes after the method code
``03`` of the text block. A conforming decoder MUST decode every payload to its texts; a
canonical encoder (M3.8) MUST write exactly these bytes.

The payloads follow from the table file, so whenever the table file changes (the method's
tables are frozen once released), run this script to refresh them. ``--check`` rebuilds
the file in memory, fails where it differs from the one on disk (a stale hash or payload)
and checks that the reference decoder reads every payload back (tests run it).
"""
from __future__ import annotations

import hashlib
import json
import sys
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "cm2.json"

KNIGHT = ("portrait of a knight, highly detailed, digital painting, artstation, concept art, "
          "sharp focus, illustration, art by greg rutkowski")


def cases() -> list[tuple[str, str, str]]:
    """(name, prompt, negative prompt) of every vector."""
    return [
        ("empty", "", ""),
        ("negative-only", "", "blurry, lowres, bad anatomy, bad hands, worst quality"),
        ("single-letters", "a", "A"),
        ("single-gaps", " ", ","),
        ("knight", KNIGHT, ""),
        ("weights", "(masterpiece:1.2), (best quality:1.1), 1girl, solo, ((detailed eyes)), "
                    "[simple background], (red hair:0.8)", ""),
        ("lora", "photo of a woman, <lora:add_detail:0.8>, <lora:epiNoiseoffset_v2:0.6>, "
                 "8k uhd, dslr", "<lora:badhands:1>"),
        ("break", "1girl, red dress BREAK city street, night, neon lights BREAK bokeh, "
                  "depth of field", ""),
        ("mixed-case", "iPhone 15 Pro on a table, McDonald's logo, LoRA, SDXL, DreamShaper, "
                       "GoPro footage, HIGHLY DETAILED, Greg Rutkowski, gReG", "LoWrEs"),
        ("digits", "1920 1080 2024, 4k, 35mm, 85 mm, f/1.8, 1/250 s, ISO 100, 3D, x4, "
                   "SD1.5, 0042", "123"),
        ("cjk", "一个美丽的女孩，长发，高清，8k, 日本の城、桜、夜景", "低质量，模糊"),
        ("hangul-cyrillic-latin", "서울의 밤, Москва зимой, café naïve Ærø, Zoë", ""),
        ("emoji", "a cat 🐱 in space 🚀🌌, 4k", "👎"),
        ("same-block-across-texts", "🐱", "🐶🐶 👨\u200d👩\u200d👧"),
        ("astral-and-specials", "\U0010ffff\U000e0001 \ufeff\ufffd\ue000", "\u2028\u00a0\u3000"),
        ("control-characters", "a\x00b\x01c\x7f d\x1b[0m\r\n\ttab\x0b\x0c", "\x00\x00"),
        ("whitespace", "  leading and trailing  ", "\t\ttabs\nand\r\nnewlines\n\n\n"),
        ("sentence", "A photograph of an astronaut riding a horse on the surface of the moon. "
                     "The Earth rises in the background! Is it real? yes.", ""),
        ("long-repetitive", "masterpiece, best quality, " * 40 + "(ultra detailed:1.3)", ""),
        ("community-negative", KNIGHT,
         "(worst quality, low quality:1.4), EasyNegative, bad-hands-5, extra fingers, "
         "watermark, text, signature, jpeg artifacts"),
        ("a1111-syntax", "a \\(cute\\) cat, [cat|dog], {red|blue} hair, [from:to:0.5], "
                         "score_9, score_8_up, rating:safe, #hashtag @artist",
         "nsfw; lowres | blurry"),
    ]


def table_bytes() -> bytes:
    return resources.files("aigif.textcoding").joinpath("data", "cm2.bin").read_bytes()


def build() -> tuple[str, list[str]]:
    """(the text of cm2.json, problems found while building it)."""
    from aigif.textcoding import cm2
    raw = table_bytes()
    bad = []
    vectors = []
    for name, p, n in cases():
        payload = cm2.METHOD.encode(p, n)
        if cm2.METHOD.decode(payload) != (p, n):
            bad.append(f"{name}: the reference does not decode its own payload")
        vectors.append({"name": name, "prompt": p, "negative": n, "payload": payload.hex()})
    doc = {"method": cm2.CODE, "key": cm2.METHOD.key, "model_version": cm2.MODEL_VERSION,
           "table": "aigif/textcoding/data/cm2.bin",
           "table_sha256": hashlib.sha256(raw).hexdigest(), "table_bytes": len(raw),
           "vectors": vectors}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n", bad


def main(check: bool) -> int:
    text, bad = build()
    if check:
        old = json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else {}
        new = json.loads(text)
        if old.get("table_sha256") != new["table_sha256"]:
            bad.append(f"table_sha256 {old.get('table_sha256')} in {OUT.name}, the table file "
                       f"is {new['table_sha256']}: run this script to refresh the vectors")
        was = {v["name"]: v for v in old.get("vectors", [])}
        for v in new["vectors"]:
            if was.get(v["name"]) != v:
                bad.append(f"{v['name']}: differs from the reference encoder's output")
        if not bad and OUT.read_text(encoding="utf-8") != text:
            bad.append(f"{OUT.name} differs from its regeneration (layout)")
    else:
        OUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUT.name}: {len(json.loads(text)['vectors'])} vectors")
    for b in bad:
        print("FAIL", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
