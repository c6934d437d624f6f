"""The MQTT side of the zone's `AlertSink`, and the relay of alert updates and zone state.

`MqttAlertSink.deliver` turns an `AlertNotice` into one `AlertMessage` per patrol and queues
it on the publisher, waiting at most `confirm_s` for the broker (the zone's handler must stay
quick). The sink owns its one background task, the late-delivery recorder: it delivers only
while its `run` runs (`lfr.transport.services.run_alert_services` starts it).
`EventRelay` follows the event log and publishes what officers' devices must learn next:
acknowledgements, adjudications, engagements, escalations, and each zone's armed state.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import anyio
import anyio.abc

from lfr.alerts import AlertNotice, Channel
from lfr.errors import LfrError
from lfr.store.base import EventStore
from lfr.transport.mqtt import MqttPublisher, Outbound
from schemas.envelope import Envelope, NewEvent
from schemas.events import (
    AlertAcknowledged,
    AlertAdjudicated,
    AlertDispatched,
    AlertEscalated,
    AlertRaised,
    DeploymentArmed,
    DeploymentDisarmed,
    DeploymentEnded,
    EngagementRecorded,
)
from schemas.messages import AlertMessage, AlertUpdateMessage, ZoneStateMessage

__all__ = [
    "LATE_DELIVERY_STREAM",
    "SUPERVISOR_PATROL",
    "DeliveryPendingError",
    "EventRelay",
    "MqttAlertSink",
    "SinkNotRunningError",
    "TransportError",
    "alert_message",
]


class TransportError(LfrError):
    """Base of the alert transport's errors."""


log = logging.getLogger(__name__)

#: `AlertNotice.to` names a zone's supervisor as `supervisor:<zone>`; on MQTT it is the
#: pseudo-patrol `supervisor` of that zone.
SUPERVISOR_PATROL = "supervisor"


def _patrol_of(target: str) -> str:
    return SUPERVISOR_PATROL if target.startswith("supervisor:") else target


def alert_message(
    alert: AlertRaised,
    patrol_id: str,
    *,
    expiry_s: int,
    escalation_level: int = 0,
    traceparent: str | None = None,
    now: datetime | None = None,
) -> AlertMessage:
    now = now or datetime.now(UTC)
    return AlertMessage(
        alert_id=alert.alert_id,
        zone=alert.zone,
        camera=alert.camera,
        patrol_id=patrol_id,
        deployment_id=alert.deployment_id,
        subject_label=alert.subject_label,
        category=alert.category,
        similarity=alert.similarity,
        threshold=alert.threshold,
        frame_at=alert.frame_at,
        raised_at=now,
        expires_at=now + timedelta(seconds=expiry_s),
        crop_url=f"/api/alerts/{alert.alert_id}/images/crop" if alert.crop_ref else None,
        reference_url=(
            f"/api/alerts/{alert.alert_id}/images/reference" if alert.reference_ref else None
        ),
        escalation_level=escalation_level,
        traceparent=traceparent,
    )


class DeliveryPendingError(TransportError):
    """The broker did not confirm an alert in time; it stays queued and will be delivered."""

    def __init__(self, alert_id: str, waited_s: float) -> None:
        self.alert_id = alert_id
        super().__init__(
            f"alert {alert_id}: the MQTT broker did not confirm delivery within {waited_s:g} s; "
            "it stays queued and goes out when the broker is back (recorded then as "
            f"AlertDispatched on {LATE_DELIVERY_STREAM})"
        )


class SinkNotRunningError(TransportError):
    """`MqttAlertSink.deliver` was called while the sink's `run` was not running."""

    def __init__(self) -> None:
        super().__init__(
            "MqttAlertSink.deliver called before the sink runs: start it with "
            "`await task_group.start(sink.run)` (open_site does) so late deliveries are recorded"
        )


#: Where deliveries that completed after the zone stopped waiting are recorded.
LATE_DELIVERY_STREAM = "transport:mqtt"


