"""`lfr audit export` of a scripted run tells the whole story, in order, and nothing about
the people who did not match."""

from __future__ import annotations

from pathlib import Path

import anyio
import orjson
from typer.testing import CliRunner

from lfr.cli import app
from lfr.store import open_store
from tests.actors.harness import harness


async def test_audit_export_shows_the_story_in_order(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        async with harness(store=store) as h:
            site = h.site
            await h.frame("ne-1", "carol")  # before any deployment: ignored, never analysed
            dep = await h.deploy(hours=1)
            await site.check_in("p-1", "north-end", ("PC Jones 101", "PC Patel 102"))
            await h.frame("ne-1", "carol", "lowq:dave")
            await h.frame("ne-2", "alice")
            await h.settle()
            alert = h.sink.notices[0].alert
            await site.acknowledge("p-1", alert.alert_id, "PC Jones 101")
            await site.adjudicate("p-1", alert.alert_id, "PC Jones 101", "confirmed")
            await site.adjudicate("p-1", alert.alert_id, "PC Patel 102", "confirmed")
            await site.record_engagement("p-1", alert.alert_id, "PC Patel 102", "arrested")
            await site.check_out("p-1")
            await h.clock.advance(3600)
            await h.settle()
    finally:
        await store.aclose()

    out = tmp_path / "export.ndjson"
    runner = CliRunner()
    args = ["audit", "export", "-d", str(tmp_path), "-o", str(out)]
    result = await anyio.to_thread.run_sync(runner.invoke, app, args)  # a CLI blocks
    assert result.exit_code == 0, result.output
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    story = [(r["stream"], r["type"]) for r in records if r["type"] not in ("CameraStreamStarted",)]
    assert story == [
        ("zone:north-end", "DeploymentAuthorised"),
        ("patrol:p-1", "PatrolCheckedIn"),
        ("zone:north-end", "DeploymentArmed"),
        ("camera:ne-2", "FaceMatched"),
        ("zone:north-end", "AlertRaised"),
        ("zone:north-end", "AlertDispatched"),
        ("patrol:p-1", "AlertAcknowledged"),
        ("patrol:p-1", "AlertAdjudicated"),
        ("patrol:p-1", "AlertAdjudicated"),
        ("patrol:p-1", "EngagementRecorded"),
        ("patrol:p-1", "PatrolCheckedOut"),
        ("camera:ne-1", "FrameDiscarded"),  # counts flushed as the zone disarms its cameras
        ("zone:north-end", "DeploymentDisarmed"),
        ("zone:north-end", "DeploymentEnded"),
        ("zone:north-end", "BiometricPurged"),
    ]
    by_type = {r["type"]: r["payload"] for r in records}
    assert by_type["DeploymentArmed"]["deployment_id"] == dep.deployment_id
    assert by_type["DeploymentDisarmed"]["reason"] == "last_patrol_left"
    assert by_type["DeploymentEnded"]["reason"] == "window_closed"
    assert by_type["FrameDiscarded"]["faces_seen"] == 2
    assert by_type["FrameDiscarded"]["faces_below_quality"] == 1
    assert by_type["EngagementRecorded"]["confirmed_by"] == ["PC Jones 101", "PC Patel 102"]
    alert_rec = next(r for r in records if r["type"] == "AlertRaised")
    match_rec = next(r for r in records if r["type"] == "FaceMatched")
    assert alert_rec["causation_id"] == match_rec["event_id"]
    text = out.read_text()
    assert "carol" not in text and "dave" not in text  # non-matches leave no identity
    verify = await anyio.to_thread.run_sync(
        lambda: runner.invoke(app, ["audit", "verify", "-d", str(tmp_path)])
    )
    assert verify.exit_code == 0, verify.output
