"""Alert routing: escalation when nobody acknowledges, supervisor when nobody is on duty,
deduplication across cameras and across a short disappearance."""

from __future__ import annotations

from tests.actors.harness import events, harness


async def test_unacknowledged_alert_escalates_to_other_patrol_then_supervisor() -> None:
    async with harness() as h:
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        await h.site.check_in("p-2", "north-end", ("PC B",))
        await h.site.check_out("p-2")
        await h.site.check_in("p-2", "north-end", ("PC B",))
        await h.frame("ne-1", "bob")
        await h.settle()
        first = h.sink.notices[0]
        assert first.to == ("p-1", "p-2") and first.escalation_level == 0
        await h.clock.advance(29)
        await h.settle()
        assert len(h.sink.notices) == 1
        await h.clock.advance(2)  # 31 s: nobody acknowledged
        await h.settle()
        # Both patrols had it: the next level is the supervisor.
        assert h.sink.notices[-1].to == ("supervisor:north-end",)
        assert h.sink.notices[-1].escalation_level == 1
        await h.clock.advance(300)
        await h.settle()
        assert len(h.sink.notices) == 2  # the supervisor is the last level
        zone = [t for s, t in await events(h.store) if s == "zone:north-end"]
        assert zone.count("AlertEscalated") == 1


async def test_acknowledgement_stops_escalation() -> None:
    async with harness() as h:
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        await h.frame("ne-1", "bob")
        await h.settle()
        alert = h.sink.notices[0].alert
        await h.clock.advance(10)
        await h.site.acknowledge("p-1", alert.alert_id, "PC A")
        await h.clock.advance(600)
        await h.settle()
        assert len(h.sink.notices) == 1


async def test_second_patrol_on_duty_gets_the_escalation() -> None:
    async with harness() as h:
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        await h.frame("ne-1", "alice")
        await h.settle()
        await h.site.check_in("p-3", "north-end", ("PC C",))
        await h.clock.advance(31)
        await h.settle()
        assert [n.to for n in h.sink.notices] == [("p-1",), ("p-3",)]
        await h.clock.advance(31)
        await h.settle()
        assert h.sink.notices[-1].to == ("supervisor:north-end",)
        assert h.sink.notices[-1].escalation_level == 2
        # p-3 can acknowledge it: it is in its queue.
        await h.site.acknowledge("p-3", h.sink.notices[0].alert.alert_id, "PC C")


async def test_dedup_across_cameras_cooldown_and_short_disappearance() -> None:
    async with harness() as h:
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        await h.frame("ne-1", "alice")
        await h.frame("ne-2", "alice")  # other camera, same subject: no new alert
        await h.settle()
        assert len(raised(h)) == 1
        for _ in range(10):  # seen every 8 s for 80 s: still one alert
            await h.clock.advance(8)
            await h.frame("ne-2", "alice")
        await h.settle()
        assert len(raised(h)) == 1
        await h.clock.advance(61)  # gone for a while, then back: a new alert
        await h.frame("ne-1", "alice")
        await h.settle()
        assert len(raised(h)) == 2
        await h.frame("ne-1", "bob")  # another subject alerts at once
        await h.settle()
        assert len(raised(h)) == 3


def raised(h) -> list:
    return [n for n in h.sink.notices if n.escalation_level == 0]
