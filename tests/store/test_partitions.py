"""A partitioned log on JetStream: each partition its own chain and tail, written by its own
writer; signed statements of every partition's head (a Merkle tree of heads) that the
auditor checks against each partition's own verified checkpoints."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from lfr.cli import app
from lfr.store import StoreConfigAdapter, open_configured_store
from lfr.store import checkpoint as ckpt
from lfr.store.heads import GENESIS, Head, HeadsCheckpoint, PartitionFacts, check_heads, next_heads
from lfr.store.nats import NatsEventStore, connect, heads_stream
from lfr.store.partitions import verify_partitions
from tests.store.contract import discarded

pytestmark = pytest.mark.nats

URL = "nats://127.0.0.1:4222"


def _cli_verify(base: str, partition: str) -> tuple[int, str]:
    res = CliRunner().invoke(
        app, ["audit", "verify", "--engine", "nats", "--stream", base, "--partition", partition]
    )
    return res.exit_code, " ".join((res.stdout + res.stderr).split())


@pytest.fixture
async def base() -> AsyncIterator[str]:
    name = f"LFRTEST_P{uuid.uuid4().hex[:10]}"
    yield name
    nc = await connect(URL, connect_attempts=1)
    js = nc.jetstream()
    for info in await js.streams_info():
        if (info.config.name or "").startswith(f"{name}-"):
            await js.delete_stream(info.config.name)
    await nc.close()


async def _partition(base: str, name: str, every: int = 10) -> NatsEventStore:
    config = StoreConfigAdapter.validate_python(
        {"engine": "nats", "stream": base, "partition": name, "checkpoint_every": every}
    )
    store = await open_configured_store(config)
    assert isinstance(store, NatsEventStore)
    return store


async def _fill(store: NatsEventStore, camera: str, batches: int) -> None:
    for _ in range(batches):
        await store.append(f"camera:{camera}", [discarded() for _ in range(5)])


async def test_partitions_have_their_own_chains_and_one_statement_of_heads(base: str) -> None:
    north, south = await _partition(base, "north"), await _partition(base, "south")
    async with anyio.create_task_group() as tg:  # two writers, no shared tail
        tg.start_soon(_fill, north, "ne-1", 6)
        tg.start_soon(_fill, south, "lr-1", 4)
    assert [e.seq for e in (await north.read_all())[:2]] == [1, 2]
    assert await north.last_seq() == 30 and await south.last_seq() == 20
    assert north.log_id != south.log_id
    await north.aclose()
    await south.aclose()

    result = await anyio.to_thread.run_sync(lambda: verify_partitions(URL, base))
    assert result.ok, result.problems
    assert set(result.partitions) == {"north", "south"}
    assert result.events == 50
    assert result.newest_heads == {"north": 30, "south": 20}
    assert result.statements >= 2

    one = await anyio.to_thread.run_sync(lambda: verify_partitions(URL, base, only="south"))
    assert one.ok and set(one.partitions) == {"south"}

    code, out = await anyio.to_thread.run_sync(lambda: _cli_verify(base, "all"))
    assert code == 0, out
    assert "OK partition north" in out and "OK partition south" in out and "50 events" in out
    code, out = await anyio.to_thread.run_sync(lambda: _cli_verify(base, "east"))
    assert code == 2 and "no partition 'east'" in out


async def test_a_forged_head_fails_verification(base: str) -> None:
    """A statement naming a head the partition never signed (made with the site's own key,
    as an insider could) is caught: heads must be the partition's verified checkpoints."""
    north = await _partition(base, "north")
    await _fill(north, "ne-1", 4)
    await north.aclose()
    nc = await connect(URL, connect_attempts=1)
    js = nc.jetstream()
    last = (await js.stream_info(heads_stream(base))).state.last_seq
    msg = await js.get_msg(heads_stream(base), last)
    previous = HeadsCheckpoint.from_dict(orjson.loads(msg.data))
    key = ckpt.load_signing_key(None)
    forged = next_heads(
        previous,
        log=base,
        head=Head("north", north.log_id, 25, "ab" * 32, "cd" * 32),
        key=key,
        signed_at="2026-12-04T00:00:00.000000Z",
    )
    assert forged is not None
    subject = msg.subject
    await js.publish(subject, orjson.dumps(forged.to_dict()), stream=heads_stream(base))
    await nc.close()

    result = await anyio.to_thread.run_sync(lambda: verify_partitions(URL, base))
    assert not result.ok
    assert any("not one of its signed checkpoints" in p for p in result.problems)
    assert result.partitions["north"].ok  # the partition itself is intact
    code, out = await anyio.to_thread.run_sync(lambda: _cli_verify(base, "north"))
    assert code == 1 and "BROKEN" in out and "not one of its signed checkpoints" in out


def _facts(key: Ed25519PrivateKey, cps: list[ckpt.Checkpoint]) -> PartitionFacts:
    return PartitionFacts("log-a", key.public_key(), cps)


def _cp(key: Ed25519PrivateKey, size: int) -> ckpt.Checkpoint:
    return ckpt.Checkpoint(
        log_id="log-a",
        tree_size=size,
        root=f"{size:064x}",
        last_hash=f"{size + 1:064x}",
        signed_at=datetime.now(UTC).isoformat(),
        key_id=ckpt.key_id(key.public_key()),
    ).signed(key)


def test_statements_chain_and_heads_never_move_back() -> None:
    key = Ed25519PrivateKey.generate()
    cps = [_cp(key, 10), _cp(key, 20)]
    first = next_heads(None, log="L", head=Head.of("a", cps[0]), key=key, signed_at="t1")
    assert first is not None and first.index == 1 and first.prev == GENESIS
    second = next_heads(first, log="L", head=Head.of("a", cps[1]), key=key, signed_at="t2")
    assert second is not None and second.prev == first.digest()
    assert next_heads(second, log="L", head=Head.of("a", cps[0]), key=key, signed_at="t3") is None
    facts = {"a": _facts(key, cps)}
    assert check_heads([first, second], facts, log="L") == []
    # a statement dropped from the middle of the chain, or a re-ordered pair, is seen
    assert any("chain" in p for p in check_heads([second], facts, log="L"))
    assert any("chain" in p for p in check_heads([second, first], facts, log="L"))
    # another key's signature is not the partition's
    other = Ed25519PrivateKey.generate()
    stranger = next_heads(None, log="L", head=Head.of("a", cps[0]), key=other, signed_at="t")
    assert stranger is not None
    assert any("signature" in p for p in check_heads([stranger], facts, log="L"))
    # the root covers every head: a head edited after signing breaks the root and signature
    edited = HeadsCheckpoint.from_dict(
        {**first.to_dict(), "heads": [{**first.heads[0].to_dict(), "tree_size": 11}]}
    )
    problems = check_heads([edited], facts, log="L")
    assert any("root" in p for p in problems) and any("signature" in p for p in problems)


def test_partition_names_are_checked() -> None:
    with pytest.raises(ValueError, match="partition"):
        StoreConfigAdapter.validate_python({"engine": "nats", "partition": "heads"})
    with pytest.raises(ValueError, match="partition"):
        StoreConfigAdapter.validate_python({"engine": "nats", "partition": "a.b"})
