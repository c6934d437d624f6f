"""The tamper-evident event log: one interface, engines beside it (SQLite; NATS JetStream)."""

from lfr.store.base import (
    ConcurrencyError,
    CorruptLogError,
    EventStore,
    IdempotencyError,
    StoreClosedError,
    StoreError,
)

__all__ = [
    "ConcurrencyError",
    "CorruptLogError",
    "EventStore",
    "IdempotencyError",
    "StoreClosedError",
    "StoreError",
]
