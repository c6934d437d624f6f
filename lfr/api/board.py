"""The API's read model: alerts, zones and patrols folded from the event log.

It catches up from the store before every read (`refresh`), so an officer who has just
acknowledged sees their own acknowledgement. It holds labels and references, never image
bytes; images are fetched from the vault on request, by authorised callers only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import anyio

from lfr.store.base import EventStore
from schemas.envelope import Envelope
from schemas.events import (
    AlertAcknowledged,
    AlertAdjudicated,
    AlertDispatched,
    AlertEscalated,
    AlertRaised,
    BiometricRef,
    DeploymentArmed,
    DeploymentAuthorised,
    DeploymentDisarmed,
    DeploymentEnded,
    EngagementRecorded,
    PatrolCheckedIn,
    PatrolCheckedOut,
)
from schemas.registry import Event

__all__ = ["AlertState", "Board", "PatrolState", "ZoneState"]


@dataclass
class AlertState:
    raised: AlertRaised
    raised_at: datetime
    traceparent: str | None
    patrol_ids: list[str] = field(default_factory=list)
    dispatched_at: datetime | None = None
    escalation_level: int = 0
    acknowledged_by: list[str] = field(default_factory=list)
    confirmed_by: list[str] = field(default_factory=list)
    false_alert_by: list[str] = field(default_factory=list)
    engagement: EngagementRecorded | None = None

    @property
    def status(self) -> str:
        if self.engagement is not None:
            return "engaged"
        if self.confirmed_by or self.false_alert_by:
            return "adjudicated"
        if self.acknowledged_by:
            return "acknowledged"
        return "raised"

    def ref(self, kind: str) -> BiometricRef | None:
        return self.raised.crop_ref if kind == "crop" else self.raised.reference_ref


@dataclass
class ZoneState:
    zone: str
    armed: bool = False
    reason: str = "no deployment authorised"
    deployment_id: str | None = None
    deployment_ends_at: datetime | None = None
    patrols_on_duty: tuple[str, ...] = ()
    updated_at: datetime | None = None


@dataclass
class PatrolState:
    patrol_id: str
    zone: str
    officers: tuple[str, ...]
    on_duty: bool
    callsign: str | None = None


class Board:
    """Alerts, zones and patrols as of the log's `seq`."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.seq = 0
        self.alerts: dict[str, AlertState] = {}
        self.zones: dict[str, ZoneState] = {}
        self.patrols: dict[str, PatrolState] = {}
        self._lock = anyio.Lock()

    async def refresh(self) -> None:
        """Fold every envelope appended since the last call."""
        async with self._lock:
            while True:
                batch = await self.store.read_all(from_seq=self.seq + 1, limit=1000)
                for env in batch:
                    self._apply(env)
                    self.seq = env.seq
                if len(batch) < 1000:
                    return

    def _zone(self, name: str) -> ZoneState:
        return self.zones.setdefault(name, ZoneState(zone=name))

    def _apply(self, env: Envelope) -> None:
        try:
            event: Event = env.decode()
        except ValueError:
            return  # a type this API does not know (newer writer): nothing to show
        match event:
            case AlertRaised():
                self.alerts[event.alert_id] = AlertState(
                    raised=event, raised_at=env.occurred_at, traceparent=env.traceparent
                )
            case AlertDispatched():
                if a := self.alerts.get(event.alert_id):
                    for p in event.patrol_ids:
                        if p not in a.patrol_ids:
                            a.patrol_ids.append(p)
                    a.dispatched_at = a.dispatched_at or env.occurred_at
                    a.escalation_level = max(a.escalation_level, event.escalation_level)
            case AlertEscalated():
                if a := self.alerts.get(event.alert_id):
                    a.escalation_level = event.escalation_level
                    for p in event.to:
                        if p not in a.patrol_ids and p in self.patrols:
                            a.patrol_ids.append(p)
            case AlertAcknowledged():
                a = self.alerts.get(event.alert_id)
                if a is not None and event.officer not in a.acknowledged_by:
                    a.acknowledged_by.append(event.officer)
            case AlertAdjudicated():
                if a := self.alerts.get(event.alert_id):
                    target = a.confirmed_by if event.verdict == "confirmed" else a.false_alert_by
                    if event.officer not in target:
                        target.append(event.officer)
            case EngagementRecorded():
                if a := self.alerts.get(event.alert_id):
                    a.engagement = event
            case DeploymentAuthorised():
                z = self._zone(event.zone)
                z.deployment_id = event.deployment_id
                z.deployment_ends_at = event.ends_at
                if not z.armed:
                    z.reason = "authorised; waiting for a patrol on duty in the window"
                z.updated_at = env.occurred_at
            case DeploymentArmed():
                z = self._zone(event.zone)
                z.armed, z.reason = True, event.reason
                z.deployment_id = event.deployment_id
                z.patrols_on_duty = event.patrols_on_duty
                z.updated_at = env.occurred_at
            case DeploymentDisarmed():
                z = self._zone(event.zone)
                z.armed, z.reason = False, event.reason
                z.patrols_on_duty = event.patrols_on_duty
                z.updated_at = env.occurred_at
            case DeploymentEnded():
                z = self._zone(event.zone)
                z.armed, z.reason = False, f"deployment ended ({event.reason})"
                z.deployment_id = None
                z.updated_at = env.occurred_at
            case PatrolCheckedIn():
                self.patrols[event.patrol_id] = PatrolState(
                    event.patrol_id, event.zone, event.officers, True, event.callsign
                )
                self._zone(event.zone)
            case PatrolCheckedOut():
                if patrol := self.patrols.get(event.patrol_id):
                    patrol.on_duty = False
            case _:
                pass

    def alerts_for(self, patrol_id: str) -> list[AlertState]:
        return [a for a in self.alerts.values() if patrol_id in a.patrol_ids]
