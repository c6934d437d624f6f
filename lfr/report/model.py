"""What a transparency report says, per deployment, in the form police forces publish.

Built from the audit view of the log (who authorised what, when, alerts and their outcomes)
plus measurements of the run (latencies, similarity distributions). Nothing here identifies
a person who did not match: non-matches appear only as counts and as a histogram of their
closest similarity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lfr.vision.threshold import CALIBRATION, Measured, measured_at, modelled_fpir

__all__ = [
    "AlertRow",
    "DeploymentSection",
    "GroundTruth",
    "SimilarityHistogram",
    "TransparencyReport",
    "Verification",
]

Verdict = Literal["true", "false", "unknown"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AlertRow(_Model):
    """One alert: when, where, how similar, what officers decided and whether it was right."""

    alert_id: str
    raised_at: datetime
    camera: str
    subject_label: str | None = Field(
        description="the watchlist entry's label (a match, not a passer-by); null once "
        "retention erased it"
    )
    category: str
    similarity: float
    threshold: float
    ground_truth: Verdict = "unknown"
    acknowledged_by: str | None = None
    ack_after_s: float | None = None
    adjudications: list[str] = Field(default_factory=list, description="officer: verdict")
    engagement: str | None = Field(default=None, description="engagement outcome, if any")
    latency_ms: float | None = Field(default=None, description="frame decoded to MQTT delivery")


class SimilarityHistogram(_Model):
    """Counts of similarity scores in fixed bins, `edges` has one more item than `counts`."""

    edges: list[float]
    counts: list[int]

    @classmethod
    def of(
        cls, values: list[float], lo: float = -0.2, hi: float = 1.0, width: float = 0.02
    ) -> SimilarityHistogram:
        n = round((hi - lo) / width)
        edges = [round(lo + i * width, 4) for i in range(n + 1)]
        counts = [0] * n
        for v in values:
            i = min(n - 1, max(0, int((v - lo) / width)))
            counts[i] += 1
        return cls(edges=edges, counts=counts)

    @property
    def total(self) -> int:
        return sum(self.counts)


class DeploymentSection(_Model):
    deployment_id: str
    zone: str
    zone_name: str
    cameras: list[str]
    authorised_by: str
    legal_basis: str
    reason: str
    window_start: datetime
    window_end: datetime
    ended_at: datetime | None = None
    armed_periods: list[tuple[datetime, datetime]] = Field(default_factory=list)
    watchlist_version: str
    watchlist_size: int
    threshold: float
    frames_analysed: int = 0
    faces_scanned: int = 0
    frames_discarded: int = 0
    frames_by_camera: dict[str, int] = Field(default_factory=dict)
    alerts: list[AlertRow] = Field(default_factory=list)
    engagements: int = 0
    watchlist_purged: bool = Field(default=False, description="a BiometricPurged was recorded")
    refs_purged: int = Field(default=0, description="biometric references it says were erased")
    non_match_similarity: SimilarityHistogram | None = None

    @property
    def true_alerts(self) -> int:
        return sum(a.ground_truth == "true" for a in self.alerts)

    @property
    def false_alerts(self) -> int:
        return sum(a.ground_truth == "false" for a in self.alerts)

    @property
    def armed_seconds(self) -> float:
        return sum((b - a).total_seconds() for a, b in self.armed_periods)

    @property
    def modelled_fpir(self) -> float:
        """The chance a face of someone not on the list alerts, at this threshold and list
        size, from the calibration's impostor model (`lfr.vision.threshold`), not measured."""
        return modelled_fpir(self.threshold, self.watchlist_size)

    @property
    def measured(self) -> tuple[Measured, int] | None:
        """The calibration's measured figures that bound this deployment's false alert
        rate (`lfr.vision.threshold.measured_at`): the row and the list size measured."""
        return measured_at(self.threshold, self.watchlist_size) if self.watchlist_size else None

    @property
    def calibration(self) -> str:
        return CALIBRATION


class Verification(_Model):
    """The same check as `lfr audit verify`, as run on the log the report was built from."""

    chain_verified: bool
    events: int
    head_hash: str | None = None
    detail: str = ""


class GroundTruth(_Model):
    """Against the generated scenes' manifest (demo only)."""

    subjects_walked: int
    subjects_alerted: int
    subjects_walked_while_disarmed: int = 0
    frames_analysed_while_disarmed: int = 0


class TransparencyReport(_Model):
    title: str = "Live facial recognition: transparency report"
    force: str = "Demo Constabulary"
    site: str = "Town centre"
    generated_at: datetime
    deployments: list[DeploymentSection]
    latencies_ms: list[float] = Field(default_factory=list)
    verification: Verification | None = None
    ground_truth: GroundTruth | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def alerts(self) -> list[AlertRow]:
        return [a for d in self.deployments for a in d.alerts]
