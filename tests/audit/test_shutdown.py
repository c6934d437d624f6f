"""Every shutdown path signs the log's tail and publishes it to the witness: `lfr run` and
`lfr serve --config` stopped with SIGTERM leave no unsigned event behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lfr.store.sqlite import LOG_FILE, SqliteLog
from lfr.store.verify import Anchor, verify_log
from lfr.store.witness import read_witness_file

ROOT = Path(__file__).resolve().parents[2]


def site_toml(tmp_path: Path) -> Path:
    witness = tmp_path / "auditor" / "site.witness"
    site = tmp_path / "site.toml"
    site.write_text(
        'name = "smoke"\n[vision]\nrecogniser = "scripted"\ndecider = "per_frame"\n'
        "crop_vault = false\n[log]\ncheckpoint_interval_s = 3600\n"
        f'witness = "{witness}"\n[[zones]]\nname = "north-end"\n[[cameras]]\nid = "ne-1"\n'
        'zone = "north-end"\nsource = "scripted:alice,,bob|carol"\nanalyse_fps = 20\n'
        '[[patrols]]\nid = "p-1"\n'
    )
    return site


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def events(tmp_path: Path) -> int:
    if not (tmp_path / "data" / LOG_FILE).exists():
        return 0
    log = SqliteLog(tmp_path / "data" / LOG_FILE, read_only=True)
    try:
        return log.last_seq()
    finally:
        log.close()


def run_until(args: list[str], ready: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LFR_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from lfr.cli import main; main()", *args],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        seen.append(line)
        if ready in line or time.monotonic() > deadline:
            break
    assert any(ready in line for line in seen), "".join(seen)
    while time.monotonic() < deadline and events(tmp_path) == 0:  # something to sign
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    try:
        rest = proc.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, "", "".join(seen) + rest)


def check_signed_and_witnessed(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "data" / LOG_FILE, read_only=True)
    try:
        held = read_witness_file(tmp_path / "auditor" / "site.witness")
        anchors = [Anchor(e.checkpoint, "the witness") for e in held.of_log(log.log_id)]
        result = verify_log(log, anchors=anchors)
    finally:
        log.close()
    assert result.ok, result.problem
    assert result.events >= 1 and result.unsigned_tail == 0
    assert result.anchored_size == result.events  # the tail's checkpoint reached the witness


def test_lfr_run_signs_its_tail_on_sigterm(tmp_path: Path) -> None:
    proc = run_until(["run", "--config", str(site_toml(tmp_path))], "ready", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "SIGTERM, stopping" in proc.stderr
    check_signed_and_witnessed(tmp_path)


@pytest.mark.timeout(180)
def test_lfr_serve_signs_its_tail_on_sigterm(tmp_path: Path) -> None:
    args = ["serve", "--config", str(site_toml(tmp_path)), "--port", "0"]
    args += ["--broker-port", str(free_port()), "--broker-ws-port", str(free_port())]
    proc = run_until(args, "lfr serving", tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_signed_and_witnessed(tmp_path)
