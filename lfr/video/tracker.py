"""`TrackingDecider`: one decision per person walking past, not one per frame.

Faces are linked across frames by box overlap (IoU) and, where both have one, by embedding
similarity. An undecided track keeps being sampled at a bounded rate for as long as it lives
(often while its evidence is near the threshold, seldom once it is clearly nobody on the
list), and keeps its best evidence per candidate entry: the highest similarities seen for
that entry and the crop of the best one (a sample's crop is evidence only for the entry it
voted for, or for the entry its track's template matched with it; a crop that voted for the
entry itself is preferred, and any crop to none), so a match's crop is its own entry's. It
decides as soon as the evidence is sure (one sample well above the threshold, or several at
or above it); a track that closes decides on everything it saw (its best sample clears the
threshold and others agree on the entry). A track that ends without a match becomes a count
in `DiscardTally.tracks_closed`, and its evidence is wiped: nothing of a non-matching track
outlives the track.

Tracks age by the stream's own clock: on every decided frame, and through `age()` on frames
that are read but not analysed (the camera loop calls it), so a track closes (its crops and
embedding sums zeroed) within `max_gap_s` of stream time after its face was last seen. `flush()`
(stream lost, disarm, stop, crash, restart) closes and wipes every open track at once.
"""

from __future__ import annotations

import itertools
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
    kept: int = 4  # best similarities a track keeps per candidate entry
    votes: int = 2  # samples at or above the threshold that decide early
    sure_margin: float = 0.10  # one sample this far above the threshold decides at once
    agree_margin: float = 0.15  # closing: `votes` samples within this of the threshold agree
    sample_interval_s: float = 0.25  # an undecided track near the threshold, at most this often
    idle_interval_s: float = 1.0  # one clearly below it (after `warm_samples`), this often
    warm_samples: int = 3  # samples before a track may slow down
    near_margin: float = 0.20  # "near the threshold": best evidence within this below it
    verify_interval_s: float = 1.0  # a decided track is re-embedded this often ...
    split_below: float = 0.25  # ... and a face this unlike its track starts a new one


@dataclass(slots=True)
class _Evidence:
    """What a track saw of one candidate entry: its best similarities and best view."""

    label: str
    sims: list[float] = field(default_factory=list)  # descending, at most `kept`
    mean_sim: float = -1.0  # the track's template (mean of its samples) against this entry
    # the best view of this entry: the crop of its best similarity (see `offer`)
    crop: Image | None = None
    size_px: int = 0
    quality: float = 0.0
    frame_at: datetime | None = None
    view_rank: tuple[bool, bool, float] = (False, False, -2.0)

    @property
    def best(self) -> float:
        return max(self.sims[0] if self.sims else -1.0, self.mean_sim)

    def offer(self, face: FaceResult, frame: Frame, sim: float, *, voted: bool) -> None:
        """Keep `face` as this entry's view if it ranks above the one kept: a crop before
        none, a face that voted for this entry itself (its own best candidate) before one
        that only its track's template matched, then the higher similarity."""
        rank = (face.crop is not None, voted, sim)
        if rank <= self.view_rank:
            return
        if self.crop is not None:
            self.crop.fill(0)
        self.crop = face.crop.copy() if face.crop is not None else None
        self.size_px = face.size_px
        self.quality = face.quality
        self.frame_at = frame.captured_at
        self.view_rank = rank

    def wipe(self) -> None:
        if self.crop is not None:
            self.crop.fill(0)
        self.crop = None
        self.view_rank = (False, False, -2.0)
        self.sims.clear()
        self.mean_sim = -1.0


