"""A writer killed with SIGKILL mid-append leaves a log that verifies, holds every
acknowledged event and no half batch. The child is a real process, killed many times."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from lfr.store.sqlite import LOG_FILE, SqliteLog
from lfr.store.verify import verify_log

BATCH = 40

CHILD = """
import sys, anyio
from lfr.store import open_store
from schemas import FrameDiscarded, NewEvent

BATCH = BATCH_SIZE

async def main(data_dir, run):
    store = await open_store(data_dir, checkpoint_every=97)
    i = 0
    while True:
        stream = f"batch:{run}-{i}"
        events = [
            NewEvent(event=FrameDiscarded(camera="ne-1", zone="z", deployment_id="d", frames=k + 1))
            for k in range(BATCH)
        ]
        envs = await store.append(stream, events, expected_version=0)
        print("ack", stream, envs[-1].seq, " ".join(str(e.event_id) for e in envs), flush=True)
        i += 1

anyio.run(main, sys.argv[1], sys.argv[2])
""".replace("BATCH_SIZE", str(BATCH))


def test_sigkill_mid_append_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(1)
    acked: dict[str, list[str]] = {}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for run in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), str(run)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith("ack"), child.stderr.read() if child.stderr else first
        time.sleep(rng.uniform(0.0, 0.25))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        for line in [first, *out.splitlines()]:
            parts = line.split()
            if len(parts) == 3 + BATCH and parts[0] == "ack":
                acked[parts[1]] = parts[3:]

        log = SqliteLog(tmp_path / LOG_FILE, read_only=True)
        try:
            result = verify_log(log)
            assert result.ok, (run, result)
            records = log.read_records()
        finally:
            log.close()
        by_stream = Counter(r["stream"] for r in records)
        assert set(by_stream.values()) == {BATCH}, "a half batch is in the log"
        ids = {r["event_id"] for r in records}
        for stream, event_ids in acked.items():
            assert set(event_ids) <= ids, f"acknowledged batch {stream} lost"
        assert len(ids) == len(records)
    assert len(acked) >= 12
