from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from lfr.store import SqliteEventStore, open_store
from schemas.envelope import NewEvent
from tests.store.contract import EventStoreContract


class TestSqliteContract(EventStoreContract):
    async def open_store(self, directory: Path) -> SqliteEventStore:
        return await open_store(directory)


async def test_verify_while_the_site_appends(tmp_path: Path) -> None:
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
    final = await anyio.to_thread.run_sync(lambda: SqliteLog(tmp_path / LOG_FILE, read_only=True))
    try:
        last = await anyio.to_thread.run_sync(lambda: verify_log(final))
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

    def verify() -> tuple[Any, list[str]]:
        log = SqliteLog(tmp_path / LOG_FILE, read_only=True)
        try:
            return verify_log(log), [str(e.event_id) for e in log.read_all()]
        finally:
            log.close()

    result, stored = await anyio.to_thread.run_sync(verify)
    assert result.ok and result.events == len(accepted) + 40
    assert stored == [str(e.event_id) for e in accepted + retried]


def _odd_discarded(i: int) -> NewEvent:
    """Text that JSON and SQL must carry unchanged: quotes, backslashes, non-ASCII, controls."""
    from schemas.events import FrameDiscarded

    camera = f"ne-{i} \"q\" 'a' \\ é ✓ 𝄞 \x00\x01\n\t"
    return NewEvent(
        event=FrameDiscarded(camera=camera, zone="north-end", deployment_id="d-1", frames=1)
    )


def test_big_appends_are_stored_byte_for_byte(tmp_path: Path) -> None:
    """Appends of 500+ events go in multi-row statements on a worker thread: every row must
    hold the very body that was hashed, with the same column types as a single append."""
    import hashlib

    import orjson

    from lfr.store.sqlite import LOG_FILE, SqliteLog
    from lfr.store.verify import verify_log
    from tests.store.contract import discarded

    log = SqliteLog(tmp_path / LOG_FILE, checkpoint_every=300)
    try:
        appended = log.append("camera:ne-1", [discarded()])
        appended += log.append("camera:ne-1", [_odd_discarded(i) for i in range(1001)])
        appended += log.append("zone:north-end", [discarded(i + 1) for i in range(625)])
        appended += log.append("camera:ne-1", [_odd_discarded(i) for i in range(3)])
        assert [e.seq for e in appended] == list(range(1, 1631))
        assert [e.stream_version for e in appended[1:1002]] == list(range(2, 1003))
        rows = log._conn.execute(
            "SELECT seq, stream, stream_version, event_id, type, body, hash, typeof(seq), "
            "typeof(stream_version), typeof(event_id), typeof(type), typeof(body), "
            "typeof(hash) FROM events ORDER BY seq"
        ).fetchall()
        assert len(rows) == len(appended)
        for env, (seq, stream, version, eid, type_name, body, h, *types) in zip(
            appended, rows, strict=True
        ):
            assert (seq, stream, version, eid, type_name, h) == (
                env.seq,
                env.stream,
                env.stream_version,
                str(env.event_id),
                env.type,
                env.hash,
            )
            assert types == ["integer", "integer", "text", "text", "blob", "text"]
            assert hashlib.sha256(body).hexdigest() == h
            record = orjson.loads(body)
            assert orjson.dumps(record, option=orjson.OPT_SORT_KEYS) == body
            assert record["payload"] == env.payload
        assert [e.model_dump() for e in log.read_all()] == [e.model_dump() for e in appended]
        result = verify_log(log)
        assert result.ok and result.events == 1630, result.problem
    finally:
        log.close()


def test_a_big_append_with_events_already_stored_stores_only_the_new(tmp_path: Path) -> None:
    """A duplicate caught by the worker thread's insert takes the usual idempotent path."""
    from lfr.store.sqlite import LOG_FILE, SqliteLog
    from lfr.store.verify import verify_log
    from tests.store.contract import discarded

    log = SqliteLog(tmp_path / LOG_FILE)
    try:
        first = [discarded() for _ in range(600)]
        stored = log.append("camera:ne-1", first)
        fresh = [discarded() for _ in range(700)]
        mixed = fresh[:400] + first[300:] + fresh[400:]
        result = log.append("camera:ne-1", mixed)
        by_id = {e.event_id: e for e in result}
        assert len(result) == 1000
        assert [by_id[e.event_id].seq for e in first[300:]] == [e.seq for e in stored[300:]]
        assert sorted(by_id[e.event_id].seq for e in fresh) == list(range(601, 1301))
        assert log.last_seq() == 1300
        assert verify_log(log).ok
    finally:
        log.close()


def test_a_full_disk_during_a_big_append_refuses_it_whole(tmp_path: Path) -> None:
    import pytest

    from lfr.store import StoreWriteError
    from lfr.store.sqlite import LOG_FILE, SqliteLog
    from lfr.store.verify import verify_log
    from tests.store.contract import discarded

    log = SqliteLog(tmp_path / LOG_FILE)
    try:
        log.append("camera:ne-1", [discarded() for _ in range(10)])
        pages = log._conn.execute("PRAGMA page_count").fetchone()[0]
        log._conn.execute(f"PRAGMA max_page_count={pages + 40}")
        batch = [discarded() for _ in range(2000)]
        with pytest.raises(StoreWriteError) as err:
            log.append("camera:ne-1", batch)
        assert err.value.full and err.value.count == 2000
        assert log.last_seq() == 10
        log._conn.execute("PRAGMA max_page_count=1073741823")
        assert [e.seq for e in log.append("camera:ne-1", batch)] == list(range(11, 2011))
        assert verify_log(log).ok
    finally:
        log.close()


def _wal_restarts(wal: Path) -> int:
    """The WAL header's checkpoint sequence number: SQLite adds one each time the WAL
    starts from its beginning again (read from the file, so nothing is checkpointed)."""
    return int.from_bytes(wal.read_bytes()[12:16], "big")


def test_the_wal_is_copied_into_the_file_off_the_append_path(tmp_path: Path) -> None:
    """SQLite's checkpoint on commit is left as a bound only: a background thread copies
    the WAL into the database file, so the file grows while the appends go on, and the WAL
    restarts instead of growing with the log."""
    import time

    from lfr.store.sqlite import LOG_FILE, SqliteLog
    from lfr.store.verify import verify_log
    from tests.store.contract import discarded

    path = tmp_path / LOG_FILE
    wal = tmp_path / (LOG_FILE + "-wal")
    log = SqliteLog(path)
    try:
        empty = path.stat().st_size
        log.append("camera:ne-1", [discarded() for _ in range(1000)])
        restarts = _wal_restarts(wal)
        for _ in range(19):
            log.append("camera:ne-1", [discarded() for _ in range(1000)])
        appended = 20000
        # the writer slows down: the checkpointer catches up and the WAL starts over
        deadline = time.monotonic() + 10
        while (path.stat().st_size < 8 << 20 or _wal_restarts(wal) == restarts) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
            log.append("camera:ne-1", [discarded()])
            appended += 1
        assert log._wal is not None and log._wal.checkpoints > 0
        assert log._wal.last_error is None
        assert path.stat().st_size > max(empty, 8 << 20)  # ~12 MB of rows reached the file
        assert _wal_restarts(wal) > restarts  # the WAL restarted: it does not hold the log
    finally:
        log.close()
    assert not wal.exists()  # the last connection closed cleanly
    reopened = SqliteLog(path, read_only=True)
    try:
        assert reopened.last_seq() == appended
        assert verify_log(reopened).ok
    finally:
        reopened.close()
