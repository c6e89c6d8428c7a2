"""Regions of the objects a prompt names, from the generator's cross-attention, as the
groups of a gitssic payload that a reader decodes one at a time.

Runs offline on a CPU with the embedded aigif-tiny-2 (32 x 32: its heat maps are per
pixel, its block map is only 2 x 2 blocks of 16 x 16) and the shipped gitssic-1 weights.

    python examples/object_regions.py "a large red circle in the top left corner on a white background"
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import aigif
from aigif.render import object_map

out = Path("out")
out.mkdir(exist_ok=True)
prompt = sys.argv[1] if len(sys.argv) > 1 else \
    "a large red circle in the top left corner on a white background"
meta = aigif.GenerationMeta(model="aigif-tiny-2", prompt=prompt, seed=7)

# Render once, recording the cross-attention: the image, a heat map per named object,
# and each 16 x 16 block's object (0: background).
om = object_map(meta)
print("objects   :", ", ".join(om.names))
for name, heat in zip(om.names, om.heat):          # 8 x 8 thumbnails of the heat maps
    small = heat.reshape(8, 4, 8, 4).mean((1, 3))
    print(f"\n{name}:")
    for row in small:
        print("  " + "".join(" .:-=+*#%@"[min(9, int(v * 10))] for v in row))
print("\nblock map :", om.blocks.tolist(), "groups:", om.groups)

# Store the pixels with gitssic, the regions from the syntax (the same render, again:
# the recording does not change a pixel), the names in the file's info.
path = out / "objects.aigif"
n = aigif.save(meta, path, image=om.image, fallback="gitssic", groups="objects")
f = aigif.open(path)
print(f"{path}: {n} bytes, groups {f.group_names()}")
objects = sorted(g for g in om.groups if g)
if not objects:
    sys.exit("no named object won a block: the file holds the automatic map")
first = om.groups[objects[0]]                      # the first object's region, by name
part = f.pixels(groups=[first])
part.save(out / "object.png")
kept = (np.asarray(part) != 128).any(2).mean()
print(f"out/object.png: only {first!r} decoded ({kept:.0%} of the pixels; the rest gray)")
