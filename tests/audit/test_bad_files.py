"""Corrupt, foreign and too-new files: a clear error naming the file, nothing rewritten."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from lfr.cli import app
from lfr.projections import ProjectionError, ViewDb
from lfr.store import CorruptLogError, StoreError, open_store
from lfr.store.checkpoint import (
    KEY_ENV,
    KEY_FILE_ENV,
    CheckpointKeyError,
    create_signing_key_file,
)
from lfr.store.sqlite import LOG_FILE, SqliteLog
from lfr.store.verify import verify_log
from schemas import EVENT_TYPES, NewEvent
from schemas.registry import Event
from tests.audit.site import build_site, tamper

runner = CliRunner()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stderr(res) -> str:
    return " ".join(res.stderr.split())


async def test_random_bytes_are_refused_untouched(tmp_path: Path) -> None:
    log = tmp_path / LOG_FILE
    log.write_bytes(os.urandom(8192))
    before = digest(log)
    with pytest.raises(CorruptLogError, match="not a readable SQLite database") as info:
        await open_store(tmp_path)
    assert info.value.path == str(log)
    res = await anyio.to_thread.run_sync(
        lambda: runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path)])
    )
    assert res.exit_code == 2 and str(log) in stderr(res)
    assert digest(log) == before


async def test_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    log = tmp_path / LOG_FILE
    conn = sqlite3.connect(log)
    conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    conn.commit()
    conn.close()
    before = digest(log)
    with pytest.raises(CorruptLogError, match="not an lfr event log.*customers"):
        await open_store(tmp_path)
    res = await anyio.to_thread.run_sync(
        lambda: runner.invoke(app, ["audit", "export", "--data-dir", str(tmp_path)])
    )
    assert res.exit_code == 2 and "not an lfr event log" in stderr(res)
    assert digest(log) == before


def test_newer_log_format_is_refused(tmp_path: Path) -> None:
    path = build_site(tmp_path, n=30)
    tamper(path, "UPDATE lfr_meta SET value = '99' WHERE key = 'format_version'")
    with pytest.raises(CorruptLogError, match="newer than this lfr"):
        SqliteLog(path)


def test_missing_log_says_where_it_looked(tmp_path: Path) -> None:
    res = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "no event log here" in stderr(res)


async def test_store_refuses_a_key_that_did_not_sign_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await anyio.to_thread.run_sync(lambda: build_site(tmp_path, n=30))
    config = tmp_path.parent / f"{tmp_path.name}-config"
    other = await anyio.to_thread.run_sync(create_signing_key_file, config / "other.pem")
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv(KEY_FILE_ENV, str(config / "missing.pem"))
    with pytest.raises(CheckpointKeyError, match="cannot read the checkpoint signing key"):
        await open_store(tmp_path)
    assert not (config / "missing.pem").exists()
    monkeypatch.setenv(KEY_FILE_ENV, str(other))
    with pytest.raises(StoreError, match="did not sign"):
        await open_store(tmp_path)


async def test_store_refuses_no_key_and_a_key_inside_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(CheckpointKeyError, match=f"no checkpoint signing key.*{KEY_FILE_ENV}"):
        await open_store(tmp_path)
    inside = await anyio.to_thread.run_sync(
        create_signing_key_file, tmp_path / "keys" / "checkpoint_ed25519.pem"
    )
    monkeypatch.setenv(KEY_FILE_ENV, str(inside))
    with pytest.raises(CheckpointKeyError, match="inside the data directory"):
        await open_store(tmp_path)
    assert not (tmp_path / LOG_FILE).exists()
    # an older lfr's key left in the data directory: the error says to move it
    legacy = tmp_path / "checkpoint_ed25519.pem"
    await anyio.to_thread.run_sync(lambda: legacy.write_bytes(inside.read_bytes()))
    monkeypatch.delenv(KEY_FILE_ENV)
    with pytest.raises(CheckpointKeyError, match="left by an older lfr: move it outside"):
        await open_store(tmp_path)


@pytest.mark.blocking_ok("the test body reads the log, the views or the watchlist files directly")
async def test_unknown_type_and_future_version_are_named_by_position(tmp_path: Path) -> None:
    class _FromTheFuture(Event):
        SCHEMA_VERSION = 1
        note: str

    store = await open_store(tmp_path)
    try:
        await store.append("zone:a", [NewEvent(event=_FromTheFuture(note="x"))])
        [env] = await store.append("zone:a", [NewEvent(event=_FromTheFuture(note="y"))])
    finally:
        await store.aclose()
    path = tmp_path / LOG_FILE
    before = digest(path)
    try:
        _FromTheFuture.SCHEMA_VERSION = 0
        log = await anyio.to_thread.run_sync(lambda: SqliteLog(path, read_only=True))
        result = await anyio.to_thread.run_sync(lambda: verify_log(log))
        assert result.first_bad_seq == 1 and "newer than this lfr" in str(result.problem)
        EVENT_TYPES.pop("_FromTheFuture")
        result = await anyio.to_thread.run_sync(lambda: verify_log(log))
        assert result.first_bad_seq == 1 and "unknown event type" in str(result.problem)
        with pytest.raises(ProjectionError, match=f"{path} at seq 1: unknown event type"):
            ViewDb(source=str(path)).apply(log.read_records())
        log.close()
        res = await anyio.to_thread.run_sync(
            lambda: runner.invoke(app, ["audit", "replay", "--data-dir", str(tmp_path)])
        )  # verified first: not replayed
        assert res.exit_code == 1 and "at seq 1" in stderr(res) and "not replayed" in stderr(res)
        res = await anyio.to_thread.run_sync(
            lambda: runner.invoke(
                app, ["audit", "replay", "--data-dir", str(tmp_path), "--no-verify"]
            )
        )
        assert res.exit_code == 2 and "at seq 1" in stderr(res)
    finally:
        EVENT_TYPES.pop("_FromTheFuture", None)
    assert digest(path) == before
    assert env.seq == 2
