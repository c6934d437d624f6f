"""A match's crop is the crop of a face that matched its entry: never a view kept for another
entry, never none while some sample of that entry had one (issue 14, item 6)."""

from __future__ import annotations

import numpy as np

from lfr.video.tracker import TrackingDecider
from lfr.vision.types import Candidate, FaceResult
from tests.video.fakes import face
from tests.video.test_tracker import run, walk


def _sample(i: int, entry: str, sim: float, mark: int | None) -> FaceResult:
    f = face(walk(i), person=1, similarity=sim, entry=entry)
    f.crop = None if mark is None else np.full((8, 8, 3), mark, np.uint8)
    return f


def _with_template(decider: TrackingDecider, f: FaceResult, i: int, entry: str, sim: float):
    """`f` as `TrackingRecogniser` gives it: its track's template, with it, searched too."""
    planned = decider.track_template(walk(i))
    assert planned is not None
    f.track_id = planned[0]
    f.track_best = Candidate(entry, f"person {entry}", sim)
    return f


def test_the_crop_is_never_one_that_voted_for_another_entry() -> None:
    decider = TrackingDecider("c")
    run(decider, [[_sample(0, "alice", 0.55, mark=1)]])  # alice, not sure yet
    # the next face looks more like bob on its own, but with the track it is alice, surely
    second = _with_template(decider, _sample(1, "bob", 0.52, mark=2), 1, "alice", 0.70)
    matches, _ = run(decider, [[second]], start=1)
    assert [m.candidate.entry_id for m in matches] == ["alice"]
    crop = matches[0].crop
    assert crop is not None and (crop == 1).all()  # alice's own view, not bob's voter


def test_a_sample_without_a_crop_does_not_take_the_entrys_crop_away() -> None:
    decider = TrackingDecider("c")
    frames = [[_sample(0, "alice", 0.56, mark=3)], [_sample(1, "alice", 0.58, mark=None)]]
    matches, _ = run(decider, frames)
    assert [m.candidate.entry_id for m in matches] == ["alice"]  # two votes over 0.5
    crop = matches[0].crop
    assert crop is not None and (crop == 3).all()


def test_a_match_the_template_alone_decided_has_the_face_that_made_it() -> None:
    decider = TrackingDecider("c")
    run(decider, [[_sample(0, "bob", 0.30, mark=4)]])
    second = _with_template(decider, _sample(1, "bob", 0.32, mark=5), 1, "alice", 0.61)
    matches, _ = run(decider, [[second]], start=1)
    assert [m.candidate.entry_id for m in matches] == ["alice"]
    crop = matches[0].crop
    assert crop is not None and (crop == 5).all()  # the face whose template matched alice
