"""A synthetic event log of one realistic deployment day, for benchmarks and tests.

A deployment is authorised and armed, a patrol checks in, cameras stream, and then mostly
`FrameDiscarded` (one per camera per second of 25 frames), with a match every few hundred
events turning into an alert that is dispatched, acknowledged, adjudicated by two officers
and sometimes engaged; then the patrol leaves and the deployment ends. `lfr bench log`
appends and replays it; the projection and audit tests fold it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from schemas.envelope import NewEvent
from schemas.events import (
    AlertAcknowledged,
    AlertAdjudicated,
    AlertDispatched,
    AlertRaised,
    CameraStreamStarted,
    DeploymentArmed,
    DeploymentAuthorised,
    DeploymentDisarmed,
    DeploymentEnded,
    EngagementRecorded,
    FaceMatched,
    FrameDiscarded,
    PatrolCheckedIn,
    PatrolCheckedOut,
)
from schemas.streams import camera_stream, zone_stream

__all__ = ["Batch", "synthetic_log"]

Batch = tuple[str, list[NewEvent]]


def synthetic_log(
    n_events: int,
    *,
    batch: int = 1000,
    seed: int = 7,
    zone: str = "north-end",
    deployment_id: str = "d-ne-1",
    start: datetime | None = None,
    match_every: int = 400,
) -> Iterator[Batch]:
    """About `n_events` events of one deployment as (stream, events) batches of at most
    `batch`, in the order a site would append them."""
    rng = random.Random(seed)
    t0 = start or datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    prefix = "".join(word[0] for word in zone.split("-"))
    cameras = [f"{prefix}-{i}" for i in range(1, 4)]
    zs = zone_stream(zone)
    produced = 0

    def at(offset_s: float) -> datetime:
        return t0 + timedelta(seconds=offset_s)

    opening = [
        NewEvent(
            event=DeploymentAuthorised(
                deployment_id=deployment_id,
                zone=zone,
                cameras=tuple(cameras),
                starts_at=t0,
                ends_at=t0 + timedelta(hours=10),
                watchlist_version="a" * 64,
                watchlist_size=33,
                threshold=0.6,
                legal_basis="PACE s.1; force LFR policy v3",
                reason="serious violence hot spot, intelligence report 2026/118",
                authorised_by="Supt 4471 Okafor",
            ),
            occurred_at=at(0),
        ),
        NewEvent(
            event=PatrolCheckedIn(patrol_id="p-7", zone=zone, officers=("PC 101", "PC 102")),
            occurred_at=at(1),
        ),
        NewEvent(
            event=DeploymentArmed(
                deployment_id=deployment_id,
                zone=zone,
                reason="patrol_on_duty",
                patrols_on_duty=("p-7",),
            ),
            occurred_at=at(1),
        ),
    ]
    yield zs, opening
    produced += len(opening)
    for cam in cameras:
        yield (
            camera_stream(cam),
            [
                NewEvent(
                    event=CameraStreamStarted(
                        camera=cam, zone=zone, source=f"rtsp://cam/{cam}", fps=25.0
                    ),
                    occurred_at=at(2),
                )
            ],
        )
        produced += 1
    second = 3.0
    alert_no = 0
    while produced < n_events - 3:
        cam = cameras[rng.randrange(len(cameras))]
        size = min(batch, n_events - 3 - produced)
        events: list[NewEvent] = []
        followups: list[NewEvent] = []
        for _ in range(size):
            second += 1.0 / len(cameras)
            if rng.randrange(match_every) == 0 and len(events) + 7 < size:
                alert_no += 1
                match_id = f"{deployment_id}-m-{alert_no}"
                alert_id = f"{deployment_id}-a-{alert_no}"
                similarity = round(0.6 + rng.random() * 0.35, 4)
                events.append(
                    NewEvent(
                        event=FaceMatched(
                            match_id=match_id,
                            camera=cam,
                            zone=zone,
                            deployment_id=deployment_id,
                            watchlist_version="a" * 64,
                            entry_id=f"e-{rng.randrange(33)}",
                            similarity=similarity,
                            threshold=0.6,
                            frame_at=at(second),
                            face_size_px=rng.randrange(40, 160),
                        ),
                        occurred_at=at(second),
                    )
                )
                verdict = "confirmed" if rng.random() < 0.7 else "false_alert"
                followups += [
                    NewEvent(
                        event=AlertRaised(
                            alert_id=alert_id,
                            match_id=match_id,
                            zone=zone,
                            camera=cam,
                            deployment_id=deployment_id,
                            watchlist_version="a" * 64,
                            entry_id=f"e-{alert_no % 33}",
                            subject_label=f"Subject {alert_no % 33}",
                            category="wanted_by_police",
                            similarity=similarity,
                            threshold=0.6,
                            frame_at=at(second),
                        ),
                        occurred_at=at(second + 0.2),
                    ),
                    NewEvent(
                        event=AlertDispatched(alert_id=alert_id, zone=zone, patrol_ids=("p-7",)),
                        occurred_at=at(second + 0.3),
                    ),
                    NewEvent(
                        event=AlertAcknowledged(
                            alert_id=alert_id, patrol_id="p-7", officer="PC 101"
                        ),
                        occurred_at=at(second + 9),
                    ),
                    NewEvent(
                        event=AlertAdjudicated(
                            alert_id=alert_id, patrol_id="p-7", officer="PC 101", verdict=verdict
                        ),
                        occurred_at=at(second + 30),
                    ),
                ]
                if verdict == "confirmed":
                    followups += [
                        NewEvent(
                            event=AlertAdjudicated(
                                alert_id=alert_id,
                                patrol_id="p-7",
                                officer="PC 102",
                                verdict="confirmed",
                            ),
                            occurred_at=at(second + 35),
                        ),
                        NewEvent(
                            event=EngagementRecorded(
                                alert_id=alert_id,
                                patrol_id="p-7",
                                engagement_officer="PC 101",
                                confirmed_by=("PC 101", "PC 102"),
                                outcome="spoken_to",
                            ),
                            occurred_at=at(second + 120),
                        ),
                    ]
            else:
                faces = rng.choice((0, 0, 1, 1, 2, 3))
                events.append(
                    NewEvent(
                        event=FrameDiscarded(
                            camera=cam,
                            zone=zone,
                            deployment_id=deployment_id,
                            frames=25,
                            faces_seen=faces,
                            faces_below_quality=rng.randrange(faces + 1),
                            reason="no_match" if faces else "no_face",
                        ),
                        occurred_at=at(second),
                    )
                )
        yield camera_stream(cam), events
        produced += len(events)
        if followups:
            yield zs, followups
            produced += len(followups)
    closing = [
        NewEvent(
            event=PatrolCheckedOut(patrol_id="p-7", zone=zone),
            occurred_at=at(second + 200),
        ),
        NewEvent(
            event=DeploymentDisarmed(
                deployment_id=deployment_id, zone=zone, reason="last_patrol_left"
            ),
            occurred_at=at(second + 200),
        ),
        NewEvent(
            event=DeploymentEnded(deployment_id=deployment_id, zone=zone, reason="window_closed"),
            occurred_at=at(second + 201),
        ),
    ]
    yield zs, closing
