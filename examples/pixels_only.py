"""Store an image with no generation syntax (a closed generator, an edited image) as AIGIF.

    python examples/pixels_only.py in.png out.aigif [avif|jxl|webp|png|jpeg] [quality]
"""
import sys

from PIL import Image

import aigif

if len(sys.argv) < 3:
    sys.exit(__doc__)
src, dst = sys.argv[1], sys.argv[2]
codec = sys.argv[3] if len(sys.argv) > 3 else "avif"
quality = int(sys.argv[4]) if len(sys.argv) > 4 else 60

image = Image.open(src)
n = aigif.save(None, dst, image=image, fallback=codec, quality=quality)  # pixels-only file
print(f"wrote {dst}: {n} bytes ({codec}, quality {quality})")

f = aigif.open(dst)
result = f.image()                       # best available: here, the decoded payload
print(f"read back {result.image.size} {result.image.mode} via {result.path}")

# `import aigif` registered the Pillow plugin: Pillow opens .aigif files itself
print(Image.open(dst).format)            # -> AIGIF
