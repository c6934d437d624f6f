"""`NatsLogReader.messages` never waits on a pull consumer for what the stream already holds.

The NATS server (seen with 2.9.10, three writers on one stream in `lfr demo --nodes 3`) can
hold back a pull consumer's messages until the next append or the fetch's expiry, while the
last page's `num_pending` says more are there. The writer's catch-up reads under the store's
lock, so a camera appending a match stalled 2-10 s per fetch (forever while nothing else was
appended). Short reads are now direct gets; a long read finishes directly after a fetch waits.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from lfr.store.nats import NatsEventStore
from lfr.store.nats import _reader as reader_mod
from lfr.store.nats._reader import DIRECT_READ_MAX, NatsLogReader
from tests.store.contract import discarded

pytestmark = pytest.mark.nats

URL = "nats://127.0.0.1:4222"


@pytest.fixture
async def stream() -> AsyncIterator[tuple[Any, str]]:
    import nats
    from nats.js.api import StorageType, StreamConfig

    nc = await nats.connect(URL)
    js = nc.jetstream()
    name = f"LFRTEST_STALL_{uuid.uuid4().hex[:10]}"
    await js.add_stream(
        StreamConfig(name=name, subjects=[f"{name.lower()}.>"], storage=StorageType.FILE)
    )
    try:
        yield nc, name
    finally:
        await js.delete_stream(name)
        await nc.close()


async def _fill(nc: Any, name: str, events: int, *, checkpoint_every: int = 4) -> list[int]:
    """`events` messages on event subjects, a checkpoint message after every few; the
    JetStream seqs of the events."""
    js = nc.jetstream()
    prefix = name.lower()
    seqs = []
    for i in range(events):
        ack = await js.publish(f"{prefix}.s{i % 3}", b"[]", stream=name)
        seqs.append(ack.seq)
        if i % checkpoint_every == checkpoint_every - 1:
            await js.publish(f"{prefix}._lfr.cp", b"{}", stream=name)
    return seqs


async def _read(reader: NatsLogReader, **kw: Any) -> list[int]:
    return [m.metadata.sequence.stream async for page in reader.messages(**kw) for m in page]


async def test_a_short_read_gets_messages_directly(stream: tuple[Any, str]) -> None:
    nc, name = stream
    seqs = await _fill(nc, name, 12)
    reader = NatsLogReader(nc, nc.jetstream(), stream_name=name, prefix=name.lower())

    async def no_consumer(*_: Any, **__: Any) -> Any:
        raise AssertionError("a short read made a pull consumer")

    reader.js.add_consumer = no_consumer
    assert await _read(reader) == seqs
    assert await _read(reader, start_js=seqs[3]) == seqs[3:]
    assert await _read(reader, start_js=seqs[3], until_js=seqs[7]) == seqs[3:8]
    everything = await _read(reader, subject=f"{name.lower()}.>")
    assert everything == list(range(1, await reader.last_js_seq() + 1))
    cps = await _read(reader, subject=reader.checkpoint_subject)
    assert cps and not set(cps) & set(seqs)
    assert await _read(reader, start_js=seqs[-1] + 1) == []
    page = [m async for p in reader.messages(start_js=seqs[0], until_js=seqs[0]) for m in p]
    assert page[0].subject == f"{name.lower()}.s0" and page[0].data == b"[]"


async def test_a_long_read_finishes_when_the_consumer_holds_back(
    stream: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer delivers one page, then nothing until its fetch expires: the read
    still returns every message, once, in order, without waiting for a later append."""
    nc, name = stream
    seqs = await _fill(nc, name, DIRECT_READ_MAX * 3)
    reader = NatsLogReader(nc, nc.jetstream(), stream_name=name, prefix=name.lower())
    monkeypatch.setattr(reader_mod, "FETCH_TIMEOUT_S", 0.2)
    bind = reader.js.pull_subscribe_bind
    fetches: list[float] = []

    async def holding_back(*args: Any, **kw: Any) -> Any:
        psub = await bind(*args, **kw)
        fetch = psub.fetch

        async def first_page_only(batch: int, **kw: float) -> Any:
            fetches.append(kw["timeout"])
            if len(fetches) == 1:
                return await fetch(batch=batch, **kw)
            await anyio.sleep(kw["timeout"])  # (the server sends nothing until it expires)
            raise TimeoutError

        psub.fetch = first_page_only
        return psub

    reader.js.pull_subscribe_bind = holding_back
    started = time.monotonic()
    assert await _read(reader) == seqs
    assert time.monotonic() - started < 5.0
    assert len(fetches) == 2 and fetches[1] == 0.2


async def test_a_writers_catch_up_reads_without_a_consumer() -> None:
    """Another writer appended first: the conflict's catch-up (under the store's lock) reads
    the few new messages directly and the append goes through at once."""
    tag = uuid.uuid4().hex[:10]
    kw: dict[str, Any] = {"stream_name": f"LFRTEST_STALL_{tag}", "prefix": f"lfrtest.st{tag}"}
    a = await NatsEventStore.open(**kw)
    b = await NatsEventStore.open(**kw)
    try:
        for _ in range(5):
            await a.append("camera:ne-1", [discarded()])

        async def no_consumer(*_: Any, **__: Any) -> Any:
            raise AssertionError("the catch-up made a pull consumer")

        b.reader.js.add_consumer = no_consumer
        started = time.monotonic()
        [env] = await b.append("camera:ne-2", [discarded()])
        assert env.seq == 6
        assert time.monotonic() - started < 2.0
        assert [e.seq for e in await a.read_all()] == [1, 2, 3, 4, 5, 6]
    finally:
        await a.delete_stream()
        await a.aclose()
        await b.aclose()
