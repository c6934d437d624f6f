"""The JetStream engine under the second NATS fault of issue 16, **one NATS node of three
killed**, with a real three-node nats-server cluster the test starts itself (free loopback
ports, its own store folders, monitoring endpoints; never the system's server):

The log is an R3 stream. A writer process appends batches through `NatsEventStore`, given all
three servers' URLs (comma-separated), the node to be killed first and kept in that order (the
client's shuffle of the list is turned off in the child), so that it is connected to that
node. The node killed is neither the stream's leader nor the cluster's meta leader: the two
others keep the stream's quorum, no election is needed, and the client must fail over to
another node. It is killed with SIGKILL while appends are in flight. As in
`test_nats_faults`, the writer writes an `intent` line before each append and an `ack` line
(ids, seqs, the node it was connected to, when the successful try began and ended) once it
returned, an `error` line for a failed append, which it retries with the same batch.

Kept: an append made wholly after the kill is acknowledged within `RESUME_S`, through another
node; every failure the writer saw was a `StoreUnavailableError` within `OUTAGE_ERROR_S`; the
node, started again on its store, catches up (its own copy of the stream, read from its
monitoring endpoint, reaches the leader's last seq within `CATCH_UP_S`, and all three copies
end equal); appends go on after it is back; every acknowledged event is in the log exactly
once by id, at its acknowledged seq; seqs and stream versions are gapless; the log holds
nothing else; `lfr audit verify` through all three URLs passes with the right count.

Killing the stream's leader is not here: nats-server 2.9.10's RAFT election timeouts are fixed
(not settable in its configuration) and an election is needed. Measured on this two-core
machine (13 runs, the stream leader killed after the case above, the writer on another node):
a new leader in 4.5-13.9 s, an append begun after the kill acknowledged in 5.0-10.4 s in 12
runs and 29.5 s in one (appends and opens still failing 15 s after the new leader was named);
an earlier attempt, the writer connected to the leader, saw no append for over 45 s in about
2 runs of 5. Too long a tail for a bounded, reliable test here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from lfr.store.base import StoreUnavailableError
from lfr.store.nats import NatsEventStore
from tests.faults._acked_log import (
    acks,
    check_log,
    read_log,
    side_lines,
    verify_stream,
    wait_acks,
    writer_command,
)
from tests.faults._nats_servers import NatsServer, cluster

pytestmark = [
    pytest.mark.faults,
    pytest.mark.blocking_ok("starts, kills and waits for nats-server and writer processes"),
]

ROOT = Path(__file__).resolve().parents[2]
LFR = str(Path(sys.executable).parent / "lfr")
RESUME_S = 15.0  # an append begun after the kill is acknowledged within this
OUTAGE_ERROR_S = 15.0  # a failed append fails within this (never hangs)
CATCH_UP_S = 20.0  # the node started again holds the leader's last seq within this
WAIT_S = 30.0  # any other wait of the test


def _wait(what: str, probe: Any, timeout: float = WAIT_S) -> Any:
    """`probe()`'s first true answer (an error counts as none), polled until `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            got = probe()
        except Exception as exc:  # noqa: BLE001 (a node not answering yet)
            got, last = None, exc
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s (last error: {last!r})")
        time.sleep(0.05)


def _meta_leader(nodes: list[NatsServer]) -> str | None:
    """The cluster's meta leader, once every running node names the same one."""
    named = {n.jsz().get("meta_cluster", {}).get("leader") for n in nodes if n.running}
    return named.pop() if len(named) == 1 and None not in named else None


def _copy(node: NatsServer, stream: str) -> dict[str, Any] | None:
    """`node`'s own copy of `stream` (its `cluster` view and `state`), from its monitoring."""
    doc = node.jsz(accounts="true", streams="true")
    for account in doc.get("account_details") or []:
        for detail in account.get("stream_detail") or []:
            if detail["name"] == stream:
                return dict(detail)
    return None


def _stream_leader(nodes: list[NatsServer], stream: str) -> str | None:
    named = set()
    for node in nodes:
        if node.running:
            copy = _copy(node, stream)
            named.add(copy and copy.get("cluster", {}).get("leader"))
    return named.pop() if len(named) == 1 and None not in named else None


