"""Whose photo is it: the one rule that picks the subject among the faces of a photo.

Enrolment (`lfr.watchlist.enrol`), `lfr eval faces` and the demo's casting all use it, so
a photo means the same person everywhere. The subject is the face nearest the centre,
weighted by size: each face scores its area times a Gaussian of its centre's distance from
the centre of the photo (or of a box the user gives). In LFW-style photos the largest face
is a bystander at the edge often enough to cost about 2.5 points of TAR at FAR 1e-3
(shared/MODELS.md); a centred face wins here unless a bystander is several times larger.
When the runner-up scores close to the best, or a face clearly larger than the pick is
further out (two portraits side by side, where a false detection between them is nearest the
centre), the photo shows no single plausible subject: the caller refuses it (enrolment) or
counts it (evaluation), never silently takes one.

Pure geometry on boxes: no pixels or embeddings pass through this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lfr.vision.types import Box

__all__ = ["COMPARABLE", "LARGER", "SIGMA", "SubjectChoice", "choose_subject", "subject_score"]

#: spread of the centre weight, as a fraction of the frame's width and height: a face 15 %
#: of the frame off-centre keeps 61 % of its weight, one at the edge of an LFW crop (35 %) 7 %
SIGMA = 0.15
#: a runner-up scoring at least this fraction of the best makes the photo ambiguous (two
#: faces of one size, one centred and one 15 % off-centre, are just comparable)
COMPARABLE = 0.6
#: a face with a side this many times the pick's makes the photo ambiguous too: an LFW
#: bystander at the edge is at most 1.24 times the centred subject (186 multi-face photos)
LARGER = 1.4


@dataclass(frozen=True, slots=True)
class SubjectChoice:
    """Which box is the subject (None: no face in the frame or the given box) and, when the
    pick is a guess, the rival face that makes it one and why."""

    index: int | None
    candidates: int
    ratio: float = 0.0  # the runner-up's score / the subject's score
    rival: int | None = None
    reason: str = ""

    @property
    def ambiguous(self) -> bool:
        return self.rival is not None


def subject_score(box: Box, frame: Box) -> float:
    """Area times the centre weight of `box` (x1, y1, x2, y2) inside `frame` (same form)."""
    x1, y1, x2, y2 = box
    fx1, fy1, fx2, fy2 = frame
    width, height = max(fx2 - fx1, 1.0), max(fy2 - fy1, 1.0)
    dx = ((x1 + x2) / 2 - (fx1 + fx2) / 2) / width
    dy = ((y1 + y2) / 2 - (fy1 + fy2) / 2) / height
    side = _side(box)
    return side * side * math.exp(-(dx * dx + dy * dy) / (2 * SIGMA * SIGMA))


def choose_subject(
    boxes: Sequence[Box], width: int, height: int, *, within: Box | None = None
) -> SubjectChoice:
    """The subject among face `boxes` of a `width` x `height` photo.

    With `within`, only faces whose centre lies in that box compete, scored against its
    centre: giving a box is the same as cropping the photo to it.
    """
    frame: Box = within if within is not None else (0.0, 0.0, float(width), float(height))
    fx1, fy1, fx2, fy2 = frame
    scored = []
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        if within is not None and not (fx1 <= cx <= fx2 and fy1 <= cy <= fy2):
            continue
        scored.append((subject_score((x1, y1, x2, y2), frame), i))
    if not scored:
        return SubjectChoice(None, 0)
    scored.sort(reverse=True)
    best_score, best = scored[0]
    if len(scored) == 1 or best_score <= 0.0:
        return SubjectChoice(best, len(scored))
    second_score, second = scored[1]
    ratio = second_score / best_score
    if ratio >= COMPARABLE:
        return SubjectChoice(
            best, len(scored), ratio, second, "two faces are about as central and as large"
        )
    side = _side(boxes[best])
    _, largest = max((_side(boxes[i]), i) for _, i in scored)
    if _side(boxes[largest]) >= LARGER * side:
        return SubjectChoice(
            best,
            len(scored),
            ratio,
            largest,
            f"a face {_side(boxes[largest]) / side:.1f} times as large is further out",
        )
    return SubjectChoice(best, len(scored), ratio)


def _side(box: Box) -> float:
    return max(min(box[2] - box[0], box[3] - box[1]), 0.0)
