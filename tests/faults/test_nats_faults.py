"""The JetStream engine under NATS faults, with real nats-server processes the tests start
themselves (free loopback ports, their own store folders; never the system's server):

* **NATS restarted mid-append.** A writer process appends batches through `NatsEventStore`
  to a private single server, which is stopped again and again (SIGKILL, then SIGTERM, in
  turn) at random points while appends are in flight, and started again on the same port and
  store folder. The writer writes, with one `write()` each, an `intent` line before each
  append and an `ack` line (the ids and the seqs it was given) once it returned; a failed
  append is written down as an `error` line (which error, after how long) and retried with
  the same batch, the same event ids, on the same store while its connection lives, else on
  a store opened again. Kept: every acknowledged event is in the log exactly once by id, at
  the seq it was acknowledged with; seqs and stream versions are gapless; the log holds
  nothing else; `lfr audit verify` passes. The writer saw each outage as a
  `StoreUnavailableError` within seconds, never as a hang or another error.

The second fault of issue 16, one NATS node of three killed, is `test_nats_cluster.py`
(a node that leads neither the stream nor the cluster; why not the leader is said there).

`LFR_FAULT_NATS_RESTARTS` sets the number of restarts of the single server (default 6).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import anyio
import pytest

from tests.faults._acked_log import (
    acks,
    check_log,
    read_log,
    side_lines,
    verify_stream,
    wait_acks,
    writer_command,
)
from tests.faults._nats_servers import NatsServer

pytestmark = [
    pytest.mark.faults,
    pytest.mark.blocking_ok("starts, kills and waits for nats-server and writer processes"),
]

ROOT = Path(__file__).resolve().parents[2]
LFR = str(Path(sys.executable).parent / "lfr")
RESTARTS = int(os.environ.get("LFR_FAULT_NATS_RESTARTS", "6"))
OUTAGE_ERROR_S = 15.0  # an append or open on a dead server fails within this (never hangs)


def test_nats_restarted_mid_append_keeps_every_acknowledged_event_once(
    tmp_path: Path, servers: list[NatsServer]
) -> None:
    rng = random.Random(16)
    server = NatsServer(tmp_path / "nats", "solo")
    servers.append(server)
    server.start()
    tag = uuid.uuid4().hex[:8]
    stream, prefix = f"LFRFAULT_{tag}", f"lfrfault.{tag}"
    side, stop, err = tmp_path / "acks.ndjson", tmp_path / "stop", tmp_path / "child.err"
    side.touch()
    started = time.monotonic()
    with err.open("w") as err_f:
        child = subprocess.Popen(
            writer_command(server.url, stream, prefix, side, stop, replicas=1),
            stdout=subprocess.DEVNULL,
            stderr=err_f,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        wait_acks(side, 3, child, err, "before the first restart", within=45)
        stops: list[tuple[str, float]] = []
        for i in range(RESTARTS):
            time.sleep(rng.uniform(0.0, 0.1))  # somewhere among the appends
            sig = signal.SIGKILL if i % 2 == 0 else signal.SIGTERM
            done = acks(side)
            assert child.poll() is None, err.read_text()
            server.stop(sig)
            down = rng.choice((0.05, 0.3, 1.0, 3.0))  # shorter and longer than the client waits
            stops.append((sig.name, down))
            time.sleep(down)
            server.start()
            wait_acks(side, done + 3, child, err, f"after restart {i + 1} ({sig.name})", within=45)
        stop.touch()
        try:
            rc = child.wait(60)
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
    records = anyio.run(read_log, server.url, stream, prefix)
    check_log(records, acked, intended)
    assert {r["event_id"] for r in records} == intended == acked.keys(), "a batch never landed"
    verify_stream(server.url, stream, len(records))

    # each outage reached the writer as a clear StoreUnavailableError, soon; never a hang
    kinds = Counter((x["op"], x["type"]) for x in errors)
    assert {t for _, t in kinds} == {"StoreUnavailableError"}, kinds
    # (a short outage may pass unseen: the client reconnects and its buffered publish is
    # answered within the request's timeout)
    assert errors, "no outage reached the writer"
    slowest = max(x["s"] for x in errors)
    assert slowest < OUTAGE_ERROR_S, [x for x in errors if x["s"] >= OUTAGE_ERROR_S]
    assert all("unavailable" in x["msg"] for x in errors), errors
    retried = [x for x in lines if x["k"] == "ack" and x["tries"] > 1]
    assert retried, "no append was in flight (or failed) across a restart"
    print(
        f"\nNATS restarted mid-append: {len(stops)} stops {stops} in "
        f"{time.monotonic() - started:.1f} s; {len(acked)} events acknowledged in "
        f"{sum(1 for x in lines if x['k'] == 'ack')} appends, {len(retried)} of them retried; "
        f"{len(records)} in the log (seq 1..{len(records)}), lost 0, duplicated 0; "
        f"errors {dict(kinds)}, slowest {slowest:.2f} s; "
        f"{sum(1 for x in lines if x['k'] == 'open')} opens"
    )
