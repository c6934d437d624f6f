"""Payloads lfr publishes over MQTT to officers' devices: alerts, alert updates, zone state.

These models are the contract `schemas/asyncapi.yaml` is generated from (see
`lfr.transport.asyncapi`); CI fails when the two drift. A payload names the subject only by the
watchlist label an officer needs; it never carries image bytes, only API paths that serve the
images to an authorised officer until their retention ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import WatchlistCategory

__all__ = ["AlertMessage", "AlertStatus", "AlertUpdateMessage", "ZoneStateMessage"]

AlertStatus = Literal["acknowledged", "adjudicated", "engaged", "escalated", "closed"]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AlertMessage(_Message):
    """A new alert for one patrol: everything the officer's card shows, with image links."""

    message_type: Literal["alert"] = "alert"
    alert_id: str = Field(description="de-duplication key: a client shows one card per alert_id")
    zone: str
    camera: str
    patrol_id: str
    deployment_id: str
    subject_label: str = Field(description="the watchlist entry's label shown to officers")
    category: WatchlistCategory
    similarity: float = Field(ge=-1.0, le=1.0)
    threshold: float = Field(gt=0.0, le=1.0)
    frame_at: datetime = Field(description="capture time of the frame that matched")
    raised_at: datetime
    expires_at: datetime = Field(
        description="after this the alert is stale: an MQTT 5 broker expires it, a client of "
        "an MQTT 3.1.1 broker must drop it itself"
    )
    crop_url: str | None = Field(default=None, description="API path of the live capture")
    reference_url: str | None = Field(default=None, description="API path of the watchlist photo")
    escalation_level: int = Field(default=0, ge=0)
    traceparent: str | None = Field(
        default=None,
        description="W3C trace context (also an MQTT 5 user property; the only carrier on 3.1.1)",
    )


class AlertUpdateMessage(_Message):
    """A change to an alert a patrol holds: acknowledged, judged, engaged, escalated, closed."""

    message_type: Literal["alert_update"] = "alert_update"
    alert_id: str
    zone: str
    patrol_id: str
    status: AlertStatus
    by: str | None = Field(default=None, description="the officer who acted")
    verdict: Literal["confirmed", "false_alert"] | None = None
    confirmed_by: tuple[str, ...] = Field(
        default=(), description="officers who confirmed so far; two are needed to engage"
    )
    occurred_at: datetime
    traceparent: str | None = None


class ZoneStateMessage(_Message):
    """Whether a zone is armed and why: retained, so a device that connects sees it at once."""

    message_type: Literal["zone_state"] = "zone_state"
    zone: str
    armed: bool
    reason: str = Field(description="why the zone is (dis)armed, e.g. patrol_on_duty")
    deployment_id: str | None = None
    patrols_on_duty: tuple[str, ...] = ()
    updated_at: datetime
