# One module past 450 lines on purpose: every domain event in one file, the contract an
# auditor reads top to bottom.
"""Every domain event of lfr, one frozen model each.

Payloads say who, what, where, when and under which authority, as a police force and an
auditor need them. They never hold a face crop, an embedding or anything identifying a person
who did not match: biometric bytes live encrypted outside the log and are referenced by
`BiometricRef`, so deleting the key erases them while the hash chain stays intact.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.registry import Event

__all__ = [
    "ActorRestarted",
    "AlertAcknowledged",
    "AlertAdjudicated",
    "AlertDispatched",
    "AlertEscalated",
    "AlertRaised",
    "BiometricPurged",
    "BiometricRef",
    "CameraLeaseLapsed",
    "CameraStreamLost",
    "CameraStreamRecovered",
    "CameraStreamStarted",
    "DeploymentArmed",
    "DeploymentAuthorised",
    "DeploymentDisarmed",
    "DeploymentEnded",
    "EngagementRecorded",
    "EvidenceHold",
    "FaceMatched",
    "FrameDiscarded",
    "ImageViewed",
    "PersonalEvent",
    "PatrolCheckedIn",
    "PatrolCheckedOut",
    "Sealed",
    "ThresholdChanged",
    "WatchlistCategory",
    "WatchlistEntryAdded",
    "WatchlistEntryRemoved",
    "WatchlistPublished",
]

Similarity = float
WatchlistCategory = Literal[
    "wanted_by_police",
    "wanted_by_courts",
    "suspect",
    "missing_person",
    "vulnerable_person",
    "risk_to_self_or_others",
]


class BiometricRef(BaseModel):
    """A pointer to an encrypted biometric blob (crop or watchlist photo) outside the log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    blob_id: str = Field(description="id in the biometric vault; its key is shredded on purge")
    kind: Literal["alert_crop", "watchlist_image", "field_key"]
    sha256: str = Field(description="hex sha256 of the plaintext, so a later copy can be checked")
    retain_until: datetime | None = None


class Sealed(BaseModel):
    """The personal fields of one event, encrypted so that retention can erase them from an
    append-only log: AES-256-GCM under a data key kept in the vault as blob `key_ref`, which
    retention shreds when the alert's time is up. The hash chain covers this ciphertext, so
    the log verifies before and after the erasure; afterwards nobody can read who it was."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_ref: str = Field(description="vault id of the data key (a `field_key` blob)")
    fields: tuple[str, ...] = Field(description="names of the fields sealed here")
    nonce: str = Field(description="base64 of the 12-byte AES-GCM nonce")
    ciphertext: str = Field(description="base64 of AES-256-GCM over the fields as JSON")


class PersonalEvent(Event):
    """An event some of whose fields identify a person (`PERSONAL`).

    The site's log stores them sealed (`sealed` set, those fields null); in memory, and
    wherever the vault still holds the key, they are open (`lfr.sealing`). Fields in
    `REQUIRED_OPEN` must be given unless the event is sealed; a sealed event whose fields are
    null after opening was erased by retention."""

    ABSTRACT = True
    PERSONAL: ClassVar[tuple[str, ...]] = ()
    REQUIRED_OPEN: ClassVar[tuple[str, ...]] = ()

    sealed: Sealed | None = Field(
        default=None, description="the personal fields, encrypted (null: they are in clear)"
    )

    @model_validator(mode="after")
    def _open_or_sealed(self) -> Self:
        if self.sealed is None:
            missing = [f for f in self.REQUIRED_OPEN if getattr(self, f) is None]
            if missing:
                raise ValueError(f"{', '.join(missing)} required unless the event is sealed")
        return self

    @property
    def erased(self) -> bool:
        """Sealed and not opened: retention shredded its key (or it was never opened)."""
        return self.sealed is not None and all(
            getattr(self, f) is None for f in self.REQUIRED_OPEN or self.PERSONAL
        )


# --- deployments ------------------------------------------------------------------------------


class DeploymentAuthorised(Event):
    """An authorising officer approved LFR in one zone for a time window and a watchlist."""

    deployment_id: str
    zone: str
    cameras: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    watchlist_version: str = Field(description="content hash of the published watchlist")
    watchlist_size: int = Field(ge=0)
    threshold: float = Field(gt=0.0, le=1.0)
    legal_basis: str
    reason: str = Field(description="why LFR here and now: the necessity and proportionality case")
    authorised_by: str = Field(description="the authorising officer (rank, collar number)")
    model_pack: str | None = Field(
        default=None,
        description="the face-model pack the cameras run (npm name@version); None in logs "
        "written before it was recorded",
    )
    model_hashes: dict[str, str] = Field(
        default_factory=dict,
        description="sha256 of each model file of that pack, by file name",
    )


class DeploymentArmed(Event):
    """The zone's cameras start analysing: authorised, inside the window, patrol(s) on duty."""

    deployment_id: str
    zone: str
    reason: Literal["patrol_on_duty", "window_opened", "deployment_authorised", "restart"]
    patrols_on_duty: tuple[str, ...]


