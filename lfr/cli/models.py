"""`lfr models`: fetch, verify and locate the face model pack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app", "path", "pull", "verify"]

app = typer.Typer(help="Fetch, verify and locate the face model pack.", no_args_is_help=True)

ModelDir = Annotated[
    Path | None,
    typer.Option(
        "--model-dir", help="cache folder (default: LFR_MODEL_DIR or ~/.cache/lfr/models)"
    ),
]


def _model_dir(model_dir: Path | None) -> Path:
    from lfr.config import settings

    return model_dir or settings().model_dir


@app.command("pull")
def pull(
    model_dir: ModelDir = None,
    tarball: Annotated[
        Path | None,
        typer.Option(help="use this npm tarball instead of running `npm pack` (offline installs)"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="fetch again even if cached")] = False,
) -> None:
    """Fetch, verify (sha256) and cache the default pack; fast when already cached.

    Runs `npm pack faceplugin-face-recognition-js@0.0.1`, checks the tarball and every model
    against pinned hashes, derives the fast models (denormals flushed, symbolic batch),
    checks them against the originals, and renames the result into place atomically."""
    from lfr.cli._common import err_console, fail, plain
    from lfr.vision.errors import ModelError
    from lfr.vision.pack import pull_pack

    try:
        files = pull_pack(
            _model_dir(model_dir),
            tarball=tarball,
            force=force,
            progress=lambda msg: err_console.print(f"[dim]models:[/] {plain(msg)}"),
        )
    except ModelError as exc:
        fail(str(exc))
    typer.echo(str(files.root))


@app.command("verify")
def verify(model_dir: ModelDir = None) -> None:
    """Check every cached model file against its pinned sha256; exit 1 naming any bad file."""
    from lfr.cli._common import err_console, fail, plain
    from lfr.vision.errors import ModelError
    from lfr.vision.pack import verify_pack

    try:
        files = verify_pack(_model_dir(model_dir))
    except ModelError as exc:
        fail(str(exc))
    err_console.print(f"[green]ok[/] every file in {plain(files.root)} matches its sha256")


@app.command("path")
def path(model_dir: ModelDir = None) -> None:
    """Print the folder the pack is (or would be) cached in."""
    from lfr.vision.pack import pack_dir

    typer.echo(str(pack_dir(_model_dir(model_dir))))
