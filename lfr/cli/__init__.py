"""The `lfr` command. Each command group lives in its own module beside this one.

Command modules must import heavy libraries (onnxruntime, lancedb, av, aiortc) inside their
functions, so `lfr --help` stays fast and a SQLite-only run never imports them.
"""

from __future__ import annotations

import typer

from lfr.cli import (
    audit,
    bench,
    demo,
    eval,
    models,
    ops,
    retention,
    run,
    schemas,
    serve,
    users,
    watch,
    watchlist,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="lfr",
    help="Open, accountable live facial recognition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(audit.app, name="audit")
app.add_typer(bench.app, name="bench")
app.add_typer(eval.app, name="eval")
app.add_typer(models.app, name="models")
app.add_typer(ops.app, name="ops")
app.add_typer(retention.app, name="retention")
app.add_typer(schemas.app, name="schemas")
app.add_typer(users.app, name="users")
app.add_typer(watchlist.app, name="watchlist")
app.command("demo")(demo.command)
app.command("run")(run.command)
app.command("serve")(serve.command)
app.command("watch")(watch.command)


def main() -> None:
    app()
