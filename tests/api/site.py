"""A small site for API tests: it records the same events the actors do, in a real store,
with the rules the API relies on (patrol on duty, two different confirmations), and raises an
alert on demand the way a zone does (record `AlertRaised`, deliver via the sink, record
`AlertDispatched`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from lfr.alerts import AlertNotice, AlertSink
from lfr.kernel import CommandRejected
from lfr.store.base import EventStore
from schemas.envelope import NewEvent
from schemas.events import (
    AlertAcknowledged,
    AlertAdjudicated,
    AlertDispatched,
    AlertRaised,
    BiometricRef,
    DeploymentArmed,
    DeploymentAuthorised,
    DeploymentEnded,
    EngagementRecorded,
    PatrolCheckedIn,
    PatrolCheckedOut,
)


class LogSite:
    def __init__(self, store: EventStore, sink: AlertSink | None = None) -> None:
        self.store = store
        self.sink = sink
        self.patrol_zone: dict[str, str] = {}
        self.deployments: dict[str, str] = {}
        self.confirmed: dict[str, list[str]] = {}

    async def _emit(self, stream: str, *events) -> None:
        await self.store.append(stream, [NewEvent(event=e) for e in events])

    async def authorise_deployment(
        self,
        zone,
        *,
        starts_at,
        ends_at,
        watchlist_version,
        threshold,
        legal_basis,
        reason,
        authorised_by,
        cameras=None,
    ):
        dep = f"dep-{uuid.uuid4().hex[:8]}"
        self.deployments[dep] = zone
        await self._emit(
            f"zone:{zone}",
            DeploymentAuthorised(
                deployment_id=dep,
                zone=zone,
                cameras=tuple(cameras or ("ne-1",)),
                starts_at=starts_at,
                ends_at=ends_at,
                watchlist_version=watchlist_version,
                watchlist_size=1,
                threshold=threshold,
                legal_basis=legal_basis,
                reason=reason,
                authorised_by=authorised_by,
            ),
        )
        return dep

    async def cancel_deployment(self, zone, deployment_id, *, cancelled_by, note=None):
        if self.deployments.get(deployment_id) != zone:
            raise CommandRejected(
                f"zone:{zone}", "unknown_deployment", f"no deployment {deployment_id}"
            )
        await self._emit(
            f"zone:{zone}",
            DeploymentEnded(
                deployment_id=deployment_id,
                zone=zone,
                reason="cancelled",
                ended_by=cancelled_by,
                note=note,
            ),
        )

    async def check_in(self, patrol_id, *, zone, officers, callsign=None):
        self.patrol_zone[patrol_id] = zone
        await self._emit(
            f"patrol:{patrol_id}",
            PatrolCheckedIn(patrol_id=patrol_id, zone=zone, officers=officers, callsign=callsign),
        )
        for dep, z in self.deployments.items():
            if z == zone:
                await self._emit(
                    f"zone:{zone}",
                    DeploymentArmed(
                        deployment_id=dep,
                        zone=zone,
                        reason="patrol_on_duty",
                        patrols_on_duty=(patrol_id,),
                    ),
                )

    async def check_out(self, patrol_id, *, reason="end_of_duty"):
        if patrol_id not in self.patrol_zone:
            raise CommandRejected(f"patrol:{patrol_id}", "not_on_duty", "the patrol is not on duty")
        await self._emit(
            f"patrol:{patrol_id}",
            PatrolCheckedOut(
                patrol_id=patrol_id, zone=self.patrol_zone.pop(patrol_id), reason=reason
            ),
        )

    async def acknowledge(self, patrol_id, alert_id, *, officer):
        await self._emit(
            f"patrol:{patrol_id}",
            AlertAcknowledged(alert_id=alert_id, patrol_id=patrol_id, officer=officer),
        )

    async def adjudicate(self, patrol_id, alert_id, *, officer, verdict, note=None):
        if verdict == "confirmed":
            if officer in self.confirmed.get(alert_id, []):
                raise CommandRejected(
                    f"patrol:{patrol_id}",
                    "already_confirmed",
                    f"{officer} has already confirmed {alert_id}",
                )
            self.confirmed.setdefault(alert_id, []).append(officer)
        await self._emit(
            f"patrol:{patrol_id}",
            AlertAdjudicated(
                alert_id=alert_id, patrol_id=patrol_id, officer=officer, verdict=verdict, note=note
            ),
        )

    async def record_engagement(
        self, patrol_id, alert_id, *, engagement_officer, outcome, note=None
    ):
        who = self.confirmed.get(alert_id, [])
        if len(set(who)) < 2:
            raise CommandRejected(
                f"patrol:{patrol_id}",
                "needs_two_confirmations",
                "two different officers must confirm first",
            )
        await self._emit(
            f"patrol:{patrol_id}",
            EngagementRecorded(
                alert_id=alert_id,
                patrol_id=patrol_id,
                engagement_officer=engagement_officer,
                confirmed_by=(who[0], who[1]),
                outcome=outcome,
                note=note,
            ),
        )

    async def raise_alert(
        self,
        zone: str,
        patrols: tuple[str, ...],
        *,
        crop_ref: BiometricRef | None = None,
        reference_ref: BiometricRef | None = None,
        label: str = "Case 42",
    ) -> str:
        alert_id = f"al-{uuid.uuid4().hex[:8]}"
        dep = next((d for d, z in self.deployments.items() if z == zone), "dep-x")
        alert = AlertRaised(
            alert_id=alert_id,
            match_id=f"m-{alert_id}",
            zone=zone,
            camera="ne-1",
            deployment_id=dep,
            watchlist_version="v1",
            entry_id="e-1",
            subject_label=label,
            category="wanted_by_police",
            similarity=0.71,
            threshold=0.6,
            frame_at=datetime.now(UTC),
            crop_ref=crop_ref,
            reference_ref=reference_ref,
        )
        await self._emit(f"zone:{zone}", alert)
        if self.sink is not None:
            await self.sink.deliver(AlertNotice(alert, patrols))
        await self._emit(
            f"zone:{zone}", AlertDispatched(alert_id=alert_id, zone=zone, patrol_ids=patrols)
        )
        return alert_id


def window():
    now = datetime.now(UTC)
    return now - timedelta(minutes=1), now + timedelta(hours=2)
