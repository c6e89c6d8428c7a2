"""Pixel commands: ``aigif decode``, ``aigif hybrid`` and ``aigif codecs``.

``aigif encode --image`` lives in the core command and calls ``aigif.codecs``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import GenerationMeta, dumps
from .. import open as aigif_open
from ..codecs import codecs, get_codec
from ..codecs.video.writers import VIDEO_EXTENSIONS, write_video
from ..document import encode_hybrid

from ._common import check_output, console, fail, run_guarded, save_image, write_output

__all__ = ["register"]


def decode(
    file: Path = typer.Argument(..., help="the .aigif file to read"),
    output: Path = typer.Option(..., "-o", "--output",
                                help="image to write; the format follows the extension"),
    policy: str = typer.Option("auto", help="auto | pixels | render | prefer_render"),
    quality: Optional[int] = typer.Option(None, help="quality of a lossy output format"),
    force: bool = typer.Option(False, help="overwrite an existing output"),
) -> None:
    """Write the image of an .aigif file (its pixel payload, or regenerated per --policy)."""
    def go() -> None:
        try:
            from PIL import Image  # noqa: F401
        except ImportError:
            fail("decode needs Pillow: pip install 'aigif[images]'")
        check_output(output, force)
        f = aigif_open(file)
        if f.is_video:
            return _decode_video(f, output, policy, quality, force)
        res = f.image(policy=policy)
        im = res.image
        opts = {} if quality is None else {"quality": quality}
        save_image(im, output, force=force, **opts)
        note = f"; {res.note}" if res.note else ""
        console.print(f"wrote {output} ({im.size[0]}x{im.size[1]} {im.mode}, "
                      f"from {res.path}{note})")
    run_guarded(go)


def _decode_video(f, output: Path, policy: str, quality: Optional[int], force: bool) -> None:
    """``aigif decode`` of a video file: its frames written as the file ``output``'s
    extension names (aigif.codecs.video.writers)."""
    if output.suffix.lower() not in VIDEO_EXTENSIONS:
        fail(f"{output}: the file is a video; write it as {', '.join(VIDEO_EXTENSIONS)}")
    res = f.video(policy=policy)
    v = res.video
    write_video(output, v.frames, v.fps, quality=quality, overwrite=force,
                replace_symlink=force)
    note = f"; {res.note}" if res.note else ""
    console.print(f"wrote {output} ({len(v)} frames {v.size[0]}x{v.size[1]} at {v.fps} fps, "
                  f"from {res.path}{note})")


def hybrid(
    image: Path = typer.Option(..., "--image", help="the original image"),
    output: Path = typer.Option(..., "-o", "--output", help="the .aigif file to write"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="generation meta JSON"),
    regenerated: Optional[Path] = typer.Option(
        None, help="the image a reader regenerates (default: render it here)"),
    target: float = typer.Option(40.0, help="target PSNR in dB"),
    exact: bool = typer.Option(False, help="bit-exact pixels (overrides --target)"),
    codecs: str = typer.Option("avif,jxl,webp", help="pixel codecs to try"),
    force: bool = typer.Option(False, help="overwrite an existing output"),
) -> None:
    """Store an image as syntax, syntax + residual or pixels: whichever is smallest at the
    target fidelity. Prints the decision and the PSNR reached."""
    def go() -> None:
        import json
        import math

        check_output(output, force)
        meta = None
        if json_path is not None:
            try:
                meta = GenerationMeta.from_dict(json.loads(json_path.read_text("utf-8")))
            except json.JSONDecodeError as e:
                fail(f"{json_path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")
        from ..codecs._pillow import open_image_file   # Pillow
        orig = open_image_file(str(image))
        regen = open_image_file(str(regenerated)) if regenerated is not None else None
        keys = tuple(k for k in codecs.split(",") if k)
        f, d = encode_hybrid(meta, orig, regen, math.inf if exact else target, codecs=keys)
        n = write_output(output, dumps(f), force=force)
        console.print(d.report(), highlight=False)
        console.print(f"wrote {output} ({n} bytes, {d.mode})")
    run_guarded(go)


def codecs_cmd() -> None:
    """List the pixel codecs (image and video), their codes and whether they are installed."""
    def go() -> None:
        for key in codecs.keys():
            c = get_codec(key)
            kind = getattr(c, "kind", "image")
            modes = "/".join(m for m, ok in (("lossy", c.lossy), ("lossless", c.lossless)) if ok)
            crf = getattr(c, "crf_range", None)
            eff = (f"crf {crf[0]}..{crf[1]}" if kind == "video" and crf else
                   f"effort {c.effort_range[0]}..{c.effort_range[1]}" if c.effort_range else "")
            state = "available" if c.available() else f"missing: pip install 'aigif[{c.extra}]'"
            console.print(f"{key:<6} code {c.code:<3} {kind:<5} {modes:<15} {eff:<13} {state}")
    run_guarded(go)


def register(app: typer.Typer) -> None:
    """Add ``decode``, ``hybrid`` and ``codecs`` to the ``aigif`` command."""
    app.command("decode")(decode)
    app.command("hybrid")(hybrid)
    app.command("codecs")(codecs_cmd)
