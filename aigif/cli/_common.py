"""Shared CLI helpers: the console, one-line failures, guarded command bodies."""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any, Callable, NoReturn, Union

import typer
from rich.console import Console

from .. import errors
from .._atomic import write_atomic

console = Console(soft_wrap=True, highlight=False, markup=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``aigif: error: message`` on stderr and exit with ``code``."""
    from rich.markup import escape
    err_console.print(f"[red]aigif: error:[/red] {escape(message)}", markup=True)
    raise typer.Exit(code)


def run_guarded(body: Callable[[], None]) -> None:
    """Run a command body; AigifError / OSError become one-line messages, exit 2."""
    try:
        body()
    except typer.Exit:
        raise
    except errors.AigifError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except OSError as e:
        fail(f"{getattr(e, 'filename', '') or ''}: {e.strerror or e}".lstrip(": "))


# --------------------------------------------------------------------------- outputs
# Every file the command writes goes through write_output (aigif._atomic.write_atomic):
# atomic, with the umask's mode, never through a symbolic link. Without --force an
# existing output (or a link at its path) is refused; --force replaces a file, or the
# link itself (its target is never written). ``within`` keeps batch outputs in OUT.
def check_output(path: Path, force: bool) -> None:
    """Fail early (before any work) when ``path`` may not be written without --force."""
    if force:
        return
    if os.path.islink(path):
        fail(f"{path} is a symbolic link; aigif never writes through one "
             f"(remove it, or --force replaces the link itself)")
    if os.path.lexists(path):
        fail(f"{path} exists (use --force to overwrite)")


def write_output(path: Union[str, os.PathLike], data: Union[bytes, Callable[[IO[bytes]], None]],
                 *, force: bool, within: Union[str, os.PathLike, None] = None) -> int:
    """Write one output atomically; AigifError (FileAccessError) when it may not."""
    return write_atomic(path, data, overwrite=force, replace_symlink=force, within=within)


def image_format(path: Path) -> str:
    """The Pillow format that ``path``'s extension names (as ``Image.save(path)`` picks
    it); fails for an unknown extension."""
    from PIL import Image
    ext = path.suffix.lower()
    if ext == ".jxl":
        try:
            import pillow_jxl  # noqa: F401
        except ImportError:
            fail(f"cannot write {path}: JPEG XL needs pillow-jxl-plugin (pip install 'aigif[jxl]')")
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        fail(f"cannot write {path}: unknown image extension {ext or '(none)'!r}")
    return fmt


def image_writer(image: Any, path: Path, **opts: Any) -> Callable[[IO[bytes]], None]:
    """A writer (for ``write_output``) that saves a Pillow image in ``path``'s format."""
    fmt = image_format(path)
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")

    def write(fh: IO[bytes]) -> None:
        image.save(fh, format=fmt, **opts)
    return write


def save_image(image: Any, path: Path, *, force: bool, within: Any = None, **opts: Any) -> None:
    """Write a Pillow image to ``path`` through ``write_output``."""
    writer = image_writer(image, path, **opts)
    try:
        write_output(path, writer, force=force, within=within)
    except (KeyError, ValueError, TypeError) as e:   # a bad option for that format
        fail(f"cannot write {path}: {e}")
