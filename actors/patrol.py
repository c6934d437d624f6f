"""PatrolActor: one officer patrol's duty state, alert queue, acknowledgements, adjudications.

Its stream is `patrol:<id>`. After recording a check-in/out it tells the zone, which decides
on arming; after an acknowledgement it tells the zone to stop the escalation clock. At
(re)start it folds its own stream, then the alerts dispatched to it from the streams of the
zones it has served, so its queue survives a crash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from actors import patrol_rules as rules
from actors.messages import (
    Acknowledge,
    Adjudicate,
    AlertAcked,
    AlertAssigned,
    CheckIn,
    CheckOut,
    GetStatus,
    PatrolDuty,
    RecordEngagement,
)
from actors.patrol_rules import PatrolState
from lfr.clock import Clock
from lfr.kernel import ActorRef, EventSourcedActor, Registry, Sealing
from lfr.store.base import EventStore
from schemas.events import AlertDispatched, AlertRaised
from schemas.registry import Event
from schemas.streams import patrol_stream, zone_stream

__all__ = ["PatrolActor"]


class PatrolActor(EventSourcedActor[PatrolState]):
    def __init__(
        self,
        patrol_id: str,
        *,
        store: EventStore,
        clock: Clock,
        registry: Registry,
        zones: frozenset[str],
        zone_ask_timeout_s: float = 10.0,
        sealer: Sealing | None = None,
    ) -> None:
        self.patrol_id = patrol_id
        self.registry = registry
        self.zones = zones
        self.zone_ask_timeout_s = zone_ask_timeout_s
        super().__init__(patrol_stream(patrol_id), store=store, clock=clock, sealer=sealer)

    def initial_state(self) -> PatrolState:
        return PatrolState(self.patrol_id)

    def apply(self, state: PatrolState, event: Event, occurred_at: datetime) -> PatrolState:
        return rules.evolve(state, event)

    async def rebuild(self) -> None:
        await super().rebuild()
        own = self.state
        state = own
        for zone in sorted(own.zones_served):
            raised: dict[str, AlertRaised] = {}
            for _, event in await self.read_events(zone_stream(zone)):
                if isinstance(event, AlertRaised):
                    raised[event.alert_id] = event
                elif isinstance(event, AlertDispatched):
                    alert = raised.get(event.alert_id)
                    if alert is not None and self.patrol_id in event.patrol_ids:
                        state = rules.assign(state, alert, event.escalation_level)
        # Re-fold own events so acknowledgements and verdicts land on the queued alerts.
        for env in await self.store.read_stream(self.stream):
            state = rules.evolve(state, env.decode())
        self.state = state

    def _zone(self, zone: str) -> ActorRef:
        return self.registry.lookup(zone_stream(zone))

    async def handle(self, message: object) -> Any:
        match message:
            case CheckIn():
                events = rules.decide_check_in(self.state, message, self.zones)
                await self.emit(events)
                if self.state.zone is not None:
                    duty = PatrolDuty(self.patrol_id, True, self.state.officers)
                    await self._zone(self.state.zone).ask(duty, timeout_s=self.zone_ask_timeout_s)
                return self.status()
            case CheckOut():
                zone = self.state.zone
                events = rules.decide_check_out(self.state, message)
                await self.emit(events)
                if zone is not None:
                    duty = PatrolDuty(self.patrol_id, False)
                    await self._zone(zone).ask(duty, timeout_s=self.zone_ask_timeout_s)
                return self.status()
            case AlertAssigned():
                self.state = rules.assign(self.state, message.alert, message.escalation_level)
                return None
            case Acknowledge():
                alert = self.state.queue.get(message.alert_id)
                envs = await self.emit(rules.decide_acknowledge(self.state, message))
                if envs and alert is not None:
                    await self._zone(alert.zone).tell(AlertAcked(alert.alert_id, self.patrol_id))
                return self.status()
            case Adjudicate():
                await self.emit(rules.decide_adjudicate(self.state, message))
                return self.status()
            case RecordEngagement():
                await self.emit(rules.decide_engagement(self.state, message))
                return self.status()
            case GetStatus():
                return self.status()
        raise TypeError(f"{self.name} cannot handle {type(message).__name__}")

    def status(self) -> PatrolState:
        return self.state
