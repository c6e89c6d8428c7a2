"""``aigif features FILE [-o out.npy]``: the feature map of a file coded for machines
(pixel codec ``omni-icm``), without pixel synthesis."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

import typer

from ..featuremap import features as read_features
from ._common import check_output, console, run_guarded, write_output

__all__ = ["register"]


def features(
    file: Path = typer.Argument(..., help="the .aigif file to read"),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="write the float32 [C, h, w] feature map as .npy"),
    pooled: bool = typer.Option(False, help="write the pooled C-vector instead of the map"),
    force: bool = typer.Option(False, help="overwrite an existing output"),
) -> None:
    """Decode the feature map of an .aigif file whose payload is coded with omni-icm."""
    def go() -> None:
        if output is not None:
            check_output(output, force)
        f = read_features(file)
        arr = f.pooled() if pooled else f.map
        c, h, w = f.map.shape
        console.print(f"{file}: {f.model} level {f.level} (step {f.step:g}), image "
                      f"{f.size[0]}x{f.size[1]}, features {c}x{h}x{w} float32, mean "
                      f"|f| {float(abs(f.map).mean()):.4f}, nonzero "
                      f"{float((f.map != 0).mean()) * 100:.1f} %")
        if output is not None:
            import numpy as np
            buf = io.BytesIO()
            np.save(buf, arr)
            write_output(output, buf.getvalue(), force=force)
            console.print(f"wrote {output} ({'x'.join(map(str, arr.shape))} float32)")
    run_guarded(go)


def register(app: typer.Typer) -> None:
    """Add ``features`` to the ``aigif`` command."""
    app.command("features")(features)
