from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import pytest

from lfr.projections import ProjectionError, ViewDb, Views
from lfr.store import SqliteEventStore, open_store
from lfr.store.hashchain import record_of_envelope
from lfr.store.sqlite import SqliteLog
from lfr.testing.logs import synthetic_log
from schemas import EVENT_TYPES, NewEvent
from schemas.registry import Event


def scenario(n: int = 3000, batch: int = 200):
    return list(synthetic_log(n, batch=batch, match_every=40))


async def fill(store: SqliteEventStore, batches) -> None:
    for stream, events in batches:
        await store.append(stream, events)


def expected_counts(batches) -> Counter:
    c: Counter = Counter()
    verdicts: dict[str, str] = {}
    for _, events in batches:
        for ne in events:
            e = ne.event
            t = ne.type
            if t == "FrameDiscarded":
                c["frames_discarded"] += e.frames
                c["frames_analysed"] += e.frames
                c["faces_seen"] += e.faces_seen
            elif t == "FaceMatched":
                c["matches"] += 1
                c["frames_analysed"] += 1
                c["faces_seen"] += 1
            elif t == "AlertRaised":
                c["alerts"] += 1
            elif t == "AlertAdjudicated":
                verdicts[e.alert_id] = e.verdict
            elif t == "EngagementRecorded":
                c["engagements"] += 1
    c["true_alerts"] = sum(v == "confirmed" for v in verdicts.values())
    c["false_alerts"] = sum(v == "false_alert" for v in verdicts.values())
    return c


async def test_views_fold_a_realistic_log(tmp_path: Path) -> None:
    batches = scenario()
    store = await open_store(tmp_path)
    views = await Views.open(tmp_path)
    try:
        await fill(store, batches)
        pos = await views.catch_up(store, batch=700)
        assert pos == await store.last_seq()
        [dep] = await views.deployments()
        want = expected_counts(batches)
        got = dep.counts.model_dump()
        for key in ("frames_discarded", "frames_analysed", "faces_seen", "matches", "alerts"):
            assert got[key] == want[key], key
        assert (dep.counts.true_alerts, dep.counts.false_alerts) == (
            want["true_alerts"],
            want["false_alerts"],
        )
        assert dep.counts.engagements == want["engagements"] > 0
        assert dep.status == "ended" and dep.authorised_by.startswith("Supt")
        kinds = [t.type for t in dep.timeline]
        assert kinds[:3] == ["DeploymentAuthorised", "PatrolCheckedIn", "DeploymentArmed"]
        assert "FrameDiscarded" not in kinds and kinds[-1] == "DeploymentEnded"

        alerts = await views.alerts(zone="north-end", limit=1000)
        assert len(alerts) == want["alerts"]
        engaged = [a for a in alerts if a.state == "engaged"]
        assert engaged and all(a.confirmed_by == ("PC 101", "PC 102") for a in engaged)
        one = await views.alert(engaged[0].alert_id)
        assert one == engaged[0]
        assert one.acknowledged_by == "PC 101" and one.acknowledged_patrol == "p-7"
        assert one.dispatched_to == ("p-7",) and one.outcome == "spoken_to"
        assert one.similarity >= one.threshold and one.subject_label.startswith("Subject")
        assert len(await views.alerts(patrol="p-7", limit=1000)) == len(alerts)
        assert await views.alerts(patrol="p-99") == []
        assert await views.alerts(zone="london-road") == []
        falses = await views.alerts(state="adjudicated", limit=1000)
        assert all(a.verdict == "false_alert" for a in falses)
        assert await views.alert("nope") is None
    finally:
        await views.aclose()
        await store.aclose()


