"""A JetStream writer opens in bounded memory: it resumes from the newest signed checkpoint
(its frontier gives the tail) instead of reading the log from its first event, keeps a
bounded window of event ids, and reads an old stream's version back from its subject."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest

from lfr.store.nats import NatsAuditSource, NatsEventStore
from lfr.store.nats import _store as nats_store
from lfr.store.verify import verify_log
from tests.store.contract import discarded

pytestmark = [pytest.mark.nats, pytest.mark.blocking_ok("verifies the log it wrote")]


@pytest.fixture
async def names() -> AsyncIterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:10]
    stream, prefix = f"LFRTEST_RESUME_{tag}", f"lfrtest.resume{tag}"
    yield stream, prefix
    store = await NatsEventStore.open(stream_name=stream, prefix=prefix)
    await store.delete_stream()
    await store.aclose()


async def _open(names: tuple[str, str]) -> NatsEventStore:
    return await NatsEventStore.open(
        stream_name=names[0], prefix=names[1], checkpoint_every=500, poll_s=0.05
    )


async def test_a_writer_resumes_from_its_newest_checkpoint(
    names: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nats_store, "ID_WINDOW", 300)
    first = await _open(names)
    early = discarded()
    await first.append("camera:early", [early])  # a stream written once, long ago
    recent = [discarded() for _ in range(50)]
    for i in range(120):
        await first.append(f"camera:c{i % 4}", [discarded() for _ in range(50)])
    await first.append("camera:c0", recent)
    tail = await first.read_all(from_seq=await first.last_seq())
    await first.aclose()  # signs the tail: 6,051 events

    tracemalloc.start()
    second = await _open(names)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    try:
        assert second._resumed_at == 6051  # from the checkpoint signed on close
        assert len(second._ids) <= 300  # the window, not the log
        assert peak < 4_000_000, peak  # a few pages, not 6,051 records
        # the chain continues where it was; an old stream's version is read back
        assert await second.stream_version("camera:early") == 1
        [env] = await second.append("camera:early", [discarded()], expected_version=1)
        assert env.seq == 6052 and env.prev_hash == tail[-1].hash and env.stream_version == 2
        # a retry of a recent batch is recognised; an old event is still found
        again = await second.append("camera:c0", recent)
        assert [e.seq for e in again] == list(range(6002, 6052))
        found = await second.find_event(early.event_id)
        assert found is not None and found.seq == 1
    finally:
        await second.aclose()

    source = await anyio.to_thread.run_sync(
        lambda: NatsAuditSource.connect("nats://127.0.0.1:4222", names[0])
    )
    try:
        result = await anyio.to_thread.run_sync(lambda: verify_log(source))
    finally:
        await anyio.to_thread.run_sync(source.close)
    assert result.ok and result.events == 6052, result.problem


async def test_a_forged_checkpoint_is_not_resumed_from(names: tuple[str, str]) -> None:
    """A newest checkpoint not signed by the log's key is ignored: the writer reads the log
    from its first event and checks every link, as without checkpoints."""
    import orjson

    first = await _open(names)
    for _ in range(4):
        await first.append("camera:a", [discarded() for _ in range(10)])
    await first.aclose()
    forged = {
        "log_id": first.log_id,
        "tree_size": 40,
        "root": "00" * 32,
        "last_hash": "11" * 32,
        "signed_at": "2026-12-04T00:00:00.000000Z",
        "key_id": "0" * 16,
        "signature": "22" * 64,
        "frontier": '{"size": 40, "nodes": []}',
    }
    second = await _open(names)
    await second._js.publish(
        second.reader.checkpoint_subject, orjson.dumps(forged), stream=names[0]
    )
    await second.aclose()
    third = await _open(names)
    try:
        assert third._resumed_at != 40 or third._tail != "11" * 32
        [env] = await third.append("camera:a", [discarded()], expected_version=40)
        assert env.seq == 41 and env.prev_hash != "11" * 32
    finally:
        await third.aclose()


async def test_a_writer_whose_first_look_missed_the_identity_reads_it_again(
    names: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers opening an empty stream at once: the second read the identity before the
    first published it, and the stream's length after. It must take the log's identity, not
    call the log one written before identities (whose checkpoints then fail verify)."""
    from lfr.store.nats import NatsLogReader

    first = await _open(names)
    real = NatsLogReader.meta
    looks: list[bool] = []

    async def stale_first_look(self: NatsLogReader) -> dict[str, object] | None:
        looks.append(True)
        return None if len(looks) == 1 else await real(self)

    monkeypatch.setattr(NatsLogReader, "meta", stale_first_look)
    second = await _open(names)
    try:
        assert len(looks) >= 2
        assert second.log_id == first.log_id and second.public_key_pem()
        await second.append("camera:a", [discarded()])
    finally:
        await second.aclose()
        await first.aclose()


async def test_a_stream_version_forgotten_by_the_writer_is_read_back(
    names: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nats_store, "VERSION_CACHE", 3)
    store = await _open(names)
    try:
        for i in range(6):
            await store.append(f"camera:c{i}", [discarded(), discarded()])
        assert len(store._versions) <= 3 and "camera:c0" not in store._versions
        assert await store.stream_version("camera:c0") == 2
        [env] = await store.append("camera:c0", [discarded()], expected_version=2)
        assert env.stream_version == 3
    finally:
        await store.aclose()
