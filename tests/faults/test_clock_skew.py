"""Clock skew of a few seconds between writers: real processes whose clocks are off by up to
±5 s take turns appending to one SQLite log. What the store documents (`SqliteLog._recorded_at`)
and this test holds it to:

- every event is accepted, whatever its `occurred_at` (seconds in the past or the future of
  the store's clock): the writer's time is kept exactly as given, never corrected;
- order is the log's `seq` (gapless, in the order the appends committed), not any clock;
- `recorded_at` never goes back along seq: a writer whose clock is behind records its events
  at the newest `recorded_at` already in the log, so "the log as it stood at T"
  (`lfr audit export --until T`) is always a prefix;
- `lfr audit verify` passes.

A process's clock is skewed where the store reads it (`datetime` in `lfr.store.sqlite._log`,
and the writer's own `occurred_at`), as a node whose clock is off would read it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lfr.store.sqlite import LOG_FILE, SqliteLog

pytestmark = [pytest.mark.faults, pytest.mark.blocking_ok("reads the log the child left")]

ROOT = Path(__file__).resolve().parents[2]
LFR = str(Path(sys.executable).parent / "lfr")
PER_TURN = 10

CHILD = r"""
import json, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

import lfr.store.sqlite._log as log_module
from lfr.store import open_store
from schemas import FrameDiscarded, NewEvent

data_dir, skew = Path(sys.argv[1]), timedelta(seconds=float(sys.argv[2]))


class Skewed(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + skew


log_module.datetime = Skewed  # this node's clock, as the store reads it


async def main():
    store = await open_store(data_dir)
    events = [
        NewEvent(
            event=FrameDiscarded(camera="ne-1", zone="z", deployment_id="d", frames=k + 1),
            occurred_at=Skewed.now(UTC),
        )
        for k in range(PER_TURN)
    ]
    envs = await store.append("camera:ne-1", events)
    await store.aclose()
    print(json.dumps({
        "seqs": [e.seq for e in envs],
        "occurred": [e.occurred_at.isoformat() for e in envs],
        "given": [e.occurred_at.isoformat() for e in events],
    }))


anyio.run(main)
""".replace("PER_TURN", str(PER_TURN))

#: each turn's clock offset, seconds: ahead, behind, right, behind again, ahead
SKEWS = (5.0, -5.0, 0.0, -3.0, 4.0)


def test_writers_seconds_apart_are_accepted_ordered_by_seq_and_verify(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    turns = []
    for skew in SKEWS:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(tmp_path), str(skew)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        turns.append(json.loads(done.stdout))

    # accepted, in commit order, the writer's own time kept exactly
    seqs = [s for t in turns for s in t["seqs"]]
    assert seqs == list(range(1, len(SKEWS) * PER_TURN + 1))
    for t in turns:
        assert t["occurred"] == t["given"]

    log = SqliteLog(tmp_path / LOG_FILE, read_only=True)
    try:
        records = log.read_records()
    finally:
        log.close()
    assert [r["seq"] for r in records] == seqs
    recorded = [datetime.fromisoformat(r["recorded_at"]) for r in records]
    occurred = [datetime.fromisoformat(r["occurred_at"]) for r in records]
    assert recorded == sorted(recorded), "recorded_at went back along seq"
    # the writer 5 s behind came after the one 5 s ahead: its events carry its own time ...
    behind = slice(PER_TURN, 2 * PER_TURN)
    assert all(o < recorded[PER_TURN - 1] - timedelta(seconds=8) for o in occurred[behind])
    # ... and are recorded at the newest recorded_at before them, not before it
    assert all(r == recorded[PER_TURN - 1] for r in recorded[behind])
    # the skew between writers is visible in occurred_at, never reordered by it
    assert occurred != sorted(occurred)

    # "the log as it stood at T" is a prefix, whichever T
    for cut in (PER_TURN - 1, 2 * PER_TURN - 1, 3 * PER_TURN + 2):
        until = records[cut]["recorded_at"]
        export = subprocess.run(
            [LFR, "audit", "export", "-d", str(tmp_path), "--until", until],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert export.returncode == 0, export.stderr
        got = [json.loads(x)["seq"] for x in export.stdout.splitlines() if x.strip()]
        assert got == list(range(1, len(got) + 1)) and len(got) >= cut + 1

    verify = subprocess.run(
        [LFR, "audit", "verify", "-d", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout.strip().splitlines()[-1])["ok"]
