# One module past 450 lines on purpose: the zone's rules are one state machine, and its
# evolve and decide functions share the private helpers below; split, a rule would be read
# across files.
"""The zone's rules as pure functions: `evolve(state, event, at)` and `decide_*(...)`.

No I/O and no clock: the shell (`actors.zone`) passes `now`, appends what these return and
does the talking. The rules enforced here:

- a deployment needs a window in the future, a threshold in (0, 1], a legal basis, a reason,
  an authorising officer and a watchlist published at most 24 hours before the window opens;
  deployments of one zone never overlap;
- a watchlist version serves one deployment: it is refused while another zone's deployment
  holds it (not ended, or ended with its purge still to run), since that deployment's end
  purges the version from under this one;
- the zone is armed exactly while an authorised deployment is inside its window and at least
  one patrol is on duty in the zone; every transition carries its reason;
- one watchlist subject raises at most one alert per cooldown across all the zone's cameras;
- an unacknowledged alert escalates to another patrol on duty, then to the supervisor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from actors.messages import AuthoriseDeployment, CancelDeployment, ChangeThreshold
from lfr.catalog import EntryInfo, PublishedWatchlist
from lfr.kernel import CommandRejected
from schemas.events import (
    AlertAcknowledged,
    AlertDispatched,
    AlertEscalated,
    AlertRaised,
    BiometricPurged,
    DeploymentArmed,
    DeploymentAuthorised,
    DeploymentDisarmed,
    DeploymentEnded,
    FaceMatched,
    PatrolCheckedIn,
    PatrolCheckedOut,
    ThresholdChanged,
)
from schemas.registry import Event
from schemas.streams import zone_stream

__all__ = [
    "MAX_WATCHLIST_AGE",
    "AlertState",
    "Deployment",
    "ModelPack",
    "ZoneState",
    "active_deployment",
    "decide_authorise",
    "decide_cancel",
    "decide_escalation",
    "decide_match",
    "decide_no_patrol",
    "decide_threshold",
    "decide_window_end",
    "evolve",
    "holder_of",
    "reconcile",
    "supervisor_of",
]

MAX_WATCHLIST_AGE = timedelta(hours=24)
MAX_ESCALATION_LEVEL = 2
ArmReason = Literal["patrol_on_duty", "window_opened", "deployment_authorised", "restart"]


@dataclass(frozen=True, slots=True)
class ModelPack:
    """The face models a deployment analyses with: the pack's name (its npm spec) and the
    sha256 of each model file, by file name (`lfr.vision.pack.PackSpec` says both)."""

    name: str
    hashes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Deployment:
    deployment_id: str
    cameras: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    watchlist_version: str
    threshold: float
    authorised_by: str
    ended: bool = False
    cancelled: bool = False
    purged: bool = False


@dataclass(frozen=True, slots=True)
class AlertState:
    alert_id: str
    entry_id: str | None  # None once retention erased the alert's personal fields
    match_id: str
    deployment_id: str
    raised_at: datetime
    dispatched_to: tuple[str, ...] = ()
    level: int = 0
    last_dispatch_at: datetime | None = None
    acknowledged: bool = False


@dataclass(frozen=True, slots=True)
class ZoneState:
    zone: str
    cameras: tuple[str, ...] = ()
    deployments: Mapping[str, Deployment] = field(default_factory=dict)
    patrols: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    armed: str | None = None
    alerts: Mapping[str, AlertState] = field(default_factory=dict)
    last_alert_at: Mapping[str, datetime] = field(default_factory=dict)
    alerted_matches: frozenset[str] = frozenset()

    @property
    def zone_stream(self) -> str:
        return zone_stream(self.zone)

    @property
    def patrols_on_duty(self) -> tuple[str, ...]:
        return tuple(sorted(self.patrols))


def supervisor_of(zone: str) -> str:
    """The address alerts escalate to when no patrol answers."""
    return f"supervisor:{zone}"


def _put(mapping: Mapping[str, object], key: str, value: object) -> dict[str, object]:
    out = dict(mapping)
    out[key] = value
    return out


def evolve(state: ZoneState, event: Event, at: datetime) -> ZoneState:
    """Fold one event (of the zone's stream, or a patrol's about this zone) into the state."""
    rep = dataclasses.replace
    match event:
        case DeploymentAuthorised():
            dep = Deployment(
                event.deployment_id,
                event.cameras,
                event.starts_at,
                event.ends_at,
                event.watchlist_version,
                event.threshold,
                event.authorised_by,
            )
            return rep(state, deployments=_put(state.deployments, dep.deployment_id, dep))
        case DeploymentArmed():
            return rep(state, armed=event.deployment_id)
        case DeploymentDisarmed():
            return rep(state, armed=None) if state.armed == event.deployment_id else state
        case DeploymentEnded():
            old = state.deployments.get(event.deployment_id)
            if old is None:
                return state
            new = rep(old, ended=True, cancelled=event.reason == "cancelled")
            return rep(state, deployments=_put(state.deployments, new.deployment_id, new))
        case ThresholdChanged():
            old = state.deployments.get(event.deployment_id)
            if old is None:
                return state
            new = rep(old, threshold=event.new_threshold)
            return rep(state, deployments=_put(state.deployments, new.deployment_id, new))
        case BiometricPurged() if event.deployment_id is not None:
            old = state.deployments.get(event.deployment_id)
            if old is None:
                return state
            new = rep(old, purged=True)
            return rep(state, deployments=_put(state.deployments, new.deployment_id, new))
        case PatrolCheckedIn() if event.zone == state.zone:
            return rep(state, patrols=_put(state.patrols, event.patrol_id, event.officers))
        case PatrolCheckedOut() if event.zone == state.zone:
            patrols = {k: v for k, v in state.patrols.items() if k != event.patrol_id}
            return rep(state, patrols=patrols)
        case AlertRaised():
            alert = AlertState(
                event.alert_id, event.entry_id, event.match_id, event.deployment_id, at
            )
            return rep(
                state,
                alerts=_put(state.alerts, alert.alert_id, alert),
                last_alert_at=(
                    state.last_alert_at
                    if event.entry_id is None
                    else _put(state.last_alert_at, event.entry_id, at)
                ),
                alerted_matches=state.alerted_matches | {event.match_id},
            )
        case AlertDispatched():
            a = state.alerts.get(event.alert_id)
            if a is None:
                return state
            to = a.dispatched_to + tuple(p for p in event.patrol_ids if p not in a.dispatched_to)
            new_a = rep(
                a,
                dispatched_to=to,
                level=max(a.level, event.escalation_level),
                last_dispatch_at=at,
            )
            return rep(state, alerts=_put(state.alerts, a.alert_id, new_a))
        case AlertEscalated():
            a = state.alerts.get(event.alert_id)
            if a is None:
                return state
            new_a = rep(a, level=max(a.level, event.escalation_level), last_dispatch_at=at)
            return rep(state, alerts=_put(state.alerts, a.alert_id, new_a))
        case AlertAcknowledged():
            a = state.alerts.get(event.alert_id)
            if a is None:
                return state
            return rep(state, alerts=_put(state.alerts, a.alert_id, rep(a, acknowledged=True)))
    return state


def active_deployment(state: ZoneState, now: datetime) -> Deployment | None:
    """The authorised, not ended deployment whose window contains `now`."""
    for dep in state.deployments.values():
        if not dep.ended and dep.starts_at <= now < dep.ends_at:
            return dep
    return None


def reconcile(state: ZoneState, now: datetime, cause: ArmReason) -> list[Event]:
    """Arm or disarm so that armed == (active deployment and a patrol on duty)."""
    dep = active_deployment(state, now)
    patrols = state.patrols_on_duty
    should = dep.deployment_id if dep is not None and patrols else None
    if state.armed == should:
        return []
    events: list[Event] = []
    if state.armed is not None:
        armed = state.deployments[state.armed]
        reason: Literal["last_patrol_left", "window_closed", "cancelled"]
        if armed.cancelled:
            reason = "cancelled"
        elif armed.ended or now >= armed.ends_at:
            reason = "window_closed"
        else:
            reason = "last_patrol_left"
        events.append(
            DeploymentDisarmed(
                deployment_id=armed.deployment_id,
                zone=state.zone,
                reason=reason,
                patrols_on_duty=patrols,
            )
        )
    if should is not None:
        events.append(
            DeploymentArmed(
                deployment_id=should, zone=state.zone, reason=cause, patrols_on_duty=patrols
            )
        )
    return events


def _reject(state: ZoneState, code: str, reason: str) -> CommandRejected:
    return CommandRejected(state.zone_stream, code, reason)


def holder_of(zones: Iterable[ZoneState], version: str) -> tuple[ZoneState, Deployment] | None:
    """The zone and deployment holding watchlist `version`: one not ended, or ended but not
    yet purged (its zone purges the version when it ends, or on restart if that failed)."""
    for zone in zones:
        for dep in zone.deployments.values():
            if dep.watchlist_version == version and not dep.purged:
                return zone, dep
    return None


def decide_authorise(
    state: ZoneState,
    cmd: AuthoriseDeployment,
    now: datetime,
    published: PublishedWatchlist | None,
    others: Iterable[ZoneState] = (),
    model_pack: ModelPack | None = None,
) -> list[Event]:
    """Authorise `cmd` in this zone; `others` are the site's other zones (their deployments
    are what matters), so a version another zone holds is refused. `model_pack` is the face
    model pack the site's cameras run (name and sha256 per file), recorded with the
    authorisation (None: no pack, as with the scripted recogniser of tests).

    :raises CommandRejected: the deployment breaks a rule (the message says which).
    """
    known = state.deployments.get(cmd.deployment_id)
    if known is not None:
        if (known.starts_at, known.ends_at, known.watchlist_version) == (
            cmd.starts_at,
            cmd.ends_at,
            cmd.watchlist_version,
        ):
            return []
        raise _reject(state, "duplicate_deployment", f"{cmd.deployment_id} already exists")
    for name, value in (
        ("legal_basis", cmd.legal_basis),
        ("reason", cmd.reason),
        ("authorised_by", cmd.authorised_by),
    ):
        if not value.strip():
            raise _reject(state, "missing_field", f"a deployment needs a non-empty {name}")
    if cmd.starts_at.tzinfo is None or cmd.ends_at.tzinfo is None:
        raise _reject(state, "window_invalid", "window times need a time zone (use UTC)")
    if cmd.ends_at <= cmd.starts_at:
        raise _reject(state, "window_invalid", "the window must end after it starts")
    if cmd.ends_at <= now:
        raise _reject(state, "window_past", f"the window ended at {cmd.ends_at.isoformat()}")
    if not 0.0 < cmd.threshold <= 1.0:
        raise _reject(state, "threshold_invalid", "the threshold must be in (0, 1]")
    cameras = cmd.cameras if cmd.cameras is not None else state.cameras
    unknown = sorted(set(cameras) - set(state.cameras))
    if unknown or not cameras:
        raise _reject(
            state,
            "unknown_camera",
            f"cameras {unknown} are not in zone {state.zone} (it has {list(state.cameras)})",
        )
    if published is None:
        raise _reject(
            state,
            "watchlist_unknown",
            f"watchlist version {cmd.watchlist_version!r} was never published; publish it first",
        )
    used = [
        d.deployment_id
        for d in state.deployments.values()
        if d.watchlist_version == published.version
    ]
    if used:
        raise _reject(
            state,
            "watchlist_used",
            f"watchlist {cmd.watchlist_version!r} belongs to deployment {used[0]}: a watchlist "
            "is bespoke to one deployment and deleted after it; publish a fresh version",
        )
    held = holder_of(others, published.version)
    if held is not None:
        zone, dep = held
        raise _reject(
            state,
            "watchlist_held",
            f"watchlist {cmd.watchlist_version!r} is held by deployment {dep.deployment_id} in "
            f"zone {zone.zone} (until {dep.ends_at.isoformat()}); its end purges that version, "
            f"which would pull the list from under this deployment: publish a version for "
            f"zone {state.zone}",
        )
    if published.published_at < cmd.starts_at - MAX_WATCHLIST_AGE:
        raise _reject(
            state,
            "watchlist_stale",
            f"watchlist {cmd.watchlist_version!r} was published at "
            f"{published.published_at.isoformat()}, more than 24 hours before the window opens "
            f"({cmd.starts_at.isoformat()}); build and publish a fresh one",
        )
    for other in state.deployments.values():
        if not other.ended and other.starts_at < cmd.ends_at and cmd.starts_at < other.ends_at:
            raise _reject(
                state,
                "deployment_overlap",
                f"deployment {other.deployment_id} already covers "
                f"{other.starts_at.isoformat()}..{other.ends_at.isoformat()}; cancel it first",
            )
    return [
        DeploymentAuthorised(
            deployment_id=cmd.deployment_id,
            zone=state.zone,
            cameras=tuple(cameras),
            starts_at=cmd.starts_at,
            ends_at=cmd.ends_at,
            watchlist_version=cmd.watchlist_version,
            watchlist_size=published.entries,
            threshold=cmd.threshold,
            legal_basis=cmd.legal_basis,
            reason=cmd.reason,
            authorised_by=cmd.authorised_by,
            model_pack=model_pack.name if model_pack is not None else None,
            model_hashes=dict(model_pack.hashes) if model_pack is not None else {},
        )
    ]


def _ending(
    state: ZoneState,
    dep: Deployment,
    reason: Literal["window_closed", "cancelled"],
    by: str | None,
    note: str | None,
) -> list[Event]:
    events: list[Event] = []
    if state.armed == dep.deployment_id:
        events.append(
            DeploymentDisarmed(
                deployment_id=dep.deployment_id,
                zone=state.zone,
                reason=reason,
                patrols_on_duty=state.patrols_on_duty,
            )
        )
    events.append(
        DeploymentEnded(
            deployment_id=dep.deployment_id, zone=state.zone, reason=reason, ended_by=by, note=note
        )
    )
    return events


def decide_cancel(state: ZoneState, cmd: CancelDeployment) -> list[Event]:
    dep = state.deployments.get(cmd.deployment_id)
    if dep is None:
        raise _reject(state, "unknown_deployment", f"no deployment {cmd.deployment_id}")
    if dep.ended:
        return []
    if not cmd.cancelled_by.strip():
        raise _reject(state, "missing_field", "say who cancels (cancelled_by)")
    return _ending(state, dep, "cancelled", cmd.cancelled_by, cmd.note)


def decide_window_end(state: ZoneState, deployment_id: str, now: datetime) -> list[Event]:
    dep = state.deployments.get(deployment_id)
    if dep is None or dep.ended or now < dep.ends_at:
        return []
    return _ending(state, dep, "window_closed", None, None)


def decide_threshold(state: ZoneState, cmd: ChangeThreshold) -> list[Event]:
    dep = state.deployments.get(cmd.deployment_id)
    if dep is None or dep.ended:
        raise _reject(state, "unknown_deployment", f"no running deployment {cmd.deployment_id}")
    if not 0.0 < cmd.new_threshold <= 1.0:
        raise _reject(state, "threshold_invalid", "the threshold must be in (0, 1]")
    if not cmd.reason.strip() or not cmd.changed_by.strip():
        raise _reject(state, "missing_field", "say who changes the threshold and why")
    return [
        ThresholdChanged(
            deployment_id=dep.deployment_id,
            zone=state.zone,
            old_threshold=dep.threshold,
            new_threshold=cmd.new_threshold,
            changed_by=cmd.changed_by,
            reason=cmd.reason,
        )
    ]


def decide_match(
    state: ZoneState,
    match: FaceMatched,
    entry: EntryInfo,
    now: datetime,
    *,
    alert_id: str,
    cooldown: timedelta,
    seen_recently: bool,
) -> list[Event]:
    """An `AlertRaised`, or nothing when the subject already has an alert in the cooldown
    or has been in view continuously (a short disappearance does not re-alert)."""
    if match.match_id in state.alerted_matches or match.entry_id is None:
        return []  # (a match without its entry is sealed: cameras report them open)
    last = state.last_alert_at.get(match.entry_id)
    if last is not None and (now - last < cooldown or seen_recently):
        return []
    return [
        AlertRaised(
            alert_id=alert_id,
            match_id=match.match_id,
            zone=state.zone,
            camera=match.camera,
            deployment_id=match.deployment_id,
            watchlist_version=match.watchlist_version,
            entry_id=match.entry_id,
            subject_label=entry.label,
            category=entry.category,
            similarity=match.similarity,
            threshold=match.threshold,
            frame_at=match.frame_at,
            crop_ref=match.crop_ref,
            reference_ref=entry.reference_ref,
        )
    ]


def decide_no_patrol(state: ZoneState, alert_id: str) -> list[Event]:
    """An alert raised while no patrol is on duty goes straight to the supervisor."""
    return [
        AlertEscalated(
            alert_id=alert_id,
            zone=state.zone,
            to=(supervisor_of(state.zone),),
            reason="no_patrol_on_duty",
            escalation_level=1,
        )
    ]


def decide_escalation(state: ZoneState, alert_id: str, level: int) -> list[Event]:
    """At the acknowledgement deadline of `level`: escalate one level, or nothing."""
    alert = state.alerts.get(alert_id)
    if alert is None or alert.acknowledged or alert.level != level:
        return []
    if level >= MAX_ESCALATION_LEVEL:
        return []
    others = tuple(p for p in state.patrols_on_duty if p not in alert.dispatched_to)
    supervisor = supervisor_of(state.zone)
    to = others if others and level == 0 else (supervisor,)
    if to == (supervisor,) and supervisor in alert.dispatched_to:
        return []
    return [
        AlertEscalated(
            alert_id=alert_id,
            zone=state.zone,
            to=to,
            reason="unacknowledged",
            escalation_level=level + 1,
        )
    ]
