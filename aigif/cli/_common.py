"""Shared CLI helpers: the console, one-line failures, guarded command bodies."""
from __future__ import annotations

import sys
from typing import Callable, NoReturn

import typer
from rich.console import Console

from .. import errors

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
