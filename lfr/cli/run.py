"""`lfr run --config site.toml`: run a site (zones, cameras, patrols) until stopped.

The site is built by `actors.site.open_site`, as `lfr serve --config` and `lfr demo` build
theirs: with an `[mqtt]` section its alert services (publisher, sink with its late-delivery
recorder, event relay) run beside the actors; without one alerts are only logged.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lfr.site import SiteConfig

__all__ = ["command", "describe", "run_site"]


def describe(config: SiteConfig) -> str:
    """The site in a few lines: zones and their cameras, patrols, and the parts in use."""
    lines = [f"site {config.name}: {len(config.zones)} zone(s), {len(config.patrols)} patrol(s)"]
    for zone in config.zones:
        cams = ", ".join(c.id for c in config.cameras_of(zone.name)) or "no cameras"
        lines.append(f"  zone:{zone.name} ({zone.title or zone.name}): {cams}")
    lines.append(f"  patrols: {', '.join(p.id for p in config.patrols) or 'none'}")
    lines.append(
        f"  store: {config.store.describe()}; recogniser: {config.vision.recogniser}; "
        f"decider: {config.vision.decider}; alerts: {'mqtt' if config.mqtt else 'log only'}"
    )
    return "\n".join(lines)


async def run_site(
    config: SiteConfig,
    *,
    data_dir: Path | None = None,
    for_seconds: float | None = None,
    on_ready: Callable[[str], None] | None = None,
    node: str | None = None,
) -> None:
    """Run the site until SIGINT/SIGTERM (or `for_seconds`).

    :raises ConfigError: a part cannot be built from the config.
    :raises EscalationError: the site failed beyond its restart budget.
    """
    import anyio

    from actors import site as composition

    overrides = composition.SiteOverrides(data_dir=data_dir, node=node)
    async with composition.open_site(config, overrides):
        # listening before saying ready: a SIGTERM right after still closes the site (and
        # signs the log's tail)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            if on_ready is not None:
                on_ready(describe(config))
            with anyio.move_on_after(for_seconds if for_seconds is not None else float("inf")):
                async for sig in signals:
                    print(f"lfr run: {signal.Signals(sig).name}, stopping", file=sys.stderr)
                    break


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
    node: Annotated[
        str | None,
        typer.Option(help="run only the actors [[nodes]] places on this node (others via NATS)"),
    ] = None,
) -> None:
    """Start every camera, zone and patrol actor of a site and supervise them.

    Cameras analyse only while their zone has an authorised deployment inside its window
    and a patrol on duty. Stop with Ctrl-C (SIGINT) or SIGTERM.
    """
    import anyio

    from lfr.cli._common import err_console, fail, plain
    from lfr.errors import ANY_LFR_ERROR
    from lfr.kernel import EscalationError
    from lfr.site import load_site_config

    try:
        site_config = load_site_config(config)
    except ANY_LFR_ERROR as exc:
        fail(str(exc))
    if node is not None:
        try:
            site_config.node(node)
        except ANY_LFR_ERROR as exc:
            fail(str(exc))
    if check:
        err_console.print(describe(site_config), markup=False)  # titles as typed
        err_console.print(f"{plain(config)}: OK")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if telemetry != "none":
        from lfr.telemetry import TelemetryConfig, setup_telemetry

        try:
            setup_telemetry(TelemetryConfig(exporter=telemetry, otlp_url=otlp))  # type: ignore[arg-type]
        except ANY_LFR_ERROR as exc:
            fail(str(exc))

    def ready(text: str) -> None:
        err_console.print(text, markup=False)
        err_console.print("[green]ready[/]: stop with Ctrl-C")

    async def main() -> None:
        await run_site(
            site_config, data_dir=data_dir, for_seconds=for_seconds, on_ready=ready, node=node
        )

    try:
        anyio.run(main, backend="asyncio")
    except* EscalationError as group:
        fail(f"the site stopped: {group.exceptions[0]}")
    except* ANY_LFR_ERROR as group:
        fail(str(group.exceptions[0]))
