"""``aigif convert`` (other tools' images -> .aigif) and ``aigif export`` (back)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from .. import errors
from .. import dumps, interop
from .. import open as aopen
from .._atomic import ensure_dir_within
from ..codecs import available_codecs, encode_payload
from ..scale import verify as _scale_verify
from ._common import check_output, console, err_console, fail, run_guarded, write_output

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: videos whose container tags other tools fill (ComfyUI SaveVideo/SaveWEBM, VideoHelperSuite)
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv")
_MAX_ROWS = 100


def _gather(inputs: list[Path], recursive: bool) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """([(file, path relative to its input root)], [(input, why skipped)])."""
    files, skipped = [], []
    for inp in inputs:
        if inp.is_dir():
            it = inp.rglob("*") if recursive else inp.iterdir()
            found = sorted(p for p in it if p.is_file() and p.suffix.lower() in
                           IMAGE_SUFFIXES + VIDEO_SUFFIXES)
            if not found:
                skipped.append((str(inp), "no .png/.jpg/.webp/.mp4/.webm/.mkv files" +
                                ("" if recursive else " (use --recursive for subfolders)")))
            files += [(p, p.relative_to(inp)) for p in found]
        elif inp.is_file():
            files.append((inp, Path(inp.name)))
        else:
            skipped.append((str(inp), "no such file or folder"))
    return files, skipped


def _out_path(outdir: Path, rel: Path, src: Path, taken: dict) -> Path:
    """The output of ``src``: ``rel`` with ``.aigif``, else (a.png and a.jpg in one folder)
    ``a.jpg.aigif``. Two inputs never share an output in one run: when both names are taken
    (the same relative name under several roots) the later input, in the order given, is
    refused with an AigifError naming the earlier one."""
    names = (outdir / rel.with_suffix(".aigif"), outdir / rel.parent / (rel.name + ".aigif"))
    keys = [os.path.normcase(os.path.normpath(n)).casefold() for n in names]  # A.png ~ a.png
    for out, key in zip(names, keys):
        if key not in taken:
            taken[key] = src
            return out
    raise errors.AigifError(f"its output {names[0]} is already that of {taken[keys[0]]} in "
                            f"this run (and {names[1]} that of {taken[keys[1]]}): convert "
                            f"inputs with the same relative name into different folders")


def convert(
    inputs: List[Path] = typer.Argument(..., help="images or folders"),
    outdir: Path = typer.Option(..., "-o", "--output", help="folder for the .aigif files"),
    keep_pixels: Optional[str] = typer.Option(None, "--keep-pixels", metavar="CODEC",
                                              help="also store the pixels (avif, webp, png, jxl...)"),
    quality: Optional[int] = typer.Option(None, help="pixel codec quality"),
    lossless: bool = typer.Option(False, help="lossless pixel payload"),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="descend into subfolders"),
    force: bool = typer.Option(False, help="overwrite existing outputs"),
    verify: bool = typer.Option(False, "--verify", help="regenerate each image where its "
                                "model is here and keep syntax only (exact), syntax + "
                                "residual, or pixels, whichever is smallest at --target"),
    target: str = typer.Option("exact", "--target", help="with --verify: 'exact' or a PSNR "
                               "in dB (e.g. 40)"),
    trust_syntax: bool = typer.Option(False, "--trust-syntax", help="with --verify: keep "
                                      "syntax only when the model is not available"),
    model_map: List[str] = typer.Option([], "--model", metavar="CKPT=MODEL",
                                        help="with --verify: render checkpoint CKPT with "
                                        "registered model MODEL"),
    offline: bool = typer.Option(False, help="with --verify: never download weights"),
) -> None:
    """Convert images made by A1111, ComfyUI, InvokeAI, NovelAI, Fooocus, SwarmUI, SD.Next
    (their embedded generation metadata) into .aigif files."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table
    from rich.text import Text

    if keep_pixels:
        have = available_codecs()
        if keep_pixels not in have:
            fail(f"--keep-pixels {keep_pixels}: codec not available here; available: "
                 f"{', '.join(have) or 'none (pip install aigif[images])'}")
    tgt, mapping, ways = None, {}, {}
    if verify:
        import math
        try:
            tgt = math.inf if target.lower() == "exact" else float(target)
        except ValueError:
            fail(f"--target {target!r}: expected 'exact' or a number of dB")
        for m in model_map:
            k, sep, v = m.partition("=")
            if not sep or not k or not v:
                fail(f"--model {m!r}: expected CKPT=MODEL")
            mapping[k] = v
    files, skipped = _gather(inputs, recursive)
    if not files and skipped:
        for name, why in skipped:
            err_console.print(Text(f"aigif: {name}: {why}"))
        raise typer.Exit(2)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"cannot create {outdir}: {e.strerror or e}")
    rows = []
    taken: dict = {}
    totals = {"before": 0, "after": 0}
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), console=err_console, transient=True) as prog:
        task = prog.add_task("converting", total=len(files))
        for path, rel in files:
            prog.update(task, description=Text(f"converting {path.name}"[:60]).plain)
            try:
                out = _out_path(outdir, rel, path, taken)
                if not force and os.path.lexists(out):
                    raise errors.AigifError(f"{out} exists (use --force to overwrite)")
                size = path.stat().st_size
                r = interop.read(path)
                if verify:
                    item = _scale_verify.verify_one(path, target=tgt, trust_syntax=trust_syntax,
                                                    models=mapping, download=not offline)
                    data = item.data
                    ways[item.way] = ways.get(item.way, 0) + 1
                else:
                    payload = None
                    if keep_pixels:
                        payload = _payload(path, keep_pixels, quality, lossless)
                    data = dumps(r.to_aigif(payload))
                # every output stays inside OUT, whatever links its sub-folders hold
                ensure_dir_within(out.parent, outdir)
                n = write_output(out, data, force=force, within=outdir)
                totals["before"] += size
                totals["after"] += n
                rows.append((str(path), r.tool, size, n, r.mapped_count, len(r.unmapped),
                             "; ".join(r.warnings)))
            except errors.AigifError as e:
                msg = str(e)
                skipped.append((str(path), msg[len(str(path)) + 2:]
                                if msg.startswith(str(path) + ": ") else msg))
            except OSError as e:
                skipped.append((str(path), e.strerror or str(e)))
            except Exception as e:  # noqa: BLE001 - one bad file never stops the batch
                skipped.append((str(path), f"unexpected {type(e).__name__}: {e}"))
            prog.advance(task)
    t = Table(title=Text(f"converted {len(rows)} of {len(files)} files into {outdir}"))
    for col, just in (("file", "left"), ("tool", "left"), ("bytes before", "right"),
                      ("bytes after", "right"), ("mapped", "right"), ("verbatim", "right")):
        t.add_column(col, justify=just, overflow="fold")
    for row in rows[:_MAX_ROWS]:
        t.add_row(Text(row[0]), row[1], str(row[2]), str(row[3]), str(row[4]), str(row[5]))
    if len(rows) > _MAX_ROWS:
        t.add_row(Text(f"… {len(rows) - _MAX_ROWS} more"), "", "", "", "", "")
    if rows:
        t.add_row(Text("total"), "", str(totals["before"]), str(totals["after"]), "", "")
        console.print(t)
        by_tool: dict[str, int] = {}
        for row in rows:
            by_tool[row[1]] = by_tool.get(row[1], 0) + 1
        console.print(Text("tools: " + ", ".join(f"{k} {v}" for k, v in sorted(by_tool.items()))))
        if verify:
            console.print(Text("verified: " + ", ".join(f"{k} {ways[k]}" for k in
                                                        _scale_verify.WAYS if ways.get(k)) +
                               f"; bytes {totals['before']} -> {totals['after']}"))
    for row in rows:
        if row[6]:
            err_console.print(Text(f"aigif: warning: {row[0]}: {row[6]}"))
    if skipped:
        st = Table(title=Text(f"skipped {len(skipped)}"))
        st.add_column("file", overflow="fold")
        st.add_column("why", overflow="fold")
        for name, why in skipped:
            st.add_row(Text(name), Text(why))
        err_console.print(st)
        raise typer.Exit(1)


