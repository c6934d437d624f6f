"""What the NATS fault tests share: the writer child's side file (an `intent` line before each
append, an `ack` line after it returned, one `write()` each), the servers fixture, and the
checks of the log it left: every acknowledged event once at its seq, gapless, verified. (The
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
