"""Whose photo it is: the subject rule on real photos, in enrolment and in evaluation."""

from pathlib import Path

import numpy as np
import pytest

from lfr.config import settings
from lfr.evaluation.faces import embed_images
from lfr.vision.errors import EnrolmentError
from lfr.vision.image import read_image
from lfr.vision.subject import choose_subject
from lfr.watchlist.enrol import embed_photo


def lfw(name: str) -> Path:
    return settings().shared / "calibration" / "lfw_singletons" / f"{name}.jpg"


def two_people() -> Path:
    # Obama's and Biden's portraits side by side; a false detection at Obama's hip is the
    # face nearest the centre
    return settings().shared / "scenes" / "face_recognition_two_people.jpg"


def _centre_offset(box, image) -> float:
    h, w = image.shape[:2]
    return float(np.hypot((box[0] + box[2]) / 2 / w - 0.5, (box[1] + box[3]) / 2 / h - 0.5))


def test_the_centred_subject_beats_a_larger_bystander_at_the_edge(pipeline):
    image = read_image(lfw("Guy_Verhofstadt"))
    detections = pipeline.models.detect(image)
    largest = max(detections, key=lambda d: d.size_px)
    analysis, choice = pipeline.analyse_subject(image)
    (face,) = analysis.faces
    assert not choice.ambiguous and choice.candidates == len(detections) >= 2
    assert face.size_px < largest.size_px  # the largest face is the bystander
    assert _centre_offset(face.box, image) < 0.05 < 0.3 < _centre_offset(largest.box, image)
    analysis.forget()


def test_enrolment_takes_the_subject_not_the_bystander(pipeline):
    image = read_image(lfw("Guy_Verhofstadt"))
    bystander = max(pipeline.models.detect(image), key=lambda d: d.size_px).box
    subject = embed_photo(pipeline, lfw("Guy_Verhofstadt"))
    other = embed_photo(pipeline, lfw("Guy_Verhofstadt"), box=bystander)
    assert float(subject @ other) < 0.3  # two different people


def test_two_comparable_faces_are_refused_with_what_to_do(pipeline):
    with pytest.raises(EnrolmentError) as info:
        embed_photo(pipeline, lfw("Stuart_Knoll"))
    message = str(info.value)
    assert "Stuart_Knoll.jpg" in message and "unclear whose photo it is" in message
    assert "crop the photo" in message and "give that person's box" in message


def test_a_much_larger_face_further_out_makes_the_photo_ambiguous(pipeline):
    with pytest.raises(EnrolmentError, match="times as large is further out"):
        embed_photo(pipeline, two_people())


def test_a_box_picks_the_subject_explicitly(pipeline):
    image = read_image(two_people())
    h, w = image.shape[:2]
    right_half = (w / 2, 0.0, float(w), float(h))
    biden = embed_photo(pipeline, two_people(), box=right_half)
    reference = embed_photo(pipeline, settings().faces_dir / "Joe_Biden" / "1.jpg")
    assert float(biden @ reference) > 0.5
    with pytest.raises(EnrolmentError, match="no face centred in the box 0,0,40,40"):
        embed_photo(pipeline, two_people(), box=(0.0, 0.0, 40.0, 40.0))


def test_evaluation_keeps_an_ambiguous_photo_and_counts_it(pipeline):
    paths = [lfw("Stuart_Knoll"), lfw("Guy_Verhofstadt")]
    embedded = embed_images(pipeline, paths)
    assert embedded.ambiguous == [lfw("Stuart_Knoll")]
    assert all(v is not None for v in embedded.vectors.values())  # no photo dropped


def test_the_rule_on_boxes():
    # two equal faces: the centred one wins; 15 % of the frame apart they are comparable
    centred, off = (40.0, 40.0, 60.0, 60.0), (70.0, 40.0, 90.0, 60.0)
    choice = choose_subject([off, centred], 100, 100)
    assert (choice.index, choice.ambiguous) == (1, False)
    near = (52.0, 40.0, 72.0, 60.0)
    assert choose_subject([near, centred], 100, 100).ambiguous
    # inside a box, only faces centred in it compete, scored against its centre
    within = choose_subject([near, centred], 100, 100, within=(60.0, 30.0, 100.0, 70.0))
    assert (within.index, within.candidates, within.ambiguous) == (0, 1, False)
    assert choose_subject([], 100, 100).index is None
