"""The read models the projections build from the log: what officers, supervisors and
auditors query. Frozen like the events, exported as JSON Schema beside them.

Counts in `DeploymentCounts` are evidence, not estimates: each is a sum over events in the
log, so `lfr audit replay` recomputes them from nothing but the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import BiometricRef, Sealed, WatchlistCategory

__all__ = [
    "Acknowledgement",
    "Adjudication",
    "AlertRecord",
    "AlertState",
    "AuditReport",
    "CameraRecord",
    "DeploymentAudit",
    "DeploymentCounts",
    "DeploymentStatus",
    "PatrolRecord",
    "TimelineEntry",
    "ZoneRecord",
]

AlertState = Literal["raised", "dispatched", "acknowledged", "adjudicated", "engaged"]
DeploymentStatus = Literal["authorised", "armed", "disarmed", "ended"]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Acknowledgement(_View):
    """One officer saying they have seen an alert and are dealing with it."""

    officer: str
    patrol_id: str
    at: datetime


class Adjudication(_View):
    """One officer's judgement of an alert after comparing the images."""

    officer: str
    patrol_id: str
    verdict: Literal["confirmed", "false_alert"]
    at: datetime
    note: str | None = None


class AlertRecord(_View):
    """One alert and everything that happened to it, as officers and auditors see it.

    Who (`entry_id`, `subject_label`) and the image refs are stored sealed, as in the log,
    and opened as the record is served; once retention shredded their key they stay null
    and `erased_at` says when."""

    alert_id: str
    match_id: str
    zone: str
    camera: str
    deployment_id: str
    entry_id: str | None = None
    subject_label: str | None = None
    category: WatchlistCategory
    similarity: float
    threshold: float
    watchlist_version: str
    frame_at: datetime
    crop_ref: BiometricRef | None = None
    reference_ref: BiometricRef | None = None
    sealed: Sealed | None = Field(
        default=None, description="the personal fields as the log holds them, encrypted"
    )
    erased_at: datetime | None = Field(
        default=None, description="when retention erased the personal fields (null: readable)"
    )
    state: AlertState
    raised_at: datetime
    dispatched_at: datetime | None = None
    dispatched_to: tuple[str, ...] = Field(
        default=(), description="patrols (or 'supervisor') the alert was sent or escalated to"
    )
    escalation_level: int = 0
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, description="the officer")
    acknowledged_patrol: str | None = None
    acknowledgements: tuple[Acknowledgement, ...] = Field(
        default=(), description="every acknowledgement in log order (the first is above)"
    )
    adjudications: tuple[Adjudication, ...] = ()
    verdict: Literal["confirmed", "false_alert"] | None = Field(
        default=None, description="the latest adjudication's verdict"
    )
    adjudicated_at: datetime | None = None
    confirmed_by: tuple[str, ...] = Field(
        default=(), description="distinct officers who confirmed the match"
    )
    engaged_at: datetime | None = None
    engagement_officer: str | None = None
    outcome: str | None = None
    last_seq: int = Field(description="log position of the newest event applied to this alert")


class DeploymentCounts(_View):
    """What a deployment did, counted from the log.

    `frames_analysed` = frames discarded + frames that produced a match;
    `faces_seen` = faces in discarded frames + matched faces.
    """

    frames_analysed: int = 0
    faces_seen: int = 0
    frames_discarded: int = 0
    faces_below_quality: int = 0
    matches: int = 0
    alerts: int = 0
    true_alerts: int = 0
    false_alerts: int = 0
    engagements: int = 0
    biometrics_purged: int = 0


class TimelineEntry(_View):
    """One notable event of a deployment (frame counts are summed, not listed)."""

    seq: int
    at: datetime
    type: str
    summary: str
    detail: dict[str, Any] = Field(default_factory=dict)


class DeploymentAudit(_View):
    """A deployment as an auditor reviews it: authority, window, time line and counts."""

    deployment_id: str
    zone: str
    cameras: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    authorised_by: str
    authorised_at: datetime
    legal_basis: str
    reason: str
    watchlist_version: str
    watchlist_size: int
    threshold: float
    status: DeploymentStatus
    counts: DeploymentCounts
    timeline: tuple[TimelineEntry, ...] = ()


class AuditReport(_View):
    """The audit view at one position of the log (`lfr audit replay`)."""

    as_of_seq: int
    as_of: datetime | None = Field(default=None, description="the --until time, if given")
    deployments: tuple[DeploymentAudit, ...]
    unattributed: dict[str, DeploymentCounts] = Field(
        default_factory=dict,
        description="counts logged under deployment ids the log never authorised: analysis "
        "without recorded authority (should be empty)",
    )


class ZoneRecord(_View):
    """Whether a zone is armed and why, as the log last said (the API's zone list and the
    retained MQTT zone state are both this)."""

    zone: str
    armed: bool = False
    reason: str = "no deployment authorised"
    deployment_id: str | None = None
    deployment_ends_at: datetime | None = None
    patrols_on_duty: tuple[str, ...] = ()
    updated_at: datetime | None = None


class PatrolRecord(_View):
    """A patrol's latest check-in: its zone, officers and whether it is still on duty."""

    patrol_id: str
    zone: str
    officers: tuple[str, ...]
    callsign: str | None = None
    on_duty: bool


class CameraRecord(_View):
    """A camera's stream as the log tells it: when its video first arrived, and now."""

    camera: str
    zone: str
    first_started_at: datetime | None = None
    streaming: bool = False
    changed_at: datetime
