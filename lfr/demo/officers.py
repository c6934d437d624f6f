"""Simulated patrol officers: phones subscribed over MQTT, acknowledging and adjudicating.

Each patrol's device subscribes to its own topics, as the officer web app does. On an alert
the first patrol to claim it acknowledges; two of its officers compare the images (here: ask
the scenes' ground truth, as a human reviewer would see whether the person matches) and
record their verdicts; after two confirmations one engages. Every step continues the alert's
trace (W3C traceparent from the MQTT message), and the time from frame decode to delivery on
the device is measured here, where the officer would see it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
import anyio.abc
from opentelemetry.trace import SpanKind

from lfr.api.ports import SiteCommands, Verdict
from lfr.errors import LfrError
from lfr.telemetry import get_tracer, metrics, span_from_traceparent
from lfr.transport.mqtt import MqttConfig, subscribe
from schemas.messages import AlertMessage

__all__ = ["AlertSeen", "OfficerDesk", "Patrol"]

log = logging.getLogger(__name__)
_tracer = get_tracer("lfr.demo.officer")

#: judge(alert) -> True when the person on camera is the watchlisted subject
Judge = Callable[[AlertMessage], bool]


@dataclass(frozen=True)
class Patrol:
    patrol_id: str
    zone: str
    officers: tuple[str, str]
    callsign: str


@dataclass
class AlertSeen:
    """An alert as a device received it (no image, just ids and times)."""

    alert_id: str
    zone: str
    camera: str
    patrol_id: str
    subject_label: str
    similarity: float
    received_at: datetime
    latency_ms: float
    state: str = "received"


@dataclass
class OfficerDesk:
    """All simulated devices of the site, sharing who has claimed which alert."""

    site: SiteCommands
    mqtt: MqttConfig
    judge: Judge
    think_s: float = 0.3  # an officer looking at the screen before pressing a button
    seen: dict[str, AlertSeen] = field(default_factory=dict)
    log_line: Callable[[str], None] = lambda _: None
    claimed: set[str] = field(default_factory=set)

    async def run_patrol(
        self,
        patrol: Patrol,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Subscribe as `patrol`'s device and handle its alerts until cancelled."""
        topic = self.mqtt.topics.patrol_filter(patrol.zone, patrol.patrol_id)
        async with subscribe(
            self.mqtt, f"device-{patrol.patrol_id}", [topic], clean=True
        ) as messages:
            task_status.started()
            async with anyio.create_task_group() as tg:
                async for received in messages:
                    if isinstance(received.message, AlertMessage):
                        tp = received.traceparent or received.message.traceparent
                        tg.start_soon(self._handle, patrol, received.message, tp)

    async def _handle(self, patrol: Patrol, alert: AlertMessage, traceparent: str | None) -> None:
        try:
            await self._review(patrol, alert, traceparent)
        except LfrError as exc:  # a refused command is the site's answer, not a crash
            self.log_line(f"{patrol.callsign}: alert {_short(alert.alert_id)}: {exc}")

    async def _review(self, patrol: Patrol, alert: AlertMessage, traceparent: str | None) -> None:
        now = datetime.now(UTC)
        latency = (now - alert.frame_at).total_seconds() * 1000.0
        with span_from_traceparent(
            _tracer,
            "officer.alert_received",
            traceparent,
            kind=SpanKind.CONSUMER,
            attributes={
                "lfr.alert_id": alert.alert_id,
                "lfr.patrol": patrol.patrol_id,
                "lfr.zone": alert.zone,
            },
        ):
            if alert.alert_id in self.claimed:
                return  # another patrol of the zone took it
            self.claimed.add(alert.alert_id)
            seen = AlertSeen(
                alert.alert_id,
                alert.zone,
                alert.camera,
                patrol.patrol_id,
                alert.subject_label,
                alert.similarity,
                now,
                latency,
            )
            self.seen[alert.alert_id] = seen
            metrics().alert_delivered_ms(alert.zone, alert.camera, latency)
            self.log_line(
                f"{patrol.callsign} received alert {_short(alert.alert_id)} on {alert.camera}: "
                f"{alert.subject_label} ({alert.similarity:.2f}), {latency:.0f} ms after capture"
            )
            await anyio.sleep(self.think_s)
            with _tracer.start_as_current_span("officer.acknowledge"):
                await self.site.acknowledge(
                    patrol.patrol_id, alert.alert_id, officer=patrol.officers[0]
                )
            seen.state = "acknowledged"
            genuine = self.judge(alert)
            verdict: Verdict = "confirmed" if genuine else "false_alert"
            for officer in patrol.officers:
                await anyio.sleep(self.think_s)
                with _tracer.start_as_current_span("officer.adjudicate"):
                    await self.site.adjudicate(
                        patrol.patrol_id,
                        alert.alert_id,
                        officer=officer,
                        verdict=verdict,
                        note="compared live capture with the watchlist image",
                    )
            seen.state = "confirmed" if genuine else "false alert"
            if genuine:
                await anyio.sleep(self.think_s)
                with _tracer.start_as_current_span("officer.engage"):
                    await self.site.record_engagement(
                        patrol.patrol_id,
                        alert.alert_id,
                        engagement_officer=patrol.officers[0],
                        outcome="spoken_to",
                        note="demo: subject spoken to",
                    )
                seen.state = "engaged"
            self.log_line(f"{patrol.callsign} {seen.state} alert {_short(alert.alert_id)}")


def _short(alert_id: str) -> str:
    return alert_id.removeprefix("alert-")[:8]
