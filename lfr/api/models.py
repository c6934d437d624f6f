"""Request and response bodies of the HTTP API (the OpenAPI document is generated from them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from lfr.api.ports import EngagementOutcome, Verdict
from lfr.api.push import EndpointPolicy, check_keys
from lfr.retention import EVIDENCE_HOLD_MAX
from schemas.events import WatchlistCategory

__all__ = [
    "AdjudicateRequest",
    "EvidenceHeld",
    "EvidenceHoldRequest",
    "AlertView",
    "AuthoriseRequest",
    "CancelRequest",
    "CheckInRequest",
    "CheckOutRequest",
    "DeploymentCreated",
    "ERROR_RESPONSES",
    "EngagementRequest",
    "ErrorBody",
    "InclusionProof",
    "Me",
    "PublishedWatchlist",
    "PushKeys",
    "PushSubscription",
    "RemoveEntryRequest",
    "SignedCheckpoint",
    "VerifyResult",
    "WatchlistEntryRequest",
    "ZoneView",
]

_Id = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", min_length=1, max_length=64)
_Text = Field(min_length=1, max_length=2000)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorBody(BaseModel):
    """Every 4xx lfr itself produces: what was wrong and what to do next."""

    detail: str | list[dict[str, object]]
    error: str | None = None
    code: str | None = None


#: Error statuses every route may answer with, documented once for all routers.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "the request body is not parseable"},
    401: {"model": ErrorBody, "description": "missing, malformed or expired bearer token"},
    403: {"model": ErrorBody, "description": "the token's role may not do this"},
    404: {"model": ErrorBody, "description": "no such resource for this caller"},
    409: {"model": ErrorBody, "description": "a domain rule refused the command"},
    410: {"model": ErrorBody, "description": "biometric data past retention or shredded"},
    # one body for every 422 (in place of FastAPI's list-only one): lfr's own refusals
    # (a photo without a face, an expiry past the policy) answer with a string
    422: {
        "model": ErrorBody,
        "description": "invalid input: the fields that do not fit the schema (`detail` a "
        "list of {loc, msg, type}), or a value a rule refuses (`detail` the reason, `error` "
        "its class)",
    },
}


class Me(BaseModel):
    name: str
    role: str
    patrol_id: str | None
    zone: str | None


class ZoneView(BaseModel):
    zone: str
    armed: bool
    reason: str
    deployment_id: str | None
    patrols_on_duty: list[str]
    updated_at: datetime | None


class AuthoriseRequest(_Body):
    # request times carry their offset (AwareDatetime): a naive one is a 422, not a 500
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    watchlist_version: str = Field(min_length=1, max_length=128)
    threshold: float = Field(gt=0.0, le=1.0, default=0.6)
    legal_basis: str = _Text
    reason: str = Field(min_length=1, max_length=2000, description="necessity and proportionality")
    cameras: list[str] | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _window(self) -> AuthoriseRequest:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone (e.g. 2026-11-26T09:00Z)")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class DeploymentCreated(BaseModel):
    deployment_id: str
    zone: str


class CancelRequest(_Body):
    note: str | None = Field(default=None, max_length=2000)


class CheckInRequest(_Body):
    zone: str = _Id
    officers: list[str] = Field(min_length=1, max_length=8)
    callsign: str | None = Field(default=None, max_length=32)


class CheckOutRequest(_Body):
    reason: Literal["end_of_duty", "reassigned", "supervisor"] = "end_of_duty"


class AdjudicateRequest(_Body):
    verdict: Verdict
    note: str | None = Field(default=None, max_length=2000)


class EngagementRequest(_Body):
    outcome: EngagementOutcome
    note: str | None = Field(default=None, max_length=2000)


class EvidenceHoldRequest(_Body):
    """Keep an alert's images and who it was past retention, because they became evidence."""

    reason: str = Field(
        min_length=1, max_length=500, description="case or crime reference, court order"
    )
    until: AwareDatetime = Field(
        description="the hold ends then (at most 10 years on: renew it for longer); "
        "retention erases them after"
    )

    @field_validator("until")
    @classmethod
    def _within_policy(cls, until: datetime) -> datetime:
        try:
            until = until.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("until is out of range") from exc
        if until > datetime.now(UTC) + EVIDENCE_HOLD_MAX:
            raise ValueError("a hold lasts at most 10 years; renew it before it ends")
        return until


