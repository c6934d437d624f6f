"""`lfr eval video`: who a camera finds in a real clip, judged against the clip's truth file.

The clip runs through the production camera path (`CameraLoop` with the recogniser and
decider `lfr.video.recognition` chooses for a deployed camera), as fast as it goes or in real
time. A truth file lists `start_s,end_s,person` intervals; a person with reference photos
in the watchlist folder is on the watchlist, anyone else in the file is not (a match to them
is a false alert, and so is a match to anyone not in the file at all).

Only labels, similarities and counts leave the camera path here: the observer below reads
each face's best candidate (an entry id and a number) and keeps no pixel or embedding.
"""

from __future__ import annotations

import csv
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from lfr.video.file import FileSource
from lfr.video.loop import CameraLoop, FrameDecided, LoopOutput, StreamLost
from lfr.video.recognition import camera_recognition
from lfr.vision.image import IMAGE_SUFFIXES
from lfr.vision.pipeline import FacePipeline
from lfr.vision.types import Decider, Decisions, Frame, FrameAnalysis, Gallery
from lfr.watchlist.armed import ArmedWatchlist
from lfr.watchlist.entry import WatchlistEntry

__all__ = [
    "ClipResult",
    "PersonResult",
    "TruthInterval",
    "build_gallery",
    "clips_with_truth",
    "evaluate_clip",
    "read_truth",
    "run_clips",
    "summary",
]

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".gif", ".ts")
UNKNOWN = "unknown"  # a face in the truth file nobody identified


@dataclass(frozen=True, slots=True)
class TruthInterval:
    start_s: float
    end_s: float
    person: str


def read_truth(path: Path) -> list[TruthInterval]:
    """The `start_s,end_s,person` rows of a truth file.

    :raises ValueError: a missing column or a row that is not two times and a name (the
        message names the file and line).
    """
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"start_s", "end_s", "person"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected the header start_s,end_s,person")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                start, end = float(row["start_s"]), float(row["end_s"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{line}: start_s and end_s must be seconds") from None
            person = (row["person"] or "").strip()
            if not person or end < start:
                raise ValueError(f"{path}:{line}: needs a person and end_s >= start_s")
            rows.append(TruthInterval(start, end, person))
    return rows


def clips_with_truth(directory: Path) -> list[tuple[Path, Path]]:
    """(clip, truth file) for every `<clip>.truth.csv` in `directory` with its video beside it."""
    out = []
    for truth in sorted(directory.glob("*.truth.csv")):
        stem = truth.name.removesuffix(".truth.csv")
        clip = next(
            (
                directory / f"{stem}{s}"
                for s in VIDEO_SUFFIXES
                if (directory / f"{stem}{s}").is_file()
            ),
            None,
        )
        if clip is not None:
            out.append((clip, truth))
    return out


