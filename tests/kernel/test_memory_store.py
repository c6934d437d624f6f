"""The in-memory store passes the same contract as SQLite (reopen keeps the log in-process)."""

from __future__ import annotations

from pathlib import Path

from lfr.store.memory import InMemoryEventStore
from tests.store.contract import EventStoreContract

_LOGS: dict[Path, InMemoryEventStore] = {}


class TestInMemoryContract(EventStoreContract):
    async def open_store(self, directory: Path) -> InMemoryEventStore:
        old = _LOGS.get(directory)
        store = InMemoryEventStore() if old is None else old.reopened()
        _LOGS[directory] = store
        return store
