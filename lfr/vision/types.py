"""The seam between video, the face pipeline and the camera actor.

A `FrameSource` yields decoded `Frame`s; a `Recogniser` turns one frame into a `FrameAnalysis`
against an armed `Gallery`. These objects hold pixels and embeddings of passers-by: they
live only in memory, are never logged, pickled, put in a span or written anywhere; only a
matched face's crop leaves, encrypted, through the biometric vault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "Candidate",
    "Decider",
    "Decisions",
    "DiscardTally",
    "FaceResult",
    "Frame",
    "FrameAnalysis",
    "FrameSource",
    "Gallery",
    "MatchDecision",
    "Recogniser",
    "SourceInfo",
]

Image = npt.NDArray[np.uint8]
Vector = npt.NDArray[np.float32]
Box = tuple[float, float, float, float]


@dataclass(slots=True, repr=False)
class Frame:
    """One decoded video frame, RGB, HxWx3 uint8. `repr` shows no pixels on purpose."""

    image: Image
    index: int
    pts_s: float
    captured_at: datetime
    decoded_ns: int = field(metadata={"doc": "time.monotonic_ns() when decoding finished"})
    truth: tuple[str, ...] = ()  # scripted/generated sources only: who is in the frame

    def __repr__(self) -> str:
        h, w = self.image.shape[:2]
        return f"Frame(index={self.index}, pts_s={self.pts_s:.3f}, size={w}x{h})"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    url: str  # credentials removed
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None


@runtime_checkable
class FrameSource(Protocol):
    """Pull-based video (as aiortc's `MediaStreamTrack.recv`). Ends with `EndOfStream`."""

    info: SourceInfo

    async def recv(self) -> Frame: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """The best watchlist entry for one face: a number and an id, nothing biometric."""

    entry_id: str
    label: str
    similarity: float


@dataclass(slots=True, repr=False)
class FaceResult:
    """One face in one frame. `embedding` and `crop` are transient and must not escape."""

    box: Box
    size_px: int
    quality: float
    passed_quality: bool
    best: Candidate | None = None
    embedding: Vector | None = None
    crop: Image | None = None
    track_id: str | None = None
    #: the best entry for the mean of this face and its track's earlier samples (a template
    #: of the person as seen so far), when a tracking recogniser searched one
    track_best: Candidate | None = None

    def __repr__(self) -> str:
        return f"FaceResult(size_px={self.size_px}, passed_quality={self.passed_quality})"

    def forget(self) -> None:
        """Overwrite and drop the biometric parts once they have been used."""
        if self.embedding is not None:
            self.embedding.fill(0)
            self.embedding = None
        if self.crop is not None:
            self.crop.fill(0)
            self.crop = None


@dataclass(slots=True)
class FrameAnalysis:
    frame_index: int
    faces: list[FaceResult]
    stage_ms: dict[str, float] = field(default_factory=dict)

    @property
    def faces_seen(self) -> int:
        return len(self.faces)

    @property
    def faces_below_quality(self) -> int:
        return sum(not f.passed_quality for f in self.faces)

    def forget(self) -> None:
        for face in self.faces:
            face.forget()


@runtime_checkable
class Gallery(Protocol):
    """An armed, published watchlist version, searched in memory."""

    version: str

    def __len__(self) -> int: ...

    def search(self, embeddings: Vector) -> list[Candidate | None]:
        """Top-1 entry for each row of `embeddings` (N x D, L2-normalised)."""
        ...


@runtime_checkable
class Recogniser(Protocol):
    """Detect, gate, align, embed and search one frame. Blocking: call it in a worker thread."""

    def analyse(self, frame: Frame, gallery: Gallery) -> FrameAnalysis: ...


@dataclass(slots=True, repr=False)
class MatchDecision:
    """A face (or a track of faces) judged a match: what `FaceMatched` is built from.

    `crop` is the one piece of pixels allowed out of the pipeline, and only into the vault.
    """

    candidate: Candidate
    frame_at: datetime
    decoded_ns: int
    face_size_px: int
    quality: float
    track_id: str | None = None
    crop: Image | None = None

    def __repr__(self) -> str:
        return f"MatchDecision(entry_id={self.candidate.entry_id!r}, track_id={self.track_id!r})"


@dataclass(slots=True)
class DiscardTally:
    """What was analysed and forgotten; the `FrameDiscarded` evidence.

    `frames`: analysed frames with no match. `faces_seen`: every detected face that is not
    the face of a `MatchDecision` (so faces counted here plus matches are all faces seen).
    `tracks_started` / `tracks_closed`: people followed, and those that ended without a match.
    """

    frames: int = 0
    faces_seen: int = 0
    faces_below_quality: int = 0
    tracks_started: int = 0
    tracks_closed: int = 0

    def __bool__(self) -> bool:
        return bool(self.frames or self.faces_seen or self.tracks_started or self.tracks_closed)


@dataclass(slots=True)
class Decisions:
    matches: list[MatchDecision] = field(default_factory=list)
    discarded: DiscardTally = field(default_factory=DiscardTally)


@runtime_checkable
class Decider(Protocol):
    """Turns each frame's analysis into match decisions and discard counts.

    The simplest decider matches every face at or above the threshold on every frame; the
    tracking decider links faces across frames and decides once per track. Either way it
    must call `analysis.forget()` (or each face's) once done, so nothing outlives the frame
    except what a `MatchDecision` carries.
    """

    def decide(self, frame: Frame, analysis: FrameAnalysis, threshold: float) -> Decisions: ...

    def flush(self) -> Decisions:
        """Close every open track (stream ended, zone disarmed) and return what is left."""
        ...