def import_(
    source: Path = typer.Argument(..., help="an image or video made by another tool "
                                  "(.png .jpg .webp .mp4 .mov .webm .mkv)"),
    output: Path = typer.Argument(..., help="the .aigif file to write"),
    force: bool = typer.Option(False, help="overwrite an existing output"),
    image_dir: Optional[Path] = typer.Option(None, "--image-dir", metavar="DIR",
                                             help="folder holding the conditioning image an "
                                             "image-to-video workflow names (ComfyUI's "
                                             "input/): it goes into the file, losslessly"),
) -> None:
    """Import one image or video's generation metadata (A1111, ComfyUI image and video
    workflows, InvokeAI, NovelAI, Fooocus, SwarmUI...) into an .aigif file: a video
    workflow gives a video file (its family, frames, fps, motion fields; with
    --image-dir, an image-to-video workflow's conditioning image)."""
    def go() -> None:
        check_output(output, force)
        r = interop.read(source, image_dir=image_dir)
        data = dumps(r.to_aigif())
        n = write_output(output, data, force=force)
        m = r.meta
        what = f"{m.generator} video, {m.video.frames} frames at {m.video.fps} fps" \
            if m.video is not None else f"{m.generator} image"
        if m.video is not None and m.video.image is not None:
            what += f", conditioning image {len(m.video.image.data)} bytes"
        console.print(Text_(f"wrote {output} ({n} bytes; {r.tool}, {what}; "
                            f"{r.mapped_count} fields, {len(r.unmapped)} verbatim)"))
        for w in r.warnings:
            err_console.print(Text_(f"aigif: warning: {source}: {w}"))
    run_guarded(go)


