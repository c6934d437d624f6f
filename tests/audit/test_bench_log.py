"""`lfr bench log --data-dir D` leaves a log that the audit tools accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lfr.cli import app

runner = CliRunner()


@pytest.mark.blocking_ok("the benchmark runs its timed stages inline on an otherwise idle loop")
def test_bench_log_leaves_a_verifiable_log(tmp_path: Path) -> None:
    d = tmp_path / "site"
    res = runner.invoke(
        app,
        ["bench", "log", "--json", "--events", "3000", "--single", "20", "--batch", "500"]
        + ["--data-dir", str(d), "--peer"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in ("append_batched_eps", "append_single_eps", "replay_eps"):
        assert out[key] > 0 and out[f"peer_{key}"] > 0
    assert out["replayed_events"] == out["events"] + out["single_events"]
    assert out["counts_first_deployment"]["frames_discarded"] > 0
    verify = runner.invoke(app, ["audit", "verify", "--data-dir", str(d), "--json"])
    assert verify.exit_code == 0 and json.loads(verify.stdout)["events"] == out["replayed_events"]
    export = runner.invoke(app, ["audit", "export", "--data-dir", str(d)])
    assert len(export.stdout.splitlines()) == out["replayed_events"]
    again = runner.invoke(app, ["bench", "log", "--data-dir", str(d), "--events", "10"])
    assert again.exit_code == 1 and "already holds an event log" in " ".join(again.stderr.split())


@pytest.mark.nats
@pytest.mark.blocking_ok("waits on its writer processes")
def test_bench_log_partitions_appends_from_processes_and_verifies() -> None:
    """Two writer processes, two partitions of one log: every event counted, every partition
    and the heads statements verified, the bench's streams gone after."""
    res = runner.invoke(
        app,
        ["bench", "log", "--engine", "nats", "--partitions", "2", "--events", "6000"]
        + ["--batch", "500", "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["partitioned"]["events"] == out["verified_events"] >= 6000
    assert len(out["partitioned"]["per_writer_eps"]) == 2
    assert out["verified"] and out["problems"] == [] and out["heads_statements"] >= 2
    assert out["partitioned"]["append_eps"] > 0 and out["single_partition"]["append_eps"] > 0
    assert out["log"] is None  # dropped
    refused = runner.invoke(app, ["bench", "log", "--partitions", "2"])
    assert refused.exit_code == 1 and "nats" in refused.stderr
