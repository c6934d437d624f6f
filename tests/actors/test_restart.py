"""Domain actors killed mid-work restart from their streams (SQLite and in memory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lfr.kernel import ActorCrashedError, Crash
from lfr.store.base import EventStore
from lfr.store.memory import InMemoryEventStore
from lfr.store.sqlite import SqliteEventStore
from tests.actors.harness import SITE, events, harness
from tests.actors.invariants import check_log


@pytest.fixture(params=["memory", "sqlite"])
async def store(request, tmp_path: Path):
    if request.param == "memory":
        yield InMemoryEventStore()
    else:
        s = await SqliteEventStore.open(tmp_path / "events.sqlite")
        yield s
        await s.aclose()


async def crash(h, name: str) -> None:
    with pytest.raises(ActorCrashedError):
        await h.site.ref(name).ask(Crash("test"))


async def test_crashes_restart_from_stream_without_lost_or_duplicated_events(
    store: EventStore,
) -> None:
    async with harness(store=store) as h:
        dep = await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A", "PC B"))
        await h.frame("ne-1", "alice")
        await h.settle()
        alert = h.sink.notices[0].alert
        before = await events(store)

        for name in ("zone:north-end", "patrol:p-1", "camera:ne-1"):
            await crash(h, name)
        await h.settle()
        # Restarts rebuilt the same state: armed, patrol on duty, the alert queued.
        zone = await h.site.zone_status("north-end")
        assert zone.armed_deployment == dep.deployment_id
        assert zone.patrols_on_duty == ("p-1",)
        assert alert.alert_id in zone.open_alerts
        patrol = await h.site.patrol_status("p-1")
        assert alert.alert_id in patrol.queue

        # Work goes on: acknowledgement and a 2-officer engagement.
        await h.site.acknowledge("p-1", alert.alert_id, "PC A")
        await h.site.adjudicate("p-1", alert.alert_id, "PC A", "confirmed")
        await crash(h, "patrol:p-1")
        await h.site.adjudicate("p-1", alert.alert_id, "PC B", "confirmed")
        await h.site.record_engagement("p-1", alert.alert_id, "PC B", "arrested")
        await h.frame("ne-1", "carol")
        await h.site.check_out("p-1")
        after = await events(store)
        log = await store.read_all()
        check_log(log)
        # Nothing recorded before the crashes was lost or repeated.
        assert after[: len(before)] == before
        restarts = [e for e in log if e.type == "ActorRestarted"]
        assert [e.payload["actor"] for e in restarts] == [
            "zone:north-end",
            "patrol:p-1",
            "camera:ne-1",
            "patrol:p-1",
        ]
        assert all(e.payload["error_type"] == "InjectedCrash" for e in restarts)
        assert [t for s, t in after if s == "zone:north-end"].count("AlertRaised") == 1


async def test_zone_restarted_after_patrol_left_disarms_its_cameras() -> None:
    async with harness() as h:
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        cam = await h.site.camera_status("ne-1")
        assert cam.armed_deployment is not None
        await crash(h, "zone:north-end")
        await h.site.check_out("p-1")
        await h.settle()
        assert (await h.site.camera_status("ne-1")).armed_deployment is None
        calls = h.recogniser.calls
        await h.frame("ne-1", "alice")
        assert h.recogniser.calls == calls
        check_log(await h.store.read_all())


async def test_spent_budget_escalates_and_the_zone_subtree_restarts() -> None:
    config = dict(SITE, supervision={"intensity": 2, "period_s": 60, "backoff_s": 0})
    async with harness(config) as h:
        dep = await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        for _ in range(3):
            await crash(h, "camera:ne-2")
        await h.settle()
        # The zone subtree was restarted by the site: armed again from its stream.
        zone = await h.site.zone_status("north-end")
        assert zone.armed_deployment == dep.deployment_id
        assert (await h.site.camera_status("ne-2")).armed_deployment == dep.deployment_id
        log = await h.store.read_all()
        actors = [e.payload["actor"] for e in log if e.type == "ActorRestarted"]
        assert actors == ["camera:ne-2", "camera:ne-2", "zone:north-end/sup"]
        await h.frame("ne-2", "alice")
        await h.settle()
        assert len(h.sink.notices) == 1
