"""Opening a SQLite log file: connect, then refuse anything that is not an lfr log of a
version this lfr reads, before writing a byte (a foreign or damaged file stays untouched);
create the tables in an empty new file."""

from __future__ import annotations

import errno
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lfr.store import checkpoint as ckpt
from lfr.store.base import CorruptLogError, StoreError, StoreWriteError
from lfr.store.hashchain import GENESIS_HASH, MerkleFrontier, format_time
from lfr.store.sqlite._checkpoints import write_checkpoint
from lfr.store.sqlite._errors import SqliteErrors, store_error
from lfr.store.sqlite._schema import FORMAT, FORMAT_VERSION, LOG_FILE, SCHEMA, sql_str

__all__ = ["check_or_create", "connect", "read_meta"]


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection to the SQLite file at `path` (created unless `read_only`), checked to be
    a readable database.

    :raises CorruptLogError: not a SQLite database, or a damaged one.
    """
    try:
        if read_only:
            if not path.exists():
                raise StoreError(
                    f"{path}: no event log here; check --data-dir (it holds {LOG_FILE})"
                )
            uri = f"file:{path.resolve()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise store_error(exc, path, writing=not read_only) from exc
    except OSError as exc:  # its folder cannot be made
        raise StoreWriteError(path, None, 0, str(exc), exc.errno == errno.ENOSPC) from exc
    try:
        with SqliteErrors(conn, path):
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def read_meta(conn: sqlite3.Connection, path: Path, key: str) -> str:
    row = conn.execute("SELECT value FROM lfr_meta WHERE key=?", (key,)).fetchone()
    if row is None:
        raise CorruptLogError(path, f"metadata {key!r} missing")
    return str(row[0])


def check_or_create(
    conn: sqlite3.Connection, path: Path, *, read_only: bool, key: Ed25519PrivateKey | None
) -> None:
    """Check the file is an lfr log this lfr reads; in an empty file (not `read_only`) create
    one, recording `key`'s public half and signing its empty tree (so a log that names a key
    always holds a checkpoint: one without any had its checkpoints deleted).

    :raises CorruptLogError: another database, another format, or a newer version.
    """
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        if read_only:
            raise CorruptLogError(path, "empty database: no lfr event log in it")
        _create(conn, key)
        return
    if "lfr_meta" not in tables or "events" not in tables:
        raise CorruptLogError(
            path,
            f"a SQLite database but not an lfr event log (tables: {sorted(tables)}); "
            "check the path, nothing was changed",
        )
    fmt = read_meta(conn, path, "format")
    version = int(read_meta(conn, path, "format_version"))
    if fmt != FORMAT:
        raise CorruptLogError(path, f"format is {fmt!r}, not {FORMAT!r}")
    if version > FORMAT_VERSION:
        raise CorruptLogError(
            path,
            f"log format version {version} is newer than this lfr ({FORMAT_VERSION}); upgrade lfr",
        )


def _create(conn: sqlite3.Connection, key: Ed25519PrivateKey | None) -> None:
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "log_id": str(uuid.uuid4()),
        "created_at": format_time(datetime.now(UTC)),
        "public_key": "",
    }
    if key is not None:
        meta["public_key"] = ckpt.public_key_pem(key.public_key())
    rows = "".join(
        f"INSERT INTO lfr_meta VALUES ({sql_str(k)}, {sql_str(v)});" for k, v in meta.items()
    )
    conn.execute("PRAGMA page_size=8192")  # fewer splits per batch, small single commits
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + rows)
    if key is not None:
        write_checkpoint(conn, key, meta["log_id"], MerkleFrontier(), 0, GENESIS_HASH)
    conn.execute("COMMIT")