class DeploymentDisarmed(Event):
    """The zone's cameras stop analysing, with the reason."""

    deployment_id: str
    zone: str
    reason: Literal["last_patrol_left", "window_closed", "cancelled", "camera_fault"]
    patrols_on_duty: tuple[str, ...] = ()


class DeploymentEnded(Event):
    """The deployment is over: its window closed or it was cancelled."""

    deployment_id: str
    zone: str
    reason: Literal["window_closed", "cancelled"]
    ended_by: str | None = Field(default=None, description="who cancelled; None at window end")
    note: str | None = None


class ThresholdChanged(Event):
    """The similarity threshold in force for a deployment changed, by whom and why."""

    deployment_id: str
    zone: str
    old_threshold: float
    new_threshold: float = Field(gt=0.0, le=1.0)
    changed_by: str
    reason: str


# --- patrols ----------------------------------------------------------------------------------


class PatrolCheckedIn(Event):
    """A patrol came on duty in a zone, ready to respond to alerts."""

    patrol_id: str
    zone: str
    officers: tuple[str, ...] = Field(min_length=1)
    callsign: str | None = None


class PatrolCheckedOut(Event):
    """A patrol left duty in a zone."""

    patrol_id: str
    zone: str
    reason: Literal["end_of_duty", "reassigned", "supervisor"] = "end_of_duty"


# --- cameras ----------------------------------------------------------------------------------


class CameraStreamStarted(Event):
    """A camera's video arrived (first time or after a loss)."""

    camera: str
    zone: str
    source: str = Field(description="the source URL with any credentials removed")
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None


class CameraStreamLost(Event):
    """A camera's video stopped or failed; the camera retries with backoff."""

    camera: str
    zone: str
    reason: str
    retry_in_s: float | None = None


class CameraLeaseLapsed(Event):
    """A camera stopped analysing on its own: its zone (on another node) renewed its arming
    for longer than the lease allows, so the zone may be down or cut off. The camera keeps
    reading video and analyses nothing until the zone arms it again (`DeploymentArmed` is
    the zone's to record; this is the camera's side of the gap)."""

    camera: str
    zone: str
    deployment_id: str
    lease_s: float = Field(gt=0)
    silent_s: float = Field(ge=0)  # since the zone's last renewal


class CameraStreamRecovered(Event):
    """A camera's video returned after a `CameraStreamLost`: one event per outage, however
    many reconnection attempts it took (`retries`: the failed ones in between, 0 when the
    first worked; `down_s`: seconds from the loss to the first frame back)."""

    camera: str
    zone: str
    retries: int = Field(ge=0)
    down_s: float = Field(ge=0)


