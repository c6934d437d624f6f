"""The contract every `EventStore` engine must pass. An engine's test module subclasses
`EventStoreContract` and implements `open_store(directory)` (a fresh or existing log there)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from lfr.store import ConcurrencyError, EventStore, IdempotencyError, StoreClosedError
from lfr.store.hashchain import GENESIS_HASH, body_hash, canonical_body, record_of_envelope
from schemas import FaceMatched, FrameDiscarded, NewEvent, PatrolCheckedIn


def discarded(n: int = 1, camera: str = "ne-1") -> NewEvent:
    return NewEvent(
        event=FrameDiscarded(
            camera=camera, zone="north-end", deployment_id="d-1", frames=n, faces_seen=n
        )
    )


def matched(similarity: float = 0.71) -> NewEvent:
    return NewEvent(
        event=FaceMatched(
            match_id="m-1",
            camera="ne-1",
            zone="north-end",
            deployment_id="d-1",
            watchlist_version="w" * 64,
            entry_id="e-7",
            similarity=similarity,
            threshold=0.6,
            frame_at=datetime(2026, 11, 26, 12, 0, 1, 123456, tzinfo=UTC),
        ),
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


def checked_in(patrol: str = "p-1") -> NewEvent:
    return NewEvent(event=PatrolCheckedIn(patrol_id=patrol, zone="north-end", officers=("PC 1",)))


class EventStoreContract:
    """Behaviour shared by every engine (SQLite now, NATS JetStream later)."""

    async def open_store(self, directory: Path) -> EventStore:
        raise NotImplementedError

    @pytest.fixture
    async def store(self, tmp_path: Path):
        s = await self.open_store(tmp_path)
        try:
            yield s
        finally:
            await s.aclose()

    async def test_is_an_event_store(self, store: EventStore) -> None:
        assert isinstance(store, EventStore)
        assert await store.last_seq() == 0
        assert await store.stream_version("camera:ne-1") == 0

    async def test_append_assigns_gapless_positions_and_chains_hashes(self, store) -> None:
        a = await store.append("camera:ne-1", [discarded(), matched()])
        b = await store.append("zone:north-end", [checked_in()])
        c = await store.append("camera:ne-1", [discarded(3)])
        envs = a + b + c
        assert [e.seq for e in envs] == [1, 2, 3, 4]
        assert [e.stream_version for e in envs] == [1, 2, 1, 3]
        assert envs[0].prev_hash == GENESIS_HASH
        for prev, env in zip(envs, envs[1:], strict=False):
            assert env.prev_hash == prev.hash
        for env in envs:
            assert body_hash(canonical_body(record_of_envelope(env))) == env.hash
        assert await store.read_all() == envs
        assert await store.last_seq() == 4

    async def test_typed_event_round_trips(self, store) -> None:
        ne = matched(0.1 + 0.2)
        [env] = await store.append("camera:ne-1", [ne])
        [read] = await store.read_all()
        assert read == env
        assert read.decode() == ne.event
        assert read.event_id == ne.event_id and read.traceparent == ne.traceparent
        assert read.occurred_at == ne.occurred_at

    async def test_reads_by_stream_and_position(self, store) -> None:
        for i in range(5):
            await store.append("camera:ne-1", [discarded(i + 1)])
            await store.append("camera:ne-2", [discarded(i + 1, camera="ne-2")])
        s = await store.read_stream("camera:ne-2", from_version=3)
        assert [e.stream_version for e in s] == [3, 4, 5]
        assert {e.stream for e in s} == {"camera:ne-2"}
        window = await store.read_all(from_seq=4, limit=3)
        assert [e.seq for e in window] == [4, 5, 6]
        assert await store.read_stream("nobody") == []
        assert await store.read_all(from_seq=11) == []

    async def test_expected_version_is_enforced(self, store) -> None:
        await store.append("patrol:p-1", [checked_in()], expected_version=0)
        with pytest.raises(ConcurrencyError) as info:
            await store.append("patrol:p-1", [checked_in()], expected_version=0)
        assert (info.value.stream, info.value.expected, info.value.actual) == ("patrol:p-1", 0, 1)
        assert "patrol:p-1" in str(info.value)
        await store.append("patrol:p-1", [checked_in()], expected_version=1)
        assert await store.stream_version("patrol:p-1") == 2

    async def test_racing_writers_one_wins(self, store) -> None:
        results: list[str] = []

        async def writer(i: int) -> None:
            try:
                await store.append("zone:north-end", [checked_in(f"p-{i}")], expected_version=0)
                results.append("ok")
            except ConcurrencyError:
                results.append("conflict")

        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(writer, i)
        assert sorted(results) == ["conflict"] * 7 + ["ok"]
        assert await store.stream_version("zone:north-end") == 1

    async def test_retried_append_is_idempotent(self, store) -> None:
        batch = [discarded(), matched()]
        first = await store.append("camera:ne-1", batch, expected_version=0)
        again = await store.append("camera:ne-1", batch, expected_version=0)
        also = await store.append("camera:ne-1", batch)
        assert again == first == also
        assert await store.last_seq() == 2

    async def test_reused_event_id_with_other_content_is_refused_atomically(self, store) -> None:
        [env] = await store.append("camera:ne-1", [discarded()])
        forged = NewEvent(event=discarded(99).event, event_id=env.event_id)
        with pytest.raises(IdempotencyError) as info:
            await store.append("camera:ne-1", [discarded(2), forged])
        assert info.value.seq == 1
        assert await store.last_seq() == 1  # no half batch

    async def test_subscription_follows_appends_without_gap_or_duplicate(self, store) -> None:
        await store.append("camera:ne-1", [discarded() for _ in range(5)])
        total = 5 + 20 * 7
        seen: list[int] = []

        async def follow() -> None:
            async for env in store.subscribe(from_seq=1):
                seen.append(env.seq)
                if len(seen) == total:
                    return

        async def write(camera: str) -> None:
            for i in range(7):
                await store.append(f"camera:{camera}", [discarded(camera=camera)] * 1)
                if i % 3 == 0:
                    await anyio.lowlevel.checkpoint()

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(follow)
                async with anyio.create_task_group() as writers:
                    for k in range(20):
                        writers.start_soon(write, f"c{k}")
        assert seen == list(range(1, total + 1))

    async def test_subscription_from_a_later_position(self, store) -> None:
        await store.append("camera:ne-1", [discarded() for _ in range(4)])
        got = []
        with anyio.fail_after(10):
            async for env in store.subscribe(from_seq=3):
                got.append(env.seq)
                if env.seq == 4:
                    break
        assert got == [3, 4]

    async def test_durable_across_reopen(self, tmp_path: Path) -> None:
        s = await self.open_store(tmp_path)
        written = await s.append("camera:ne-1", [discarded(), matched()])
        await s.aclose()
        s2 = await self.open_store(tmp_path)
        try:
            assert await s2.read_all() == written
            more = await s2.append("camera:ne-1", [discarded()], expected_version=2)
            assert more[0].seq == 3 and more[0].prev_hash == written[-1].hash
        finally:
            await s2.aclose()

    async def test_closed_store_refuses_use(self, tmp_path: Path) -> None:
        s = await self.open_store(tmp_path)
        await s.aclose()
        with pytest.raises(StoreClosedError):
            await s.append("camera:ne-1", [discarded()])
        with pytest.raises(StoreClosedError):
            await s.read_all()
