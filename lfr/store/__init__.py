"""The tamper-evident event log: one interface, engines beside it (SQLite; NATS JetStream).

`await open_store(data_dir)` opens the site's embedded log (`<data_dir>/events.sqlite`);
`await open_configured_store(config)` opens whichever engine a site config names
(`lfr.store.config`; the NATS engine is imported only then).
"""

from lfr.store.base import (
    ConcurrencyError,
    CorruptLogError,
    EventStore,
    IdempotencyError,
    RecordStore,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    StoreWriteError,
)
from lfr.store.config import StoreConfig, StoreConfigAdapter, open_configured_store
from lfr.store.sqlite import SqliteEventStore, SqliteLog, open_store

__all__ = [
    "ConcurrencyError",
    "CorruptLogError",
    "EventStore",
    "IdempotencyError",
    "RecordStore",
    "SqliteEventStore",
    "SqliteLog",
    "StoreClosedError",
    "StoreConfig",
    "StoreConfigAdapter",
    "StoreError",
    "StoreUnavailableError",
    "StoreWriteError",
    "open_configured_store",
    "open_store",
]
