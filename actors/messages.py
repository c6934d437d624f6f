"""The messages actors exchange: commands (imperative) and notices between actors.

Commands come from the API, the CLI or a timer and may be refused (`CommandRejected`);
notices tell another actor about a fact already recorded. Messages are plain frozen
dataclasses and never carry pixels or embeddings.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from schemas.events import AlertRaised, FaceMatched

__all__ = [
    "Acknowledge",
    "Adjudicate",
    "AlertAcked",
    "AlertAssigned",
    "Arm",
    "AuthoriseDeployment",
    "CameraReady",
    "CameraStatus",
    "CancelDeployment",
    "ChangeThreshold",
    "CheckIn",
    "CheckOut",
    "Disarm",
    "GetStatus",
    "Heartbeat",
    "MatchReported",
    "PatrolDuty",
    "RecordEngagement",
    "Settle",
    "Tick",
]

# --- zone commands ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthoriseDeployment:
    starts_at: datetime
    ends_at: datetime
    watchlist_version: str
    threshold: float
    legal_basis: str
    reason: str
    authorised_by: str
    cameras: tuple[str, ...] | None = None  # None: every camera of the zone
    deployment_id: str = field(default_factory=lambda: f"dep-{uuid.uuid4().hex[:12]}")


@dataclass(frozen=True, slots=True)
class CancelDeployment:
    deployment_id: str
    cancelled_by: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeThreshold:
    deployment_id: str
    new_threshold: float
    changed_by: str
    reason: str


# --- patrol commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckIn:
    zone: str  # zone name, e.g. "north-end"
    officers: tuple[str, ...]
    callsign: str | None = None


@dataclass(frozen=True, slots=True)
class CheckOut:
    reason: Literal["end_of_duty", "reassigned", "supervisor"] = "end_of_duty"


@dataclass(frozen=True, slots=True)
class Acknowledge:
    alert_id: str
    officer: str


@dataclass(frozen=True, slots=True)
class Adjudicate:
    alert_id: str
    officer: str
    verdict: Literal["confirmed", "false_alert"]
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RecordEngagement:
    alert_id: str
    engagement_officer: str
    outcome: Literal[
        "arrested", "spoken_to", "safeguarded", "not_located", "confirmed_false", "other"
    ]
    note: str | None = None


# --- notices between actors -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatrolDuty:
    """Patrol -> zone: a `PatrolCheckedIn`/`PatrolCheckedOut` was recorded."""

    patrol_id: str
    on_duty: bool
    officers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchReported:
    """Camera -> zone: a `FaceMatched` was recorded (its id is the alert's causation)."""

    match: FaceMatched
    event_id: uuid.UUID
    label: str
    appended_ns: int  # time.perf_counter_ns() right after the append, for latency metrics


@dataclass(frozen=True, slots=True)
class AlertAssigned:
    """Zone -> patrol: this alert is in your queue now."""

    alert: AlertRaised
    escalation_level: int = 0


@dataclass(frozen=True, slots=True)
class AlertAcked:
    """Patrol -> zone: an officer acknowledged; stop the escalation clock."""

    alert_id: str
    patrol_id: str


@dataclass(frozen=True, slots=True)
class CameraReady:
    """Camera -> zone: I (re)started disarmed; tell me whether to arm."""

    camera: str


@dataclass(frozen=True, slots=True)
class Arm:
    """Zone -> camera: analyse with this watchlist version and threshold."""

    deployment_id: str
    watchlist_version: str
    threshold: float


@dataclass(frozen=True, slots=True)
class Disarm:
    """Zone -> camera (ask): stop; answered once no analysis is in flight."""

    reason: str


@dataclass(frozen=True, slots=True)
class Tick:
    """A timer fired: `what` is e.g. `window_start`, `window_end`, `ack_deadline`."""

    what: str
    key: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Camera/patrol -> zone: still alive (liveness only, nothing recorded)."""

    sender: str


@dataclass(frozen=True, slots=True)
class GetStatus:
    """Any actor: answer with a snapshot of your state (for the API and tests)."""


@dataclass(frozen=True, slots=True)
class Settle:
    """Camera (ask): answer once no frame waits in the slot and none is being analysed."""


@dataclass(frozen=True, slots=True)
class CameraStatus:
    camera: str
    zone: str
    armed_deployment: str | None
    frames_received: int
    frames_ignored_disarmed: int
    frames_analysed: int
    frames_dropped: int
    matches: int
    recogniser_calls: int
    stream_up: bool
