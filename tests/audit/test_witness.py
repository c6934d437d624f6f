"""Checkpoints an outsider can hold the log to: every tamper that fools a log checked only
against itself — rewritten and re-signed with the stolen key, checkpoints deleted, the newest
events cut off or edited — fails `lfr audit verify --witness` (none passes)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import anyio
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from lfr.cli import app
from lfr.store import checkpoint as ckpt
from lfr.store.hashchain import canonical_body
from lfr.store.merkle import MerkleFrontier
from lfr.store.policy import LogConfig
from lfr.store.sqlite import LOG_FILE, open_store
from lfr.store.witness import FileWitness, WitnessRefusedError, read_witness_file
from lfr.testing.logs import synthetic_log
from tests.audit.site import tamper

runner = CliRunner()
N = 2500  # events in the log (synthetic_log's batches end there)
TAIL_AFTER = 2000  # a checkpoint is signed and witnessed at the first batch end past this


class _Result:
    def __init__(self, res) -> None:
        self.exit_code = res.exit_code
        self.stdout = res.stdout
        self.stderr = " ".join(res.stderr.split())
        self.output = res.output


def lfr(*args: str) -> _Result:
    return _Result(runner.invoke(app, list(args)))


def build(root: Path) -> int:
    """A site log of N events, checkpoints every 500 and at close, each published to the
    auditor's witness file outside the data directory."""
    config = LogConfig(
        witness=str(root / "auditor" / "site.witness"),
        checkpoint_every=500,
        checkpoint_interval_s=3600,
    )

    async def main() -> int:
        store = await open_store(root / "data", log=config)
        tail = 0
        try:
            for stream, events in synthetic_log(N, batch=250, match_every=60):
                if not tail and await store.last_seq() >= TAIL_AFTER:
                    await store.checkpoint()  # signed and witnessed: the tail starts here
                    tail = await store.last_seq()
                await store.append(stream, events)
            assert await store.last_seq() == N
        finally:
            await store.aclose()  # signs the tail and publishes it
        return tail

    return anyio.run(main)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("witnessed")
    (root / "tail").write_text(str(build(root)))
    return root


@pytest.fixture
def tail(pristine: Path) -> int:
    """The size of the checkpoint signed and witnessed before the log's last stretch (which
    was then signed only at close: the tail an attacker would go for)."""
    return int((pristine / "tail").read_text())


@pytest.fixture
def site(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path, dirs_exist_ok=True)
    return tmp_path


def verify(site: Path, *extra: str, witness: bool = True) -> _Result:
    args = ["audit", "verify", "--data-dir", str(site / "data"), *extra]
    if witness:
        args += ["--witness", str(site / "auditor" / "site.witness")]
    return lfr(*args)


