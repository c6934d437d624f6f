"""`lfr bench ...`: benchmarks that print JSON. Each lives in `lfr.bench.<name>`."""

import typer

from lfr.bench import actors, alerts, cameras, log, vision

__all__ = ["app"]

app = typer.Typer(help="Benchmarks; each prints one JSON object.", no_args_is_help=True)
app.command("log")(log.command)
app.command("actors")(actors.command)
app.command("vision")(vision.command)
app.command("cameras")(cameras.command)
app.command("alerts")(alerts.command)
