"""Helpers shared by the command modules: uniform errors, JSON output, the face models."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

import orjson
import typer
from rich.console import Console

if TYPE_CHECKING:
    from lfr.vision.pipeline import FacePipeline

err_console = Console(stderr=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print an error that says what to do next, then exit non-zero.

    The message is plain text, never markup: a name holding `[/]` or `[bold]` is printed as
    typed and cannot restyle the line or break it into a traceback. Any URL in it loses its
    credentials (`lfr.video.redact`)."""
    from rich.text import Text

    from lfr.video.redact import redact_urls

    err_console.print(Text.assemble(("error:", "bold red"), " ", redact_urls(message)))
    raise typer.Exit(code)


def plain(value: object) -> str:
    """`value` as text safe inside a Rich markup string: user text (a label, a zone title, a
    path, a reason) printed as typed, never read as markup."""
    from rich.markup import escape

    return escape(str(value))


def not_yet_built(what: str, issue: int) -> NoReturn:
    err_console.print(f"{what}: not yet built (issue #{issue}).")
    raise typer.Exit(0)


def print_json(obj: Any) -> None:
    """One JSON object on one line of stdout."""
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


def face_pipeline() -> FacePipeline:
    """The face pipeline `LFR_VISION_*` describes; a missing or wrong pack ends the command
    with what to do (`lfr models pull`, or the pack's settings)."""
    from lfr.vision.errors import ModelError
    from lfr.vision.pipeline import FacePipeline

    try:
        return FacePipeline.from_pack(FacePipeline.config_from_env())
    except ModelError as exc:
        fail(str(exc))
