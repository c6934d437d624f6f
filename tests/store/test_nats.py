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
        {"engine": "nats", "stream_name": f"LFRTEST_CFG_{tag}", "prefix": f"lfrtest.cfg{tag}"}
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
