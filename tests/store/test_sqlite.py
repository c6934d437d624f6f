from __future__ import annotations

from pathlib import Path

from lfr.store import SqliteEventStore, open_store
from tests.store.contract import EventStoreContract


class TestSqliteContract(EventStoreContract):
    async def open_store(self, directory: Path) -> SqliteEventStore:
        return await open_store(directory)


async def test_verify_while_the_site_appends(tmp_path: Path) -> None:
    import anyio

    from lfr.store.sqlite import LOG_FILE, SqliteLog
    from lfr.store.verify import verify_log
    from tests.store.contract import discarded

    store = await open_store(tmp_path, checkpoint_every=50)
    results = []

    async def writer() -> None:
        for i in range(60):
            await store.append(f"camera:c{i % 3}", [discarded() for _ in range(7)])

    def audit() -> None:
        log = SqliteLog(tmp_path / LOG_FILE, read_only=True)
        try:
            for _ in range(5):
                results.append(verify_log(log))
        finally:
            log.close()

    try:
        await store.append("camera:c0", [discarded()])
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            await anyio.to_thread.run_sync(audit)
    finally:
        await store.aclose()
    assert results and all(r.ok for r in results), [r.problem for r in results if not r.ok]
    final = SqliteLog(tmp_path / LOG_FILE, read_only=True)
    try:
        last = verify_log(final)
    finally:
        final.close()
    assert last.ok and last.events == 421 and last.unsigned_tail == 0
