"""The API's audit routes on the NATS engine: verify, proof, report and export say what
`lfr audit ... --engine nats` says of the same stream, with the same public-key check."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from lfr.api.app import create_app
from lfr.api.auth import AuthConfig, Role, TokenIssuer, TokenVerifier, load_or_create_api_key
from lfr.cli import app as lfr_cli
from lfr.store.nats import NatsEventStore
from lfr.vault import BiometricVault
from tests.api.conftest import Env
from tests.api.site import LogSite
from tests.api.test_alerts import setup
from tests.audit.site import delete_nats_stream, nats_prefix

pytestmark = pytest.mark.nats

runner = CliRunner()


def lfr(*args: str):
    return runner.invoke(lfr_cli, list(args))


@pytest.fixture
async def nats_api(tmp_path: Path) -> AsyncIterator[tuple[Env, str]]:
    stream = f"LFRTEST_API_{uuid.uuid4().hex[:10]}"
    store = await NatsEventStore.open(stream_name=stream, prefix=nats_prefix(stream))
    vault = await BiometricVault.open(tmp_path)
    key = await anyio.to_thread.run_sync(load_or_create_api_key, tmp_path)
    config = AuthConfig()
    issuer = TokenIssuer(key, config)
    site = LogSite(store)
    app = await anyio.to_thread.run_sync(
        lambda: create_app(
            store=store,
            verifier=TokenVerifier(config, key.public_key()),
            data_dir=tmp_path,
            site=site,
            vault=vault,
        )
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://lfr.test") as client:
            yield Env(app, client, store, site, vault, issuer, tmp_path), stream  # type: ignore[arg-type]
    finally:
        vault.close()
        await store.aclose()
        await delete_nats_stream(stream)


@pytest.mark.blocking_ok("the test body runs the audit CLI")
async def test_audit_routes_on_nats_match_the_cli(nats_api: tuple[Env, str], tmp_path: Path):
    api, stream = nats_api
    where = ("--engine", "nats", "--stream", stream, "-d", str(api.data_dir))
    await setup(api)
    raised = next(e for e in await api.store.read_all() if e.type == "AlertRaised")
    aud = api.headers(Role.AUDITOR)

    # the event is newer than any checkpoint: the API signs one so the proof exists at once
    r = await api.client.get(f"/api/audit/proof/{raised.event_id}", headers=aud)
    assert r.status_code == 200, r.text
    key = tmp_path / "site.pub.pem"
    res = await anyio.to_thread.run_sync(lambda: lfr("audit", "public-key", *where, "-o", str(key)))
    assert res.exit_code == 0, res.output
    proof = tmp_path / "proof.json"
    proof.write_bytes(r.content)
    res = lfr("audit", "check-proof", str(proof), "--public-key", str(key))
    assert res.exit_code == 0 and f"seq {raised.seq}" in res.stdout, res.output
    cli_proof = tmp_path / "cli-proof.json"
    res = await anyio.to_thread.run_sync(
        lambda: lfr("audit", "proof", str(raised.event_id), *where, "-o", str(cli_proof))
    )
    assert res.exit_code == 0, res.output
    assert json.loads(cli_proof.read_bytes()) == r.json()

    v = (await api.client.get("/api/audit/verify", headers=aud)).json()
    cli = await anyio.to_thread.run_sync(lambda: lfr("audit", "verify", *where, "--json"))
    assert cli.exit_code == 0, cli.output
    expected = json.loads(cli.stdout)
    expected.pop("path")
    assert v == expected and v["ok"] and v["events"] == await api.store.last_seq()
    assert v["checkpoints_verified"] >= 2

    rep = await api.client.get("/api/audit/report", headers=api.headers(Role.SUPERVISOR))
    cli = await anyio.to_thread.run_sync(lambda: lfr("audit", "replay", *where, "--json"))
    assert cli.exit_code == 0, cli.output
    assert rep.status_code == 200 and rep.json() == json.loads(cli.stdout)
    (dep,) = rep.json()["deployments"]
    assert dep["counts"]["alerts"] == 1

    page = (await api.client.get("/api/audit/export?from_seq=2&limit=2", headers=aud)).json()
    assert [e["seq"] for e in page] == [2, 3]
