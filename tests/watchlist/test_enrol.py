"""Enrolment from photos: one clear subject per photo, clear refusals."""

from pathlib import Path

import pytest

from lfr.config import settings
from lfr.vision.errors import EnrolmentError
from lfr.watchlist.enrol import embed_photo, enrol_directory


def test_photo_with_several_faces_is_refused(pipeline):
    scene = settings().shared / "scenes" / "face_recognition_two_people.jpg"
    with pytest.raises(EnrolmentError, match="faces found and it is unclear whose photo it is"):
        embed_photo(pipeline, scene)


def test_photo_with_no_face_is_refused(pipeline):
    nothing = settings().shared / "scenes" / "negatives" / "compreface_017_0.jpg"
    with pytest.raises(EnrolmentError, match="no face found"):
        embed_photo(pipeline, nothing)


def test_unreadable_photo_is_refused(pipeline, tmp_path: Path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(EnrolmentError, match="not a readable image"):
        embed_photo(pipeline, bad)


def test_enrol_directory_builds_an_in_memory_gallery(pipeline, tmp_path: Path):
    faces = settings().faces_dir.resolve()
    for identity, files in {
        "Barack_Obama": ["1.jpg", "2.jpg"],
        "Joe_Biden": ["1.jpg"],
        "Crowd": [],
    }.items():
        (tmp_path / identity).mkdir()
        for f in files:
            (tmp_path / identity / f).symlink_to(faces / identity / f)
    (tmp_path / "Crowd" / "group.jpg").symlink_to(
        (settings().shared / "scenes" / "face_recognition_two_people.jpg").resolve()
    )
    refused: list[EnrolmentError] = []
    gallery = enrol_directory(pipeline, tmp_path, on_refused=refused.append)
    assert sorted(gallery.entry_ids) == ["Barack_Obama", "Joe_Biden"]
    assert [r.path.name for r in refused] == ["group.jpg"]
    probe = embed_photo(pipeline, faces / "Barack_Obama" / "4.jpg")
    (best,) = gallery.search(probe[None])
    assert best.entry_id == "Barack_Obama" and best.label == "Barack Obama"