async def _create(urls: str, stream: str, prefix: str) -> None:
    """The R3 stream and the log's identity, once the cluster's JetStream answers."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            store = await NatsEventStore.open(
                urls, stream_name=stream, prefix=prefix, replicas=3, connect_attempts=1
            )
        except StoreUnavailableError:
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.2)
            continue
        await store.aclose()
        return


def test_one_nats_node_of_three_killed_keeps_every_acknowledged_event_once(
    tmp_path: Path, servers: list[NatsServer]
) -> None:
    started = time.monotonic()
    nodes = cluster(tmp_path / "nats")
    servers.extend(nodes)
    for node in nodes:
        node.start()
    by_name = {n.name: n for n in nodes}
    meta = _wait("a meta leader", lambda: _meta_leader(nodes))
    tag = uuid.uuid4().hex[:8]
    stream, prefix = f"LFRFAULT_{tag}", f"lfrfault.{tag}"
    anyio.run(_create, ",".join(n.url for n in nodes), stream, prefix)
    leader = _wait("the stream's leader", lambda: _stream_leader(nodes, stream))
    meta = _wait("a meta leader", lambda: _meta_leader(nodes))
    # the node killed leads nothing: the stream and the meta group keep their leaders
    victim = next(n for n in nodes if n.name not in (leader, meta))
    urls = ",".join(n.url for n in [victim] + [n for n in nodes if n is not victim])

    side, stop, err = tmp_path / "acks.ndjson", tmp_path / "stop", tmp_path / "child.err"
    side.touch()
    with err.open("w") as err_f:
        child = subprocess.Popen(
            writer_command(urls, stream, prefix, side, stop, replicas=3),
            stdout=subprocess.DEVNULL,
            stderr=err_f,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        wait_acks(side, 10, child, err, "before the kill", within=WAIT_S)
        opened = [x for x in side_lines(side) if x["k"] == "open"]
        assert opened[0]["port"] == victim.port, "the writer is not on the node to be killed"
        done = acks(side)
        assert child.poll() is None, err.read_text()
        victim.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        wait_acks(side, done + 10, child, err, f"after {victim.name} was killed", within=WAIT_S)
        leaders_after = (_stream_leader(nodes, stream), _meta_leader(nodes))

        victim.start()
        restarted_at = time.monotonic()
        target = _wait("the leader's copy", lambda: _copy(by_name[leader], stream))["state"][
            "last_seq"
        ]
        _wait(
            f"{victim.name} catching up to seq {target}",
            lambda: (_copy(victim, stream) or {}).get("state", {}).get("last_seq", 0) >= target,
            CATCH_UP_S,
        )
        caught_up = time.monotonic() - restarted_at
        done = acks(side)
        wait_acks(side, done + 10, child, err, f"after {victim.name} was back", within=WAIT_S)
        stop.touch()
        try:
            rc = child.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the writer did not finish: {side_lines(side)[-5:]}")
        assert rc == 0, err.read_text()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)

    lines = side_lines(side)
    assert lines[-1]["k"] == "done"
    ack_lines = [x for x in lines if x["k"] == "ack"]
    acked = {i: s for x in ack_lines for i, s in zip(x["ids"], x["seqs"], strict=True)}
    intended = {i for x in lines if x["k"] == "intent" for i in x["ids"]}
    errors = [x for x in lines if x["k"] == "error"]

    # an append begun after the kill was acknowledged soon, through another node
    after = [x for x in ack_lines if x["t0"] > killed_at]
    assert after, "no append was made after the kill"
    resumed = after[0]["t"] - killed_at
    assert resumed <= RESUME_S, f"appends resumed {resumed:.1f} s after the kill"
    assert after[0]["port"] != victim.port
    first_after = next(x for x in ack_lines if x["t"] > killed_at)
    # each failure reached the writer as a clear StoreUnavailableError, soon; never a hang
    kinds = Counter((x["op"], x["type"]) for x in errors)
    assert {t for _, t in kinds} <= {"StoreUnavailableError"}, kinds
    slowest = max((x["s"] for x in errors), default=0.0)
    assert slowest < OUTAGE_ERROR_S, [x for x in errors if x["s"] >= OUTAGE_ERROR_S]

    # the three copies end alike: the node killed holds all the others hold
    def alike() -> dict[str, Any] | None:
        states = [(_copy(n, stream) or {}).get("state", {}) for n in nodes]
        keys = ("messages", "bytes", "first_seq", "last_seq")
        views = {tuple(s.get(k) for k in keys) for s in states}
        return states[0] if len(views) == 1 and states[0] else None

    state = _wait("three equal copies of the stream", alike)

    records = anyio.run(read_log, urls, stream, prefix)
    check_log(records, acked, intended)
    assert {r["event_id"] for r in records} == intended == acked.keys(), "a batch never landed"
    verify_stream(urls, stream, len(records))
    print(
        f"\none NATS node of three killed: {victim.name} (leaders: stream {leader}, meta {meta}; "
        f"after the kill {leaders_after}); the writer on it failed over; first ack after the "
        f"kill {first_after['t'] - killed_at:.2f} s (try {first_after['tries']}), an append "
        f"begun after it acknowledged in {resumed:.2f} s; caught up {caught_up:.2f} s after "
        f"its restart (seq {target}); {len(acked)} events acknowledged in {len(ack_lines)} "
        f"appends, {len(records)} in the log, js seq {state['last_seq']} on all three, lost 0, "
        f"duplicated 0; errors {dict(kinds)}, slowest {slowest:.2f} s; "
        f"{sum(1 for x in lines if x['k'] == 'open')} opens; "
        f"{time.monotonic() - started:.1f} s"
    )
