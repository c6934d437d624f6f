from __future__ import annotations

from pathlib import Path

from lfr.store import SqliteEventStore, open_store
from tests.store.contract import EventStoreContract


class TestSqliteContract(EventStoreContract):
    async def open_store(self, directory: Path) -> SqliteEventStore:
        return await open_store(directory)
