"""Write, read, inspect and validate an AIGIF file (no torch needed).

    python examples/quickstart.py
"""
import tempfile
from pathlib import Path

import aigif

meta = aigif.GenerationMeta(
    model="sd15",
    prompt="portrait of a knight, highly detailed, digital painting, artstation, concept art, "
           "sharp focus, illustration, art by greg rutkowski",
    negative_prompt="blurry", seed=3954772125, steps=30, guidance_scale=7.5,
    scheduler="dpmpp_2m_karras", width=512, height=768)

with tempfile.TemporaryDirectory() as d:
    path = Path(d) / "knight.aigif"
    n = aigif.save(meta, path)
    f = aigif.open(path)
    assert f.meta == meta
    report = aigif.validate(path)
    print(f"{path.name}: {n} bytes, valid={report.ok}")
    print(f"prompt ({len(meta.prompt)} chars) -> {n} bytes for the whole file")
    print("same metadata as A1111 text:", len(
        f"{meta.prompt}\nNegative prompt: {meta.negative_prompt}\nSteps: 30, Sampler: DPM++ 2M "
        f"Karras, CFG scale: 7.5, Seed: {meta.seed}, Size: 512x768, Model hash: 6ce0161689"
        .encode()), "bytes")
