"""Casting the demo: who is on the watchlist (enrolled from every other photo of them,
walking in one), who merely passes by, and where each walking photo's face is.

The real face pipeline decides: a subject's enrolment and walking photos must each show one
clear subject (`lfr.vision.subject`); photos nearly identical to the walking one (a mirrored
copy, a resize) are not enrolled, since a real watchlist image is never the street image.
Passers-by are everyone else, unfiltered: if one of them resembles a subject, the demo's
false-alert count says so.
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
    enrol_photos: tuple[Path, ...]
    walk_photo: Path
    similarity: float  # the enrolment photos' mean template vs the walking photo


@dataclass
class Cast:
    subjects: list[CastMember]
    passers_by: list[Person]
    boxes: dict[Path, Box] = field(default_factory=dict)


def detector_locator(pipeline: object) -> Callable[[Image], Box | None]:
    """A `FaceLocator` on the real detector: the subject of a BGR photo, by the rule that
    enrolled it (so the face pasted into the street is the one on the watchlist)."""
    import cv2

    from lfr.vision.subject import choose_subject

    def locate(bgr: Image) -> Box | None:
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        dets = pipeline.models.detect(rgb)  # type: ignore[attr-defined]
        choice = choose_subject([d.box for d in dets], rgb.shape[1], rgb.shape[0])
        if choice.index is None:
            return None
        x1, y1, x2, y2 = dets[choice.index].box
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
    """Pick `subjects` watchlist people with a walking photo and other photos to enrol.

    The walking photo is drawn among those the mean of the person's other (not nearly
    identical) photos finds at `threshold + margin` or more.
    :raises ConfigError: the gallery has too few people with two usable photos.
    """
    from lfr.errors import ConfigError
    from lfr.vision.errors import EnrolmentError
    from lfr.watchlist.enrol import embed_photo, template

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
        usable: list[tuple[float, tuple[Path, ...], Path]] = []
        for walk, seen in vectors.items():
            enrol = tuple(
                p for p, v in vectors.items() if p != walk and float(v @ seen) < _NEAR_DUPLICATE
            )
            if not enrol:
                continue
            mean = template([vectors[p] for p in enrol])
            sim = float(mean @ seen)
            mean.fill(0)
            if sim >= threshold + margin:
                usable.append((sim, enrol, walk))
        for v in vectors.values():
            v.fill(0)
        if not usable:
            continue
        sim, enrol, walk = usable[int(rng.integers(len(usable)))]
        chosen.append(CastMember(person.identity, enrol, walk, sim))
        names = ", ".join(p.name for p in enrol)
        progress(f"cast {person.identity}: enrolled from {names}, walks as {walk.name}")
    if len(chosen) < subjects:
        raise ConfigError(
            f"the gallery has only {len(chosen)} people with two usable, distinct photos; "
            f"{subjects} needed: add <Identity>/ folders with two or more clear photos"
        )
    listed = {c.identity for c in chosen}
    return Cast(chosen, [p for p in people if p.identity not in listed])
