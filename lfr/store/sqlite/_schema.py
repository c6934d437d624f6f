"""The SQLite log file's layout and settings: tables, append-only triggers, format marks, and
the WAL and checkpoint sizes. Only `_log` writes these; readers check the format marks."""

from __future__ import annotations

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_CHECKPOINT_INTERVAL_S",
    "FORMAT",
    "FORMAT_VERSION",
    "KEY_FILE",
    "LOG_FILE",
    "SCHEMA",
    "WAL_FALLBACK_PAGES",
    "WAL_SIZE_LIMIT",
    "sql_str",
]

LOG_FILE = "events.sqlite"
KEY_FILE = "checkpoint_ed25519.pem"  # the key's usual name, never in the data directory
FORMAT = "lfr-event-log"
FORMAT_VERSION = 1
DEFAULT_CHECKPOINT_EVERY = 1000
DEFAULT_CHECKPOINT_INTERVAL_S = 10.0  # the oldest unsigned event waits at most this long
WAL_FALLBACK_PAGES = 16384  # 128 MiB of 8 KiB pages: SQLite checkpoints on commit past it
WAL_SIZE_LIMIT = 64 << 20  # bytes the WAL file is cut back to when it restarts

SCHEMA = """
CREATE TABLE lfr_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    body BLOB NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (stream, stream_version)
);
CREATE TABLE checkpoints (
    tree_size INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    last_hash TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    frontier TEXT NOT NULL  -- the Merkle frontier at tree_size (unsigned; speeds reopening)
);
CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'lfr events are append-only'); END;
CREATE TRIGGER events_append_only_d BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'lfr events are append-only'); END;
CREATE TRIGGER checkpoints_append_only_u BEFORE UPDATE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'lfr checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_append_only_d BEFORE DELETE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'lfr checkpoints are append-only'); END;
"""


def sql_str(value: str) -> str:
    """`value` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
