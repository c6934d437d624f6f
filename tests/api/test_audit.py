"""Audit over HTTP runs the CLI's code: a proof fetched from the API checks offline with
`lfr audit check-proof`, and verify and report say what `lfr audit verify` / `replay` say."""

import json

import orjson
import pytest
from typer.testing import CliRunner

from lfr.api.auth import Role
from lfr.cli import app as lfr_cli
from tests.api.test_alerts import setup
from tests.audit.site import tamper

runner = CliRunner()


def lfr(*args: str):
    return runner.invoke(lfr_cli, list(args))


async def _alert_raised(api):
    await setup(api)
    return next(e for e in await api.store.read_all() if e.type == "AlertRaised")


@pytest.mark.blocking_ok("the test body runs a CLI or reads files directly")
async def test_http_proof_passes_the_cli_check_and_a_tampered_one_fails(api, tmp_path):
    raised = await _alert_raised(api)
    aud = api.headers(Role.AUDITOR)
    # the event is newer than any checkpoint: the API signs one so the proof exists at once
    r = await api.client.get(f"/api/audit/proof/{raised.event_id}", headers=aud)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["envelope"]["event_id"] == str(raised.event_id)
    assert doc["envelope"]["seq"] == raised.seq

    key = tmp_path / "site.pub.pem"
    assert lfr("audit", "public-key", "-d", str(api.data_dir), "-o", str(key)).exit_code == 0
    proof = tmp_path / "proof.json"
    proof.write_bytes(r.content)
    res = lfr("audit", "check-proof", str(proof), "--public-key", str(key))
    assert res.exit_code == 0, res.output
    assert f"VALID: event {raised.event_id} (AlertRaised, seq {raised.seq}" in res.stdout

    # the same document as `lfr audit proof` writes for that event
    cli_proof = tmp_path / "cli-proof.json"
    res = lfr("audit", "proof", str(raised.event_id), "-d", str(api.data_dir), "-o", str(cli_proof))
    assert res.exit_code == 0, res.output
    assert orjson.loads(cli_proof.read_bytes()) == doc

    forged = json.loads(r.content)
    forged["envelope"]["payload"]["similarity"] = 0.99
    proof.write_text(json.dumps(forged))
    res = lfr("audit", "check-proof", str(proof), "--public-key", str(key))
    assert res.exit_code == 1 and "it was altered" in res.output

    other = tmp_path / "other.pub.pem"
    other_site = tmp_path / "other-site"
    other_site.mkdir()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lfr.store.sqlite import SqliteEventStore

    foreign = Ed25519PrivateKey.generate()  # another site's key, not this one's
    await (await SqliteEventStore.open(other_site / "events.sqlite", signing_key=foreign)).aclose()
    assert lfr("audit", "public-key", "-d", str(other_site), "-o", str(other)).exit_code == 0
    proof.write_bytes(r.content)
    res = lfr("audit", "check-proof", str(proof), "--public-key", str(other))
    assert res.exit_code == 1 and "not by the key given" in " ".join(res.output.split())


async def test_proof_of_unknown_or_malformed_event(api):
    await setup(api)
    aud = api.headers(Role.AUDITOR)
    r = await api.client.get("/api/audit/proof/00000000-0000-4000-8000-000000000000", headers=aud)
    assert r.status_code == 404 and "no event" in r.json()["detail"]
    assert (await api.client.get("/api/audit/proof/2", headers=aud)).status_code == 422


@pytest.mark.blocking_ok("the test body runs a CLI or reads files directly")
async def test_verify_is_the_cli_verify_and_names_a_tampered_row(api):
    await setup(api)
    await api.store.checkpoint()
    aud = api.headers(Role.AUDITOR)
    v = (await api.client.get("/api/audit/verify", headers=aud)).json()
    cli = lfr("audit", "verify", "-d", str(api.data_dir), "--json")
    assert cli.exit_code == 0, cli.output
    expected = json.loads(cli.stdout)
    expected.pop("path")
    assert v == expected
    assert v["ok"] and v["events"] == await api.store.last_seq()
    assert v["checkpoints_verified"] >= 1 and v["unsigned_tail"] == 0

    tamper(
        api.data_dir / "events.sqlite",
        "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'PACE', 'NONE') AS BLOB) "
        "WHERE seq = 1",
    )
    v = (await api.client.get("/api/audit/verify", headers=aud)).json()
    assert not v["ok"] and v["first_bad_seq"] == 1 and "altered" in v["problem"]


@pytest.mark.blocking_ok("the test body runs a CLI or reads files directly")
async def test_report_is_the_replayed_audit_view(api):
    await setup(api)
    rep = await api.client.get("/api/audit/report", headers=api.headers(Role.SUPERVISOR))
    assert rep.status_code == 200
    cli = lfr("audit", "replay", "-d", str(api.data_dir), "--json")
    assert cli.exit_code == 0, cli.output
    assert rep.json() == json.loads(cli.stdout)
    (dep,) = rep.json()["deployments"]
    assert dep["zone"] == "north-end" and dep["counts"]["alerts"] == 1
    before = await api.client.get(
        "/api/audit/report",
        params={"until": "2000-01-01T00:00:00Z"},
        headers=api.headers(Role.AUDITOR),
    )
    assert before.json()["deployments"] == [] and before.json()["as_of_seq"] == 0
    for bad in ("2.00001", "0000-00-00", "yesterday"):
        r = await api.client.get(
            "/api/audit/report", params={"until": bad}, headers=api.headers(Role.AUDITOR)
        )
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "until"]
