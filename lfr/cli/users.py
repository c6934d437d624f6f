"""`lfr users`: issue signed access tokens for the embedded default (no OIDC issuer).

The token is an Ed25519-signed JWT naming the user, their role and (for officers) their
patrol and zone; the officer app's sign-in screen takes it. Keep it like a password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["add", "app", "verify"]

app = typer.Typer(help="Issue access tokens for people using the API.", no_args_is_help=True)

ROLES = ("officer", "supervisor", "watchlist_manager", "auditor", "engineer")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="who, e.g. 'PC 101 Khan'")],
    role: Annotated[str, typer.Option(help=f"one of: {', '.join(ROLES)}")],
    patrol: Annotated[str | None, typer.Option(help="officers: their patrol id")] = None,
    zone: Annotated[str | None, typer.Option(help="officers: their zone")] = None,
    ttl_hours: Annotated[float, typer.Option(help="validity (a shift is 12 h)")] = 12.0,
    data_dir: Annotated[
        Path | None, typer.Option(help="site data directory (default: LFR_DATA_DIR)")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Issue a token for NAME with ROLE, signed by the site's key (created on first use)."""
    import time

    from lfr.api.auth import Role, TokenIssuer, load_or_create_api_key
    from lfr.cli._common import err_console, fail, print_json
    from lfr.config import settings
    from lfr.errors import ConfigError

    if role not in ROLES:
        fail(f"--role {role!r} is not a role; use one of: {', '.join(ROLES)}")
    if not name.strip():
        fail("NAME is empty; give the person's name or collar number")
    if ttl_hours <= 0 or ttl_hours > 24 * 31:
        fail("--ttl-hours must be between 0 and 744 (31 days)")
    if role == "officer" and patrol is None:
        err_console.print(
            "note: no --patrol; the officer's patrol is then found from check-in by name"
        )
    folder = Path(data_dir or settings().data_dir)
    try:
        key = load_or_create_api_key(folder)
    except ConfigError as exc:
        fail(str(exc))
    ttl_s = int(ttl_hours * 3600)
    token = TokenIssuer(key).issue(name, Role(role), patrol_id=patrol, zone=zone, ttl_s=ttl_s)
    if json_out:
        print_json(
            {
                "name": name,
                "role": role,
                "patrol": patrol,
                "zone": zone,
                "expires_at": int(time.time()) + ttl_s,
                "token": token,
            }
        )
    else:
        typer.echo(token)
        err_console.print(f"token for {name} ({role}), valid {ttl_hours:g} h, key in {folder}")


@app.command("verify")
def verify(
    token: Annotated[str, typer.Argument(help="a token from `lfr users add`")],
    data_dir: Annotated[Path | None, typer.Option(help="site data directory")] = None,
) -> None:
    """Check a token against the site's key and print who it names."""
    from lfr.api.auth import AuthConfig, AuthError, TokenVerifier, load_or_create_api_key
    from lfr.cli._common import fail, print_json
    from lfr.config import settings
    from lfr.errors import ConfigError

    try:
        key = load_or_create_api_key(Path(data_dir or settings().data_dir), create=False)
        who = TokenVerifier(AuthConfig(), key.public_key()).verify(token.strip())
    except (AuthError, ConfigError) as exc:
        fail(str(exc))
    print_json(
        {"name": who.name, "role": who.role.value, "patrol": who.patrol_id, "zone": who.zone}
    )
