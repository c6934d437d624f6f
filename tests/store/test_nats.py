from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from lfr.store.nats import NatsEventStore
from tests.store.contract import EventStoreContract, discarded

pytestmark = pytest.mark.nats


class TestNatsContract(EventStoreContract):
    """The same contract on the local JetStream, one fresh stream per test."""

    async def open_store(self, directory: Path) -> NatsEventStore:
        tag = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
        return await NatsEventStore.open(
            stream_name=f"LFRTEST_{tag}", prefix=f"lfrtest.{tag}", poll_s=0.05
        )

    @pytest.fixture(autouse=True)
    async def _drop_stream(self, tmp_path: Path):
        yield
        s = await self.open_store(tmp_path)
        await s.delete_stream()
        await s.aclose()

    async def test_two_connections_share_one_chain(self, tmp_path: Path) -> None:
        a = await self.open_store(tmp_path)
        b = await self.open_store(tmp_path)
        try:
            await a.append("camera:ne-1", [discarded()])
            await b.append("camera:ne-1", [discarded()], expected_version=1)
            envs = await a.read_all()
            assert [e.seq for e in envs] == [1, 2] and envs[1].prev_hash == envs[0].hash
        finally:
            await a.aclose()
            await b.aclose()


async def test_config_selects_the_engine(tmp_path: Path) -> None:
    from lfr.store import SqliteEventStore, StoreConfigAdapter, open_configured_store

    sqlite_store = await open_configured_store(
        StoreConfigAdapter.validate_python({"engine": "sqlite", "data_dir": str(tmp_path)})
    )
    assert isinstance(sqlite_store, SqliteEventStore)
    await sqlite_store.aclose()
    tag = uuid.uuid4().hex[:10]
    cfg = StoreConfigAdapter.validate_python(
        {"engine": "nats", "stream": f"LFRTEST_CFG_{tag}", "prefix": f"lfrtest.cfg{tag}"}
    )
    nats_store = await open_configured_store(cfg)
    try:
        assert isinstance(nats_store, NatsEventStore)
        await nats_store.append("zone:a", [discarded()])
        assert await nats_store.last_seq() == 1
    finally:
        assert isinstance(nats_store, NatsEventStore)
        await nats_store.delete_stream()
        await nats_store.aclose()
    with pytest.raises(ValueError, match="engine"):
        StoreConfigAdapter.validate_python({"engine": "kafka"})


# --- the one translation of nats-py errors (NatsEventStore's _NatsErrors) -----------------


async def test_an_unreachable_server_is_unavailable() -> None:
    """Nothing listens on port 1: the client's NoServersError leaves as StoreUnavailableError."""
    from lfr.errors import UnavailableError
    from lfr.store import StoreUnavailableError

    with pytest.raises(StoreUnavailableError, match="unavailable.*NoServersError") as info:
        await NatsEventStore.open("nats://127.0.0.1:1", connect_attempts=1)
    assert isinstance(info.value, UnavailableError)
    assert type(info.value.__cause__).__module__.startswith("nats")


async def test_a_lost_connection_is_unavailable(tmp_path: Path) -> None:
    """The server gone under an open store (its connection closed): reads and appends say the
    log is unavailable, as lfr errors chained to the client's."""
    from lfr.store import StoreUnavailableError

    tag = uuid.uuid4().hex[:10]
    store = await NatsEventStore.open(stream_name=f"LFRTEST_LOST_{tag}", prefix=f"lfrtest.l{tag}")
    try:
        await store.append("zone:a", [discarded()])
        await store._js.delete_stream(store.stream_name)
        await store._nc.close()
        with pytest.raises(StoreUnavailableError) as info:
            await store.last_seq()
        assert "ConnectionClosedError" in str(info.value)
        with pytest.raises(StoreUnavailableError):
            await store.append("zone:a", [discarded()])
    finally:
        await store.aclose()


async def test_jetstreams_wrong_last_sequence_is_a_concurrency_error(tmp_path: Path) -> None:
    """A writer whose view is stale publishes with an old expected sequence (writers publish
    optimistically, without asking for the tail first); JetStream refuses it (wrong last
    sequence, 10071), the writer catches up, and with an expected version it no longer holds,
    the caller gets the conflict."""
    from lfr.store import ConcurrencyError

    tag = uuid.uuid4().hex[:10]
    names = {"stream_name": f"LFRTEST_WLS_{tag}", "prefix": f"lfrtest.w{tag}"}
    a = await NatsEventStore.open(**names)
    b = await NatsEventStore.open(**names)
    try:
        await a.last_seq()
        await b.append("zone:a", [discarded()])
        publish = a._js.publish
        errors: list[BaseException] = []

        async def spy(*args, **kwargs):
            try:
                return await publish(*args, **kwargs)
            except Exception as exc:
                errors.append(exc)
                raise

        a._js.publish = spy
        with pytest.raises(ConcurrencyError) as info:
            await a.append("zone:a", [discarded()], expected_version=0)
        assert info.value.expected == 0 and info.value.actual == 1
        assert [getattr(e, "err_code", None) for e in errors] == [10071]
    finally:
        await a.delete_stream()
        await a.aclose()
        await b.aclose()
