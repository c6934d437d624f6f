"""`lfr bench ...`: benchmarks that print JSON. Each lives in `lfr.bench.<name>`."""

import base64
import os

import typer

from lfr.bench import actors, alerts, cameras, log, vision

__all__ = ["app"]

app = typer.Typer(help="Benchmarks; each prints one JSON object.", no_args_is_help=True)


@app.callback()
def _throwaway_keys() -> None:
    """Benchmarks write throwaway logs and vaults: without a site's keys in the environment
    they get a checkpoint signing key and a vault KEK made for this process alone."""
    from lfr.store.checkpoint import KEY_ENV, KEY_FILE_ENV
    from lfr.vault import KEK_ENV, KEK_FILE_ENV

    for inline, from_file in ((KEY_ENV, KEY_FILE_ENV), (KEK_ENV, KEK_FILE_ENV)):
        if not os.environ.get(inline) and not os.environ.get(from_file):
            os.environ[inline] = base64.b64encode(os.urandom(32)).decode()


app.command("log")(log.command)
app.command("actors")(actors.command)
app.command("vision")(vision.command)
app.command("cameras")(cameras.command)
app.command("alerts")(alerts.command)
