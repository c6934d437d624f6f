from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from lfr.cli import app
from lfr.store.hashchain import GENESIS_HASH, body_hash, canonical_body
from tests.audit.site import build_nats_site, build_site, delete_nats_stream, tamper

runner = CliRunner()


class _Result:
    def __init__(self, res) -> None:
        self.exit_code = res.exit_code
        self.stdout = res.stdout
        self.stderr = " ".join(res.stderr.split())  # rich wraps long lines
        self.output = res.output


def lfr(*args: str) -> _Result:
    return _Result(runner.invoke(app, list(args)))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("site")
    build_site(d)
    return d


@pytest.fixture
def site(pristine: Path, tmp_path: Path) -> Path:
    for f in pristine.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    return tmp_path


@dataclass(frozen=True)
class Log:
    """A site's log on one engine: `args` find it for `lfr audit`."""

    engine: str
    data_dir: Path
    args: tuple[str, ...]
    where: str


@pytest.fixture(scope="module", params=["sqlite", pytest.param("nats", marks=pytest.mark.nats)])
def pristine_log(request, tmp_path_factory) -> Iterator[Log]:
    """The same synthetic site log on each engine (read-only for the tests using it)."""
    d = tmp_path_factory.mktemp("site")
    if request.param == "sqlite":
        build_site(d)
        yield Log("sqlite", d, ("--data-dir", str(d)), str(d / "events.sqlite"))
        return
    stream = f"LFRTEST_AUDIT_{uuid.uuid4().hex[:10]}"
    asyncio.run(build_nats_site(stream))
    try:
        yield Log(
            "nats",
            d,
            ("--data-dir", str(d), "--engine", "nats", "--stream", stream),
            f"nats:{stream}",
        )
    finally:
        asyncio.run(delete_nats_stream(stream))


@pytest.fixture
def log(pristine_log: Log, tmp_path: Path) -> Log:
    if pristine_log.engine != "sqlite":
        return pristine_log
    for f in pristine_log.data_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    return Log("sqlite", tmp_path, ("--data-dir", str(tmp_path)), str(tmp_path / "events.sqlite"))


def export_lines(site: Path | Log, *extra: str) -> list[dict]:
    where = site.args if isinstance(site, Log) else ("--data-dir", str(site))
    res = lfr("audit", "export", *where, *extra)
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in res.stdout.splitlines()]


def test_intact_log_verifies(log: Log) -> None:
    res = lfr("audit", "verify", *log.args)
    assert res.exit_code == 0, res.output
    assert "OK" in res.stdout and "signed checkpoints verified" in res.stdout
    assert log.where in res.stdout
    res = lfr("audit", "verify", *log.args, "--json")
    out = json.loads(res.stdout)
    assert out["ok"] and out["events"] >= 2500 and out["checkpoints_verified"] >= 5
    assert out["unsigned_tail"] == 0


def test_export_is_the_hashed_chain(log: Log) -> None:
    site = log
    lines = export_lines(site)
    prev = GENESIS_HASH
    for i, rec in enumerate(lines, start=1):
        assert rec["seq"] == i and rec["prev_hash"] == prev
        assert body_hash(canonical_body(rec)) == rec["hash"]
        for key in ("stream", "type", "occurred_at", "payload", "event_id"):
            assert key in rec
        prev = rec["hash"]
    assert [r["seq"] for r in export_lines(site, "--from", "2400")][0] == 2400
    assert export_lines(site, "--until", "2000-01-01T00:00:00Z") == []


@pytest.mark.parametrize(
    ("attack", "seq", "problem"),
    [
        (
            "UPDATE events SET body = replace(body, '\"frames\":25', '\"frames\":2') "
            "WHERE seq = 700",
            700,
            "does not match its hash",
        ),
        ("UPDATE events SET stream = 'camera:xx' WHERE seq = 900", 900, "index columns"),
        ("DELETE FROM events WHERE seq = 1200", 1200, "seq 1200 is missing"),
        ("UPDATE events SET hash = 'ab' || substr(hash, 3) WHERE seq = 50", 50, "its hash"),
    ],
)
def test_altered_rows_are_named(site: Path, attack: str, seq: int, problem: str) -> None:
    log = site / "events.sqlite"
    tamper(log, attack)
    res = lfr("audit", "verify", "--data-dir", str(site))
    assert res.exit_code == 1
    assert f"at seq {seq}" in res.stderr and problem in res.stderr
    assert str(log) in res.stderr


def test_rehashed_row_breaks_the_next_link(site: Path) -> None:
    log = site / "events.sqlite"
    conn = sqlite3.connect(log)
    (body,) = conn.execute("SELECT body FROM events WHERE seq = 800").fetchone()
    conn.close()
    rec = orjson.loads(body)
    rec["payload"]["faces_seen"] = 0
    forged = canonical_body(rec)
    tamper(
        log,
        "UPDATE events SET body = ?, hash = ? WHERE seq = 800",
        params=(forged, hashlib.sha256(forged).hexdigest()),
    )
    res = lfr("audit", "verify", "--data-dir", str(site))
    assert res.exit_code == 1 and "at seq 801" in res.stderr and "chain is broken" in res.stderr