def rows(log: Path, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(log)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def rechain(log: Path, from_seq: int, edit) -> None:
    """Edit the event at `from_seq` and recompute every hash after it (what someone with
    write access to the file can always do)."""
    (prev,) = rows(log, "SELECT hash FROM events WHERE seq = ?", from_seq - 1)[0]
    updates = []
    for seq, body in rows(
        log, "SELECT seq, body FROM events WHERE seq >= ? ORDER BY seq", from_seq
    ):
        rec = orjson.loads(body)
        rec["prev_hash"] = prev
        if seq == from_seq:
            edit(rec)
        new = canonical_body(rec)
        prev = hashlib.sha256(new).hexdigest()
        updates.append((new, prev, seq))
    conn = sqlite3.connect(log, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_u")
    conn.executemany("UPDATE events SET body = ?, hash = ? WHERE seq = ?", updates)
    conn.close()


def resign(log: Path, key: Ed25519PrivateKey) -> None:
    """Recompute every checkpoint over the (rewritten) hashes and sign it with `key`."""
    hashes = [h for (h,) in rows(log, "SELECT hash FROM events ORDER BY seq")]
    (log_id,) = rows(log, "SELECT value FROM lfr_meta WHERE key = 'log_id'")[0]
    updates = []
    for size, signed_at in rows(log, "SELECT tree_size, signed_at FROM checkpoints"):
        frontier = MerkleFrontier()
        for h in hashes[:size]:
            frontier.append(h)
        cp = ckpt.Checkpoint(
            log_id,
            size,
            frontier.root().hex(),
            hashes[size - 1] if size else "0" * 64,
            signed_at,
            ckpt.key_id(key.public_key()),
        ).signed(key)
        updates.append((cp.root, cp.last_hash, cp.signature, frontier.to_json(), size))
    conn = sqlite3.connect(log, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS checkpoints_append_only_u")
    conn.executemany(
        "UPDATE checkpoints SET root = ?, last_hash = ?, signature = ?, frontier = ? "
        "WHERE tree_size = ?",
        updates,
    )
    conn.close()


def frames_to_one(rec: dict) -> None:
    rec["payload"]["frames"] = 1 if rec["payload"].get("frames") != 1 else 2


# --- the witnessed log as built ----------------------------------------------------------------


def test_the_intact_log_verifies_against_its_witness(site: Path, tail: int) -> None:
    res = verify(site, "--json")
    out = json.loads(res.stdout)
    assert res.exit_code == 0, res.output
    assert out["ok"] and out["events"] == N and out["unsigned_tail"] == 0
    assert out["anchored_size"] == N and out["anchors_verified"] >= 2
    res = verify(site)
    assert res.exit_code == 0 and "held outside the log match it" in res.stdout
    held = read_witness_file(site / "auditor" / "site.witness")
    sizes = [e.checkpoint.tree_size for e in held.entries]
    assert tail in sizes and sizes[-1] == N and sizes == sorted(sizes)
    assert all(e.refused is None for e in held.entries)


# --- the tamper cases: each fools the plain verify, none passes the witness ---------------------


def test_rechained_and_resigned_with_the_stolen_key(site: Path, checkpoint_key: bytes) -> None:
    log = site / "data" / LOG_FILE
    stolen = Ed25519PrivateKey.from_private_bytes(checkpoint_key)
    rechain(log, 1100, frames_to_one)
    resign(log, stolen)
    pub = site / "site.pem"
    assert lfr("audit", "public-key", "-d", str(site / "data"), "-o", str(pub)).exit_code == 0
    fooled = verify(site, "--public-key", str(pub), witness=False)
    assert fooled.exit_code == 0, fooled.output  # the log alone cannot tell
    res = verify(site, "--public-key", str(pub))
    assert res.exit_code == 1 and "BROKEN" in res.stderr
    assert "another Merkle root" in res.stderr and "rewritten" in res.stderr


def test_every_checkpoint_row_deleted(site: Path) -> None:
    tamper(site / "data" / LOG_FILE, "DELETE FROM checkpoints")
    plain = verify(site, witness=False)
    assert plain.exit_code == 1 and "holds no signed checkpoint" in plain.stderr
    res = verify(site)
    assert res.exit_code == 1 and "BROKEN" in res.stderr


def test_checkpoint_rows_deleted_but_the_empty_tree(site: Path) -> None:
    tamper(site / "data" / LOG_FILE, "DELETE FROM checkpoints WHERE tree_size > 0")
    assert verify(site, witness=False).exit_code == 0
    res = verify(site)
    assert res.exit_code == 1 and "missing from the log" in res.stderr


def test_unsigned_tail_truncated(
    site: Path, tail: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kept = tmp_path_factory.mktemp("auditor") / "checkpoint.json"
    assert lfr("audit", "checkpoint", "-d", str(site / "data"), "-o", str(kept)).exit_code == 0
    log = site / "data" / LOG_FILE
    tamper(
        log,
        f"DELETE FROM events WHERE seq > {tail}",
        f"DELETE FROM checkpoints WHERE tree_size > {tail}",
    )
    assert verify(site, witness=False).exit_code == 0  # a shorter log, still signed
    res = verify(site)
    assert res.exit_code == 1 and "events were removed" in res.stderr
    assert f"ends at {tail} events" in res.stderr
    res = verify(site, "--trusted-checkpoint", str(kept), witness=False)
    assert res.exit_code == 1 and "events were removed" in res.stderr
    res = verify(site, "--min-tree-size", str(N), witness=False)
    assert res.exit_code == 1 and f"short of the {N}" in res.stderr


def test_edit_within_the_unsigned_tail(site: Path, tail: int) -> None:
    log = site / "data" / LOG_FILE
    rechain(log, tail + 300, frames_to_one)
    tamper(log, f"DELETE FROM checkpoints WHERE tree_size > {tail}")
    plain = verify(site, "--json", witness=False)
    assert plain.exit_code == 0 and json.loads(plain.stdout)["unsigned_tail"] == N - tail
    res = verify(site)
    assert res.exit_code == 1 and "BROKEN" in res.stderr
    assert f"at seq {tail + 1}" in res.stderr


def test_edit_within_the_tail_without_rechaining(site: Path) -> None:
    tamper(
        site / "data" / LOG_FILE,
        "UPDATE events SET body = replace(body, '\"frames\":', '\"frames\":1') "
        f"WHERE seq = {N - 3}",
    )
    for res in (verify(site, witness=False), verify(site)):
        assert res.exit_code == 1 and f"at seq {N - 3}" in res.stderr


def test_a_replaced_log_is_not_the_witnessed_one(site: Path) -> None:
    (site / "data" / LOG_FILE).unlink()
    anyio.run(_fresh_log, site / "data")
    assert verify(site, witness=False).exit_code == 0
    res = verify(site)
    assert res.exit_code == 1 and "never witnessed this log" in res.stderr


async def _fresh_log(data: Path) -> None:
    store = await open_store(data)
    try:
        for stream, events in synthetic_log(300, batch=100):
            await store.append(stream, events)
    finally:
        await store.aclose()


def test_an_altered_witness_file_is_caught(site: Path) -> None:
    path = site / "auditor" / "site.witness"
    lines = path.read_bytes().splitlines()
    doc = orjson.loads(lines[-1])
    doc["checkpoint"]["tree_size"] = 2000
    lines[-1] = orjson.dumps(doc)
    path.write_bytes(b"\n".join(lines) + b"\n")
    res = verify(site)
    assert res.exit_code == 1 and "countersignature does not verify" in res.stderr


def test_replay_verifies_first(site: Path, tail: int) -> None:
    res = lfr("audit", "replay", "-d", str(site / "data"), "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["as_of_seq"] == N
    assert "verified:" in res.stderr
    log = site / "data" / LOG_FILE
    rechain(log, tail + 10, frames_to_one)
    tamper(log, f"DELETE FROM checkpoints WHERE tree_size > {tail}")
    res = lfr(
        "audit",
        "replay",
        "-d",
        str(site / "data"),
        "--witness",
        str(site / "auditor" / "site.witness"),
    )
    assert res.exit_code == 1 and "BROKEN" in res.stderr and "not replayed" in res.stderr
    assert res.stdout == ""
    res = lfr("audit", "replay", "-d", str(site / "data"), "--no-verify")
    assert res.exit_code == 0 and "NOT VERIFIED" in res.stderr and "frames analysed" in res.stdout


# --- consistency between two checkpoints -------------------------------------------------------


def test_consistency_between_two_checkpoints(site: Path, tmp_path: Path) -> None:
    data = str(site / "data")
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    sizes = [t for (t,) in rows(site / "data" / LOG_FILE, "SELECT tree_size FROM checkpoints")]
    size = str(min(t for t in sizes if t >= 1000))
    assert (
        lfr("audit", "checkpoint", "-d", data, "--tree-size", size, "-o", str(old)).exit_code == 0
    )
    assert lfr("audit", "checkpoint", "-d", data, "-o", str(new)).exit_code == 0
    proof = tmp_path / "proof.json"
    res = lfr("audit", "consistency", str(old), str(new), "-d", data, "-o", str(proof))
    assert res.exit_code == 0 and "CONSISTENT" in res.stdout, res.output
    pub = tmp_path / "site.pem"
    assert lfr("audit", "public-key", "-d", data, "-o", str(pub)).exit_code == 0
    offline = lfr(
        "audit", "consistency", str(old), str(new), "--proof", str(proof), "--public-key", str(pub)
    )
    assert offline.exit_code == 0 and "CONSISTENT" in offline.stdout, offline.output
    doc = json.loads(proof.read_text())
    doc["proof"][0] = "00" * 32
    proof.write_text(json.dumps(doc))
    res = lfr(
        "audit", "consistency", str(old), str(new), "--proof", str(proof), "--public-key", str(pub)
    )
    assert res.exit_code == 1 and "INCONSISTENT" in res.stderr
    # the log rewritten after OLD was kept: it cannot prove NEW's... nor OLD's root any more
    rechain(site / "data" / LOG_FILE, 700, frames_to_one)
    res = lfr("audit", "consistency", str(old), str(new), "-d", data)
    assert res.exit_code == 1 and "INCONSISTENT" in res.stderr


# --- the witness's own checks ------------------------------------------------------------------


def _cp(key: Ed25519PrivateKey, size: int, root: str, log_id: str = "log-1") -> ckpt.Checkpoint:
    return ckpt.Checkpoint(
        log_id,
        size,
        root,
        "ab" * 32,
        "2026-01-01T00:00:00.000000+00:00",
        ckpt.key_id(key.public_key()),
    ).signed(key)


def test_the_witness_refuses_and_records_a_fork(tmp_path: Path) -> None:
    from lfr.store.merkle import consistency_proof, leaf_hash, merkle_root

    key = Ed25519PrivateKey.generate()
    pem = ckpt.public_key_pem(key.public_key())
    leaves = [leaf_hash(hashlib.sha256(bytes([i])).hexdigest()) for i in range(9)]
    w = FileWitness(tmp_path / "w" / "log.witness")
    w.submit(_cp(key, 5, merkle_root(leaves[:5]).hex()), pem, 0, [])
    good = _cp(key, 9, merkle_root(leaves).hex())
    w.submit(good, pem, 5, [h.hex() for h in consistency_proof(leaves, 5)])
    assert w.latest("log-1") == good
    # another key for the same log: refused, not recorded (it proves nothing)
    other = Ed25519PrivateKey.generate()
    with pytest.raises(WitnessRefusedError, match="another public key"):
        w.submit(_cp(other, 12, "00" * 32), ckpt.public_key_pem(other.public_key()), 9, [])
    # signed by the log's key but a fork: refused and recorded as evidence
    forked = list(leaves)
    forked[2] = leaf_hash("ff" * 32)
    bad = _cp(key, 12, merkle_root([*forked, *leaves[:3]]).hex())
    with pytest.raises(WitnessRefusedError, match="not consistent"):
        w.submit(bad, pem, 9, [h.hex() for h in consistency_proof([*forked, *leaves[:3]], 9)])
    with pytest.raises(WitnessRefusedError, match="smaller than"):
        w.submit(_cp(key, 7, merkle_root(leaves[:7]).hex()), pem, 9, [])
    held = read_witness_file(w.path)
    assert [e.refused is None for e in held.entries] == [True, True, False, False]
    assert len(held.of_log("log-1")) == 2 and len(held.refusals_of("log-1")) == 2
    assert w.latest("log-1") == good


async def test_a_witness_or_key_inside_the_data_dir_is_refused(tmp_path: Path) -> None:
    from lfr.store.witness import WitnessError

    with pytest.raises(WitnessError, match="inside the data directory"):
        await open_store(tmp_path, log=LogConfig(witness=str(tmp_path / "w" / "x.witness")))


def test_keygen_writes_a_key_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys" / "site.pem"
    res = lfr("audit", "keygen", str(path))
    assert res.exit_code == 0 and "BEGIN PUBLIC KEY" in res.stdout
    assert path.stat().st_mode & 0o777 == 0o600
    monkeypatch.delenv(ckpt.KEY_ENV)
    monkeypatch.setenv(ckpt.KEY_FILE_ENV, str(path))
    key = ckpt.load_signing_key(tmp_path / "data")
    assert ckpt.public_key_pem(key.public_key()) == res.stdout
    again = lfr("audit", "keygen", str(path))
    assert again.exit_code == 1 and "never overwritten" in again.stderr


def test_new_audit_commands_have_help() -> None:
    for cmd in (["checkpoint"], ["consistency"], ["keygen"], ["witness", "serve"]):
        res = lfr("audit", *cmd, "--help")
        assert res.exit_code == 0 and "Usage" in res.stdout
