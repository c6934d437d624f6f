"""Each engine's one translation of sqlite3 errors, provoked with the real driver: every
sqlite3 error leaves lfr as the most specific lfr error, chained to SQLite's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lfr.errors import UnavailableError
from lfr.store import (
    ConcurrencyError,
    CorruptLogError,
    StoreClosedError,
    StoreUnavailableError,
    StoreWriteError,
)
from lfr.store.sqlite import LOG_FILE, SqliteLog
from tests.store.contract import discarded


def _log(tmp_path: Path) -> SqliteLog:
    return SqliteLog(tmp_path / LOG_FILE)


def _caused_by_sqlite(exc: BaseException) -> bool:
    return isinstance(exc.__cause__, sqlite3.Error)


def test_a_constraint_failure_is_a_concurrency_error(tmp_path: Path) -> None:
    """SQLite refuses the insert as a constraint violation (here a trigger's RAISE(ABORT), what
    a taken (stream, version) also raises) although no event of the batch is stored: the
    writer gets a ConcurrencyError with the stream and versions, never an IntegrityError."""
    log = _log(tmp_path)
    try:
        log.append("zone:a", [discarded()])
        log._conn.execute(
            "CREATE TRIGGER taken BEFORE INSERT ON events WHEN NEW.stream = 'zone:a' "
            "BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed'); END"
        )
        with pytest.raises(ConcurrencyError) as info:
            log.append("zone:a", [discarded(2)], expected_version=1)
        err = info.value
        assert (err.stream, err.expected, err.actual) == ("zone:a", 1, 1)
        assert isinstance(err.__cause__, sqlite3.IntegrityError)
        assert not log._conn.in_transaction and log.last_seq() == 1  # rolled back whole
        log._conn.execute("DROP TRIGGER taken")
        assert log.append("zone:a", [discarded(3)])[0].seq == 2
    finally:
        log.close()


def test_a_full_disk_is_a_store_write_error(tmp_path: Path) -> None:
    """SQLite's page limit fails a write exactly as a full disk does (SQLITE_FULL)."""
    log = _log(tmp_path)
    try:
        pages = log._conn.execute("PRAGMA page_count").fetchone()[0]
        log._conn.execute(f"PRAGMA max_page_count={pages + 2}")
        with pytest.raises(StoreWriteError, match="free space") as info:
            for _ in range(50):
                log.append("zone:a", [discarded() for _ in range(50)])
        assert info.value.full and info.value.stream == "zone:a" and info.value.count == 50
        assert _caused_by_sqlite(info.value)
    finally:
        log.close()


def test_a_corrupted_file_is_a_corrupt_log_error(tmp_path: Path) -> None:
    """Pages of the events table overwritten on disk: a read reports a corrupt log (SQLite's
    'database disk image is malformed'), naming the file."""
    log = _log(tmp_path)
    for _ in range(20):
        log.append("zone:a", [discarded() for _ in range(100)])
    log.close()
    path = tmp_path / LOG_FILE
    data = bytearray(path.read_bytes())
    page = 8192
    for at in range(3 * page, len(data) - page, page):
        data[at : at + 64] = b"\xff" * 64  # every b-tree page header from the third on
    path.write_bytes(bytes(data))
    reader = SqliteLog(path, read_only=True)
    try:
        with pytest.raises(CorruptLogError, match="restore it from backup") as info:
            reader.read_all()
        assert str(path) in str(info.value) and _caused_by_sqlite(info.value)
    finally:
        reader.close()


def test_a_lock_held_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    """Another process holds the write lock: the append gives up after the busy timeout with
    an UnavailableError (retry later), and nothing is written."""
    log = _log(tmp_path)
    other = sqlite3.connect(tmp_path / LOG_FILE, isolation_level=None)
    try:
        log._conn.execute("PRAGMA busy_timeout=50")
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailableError, match="locked") as info:
            log.append("zone:a", [discarded()])
        assert isinstance(info.value, UnavailableError) and _caused_by_sqlite(info.value)
        other.execute("ROLLBACK")
        assert log.append("zone:a", [discarded()])[0].seq == 1
    finally:
        other.close()
        log.close()


def test_a_closed_log_is_a_store_closed_error(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.close()
    with pytest.raises(StoreClosedError):
        log.last_seq()
    with pytest.raises(StoreClosedError):
        next(log.iter_rows())


def test_a_log_it_cannot_open_or_place_is_a_store_write_error(tmp_path: Path) -> None:
    """The log's path is a folder (SQLITE_CANTOPEN), or its data directory a file (the OS
    refuses the folder): both say which path and what to check."""
    (tmp_path / LOG_FILE).mkdir()
    with pytest.raises(StoreWriteError, match="permissions") as cantopen:
        SqliteLog(tmp_path / LOG_FILE)
    assert _caused_by_sqlite(cantopen.value)
    (tmp_path / "data").write_text("not a directory")
    with pytest.raises(StoreWriteError) as notdir:
        SqliteLog(tmp_path / "data" / "sub" / LOG_FILE)
    assert isinstance(notdir.value.__cause__, OSError)


# --- the other sqlite3 users: the vault and the views database ------------------------------


def test_the_vaults_errors_are_vault_errors(tmp_path: Path) -> None:
    from lfr.vault import (
        BiometricVault,
        VaultCorruptError,
        VaultUnavailableError,
        VaultWriteError,
    )

    vault = BiometricVault(tmp_path / "vault")
    try:
        ref = vault.put_sync(b"crop", "alert_crop")
        pages = vault._conn.execute("PRAGMA page_count").fetchone()[0]
        vault._conn.execute(f"PRAGMA max_page_count={pages}")
        with pytest.raises(VaultWriteError, match="free space") as full:
            for _ in range(200):
                vault.put_sync(b"x" * 4096, "alert_crop")
        assert full.value.full and _caused_by_sqlite(full.value)
        vault._conn.execute("PRAGMA max_page_count=1073741823")

        other = sqlite3.connect(vault.db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        vault._conn.execute("PRAGMA busy_timeout=50")
        with pytest.raises(VaultUnavailableError) as busy:
            vault.shred_sync(ref)
        assert isinstance(busy.value, UnavailableError)
        other.execute("ROLLBACK")
        other.close()
        assert vault.get_sync(ref) == b"crop"
    finally:
        vault.close()

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "keys.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(VaultCorruptError) as corrupt:
        BiometricVault(broken)
    assert _caused_by_sqlite(corrupt.value)


def test_the_views_databases_errors_are_projection_errors(tmp_path: Path) -> None:
    from lfr.projections import ProjectionError, ViewDb

    bad = tmp_path / "views.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ProjectionError, match="delete it to rebuild") as corrupt:
        ViewDb(bad)
    assert _caused_by_sqlite(corrupt.value)

    views = ViewDb(tmp_path / "ok.sqlite")
    try:
        views._conn.close()
        with pytest.raises(ProjectionError) as closed:
            views.position()
        assert _caused_by_sqlite(closed.value)
    finally:
        views.close()
