"""The ``aigif`` command-line tool (typer + rich).

Core commands live here (encode, info, validate); feature modules listed in
``COMMAND_MODULES`` add theirs through ``register(app)``. No Python traceback reaches the
user for bad input: AigifError and OS errors become one-line messages and exit status 2.
"""
from __future__ import annotations

import json
import sys
from importlib import import_module
from pathlib import Path
from typing import List, Optional

import typer

from .. import errors
from .. import GenerationMeta, dumps
from .. import open as aopen
from ..codecs import cli_payload
from ..codecs.video import probe_video_payload
from ..document import AigifFile
from ..validate import validate as check
from ._common import check_output, console, fail, run_guarded, write_output

#: feature modules under aigif/cli/ that add commands with ``register(app)``
COMMAND_MODULES: tuple[str, ...] = ("pixels", "interop", "render", "features")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="AIGIF: AI-generated images stored as their generation syntax.")


def _load_json(path: str) -> dict:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror or e}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")


@app.command()
def encode(
    output: Path = typer.Option(..., "-o", "--output", help="the .aigif file to write"),
    json_path: Optional[str] = typer.Option(None, "--json", help="meta JSON (same keys as "
                                            "'aigif info --json'); '-' for stdin"),
    model: Optional[str] = typer.Option(None, help="model key, e.g. sd15, sdxl, aigif-tiny"),
    prompt: Optional[str] = typer.Option(None),
    negative_prompt: Optional[str] = typer.Option(None, "--negative-prompt", "-n"),
    seed: Optional[int] = typer.Option(None),
    steps: Optional[int] = typer.Option(None),
    guidance_scale: Optional[float] = typer.Option(None, "--guidance-scale", "--cfg"),
    scheduler: Optional[str] = typer.Option(None, help="e.g. dpmpp_2m_karras, euler_a"),
    width: Optional[int] = typer.Option(None),
    height: Optional[int] = typer.Option(None),
    clip_skip: Optional[int] = typer.Option(None, "--clip-skip"),
    generator: Optional[str] = typer.Option(None, help="family of a hub/ckpt model"),
    revision: Optional[str] = typer.Option(None, help="pinned revision of a hub model"),
    image: Optional[Path] = typer.Option(None, help="also store these pixels as a payload"),
    fallback: str = typer.Option("avif", help="codec of the pixel payload"),
    quality: Optional[int] = typer.Option(None, help="codec quality"),
    lossless: bool = typer.Option(False, help="lossless pixel payload"),
    effort: Optional[int] = typer.Option(
        None, help="codec effort (aigif codecs lists each range; sth: RDC complexity level)"),
    force: bool = typer.Option(False, help="overwrite an existing output"),
) -> None:
    """Write an .aigif file from JSON metadata and/or flags."""
    def go() -> None:
        d = _load_json(json_path) if json_path else {}
        flags = dict(model=model, prompt=prompt, negative_prompt=negative_prompt, seed=seed,
                     steps=steps, guidance_scale=guidance_scale, scheduler=scheduler,
                     width=width, height=height, clip_skip=clip_skip, generator=generator,
                     model_revision=revision)
        d.update({k: v for k, v in flags.items() if v is not None})
        check_output(output, force)
        meta = GenerationMeta.from_dict(d) if d else None
        if meta is None and image is None:
            fail("nothing to encode: give --json, --model/--prompt flags, or --image")
        f = AigifFile(meta=meta)
        if image is not None:
            f = AigifFile(meta=meta, payload=cli_payload(str(image), fallback, quality, lossless,
                                                         effort))
        n = write_output(output, dumps(f), force=force)
        console.print(f"wrote {output} ({n} bytes)")
    run_guarded(go)


def _payload_line(f) -> str:
    """The pixels row of ``aigif info``: codec and bytes; for a video payload also the
    frames, size and rate its container declares (probed: no frame decoded)."""
    line = f"{f.payload.codec}, {len(f.payload.data)} bytes"
    if not f.is_video:
        return line
    try:
        w, h, n, fps = probe_video_payload(f.payload)
    except errors.AigifError as e:
        return f"{line}, video ({e})"
    return f"{line}, video: {n} frames {w}x{h} at {fps} fps"


