"""The whole story of one deployment, through the site's command interface."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lfr.kernel import CommandRejected
from tests.actors.harness import events, harness


async def test_arming_needs_deployment_and_patrol_and_alerts_flow() -> None:
    async with harness() as h:
        site = h.site
        # Frames before anything: nothing analysed.
        await h.frame("ne-1", "alice")
        assert h.recogniser.calls == 0
        dep = await h.deploy()
        st = await site.zone_status("north-end")
        assert st.armed_deployment is None  # no patrol on duty yet
        await h.frame("ne-1", "alice")
        assert h.recogniser.calls == 0

        await site.check_in("p-1", "north-end", ("PC Jones 101", "PC Patel 102"))
        st = await site.zone_status("north-end")
        assert st.armed_deployment == dep.deployment_id

        await h.frame("ne-1", "carol", "dave")  # no match: counted only
        await h.frame("ne-2", "alice")  # match -> alert to p-1
        await h.settle()
        assert h.recogniser.calls == 2
        notices = await h.sink.wait_for(1)
        alert = notices[0].alert
        assert notices[0].to == ("p-1",)
        assert alert.entry_id == "alice" and alert.camera == "ne-2"

        # Same subject on another camera within the cooldown: no second alert.
        await h.frame("ne-1", "alice")
        await h.settle()
        assert len(h.sink.notices) == 1

        await site.acknowledge("p-1", alert.alert_id, "PC Jones 101")
        with pytest.raises(CommandRejected) as err:
            await site.record_engagement("p-1", alert.alert_id, "PC Jones 101", "arrested")
        assert err.value.code == "needs_two_confirmations"
        await site.adjudicate("p-1", alert.alert_id, "PC Jones 101", "confirmed")
        with pytest.raises(CommandRejected):
            await site.record_engagement("p-1", alert.alert_id, "PC Jones 101", "arrested")
        await site.adjudicate("p-1", alert.alert_id, "PC Patel 102", "confirmed")
        await site.record_engagement("p-1", alert.alert_id, "PC Jones 101", "arrested")

        await site.check_out("p-1")
        st = await site.zone_status("north-end")
        assert st.armed_deployment is None
        calls = h.recogniser.calls
        await h.frame("ne-1", "alice")
        assert h.recogniser.calls == calls

        # The window closes: the deployment ends and its watchlist is purged.
        await h.clock.advance(3 * 3600)
        await h.settle()
        assert "wl-1" in h.watchlists.purged

        log = await events(h.store)
        types = [t for s, t in log if s == "zone:north-end"]
        assert types == [
            "DeploymentAuthorised",
            "DeploymentArmed",
            "AlertRaised",
            "AlertDispatched",
            "DeploymentDisarmed",
            "DeploymentEnded",
            "BiometricPurged",
        ]
        cam = [t for s, t in log if s.startswith("camera:")]
        assert cam.count("FaceMatched") == 2
        assert "FrameDiscarded" in cam
        patrol = [t for s, t in log if s == "patrol:p-1"]
        assert patrol == [
            "PatrolCheckedIn",
            "AlertAcknowledged",
            "AlertAdjudicated",
            "AlertAdjudicated",
            "EngagementRecorded",
            "PatrolCheckedOut",
        ]


async def test_a_watchlist_version_armed_in_one_zone_is_refused_in_another() -> None:
    async with harness() as h:
        north = await h.deploy("north-end")
        with pytest.raises(CommandRejected) as err:
            await h.deploy("london-road")
        assert err.value.code == "watchlist_held"
        assert f"held by deployment {north.deployment_id} in zone north-end" in err.value.reason
        assert "publish a version for zone london-road" in err.value.reason
        assert not (await h.site.zone_status("london-road")).deployments
        h.watchlists.publish("wl-lr", {"bob": "Bob"}, published_at=h.clock.now())
        await h.deploy("london-road", watchlist_version="wl-lr")  # its own version: fine


async def test_deployment_rules_reject_with_reasons() -> None:
    async with harness() as h:
        now = h.clock.now()
        with pytest.raises(CommandRejected) as err:
            await h.deploy(watchlist_version="nope")
        assert err.value.code == "watchlist_unknown"
        with pytest.raises(CommandRejected) as err:
            await h.deploy(starts_at=now + timedelta(hours=30), ends_at=now + timedelta(hours=31))
        assert err.value.code == "watchlist_stale"
        with pytest.raises(CommandRejected) as err:
            await h.deploy(threshold=1.5)
        assert err.value.code == "threshold_invalid"
        with pytest.raises(CommandRejected) as err:
            await h.deploy(cameras=("lr-1",))
        assert err.value.code == "unknown_camera"
        await h.deploy()
        with pytest.raises(CommandRejected) as err:
            await h.deploy()
        assert err.value.code == "watchlist_used"  # bespoke to one deployment
        h.watchlists.publish("wl-2", {"alice": "Alice"}, published_at=now)
        with pytest.raises(CommandRejected) as err:
            await h.deploy(watchlist_version="wl-2")
        assert err.value.code == "deployment_overlap"
