"""The MQTT side of the zone's `AlertSink`, and the relay of alert updates and zone state.

`MqttAlertSink.deliver` turns an `AlertNotice` into one `AlertMessage` per patrol and queues
it on the publisher, waiting at most `confirm_s` for the broker (the zone's handler must stay
quick). The sink owns its one background task, the late-delivery recorder: it delivers only
while its `run` runs (`lfr.transport.services.run_alert_services` starts it).
`EventRelay` follows the site's read model (`lfr.projections.Views`) and publishes what
officers' devices must learn next: acknowledgements, adjudications, engagements, escalations,
and each zone's armed state, as the views hold them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import anyio
import anyio.abc

from lfr.alerts import AlertNotice, Channel
from lfr.errors import LfrError
from lfr.projections import Record, Views
from lfr.projections.zones import ZONE_TYPES
from lfr.store.base import EventStore
from lfr.transport.mqtt import MqttPublisher, Outbound
from schemas.envelope import NewEvent
from schemas.events import AlertDispatched, AlertRaised
from schemas.messages import AlertMessage, AlertStatus, AlertUpdateMessage, ZoneStateMessage
from schemas.views import ZoneRecord

__all__ = [
    "LATE_DELIVERY_STREAM",
    "SUPERVISOR_PATROL",
    "DeliveryPendingError",
    "EventRelay",
    "MqttAlertSink",
    "SinkNotRunningError",
    "TransportError",
    "alert_message",
    "zone_state_message",
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


def zone_state_message(zone: ZoneRecord) -> ZoneStateMessage:
    """The retained MQTT zone state of a zone in the read model."""
    return ZoneStateMessage(
        zone=zone.zone,
        armed=zone.armed,
        reason=zone.reason,
        deployment_id=zone.deployment_id,
        patrols_on_duty=zone.patrols_on_duty,
        updated_at=zone.updated_at or datetime.now(UTC),
    )


#: What an officer's device learns about an alert it holds, by the event that changed it.
_UPDATES: dict[str, AlertStatus] = {
    "AlertEscalated": "escalated",
    "AlertAcknowledged": "acknowledged",
    "AlertAdjudicated": "adjudicated",
    "EngagementRecorded": "engaged",
}


class EventRelay:
    """Publishes what officers' devices must learn next, read from the site's `Views` as
    each batch lands there: alert updates to the patrols the alert was sent to, and each
    zone's state (retained). It folds nothing itself. At start it publishes every zone's
    state as the views hold it."""

    def __init__(self, views: Views, publisher: MqttPublisher) -> None:
        self.views = views
        self.publisher = publisher
        #: the zone states it published last (what a device connecting now is told)
        self.published: dict[str, ZoneStateMessage] = {}

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with self.views.changes() as batches:
            for zone in await self.views.zones():
                await self._publish_zone(zone)
            task_status.started()
            async for records in batches:
                await self._relay(records)

    async def _publish_zone(self, zone: ZoneRecord) -> None:
        message = zone_state_message(zone)
        self.published[zone.zone] = message
        await self.publisher.publish(message, traceparent=None)

    async def _relay(self, records: Sequence[Record]) -> None:
        zones: set[str] = set()
        for rec in records:
            t, p = rec["type"], rec["payload"]
            if t in ZONE_TYPES:
                zones.add(p["zone"])
            status = _UPDATES.get(t)
            if status is None:
                continue
            alert = await self.views.alert(p["alert_id"], opened=False)  # state, not who
            if alert is None:
                continue  # an alert this log never raised
            by: str | None = p.get("officer") or p.get("engagement_officer")
            for patrol in sorted({_patrol_of(x) for x in alert.dispatched_to}):
                await self.publisher.publish(
                    AlertUpdateMessage(
                        alert_id=alert.alert_id,
                        zone=alert.zone,
                        patrol_id=patrol,
                        status=status,
                        by=by,
                        verdict=p.get("verdict"),
                        confirmed_by=alert.confirmed_by,
                        occurred_at=rec["occurred_at"],
                        traceparent=rec.get("traceparent"),
                    )
                )
        for name in sorted(zones):
            zone = await self.views.zone(name)
            if zone is not None:
                await self._publish_zone(zone)
