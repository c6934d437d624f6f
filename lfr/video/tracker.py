"""`TrackingDecider`: one decision per person walking past, not one per frame.

Faces are linked across frames by box overlap (IoU) and, where both have one, by embedding
similarity. Each track keeps its few best-quality samples (similarity to the top watchlist
entry, and the best crop); once enough samples agree on one entry at or above the threshold,
the track yields a single `MatchDecision` and is then only followed, never re-matched. A
track that ends without a match becomes a count in `DiscardTally.tracks_closed`, and its
samples are wiped: nothing of a non-matching track outlives the track.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from lfr.vision.types import (
    Box,
    Candidate,
    Decisions,
    FaceResult,
    Frame,
    FrameAnalysis,
    Image,
    MatchDecision,
    Vector,
)

__all__ = ["TrackerConfig", "TrackingDecider", "stream_ns"]


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    iou_link: float = 0.25  # boxes overlapping this much are the same person
    embedding_link: float = 0.45  # or embeddings this similar (person moved fast)
    centre_link: float = 1.0  # or centres this many box sizes apart (small, fast faces)
    max_gap_s: float = 1.0  # a track unseen for this long is closed
    samples: int = 3  # best-quality samples a track keeps
    votes: int = 2  # samples that must agree before deciding early
    sure_margin: float = 0.15  # one sample this far above the threshold decides at once
    min_embed_interval_s: float = 0.15  # a track is embedded at most this often


@dataclass(slots=True)
class _Sample:
    quality: float
    candidate: Candidate


@dataclass(slots=True)
class _Track:
    track_id: str
    box: Box
    last_ns: int
    embedding: Vector | None = None
    samples: list[_Sample] = field(default_factory=list)
    crop: Image | None = None
    crop_quality: float = -1.0
    crop_entry: str | None = None
    best_size_px: int = 0
    best_frame_at: datetime | None = None
    matched: bool = False
    embedded_ns: int = 0
    rejected_ns: int = -(10**18)  # when a face of this track last failed the quality gate
    last_decoded_ns: int = 0

    def wipe(self) -> None:
        if self.embedding is not None:
            self.embedding.fill(0)
        if self.crop is not None:
            self.crop.fill(0)
        self.embedding = None
        self.crop = None
        self.samples.clear()


class TrackingDecider:
    """Implements `Decider` for one camera. Not thread-safe: call from the camera's task."""

    def __init__(self, camera: str = "cam", config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._camera = camera
        self._ids = itertools.count(1)
        self._tracks: list[_Track] = []
        self.tracks_started = 0
        self._threshold = 1.0  # the last threshold in force, for `flush()`

    @property
    def open_tracks(self) -> int:
        return len(self._tracks)

    # Planning hooks for `TrackingRecogniser`, called from its worker thread between two
    # `decide` calls of the same camera (never concurrently with them).

    def regions(self, now_ns: int) -> list[Box]:
        """Boxes of the tracks seen recently (`now_ns` on the stream clock, `stream_ns`)."""
        return [t.box for t in self._tracks if (now_ns - t.last_ns) / 1e9 <= self.config.max_gap_s]

    def settled(self, box: Box, now_ns: int) -> bool:
        """Whether the face at `box` belongs to a track that needs nothing from it but its
        position: decided, or holding all its samples and embedded too recently to improve."""
        track = self._linked(box)
        if track is None:
            return False
        if track.matched:
            return True
        wait_s = 4 * self.config.min_embed_interval_s
        if (now_ns - track.rejected_ns) / 1e9 < wait_s:
            return True  # too small, blurred or turned away just now: look again shortly
        recent = (now_ns - track.embedded_ns) / 1e9 < wait_s
        return len(track.samples) >= self.config.samples and recent

    def _linked(self, box: Box) -> _Track | None:
        best: _Track | None = None
        best_score = 0.0
        for track in self._tracks:
            overlap = _iou(box, track.box)
            near = _near(box, track.box, self.config.centre_link)
            score = overlap + 0.1 * near
            if (overlap >= self.config.iou_link or near) and score > best_score:
                best, best_score = track, score
        return best

    def wants_embedding(self, box: Box, quality: float, now_ns: int) -> bool:
        """Whether a face at `box` is worth embedding: a new face, or a better sample.

        A track is embedded a few times at its best quality: once decided, or once it has
        its samples and this face is no better, it is only followed by its box.
        """
        best = self._linked(box)
        if best is None:
            return True
        if best.matched:
            return False
        if len(best.samples) < self.config.samples:
            return (now_ns - best.embedded_ns) / 1e9 >= self.config.min_embed_interval_s
        worst = min(s.quality for s in best.samples)
        return (
            quality > worst + 0.05
            and (now_ns - best.embedded_ns) / 1e9 >= 4 * self.config.min_embed_interval_s
        )

    def decide(self, frame: Frame, analysis: FrameAnalysis, threshold: float) -> Decisions:
        try:
            return self._decide(frame, analysis, threshold)
        finally:
            analysis.forget()

    def flush(self) -> Decisions:
        out = Decisions()
        for track in self._tracks:
            self._close(track, out, self._threshold)
        self._tracks.clear()
        return out

    def _decide(self, frame: Frame, analysis: FrameAnalysis, threshold: float) -> Decisions:
        out = Decisions()
        self._threshold = threshold
        now = stream_ns(frame)
        # Close tracks nobody has been seen on for a while (before linking, so they can't link),
        # and all of them when the stream's clock went back (a reconnected camera).
        newest = max((t.last_ns for t in self._tracks), default=now)
        restart = now < newest - int(self.config.max_gap_s * 1e9)
        alive: list[_Track] = []
        for track in self._tracks:
            if restart or (now - track.last_ns) / 1e9 > self.config.max_gap_s:
                self._close(track, out, threshold)
            else:
                alive.append(track)
        self._tracks = alive

        for face, track in self._link(analysis.faces, now):
            face.track_id = track.track_id
            track.box = face.box
            track.last_ns = now
            track.last_decoded_ns = frame.decoded_ns
            if face.embedding is not None:
                self._update_embedding(track, face.embedding)
                track.embedded_ns = now
            if not face.passed_quality:
                track.rejected_ns = now
            if track.matched or not face.passed_quality or face.best is None:
                continue
            self._add_sample(track, face, frame)
            decision = self._ready(track, threshold, closing=False)
            if decision is not None:
                decision.decoded_ns = frame.decoded_ns
                out.matches.append(decision)

        if not out.matches:
            out.discarded.frames += 1
            out.discarded.faces_seen += analysis.faces_seen
            out.discarded.faces_below_quality += analysis.faces_below_quality
        return out

    def _link(self, faces: list[FaceResult], now: int) -> list[tuple[FaceResult, _Track]]:
        """Greedy assignment by overlap plus embedding similarity; new faces start tracks."""
        pairs: list[tuple[float, int, int]] = []
        for fi, face in enumerate(faces):
            for ti, track in enumerate(self._tracks):
                overlap = _iou(face.box, track.box)
                sim = -1.0
                if face.embedding is not None and track.embedding is not None:
                    sim = float(np.dot(face.embedding, track.embedding))
                near = _near(face.box, track.box, self.config.centre_link)
                if overlap >= self.config.iou_link or sim >= self.config.embedding_link or near:
                    pairs.append((overlap + max(sim, 0.0) + 0.1 * near, fi, ti))
        pairs.sort(reverse=True)
        linked: dict[int, _Track] = {}
        used: set[int] = set()
        for _, fi, ti in pairs:
            if fi in linked or ti in used:
                continue
            linked[fi] = self._tracks[ti]
            used.add(ti)
        result: list[tuple[FaceResult, _Track]] = []
        for fi, face in enumerate(faces):
            found = linked.get(fi)
            if found is not None:
                track = found
            else:
                track_id = f"{self._camera}-t{next(self._ids)}"
                track = _Track(track_id=track_id, box=face.box, last_ns=now)
                self._tracks.append(track)
                self.tracks_started += 1
            result.append((face, track))
        return result

    def _update_embedding(self, track: _Track, embedding: Vector) -> None:
        if track.embedding is None:
            track.embedding = embedding.astype(np.float32, copy=True)
            return
        mixed = 0.7 * track.embedding + 0.3 * embedding
        norm = float(np.linalg.norm(mixed)) or 1.0
        track.embedding.fill(0)
        track.embedding = (mixed / norm).astype(np.float32)

    def _add_sample(self, track: _Track, face: FaceResult, frame: Frame) -> None:
        assert face.best is not None
        track.samples.append(_Sample(face.quality, face.best))
        track.samples.sort(key=lambda s: s.quality, reverse=True)
        del track.samples[self.config.samples :]
        if face.quality > track.crop_quality:
            if track.crop is not None:
                track.crop.fill(0)
            track.crop = face.crop.copy() if face.crop is not None else None
            track.crop_quality = face.quality
            track.crop_entry = face.best.entry_id
            track.best_size_px = face.size_px
            track.best_frame_at = frame.captured_at

    def _ready(self, track: _Track, threshold: float, *, closing: bool) -> MatchDecision | None:
        """The track's decision if its samples agree on one entry above the threshold."""
        if not track.samples:
            return None
        votes = Counter(s.candidate.entry_id for s in track.samples)
        entry, count = votes.most_common(1)[0]
        mine = [s for s in track.samples if s.candidate.entry_id == entry]
        score = float(np.mean([s.candidate.similarity for s in mine]))
        if score < threshold:
            return None
        sure = max(s.candidate.similarity for s in mine) >= threshold + self.config.sure_margin
        if not (closing or sure or count >= self.config.votes):
            return None
        best = max(mine, key=lambda s: s.candidate.similarity)
        track.matched = True
        crop = track.crop if track.crop_entry == entry else None
        track.crop = None  # handed over to the decision (only a match's crop leaves)
        decision = MatchDecision(
            candidate=Candidate(best.candidate.entry_id, best.candidate.label, score),
            frame_at=track.best_frame_at or datetime.now().astimezone(),
            decoded_ns=track.last_decoded_ns,
            face_size_px=track.best_size_px,
            quality=max(s.quality for s in mine),
            track_id=track.track_id,
            crop=crop,
        )
        track.wipe()
        return decision

    def _close(self, track: _Track, out: Decisions, threshold: float) -> None:
        if not track.matched:
            decision = self._ready(track, threshold, closing=True)
            if decision is not None:
                out.matches.append(decision)
            else:
                out.discarded.tracks_closed += 1
        track.wipe()


def stream_ns(frame: Frame) -> int:
    """The frame's time on the stream's own clock: tracks age in video time, so an offline
    file analysed faster than real time tracks the same as a live camera."""
    return int(frame.pts_s * 1e9)


def _near(a: Box, b: Box, sizes: float) -> bool:
    """Centres within `sizes` box sizes of each other, for boxes of similar size."""
    sa, sb = a[2] - a[0], b[2] - b[0]
    if sa <= 0 or sb <= 0 or max(sa, sb) > 1.5 * min(sa, sb):
        return False
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    return bool((dx * dx + dy * dy) ** 0.5 <= sizes * max(sa, sb))


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
