"""`lfr schemas`: the contract's JSON Schema documents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app", "export"]

app = typer.Typer(
    help="JSON Schema documents of every event, the envelope and the views.", no_args_is_help=True
)


@app.command("export")
def export(
    out: Annotated[
        Path | None, typer.Option(help="directory to write into (default: schemas/json)")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="write nothing; exit 1 if the files differ")
    ] = False,
) -> None:
    """Write the JSON Schema of every event, the envelope and the views."""
    from lfr.cli._common import fail
    from schemas.export import JSON_DIR, render, stale_files

    target = out if out is not None else JSON_DIR
    files = render()
    differ = [
        name
        for name, text in files.items()
        if not (target / name).exists() or (target / name).read_text() != text
    ]
    stale = stale_files(target) if target.exists() else []
    if check:
        if differ or stale:
            fail(
                f"{target}: schema files out of date ({', '.join(differ + stale)}); "
                "run `lfr schemas export` and commit the result"
            )
        typer.echo(f"{len(files)} schema files in {target} are current")
        return
    for name in differ:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name])
    for name in stale:
        (target / name).unlink()
    typer.echo(
        f"{len(files)} schema files in {target}: {len(differ)} written, {len(stale)} removed"
    )
