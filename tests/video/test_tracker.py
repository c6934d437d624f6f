"""`TrackingDecider` with scripted faces: one decision per person, nothing kept of others."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np

from lfr.video.tracker import TrackingDecider
from lfr.vision.types import FaceResult, Frame, FrameAnalysis
from tests.video.fakes import face

T0 = time.monotonic_ns()


def frame(i: int, fps: float = 10.0) -> Frame:
    return Frame(
        image=np.zeros((4, 4, 3), np.uint8),
        index=i,
        pts_s=i / fps,
        captured_at=datetime.now(UTC),
        decoded_ns=T0 + int(i / fps * 1e9),
    )


def walk(i: int, x0: float = 100.0, step: float = 8.0) -> tuple[float, float, float, float]:
    x = x0 + step * i
    return (x, 200.0, x + 80.0, 280.0)


def run(
    decider: TrackingDecider, frames: list[list[FaceResult]], threshold: float = 0.5, start: int = 0
):
    matches = []
    tallies = []
    for i, faces in enumerate(frames, start):
        d = decider.decide(frame(i), FrameAnalysis(i, faces), threshold)
        matches += d.matches
        tallies.append(d.discarded)
    return matches, tallies


def test_one_person_walking_past_yields_one_match() -> None:
    decider = TrackingDecider("ne-1")
    frames = [[face(walk(i), person=1, similarity=0.62)] for i in range(30)]
    matches, _ = run(decider, frames)
    rest = decider.flush()
    assert len(matches) == 1 and not rest.matches
    m = matches[0]
    assert m.candidate.entry_id == "e-1"
    assert abs(m.candidate.similarity - 0.62) < 1e-6
    assert m.track_id == "ne-1-t1"
    assert m.crop is not None and m.crop.any()
    assert decider.tracks_started == 1


def test_a_single_weak_sample_waits_for_agreement_but_a_strong_one_decides_at_once() -> None:
    decider = TrackingDecider()
    matches, _ = run(decider, [[face(walk(0), person=1, similarity=0.55)]])
    assert matches == []
    matches, _ = run(decider, [[face(walk(1), person=1, similarity=0.56)]], start=1)
    assert len(matches) == 1
    decider = TrackingDecider()
    matches, _ = run(decider, [[face(walk(0), person=2, similarity=0.9)]])
    assert len(matches) == 1


def test_aggregate_below_threshold_is_not_a_match() -> None:
    decider = TrackingDecider()
    # One lucky frame above the threshold among low scores: the track's mean decides.
    sims = [0.2, 0.3, 0.52, 0.25, 0.3]
    matches, _ = run(decider, [[face(walk(i), person=1, similarity=s)] for i, s in enumerate(sims)])
    rest = decider.flush()
    assert matches == [] and rest.matches == []
    assert rest.discarded.tracks_closed == 1


def test_two_people_are_two_tracks_and_non_matches_end_as_counts() -> None:
    decider = TrackingDecider()
    frames = [
        [
            face(walk(i), person=1, similarity=0.7, entry="wanted"),
            face(walk(i, x0=900, step=-8), person=2, similarity=0.05, entry="other"),
        ]
        for i in range(10)
    ]
    matches, tallies = run(decider, frames)
    assert [m.candidate.entry_id for m in matches] == ["wanted"]
    assert decider.tracks_started == 2
    # The passer-by leaves: after the gap the track closes as a count, and is forgotten.
    empty, tallies = run(decider, [[] for _ in range(15)], start=10)
    assert empty == []
    assert decider.open_tracks == 0
    # The matched track was decided, not discarded: only the passer-by is a closed count.
    assert sum(t.tracks_closed for t in tallies) == 1
    assert decider.flush().discarded.tracks_closed == 0


def test_frames_without_match_are_counted_as_discarded() -> None:
    decider = TrackingDecider()
    frames = [[face(walk(i), person=1, similarity=0.1)] for i in range(5)] + [[]] * 3
    _, tallies = run(decider, frames)
    assert sum(t.frames for t in tallies) == 8
    assert sum(t.faces_seen for t in tallies) == 5


def test_biometric_parts_are_wiped_after_each_frame() -> None:
    decider = TrackingDecider()
    faces = [face(walk(0), person=3, similarity=0.1)]
    embedding, crop = faces[0].embedding, faces[0].crop
    assert embedding is not None and crop is not None
    decider.decide(frame(0), FrameAnalysis(0, faces), 0.5)
    assert faces[0].embedding is None and faces[0].crop is None
    assert not embedding.any() and not crop.any()


def test_fast_mover_is_linked_by_embedding_when_boxes_do_not_overlap() -> None:
    decider = TrackingDecider()
    frames = [[face(walk(i, step=200), person=4, similarity=0.1)] for i in range(4)]
    run(decider, frames)
    assert decider.tracks_started == 1


def test_small_fast_face_stays_one_track_by_centre_distance() -> None:
    decider = TrackingDecider()
    # 20 px face moving 14 px a frame: boxes barely overlap, no embedding (below quality).
    frames = []
    for i in range(8):
        f = face(walk(i, step=14.0), person=5, similarity=None)
        f.box = (f.box[0], 200.0, f.box[0] + 20.0, 220.0)
        f.embedding = None
        f.passed_quality = False
        frames.append([f])
    run(decider, frames)
    assert decider.tracks_started == 1


def test_planning_hooks_embed_new_and_undecided_tracks_only() -> None:
    decider = TrackingDecider()
    now = 0  # the stream clock (pts) of frame 0
    box = walk(0)
    assert decider.wants_embedding(box, 0.9, now) and not decider.settled(box, now)
    run(decider, [[face(walk(0), person=1, similarity=0.9)]])  # decided at once (sure)
    later = int(0.1 * 1e9)
    assert decider.regions(later) == [walk(0)]
    assert decider.settled(walk(1), later)  # decided: followed by its box only
    assert not decider.wants_embedding(walk(1), 0.99, later)
    assert decider.wants_embedding((900.0, 100.0, 980.0, 180.0), 0.5, later)  # a newcomer
