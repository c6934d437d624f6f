"""Casting the demo: who is on the watchlist (enrolled from one photo, walking in another),
who merely passes by, and where each walking photo's face is.

The real face pipeline decides: a subject's enrolment and walking photos must each hold one
enrollable face; near-identical pairs (a mirrored copy, a resize) are skipped, since a real
watchlist image is never the street image. Passers-by are everyone else, unfiltered: if one of
them resembles a subject, the demo's false-alert count says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lfr.scenes import Person
from lfr.scenes.gallery import Box, Image

__all__ = ["Cast", "CastMember", "choose_cast", "detector_locator"]

_NEAR_DUPLICATE = 0.97


@dataclass(frozen=True)
class CastMember:
    identity: str
    enrol_photo: Path
    walk_photo: Path
    similarity: float  # enrolment vs walking photo, as the pipeline sees them


@dataclass
class Cast:
    subjects: list[CastMember]
    passers_by: list[Person]
    boxes: dict[Path, Box] = field(default_factory=dict)


def detector_locator(pipeline: object) -> Callable[[Image], Box | None]:
    """A `FaceLocator` on the real detector: the largest face of a BGR photo."""
    import cv2

    def locate(bgr: Image) -> Box | None:
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        dets = pipeline.models.detect(rgb)  # type: ignore[attr-defined]
        if not dets:
            return None
        x1, y1, x2, y2 = max(dets, key=lambda d: d.size_px).box
        return float(x1), float(y1), float(x2 - x1), float(y2 - y1)

    return locate


def choose_cast(
    pipeline: object,
    people: list[Person],
    *,
    subjects: int,
    threshold: float,
    rng: np.random.Generator,
    margin: float = 0.05,
    progress: Callable[[str], None] = lambda _: None,
) -> Cast:
    """Pick `subjects` watchlist people with a distinct enrolment and walking photo.

    :raises ConfigError: the gallery has too few people with two usable photos.
    """
    from lfr.errors import ConfigError
    from lfr.vision.errors import EnrolmentError
    from lfr.watchlist.enrol import embed_photo

    order = [people[i] for i in rng.permutation(len(people))]
    chosen: list[CastMember] = []
    for person in order:
        if len(chosen) == subjects:
            break
        if len(person.photos) < 2:
            continue
        vectors: dict[Path, np.ndarray] = {}
        for photo in person.photos:
            try:
                vectors[photo] = embed_photo(pipeline, photo)  # type: ignore[arg-type]
            except EnrolmentError:
                continue
        pairs = [
            (float(vectors[a] @ vectors[b]), a, b)
            for a in vectors
            for b in vectors
            if a != b and float(vectors[a] @ vectors[b]) < _NEAR_DUPLICATE
        ]
        usable = [p for p in pairs if p[0] >= threshold + margin]
        for v in vectors.values():
            v.fill(0)
        if not usable:
            continue
        sim, enrol, walk = usable[int(rng.integers(len(usable)))]
        chosen.append(CastMember(person.identity, enrol, walk, sim))
        progress(f"cast {person.identity}: enrolled from {enrol.name}, walks as {walk.name}")
    if len(chosen) < subjects:
        raise ConfigError(
            f"the gallery has only {len(chosen)} people with two usable, distinct photos; "
            f"{subjects} needed: add <Identity>/ folders with two or more clear photos"
        )
    listed = {c.identity for c in chosen}
    return Cast(chosen, [p for p in people if p.identity not in listed])