def test_rewritten_chain_fails_the_signed_checkpoint(site: Path) -> None:
    log = site / "events.sqlite"
    conn = sqlite3.connect(log)
    rows = conn.execute("SELECT seq, body FROM events WHERE seq >= 1100 ORDER BY seq").fetchall()
    prev = conn.execute("SELECT hash FROM events WHERE seq = 1099").fetchone()[0]
    conn.close()
    updates = []
    for seq, body in rows:
        rec = orjson.loads(body)
        rec["prev_hash"] = prev
        if seq == 1100:
            rec["payload"]["frames"] = 1
        new = canonical_body(rec)
        prev = hashlib.sha256(new).hexdigest()
        updates.append((new, prev, seq))
    conn = sqlite3.connect(log, isolation_level=None)
    conn.execute("DROP TRIGGER events_append_only_u")
    conn.executemany("UPDATE events SET body = ?, hash = ? WHERE seq = ?", updates)
    conn.close()
    conn = sqlite3.connect(log)
    sizes = [r[0] for r in conn.execute("SELECT tree_size FROM checkpoints ORDER BY 1")]
    conn.close()
    before = max(s for s in sizes if s < 1100)
    cover = min(s for s in sizes if s >= 1100)
    res = lfr("audit", "verify", "--data-dir", str(site))
    assert res.exit_code == 1
    assert f"at seq {before + 1}" in res.stderr and "another Merkle root" in res.stderr
    assert f"between seq {before + 1} and {cover} was altered" in res.stderr


def test_truncated_log_is_caught_by_its_checkpoint(site: Path) -> None:
    tamper(site / "events.sqlite", "DELETE FROM events WHERE seq > 2300")
    res = lfr("audit", "verify", "--data-dir", str(site))
    assert res.exit_code == 1 and "events were removed" in res.stderr


def test_pinned_foreign_key_fails_signatures(log: Log, tmp_path_factory) -> None:
    other = tmp_path_factory.mktemp("other")
    build_site(other, n=50, key=Ed25519PrivateKey.generate())
    key = other / "pub.pem"
    assert lfr("audit", "public-key", "-d", str(other), "-o", str(key)).exit_code == 0
    res = lfr("audit", "verify", *log.args, "--public-key", str(key))
    assert res.exit_code == 1 and "signature does not verify" in res.stderr


def test_inclusion_proof_checks_with_only_the_public_key(log: Log, tmp_path: Path) -> None:
    [alert] = [r for r in export_lines(log) if r["type"] == "AlertRaised"][:1]
    key = tmp_path / "site.pem"
    assert lfr("audit", "public-key", *log.args, "-o", str(key)).exit_code == 0
    proof = tmp_path / "proof.json"
    res = lfr("audit", "proof", alert["event_id"], *log.args, "-o", str(proof))
    assert res.exit_code == 0, res.output
    res = lfr("audit", "check-proof", str(proof), "--public-key", str(key))
    assert res.exit_code == 0 and "VALID" in res.stdout and alert["event_id"] in res.stdout

    doc = json.loads(proof.read_text())
    doc["envelope"]["payload"]["similarity"] = 0.99
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc))
    res = lfr("audit", "check-proof", str(forged), "--public-key", str(key))
    assert res.exit_code == 1 and "altered" in res.stderr

    doc = json.loads(proof.read_text())
    doc["path"][0] = "00" * 32
    forged.write_text(json.dumps(doc))
    res = lfr("audit", "check-proof", str(forged), "--public-key", str(key))
    assert res.exit_code == 1 and "Merkle path" in res.stderr

    res = lfr("audit", "proof", "01234567-0000-7000-8000-000000000000", *log.args)
    assert res.exit_code == 1 and "no event with id" in res.stderr


def test_replay_until_shows_the_view_as_it_stood(log: Log) -> None:
    lines = export_lines(log)
    full = json.loads(lfr("audit", "replay", *log.args, "--json").stdout)
    assert full["as_of_seq"] == len(lines)
    [dep] = full["deployments"]
    assert dep["counts"]["alerts"] == sum(r["type"] == "AlertRaised" for r in lines)
    cut = lines[1000]["recorded_at"]
    early = json.loads(lfr("audit", "replay", *log.args, "--until", cut, "--json").stdout)
    visible = [r for r in lines if r["recorded_at"] <= cut]
    assert early["as_of_seq"] == len(visible) < len(lines)
    assert early["deployments"][0]["counts"]["frames_discarded"] == sum(
        r["payload"]["frames"] for r in visible if r["type"] == "FrameDiscarded"
    )
    res = lfr("audit", "replay", *log.args)
    assert res.exit_code == 0 and "frames analysed" in res.stdout
    res = lfr("audit", "replay", *log.args, "--until", "yesterday")
    assert res.exit_code == 1 and "ISO 8601" in res.stderr


def test_audit_commands_have_help() -> None:
    for cmd in ("verify", "export", "proof", "check-proof", "replay", "public-key"):
        res = lfr("audit", cmd, "--help")
        assert res.exit_code == 0 and "Usage" in res.stdout
