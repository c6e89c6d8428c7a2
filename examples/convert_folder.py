"""Convert a folder of AI images (A1111, ComfyUI, InvokeAI, NovelAI, Fooocus, SwarmUI...)
into .aigif files and print what was found.

    python examples/convert_folder.py ~/Pictures/sd out/
"""
import sys
from pathlib import Path

import aigif
from aigif import interop
from aigif.errors import AigifError


def main(src: str, dst: str) -> None:
    out = Path(dst)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(src).rglob("*")):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
            continue
        try:
            r = interop.read(path)
            n = aigif.save(r.to_aigif(), out / (path.stem + ".aigif"))
        except AigifError as e:
            print(f"skip {path.name}: {e}")
            continue
        m = r.meta
        print(f"{path.name}: {r.tool}, {m.model}, seed {m.seed}, {m.scheduler}, "
              f"{path.stat().st_size} -> {n} bytes, {len(r.unmapped)} kept verbatim")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
