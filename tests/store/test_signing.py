"""The store signs on a timer while events arrive (and every N, and on close) and publishes
each checkpoint to its witnesses, a file or a witness process over HTTP."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio

from lfr.store.policy import LogConfig
from lfr.store.sqlite import LOG_FILE, SqliteEventStore, SqliteLog, open_store
from lfr.store.verify import Anchor, verify_log
from lfr.store.witness import FileWitness, read_witness_file, serve_witness
from tests.store.contract import discarded


def _verify_against(data: Path, witness: Path) -> tuple[bool, int, int, str | None]:
    log = SqliteLog(data / LOG_FILE, read_only=True)
    try:
        held = read_witness_file(witness)
        anchors = [Anchor(e.checkpoint, "w") for e in held.of_log(log.log_id)]
        r = verify_log(log, anchors=anchors)
    finally:
        log.close()
    return r.ok, r.events, r.anchored_size, r.problem


async def witnessed(store: SqliteEventStore, witness: Path, size: int) -> None:
    """Wait (polling the signer's record: it runs in its own thread) until the witness holds
    a checkpoint of `size` events."""
    assert store.signer is not None
    published = store.signer.published
    name = str(await anyio.Path(witness).resolve())
    with anyio.fail_after(10):
        while (cp := published.get(name)) is None or cp.tree_size < size:  # noqa: ASYNC110
            await anyio.sleep(0.05)


async def test_the_timer_signs_and_witnesses_while_events_arrive(tmp_path: Path) -> None:
    witness = tmp_path / "auditor" / "w.witness"
    config = LogConfig(witness=str(witness), checkpoint_every=10**6, checkpoint_interval_s=0.3)
    store = await open_store(tmp_path / "data", log=config)
    try:
        await store.append("camera:c1", [discarded() for _ in range(5)])
        assert store.signer is not None
        await witnessed(store, witness, 5)
        sizes = [c.tree_size for c in await anyio.to_thread.run_sync(store._reader.checkpoints)]
        assert sizes == [0, 5]  # the empty tree at creation, then the timer's, not waiting for N
        await store.append("camera:c1", [discarded() for _ in range(3)])
        await anyio.sleep(0.1)  # younger than the interval: not signed yet
        sizes = [c.tree_size for c in await anyio.to_thread.run_sync(store._reader.checkpoints)]
        assert sizes == [0, 5]
        await witnessed(store, witness, 8)
    finally:
        await store.aclose()
    ok, events, anchored, problem = await anyio.to_thread.run_sync(
        _verify_against, tmp_path / "data", witness
    )
    assert ok and events == 8 and anchored == 8, problem


async def test_nothing_is_signed_while_nothing_arrives(tmp_path: Path) -> None:
    store = await open_store(tmp_path, log=LogConfig(checkpoint_interval_s=0.05))
    try:
        await store.append("camera:c1", [discarded()])
        await anyio.sleep(0.4)
        first = await anyio.to_thread.run_sync(store._reader.checkpoints)
        await anyio.sleep(0.3)
        again = await anyio.to_thread.run_sync(store._reader.checkpoints)
    finally:
        await store.aclose()
    assert [c.tree_size for c in first] == [0, 1] and again == first


async def test_a_witness_process_over_http(tmp_path: Path) -> None:
    file = tmp_path / "auditor" / "w.witness"
    server = await anyio.to_thread.run_sync(
        lambda: serve_witness(FileWitness(file), "127.0.0.1", 0)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        config = LogConfig(witness=url, checkpoint_every=50)
        store = await open_store(tmp_path / "data", log=config)
        try:
            for _ in range(7):
                await store.append("camera:c1", [discarded() for _ in range(20)])
        finally:
            await store.aclose()
        # reopened: the site resumes, the witness checks consistency with what it holds
        store = await open_store(tmp_path / "data", log=config)
        try:
            await store.append("camera:c2", [discarded() for _ in range(5)])
        finally:
            await store.aclose()
    finally:
        await anyio.to_thread.run_sync(server.shutdown)
        server.server_close()
    held = await anyio.to_thread.run_sync(read_witness_file, file)
    sizes = [e.checkpoint.tree_size for e in held.entries]
    assert (
        sizes[-1] == 145
        and 140 in sizes
        and not held.refusals_of(held.entries[0].checkpoint.log_id)
    )
    assert all(e.from_size == prev for e, prev in zip(held.entries[1:], sizes, strict=False))
    ok, events, anchored, problem = await anyio.to_thread.run_sync(
        _verify_against, tmp_path / "data", file
    )
    assert ok and events == 145 and anchored == 145, problem


async def test_an_unreachable_witness_does_not_stop_the_log(tmp_path: Path) -> None:
    config = LogConfig(witness="http://127.0.0.1:9", checkpoint_every=10)
    store = await open_store(tmp_path, log=config)
    try:
        t = time.monotonic()
        for _ in range(5):
            await store.append("camera:c1", [discarded() for _ in range(10)])
        assert time.monotonic() - t < 5
    finally:
        await store.aclose()
    assert store.signer is not None and "unreachable" in next(iter(store.signer.errors.values()))