@pytest.mark.blocking_ok("the test body reads the log, the views or the watchlist files directly")
async def test_live_views_equal_a_rebuild_from_zero(tmp_path: Path) -> None:
    batches = scenario(4000, batch=150)
    store = await open_store(tmp_path)
    views = await Views.open(tmp_path)
    try:
        half = len(batches) // 2
        await fill(store, batches[:half])
        async with anyio.create_task_group() as tg:
            await tg.start(views.run, store)
            await fill(store, batches[half:])
            with anyio.fail_after(30):
                await views.wait_for(await store.last_seq())
            tg.cancel_scope.cancel()
        live = await views.state_hash()
        rebuilt = await anyio.to_thread.run_sync(lambda: ViewDb())
        records = await store.read_records()
        rebuilt.apply(records)
        assert rebuilt.state_hash() == live
        assert rebuilt.report().deployments == (await views.report()).deployments
        other = await anyio.to_thread.run_sync(lambda: ViewDb())
        for i in range(0, len(records), 333):
            other.apply(records[i : i + 333])
        assert other.state_hash() == live
        streamed = await anyio.to_thread.run_sync(lambda: ViewDb())
        log = await anyio.to_thread.run_sync(lambda: SqliteLog(store.path, read_only=True))
        try:  # two replays of 1500, the second overlapping the first: nothing twice
            assert streamed.apply_chunks(log.iter_records(limit=1500, chunk=97)) == 1500
            assert streamed.apply_chunks(log.iter_records(from_seq=1400, chunk=256)) == len(records)
        finally:
            log.close()
        assert streamed.state_hash() == live
    finally:
        await views.aclose()
        await store.aclose()


@pytest.mark.blocking_ok("the test body reads the log, the views or the watchlist files directly")
async def test_views_resume_from_their_checkpoint(tmp_path: Path) -> None:
    batches = scenario(1500)
    store = await open_store(tmp_path)
    try:
        await fill(store, batches[:3])
        v = await Views.open(tmp_path)
        first = await v.catch_up(store)
        await v.aclose()
        await fill(store, batches[3:])
        v = await Views.open(tmp_path)
        assert await v.position() == first
        await v.catch_up(store)
        resumed = await v.state_hash()
        await v.aclose()
        fresh = await anyio.to_thread.run_sync(lambda: ViewDb())
        fresh.apply(await store.read_records())
        assert fresh.state_hash() == resumed
    finally:
        await store.aclose()


@pytest.mark.blocking_ok("the test body reads the log, the views or the watchlist files directly")
async def test_a_failing_batch_leaves_view_and_position_unchanged(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        await fill(store, scenario(600))
        records = await store.read_records()
        db = await anyio.to_thread.run_sync(lambda: ViewDb())
        db.apply(records[:100])
        before = (db.position(), db.state_hash())
        broken = [dict(r) for r in records[100:200]]
        for r in broken:
            if r["type"] == "FrameDiscarded":
                r["payload"] = {k: v for k, v in r["payload"].items() if k != "frames"}
        with pytest.raises(ProjectionError, match="does not fit"):
            db.apply(broken)
        assert (db.position(), db.state_hash()) == before
        with pytest.raises(ProjectionError, match="gap"):
            db.apply(records[150:160])
        db.apply(records[100:])
        assert db.position() == records[-1]["seq"]
    finally:
        await store.aclose()


@pytest.mark.blocking_ok("the test body reads the log, the views or the watchlist files directly")
async def test_unknown_type_and_future_version_name_the_position(tmp_path: Path) -> None:
    class _Ghost(Event):
        SCHEMA_VERSION = 3
        x: int

    store = await open_store(tmp_path)
    try:
        await fill(store, scenario(300))
        [env] = await store.append("zone:x", [NewEvent(event=_Ghost(x=1))])
        record = record_of_envelope(env)
        db = await anyio.to_thread.run_sync(lambda: ViewDb(source="events.sqlite"))
        db.apply(await store.read_records(limit=env.seq - 1))
        _Ghost.SCHEMA_VERSION = 2
        with pytest.raises(ProjectionError, match=f"events.sqlite at seq {env.seq}.*knows up to 2"):
            db.apply([record])
        EVENT_TYPES.pop("_Ghost")
        with pytest.raises(ProjectionError, match=f"at seq {env.seq}.*unknown event type"):
            db.apply([record])
        assert db.position() == env.seq - 1
    finally:
        EVENT_TYPES.pop("_Ghost", None)
        await store.aclose()


async def test_run_ends_when_the_store_closes(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    views = await Views.open(tmp_path)
    try:
        await fill(store, scenario(300))
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                await tg.start(views.run, store)
                assert await views.position() == await store.last_seq()
                await store.aclose()  # the subscription ends, so does run()
    finally:
        await views.aclose()
        await store.aclose()
