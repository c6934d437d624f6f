"""kill -9 loop on the SQLite engine: a real writer process appending batches through the
real store (`open_store`) is killed with SIGKILL at random points, again and again (during
start-up, while opening, mid-batch, while signing a checkpoint, between an append's commit
and its acknowledgement). After each kill the log is reopened by a writer: every event whose
append returned is there exactly once, seqs and stream versions are gapless, nothing before
the kill changed; at the end `lfr audit verify` passes.

The child writes to a side file, with one `write()` each, an `intent` line (the batch, its
event ids) before each append and an `ack` line once the append returned. A restarted child
re-sends the batch of an intent it never acknowledged, exactly as a writer retrying after a
crash does: the store keeps it once (idempotent on event id) whether or not the killed
process had committed it.

`LFR_FAULT_KILLS` sets the number of kills (default 100: about 40 s on 2 busy cores).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest

from lfr.store import open_store

pytestmark = [pytest.mark.faults, pytest.mark.blocking_ok("reads the log the child left")]

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("LFR_FAULT_KILLS", "100"))

CHILD = r"""
import json, os, random, sys, uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from lfr.store import open_store
from schemas import FrameDiscarded, NewEvent

data_dir, side, run = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rng = random.Random(run)


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


def unacknowledged():
    intent = None
    try:
        text = open(side).read()
    except FileNotFoundError:
        return None
    for raw in text.splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            continue  # (a torn last line: never acknowledged)
        if rec["k"] == "intent":
            intent = rec
        elif rec["k"] == "ack":
            intent = None
    return intent


async def main():
    pending = unacknowledged()
    store = await open_store(data_dir, checkpoint_every=37)
    if pending is not None:
        line({**pending, "k": "intent", "retry": True})
        envs = await store.append(
            pending["stream"], events(pending["events"]), expected_version=pending["expected"]
        )
        line({"k": "ack", "run": run, "ids": [str(e.event_id) for e in envs], "retry": True})
    own, version = f"camera:run-{run}", 0
    while True:
        shared = rng.random() < 0.3
        stream = "zone:shared" if shared else own
        now = datetime.now(UTC)
        specs = [
            {"id": str(uuid.uuid4()), "n": k + 1, "at": (now - timedelta(seconds=k)).isoformat()}
            for k in range(rng.choice((1, 2, 5, 20, 60)))
        ]
        expected = None if shared else version
        line({"k": "intent", "run": run, "stream": stream, "expected": expected, "events": specs})
        envs = await store.append(stream, events(specs), expected_version=expected)
        line({"k": "ack", "run": run, "ids": [str(e.event_id) for e in envs]})
        if not shared:
            version = envs[-1].stream_version


fd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
anyio.run(main)
"""


class Ledger:
    """What the children said (the side file) and what the log holds, checked after each kill."""

    def __init__(self) -> None:
        self.acked: set[str] = set()
        self.seen: dict[str, int] = {}  # event id -> seq
        self.versions: dict[str, int] = {}  # stream -> last version seen
        self.last_seq = 0
        self.last_hash: str | None = None
        self.retries = 0

    def read_side(self, side: Path) -> None:
        acked: set[str] = set()
        retries = 0
        for raw in side.read_text().splitlines():
            try:
                rec = json.loads(raw)
            except ValueError:
                continue  # a torn last line: never acknowledged
            if rec["k"] == "intent" and rec.get("retry"):
                retries += 1
            elif rec["k"] == "ack":
                acked.update(rec["ids"])
        self.acked, self.retries = acked, retries

    async def check(self, data_dir: Path) -> None:
        store = await open_store(data_dir, checkpoint_every=37)  # a writer reopening it
        try:
            if self.last_seq:
                (tail,) = await store.read_records(from_seq=self.last_seq, limit=1)
                assert tail["hash"] == self.last_hash, "an event before the kill changed"
            records = await store.read_records(from_seq=self.last_seq + 1)
            for rec in records:
                seq, eid, stream = rec["seq"], rec["event_id"], rec["stream"]
                assert seq == self.last_seq + 1, f"a gap before seq {seq}"
                assert eid not in self.seen, f"event {eid} stored twice"
                version = self.versions.get(stream, 0) + 1
                assert rec["stream_version"] == version, f"{stream}: a gap in its versions"
                self.versions[stream] = version
                self.seen[eid] = seq
                self.last_seq, self.last_hash = seq, rec["hash"]
            assert await store.last_seq() == self.last_seq
        finally:
            await store.aclose()
        lost = self.acked - self.seen.keys()
        assert not lost, f"{len(lost)} acknowledged event(s) lost"


def _wait_for_ack(side: Path, run: int, child: subprocess.Popen[bytes]) -> None:
    """Until the child acknowledged its first append (it wrote `"k": "ack", "run": run`)."""
    mark = f'"k": "ack", "run": {run},'.encode()
    deadline = time.monotonic() + 30
    with side.open("rb") as f:
        f.seek(0, os.SEEK_END)
        seen = b""
        while mark not in seen:
            if child.poll() is not None or time.monotonic() > deadline:
                err = side.with_name("child.err").read_text()
                pytest.fail(f"run {run}: the child never appended (rc {child.poll()}): {err}")
            time.sleep(0.005)
            seen = seen[-200:] + f.read()


def test_kill_9_loop_loses_and_duplicates_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(16)
    data_dir, side = tmp_path / "data", tmp_path / "acks.ndjson"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    side.touch()
    ledger = Ledger()
    kills = 0
    started = time.monotonic()
    for run in range(KILLS):
        with (tmp_path / "child.err").open("w") as err:
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(data_dir), str(side), str(run)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
            if rng.random() < 0.25:  # anywhere in start-up: imports, opening, the retry
                time.sleep(rng.uniform(0.02, 0.4))
            else:  # among the appends
                _wait_for_ack(side, run, child)
                time.sleep(rng.uniform(0.0, 0.15))
            if child.poll() is not None:  # it must still be running when killed
                pytest.fail((tmp_path / "child.err").read_text())
            child.send_signal(signal.SIGKILL)
            assert child.wait(10) == -signal.SIGKILL
        kills += 1
        ledger.read_side(side)
        anyio.run(ledger.check, data_dir)

    elapsed = time.monotonic() - started
    runs = Counter(json.loads(x)["run"] for x in side.read_text().splitlines() if '"ack"' in x)
    duplicated = len(ledger.seen) - len(set(ledger.seen))
    print(
        f"\nkill -9 loop: {kills} kills in {elapsed:.1f} s, {len(ledger.acked)} events "
        f"acknowledged by {len(runs)} runs, {len(ledger.seen)} in the log (seq 1..."
        f"{ledger.last_seq}), {ledger.retries} unacknowledged batches re-sent, lost 0, "
        f"duplicated {duplicated}"
    )
    assert kills == KILLS
    assert len(runs) >= KILLS // 2, "most children were killed before appending anything"
    assert len(ledger.seen) >= len(ledger.acked) > 0

    verify = subprocess.run(
        [
            str(Path(sys.executable).parent / "lfr"),
            "audit",
            "verify",
            "--data-dir",
            str(data_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    result = json.loads(verify.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["events"] == ledger.last_seq