@app.command()
def info(
    file: Path = typer.Argument(..., help="an .aigif file"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (GenerationMeta keys)"),
    lenient: bool = typer.Option(False, help="accept non-canonical encodings"),
) -> None:
    """Show what a file holds."""
    def go() -> None:
        f = aopen(file, strict=not lenient)
        if as_json:
            d = f.meta.to_dict() if f.meta is not None else {}
            print(json.dumps(d, ensure_ascii=False, indent=2))
            return
        from rich.table import Table
        from rich.text import Text

        class _T(Table):  # every cell is plain text: prompts hold [brackets]
            def add_row(self, *cells):
                super().add_row(*(Text(str(c)) for c in cells))

        t = _T(title=Text(f"{file} ({f.size} bytes)"), show_header=False)
        t.add_column("field", style="bold")
        t.add_column("value", overflow="fold")
        if f.meta is not None:
            for k, v in f.meta.to_dict().items():
                if (v in (None, {}, []) and k not in ("seed",)) or k in ("stages", "video"):
                    continue
                t.add_row(k, json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list))
                          else str(v))
            for i, st in enumerate(f.meta.stages):
                t.add_row(f"stages[{i}]", st.summary())
            if f.meta.video is not None:
                for k, v in f.meta.video.to_dict().items():
                    if k == "image" and v is not None:
                        img = f.meta.video.image
                        v = f"{img.codec}, {len(img.data)} bytes (image-to-video)"
                    if v is not None:
                        t.add_row(f"video.{k}", str(v))
        else:
            t.add_row("meta", "none (pixels-only file)")
        if f.payload is not None:
            t.add_row("pixels", _payload_line(f))
        if f.fingerprint is not None:
            fp = f.fingerprint
            t.add_row("fingerprint", f"algo {fp.algo}, {fp.width}x{fp.height}, {fp.digest.hex()}")
        if f.residual is not None:
            t.add_row("residual", f"{len(f.residual)} bytes")
        for k, v in f.info.items():
            t.add_row(f"info.{k}", v)
        for k, v in f.source.items():
            t.add_row(f"source.{k}", (v[:200] + "…") if len(v) > 200 else v)
        for el in f.unknown_elements:
            t.add_row(f"element {el.type_id}", f"unknown ancillary, {len(el.data)} bytes")
        console.print(t)
    run_guarded(go)


@app.command()
def validate(
    files: List[Path] = typer.Argument(..., help="files to check"),
    as_json: bool = typer.Option(False, "--json", help="one JSON report per line"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="print problems only"),
) -> None:
    """Check files against the spec: one line per problem; exit 0 only if all are valid."""
    bad = 0
    for p in files:
        try:
            r = check(str(p))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as e:  # noqa: BLE001 - one file never stops the others
            # validate() reports bad content as issues; anything it raises is a reader bug
            # or a broken environment: say so for this file and go on
            bad += 1
            code = e.code if isinstance(e, errors.AigifError) else "internal-error"
            msg = str(e) if isinstance(e, errors.AigifError) else f"{type(e).__name__}: {e}"
            if as_json:
                print(json.dumps({"source": str(p), "ok": False, "issues": [
                    {"code": code, "severity": "error", "field": None, "offset": None,
                     "message": msg}]}, ensure_ascii=False))
            else:
                print(f"{p}: error: {code}: {msg}")
            continue
        if not r.ok:
            bad += 1
        if as_json:
            print(json.dumps(r.to_dict(), ensure_ascii=False))
            continue
        for issue in r.issues:
            print(f"{p}: {issue}")
        if r.ok and not quiet:
            print(f"{p}: ok")
    if bad:
        raise typer.Exit(1)


def _register_features() -> None:
    for name in COMMAND_MODULES:
        try:
            mod = import_module(f"aigif.cli.{name}")
        except ImportError as e:  # optional feature whose dependencies are missing
            print(f"aigif: note: commands of {name!r} are unavailable ({e})", file=sys.stderr)
            continue
        mod.register(app)


def main(argv: list[str] | None = None) -> None:
    _register_features()
    try:
        app(args=argv, prog_name="aigif")
    except errors.AigifError as e:  # pragma: no cover - run_guarded catches these
        print(f"aigif: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