def build_gallery(
    pipeline: FacePipeline,
    watchlist: Path,
    distractors: Path | None = None,
    *,
    distractor_limit: int | None = None,
    on_refused: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[ArmedWatchlist, list[str]]:
    """The watchlist from `<identity>/<image>` folders, padded with one entry per photo of a
    flat folder of other people (a false match to one of them is a false alert).

    Returns the gallery and the watchlisted identities (folder names).
    """
    from lfr.vision.errors import EnrolmentError
    from lfr.watchlist.enrol import embed_photo, entries_from_directory

    refused = on_refused or (lambda _: None)
    entries = entries_from_directory(
        pipeline,
        watchlist,
        legal_basis="evaluation (not a published watchlist)",
        on_refused=lambda exc: refused(str(exc)),
    )
    identities = [e.entry_id for e in entries]
    if distractors is not None:
        photos = sorted(
            p for p in distractors.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        taken = set(identities)
        photos = [p for p in photos if p.stem not in taken][:distractor_limit]
        for n, photo in enumerate(photos, start=1):
            if progress is not None:
                progress(n, len(photos))
            try:
                vector = embed_photo(pipeline, photo)
            except EnrolmentError as exc:
                refused(str(exc))
                continue
            entries.append(
                WatchlistEntry(
                    entry_id=f"other:{photo.stem}",
                    label=photo.stem.replace("_", " "),
                    category="wanted_by_police",
                    legal_basis="evaluation distractor",
                    image_source=str(photo),
                    added_by="lfr eval video",
                    expires_at=datetime.now(UTC) + timedelta(days=1),
                    embedding=vector,
                )
            )
    return ArmedWatchlist.from_entries(entries), identities


@dataclass(slots=True)
class PersonResult:
    person: str
    on_watchlist: bool
    first_seen_s: float
    found: bool = False
    alerts: int = 0
    first_alert_s: float | None = None
    best_similarity: float | None = None  # best single-face similarity to this person's entry
    alert_similarity: float | None = None  # the first alert's (a track's best evidence)

    @property
    def time_to_first_alert_s(self) -> float | None:
        if self.first_alert_s is None:
            return None
        return max(0.0, self.first_alert_s - self.first_seen_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "on_watchlist": self.on_watchlist,
            "found": self.found,
            "alerts": self.alerts,
            "first_alert_s": _round(self.first_alert_s),
            "time_to_first_alert_s": _round(self.time_to_first_alert_s),
            "best_similarity": _round(self.best_similarity),
            "alert_similarity": _round(self.alert_similarity),
        }


@dataclass(slots=True)
class ClipResult:
    clip: str
    threshold: float
    watchlist_size: int
    persons: list[PersonResult]
    wrong: list[dict[str, Any]] = field(default_factory=list)
    frames_decoded: int = 0
    frames_analysed: int = 0
    faces_seen: int = 0
    faces_embedded: int = 0
    tracks: int = 0
    seconds: float = 0.0
    best_other_similarity: float | None = None  # best similarity to anyone not in the clip
    error: str | None = None

    @property
    def watchlisted(self) -> list[PersonResult]:
        return [p for p in self.persons if p.on_watchlist]

    def as_dict(self) -> dict[str, Any]:
        listed = self.watchlisted
        return {
            "clip": self.clip,
            "threshold": self.threshold,
            "watchlist_size": self.watchlist_size,
            "watchlisted": len(listed),
            "found": sum(p.found for p in listed),
            "missed": [p.person for p in listed if not p.found],
            "wrong_alerts": len(self.wrong),
            "wrong": self.wrong,
            "persons": [p.as_dict() for p in self.persons],
            "best_other_similarity": _round(self.best_other_similarity),
            "frames_decoded": self.frames_decoded,
            "frames_analysed": self.frames_analysed,
            "faces_seen": self.faces_seen,
            "faces_embedded": self.faces_embedded,
            "tracks": self.tracks,
            "seconds": round(self.seconds, 2),
            **({"error": self.error} if self.error else {}),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class _Observer:
    """A `Decider` in front of the camera's own: notes each face's best candidate (entry id
    and similarity, nothing biometric), then lets the real decider decide."""

    def __init__(self, inner: Decider) -> None:
        self.inner = inner
        self.best: dict[str, float] = {}
        self.embedded = 0

    def decide(self, frame: Frame, analysis: FrameAnalysis, threshold: float) -> Decisions:
        for face in analysis.faces:
            if face.best is not None:
                self.embedded += 1
                entry, sim = face.best.entry_id, face.best.similarity
                if sim > self.best.get(entry, -2.0):
                    self.best[entry] = sim
        return self.inner.decide(frame, analysis, threshold)

    def flush(self) -> Decisions:
        return self.inner.flush()


async def evaluate_clip(
    clip: Path,
    truth: Sequence[TruthInterval],
    pipeline: FacePipeline,
    gallery: Gallery,
    watchlisted: Sequence[str],
    *,
    threshold: float,
    fps: float = 10.0,
    realtime: bool = False,
) -> ClipResult:
    """Run `clip` through the camera path and judge its alerts against `truth`."""
    listed = set(watchlisted)
    first_seen: dict[str, float] = {}
    for row in truth:
        if row.person != UNKNOWN:
            first_seen[row.person] = min(first_seen.get(row.person, row.start_s), row.start_s)
    persons = {
        name: PersonResult(name, name in listed, start) for name, start in first_seen.items()
    }
    result = ClipResult(
        clip=clip.name,
        threshold=threshold,
        watchlist_size=len(gallery),
        persons=sorted(persons.values(), key=lambda p: (not p.on_watchlist, p.person)),
    )
    recognition = camera_recognition(pipeline, f"eval-{clip.stem}")
    decider = recognition.new_decider()
    observer = _Observer(decider)
    source = FileSource(clip, realtime=realtime)
    loop = CameraLoop(
        source,
        recognition.recogniser,
        observer,
        gallery=gallery,
        threshold=threshold,
        fps=fps,
        lossless=not realtime,
    )
    last_pts = 0.0

    async def emit(item: LoopOutput) -> None:
        nonlocal last_pts
        if isinstance(item, StreamLost) and item.retry_in_s is None:
            if loop.stats.frames_received == 0:
                result.error = item.reason
            return
        if not isinstance(item, FrameDecided):
            return
        if item.pts_s is not None:
            last_pts = item.pts_s
        for match in item.decisions.matches:
            if match.crop is not None:
                match.crop.fill(0)  # evaluation keeps no pixels, even of a match
                match.crop = None
            entry = match.candidate.entry_id
            at = item.pts_s if item.pts_s is not None else last_pts
            person = persons.get(entry)
            if person is None or not person.on_watchlist:
                result.wrong.append(
                    {
                        "entry_id": entry,
                        "label": match.candidate.label,
                        "similarity": round(match.candidate.similarity, 3),
                        "stream_time_s": round(at, 2),
                        "in_clip": person is not None,
                    }
                )
                continue
            person.found = True
            person.alerts += 1
            if person.first_alert_s is None:
                person.first_alert_s = at
                person.alert_similarity = match.candidate.similarity

    started = time.perf_counter()
    try:
        await loop.run(emit)
    finally:
        await source.aclose()
    result.seconds = time.perf_counter() - started
    stats = loop.stats
    result.frames_decoded = source.frames_decoded
    result.frames_analysed = stats.frames_analysed
    result.faces_seen = stats.faces_seen
    result.faces_embedded = observer.embedded
    result.tracks = getattr(decider, "tracks_started", 0)
    for person in result.persons:
        if person.on_watchlist:
            person.best_similarity = observer.best.get(person.person)
    others = [s for entry, s in observer.best.items() if entry not in persons]
    result.best_other_similarity = max(others) if others else None
    return result


def run_clips(
    pipeline: FacePipeline,
    clips: Sequence[tuple[Path, Sequence[TruthInterval]]],
    gallery: Gallery,
    watchlisted: Sequence[str],
    *,
    threshold: float,
    fps: float = 10.0,
    realtime: bool = False,
    progress: Callable[[ClipResult], None] | None = None,
) -> list[ClipResult]:
    """`evaluate_clip` for each (clip, its truth rows), one after another."""
    results = []
    for clip, truth in clips:
        run = functools.partial(
            evaluate_clip,
            clip,
            truth,
            pipeline,
            gallery,
            watchlisted,
            threshold=threshold,
            fps=fps,
            realtime=realtime,
        )
        result = anyio.run(run, backend="asyncio")
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def summary(results: Sequence[ClipResult]) -> dict[str, Any]:
    """Totals over clips: watchlisted people found, false alerts."""
    listed = [p for r in results for p in r.watchlisted]
    found = sum(p.found for p in listed)
    return {
        "clips": len(results),
        "watchlisted": len(listed),
        "found": found,
        "found_share": round(found / len(listed), 3) if listed else None,
        "wrong_alerts": sum(len(r.wrong) for r in results),
        "missed": [f"{r.clip}:{p.person}" for r in results for p in r.watchlisted if not p.found],
    }
