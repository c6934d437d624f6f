"""Enrolment: watchlist templates from photos, refusing photos with no face or several.

A photo must show exactly one prominent face: a second face at least half the size of the
largest makes it ambiguous who is being enrolled, so it is refused rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lfr.vision.errors import EnrolmentError
from lfr.vision.image import IMAGE_SUFFIXES, read_image
from lfr.vision.pipeline import FacePipeline
from lfr.watchlist.armed import ArmedWatchlist
from lfr.watchlist.entry import WatchlistEntry

__all__ = [
    "MIN_ENROL_FACE_PX",
    "embed_photo",
    "enrol_directory",
    "entries_from_directory",
    "identity_photos",
    "template",
]

Vector = npt.NDArray[np.float32]
MIN_ENROL_FACE_PX = 40
SECOND_FACE_RATIO = 0.5


def embed_photo(pipeline: FacePipeline, path: Path) -> Vector:
    """The L2-normalised embedding of the one face in a photo.

    :raises EnrolmentError: unreadable, no face, several faces, or a face too small.
    """
    image = read_image(path)
    if image is None:
        raise EnrolmentError(path, "not a readable image (JPEG, PNG, BMP or WebP expected)")
    detections = pipeline.models.detect(image)
    if not detections:
        raise EnrolmentError(path, "no face found; use a clear, frontal photo of the person")
    detections.sort(key=lambda d: d.size_px, reverse=True)
    largest = detections[0]
    others = [d for d in detections[1:] if d.size_px >= SECOND_FACE_RATIO * largest.size_px]
    if others:
        raise EnrolmentError(
            path,
            f"{len(others) + 1} faces found; crop the photo to the one person to enrol",
        )
    if largest.size_px < MIN_ENROL_FACE_PX:
        raise EnrolmentError(
            path, f"the face is {largest.size_px} px, at least {MIN_ENROL_FACE_PX} px needed"
        )
    analysis = pipeline.analyse_image(image, apply_gate=False, only_largest=True)
    face = analysis.faces[0]
    assert face.embedding is not None
    vector = face.embedding.copy()
    analysis.forget()
    return vector


def template(vectors: Sequence[Vector]) -> Vector:
    """One template from several photos of a person: the renormalised mean."""
    mean = np.mean(np.stack(vectors), axis=0)
    out: Vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    return out


def identity_photos(directory: Path) -> dict[str, list[Path]]:
    """`<identity>/<image>` folders (folders starting with `_` or `.` are skipped)."""
    if not directory.is_dir():
        raise EnrolmentError(directory, "not a folder of <identity>/<image> sub-folders")
    out: dict[str, list[Path]] = {}
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        if folder.name.startswith(("_", ".")):
            continue
        photos = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if photos:
            out[folder.name] = photos
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:100] or "entry"


def entries_from_directory(
    pipeline: FacePipeline,
    directory: Path,
    *,
    category: str = "wanted_by_police",
    legal_basis: str = "unspecified",
    added_by: str = "unknown",
    expires_at: datetime | None = None,
    photos_per_identity: int | None = None,
    on_refused: Callable[[EnrolmentError], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[WatchlistEntry]:
    """One entry per identity folder, its template the mean of its enrollable photos.

    Refused photos go to `on_refused` (or raise when it is None); an identity with no
    enrollable photo gets no entry.
    :raises EnrolmentError: a refused photo and no `on_refused`.
    """
    expires_at = expires_at or datetime.now(UTC) + timedelta(days=28)
    entries = []
    for identity, photos in identity_photos(directory).items():
        vectors: list[Vector] = []
        used: list[Path] = []
        for photo in photos[:photos_per_identity]:
            try:
                vectors.append(embed_photo(pipeline, photo))
                used.append(photo)
            except EnrolmentError as exc:
                if on_refused is None:
                    raise
                on_refused(exc)
        if not vectors:
            continue
        if progress is not None:
            progress(f"enrolled {identity} from {len(vectors)} photo(s)")
        entries.append(
            WatchlistEntry(
                entry_id=_slug(identity),
                label=identity.replace("_", " "),
                category=category,
                legal_basis=legal_basis,
                image_source=", ".join(str(p) for p in used),
                added_by=added_by,
                expires_at=expires_at,
                embedding=template(vectors),
                photos=len(vectors),
            )
        )
    return entries


def enrol_directory(
    pipeline: FacePipeline,
    directory: Path,
    *,
    photos_per_identity: int | None = None,
    on_refused: Callable[[EnrolmentError], None] | None = None,
) -> ArmedWatchlist:
    """An in-memory gallery from `<identity>/<image>` folders, for demos and `lfr watch`.

    Refused photos are skipped and reported to `on_refused` (default: ignored).
    """
    entries = entries_from_directory(
        pipeline,
        directory,
        legal_basis="ad-hoc enrolment (not a published watchlist)",
        photos_per_identity=photos_per_identity,
        on_refused=on_refused or (lambda _: None),
    )
    return ArmedWatchlist.from_entries(entries)
