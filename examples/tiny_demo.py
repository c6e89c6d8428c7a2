"""From a prompt to a .aigif file with the embedded model, and back to pixels.

Runs offline on a CPU: the model (the newest packaged one, ``aigif.embedded.MODEL_KEY``:
aigif-tiny-2) ships inside the package.

    python examples/tiny_demo.py "a large red circle in the top left corner on a white background"
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import aigif
from aigif.embedded import MODEL_KEY

out = Path("out")
out.mkdir(exist_ok=True)

prompt = sys.argv[1] if len(sys.argv) > 1 else \
    "a large red circle in the top left corner on a white background"
meta = aigif.GenerationMeta(model=MODEL_KEY, prompt=prompt, seed=7)

# Generate the picture; the AIGIF bytes carry the syntax, the platform and a fingerprint.
image, data = aigif.generate(meta)
(out / "tiny.aigif").write_bytes(data)
png = io.BytesIO()
image.save(png, format="PNG", optimize=True)
image.save(out / "tiny.png")

# Read the file back and regenerate its picture.
result = aigif.open(out / "tiny.aigif").render()
result.image.save(out / "tiny_render.png")

print(f"model         : {MODEL_KEY} (embedded)")
print(f"prompt        : {prompt}")
print(f"out/tiny.aigif: {len(data)} bytes (syntax {len(aigif.dumps(meta))} B + platform "
      f"record and pixel fingerprint)")
print(f"out/tiny.png  : {png.getbuffer().nbytes} bytes ({image.width}x{image.height})")
print(f"ratio         : {png.getbuffer().nbytes / len(data):.1f}x smaller than the PNG")
print(f"render exact  : {result.exact}")
