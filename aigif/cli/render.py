"""Rendering commands: ``aigif render FILE... -o OUT`` and ``aigif generate --json ...``.

Torch and diffusers load only when one of these commands runs.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import typer

from .. import GenerationMeta, errors
from .. import open as aigif_open
from ..errors import AigifWarning
from .. import render as _render
from .. import scale as _scale
from ..codecs.video.writers import write_video

from ._common import (check_output, console, err_console, fail, image_format, image_writer,
                      run_guarded, write_output)

__all__ = ["register"]

_IMAGE_SUFFIXES = {".png", ".webp", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
#: what a video render writes (aigif.codecs.video.writers; .webp is animated for a video)
_VIDEO_SUFFIXES = {".mp4", ".webm", ".mkv", ".gif", ".apng", ".webp"}


def _warn_lines(caught) -> None:
    for w in caught:
        if issubclass(w.category, AigifWarning):      # library chatter stays out
            err_console.print(f"aigif: warning: {w.message}", markup=False)


def _quiet() -> None:
    """Keep diffusers' and transformers' progress bars and log lines off the terminal."""
    try:
        import diffusers.utils.logging as dl
        import transformers.utils.logging as tl
    except ImportError:
        return                       # the render call raises MissingDependencyError
    dl.set_verbosity_error()
    dl.disable_progress_bar()
    tl.set_verbosity_error()
    tl.disable_progress_bar()


def _exactness(res) -> str:
    if res.source == "payload":
        return "from the pixel payload (model not available)"
    return {True: "exact", False: "approximate (fingerprint differs)",
            None: "no fingerprint to check"}[res.exact]


def _approximate(res) -> str:
    """``"APPROXIMATE (...); "`` when stages were skipped or approximated, else ``""``."""
    if not getattr(res, "approximate", False):
        return ""
    n = len(res.skipped)
    return f"APPROXIMATE ({n} stage{'s' if n != 1 else ''} skipped or approximated); "


def _save(image, path: Path, *, force: bool, within: Optional[Path] = None,
          video=None) -> None:
    """Write a rendered image (or ``video``: VideoFrames, as the file type its suffix
    names) atomically (never through a link; inside ``within``)."""
    if video is not None:
        if path.suffix.lower() not in _VIDEO_SUFFIXES:
            fail(f"{path}: a video renders to {', '.join(sorted(_VIDEO_SUFFIXES))}")
        write_video(path, video.frames, video.fps, overwrite=force, replace_symlink=force,
                    within=within)
        return
    try:
        write_output(path, image_writer(image, path), force=force, within=within)
    except (KeyError, ValueError) as e:
        fail(f"cannot write {path}: {e}")


def _is_video(f) -> bool:
    """True when ``f`` is a readable .aigif file of a video generation (else False: the
    render reports what is wrong with it)."""
    try:
        return aigif_open(f).is_video
    except (errors.AigifError, OSError):
        return False


def _targets(files: List[Path], output: Path, single: bool) -> list:
    """One output per input; two inputs that would write the same file are refused."""
    if single:
        return [output]
    targets, seen = [], {}
    for f in files:
        t = output / (Path(f).stem + (".mp4" if _is_video(f) else ".png"))
        key = os.path.normcase(os.path.normpath(t)).casefold()
        if key in seen:
            fail(f"{seen[key]} and {f} would both be written to {t}; render inputs with the "
                 f"same name into different folders")
        seen[key] = f
        targets.append(t)
    return targets


def render(
    files: List[Path] = typer.Argument(..., help=".aigif files to regenerate ('-' with --list: none)"),
    output: Path = typer.Option(..., "-o", "--output", help="image or video file (one "
                                "input) or folder (one <name>.png, or <name>.mp4 for a "
                                "video, per input)"),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1, mps (default: the "
                                         "file's, else GPU when available)"),
    dtype: Optional[str] = typer.Option(None, help="float32, float16, bfloat16 (default: "
                                        "the file's)"),
    strict: bool = typer.Option(False, help="fail on platform differences or a fingerprint "
                                "mismatch"),
    fallback: bool = typer.Option(False, "--fallback-pixels", help="use the pixel payload "
                                  "when the model is not available"),
    offline: bool = typer.Option(False, help="never download weights"),
    force: bool = typer.Option(False, help="overwrite existing outputs"),
    approximate: bool = typer.Option(False, help="render what can be rendered: skip (or "
                                     "approximate) the generation stages aigif cannot run "
                                     "exactly, say which and why, and mark the image "
                                     "approximate"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes (CPU); "
                                "several make a resumable batch run into the OUT folder"),
    devices: Optional[str] = typer.Option(None, "--devices", help="'all' (one process per "
                                          "visible GPU; --workers CPU processes without "
                                          "one) or a list: cuda:0,cuda:1"),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="ADDRESS",
                                      help="render on Ray actors: 'local' (a Ray on this "
                                      "machine), 'auto' or ray://head:10001 "
                                      "(pip install 'aigif[cluster]')"),
    batch_size: int = typer.Option(1, "--batch-size", min=1, help="files per pipeline call "
                                   "(opt-in: pixels may differ, marked approximate)"),
    from_list: Optional[Path] = typer.Option(None, "--list", help="a file listing inputs "
                                             "(one path or URL a line, or JSONL src/dst)"),
    resume: bool = typer.Option(False, "--resume", help="batch run with a manifest in OUT: "
                                "a rerun renders only what is missing"),
) -> None:
    """Regenerate the images of .aigif files."""
    if workers > 1 or devices or ray or batch_size > 1 or from_list or resume:
        return _render_many(files, output, device=device, dtype=dtype, strict=strict,
                            fallback=fallback, offline=offline, force=force, workers=workers,
                            devices=devices, ray=ray, batch_size=batch_size,
                            from_list=from_list, approximate=approximate)

    def go() -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        suffixes = _IMAGE_SUFFIXES | _VIDEO_SUFFIXES
        single = len(files) == 1 and output.suffix.lower() in suffixes
        if not single:
            if output.suffix.lower() in suffixes:
                fail(f"{len(files)} inputs need an output folder, not {output}")
        targets = _targets(files, output, single)
        if not single:
            output.mkdir(parents=True, exist_ok=True)
        for t in targets:
            check_output(t, force)
        _quiet()
        failed = 0
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                      console=err_console, transient=True) as bar:
            task = bar.add_task("rendering", total=len(files))
            for src, dst in zip(files, targets):
                bar.update(task, description=f"rendering {src.name}")
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", errors.AigifWarning)
                        res = aigif_open(src).render(device=device, dtype=dtype, strict=strict,
                                                     fallback="payload" if fallback else "error",
                                                     download=not offline,
                                                     approximate=approximate)
                    _warn_lines(caught)
                    _save(res.image, dst, force=force, within=None if single else output,
                          video=getattr(res, "video", None))
                    t = res.timings.get("total", 0.0)
                    console.print(f"{src} -> {dst}: {_approximate(res)}{_exactness(res)}, "
                                  f"{t:.2f} s{' (cached pipeline)' if res.cache_hit else ''}",
                                  markup=False)
                    for line in getattr(res, "skipped", None) or ():
                        err_console.print(f"aigif: approximate: {src}: {line}", markup=False)
                except errors.AigifError as e:
                    failed += 1
                    msg = str(e).replace("pass approximate=True", "render with --approximate")
                    err_console.print(f"aigif: error: {src}: {msg}", markup=False)
                except OSError as e:
                    failed += 1
                    err_console.print(f"aigif: error: {src}: {e.strerror or e}", markup=False)
                bar.advance(task)
        if failed:
            raise typer.Exit(2)
    run_guarded(go)


def _render_many(files, output: Path, *, device, dtype, strict, fallback, offline, force,
                 workers, devices, ray, batch_size, from_list, approximate=False) -> None:
    """The batch path (``aigif.scale.render_many``): a folder of outputs, a manifest in
    it, a single progress display and a single report, whatever the workers."""
    def go() -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        if output.suffix.lower() in _IMAGE_SUFFIXES:
            fail(f"a batch run writes into a folder, not {output}")
        inputs = [str(f) for f in files if str(f) != "-"]
        if from_list is not None:
            inputs += _scale.read_list(from_list)
        if not inputs:
            fail("no inputs")
        _quiet()
        run = _scale.render_many(inputs, output, workers=workers, devices=devices,
                          ray=(True if ray == "local" else ray) if ray else None,
                          overwrite=force, batch_size=batch_size, device=device, dtype=dtype,
                          strict=strict, fallback="payload" if fallback else "error",
                          download=not offline, approximate=approximate)
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                      console=err_console, transient=True) as bar:
            task = bar.add_task("rendering", total=run.report.total or None)
            for item in run:
                bar.update(task, total=run.report.total)
                if item.status == "failed":
                    err_console.print(f"aigif: error: {item.src}: {item.error}", markup=False)
                elif item.status == "done":
                    what = ("from the pixel payload (model not available)"
                            if item.source == "payload" else
                            "approximate" if item.approximate else
                            {True: "exact", False: "approximate (fingerprint differs)",
                             None: "no fingerprint to check"}[item.exact])
                    console.print(f"{item.src} -> {item.dst}: {what}, {item.seconds:.2f} s "
                                  f"[{item.worker}]")
                bar.advance(task)
        console.print(str(run.report))
        if run.report.failed:
            raise typer.Exit(2)
    run_guarded(go)


def generate(
    json_path: str = typer.Option(..., "--json", help="meta JSON (same keys as "
                                  "'aigif info --json'); '-' for stdin"),
    output: Path = typer.Option(..., "-o", "--output", help="the .aigif file to write"),
    image: Optional[Path] = typer.Option(None, "--image", help="also write the image here"),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, mps (default: GPU when "
                                         "available)"),
    dtype: Optional[str] = typer.Option(None, help="float32, float16, bfloat16"),
    offline: bool = typer.Option(False, help="never download weights"),
    force: bool = typer.Option(False, help="overwrite existing outputs"),
) -> None:
    """Generate an image from metadata and write it as an .aigif file (with its platform
    and fingerprint)."""
    def go() -> None:
        try:
            text = sys.stdin.read() if json_path == "-" else \
                Path(json_path).read_text(encoding="utf-8")
        except OSError as e:
            fail(f"cannot read {json_path}: {e.strerror or e}")
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            fail(f"{json_path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")
        for p in (output, image):
            if p is not None:
                check_output(p, force)
        if image is not None:
            image_format(image)   # an unknown image extension fails before the work
        meta = GenerationMeta.from_dict(d)
        _quiet()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", errors.AigifWarning)
            with err_console.status("generating"):
                img, data = _render.generate(meta, device=device, dtype=dtype, download=not offline)
        _warn_lines(caught)
        write_output(output, data, force=force)
        msg = f"wrote {output} ({len(data)} bytes)"
        if image is not None:
            _save(img, image, force=force)
            msg += f" and {image} ({img.size[0]}x{img.size[1]})"
        console.print(msg)
    run_guarded(go)


def register(app: typer.Typer) -> None:
    """Add ``render`` and ``generate`` to the ``aigif`` command."""
    app.command("render")(render)
    app.command("generate")(generate)
