"""What the NATS fault tests share: the writer child (`WRITER`), its side file (an `intent`
line before each append, an `ack` line after it returned, one `write()` each), and the checks
of the log it left: every acknowledged event once at its seq, gapless, verified. (The
`servers` fixture is the package's conftest's.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lfr.store.nats import NatsEventStore

ROOT = Path(__file__).resolve().parents[2]
LFR = str(Path(sys.executable).parent / "lfr")

#: The writer child: appends batches of 1-20 events, some to its own stream (expected
#: version), some to a shared one, until the `stop` file exists. An `intent` line before each
#: append and an `ack` line after it (one `write()` each); on `StoreUnavailableError` an
#: `error` line and the same batch again (same event ids), reopening once the client gave up.
#: argv: server URL(s), stream, prefix, side file, stop file, a new stream's replicas.
WRITER = r"""import json, os, random, sys, time, uuid
from datetime import UTC, datetime, timedelta

import anyio
import nats.aio.client

from lfr.store.base import StoreUnavailableError
from lfr.store.nats import NatsEventStore
from schemas import FrameDiscarded, NewEvent

nats.aio.client.shuffle = lambda servers: None  # the servers in the order given: first first
urls, stream_name, prefix, side, stop, replicas = sys.argv[1:7]
rng = random.Random(16)


def line(obj):
    os.write(fd, (json.dumps(obj) + "\n").encode())  # one write(): whole or absent


def events(specs):
    return [
        NewEvent(
            event=FrameDiscarded(camera="ne-1", zone="z", deployment_id="d", frames=s["n"]),
            event_id=uuid.UUID(s["id"]),
            occurred_at=datetime.fromisoformat(s["at"]),
        )
        for s in specs
    ]


def port(store):
    url = store.reader.nc.connected_url
    return url.port if url is not None else None


def failed(op, exc, t0):
    line({"k": "error", "op": op, "type": type(exc).__name__, "msg": str(exc),
          "s": round(time.monotonic() - t0, 3)})


async def open_store():
    while True:
        t0 = time.monotonic()
        try:
            return await NatsEventStore.open(
                urls, stream_name=stream_name, prefix=prefix, replicas=int(replicas),
                connect_attempts=1, checkpoint_every=37, checkpoint_interval_s=0.5, poll_s=0.05,
            )
        except StoreUnavailableError as exc:  # anything else: a crash, seen by the test
            failed("open", exc, t0)
            await anyio.sleep(0.1)


async def main():
    store = await open_store()
    line({"k": "open", "port": port(store)})
    own, version = "camera:ne-1", 0
    while not os.path.exists(stop):
        shared = rng.random() < 0.3
        stream = "zone:shared" if shared else own
        now = datetime.now(UTC)
        specs = [
            {"id": str(uuid.uuid4()), "n": k + 1, "at": (now - timedelta(seconds=k)).isoformat()}
            for k in range(rng.choice((1, 2, 5, 20)))
        ]
        expected = None if shared else version
        ids = [s["id"] for s in specs]
        line({"k": "intent", "stream": stream, "expected": expected, "ids": ids})
        tries = 0
        while True:
            tries += 1
            t0 = time.monotonic()
            try:
                with anyio.fail_after(60):  # a hang: TimeoutError, the child dies, the test fails
                    envs = await store.append(stream, events(specs), expected_version=expected)
                break
            except StoreUnavailableError as exc:
                failed("append", exc, t0)
            if store.reader.nc.is_closed or tries % 5 == 0:  # the client gave up: open again
                with anyio.move_on_after(15, shield=True):
                    await store.aclose()
                store = await open_store()
                line({"k": "open", "port": port(store)})
            else:
                await anyio.sleep(0.05)
        line({"k": "ack", "ids": [str(e.event_id) for e in envs], "seqs": [e.seq for e in envs],
              "tries": tries, "t0": t0, "t": time.monotonic(), "port": port(store)})
        if not shared:
            version = envs[-1].stream_version
    await store.aclose()
    line({"k": "done"})


fd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
anyio.run(main)
"""


def writer_command(
    urls: str, stream: str, prefix: str, side: Path, stop: Path, *, replicas: int
) -> list[str]:
    return [sys.executable, "-c", WRITER, urls, stream, prefix, str(side), str(stop), str(replicas)]


def side_lines(side: Path) -> list[dict[str, Any]]:
    out = []
    for raw in side.read_text().splitlines():
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue  # a torn last line
    return out


def acks(side: Path) -> int:
    return side.read_bytes().count(b'"k": "ack"')


def wait_acks(
    side: Path, n: int, child: subprocess.Popen[bytes], err: Path, what: str, *, within: float
) -> None:
    """Until the writer acknowledged `n` appends in all (each wait at most `within` s)."""
    deadline = time.monotonic() + within
    while acks(side) < n:
        if child.poll() is not None:
            pytest.fail(f"{what}: the writer died (rc {child.returncode}): {err.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what}: the writer acknowledged nothing for {within} s: {side_lines(side)[-5:]}"
            )
        time.sleep(0.01)


def check_log(records: list[dict[str, Any]], acked: dict[str, int], intended: set[str]) -> None:
    """Every acknowledged event exactly once, at its acknowledged seq; gapless seqs and stream
    versions; nothing the writer never sent."""
    ids = Counter(r["event_id"] for r in records)
    duplicated = {i: c for i, c in ids.items() if c > 1}
    assert not duplicated, f"stored more than once: {duplicated}"
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1)), "a gap in the seqs"
    versions: dict[str, int] = {}
    for r in records:
        versions[r["stream"]] = versions.get(r["stream"], 0) + 1
        assert r["stream_version"] == versions[r["stream"]], f"{r['stream']}: a version gap"
    at = {r["event_id"]: r["seq"] for r in records}
    lost = acked.keys() - at.keys()
    assert not lost, f"{len(lost)} acknowledged event(s) lost"
    moved = {i for i, seq in acked.items() if at[i] != seq}
    assert not moved, f"{len(moved)} event(s) stored at another seq than acknowledged"
    assert at.keys() <= intended, "the log holds events the writer never sent"


def verify_stream(url: str, stream: str, events: int) -> None:
    """`lfr audit verify` on the stream: chain, rows and every signed checkpoint."""
    run = subprocess.run(
        [LFR, "audit", "verify", "--engine", "nats", "--nats-url", url, "--stream", stream]
        + ["--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["events"] == events, result


async def read_log(url: str, stream: str, prefix: str) -> list[dict[str, Any]]:
    store = await NatsEventStore.open(url, stream_name=stream, prefix=prefix, connect_attempts=1)
    try:
        return await store.read_records()
    finally:
        await store.aclose()