@dataclass(slots=True)
class _Track:
    track_id: str
    box: Box
    last_ns: int
    embedding: Vector | None = None  # a moving average, for linking
    total: Vector | None = None  # the sum of its samples' embeddings: the person's template
    evidence: dict[str, _Evidence] = field(default_factory=dict)
    samples: int = 0
    held: int = 0  # faces sampled as evidence, not counted yet (one of them may be the match)
    matched: bool = False
    embedded_ns: int = -(10**18)
    rejected_ns: int = -(10**18)  # when a face of this track last failed the quality gate
    last_decoded_ns: int = 0

    def best_similarity(self) -> float:
        return max((e.best for e in self.evidence.values()), default=-1.0)

    def wipe(self) -> None:
        for vector in (self.embedding, self.total):
            if vector is not None:
                vector.fill(0)
        self.embedding = self.total = None
        for evidence in self.evidence.values():
            evidence.wipe()
        self.evidence.clear()


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
        position: decided, or sampled too recently to be due again."""
        track = self._linked(box)
        if track is None:
            return False
        if (now_ns - track.rejected_ns) / 1e9 < self.config.sample_interval_s:
            return True  # too small, blurred or turned away just now: look again shortly
        return not self._due(track, now_ns)

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

    def track_template(self, box: Box) -> tuple[str, Vector] | None:
        """The undecided track at `box` and the sum of its samples' embeddings, so the
        recogniser can search the mean of the person as seen so far (with this face)."""
        track = self._linked(box)
        if track is None or track.matched or track.total is None:
            return None
        return track.track_id, track.total

    def _due(self, track: _Track, now_ns: int) -> bool:
        """An undecided track is sampled for as long as it lives, at a bounded rate: often
        while it is new or its evidence is near the threshold, seldom once it is clearly
        nobody on the list (CPU goes to the faces that can still become alerts). A decided
        track is looked at now and then, so someone else stepping into its place (or a cut
        to another shot) is not taken for the person already matched."""
        cfg = self.config
        if track.matched:
            return (now_ns - track.embedded_ns) / 1e9 >= cfg.verify_interval_s
        near = track.best_similarity() >= self._threshold - cfg.near_margin
        interval = (
            cfg.sample_interval_s
            if track.samples < cfg.warm_samples or near
            else cfg.idle_interval_s
        )
        return (now_ns - track.embedded_ns) / 1e9 >= interval

    def wants_embedding(self, box: Box, quality: float, now_ns: int) -> bool:
        """Whether a face at `box` is worth embedding: a newcomer, or a track due for another
        sample (or, decided, for a check that it is still the same person)."""
        track = self._linked(box)
        if track is None:
            return True
        return self._due(track, now_ns)

    def decide(self, frame: Frame, analysis: FrameAnalysis, threshold: float) -> Decisions:
        try:
            return self._decide(frame, analysis, threshold)
        finally:
            analysis.forget()

    def flush(self) -> Decisions:
        """Close every open track: those with evidence are decided, the others counted;
        all are wiped."""
        out = Decisions()
        tracks, self._tracks = self._tracks, []
        for track in tracks:
            self._close(track, out, self._threshold)
        return out

    def age(self, now_ns: int) -> Decisions:
        """Close the tracks unseen for more than `max_gap_s` at `now_ns` (stream clock,
        `stream_ns`) without a frame to decide: for frames read but not analysed."""
        out = Decisions()
        self._close_stale(now_ns, out, self._threshold)
        return out

    def _close_stale(
        self, now_ns: int, out: Decisions, threshold: float, *, everything: bool = False
    ) -> None:
        """Close (decide or count, then wipe) the tracks unseen for more than `max_gap_s`,
        or all of them."""
        alive: list[_Track] = []
        for track in self._tracks:
            if everything or (now_ns - track.last_ns) / 1e9 > self.config.max_gap_s:
                self._close(track, out, threshold)
            else:
                alive.append(track)
        self._tracks = alive

    def _decide(self, frame: Frame, analysis: FrameAnalysis, threshold: float) -> Decisions:
        out = Decisions()
        self._threshold = threshold
        now = stream_ns(frame)
        # Close tracks nobody has been seen on for a while (before linking, so they can't link),
        # and all of them when the stream's clock went back (a reconnected camera).
        newest = max((t.last_ns for t in self._tracks), default=now)
        restart = now < newest - int(self.config.max_gap_s * 1e9)
        self._close_stale(now, out, threshold, everything=restart)

        # Every face is counted once: at once, unless it is a sample of an undecided track
        # (counted when the track decides or closes, less the one face its match stands for).
        tally = out.discarded
        started = self.tracks_started
        for face, track in self._link(analysis.faces, now):
            planned, face.track_id = face.track_id, track.track_id
            track.box = face.box
            track.last_ns = now
            track.last_decoded_ns = frame.decoded_ns
            if face.embedding is not None:
                self._update_embedding(track, face.embedding)
                track.embedded_ns = now
            if not face.passed_quality:
                track.rejected_ns = now
            if track.matched or not face.passed_quality or face.best is None:
                tally.faces_seen += 1
                continue
            self._add_sample(track, face, frame, planned)
            track.held += 1
            decision = self._ready(track, threshold, closing=False)
            if decision is not None:
                decision.decoded_ns = frame.decoded_ns
                out.matches.append(decision)
                tally.faces_seen += track.held - 1
                track.held = 0

        tally.tracks_started += self.tracks_started - started
        tally.faces_below_quality += analysis.faces_below_quality
        if not out.matches:
            tally.frames += 1
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
                if -1.0 < sim < self.config.split_below:
                    continue  # someone else where the track was
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
        mixed = np.multiply(track.embedding, 0.7, dtype=np.float32)
        part = np.multiply(embedding, 0.3, dtype=np.float32)
        mixed += part
        part.fill(0)  # temporaries of a biometric vector are zeroed too
        norm = float(np.linalg.norm(mixed)) or 1.0
        mixed /= norm
        track.embedding.fill(0)
        track.embedding = mixed  # (no unzeroed temporary left behind)

    def _add_sample(
        self, track: _Track, face: FaceResult, frame: Frame, planned: str | None
    ) -> None:
        """Keep the sample as evidence for its candidate entry: the entry's best few
        similarities, and the crop of its best one (by similarity, not image quality)."""
        assert face.best is not None
        track.samples += 1
        if face.embedding is not None:
            if track.total is None:
                track.total = np.zeros_like(face.embedding, dtype=np.float32)
            track.total += face.embedding
        best = face.best
        evidence = _evidence(track, best)
        evidence.offer(face, frame, best.similarity, voted=True)
        evidence.sims.append(best.similarity)
        evidence.sims.sort(reverse=True)
        del evidence.sims[self.config.kept :]
        mean = face.track_best
        if mean is not None and planned == track.track_id:
            # the template searched was this track's (planned on the same link)
            evidence = _evidence(track, mean)
            voted = mean.entry_id == best.entry_id
            evidence.offer(face, frame, mean.similarity, voted=voted)
            evidence.mean_sim = mean.similarity

    def _ready(self, track: _Track, threshold: float, *, closing: bool) -> MatchDecision | None:
        """The track's decision if its evidence for one entry is sure (or, closing, enough).

        Sure: one sample `sure_margin` above the threshold, `votes` samples at or above it,
        or the track's template (the mean of two or more samples) at or above it. Closing:
        the best sample clears the threshold and `votes` samples of that entry come within
        `agree_margin` of it (a short track's few samples are all it has).
        """
        cfg = self.config
        if not track.evidence:
            return None
        entry, evidence = max(track.evidence.items(), key=lambda kv: kv[1].best)
        score = evidence.best
        if score < threshold:
            return None
        sims = evidence.sims
        single = sims[0] if sims else -1.0
        sure = (
            single >= threshold + cfg.sure_margin
            or (len(sims) >= cfg.votes and sims[cfg.votes - 1] >= threshold)
            or evidence.mean_sim >= threshold
        )
        if not sure:
            if not closing:
                return None
            agree = len(sims) >= cfg.votes and sims[cfg.votes - 1] >= threshold - cfg.agree_margin
            if track.samples > cfg.votes and not agree:
                return None  # one lucky frame among many unlike it: not evidence
        track.matched = True
        crop, evidence.crop = evidence.crop, None  # handed over (only a match's crop leaves)
        decision = MatchDecision(
            candidate=Candidate(entry, evidence.label, score),
            frame_at=evidence.frame_at or datetime.now().astimezone(),
            decoded_ns=track.last_decoded_ns,
            face_size_px=evidence.size_px,
            quality=evidence.quality,
            track_id=track.track_id,
            crop=crop,
        )
        for rest in track.evidence.values():  # the embedding stays, to follow the person
            rest.wipe()
        track.evidence.clear()
        return decision

    def _close(self, track: _Track, out: Decisions, threshold: float) -> None:
        if not track.matched:
            decision = self._ready(track, threshold, closing=True)
            if decision is not None:
                out.matches.append(decision)
                out.discarded.faces_seen += track.held - 1  # (a decision needs a sample)
            else:
                out.discarded.faces_seen += track.held
                out.discarded.tracks_closed += 1
        track.held = 0
        track.wipe()


def _evidence(track: _Track, candidate: Candidate) -> _Evidence:
    """The track's evidence for `candidate`'s entry (new and empty the first time)."""
    evidence = track.evidence.get(candidate.entry_id)
    if evidence is None:
        evidence = track.evidence[candidate.entry_id] = _Evidence(candidate.label)
    return evidence


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
