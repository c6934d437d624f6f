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


async def test_a_full_disk_refuses_the_batch_whole_and_keeps_every_accepted_event(
    tmp_path: Path,
) -> None:
    """SQLite's page limit fails a write exactly as a full disk does (SQLITE_FULL)."""
    import pytest

    from lfr.store import StoreWriteError
    from lfr.store.sqlite import LOG_FILE, SqliteLog
    from lfr.store.verify import verify_log
    from tests.store.contract import discarded

    store = await open_store(tmp_path, checkpoint_every=1000)
    writer = store._writer._conn
    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count={pages + 12}")
    accepted = []
    with pytest.raises(StoreWriteError, match="free space") as err:
        for _ in range(100):
            accepted += await store.append("camera:ne-1", [discarded() for _ in range(40)])
    assert err.value.full and err.value.count == 40 and accepted
    assert await store.last_seq() == len(accepted)  # the refused batch left no row behind

    refused = [discarded() for _ in range(40)]
    with pytest.raises(StoreWriteError):
        await store.append("camera:ne-1", refused)
    writer.execute("PRAGMA max_page_count=1073741823")  # space freed
    retried = await store.append("camera:ne-1", refused)
    again = await store.append("camera:ne-1", refused)  # the retry was durable, not duplicated
    assert [e.seq for e in retried] == [e.seq for e in again]
    assert retried[0].seq == len(accepted) + 1
    await store.aclose()

    log = SqliteLog(tmp_path / LOG_FILE, read_only=True)
    try:
        result = verify_log(log)
        stored = [str(e.event_id) for e in log.read_all()]
    finally:
        log.close()
    assert result.ok and result.events == len(accepted) + 40
    assert stored == [str(e.event_id) for e in accepted + retried]
