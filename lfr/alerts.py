"""How a zone hands an alert to the officers' devices: the `AlertSink` seam.

The zone records `AlertRaised`, calls `AlertSink.deliver`, and records `AlertDispatched` only
once the sink returned. The MQTT publisher implements this interface; `InMemoryAlertSink`
collects notices for tests and benchmarks. A notice carries the alert event (ids, label,
category, similarity, references to encrypted images: nothing else biometric) and the
`traceparent` of the span that raised it, so the officer's acknowledgement joins the trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import anyio

from schemas.events import AlertRaised

__all__ = ["AlertNotice", "AlertSink", "InMemoryAlertSink"]

Channel = Literal["mqtt", "web_push", "api"]


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One delivery: the alert, to whom (patrol ids or `supervisor:<zone>`), at which level."""

    alert: AlertRaised
    to: tuple[str, ...]
    escalation_level: int = 0
    traceparent: str | None = None


@runtime_checkable
class AlertSink(Protocol):
    """Delivers alert notices to officers. Must be quick (it runs in the zone's handler):
    publish or queue, don't wait for a human."""

    channel: Channel

    async def deliver(self, notice: AlertNotice) -> None:
        """:raises Exception: delivery failed; the zone logs it and escalation still runs."""
        ...


@dataclass
class InMemoryAlertSink:
    """Keeps every notice in order; `wait_for(n)` waits until n have arrived."""

    channel: Channel = "api"
    notices: list[AlertNotice] = field(default_factory=list)
    _arrived: anyio.Event | None = field(default=None, repr=False)

    async def deliver(self, notice: AlertNotice) -> None:
        self.notices.append(notice)
        if self._arrived is not None:
            self._arrived.set()
            self._arrived = None

    async def wait_for(self, count: int) -> list[AlertNotice]:
        while len(self.notices) < count:
            if self._arrived is None:
                self._arrived = anyio.Event()
            await self._arrived.wait()
        return list(self.notices)
