"""Disk full on the SQLite engine, in a real writer process: appends go on until the disk
refuses a write; that append fails with the store's `StoreWriteError` (saying nothing of it was
kept and what to do), and so does a retry while the disk is still full; every event accepted
before is intact; once space returns the same process, without reopening, appends the failed
batch again and goes on; a fresh process reopens the log, and `lfr audit verify` passes.

Two disks: a real 1 MiB tmpfs holding the data directory (ENOSPC, SQLite's SQLITE_FULL;
needs the right to mount, as root in the CI container: skipped otherwise), and a file-size
limit (`RLIMIT_FSIZE`, EFBIG), which any user can set on the writer process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lfr.store.sqlite import LOG_FILE, SqliteLog

pytestmark = [pytest.mark.faults, pytest.mark.blocking_ok("reads the log the child left")]

ROOT = Path(__file__).resolve().parents[2]
BATCH = 20

CHILD = r"""
import json, resource, signal, sys
from pathlib import Path

import anyio

from lfr.store import StoreWriteError, open_store
from schemas import FrameDiscarded, NewEvent

data_dir, limit = Path(sys.argv[1]), int(sys.argv[2])


def say(**obj):
    print(json.dumps(obj), flush=True)


def batch(n):
    return [
        NewEvent(event=FrameDiscarded(camera="ne-1", zone="z", deployment_id="d", frames=k + 1))
        for k in range(n)
    ]


async def main():
    store = await open_store(data_dir, checkpoint_every=50)
    if limit:  # the file-size limit: EFBIG instead of the signal that would kill the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    acked, failed = [], None
    for _ in range(100_000):
        events = batch(BATCH)
        try:
            envs = await store.append("camera:ne-1", events)
        except StoreWriteError as exc:
            failed = events
            say(k="full", error=str(exc), full=exc.full, count=exc.count, acked=acked)
            break
        acked += [str(e.event_id) for e in envs]
    try:  # still full: refused the same way
        await store.append("camera:ne-1", failed)
        say(k="again", ok=True)
    except StoreWriteError as exc:
        say(k="again", ok=False, error=str(exc))
    await anyio.to_thread.run_sync(sys.stdin.readline)  # the test makes room
    if limit:
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
    envs = await store.append("camera:ne-1", failed)
    more = await store.append("camera:ne-1", batch(BATCH))
    await store.aclose()
    say(k="resumed", ids=[str(e.event_id) for e in envs + more], first_seq=envs[0].seq)


anyio.run(main)
""".replace("BATCH", str(BATCH))

REOPEN = r"""
import sys
from pathlib import Path
import anyio
from lfr.store import open_store
from schemas import FrameDiscarded, NewEvent

async def main():
    store = await open_store(Path(sys.argv[1]))
    env, = await store.append("camera:ne-1", [NewEvent(event=FrameDiscarded(
        camera="ne-1", zone="z", deployment_id="d", frames=1))])
    await store.aclose()
    print(env.seq)

anyio.run(main)
"""


def _mount(path: Path, size: str, *, remount: bool = False) -> bool:
    opts = f"remount,size={size}" if remount else f"size={size}"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.fixture(params=["tmpfs", "rlimit"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if request.param == "rlimit":
        yield "rlimit", data_dir
        return
    if os.geteuid() != 0 or not _mount(data_dir, "1m"):
        pytest.skip("cannot mount a tmpfs here (needs root); the rlimit case still runs")
    try:
        yield "tmpfs", data_dir
    finally:
        subprocess.run(["umount", "-l", str(data_dir)], check=False)


def _line(child: subprocess.Popen[str]) -> dict[str, object]:
    assert child.stdout is not None
    text = child.stdout.readline()
    assert text, child.stderr.read() if child.stderr else "the child ended"
    out: dict[str, object] = json.loads(text)
    return out


def test_a_full_disk_refuses_the_append_keeps_everything_before_and_recovers(
    disk: tuple[str, Path],
) -> None:
    kind, data_dir = disk
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    limit = 2_000_000 if kind == "rlimit" else 0
    started = time.monotonic()
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), str(limit)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as child:
        full = _line(child)
        assert full["k"] == "full", full
        error = str(full["error"])
        assert f"could not append {BATCH} event(s) to 'camera:ne-1'" in error
        assert "nothing of this write was kept and every event before it is intact" in error
        if kind == "tmpfs":  # ENOSPC: SQLite's SQLITE_FULL
            assert full["full"] is True and "free space on that disk" in error
        else:  # EFBIG comes back from SQLite as a disk I/O error, not SQLITE_FULL
            assert "disk I/O error" in error and "then retry" in error
        acked = list(full["acked"])  # type: ignore[call-overload]
        assert len(acked) >= 100

        again = _line(child)
        assert again == {"k": "again", "ok": False, "error": again["error"]}

        # While the disk is full, a reader sees exactly what was acknowledged, intact.
        log = SqliteLog(data_dir / LOG_FILE, read_only=True)
        try:
            records = log.read_records()
        finally:
            log.close()
        assert [r["event_id"] for r in records] == acked
        assert [r["seq"] for r in records] == list(range(1, len(acked) + 1))

        if kind == "tmpfs":
            assert _mount(data_dir, "16m", remount=True)  # space returns
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        resumed = _line(child)
        assert resumed["k"] == "resumed" and resumed["first_seq"] == len(acked) + 1
        assert child.wait(30) == 0, child.stderr.read() if child.stderr else ""

    reopened = subprocess.run(
        [sys.executable, "-c", REOPEN, str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert reopened.returncode == 0, reopened.stderr
    total = len(acked) + 2 * BATCH + 1
    assert int(reopened.stdout) == total

    log = SqliteLog(data_dir / LOG_FILE, read_only=True)
    try:
        records = log.read_records()
    finally:
        log.close()
    ids = [r["event_id"] for r in records]
    assert ids[: len(acked)] == acked
    assert ids[len(acked) : -1] == resumed["ids"]
    assert len(set(ids)) == len(ids) == total
    assert [r["seq"] for r in records] == list(range(1, total + 1))

    verify = subprocess.run(
        [
            str(Path(sys.executable).parent / "lfr"),
            "audit",
            "verify",
            "-d",
            str(data_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    result = json.loads(verify.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["events"] == total
    cause = re.search(r"' \((.*?)\); nothing", error)
    print(
        f"\ndisk full ({kind}): {len(acked)} events accepted before, the append refused "
        f"({cause[1] if cause else error}), 0 lost, resumed at seq {len(acked) + 1}, "
        f"{total} verified in {time.monotonic() - started:.1f} s"
    )
