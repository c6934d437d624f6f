"""`lfr ops`: files to run lfr for real. `lfr ops mosquitto` writes the broker's password
file, its per-officer ACL and (optionally) a mosquitto.conf using them, from the site config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app", "mosquitto"]

app = typer.Typer(help="Operations: configs for production services.", no_args_is_help=True)


@app.command("mosquitto")
def mosquitto(
    site: Annotated[Path, typer.Option(help="the site config (TOML) naming zones and patrols")],
    out: Annotated[Path, typer.Option(help="folder for passwd, acl, credentials.json")] = Path(
        "mosquitto-lfr"
    ),
    patrol_zone: Annotated[
        list[str] | None,
        typer.Option(help="PATROL=ZONE: pin a patrol to one zone (repeatable); else any zone"),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="also write mosquitto.conf with this MQTT port")
    ] = None,
    ws_port: Annotated[int | None, typer.Option(help="and a WebSocket listener")] = None,
    bind: Annotated[
        str | None,
        typer.Option(help="listener address (default: all with TLS, else 127.0.0.1 only)"),
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="server certificate (PEM)")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="server key (PEM)")] = None,
    tls_ca: Annotated[Path | None, typer.Option(help="CA bundle (PEM)")] = None,
) -> None:
    """Write Mosquitto credentials and a per-patrol ACL for SITE."""
    from lfr.cli._common import err_console, fail
    from lfr.errors import ConfigError
    from lfr.site import load_site_config
    from lfr.transport.mosquitto import plan_users, write_files
    from lfr.transport.topics import InvalidTopicError

    try:
        config = load_site_config(site)
    except ConfigError as exc:
        fail(str(exc))
    patrols = [p.id for p in config.patrols]
    zones = {z.name for z in config.zones}
    pins: dict[str, str] = {}
    for item in patrol_zone or []:
        patrol, sep, zone = item.partition("=")
        if not sep or patrol not in patrols or zone not in zones:
            fail(
                f"--patrol-zone {item!r}: give PATROL=ZONE with a patrol of {patrols} "
                f"and a zone of {sorted(zones)}"
            )
        pins[patrol] = zone
    tls_parts = (tls_cert, tls_key, tls_ca)
    if any(tls_parts) and not all(tls_parts):
        fail("TLS needs all of --tls-cert, --tls-key and --tls-ca")
    tls = (tls_cert, tls_key, tls_ca) if all(tls_parts) else None
    try:
        users = plan_users(config.name, patrols, pins)
    except InvalidTopicError as exc:
        fail(str(exc))
    files = write_files(out, users, port=port, ws_port=ws_port, tls=tls, bind=bind)  # type: ignore[arg-type]
    for warning in files.warnings:
        err_console.print(f"warning: {warning}", markup=False)
    err_console.print(
        f"wrote {files.passwd}, {files.acl}"
        + (f", {files.conf}" if files.conf else "")
        + f" for {len(users)} users; hand out the passwords in {files.credentials} "
        "(mode 0600), then delete it"
    )