class EvidenceHeld(BaseModel):
    alert_id: str
    blob_ids: list[str] = Field(description="the vault ids now held (crop, sealed fields' key)")
    until: datetime


class AlertView(BaseModel):
    """An alert as an officer's card shows it."""

    alert_id: str
    zone: str
    camera: str
    deployment_id: str
    subject_label: str | None = Field(
        description="who the alert is about; null once retention erased it (see erased_at)"
    )
    erased_at: datetime | None = Field(
        default=None, description="when retention erased the alert's personal fields"
    )
    category: WatchlistCategory
    similarity: float
    threshold: float
    frame_at: datetime
    raised_at: datetime
    status: Literal["raised", "acknowledged", "adjudicated", "engaged"]
    patrol_ids: list[str]
    escalation_level: int
    acknowledged_by: list[str]
    confirmed_by: list[str]
    false_alert_by: list[str]
    engagement_officer: str | None
    engagement_outcome: str | None
    crop_url: str | None
    reference_url: str | None
    delivered_at: datetime | None = Field(description="when MQTT delivery reached the broker")


class WatchlistEntryRequest(_Body):
    label: str = Field(min_length=1, max_length=200)
    category: WatchlistCategory
    legal_basis: str = _Text
    image_source: str = _Text
    expires_at: AwareDatetime = Field(
        description="at most LFR_WATCHLIST_MAX_EXPIRY_DAYS (31) days ahead; renew to keep"
    )
    images_base64: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]+={0,2}$")]] = Field(
        min_length=1, max_length=10, description="JPEG/PNG photos, base64"
    )


class RemoveEntryRequest(_Body):
    reason: str = _Text


class PublishedWatchlist(BaseModel):
    watchlist: str
    watchlist_version: str


class VerifyResult(BaseModel):
    """What `lfr audit verify --json` reports (the same code), less the server's file path."""

    ok: bool
    events: int = Field(description="events verified before the first problem (all if ok)")
    checkpoints_verified: int
    last_checkpoint: int = Field(description="tree size of the last verified checkpoint")
    unsigned_tail: int = Field(description="newest events not yet in a signed checkpoint")
    key_id: str | None
    key_source: str
    first_bad_seq: int | None = None
    problem: str | None = None
    notes: list[str] = Field(default_factory=list)
    anchors_verified: int = Field(
        default=0, description="checkpoints held outside the log (a witness) that match it"
    )
    anchored_size: int = Field(default=0, description="the largest tree size they vouch for")


class SignedCheckpoint(BaseModel):
    """The log's size and Merkle root, signed with the site's Ed25519 key."""

    log_id: str
    tree_size: int
    root: str
    last_hash: str
    signed_at: str
    key_id: str
    signature: str


class InclusionProof(BaseModel):
    """The document `lfr audit proof` writes: check it offline with
    `lfr audit check-proof FILE --public-key K`."""

    format: Literal["lfr.inclusion-proof.v1"]
    envelope: dict[str, Any] = Field(description="the event exactly as hashed, with its hash")
    leaf_index: int
    tree_size: int
    path: list[str]
    checkpoint: SignedCheckpoint


class PushKeys(_Body):
    # the lengths in the patterns too: a generator (schemathesis) then writes valid ones
    p256dh: str = Field(
        pattern=r"^[A-Za-z0-9_-]{87}=?$",
        min_length=87,
        max_length=88,
        description="the browser's uncompressed P-256 public key (65 bytes), base64url",
    )
    auth: str = Field(
        pattern=r"^[A-Za-z0-9_-]{22}(==)?$",
        min_length=22,
        max_length=24,
        description="16 bytes, base64url",
    )

    @model_validator(mode="after")
    def _keys_usable(self) -> PushKeys:
        check_keys(self.p256dh, self.auth)
        return self


class PushSubscription(_Body):
    """What `PushSubscription.toJSON()` gives in the browser."""

    endpoint: str = Field(
        max_length=2000, description="https only; its host must resolve to public addresses only"
    )
    expirationTime: float | None = None  # noqa: N815 (the browser's name)
    keys: PushKeys

    @field_validator("endpoint")
    @classmethod
    def _https(cls, endpoint: str) -> str:
        EndpointPolicy.parse(endpoint)  # the form; the addresses are checked when stored
        return endpoint
