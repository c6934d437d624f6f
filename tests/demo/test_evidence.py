"""The site's views (and the log's analysis windows) into report sections and ground truth,
on a hand-written log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lfr.demo.evidence import Evidence, clip_origins, read_evidence
from lfr.projections import Views
from lfr.scenes import Appearance, ClipManifest, SceneManifest
from lfr.store.memory import InMemoryEventStore
from schemas.envelope import NewEvent
from schemas.events import (
    AlertAcknowledged,
    AlertAdjudicated,
    AlertRaised,
    BiometricPurged,
    CameraStreamStarted,
    DeploymentArmed,
    DeploymentAuthorised,
    DeploymentDisarmed,
    DeploymentEnded,
    EngagementRecorded,
    FrameDiscarded,
)

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ZONE_OF = {"lr-1": "london-road"}


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def appearance(wid: str, identity: str, first_s: float, last_s: float, listed: bool):
    frames = range(round(first_s * 25), round(last_s * 25) + 1)
    return Appearance(
        walker_id=wid,
        identity=identity,
        photo=f"{identity}/1.jpg",
        watchlisted=listed,
        path="approach",
        first_frame=frames[0],
        last_frame=frames[-1],
        max_face_px=120,
        boxes=[(f, 10, 10, 60, 60) for f in frames],
    )


MANIFEST = SceneManifest(
    gallery="g",
    clips=[
        ClipManifest(
            name="lr-1",
            file="lr-1.mp4",
            width=640,
            height=360,
            fps=25,
            frames=25 * 40,
            seed=1,
            appearances=[
                appearance("a", "Ann_Subject", 4, 9, True),  # armed: must be alerted
                appearance("b", "Bob_Subject", 24, 29, True),  # after the patrol left
                appearance("c", "Cat_Passer", 5, 10, False),
            ],
        )
    ],
)


async def _log():
    store = InMemoryEventStore()
    dep = "dep-1"

    async def put(stream: str, event, s: float) -> None:
        await store.append(stream, [NewEvent(event=event, occurred_at=at(s))])

    await put(
        "zone:london-road",
        DeploymentAuthorised(
            deployment_id=dep,
            zone="london-road",
            cameras=("lr-1",),
            starts_at=at(0),
            ends_at=at(40),
            watchlist_version="v1",
            watchlist_size=2,
            threshold=0.6,
            legal_basis="x",
            reason="y",
            authorised_by="Supt",
        ),
        0.1,
    )
    await put(
        "zone:london-road",
        DeploymentArmed(
            deployment_id=dep, zone="london-road", reason="patrol_on_duty", patrols_on_duty=("p-1",)
        ),
        0.2,
    )
    await put(
        "camera:lr-1",
        CameraStreamStarted(camera="lr-1", zone="london-road", source="rtsp://x"),
        1.3,
    )
    await put(
        "camera:lr-1",
        FrameDiscarded(
            camera="lr-1",
            zone="london-road",
            deployment_id=dep,
            frames=30,
            faces_seen=40,
            window_start=at(1.5),
            window_end=at(11.0),
        ),
        11.0,
    )
    alert = AlertRaised(
        alert_id="al-1",
        match_id="m-1",
        zone="london-road",
        camera="lr-1",
        deployment_id=dep,
        watchlist_version="v1",
        entry_id="wl-1",
        subject_label="Ann Subject",
        category="suspect",
        similarity=0.71,
        threshold=0.6,
        frame_at=at(6.0),
    )
    await put("zone:london-road", alert, 6.2)
    await put(
        "patrol:p-1", AlertAcknowledged(alert_id="al-1", patrol_id="p-1", officer="PC 1"), 7.0
    )
    for officer in ("PC 1", "PC 2"):
        await put(
            "patrol:p-1",
            AlertAdjudicated(
                alert_id="al-1", patrol_id="p-1", officer=officer, verdict="confirmed"
            ),
            7.5,
        )
    await put(
        "patrol:p-1",
        EngagementRecorded(
            alert_id="al-1",
            patrol_id="p-1",
            engagement_officer="PC 1",
            confirmed_by=("PC 1", "PC 2"),
            outcome="arrested",
        ),
        8.0,
    )
    await put(
        "zone:london-road",
        DeploymentDisarmed(deployment_id=dep, zone="london-road", reason="last_patrol_left"),
        20.0,
    )
    await put(
        "zone:london-road",
        DeploymentEnded(deployment_id=dep, zone="london-road", reason="window_closed"),
        40.0,
    )
    await put(
        "zone:london-road",
        BiometricPurged(
            scope="deployment_watchlist", reason="ended", refs_purged=2, deployment_id=dep
        ),
        40.0,
    )
    return store


async def _evidence() -> Evidence:
    store = await _log()
    views = Views.in_memory()
    try:
        return await read_evidence(views, store, ZONE_OF)
    finally:
        await views.aclose()


async def test_fold_gives_sections_and_ground_truth():
    ev = await _evidence()
    ev.stream_started = clip_origins(ev.stream_started, at(0.0))
    assert ev.stream_started == {"lr-1": at(0.0)}  # came up with the site: clip began then
    until = at(40)
    (section,) = ev.sections(
        MANIFEST,
        {"london-road": "London Road"},
        until,
        {"al-1": 150.0},
        {"Ann Subject": "Ann_Subject"},
    )
    assert section.armed_periods == [(at(0.2), at(20.0))]
    assert (section.frames_analysed, section.faces_scanned, section.frames_discarded) == (
        30,
        40,
        30,
    )
    (row,) = section.alerts
    assert row.ground_truth == "true" and row.acknowledged_by == "PC 1"
    assert row.ack_after_s == 0.8 and row.latency_ms == 150.0
    assert row.adjudications == ["PC 1: confirmed", "PC 2: confirmed"]
    assert row.engagement == "arrested" and section.engagements == 1
    assert section.watchlist_purged and section.refs_purged == 2
    gt, walked, disarmed = ev.ground_truth(MANIFEST, until, {"Ann_Subject"})
    assert walked == {"Ann_Subject"} and disarmed == {"Bob_Subject"}
    assert (gt.subjects_walked, gt.subjects_alerted, gt.subjects_walked_while_disarmed) == (1, 1, 1)
    assert gt.frames_analysed_while_disarmed == 0


async def test_an_alert_for_someone_not_there_is_false_and_late_frames_are_caught():
    ev = await _evidence()
    ev.stream_started = clip_origins(ev.stream_started, at(0.0))
    (section,) = ev.sections(MANIFEST, {}, at(40), {}, {"Ann Subject": "Bob_Subject"})
    assert [a.ground_truth for a in section.alerts] == ["false"]  # Bob walks at 24 s, not 6 s
    ev.analysed_at.append(("lr-1", at(25.0), at(26.0), 5))  # frames while disarmed
    assert ev.frames_analysed_while_disarmed(at(40)) == 5


def test_a_camera_that_came_up_late_is_timed_from_its_own_start():
    late = clip_origins({"lr-1": at(10.0)}, at(0.0))
    assert late["lr-1"] == at(10.0) - timedelta(seconds=1.2)


async def test_frames_seen_by_the_analysis_path_are_checked_against_armed_periods():
    ev = await _evidence()
    inside = [at(5.0), at(19.9)]
    assert ev.frames_captured_while_disarmed({"lr-1": inside}, at(40)) == 0
    assert ev.frames_captured_while_disarmed({"lr-1": [*inside, at(0.0), at(21.0)]}, at(40)) == 2
