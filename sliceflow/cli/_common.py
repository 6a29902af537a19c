"""Shared pieces of the commands: the console, user-error exits, option aliases."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console(stderr=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

USER_ERROR = 2
INTERRUPTED = 130


def fail(message: str) -> NoReturn:
    """One clear line on stderr and exit code 2: for errors the user can fix."""
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True, markup=True)
    raise typer.Exit(USER_ERROR)
