"""`TrackingDecider` with scripted faces: one decision per person, nothing kept of others."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np

from lfr.video.tracker import TrackerConfig, TrackingDecider
from lfr.vision.types import Candidate, FaceResult, Frame, FrameAnalysis
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


def test_one_lucky_frame_among_many_unlike_it_is_not_a_match() -> None:
    decider = TrackingDecider()
    # One sample above the threshold among low ones of the same entry: no other agrees.
    sims = [0.2, 0.3, 0.52, 0.25, 0.3]
    matches, _ = run(decider, [[face(walk(i), person=1, similarity=s)] for i, s in enumerate(sims)])
    rest = decider.flush()
    assert matches == [] and rest.matches == []
    assert rest.discarded.tracks_closed == 1


def test_closing_track_decides_on_its_best_sample_when_others_agree() -> None:
    decider = TrackingDecider()
    # A person seen mostly at an angle: one good view over the threshold, others near it.
    sims = [0.41, 0.44, 0.58, 0.43, 0.40]
    matches, _ = run(decider, [[face(walk(i), person=1, similarity=s)] for i, s in enumerate(sims)])
    assert matches == []  # not sure while the track lives ...
    rest = decider.flush()  # ... but its evidence decides when it closes
    assert [m.candidate.entry_id for m in rest.matches] == ["e-1"]
    assert abs(rest.matches[0].candidate.similarity - 0.58) < 1e-6


def test_evidence_is_kept_by_similarity_not_image_quality() -> None:
    decider = TrackingDecider()
    sharp = face(walk(0), person=1, similarity=0.3, quality=0.95)
    sharp.crop = np.full((8, 8, 3), 1, np.uint8)
    turned = face(walk(1), person=1, similarity=0.75, quality=0.4)
    turned.crop = np.full((8, 8, 3), 2, np.uint8)
    matches, _ = run(decider, [[sharp], [turned]])
    assert len(matches) == 1
    m = matches[0]
    assert abs(m.candidate.similarity - 0.75) < 1e-6  # (0.75 >= 0.5 + sure margin)
    assert m.crop is not None and (m.crop == 2).all()  # the view that matched, not the sharpest
    assert abs(m.quality - 0.4) < 1e-6


def test_the_track_template_decides_when_single_frames_do_not() -> None:
    decider = TrackingDecider("c")
    first = face(walk(0), person=1, similarity=0.45)
    run(decider, [[first]])
    planned = decider.track_template(walk(1))
    assert planned is not None and planned[0] == "c-t1"
    second = face(walk(1), person=1, similarity=0.46)
    second.track_id = planned[0]  # the recogniser searched this track's mean with this face
    second.track_best = Candidate("e-1", "person e-1", 0.56)
    matches, _ = run(decider, [[second]], start=1)
    assert [m.candidate.similarity for m in matches] == [0.56]
    # a template planned on another track is not this track's evidence
    decider = TrackingDecider("c")
    run(decider, [[face(walk(0), person=1, similarity=0.45)]])
    stray = face(walk(1), person=1, similarity=0.46)
    stray.track_id, stray.track_best = "c-t9", Candidate("e-1", "person e-1", 0.56)
    matches, _ = run(decider, [[stray]], start=1)
    assert matches == []


def test_undecided_track_is_sampled_for_as_long_as_it_lives_at_a_bounded_rate() -> None:
    config = TrackerConfig()
    decider = TrackingDecider(config=config)
    embedded = []
    for i in range(60):  # six seconds at 10 fps, a face far below the threshold
        box = walk(i, step=1.0)
        now = int(i / 10 * 1e9)
        due = decider.wants_embedding(box, 0.9, now)
        f = face(box, person=1, similarity=0.1)
        if not due:
            f.embedding, f.best, f.crop = None, None, None
        else:
            embedded.append(i / 10)
        run(decider, [[f]], start=i)
    assert embedded[-1] >= 5.0  # still looked at near the end of its life
    gaps = np.diff(embedded)
    assert gaps.min() >= config.sample_interval_s - 1e-9  # never more often than the bound
    # clearly nobody on the list after its first samples: sampled at the idle rate
    assert np.median(gaps[config.warm_samples :]) >= config.idle_interval_s - 1e-9


def test_someone_else_in_a_decided_tracks_place_is_a_new_track() -> None:
    """A cut to another shot (or another person stepping into the same spot): the decided
    track is checked now and then, and a face unlike it starts a track of its own."""
    decider = TrackingDecider()
    matches, _ = run(decider, [[face(walk(0, step=0), person=1, similarity=0.9, entry="a")]])
    assert len(matches) == 1
    later = int(1.2 * 1e9)
    assert decider.wants_embedding(walk(0, step=0), 0.9, later)  # due for a check
    other = face(walk(0, step=0), person=2, similarity=0.8, entry="b")
    matches, _ = run(decider, [[other]], start=12)
    assert [m.candidate.entry_id for m in matches] == ["b"]
    assert decider.tracks_started == 2


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
    # an open track's samples are counted when it ends (one of them might have matched)
    tallies.append(decider.flush().discarded)
    assert sum(t.faces_seen for t in tallies) == 5
    assert sum(t.tracks_started for t in tallies) == sum(t.tracks_closed for t in tallies) == 1


def test_every_face_is_counted_once_matched_or_discarded() -> None:
    """A frame with a match still counts its other faces; the match's own face is the match."""
    decider = TrackingDecider()
    frames = [
        [
            face(walk(i), person=1, similarity=0.9, entry="wanted"),
            face((400, 300, 460, 360), person=2, similarity=0.1, entry="nobody"),
            face((10, 300, 70, 360), person=4, similarity=None),  # not embedded this frame
        ]
        for i in range(4)
    ]
    matches, tallies = run(decider, frames)
    tallies.append(decider.flush().discarded)
    assert len(matches) == 1
    assert sum(t.faces_seen for t in tallies) + len(matches) == 12
    assert sum(t.frames for t in tallies) == 3  # the frame of the match is not a discard
    assert sum(t.tracks_started for t in tallies) == 3
    assert sum(t.tracks_closed for t in tallies) == 2


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
    assert decider.settled(walk(1), later)  # decided: followed by its box only ...
    assert not decider.wants_embedding(walk(1), 0.99, later)
    assert not decider.settled(walk(1), int(1.1 * 1e9))  # ... and checked now and then
    assert decider.wants_embedding((900.0, 100.0, 980.0, 180.0), 0.5, later)  # a newcomer
