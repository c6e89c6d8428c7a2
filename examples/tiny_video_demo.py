"""From a prompt to a video .aigif file with the embedded text-to-video model, and back to
frames.

Runs offline on a CPU: aigif-tiny-video-3 (32 x 32, 8 frames at 8 fps; the embedded model
that follows its prompts' motion and colour) ships inside the package. Writes ``out/tiny_video.aigif`` (a few dozen bytes) and ``out/tiny_video.apng``
(the rendered frames, exact; Pillow only).

    python examples/tiny_video_demo.py "a blue square moving from top to bottom on a white background"
    python examples/tiny_video_demo.py "a red square moving up on a black background" aigif-tiny-video
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import aigif
from aigif.codecs.video.writers import encode_video_file

out = Path("out")
out.mkdir(exist_ok=True)

prompt = sys.argv[1] if len(sys.argv) > 1 else \
    "a red circle moving from left to right on a white background"
# the model: aigif-tiny-video-3 by default; the older aigif-tiny-video(-2) still render
model = sys.argv[2] if len(sys.argv) > 2 else "aigif-tiny-video-3"
meta = aigif.GenerationMeta(model=model, prompt=prompt, seed=7)

# Generate the clip; the AIGIF bytes carry the syntax (8 frames at 8 fps: the defaults).
clip, data = aigif.generate(meta)
(out / "tiny_video.aigif").write_bytes(data)
apng = encode_video_file(clip.frames, clip.fps, ".apng")
(out / "tiny_video.apng").write_bytes(apng)

# Read the file back and regenerate its frames.
again = aigif.open(out / "tiny_video.aigif").render().video

print(f"model               : {model} (embedded)")
print(f"prompt              : {prompt}")
print(f"out/tiny_video.aigif: {len(data)} bytes (syntax {len(aigif.dumps(meta))} B + "
      f"platform record)")
print(f"out/tiny_video.apng : {len(apng)} bytes ({len(clip)} frames, {clip.size[0]}x"
      f"{clip.size[1]} @ {clip.fps} fps)")
print(f"ratio               : {len(apng) / len(data):.1f}x smaller than the APNG")
print(f"render exact        : {np.array_equal(again.frames, clip.frames)}")