def _payload(path: Path, codec: str, quality, lossless):
    try:
        from PIL import Image
    except ImportError as e:
        raise errors.MissingDependencyError(
            "--keep-pixels needs Pillow: pip install 'aigif[images]'") from e
    try:
        with Image.open(path) as im:
            im.load()
            return encode_payload(im, codec=codec, quality=quality, lossless=lossless)
    except errors.AigifError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad pixels
        raise errors.CodecError(f"cannot read the pixels: {e}") from e


def export(
    file: Path = typer.Argument(..., help="an .aigif file (or another tool's image)"),
    output: Path = typer.Option(..., "-o", "--output", help="the image to write (.png, .jpg, .webp)"),
    dialect: str = typer.Option("source", "--as", help="source (the original text), a1111 or comfyui"),
    image: Optional[Path] = typer.Option(None, "--image", help="pixels to use (default: the "
                                         "file's pixel payload)"),
    force: bool = typer.Option(False, help="overwrite an existing output"),
) -> None:
    """Write a file's generation metadata into an image in another tool's dialect."""
    def go() -> None:
        known = interop.export_dialects()
        if dialect not in known:
            fail(f"unknown dialect {dialect!r}; expected one of {', '.join(known)}")
        check_output(output, force)
        suffix = output.suffix.lower().lstrip(".")
        if suffix not in ("png", "jpg", "jpeg", "webp"):
            fail(f"{output}: the output must end in .png, .jpg or .webp")
        pixels = image
        try:
            obj = aopen(file)
        except errors.NotAigifError:
            obj = interop.read(file)    # another tool's image: re-dialect it directly
            if pixels is None:
                pixels = file
        data = interop.export(obj, dialect, image=pixels, format=suffix)
        write_output(output, data, force=force)
        console.print(Text_(f"wrote {output} ({len(data)} bytes, {dialect})"))
    run_guarded(go)


def Text_(s: str):
    from rich.text import Text
    return Text(s)


def register(app: typer.Typer) -> None:
    """Add ``convert``, ``import`` and ``export`` to the ``aigif`` command."""
    app.command("convert")(convert)
    app.command("import")(import_)
    app.command("export")(export)
