"""Pixel commands: ``aigif decode``, ``aigif hybrid`` and ``aigif codecs``.

``aigif encode --image`` lives in the core command and calls ``aigif.codecs``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import GenerationMeta, dumps
from .. import open as aigif_open
from .. import render as _render
from ..codecs import codecs, get_codec
from ..codecs.video import available_video_codecs
from ..codecs.video.readers import read_video_file
from ..codecs.video.writers import VIDEO_EXTENSIONS, write_video
from ..document import encode_hybrid
from ..errors import CodecError

from ._common import check_output, console, fail, run_guarded, save_image, write_output

__all__ = ["register"]


def decode(
    file: Path = typer.Argument(..., help="the .aigif file to read"),
    output: Path = typer.Option(..., "-o", "--output",
                                help="image to write; the format follows the extension"),
    policy: str = typer.Option("auto", help="auto | pixels | render | prefer_render"),
    quality: Optional[int] = typer.Option(None, help="quality of a lossy output format"),
    force: bool = typer.Option(False, help="overwrite an existing output"),
    groups: Optional[str] = typer.Option(
        None, help="gitssic / ssvc payloads: decode only these groups (ids, e.g. 1,3, or "
                   "names the file records, e.g. 'red fox'); the rest is mid-gray"),
    objects: Optional[str] = typer.Option(
        None, help="the same as --groups (a group of an ssvc video or a gitssic image is "
                   "an object: decode just those objects)"),
) -> None:
    """Write the image of an .aigif file (its pixel payload, or regenerated per --policy)."""
    def go() -> None:
        try:
            from PIL import Image  # noqa: F401
        except ImportError:
            fail("decode needs Pillow: pip install 'aigif[images]'")
        check_output(output, force)
        if groups is not None and objects is not None:
            fail("give --groups or --objects (the same option), not both")
        asked = groups if objects is None else objects
        flag = "--groups" if objects is None else "--objects"
        want = _group_ids(asked, flag) if asked is not None else None
        f = aigif_open(file)
        if want is not None:
            if f.payload is None or not getattr(get_codec(f.payload.codec), "partial", False):
                fail(f"{flag} decodes a group-structured pixel payload (gitssic image, ssvc "
                     f"video); this file has none")
            if any(isinstance(g, str) for g in want) and not f.group_names():
                fail(f"{flag} takes group ids separated by commas (e.g. 1,3), got "
                     f"{asked!r}: this file names no groups (names work for files saved "
                     f"with groups='objects')")
            want = f.group_ids(want)
            if f.is_video:
                return _decode_video(f, output, policy, quality, force, want)
            im = f.pixels(groups=want)
            save_image(im, output, force=force,
                       **({} if quality is None else {"quality": quality}))
            names = f.group_names()
            said = ",".join(f"{g} ({names[g]})" if g in names else str(g) for g in want)
            console.print(f"wrote {output} ({im.size[0]}x{im.size[1]} {im.mode}, groups "
                          f"{said} of the pixel payload; the rest mid-gray)")
            return None
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


def _group_ids(text: str, flag: str = "--groups") -> list:
    """Ids (ints) and names (str, looked up in the file by ``AigifFile.group_ids``)."""
    items = [t.strip() for t in text.split(",") if t.strip() != ""]
    ids = [int(t) if t.lstrip("-").isdigit() else t for t in items]
    if not ids or any(isinstance(i, int) and i < 0 for i in ids):
        fail(f"{flag} takes group ids or names separated by commas (e.g. 1,3 or "
             f"'red fox'), got {text!r}")
    return ids


def _decode_video(f, output: Path, policy: str, quality: Optional[int], force: bool,
                  groups: Optional[list] = None) -> None:
    """``aigif decode`` of a video file: its frames written as the file ``output``'s
    extension names (aigif.codecs.video.writers); with ``groups`` (ids, an ssvc payload)
    only those groups' pixels, the rest mid-gray."""
    if output.suffix.lower() not in VIDEO_EXTENSIONS:
        fail(f"{output}: the file is a video; write it as {', '.join(VIDEO_EXTENSIONS)}")
    if groups is not None:
        if policy not in ("auto", "pixels"):
            fail(f"--groups/--objects decode the pixel payload: --policy {policy} does not "
                 f"apply")
        v = f.frames(groups=groups)
        names = f.group_names()
        said = ",".join(f"{g} ({names[g]})" if g in names else str(g) for g in groups)
        src = f"groups {said} of the pixel payload; the rest mid-gray"
    else:
        res = f.video(policy=policy)
        v = res.video
        src = f"from {res.path}" + (f"; {res.note}" if res.note else "")
    write_video(output, v.frames, v.fps, quality=quality, overwrite=force,
                replace_symlink=force)
    console.print(f"wrote {output} ({len(v)} frames {v.size[0]}x{v.size[1]} at {v.fps} fps, "
                  f"{src})")


def _lossless_image_codecs() -> list[str]:
    return [k for k in codecs.keys()
            if getattr(get_codec(k), "kind", "image") == "image" and get_codec(k).lossless]


