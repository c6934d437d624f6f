"""`lfr audit`: placeholder until its issue lands."""

import typer

app = typer.Typer(help="lfr audit (not yet built).", no_args_is_help=True)


@app.command("status")
def status() -> None:
    """Say that this command group is not built yet."""
    from lfr.cli._common import not_yet_built

    not_yet_built("lfr audit", issue=2)
