"""`lfr run --config site.toml`: run a site (zones, cameras, patrols) until stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="site TOML (see ops/site.example.toml)")
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(help="event log, vault and keys (default: the config's, or LFR_DATA_DIR)"),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="validate the config, print the site and exit")
    ] = False,
    for_seconds: Annotated[
        float | None, typer.Option(help="stop after this many seconds (smoke tests)")
    ] = None,
    telemetry: Annotated[
        str, typer.Option(help="console | otlp | none (spans and metrics)")
    ] = "none",
    otlp: Annotated[str | None, typer.Option(help="OTLP/HTTP collector URL")] = None,
) -> None:
    """Start every camera, zone and patrol actor of a site and supervise them.

    Cameras analyse only while their zone has an authorised deployment inside its window
    and a patrol on duty. Stop with Ctrl-C (SIGINT) or SIGTERM.
    """
    import importlib
    import logging

    import anyio

    from lfr.cli._common import err_console, fail
    from lfr.errors import ANY_LFR_ERROR
    from lfr.kernel import EscalationError
    from lfr.site import load_site_config

    try:
        site_config = load_site_config(config)
    except ANY_LFR_ERROR as exc:
        fail(str(exc))
    runner = importlib.import_module("actors.runner")  # the wiring lives in actors/
    if check:
        err_console.print(runner.describe(site_config))
        err_console.print(f"{config}: OK")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if telemetry != "none":
        from lfr.telemetry import TelemetryConfig, setup_telemetry

        try:
            setup_telemetry(TelemetryConfig(exporter=telemetry, otlp_url=otlp))  # type: ignore[arg-type]
        except ANY_LFR_ERROR as exc:
            fail(str(exc))

    def ready(text: str) -> None:
        err_console.print(text)
        err_console.print("[green]ready[/]: stop with Ctrl-C")

    async def main() -> None:
        await runner.run_site(
            site_config, data_dir=data_dir, for_seconds=for_seconds, on_ready=ready
        )

    try:
        anyio.run(main, backend="asyncio")
    except* EscalationError as group:
        fail(f"the site stopped: {group.exceptions[0]}")
    except* ANY_LFR_ERROR as group:
        fail(str(group.exceptions[0]))