def hybrid(
    image: Optional[Path] = typer.Option(None, "--image", help="the original image"),
    video: Optional[Path] = typer.Option(
        None, "--video", help="the original video (.mp4 .webm .mkv .mov .gif .webp .apng)"),
    output: Path = typer.Option(..., "-o", "--output", help="the .aigif file to write"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="generation meta JSON"),
    regenerated: Optional[Path] = typer.Option(
        None, help="the image (video) a reader regenerates (default: render it here)"),
    target: float = typer.Option(40.0, help="target PSNR in dB"),
    exact: bool = typer.Option(False, help="bit-exact pixels (overrides --target)"),
    codecs: Optional[str] = typer.Option(
        None, help="pixel codecs to try (default: avif,jxl,webp for an image, jxl,webp,png "
                   "lossless with --exact; for a video "
                   "ffv1,vp9,h264 with --exact, else av1,vp9,h264,ffv1)"),
    fps: Optional[str] = typer.Option(
        None, help="a video's frame rate (e.g. 16 or 24000/1001; default: the file's)"),
    crf: Optional[int] = typer.Option(None, help="a lossy video codec's crf"),
    effort: Optional[int] = typer.Option(
        None, help="an image's pixel codecs' speed/size setting, on each codec's own scale "
                   "(see `aigif codecs`; e.g. sth 0..3); a codec whose range does not hold "
                   "it is an error (default: each codec's own)"),
    force: bool = typer.Option(False, help="overwrite an existing output"),
) -> None:
    """Store an image (or a video) as syntax, syntax + residual or pixels: whichever is
    smallest at the target fidelity. Prints the decision and the PSNR reached."""
    def go() -> None:
        import json
        import math

        if (image is None) == (video is None):
            fail("give the original as --image or as --video (one of them)")
        check_output(output, force)
        meta = None
        if json_path is not None:
            try:
                meta = GenerationMeta.from_dict(json.loads(json_path.read_text("utf-8")))
            except json.JSONDecodeError as e:
                fail(f"{json_path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")
        if video is not None:
            if effort is not None:
                fail("--effort applies to an image's pixel codecs; a video's lossy codecs "
                     "take --crf")
            return _hybrid_video(meta, video, output, regenerated, target, exact, codecs,
                                 fps, crf, force)
        from ..codecs._pillow import open_image_file   # Pillow
        orig = open_image_file(str(image))
        regen = open_image_file(str(regenerated)) if regenerated is not None else None
        keys = tuple(k for k in (codecs or "avif,jxl,webp").split(",") if k)
        kw = {"codecs": keys, "effort": effort}
        if exact and codecs:    # --exact tries the codecs asked for, in lossless mode
            lossy = [k for k in keys if not get_codec(k).lossless]
            if lossy:
                fail(f"--exact needs lossless pixel codecs; {', '.join(lossy)} cannot code "
                     f"exact pixels (lossless image codecs: {', '.join(_lossless_image_codecs())})")
            kw["lossless_codecs"] = keys
        f, d = encode_hybrid(meta, orig, regen, math.inf if exact else target, **kw)
        n = write_output(output, dumps(f), force=force)
        console.print(d.report(), highlight=False)
        console.print(f"wrote {output} ({n} bytes, {d.mode})")
    run_guarded(go)


def _hybrid_video(meta, video: Path, output: Path, regenerated: Optional[Path],
                  target: float, exact: bool, codecs: Optional[str], fps: Optional[str],
                  crf: Optional[int], force: bool) -> None:
    """``aigif hybrid --video``: ``aigif.codecs.residual_video.encode_video_hybrid`` over the
    frames of ``video`` (and of ``regenerated``, else rendered here from the meta)."""
    from ..codecs.residual_video import EXACT, encode_video_hybrid   # numpy
    if meta is not None and meta.video is None:
        fail(f"--video needs the meta of a video generation; {meta.generator!r} makes images")
    orig, rate = read_video_file(video)
    if fps is not None:
        rate = fps
    elif rate is None:
        rate = meta.video.fps if meta is not None else None
    if rate is None:
        fail(f"{video} says no frame rate: give --fps")
    regen = None
    if regenerated is not None:
        regen, _ = read_video_file(regenerated)
    elif meta is not None:
        regen = _render.render_meta(meta).video.frames
    if regen is not None and regen.shape != orig.shape:
        raise CodecError(f"the regenerated frames are {list(regen.shape)}, the original "
                         f"{list(orig.shape)} ([T, H, W, 3]): they must be the same clip")
    default = ("ffv1", "vp9", "h264") if exact else ("av1", "vp9", "h264", "ffv1")
    keys = tuple(k for k in codecs.split(",") if k) if codecs else \
        tuple(k for k in default if k in available_video_codecs())
    f, d = encode_video_hybrid(meta, orig, regen, rate, target_psnr=EXACT if exact else
                               target, codecs=keys, crf=crf)
    n = write_output(output, dumps(f), force=force)
    console.print(d.report(), highlight=False)
    console.print(f"wrote {output} ({n} bytes, {d.mode}; {orig.shape[0]} frames "
                  f"{orig.shape[2]}x{orig.shape[1]})")


def codecs_cmd() -> None:
    """List the pixel codecs (image and video), their codes and whether they are installed."""
    def go() -> None:
        keys = list(codecs.keys())
        width = max(map(len, keys), default=0)
        for key in keys:
            c = get_codec(key)
            kind = getattr(c, "kind", "image")
            modes = "/".join(m for m, ok in (("lossy", c.lossy), ("lossless", c.lossless)) if ok)
            crf = getattr(c, "crf_range", None)
            eff = (f"crf {crf[0]}..{crf[1]}" if kind == "video" and crf else
                   f"effort {c.effort_range[0]}..{c.effort_range[1]}" if c.effort_range else "")
            state = "available" if c.available() else f"missing: pip install 'aigif[{c.extra}]'"
            what = ("features" if getattr(c, "feature_codec", False) else
                    "groups" if getattr(c, "partial", False) else "")
            console.print(f"{key:<{width}} code {c.code:<3} {kind:<5} {modes:<15} {eff:<13} "
                          f"{what:<8} {state}", highlight=False)
    run_guarded(go)


def register(app: typer.Typer) -> None:
    """Add ``decode``, ``hybrid`` and ``codecs`` to the ``aigif`` command."""
    app.command("decode")(decode)
    app.command("hybrid")(hybrid)
    app.command("codecs")(codecs_cmd)
