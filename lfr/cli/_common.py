"""Helpers shared by the command modules: uniform errors and JSON output."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console

err_console = Console(stderr=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print an error that says what to do next, then exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def not_yet_built(what: str, issue: int) -> NoReturn:
    err_console.print(f"{what}: not yet built (issue #{issue}).")
    raise typer.Exit(0)


def print_json(obj: Any) -> None:
    """One JSON object on one line of stdout."""
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()
