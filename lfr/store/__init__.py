"""The tamper-evident event log: one interface, engines beside it (SQLite; NATS JetStream).

`await open_store(data_dir)` opens the site's embedded log (`<data_dir>/events.sqlite`).
"""

from lfr.store.base import (
    ConcurrencyError,
    CorruptLogError,
    EventStore,
    IdempotencyError,
    StoreClosedError,
    StoreError,
)
from lfr.store.sqlite import SqliteEventStore, SqliteLog, open_store

__all__ = [
    "ConcurrencyError",
    "CorruptLogError",
    "EventStore",
    "IdempotencyError",
    "SqliteEventStore",
    "SqliteLog",
    "StoreClosedError",
    "StoreError",
    "open_store",
]
