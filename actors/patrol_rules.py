"""The patrol's rules as pure functions: `evolve(state, event)` and `decide_*(...)`.

A patrol is on duty in at most one zone; it may acknowledge and adjudicate only alerts that
were dispatched to it, and only through an officer checked in on it (`not_on_patrol`
otherwise: a name on a token is not enough); an engagement is recorded only after **two
different officers** confirmed the match (EU AI Act art. 14(5)), and the event names both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from actors.messages import Acknowledge, Adjudicate, CheckIn, CheckOut, RecordEngagement
from lfr.kernel import CommandRejected
from schemas.events import (
    AlertAcknowledged,
    AlertAdjudicated,
    AlertRaised,
    EngagementRecorded,
    PatrolCheckedIn,
    PatrolCheckedOut,
)
from schemas.registry import Event
from schemas.streams import patrol_stream

__all__ = [
    "PatrolAlert",
    "PatrolState",
    "assign",
    "decide_acknowledge",
    "decide_adjudicate",
    "decide_check_in",
    "decide_check_out",
    "decide_engagement",
    "evolve",
]


@dataclass(frozen=True, slots=True)
class PatrolAlert:
    alert_id: str
    zone: str
    entry_id: str | None  # None (both) once retention erased the alert's personal fields
    subject_label: str | None
    escalation_level: int = 0
    acknowledged_by: str | None = None
    verdicts: Mapping[str, str] = field(default_factory=dict)  # officer -> verdict
    engaged: bool = False

    @property
    def confirmed_by(self) -> tuple[str, ...]:
        return tuple(o for o, v in self.verdicts.items() if v == "confirmed")


@dataclass(frozen=True, slots=True)
class PatrolState:
    patrol_id: str
    zone: str | None = None
    officers: tuple[str, ...] = ()
    zones_served: frozenset[str] = frozenset()
    queue: Mapping[str, PatrolAlert] = field(default_factory=dict)

    @property
    def stream(self) -> str:
        return patrol_stream(self.patrol_id)


def _with_alert(state: PatrolState, alert: PatrolAlert) -> PatrolState:
    queue = dict(state.queue)
    queue[alert.alert_id] = alert
    return dataclasses.replace(state, queue=queue)


def assign(state: PatrolState, alert: AlertRaised, level: int) -> PatrolState:
    """Put an alert dispatched to this patrol in its queue (idempotent)."""
    if alert.alert_id in state.queue:
        old = state.queue[alert.alert_id]
        return _with_alert(state, dataclasses.replace(old, escalation_level=level))
    return _with_alert(
        state,
        PatrolAlert(alert.alert_id, alert.zone, alert.entry_id, alert.subject_label, level),
    )


def evolve(state: PatrolState, event: Event) -> PatrolState:
    rep = dataclasses.replace
    match event:
        case PatrolCheckedIn():
            return rep(
                state,
                zone=event.zone,
                officers=event.officers,
                zones_served=state.zones_served | {event.zone},
            )
        case PatrolCheckedOut():
            return rep(state, zone=None, officers=())
        case AlertAcknowledged() if event.alert_id in state.queue:
            a = state.queue[event.alert_id]
            return _with_alert(state, rep(a, acknowledged_by=event.officer))
        case AlertAdjudicated() if event.alert_id in state.queue:
            a = state.queue[event.alert_id]
            verdicts = dict(a.verdicts)
            verdicts[event.officer] = event.verdict
            return _with_alert(state, rep(a, verdicts=verdicts))
        case EngagementRecorded() if event.alert_id in state.queue:
            a = state.queue[event.alert_id]
            return _with_alert(state, rep(a, engaged=True))
    return state


def _reject(state: PatrolState, code: str, reason: str) -> CommandRejected:
    return CommandRejected(state.stream, code, reason)


def decide_check_in(state: PatrolState, cmd: CheckIn, zones: frozenset[str]) -> list[Event]:
    """:raises CommandRejected: unknown zone, no officers, or on duty elsewhere."""
    if cmd.zone not in zones:
        raise _reject(state, "unknown_zone", f"no zone {cmd.zone!r}; zones: {sorted(zones)}")
    officers = tuple(o.strip() for o in cmd.officers)
    if not officers or any(not o for o in officers) or len(set(officers)) != len(officers):
        raise _reject(state, "officers_invalid", "name each officer once (at least one)")
    if state.zone == cmd.zone and state.officers == officers:
        return []
    if state.zone is not None:
        raise _reject(
            state,
            "already_on_duty",
            f"{state.patrol_id} is on duty in {state.zone}; check out first",
        )
    return [
        PatrolCheckedIn(
            patrol_id=state.patrol_id, zone=cmd.zone, officers=officers, callsign=cmd.callsign
        )
    ]


def decide_check_out(state: PatrolState, cmd: CheckOut) -> list[Event]:
    if state.zone is None:
        raise _reject(state, "not_on_duty", f"{state.patrol_id} is not on duty")
    return [PatrolCheckedOut(patrol_id=state.patrol_id, zone=state.zone, reason=cmd.reason)]


def _alert(state: PatrolState, alert_id: str) -> PatrolAlert:
    alert = state.queue.get(alert_id)
    if alert is None:
        raise _reject(
            state, "unknown_alert", f"alert {alert_id} was not dispatched to {state.patrol_id}"
        )
    return alert


def _on_patrol(state: PatrolState, officer: str, act: str) -> None:
    """:raises CommandRejected: `officer` is not checked in on this patrol now."""
    if officer not in state.officers:
        raise _reject(
            state,
            "not_on_patrol",
            f"{officer} is not checked in on patrol {state.patrol_id}, so cannot {act} its "
            "alerts: check in on the patrol first",
        )


def decide_acknowledge(state: PatrolState, cmd: Acknowledge) -> list[Event]:
    """:raises CommandRejected: the alert is not this patrol's, or the officer is not
    checked in on it."""
    alert = _alert(state, cmd.alert_id)
    if not cmd.officer.strip():
        raise _reject(state, "missing_field", "say which officer acknowledges")
    _on_patrol(state, cmd.officer, "acknowledge")
    if alert.acknowledged_by is not None:
        return []
    return [
        AlertAcknowledged(alert_id=cmd.alert_id, patrol_id=state.patrol_id, officer=cmd.officer)
    ]


def decide_adjudicate(state: PatrolState, cmd: Adjudicate) -> list[Event]:
    """:raises CommandRejected: the alert is not this patrol's or is closed, the officer is
    not checked in on the patrol, or changes their own verdict."""
    alert = _alert(state, cmd.alert_id)
    if not cmd.officer.strip():
        raise _reject(state, "missing_field", "say which officer adjudicates")
    _on_patrol(state, cmd.officer, "adjudicate")
    if alert.engaged:
        raise _reject(state, "already_engaged", f"alert {cmd.alert_id} is already closed")
    if cmd.officer in alert.verdicts:
        if alert.verdicts[cmd.officer] == cmd.verdict:
            return []
        raise _reject(
            state,
            "already_adjudicated",
            f"{cmd.officer} already judged alert {cmd.alert_id} "
            f"{alert.verdicts[cmd.officer]}; a second officer must review it",
        )
    return [
        AlertAdjudicated(
            alert_id=cmd.alert_id,
            patrol_id=state.patrol_id,
            officer=cmd.officer,
            verdict=cmd.verdict,
            note=cmd.note,
        )
    ]


def decide_engagement(state: PatrolState, cmd: RecordEngagement) -> list[Event]:
    """:raises CommandRejected: fewer than two different officers confirmed the match."""
    alert = _alert(state, cmd.alert_id)
    if alert.engaged:
        raise _reject(state, "already_engaged", f"alert {cmd.alert_id} already has an engagement")
    confirmed = alert.confirmed_by
    if len(confirmed) < 2:
        raise _reject(
            state,
            "needs_two_confirmations",
            f"alert {cmd.alert_id} is confirmed by {len(confirmed)} officer(s); two different "
            "officers must confirm the match before an engagement is recorded",
        )
    if not cmd.engagement_officer.strip():
        raise _reject(state, "missing_field", "name the engagement officer")
    return [
        EngagementRecorded(
            alert_id=cmd.alert_id,
            patrol_id=state.patrol_id,
            engagement_officer=cmd.engagement_officer,
            confirmed_by=(confirmed[0], confirmed[1]),
            outcome=cmd.outcome,
            note=cmd.note,
        )
    ]
