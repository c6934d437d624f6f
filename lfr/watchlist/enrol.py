"""Enrolment: watchlist templates from photos, refusing photos that do not say who to enrol.

The subject of a photo is picked by `lfr.vision.subject`'s rule (the face nearest the
centre, weighted by size), the one `lfr eval faces` uses too. A photo whose runner-up face
scores close to the subject is refused, never guessed: crop it, or give the subject's box.
Only the subject's face is embedded; the others in the photo never are.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lfr.vision.errors import EnrolmentError
from lfr.vision.image import IMAGE_SUFFIXES, ImageTooLargeError, read_image
from lfr.vision.pipeline import FacePipeline
from lfr.vision.types import Box
from lfr.watchlist.armed import ArmedWatchlist
from lfr.watchlist.entry import WatchlistEntry

__all__ = [
    "MIN_ENROL_FACE_PX",
    "Enrolled",
    "Enrolment",
    "Photo",
    "embed_photo",
    "embed_photos",
    "enrol_photos",
    "enrol_directory",
    "entries_from_directory",
    "identity_photos",
    "slug",
    "template",
]

Vector = npt.NDArray[np.float32]
MIN_ENROL_FACE_PX = 40


def _box_text(box: Box) -> str:
    return ",".join(str(round(v)) for v in box)


def embed_photo(pipeline: FacePipeline, path: Path, box: Box | None = None) -> Vector:
    """The L2-normalised embedding of the photo's subject (within `box`, when given).

    :raises EnrolmentError: unreadable, no face, two comparable faces, or a face too small.
    """
    try:
        image = read_image(path)
    except ImageTooLargeError as exc:
        raise EnrolmentError(path, str(exc)) from exc
    if image is None:
        raise EnrolmentError(path, "not a readable image (JPEG, PNG, BMP or WebP expected)")
    analysis, choice = pipeline.analyse_subject(image, box)
    try:
        if not analysis.faces:
            if box is not None:
                raise EnrolmentError(
                    path, f"no face centred in the box {_box_text(box)}; check its corners"
                )
            raise EnrolmentError(path, "no face found; use a clear, frontal photo of the person")
        face = analysis.faces[0]
        if choice.ambiguous:
            where = f" in the box {_box_text(box)}" if box is not None else ""
            raise EnrolmentError(
                path,
                f"{choice.candidates} faces found{where} and it is unclear whose photo it is "
                f"({choice.reason}; the face nearest the centre is at {_box_text(face.box)}); "
                "crop the photo to the one person to enrol, or give that person's box "
                "(x1,y1,x2,y2 in pixels)",
            )
        if face.size_px < MIN_ENROL_FACE_PX:
            raise EnrolmentError(
                path, f"the face is {face.size_px} px, at least {MIN_ENROL_FACE_PX} px needed"
            )
        assert face.embedding is not None
        return face.embedding.copy()
    finally:
        analysis.forget()


@dataclass(slots=True, repr=False)
class Enrolled:
    """What a set of photos of one person gave: a template per accepted photo, where each
    came from, and every refused photo with its reason."""

    vectors: list[Vector]
    sources: list[str]
    refused: list[EnrolmentError]

    def __repr__(self) -> str:
        return f"Enrolled(accepted={len(self.vectors)}, refused={len(self.refused)})"

    @property
    def templates(self) -> Vector:
        """The accepted photos' templates, one row each (k x 512)."""
        out: Vector = np.stack(self.vectors).astype(np.float32)
        return out

    def error(self) -> EnrolmentError:
        """Why none of the photos could be enrolled (call only when none was)."""
        if not self.refused:
            return EnrolmentError("(no photo)", "no photo given; give one or more of the person")
        if len(self.refused) == 1:
            return self.refused[0]
        reasons = "; ".join(str(r) for r in self.refused)
        return EnrolmentError(f"{len(self.refused)} photos", f"none could be enrolled: {reasons}")

    def entry(
        self,
        *,
        entry_id: str,
        label: str,
        category: str,
        legal_basis: str,
        image_source: str,
        added_by: str,
        expires_at: datetime,
    ) -> WatchlistEntry:
        """The watchlist entry these photos make: the mean searched, every template kept.

        :raises EnrolmentError: no photo was accepted.
        """
        if not self.vectors:
            raise self.error()
        return WatchlistEntry(
            entry_id=entry_id,
            label=label,
            category=category,
            legal_basis=legal_basis,
            image_source=image_source,
            added_by=added_by,
            expires_at=expires_at,
            embedding=template(self.vectors),
            templates=self.templates,
            photo_sources=tuple(self.sources),
        )

    def forget(self) -> None:
        """Overwrite the templates once an entry holds its own copy (or none is made)."""
        for vector in self.vectors:
            vector.fill(0)