class MqttAlertSink:
    """`lfr.alerts.AlertSink` over MQTT.

    `deliver` queues one message per patrol and waits up to `confirm_s` for the broker's
    PUBACKs, so the zone records `AlertDispatched` only for alerts that reached the broker.
    If the broker is down it raises `DeliveryPendingError` (the zone logs it and escalation
    runs); the alert stays queued, and when it is finally delivered, the sink's own `run`
    records `AlertDispatched` on `transport:mqtt`, so the alert view knows when it went out.
    `deliver` refuses to work while `run` is not running (nobody would record that).
    """

    # Channel, not Literal["mqtt"]: AlertSink declares a settable `channel: Channel`
    channel: Channel = "mqtt"

    def __init__(
        self, publisher: MqttPublisher, *, store: EventStore | None = None, confirm_s: float = 2.0
    ) -> None:
        self.publisher = publisher
        self.store = store
        self.confirm_s = confirm_s
        self._running = False
        self._late_send, self._late_receive = anyio.create_memory_object_stream[
            tuple[AlertNotice, list[Outbound]]
        ](max_buffer_size=10_000)

    @property
    def running(self) -> bool:
        """Whether `run` is running (deliveries are accepted)."""
        return self._running

    async def deliver(self, notice: AlertNotice) -> None:
        """:raises DeliveryPendingError: not confirmed in time (still queued).
        :raises SinkNotRunningError: the sink's `run` is not running."""
        if not self._running:
            raise SinkNotRunningError()
        outs = [
            await self.publisher.publish(
                alert_message(
                    notice.alert,
                    _patrol_of(target),
                    expiry_s=self.publisher.config.alert_expiry_s,
                    escalation_level=notice.escalation_level,
                    traceparent=notice.traceparent,
                ),
                traceparent=notice.traceparent,
            )
            for target in notice.to
        ]
        with anyio.move_on_after(self.confirm_s):
            for out in outs:
                await out.done.wait()
            return
        if self.store is not None:
            self._late_send.send_nowait((notice, outs))
        raise DeliveryPendingError(notice.alert.alert_id, self.confirm_s)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The sink's lifetime: accept deliveries, and record `AlertDispatched` for each alert
        delivered after `deliver` gave up, until cancelled. Runs once per sink."""
        self._running = True
        try:
            task_status.started()
            async with self._late_receive:
                async for notice, outs in self._late_receive:
                    for out in outs:
                        await out.done.wait()
                    if self.store is None:
                        continue
                    alert = notice.alert
                    await self.store.append(
                        LATE_DELIVERY_STREAM,
                        [
                            NewEvent(
                                event=AlertDispatched(
                                    alert_id=alert.alert_id,
                                    zone=alert.zone,
                                    patrol_ids=notice.to,
                                    channel="mqtt",
                                    escalation_level=notice.escalation_level,
                                ),
                                traceparent=notice.traceparent,
                            )
                        ],
                    )
        finally:
            self._running = False


class EventRelay:
    """Follows the log; publishes alert updates to the patrols holding the alert, and zone
    state (retained). At start it folds the log silently and publishes each zone's state."""

    def __init__(self, store: EventStore, publisher: MqttPublisher) -> None:
        self.store = store
        self.publisher = publisher
        self._holders: dict[str, tuple[str, set[str]]] = {}  # alert -> (zone, patrols)
        self._confirmed: dict[str, list[str]] = {}
        self._zones: dict[str, ZoneStateMessage] = {}

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        last = await self.store.last_seq()
        for env in await self.store.read_all(limit=None) if last else []:
            await self._apply(env, publish=False)
        for state in self._zones.values():
            await self.publisher.publish(state)
        task_status.started()
        async for env in self.store.subscribe(from_seq=last + 1):
            await self._apply(env, publish=True)

    async def _zone(self, zone: ZoneStateMessage, publish: bool) -> None:
        self._zones[zone.zone] = zone
        if publish:
            await self.publisher.publish(zone, traceparent=None)

    async def _update(self, env: Envelope, alert_id: str, publish: bool, **fields: object) -> None:
        held = self._holders.get(alert_id)
        if held is None or not publish:
            return
        zone, patrols = held
        for patrol in sorted(patrols):
            await self.publisher.publish(
                AlertUpdateMessage(
                    alert_id=alert_id,
                    zone=zone,
                    patrol_id=patrol,
                    occurred_at=env.occurred_at,
                    traceparent=env.traceparent,
                    confirmed_by=tuple(self._confirmed.get(alert_id, ())),
                    **fields,
                )
            )

    async def _apply(self, env: Envelope, *, publish: bool) -> None:
        try:
            event = env.decode()
        except ValueError:
            return
        match event:
            case AlertRaised():
                self._holders[event.alert_id] = (event.zone, set())
            case AlertDispatched():
                if held := self._holders.get(event.alert_id):
                    held[1].update(_patrol_of(p) for p in event.patrol_ids)
            case AlertEscalated():
                await self._update(env, event.alert_id, publish, status="escalated")
            case AlertAcknowledged():
                await self._update(
                    env, event.alert_id, publish, status="acknowledged", by=event.officer
                )
            case AlertAdjudicated():
                if event.verdict == "confirmed":
                    self._confirmed.setdefault(event.alert_id, []).append(event.officer)
                await self._update(
                    env,
                    event.alert_id,
                    publish,
                    status="adjudicated",
                    by=event.officer,
                    verdict=event.verdict,
                )
            case EngagementRecorded():
                await self._update(
                    env, event.alert_id, publish, status="engaged", by=event.engagement_officer
                )
            case DeploymentArmed():
                await self._zone(
                    ZoneStateMessage(
                        zone=event.zone,
                        armed=True,
                        reason=event.reason,
                        deployment_id=event.deployment_id,
                        patrols_on_duty=event.patrols_on_duty,
                        updated_at=env.occurred_at,
                    ),
                    publish,
                )
            case DeploymentDisarmed():
                await self._zone(
                    ZoneStateMessage(
                        zone=event.zone,
                        armed=False,
                        reason=event.reason,
                        deployment_id=event.deployment_id,
                        patrols_on_duty=event.patrols_on_duty,
                        updated_at=env.occurred_at,
                    ),
                    publish,
                )
            case DeploymentEnded():
                await self._zone(
                    ZoneStateMessage(
                        zone=event.zone,
                        armed=False,
                        reason=f"deployment ended ({event.reason})",
                        deployment_id=None,
                        updated_at=env.occurred_at,
                    ),
                    publish,
                )
            case _:
                pass
