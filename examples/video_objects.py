"""A video whose objects a reader decodes alone: the ssvc learned video codec (code 17).

A ball moves across a smooth background; the 64 x 64 tiles its path touches are one group
(a tile with any object pixel goes to the object), the rest another. The file holds one sub-stream per group and frame, so a reader that wants
only the ball reads a fraction of the payload and gets exactly the pixels a full decode
gives there (the rest mid-gray). Runs on a CPU with the shipped gitssic-1 and lvc-res-1
weights (pip install 'aigif[learned,video]').

    python examples/video_objects.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import aigif
from aigif.codecs import get_codec
from aigif.codecs.video.writers import write_video

out = Path("out")
out.mkdir(exist_ok=True)

# 12 frames of 384 x 256: a smooth background and a ball moving right and a little down
t, h, w = 12, 256, 384
y, x = np.mgrid[0:h, 0:w]
background = np.stack([120 + 60 * np.sin(x / 17.0), 90 + 50 * np.cos(y / 11.0),
                       140 + 40 * np.sin((x + y) / 23.0)], -1)
frames, mask = [], np.zeros((h, w), int)
for i in range(t):
    cx, cy = 40 + 10 * i, 70 + 2 * i
    ball = (x - cx) ** 2 + (y - cy) ** 2 < 18 ** 2
    f = background.copy()
    f[ball] = (230, 40, 40)
    frames.append(f.clip(0, 255).astype(np.uint8))
    mask[max(0, cy - 20):cy + 20, max(0, cx - 20):cx + 20] = 1      # the ball's path
frames = np.stack(frames)

path = out / "ball.aigif"
n = aigif.save(None, path, video=frames, fps=12, fallback="ssvc", groups=mask, crf=28)
f = aigif.open(path)
c = get_codec("ssvc")
data = f.payload.data
print(f"{path}: {n} bytes; tiles per group:", np.bincount(c.tile_map(data).ravel()).tolist())

full = f.frames().frames
ball = f.frames(groups=[1])                       # only the ball's group
keep = c.group_map(data) == 1
read = sum(b - a for a, b in c.read_ranges(data, [1]))
print(f"group 1 alone: {read} of {len(data)} payload bytes read ({read / len(data):.0%}), "
      f"{keep.mean():.0%} of the frame; max |partial - full| inside it: "
      f"{int(np.abs(ball.frames[:, keep].astype(int) - full[:, keep]).max())}")
write_video(out / "ball.mkv", ball.frames, ball.fps)
print("out/ball.mkv: the ball's group only (aigif decode out/ball.aigif -o x.mkv "
      "--objects 1 writes the same)")
