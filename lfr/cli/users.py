"""`lfr users`: the site's users, and signed access tokens for the embedded default.

The token is an Ed25519-signed JWT naming the user, their role and (for officers) their
patrol and zone, and an id (`jti`); the officer app's sign-in screen takes it. Keep it like a
password. `lfr serve` accepts it only while its user is on the site (`lfr users remove`) and
the token is not revoked (`lfr users revoke`): both take effect at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lfr.api.users import UserStore

__all__ = ["add", "app", "list_users", "remove", "revoke", "verify"]

app = typer.Typer(help="Issue access tokens for people using the API.", no_args_is_help=True)

ROLES = ("officer", "supervisor", "watchlist_manager", "auditor", "engineer")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="who, e.g. 'PC 101 Khan'")],
    role: Annotated[str, typer.Option(help=f"one of: {', '.join(ROLES)}")],
    patrol: Annotated[str | None, typer.Option(help="officers: their patrol id")] = None,
    zone: Annotated[str | None, typer.Option(help="officers: their zone")] = None,
    ttl_hours: Annotated[
        float, typer.Option(help="validity: one shift (12 h) by default, at most 24 h")
    ] = 12.0,
    data_dir: Annotated[
        Path | None, typer.Option(help="site data directory (default: LFR_DATA_DIR)")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Add NAME to the site with ROLE (or update them) and issue a token, signed by the
    site's key (created on first use)."""
    import time
    import uuid
    from datetime import UTC, datetime

    from rich.markup import escape

    from lfr.api.auth import Role, TokenIssuer, load_or_create_api_key
    from lfr.api.users import UserStore
    from lfr.cli._common import err_console, fail, print_json
    from lfr.config import settings
    from lfr.errors import ConfigError

    if role not in ROLES:
        fail(f"--role {role!r} is not a role; use one of: {', '.join(ROLES)}")
    if not name.strip():
        fail("NAME is empty; give the person's name or collar number")
    if ttl_hours <= 0 or ttl_hours > 24:
        fail("--ttl-hours must be more than 0 and at most 24 (a shift is 12)")
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
    jti = uuid.uuid4().hex
    users = UserStore.for_data_dir(folder)
    try:
        users.add(name, role, patrol=patrol, zone=zone)
        users.record_token(jti, name, datetime.fromtimestamp(time.time() + ttl_s, UTC))
    finally:
        users.close()
    token = TokenIssuer(key).issue(
        name, Role(role), patrol_id=patrol, zone=zone, ttl_s=ttl_s, jti=jti
    )
    if json_out:
        print_json(
            {
                "name": name,
                "role": role,
                "patrol": patrol,
                "zone": zone,
                "expires_at": int(time.time()) + ttl_s,
                "jti": jti,
                "token": token,
            }
        )
    else:
        typer.echo(token)
        err_console.print(
            f"token {jti} for {escape(name)} ({role}), valid {ttl_hours:g} h, "
            f"key in {escape(str(folder))}"
        )


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
        folder = Path(data_dir or settings().data_dir)
        key = load_or_create_api_key(folder, create=False)
        users = _store(folder)
        try:
            who = TokenVerifier(AuthConfig(), key.public_key(), users=users).verify(token.strip())
        finally:
            users.close()
    except (AuthError, ConfigError) as exc:
        fail(str(exc))
    print_json(
        {"name": who.name, "role": who.role.value, "patrol": who.patrol_id, "zone": who.zone}
    )


DataDir = Annotated[Path | None, typer.Option(help="site data directory (default: LFR_DATA_DIR)")]


def _store(data_dir: Path | None) -> UserStore:
    from lfr.api.users import UserStore
    from lfr.config import settings

    return UserStore.for_data_dir(Path(data_dir or settings().data_dir))


@app.command("list")
def list_users(
    data_dir: DataDir = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Every user of the site: role, patrol, zone, live tokens, and whether removed."""
    from dataclasses import asdict

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from lfr.cli._common import print_json

    store = _store(data_dir)
    try:
        users = store.users()
    finally:
        store.close()
    if json_out:
        print_json([asdict(u) for u in users])
        return
    table = Table("name", "role", "patrol", "zone", "live tokens", "removed")
    for u in users:
        table.add_row(
            escape(u.name),
            u.role,
            escape(u.patrol or ""),
            escape(u.zone or ""),
            str(u.active_tokens),
            u.removed_at or "",
        )
    Console().print(table)


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="the user, as added")],
    data_dir: DataDir = None,
) -> None:
    """Remove NAME from the site: every token of theirs stops working at once."""
    from rich.markup import escape

    from lfr.cli._common import err_console, fail

    store = _store(data_dir)
    try:
        revoked = store.remove(name)
    except KeyError:
        fail(f"no user {name!r} on this site (see `lfr users list`)")
    finally:
        store.close()
    err_console.print(f"removed {escape(name)}; {revoked} token(s) revoked")


@app.command("revoke")
def revoke(
    jti: Annotated[str, typer.Argument(help="the token's id (`jti`, printed by `users add`)")],
    data_dir: DataDir = None,
) -> None:
    """Revoke one token at once (its user keeps their other tokens)."""
    from lfr.cli._common import err_console, fail, plain

    store = _store(data_dir)
    try:
        if not store.revoke(jti):
            fail(f"no live token {jti!r} on this site (unknown or already revoked)")
    finally:
        store.close()
    err_console.print(f"token {plain(jti)} revoked")
