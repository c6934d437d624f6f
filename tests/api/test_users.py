"""Tokens bound to their user, zone and patrol, and revocable at once.

`lfr users add` records the user and the token's id in the site's user store; the API (with
that store, as `lfr serve` builds it) refuses a token whose user was removed, whose id was
revoked or never issued here, or whose user's role changed, on the very next request. A token
naming a zone acts only in that zone."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from lfr.api.app import create_app
from lfr.api.auth import AuthConfig, Role, TokenIssuer, TokenVerifier, load_or_create_api_key
from lfr.api.users import UserStore
from lfr.cli import app as cli
from lfr.store.sqlite import SqliteEventStore
from tests.api.site import LogSite

runner = CliRunner()
pytestmark = pytest.mark.blocking_ok("the test body runs the synchronous `lfr users` CLI")


def _add(data: Path, name: str, role: str, *extra: str) -> dict[str, str]:
    out = runner.invoke(
        cli, ["users", "add", name, "--role", role, "--data-dir", str(data), "--json", *extra]
    )
    assert out.exit_code == 0, out.output
    issued: dict[str, str] = json.loads(out.stdout)
    return issued


@pytest.fixture
async def served(tmp_path: Path):
    """The API as `lfr serve` verifies tokens: the site's key and its user store."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite")
    key = await anyio.to_thread.run_sync(load_or_create_api_key, tmp_path)
    users = await anyio.to_thread.run_sync(UserStore.for_data_dir, tmp_path)
    site = LogSite(store)
    app = await anyio.to_thread.run_sync(
        lambda: create_app(
            store=store,
            verifier=TokenVerifier(AuthConfig(), key.public_key(), users=users),
            data_dir=tmp_path,
            site=site,
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lfr.test") as client:
        yield client, tmp_path, key
    users.close()
    await store.aclose()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_removing_a_user_or_revoking_a_token_takes_effect_at_once(served) -> None:
    client, data, _ = served
    first = _add(data, "Supt 9", "supervisor")
    second = _add(data, "Supt 9", "supervisor")
    assert first["jti"] != second["jti"]
    assert (await client.get("/api/zones", headers=_bearer(first["token"]))).status_code == 200

    out = runner.invoke(cli, ["users", "revoke", first["jti"], "--data-dir", str(data)])
    assert out.exit_code == 0, out.output
    refused = await client.get("/api/zones", headers=_bearer(first["token"]))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert (await client.get("/api/zones", headers=_bearer(second["token"]))).status_code == 200

    out = runner.invoke(cli, ["users", "remove", "Supt 9", "--data-dir", str(data)])
    assert out.exit_code == 0 and "1 token(s) revoked" in out.output, out.output
    refused = await client.get("/api/zones", headers=_bearer(second["token"]))
    assert refused.status_code == 401 and "removed" in refused.json()["detail"]

    listed = runner.invoke(cli, ["users", "list", "--json", "--data-dir", str(data)])
    (user,) = json.loads(listed.stdout)
    assert user["name"] == "Supt 9" and user["removed_at"] and user["active_tokens"] == 0


async def test_a_token_this_site_never_recorded_or_with_another_role_is_refused(served) -> None:
    client, data, key = served
    # signed with the site's own key, but not issued through the user store
    forged = TokenIssuer(key).issue("Supt 9", Role.SUPERVISOR)
    refused = await client.get("/api/zones", headers=_bearer(forged))
    assert refused.status_code == 401 and "not issued" in refused.json()["detail"]
    # a user demoted after their token was issued loses what the old role allowed
    old = _add(data, "Sam", "supervisor")
    _add(data, "Sam", "auditor")
    refused = await client.get("/api/zones", headers=_bearer(old["token"]))
    assert refused.status_code == 401 and "now 'auditor'" in refused.json()["detail"]


async def test_an_officer_checks_in_only_in_the_zone_their_token_names(served) -> None:
    client, data, _ = served
    officer = _add(data, "PC 101", "officer", "--patrol", "p-7", "--zone", "north-end")
    body = {"zone": "london-road", "officers": ["PC 101"]}
    refused = await client.post(
        "/api/patrols/p-7/check-in", json=body, headers=_bearer(officer["token"])
    )
    assert refused.status_code == 403 and "north-end" in refused.json()["detail"]
    body["zone"] = "north-end"
    accepted = await client.post(
        "/api/patrols/p-7/check-in", json=body, headers=_bearer(officer["token"])
    )
    assert accepted.status_code == 204, accepted.text


def test_tokens_last_one_shift_at_most_a_day(tmp_path: Path) -> None:
    out = runner.invoke(
        cli,
        ["users", "add", "x", "--role", "auditor", "--ttl-hours", "744"]
        + ["--data-dir", str(tmp_path)],
    )
    assert out.exit_code == 1 and "at most 24" in out.output
    issued = _add(tmp_path, "y", "auditor")
    assert 11 * 3600 < int(issued["expires_at"]) - _now() <= 12 * 3600


def _now() -> int:
    import time

    return int(time.time())
