# One module past 450 lines on purpose: the zone actor's handlers (arming, leases, matches,
# escalation, purge) act on one state; the pure rules are apart in zone_rules.py.
"""ZoneActor: arms and disarms a zone's cameras, turns matches into alerts, escalates.

Its stream is `zone:<name>`: deployments (authorised, armed, disarmed, ended, purged,
threshold changes) and alerts (raised, dispatched, escalated). At (re)start it folds its
stream, then the check-ins/outs and acknowledgements from the site's patrol streams, re-arms
its timers (window edges, acknowledgement deadlines), finishes any purge left undone and
re-applies the arming rule.

Ordering that keeps the log honest: cameras are disarmed (and have finished any frame in
flight) *before* `DeploymentDisarmed` is appended, and armed only *after* `DeploymentArmed`,
so no camera event ever lies outside an armed interval.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio

from actors import zone_rules as rules
from actors.messages import (
    AlertAcked,
    AlertAssigned,
    Arm,
    AuthoriseDeployment,
    CameraReady,
    CancelDeployment,
    ChangeThreshold,
    Disarm,
    GetStatus,
    Heartbeat,
    MatchReported,
    PatrolDuty,
    Tick,
)
from actors.zone_rules import Deployment, ModelPack, ZoneState
from lfr.alerts import AlertNotice, AlertSink
from lfr.catalog import EntryInfo, WatchlistCatalog
from lfr.clock import Clock
from lfr.kernel import (
    ActorStoppedError,
    CommandRejected,
    EventSourcedActor,
    KernelError,
    MailboxFullError,
    Registry,
    Sealing,
)
from lfr.retention import erasure_event
from lfr.store.base import EventStore
from lfr.telemetry import current_traceparent, metrics
from schemas.events import (
    AlertAcknowledged,
    AlertDispatched,
    AlertEscalated,
    AlertRaised,
    DeploymentArmed,
    DeploymentDisarmed,
    DeploymentEnded,
    PatrolCheckedIn,
    PatrolCheckedOut,
)
from schemas.registry import Event
from schemas.streams import camera_stream, patrol_stream, zone_stream

__all__ = ["ZoneActor", "ZoneSettings", "ZoneStatus"]

log = logging.getLogger(__name__)

# what says whether a deployment still holds its watchlist version
_DEPLOYMENT_LIFE = frozenset({"DeploymentAuthorised", "DeploymentEnded", "BiometricPurged"})


@dataclass(frozen=True, slots=True)
class ZoneSettings:
    alert_cooldown_s: float = 60.0
    reappear_gap_s: float = 10.0
    ack_deadline_s: float = 30.0
    camera_ask_timeout_s: float = 10.0
    #: cameras on other nodes hold their arming for this long (`CameraSettings`): the zone
    #: renews it every third of it, and after a camera that did not confirm a `Disarm` it
    #: waits the lease out before recording the disarm; None (one process): no lease
    arming_lease_s: float | None = None


@dataclass(frozen=True, slots=True)
class ZoneStatus:
    zone: str
    armed_deployment: str | None
    patrols_on_duty: tuple[str, ...]
    deployments: tuple[Deployment, ...]
    open_alerts: tuple[str, ...]
    dispatch_latencies_ms: tuple[float, ...]
    state: ZoneState


class ZoneActor(EventSourcedActor[ZoneState]):
    def __init__(
        self,
        zone: str,
        *,
        cameras: tuple[str, ...],
        patrols: tuple[str, ...],
        store: EventStore,
        clock: Clock,
        registry: Registry,
        catalog: WatchlistCatalog,
        sink: AlertSink,
        settings: ZoneSettings | None = None,
        other_zones: tuple[str, ...] = (),
        sealer: Sealing | None = None,
        model_pack: ModelPack | None = None,
    ) -> None:
        self.zone = zone
        self.model_pack = model_pack  # recorded with each authorisation
        self.other_zones = other_zones
        self.cameras = cameras
        self.patrols = patrols
        self.registry = registry
        self.catalog = catalog
        self.sink = sink
        self.settings = settings or ZoneSettings()
        self._last_seen: dict[str, datetime] = {}
        self._latencies: deque[float] = deque(maxlen=10_000)
        self._raised: dict[str, AlertRaised] = {}
        self.heard_from: dict[str, datetime] = {}
        super().__init__(zone_stream(zone), store=store, clock=clock, sealer=sealer)

    def initial_state(self) -> ZoneState:
        return ZoneState(self.zone, self.cameras)

    def apply(self, state: ZoneState, event: Event, occurred_at: datetime) -> ZoneState:
        if isinstance(event, AlertRaised):
            self._raised[event.alert_id] = event  # for escalation, which resends the alert
        return rules.evolve(state, event, occurred_at)

    async def rebuild(self) -> None:
        await super().rebuild()
        state = self.state
        for patrol in self.patrols:
            for env in await self.store.read_stream(patrol_stream(patrol)):
                if env.type in ("PatrolCheckedIn", "PatrolCheckedOut", "AlertAcknowledged"):
                    state = rules.evolve(state, env.decode(), env.occurred_at)
        self.state = state

    # --- lifecycle ----------------------------------------------------------------------------

    async def on_start(self) -> None:
        await super().on_start()
        if self.settings.arming_lease_s is not None:
            self.start_soon(self._renew_leases)
        now = self.clock.now()
        for dep in self.state.deployments.values():
            if dep.ended:
                continue
            if dep.starts_at > now:
                self.schedule_at(f"start:{dep.deployment_id}", dep.starts_at, _start(dep))
            self.schedule_at(f"end:{dep.deployment_id}", dep.ends_at, _end(dep))
        ack = timedelta(seconds=self.settings.ack_deadline_s)
        for alert in self.state.alerts.values():
            if not alert.acknowledged and alert.level < rules.MAX_ESCALATION_LEVEL:
                since = alert.last_dispatch_at or alert.raised_at
                self.schedule_at(
                    f"ack:{alert.alert_id}",
                    since + ack,
                    Tick("ack_deadline", f"{alert.alert_id}|{alert.level}"),
                )
        for dep in list(self.state.deployments.values()):
            if dep.ended and not dep.purged:
                await self._purge(dep, "left undone before a restart")
        # Cameras may still be armed from before the crash: align them with the log.
        if self.state.armed is None:
            await self._disarm_cameras(self.cameras, "zone restarted disarmed")
        await self._commit(rules.reconcile(self.state, now, "restart"))
        if self.state.armed is not None:
            await self._arm_cameras()

    # --- messages ----------------------------------------------------------------------------

    async def handle(self, message: object) -> Any:
        now = self.clock.now()
        match message:
            case Heartbeat():
                self.heard_from[message.sender] = now
                return None
            case MatchReported():
                await self._on_match(message, now)
                return None
            case PatrolDuty():
                event: Event
                if message.on_duty:
                    event = PatrolCheckedIn(
                        patrol_id=message.patrol_id, zone=self.zone, officers=message.officers
                    )
                else:
                    event = PatrolCheckedOut(patrol_id=message.patrol_id, zone=self.zone)
                self.state = rules.evolve(self.state, event, now)
                await self._commit(rules.reconcile(self.state, now, "patrol_on_duty"))
                return self.status()
            case AlertAcked():
                ack = AlertAcknowledged(
                    alert_id=message.alert_id, patrol_id=message.patrol_id, officer="-"
                )
                self.state = rules.evolve(self.state, ack, now)
                self.cancel_timer(f"ack:{message.alert_id}")
                return None
            case AuthoriseDeployment():
                published = await self.catalog.published(message.watchlist_version)
                others = [await self._other_zone(z) for z in self.other_zones]
                events = rules.decide_authorise(
                    self.state, message, now, published, others, self.model_pack
                )
                await self.emit(events)
                dep = self.state.deployments[message.deployment_id]
                if events:
                    if dep.starts_at > now:
                        self.schedule_at(f"start:{dep.deployment_id}", dep.starts_at, _start(dep))
                    self.schedule_at(f"end:{dep.deployment_id}", dep.ends_at, _end(dep))
                    await self._commit(rules.reconcile(self.state, now, "deployment_authorised"))
                return dep
            case CancelDeployment():
                events = rules.decide_cancel(self.state, message)
                await self._commit(events)
                dep = self.state.deployments[message.deployment_id]
                if events:
                    self.cancel_timer(f"start:{dep.deployment_id}")
                    self.cancel_timer(f"end:{dep.deployment_id}")
                    await self._purge(dep, f"deployment cancelled by {message.cancelled_by}")
                    await self._commit(rules.reconcile(self.state, now, "window_opened"))
                return dep
            case ChangeThreshold():
                await self.emit(rules.decide_threshold(self.state, message))
                if self.state.armed == message.deployment_id:
                    await self._arm_cameras()
                return self.state.deployments[message.deployment_id]
            case Tick(what="renew_arming"):
                self._renew_arming()
                return None
            case Tick(what="window_start"):
                await self._commit(rules.reconcile(self.state, now, "window_opened"))
                return None
            case Tick(what="window_end"):
                dep_id = message.key
                events = rules.decide_window_end(self.state, dep_id, now)
                await self._commit(events)
                if events:
                    await self._purge(self.state.deployments[dep_id], "deployment window closed")
                await self._commit(rules.reconcile(self.state, now, "window_opened"))
                return None
            case Tick(what="ack_deadline"):
                alert_id, level = message.key.rsplit("|", 1)
                await self._escalate(alert_id, int(level))
                return None
            case CameraReady():
                armed = self._armed_deployment()
                if armed is not None and message.camera in armed.cameras:
                    await self.registry.lookup(camera_stream(message.camera)).tell(_arm(armed))
                return None
            case GetStatus():
                return self.status()
        raise TypeError(f"{self.name} cannot handle {type(message).__name__}")

    async def _other_zone(self, zone: str) -> ZoneState:
        """Another zone's deployments, folded from its stream (the log, not an ask: two zones
        authorising at once would wait on each other)."""
        state = ZoneState(zone)
        for env in await self.store.read_stream(zone_stream(zone)):
            if env.type in _DEPLOYMENT_LIFE:
                state = rules.evolve(state, env.decode(), env.occurred_at)
        return state

    def status(self) -> ZoneStatus:
        s = self.state
        return ZoneStatus(
            zone=self.zone,
            armed_deployment=s.armed,
            patrols_on_duty=s.patrols_on_duty,
            deployments=tuple(s.deployments.values()),
            open_alerts=tuple(a.alert_id for a in s.alerts.values() if not a.acknowledged),
            dispatch_latencies_ms=tuple(self._latencies),
            state=s,
        )

    # --- arming ------------------------------------------------------------------------------

    def _armed_deployment(self) -> Deployment | None:
        return None if self.state.armed is None else self.state.deployments[self.state.armed]

    async def _commit(self, events: list[Event]) -> None:
        """Append a transition, disarming cameras before and arming them after it."""
        if not events:
            return
        disarm = [e for e in events if isinstance(e, DeploymentDisarmed)]
        if disarm:
            dep = self._armed_deployment()
            cameras = dep.cameras if dep is not None else self.cameras
            await self._disarm_cameras(cameras, disarm[0].reason)
        await self.emit(events)
        if any(isinstance(e, DeploymentArmed) for e in events):
            await self._arm_cameras()
        for event in events:
            if isinstance(event, DeploymentArmed | DeploymentDisarmed | DeploymentEnded):
                log.info("%s: %s (%s)", self.name, event.type_name(), event.reason)

    async def _renew_leases(self) -> None:
        lease = self.settings.arming_lease_s
        assert lease is not None
        while True:
            await self.clock.sleep(lease / 3)
            try:
                self.ref.tell_nowait(Tick("renew_arming", ""))
            except MailboxFullError:
                pass  # busy: the next renewal comes a third of a lease later

    def _renew_arming(self) -> None:
        """Renew the armed deployment's cameras' leases: one `Arm` each, sent now, in order
        with whatever the zone sends them next, not waited for (a lost one is replaced by
        the next). A camera that restarted or lapsed is armed again by it."""
        dep = self._armed_deployment()
        if dep is None:
            return
        arm = _arm(dep)
        for camera in dep.cameras:
            ref = self.registry.get(camera_stream(camera))
            if ref is None:
                continue
            try:
                ref.tell_nowait(arm)
            except (MailboxFullError, ActorStoppedError):
                pass

    async def _arm_cameras(self) -> None:
        dep = self._armed_deployment()
        if dep is None:
            return
        await self._ask_cameras(dep.cameras, _arm(dep))

    async def _disarm_cameras(self, cameras: tuple[str, ...], reason: str) -> None:
        await self._ask_cameras(cameras, Disarm(reason))

    async def _ask_cameras(self, cameras: tuple[str, ...], message: object) -> None:
        timeout = self.settings.camera_ask_timeout_s
        unconfirmed: list[str] = []

        async def ask(camera: str) -> None:
            ref = self.registry.get(camera_stream(camera))
            if ref is None:
                log.error("%s: camera %s is not running", self.name, camera)
                return
            try:
                await ref.ask(message, timeout_s=timeout)
            except (KernelError, CommandRejected) as exc:
                # A camera that crashed restarts disarmed and asks us again (CameraReady).
                log.warning("%s: %s did not confirm %s: %s", self.name, camera, message, exc)
                unconfirmed.append(camera)

        async with anyio.create_task_group() as tg:
            for camera in cameras:
                tg.start_soon(ask, camera)
        lease = self.settings.arming_lease_s
        if unconfirmed and lease is not None and isinstance(message, Disarm):
            # out of reach, maybe still armed: its lease lapses before the disarm is recorded
            await self.clock.sleep(lease)

    async def _purge(self, dep: Deployment, reason: str) -> None:
        try:
            erased = await self.catalog.purge(dep.watchlist_version)
        except Exception:
            log.exception("%s: could not purge watchlist of %s", self.name, dep.deployment_id)
            return
        await self.emit(
            [
                erasure_event(
                    "deployment_watchlist",
                    reason,
                    erased,
                    deployment_id=dep.deployment_id,
                    watchlist_version=dep.watchlist_version,
                )
            ]
        )

    # --- alerts ------------------------------------------------------------------------------

    async def _on_match(self, message: MatchReported, now: datetime) -> None:
        match = message.match
        if match.entry_id is None:
            log.error("%s: match %s reached the zone sealed; no alert", self.name, match.match_id)
            return
        entry = await self.catalog.entry(match.watchlist_version, match.entry_id)
        if entry is None:
            log.warning(
                "%s: entry of match %s is not in the catalog; alerting with the camera's label",
                self.name,
                match.match_id,
            )
            entry = EntryInfo(match.entry_id, message.label, "wanted_by_police")
        last_seen = self._last_seen.get(match.entry_id)
        gap = timedelta(seconds=self.settings.reappear_gap_s)
        seen_recently = last_seen is not None and now - last_seen < gap
        self._last_seen[match.entry_id] = now
        events = rules.decide_match(
            self.state,
            match,
            entry,
            now,
            alert_id=f"alert-{uuid.uuid4().hex[:16]}",
            cooldown=timedelta(seconds=self.settings.alert_cooldown_s),
            seen_recently=seen_recently,
        )
        if not events:
            return
        raised = events[0]
        assert isinstance(raised, AlertRaised)
        envs = await self.emit(
            events, correlation_id=message.event_id, causation_id=message.event_id
        )
        metrics().alert_raised(self.zone, match.camera)
        patrols = self.state.patrols_on_duty
        if patrols:
            await self._dispatch(raised, patrols, 0, envs[0].event_id)
        else:
            esc = await self.emit(
                rules.decide_no_patrol(self.state, raised.alert_id),
                correlation_id=message.event_id,
                causation_id=envs[0].event_id,
            )
            await self._dispatch(raised, (rules.supervisor_of(self.zone),), 1, esc[0].event_id)
        ms = (time.perf_counter_ns() - message.appended_ns) / 1e6
        self._latencies.append(ms)
        metrics().alert_latency_ms(self.zone, match.camera, ms)

    async def _dispatch(
        self, alert: AlertRaised, to: tuple[str, ...], level: int, cause: uuid.UUID
    ) -> None:
        for patrol in to:
            ref = self.registry.get(patrol if ":" in patrol else patrol_stream(patrol))
            if ref is not None and not patrol.startswith("supervisor:"):
                await ref.tell(AlertAssigned(alert, level))
        try:
            await self.sink.deliver(AlertNotice(alert, to, level, current_traceparent()))
        except Exception:
            log.exception(
                "%s: delivery of %s failed; escalation continues", self.name, alert.alert_id
            )
        else:
            await self.emit(
                [
                    AlertDispatched(
                        alert_id=alert.alert_id,
                        zone=self.zone,
                        patrol_ids=to,
                        channel=self.sink.channel,
                        escalation_level=level,
                    )
                ],
                causation_id=cause,
            )
        if level < rules.MAX_ESCALATION_LEVEL:
            when = self.clock.now() + timedelta(seconds=self.settings.ack_deadline_s)
            self.schedule_at(
                f"ack:{alert.alert_id}", when, Tick("ack_deadline", f"{alert.alert_id}|{level}")
            )

    async def _escalate(self, alert_id: str, level: int) -> None:
        events = rules.decide_escalation(self.state, alert_id, level)
        if not events:
            return
        envs = await self.emit(events)
        escalated = events[0]
        raised = self._raised.get(alert_id)
        if raised is None or not isinstance(escalated, AlertEscalated):
            return
        await self._dispatch(raised, escalated.to, level + 1, envs[0].event_id)


def _start(dep: Deployment) -> Tick:
    return Tick("window_start", dep.deployment_id)


def _end(dep: Deployment) -> Tick:
    return Tick("window_end", dep.deployment_id)


def _arm(dep: Deployment) -> Arm:
    return Arm(dep.deployment_id, dep.watchlist_version, dep.threshold)