class FrameDiscarded(Event):
    """Evidence that analysed frames held no match and were deleted: counts, nothing else.

    One event may cover several frames of one camera (`frames`) so the log does not grow with
    the frame rate; `window_start`/`window_end` bound them. Every face detected while armed is
    counted once: in a `FaceMatched` (the face that matched) or here (`faces_seen`, whether or
    not its frame held a match). `frames` counts the frames with no match; a batch may hold no
    frame at all (only tracks closed, or faces of frames with a match). People are counted as
    tracks: `tracks_started`, and `tracks_closed` for those that ended without a match.
    `threshold` is the one in force for the whole batch (a batch never straddles a change;
    None in logs written before it was recorded).
    """

    camera: str
    zone: str
    deployment_id: str
    frames: int = Field(default=1, ge=0)
    faces_seen: int = Field(default=0, ge=0)
    faces_below_quality: int = Field(default=0, ge=0)
    tracks_started: int = Field(default=0, ge=0)
    tracks_closed: int = Field(default=0, ge=0)
    threshold: float | None = None
    reason: Literal["no_face", "no_match", "below_quality", "mixed"] = "no_match"
    window_start: datetime | None = None
    window_end: datetime | None = None


class FaceMatched(PersonalEvent):
    """A face on a camera scored at or above the threshold against one watchlist entry.

    Who (`entry_id`), the track and the crop's ref are personal: sealed in the log."""

    PERSONAL = ("entry_id", "track_id", "crop_ref")
    REQUIRED_OPEN = ("entry_id",)

    match_id: str
    camera: str
    zone: str
    deployment_id: str
    watchlist_version: str
    entry_id: str | None = None
    similarity: Similarity = Field(ge=-1.0, le=1.0)
    threshold: float
    track_id: str | None = None
    frame_at: datetime = Field(description="capture time of the frame that produced the match")
    crop_ref: BiometricRef | None = None
    face_size_px: int | None = None
    quality: float | None = None


# --- alerts -----------------------------------------------------------------------------------


class AlertRaised(PersonalEvent):
    """The zone turned a match into an alert for officers to review.

    Who (entry, label) and the image refs are personal: sealed in the log; the category,
    scores, times and versions stay in clear for the auditor."""

    PERSONAL = ("entry_id", "subject_label", "crop_ref", "reference_ref")
    REQUIRED_OPEN = ("entry_id", "subject_label")

    alert_id: str
    match_id: str
    zone: str
    camera: str
    deployment_id: str
    watchlist_version: str
    entry_id: str | None = None
    subject_label: str | None = Field(
        default=None, description="the watchlist entry's label, shown to officers"
    )
    category: WatchlistCategory
    similarity: Similarity
    threshold: float
    frame_at: datetime
    crop_ref: BiometricRef | None = None
    reference_ref: BiometricRef | None = None


class AlertDispatched(Event):
    """An alert was sent to patrols (and on which channel)."""

    alert_id: str
    zone: str
    patrol_ids: tuple[str, ...]
    channel: Literal["mqtt", "web_push", "api"] = "mqtt"
    escalation_level: int = Field(default=0, ge=0)


class AlertEscalated(Event):
    """Nobody acknowledged in time: the alert goes to another patrol or the supervisor."""

    alert_id: str
    zone: str
    to: tuple[str, ...]
    reason: Literal["unacknowledged", "no_patrol_on_duty"]
    escalation_level: int = Field(ge=1)


class AlertAcknowledged(Event):
    """An officer has seen the alert and is dealing with it."""

    alert_id: str
    patrol_id: str
    officer: str


class AlertAdjudicated(Event):
    """An officer compared the images and judged the alert."""

    alert_id: str
    patrol_id: str
    officer: str
    verdict: Literal["confirmed", "false_alert"]
    note: str | None = None


class EngagementRecorded(Event):
    """An officer engaged the person; allowed only after two different officers confirmed."""

    alert_id: str
    patrol_id: str
    engagement_officer: str
    confirmed_by: tuple[str, str] = Field(description="the two officers who verified the match")
    outcome: Literal[
        "arrested", "spoken_to", "safeguarded", "not_located", "confirmed_false", "other"
    ]
    note: str | None = None


class ImageViewed(Event):
    """Someone was shown a biometric image of an alert (its crop or its reference photo)."""

    alert_id: str
    viewer: str = Field(description="who asked for it (the token's subject)")
    role: str = Field(description="the role they asked as")
    kind: Literal["crop", "reference"]
    blob_id: str = Field(description="the vault id of the image served")


