"""The demo's script, played on the running site: officers' devices subscribe, the
supervisor authorises each zone's deployment, patrols check in, people walk past, London
Road's patrol checks out (its zone disarms, people keep walking), the windows close and
each zone's watchlist is purged; officers review the alerts in hand before the end.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import anyio

from actors.system import Site
from actors.zone import ZoneStatus
from lfr.demo.dashboard import DemoUI, refresh_view
from lfr.demo.evidence import clip_origins
from lfr.demo.judge import Judge
from lfr.demo.officers import OfficerDesk
from lfr.demo.scenario import CAMERAS, ZONES, Scenario
from lfr.demo.site import CHECKING_OUT, PATROLS, Observations
from lfr.telemetry import Telemetry

__all__ = ["play_script"]


async def play_script(
    site: Site,
    *,
    seconds: float,
    threshold: float,
    versions: dict[str, str],
    scenario: Scenario,
    ui: DemoUI,
    tel: Telemetry,
    judge: Judge,
    observations: Observations,
) -> None:
    """Play the scenario for `seconds` on `site` (whose alert services must be running:
    the officers' devices subscribe to its broker)."""
    assert site.alerts is not None, "the demo site runs its alert services"
    view = ui.view
    claimed: set[str] = set()
    async with anyio.create_task_group() as devices:
        for patrol in PATROLS:
            # the broker refuses anonymous devices: each patrol's gets its own login,
            # reading only its own patrol's topics (as `lfr ops mosquitto` grants)
            device = site.alerts.device_config(
                patrol.patrol_id, patrol.zone, client_id=f"device-{patrol.patrol_id}"
            )
            desk = OfficerDesk(
                site=site,
                mqtt=device,
                judge=judge.check,
                seen=observations.seen,
                log_line=ui.log,
                claimed=claimed,
            )
            await devices.start(desk.run_patrol, patrol)
        t0 = datetime.now(UTC)
        mono0 = time.monotonic()
        ends_at = t0 + timedelta(seconds=seconds)
        ui.phase("supervisor authorises deployments")
        for zone, (title, cams) in ZONES.items():
            dep = await site.authorise_deployment(
                zone,
                starts_at=t0 - timedelta(seconds=1),
                ends_at=ends_at,
                watchlist_version=versions[zone],
                threshold=threshold,
                legal_basis="Common law policing powers; DPA 2018 Part 3 s.35 "
                "(sensitive processing)",
                reason=f"{title}: violent crime and wanted offenders in the night-time economy; "
                "less intrusive means tried (demo)",
                authorised_by="Supt 1234 A. Authorising-Officer",
                cameras=cams,
            )
            ui.log(
                f"deployment {dep.deployment_id} authorised for {title} until "
                f"{ends_at:%H:%M:%S} (threshold {threshold:.2f})"
            )
        ui.phase("patrols check in")
        for patrol in PATROLS:
            await site.check_in(patrol.patrol_id, patrol.zone, patrol.officers, patrol.callsign)
            ui.log(
                f"{patrol.callsign} ({', '.join(patrol.officers)}) checked in at "
                f"{ZONES[patrol.zone][0]}"
            )
        checked_out = False
        ui.phase("cameras armed: people walking past")
        while True:
            elapsed = time.monotonic() - mono0
            view.elapsed_s = elapsed
            if judge.stream_started is None or len(judge.stream_started) < len(CAMERAS):
                judge.stream_started = clip_origins(await _stream_starts(site), judge.site_started)
            if not checked_out and elapsed >= scenario.checkout_s:
                await site.check_out(CHECKING_OUT)
                checked_out = True
                ui.phase("London Road patrol checked out: zone disarmed, people still walking")
                ui.log("LR-Charlie checked out: London Road cameras disarmed")
            await refresh_view(ui, site, tel, observations.seen)
            if elapsed >= seconds + 0.5:
                break
            await anyio.sleep(0.5)
        ui.phase("deployments end, their watchlists purged")
        with anyio.move_on_after(15):
            while True:
                statuses = [await site.zone_status(z) for z in ZONES]
                if all(_ended(s) for s in statuses):
                    break
                await anyio.sleep(0.25)
        with anyio.move_on_after(8):  # let officers finish the reviews in hand
            while any(s.state in ("received", "acknowledged") for s in observations.seen.values()):
                await refresh_view(ui, site, tel, observations.seen)
                await anyio.sleep(0.25)
        await refresh_view(ui, site, tel, observations.seen)
        devices.cancel_scope.cancel()


def _ended(status: ZoneStatus) -> bool:
    """Every deployment of the zone ended and its watchlist purge recorded."""
    return all(d.ended and d.purged for d in status.deployments)


async def _stream_starts(site: Site) -> dict[str, datetime]:
    """When each camera's video first arrived, as the site's views hold it."""
    assert site.views is not None  # (open_site builds them)
    return {c.camera: c.first_started_at for c in await site.views.cameras() if c.first_started_at}