def embed_photos(
    pipeline: FacePipeline,
    photos: Sequence[Path],
    *,
    boxes: Sequence[Box | None] | None = None,
    sources: Sequence[str] | None = None,
) -> Enrolled:
    """Every accepted photo's template; refused photos are kept with their reason.

    `boxes` gives the subject's box per photo (None: the rule picks); `sources` names each
    photo as the records should (default: its path).
    """
    out = Enrolled([], [], [])
    for i, photo in enumerate(photos):
        box = boxes[i] if boxes is not None else None
        try:
            out.vectors.append(embed_photo(pipeline, photo, box))
        except EnrolmentError as exc:
            out.refused.append(exc)
            continue
        out.sources.append(sources[i] if sources is not None else str(photo))
    return out


@dataclass(frozen=True, slots=True, repr=False)
class Photo:
    """A photo offered for enrolment: a file or uploaded bytes, named as the records name it."""

    source: str
    path: Path | None = None
    data: bytes | None = None
    box: Box | None = None

    def __repr__(self) -> str:
        return f"Photo({self.source!r})"

    @classmethod
    def file(cls, path: Path, *, source: str | None = None, box: Box | None = None) -> Photo:
        return cls(source or str(path), path=Path(path), box=box)

    @classmethod
    def upload(cls, data: bytes, source: str, *, box: Box | None = None) -> Photo:
        return cls(source, data=data, box=box)


@dataclass(slots=True, repr=False)
class Enrolment:
    """Templates of one person's accepted photos, the refused ones, and the reference photo
    (the first accepted one) that goes into the vault with the entry."""

    enrolled: Enrolled
    reference: bytes | None

    def __repr__(self) -> str:
        return f"Enrolment({self.enrolled!r})"

    @property
    def refused(self) -> list[EnrolmentError]:
        return self.enrolled.refused

    @property
    def sources(self) -> list[str]:
        return self.enrolled.sources

    def entry(
        self,
        *,
        entry_id: str,
        label: str,
        category: str,
        legal_basis: str,
        image_source: str,
        added_by: str,
        expires_at: datetime,
    ) -> WatchlistEntry:
        """The entry these photos make: the mean searched, every template kept.

        :raises EnrolmentError: no photo was accepted.
        """
        return self.enrolled.entry(
            entry_id=entry_id,
            label=label,
            category=category,
            legal_basis=legal_basis,
            image_source=image_source,
            added_by=added_by,
            expires_at=expires_at,
        )

    def forget(self) -> None:
        self.enrolled.forget()


def enrol_photos(pipeline: FacePipeline, photos: Sequence[Photo]) -> Enrolment:
    """Every photo with one clear subject embedded, the others refused and named by their
    source, and the first accepted photo's bytes (the reference kept in the vault)."""
    with tempfile.TemporaryDirectory(prefix="lfr-enrol-") as tmp:
        os.chmod(tmp, 0o700)  # uploaded photos sit here only while they are embedded
        paths = []
        for i, photo in enumerate(photos):
            if photo.path is None:
                path = Path(tmp) / f"photo-{i + 1}"
                path.write_bytes(photo.data or b"")
                paths.append(path)
            else:
                paths.append(photo.path)
        enrolled = embed_photos(
            pipeline,
            paths,
            boxes=[p.box for p in photos],
            sources=[p.source for p in photos],
        )
    refused = {str(r.path) for r in enrolled.refused}
    names = {str(path): photo.source for path, photo in zip(paths, photos, strict=True)}
    # name refused photos as the records do, never by a temporary file
    enrolled.refused = [
        EnrolmentError(names.get(str(r.path), str(r.path)), r.reason) for r in enrolled.refused
    ]
    first = next((i for i, p in enumerate(paths) if str(p) not in refused), None)
    reference = None
    if first is not None:
        photo = photos[first]
        reference = photo.data if photo.path is None else photo.path.read_bytes()
    return Enrolment(enrolled, reference)


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


def slug(name: str) -> str:
    """An entry id made from an identity folder's name."""
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
        enrolled = embed_photos(pipeline, photos[:photos_per_identity])
        for refusal in enrolled.refused:
            if on_refused is None:
                enrolled.forget()
                raise refusal
            on_refused(refusal)
        if not enrolled.vectors:
            continue
        if progress is not None:
            progress(f"enrolled {identity} from {len(enrolled.vectors)} photo(s)")
        entries.append(
            enrolled.entry(
                entry_id=slug(identity),
                label=identity.replace("_", " "),
                category=category,
                legal_basis=legal_basis,
                image_source=", ".join(enrolled.sources),
                added_by=added_by,
                expires_at=expires_at,
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