# --- watchlists -------------------------------------------------------------------------------


class WatchlistEntryAdded(PersonalEvent):
    """A person was put on a watchlist, on what basis and from which image.

    Who (label), where the images came from and the photo's ref are personal: sealed in the
    log under a key kept until the entry expires."""

    PERSONAL = ("label", "image_source", "image_ref", "photo_sources")
    REQUIRED_OPEN = ("label", "image_source")

    watchlist: str
    entry_id: str
    label: str | None = Field(default=None, description="name or case reference shown to officers")
    category: WatchlistCategory
    legal_basis: str
    image_source: str | None = Field(
        default=None, description="where the police lawfully hold the image"
    )
    added_by: str
    expires_at: datetime
    image_ref: BiometricRef | None = None
    photos: int | None = Field(
        default=None,
        ge=1,
        description="how many photos' templates the entry's mean is made of (None: not "
        "recorded, in events written before it was)",
    )
    photo_sources: tuple[str, ...] = Field(
        default=(),
        description="where each of those photos came from (names only, never image or "
        "template bytes)",
    )


class WatchlistEntryRemoved(Event):
    watchlist: str
    entry_id: str
    removed_by: str
    reason: str


class WatchlistPublished(Event):
    """A frozen version of a watchlist, the one a deployment arms with."""

    watchlist: str
    watchlist_version: str = Field(description="sha256 over the sorted entries and embeddings")
    entries: int = Field(ge=0)
    published_by: str
    valid_until: datetime
    bespoke: bool = Field(
        default=False,
        description="compiled for one deployment: its purge deletes the entries only it holds",
    )


class BiometricPurged(Event):
    """Biometric data was erased (keys shredded): a deployment's watchlist or expired images.

    A retention run (`scope="retention"`) names the vault ids it shredded and those it kept
    under an `EvidenceHold`: ids and counts only, never a biometric value."""

    scope: Literal["deployment_watchlist", "alert_images", "watchlist_entry", "retention"]
    reason: str
    refs_purged: int = Field(ge=0)
    deployment_id: str | None = None
    watchlist_version: str | None = None
    purged_by: str = "system"
    refs: tuple[str, ...] = Field(default=(), description="vault ids of the shredded blobs")
    crops_purged: int = Field(default=0, ge=0, description="of which match crops")
    images_purged: int = Field(default=0, ge=0, description="of which watchlist photos")
    templates_purged: int = Field(
        default=0, ge=0, description="of which watchlist templates (means and per-photo ones)"
    )
    entries_purged: int = Field(
        default=0, ge=0, description="watchlist entries no table holds any longer"
    )
    keys_purged: int = Field(
        default=0,
        ge=0,
        description="keys of sealed personal fields shredded (not counted in refs_purged)",
    )
    refs_held: tuple[str, ...] = Field(
        default=(), description="expired vault ids kept because an EvidenceHold covers them"
    )
    retention_cutoff: datetime | None = Field(
        default=None, description="blobs whose retain_until is at or before this were due"
    )


class EvidenceHold(Event):
    """A supervisor kept a biometric blob (a match crop that became evidence) past its
    retention, until `until`; retention shreds it only once the hold has expired."""

    blob_id: str = Field(description="the vault id of the held blob (a BiometricRef's blob_id)")
    held_by: str = Field(min_length=1, description="the supervisor (rank, collar number)")
    reason: str = Field(min_length=1, description="why: case or crime reference, court order")
    until: datetime = Field(description="the hold expires at this time")
    alert_id: str | None = Field(default=None, description="the alert the blob belongs to")


# --- the system itself ------------------------------------------------------------------------


class ActorRestarted(Event):
    """A supervisor restarted a crashed actor (no payload data of the crash, only its kind)."""

    actor: str
    error_type: str
    restarts_in_period: int = Field(ge=1)
    backoff_s: float = Field(ge=0.0)
