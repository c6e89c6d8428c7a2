"""Regenerate the images of .aigif files and say how exact each one is.

    python examples/render_file.py castle.aigif more/*.aigif   # render existing files
    python examples/render_file.py                             # make one with aigif-tiny first

Files of the same model load it once (the pipeline cache). A file made by
``aigif.generate`` carries a fingerprint of its pixels and the platform it was made on, so
the result says whether the regenerated pixels are exact, and warns about each platform
difference (``PlatformMismatchWarning``) when this machine is not the one that made it.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import aigif


def render(paths: list[str]) -> None:
    for p in paths:
        f = aigif.open(p)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", aigif.AigifWarning)
            try:
                # device/dtype default to the file's platform where this machine has it
                res = f.render(fallback="payload")
            except aigif.ModelNotAvailableError as e:   # says which model and how to get it
                print(f"{p}: {e}")
                continue
        for w in caught:
            print(f"{p}: warning: {w.message}")
        out = Path(p).with_suffix(".png")
        res.image.save(out)
        exact = {True: "exact", False: "approximate", None: "unchecked"}[res.exact]
        print(f"{p} -> {out}: {exact}, {res.timings['total']:.2f} s"
              f"{', cached pipeline' if res.cache_hit else ''}"
              f"{', from the pixel payload' if res.source == 'payload' else ''}")


def make_example() -> str:
    meta = aigif.GenerationMeta(model="aigif-tiny", seed=3,
                                prompt="a small blue square in the center on a white background")
    image, data = aigif.generate(meta, device="cpu")
    Path("example.aigif").write_bytes(data)
    # a reference image gives a PSNR as well
    res = aigif.loads(data).render(device="cpu", reference=image)
    print(f"example.aigif: {len(data)} bytes, exact={res.exact}, PSNR={res.psnr} dB")
    return "example.aigif"


if __name__ == "__main__":
    try:
        render(sys.argv[1:] or [make_example()])
    except aigif.AigifError as e:
        sys.exit(f"error: {e}")
