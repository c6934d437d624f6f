"""What a camera analyses with: its recogniser and a fresh decider per deployment.

`camera_recognition(pipeline, camera_id)` is the one place where the real face pipeline's
hot path is chosen; `lfr watch`, `lfr bench cameras`, `lfr run`, `lfr serve --config`, the
demo and `lfr eval video` all build their cameras through it, so what is benchmarked and
evaluated is what runs. Test doubles plug in through the same `CameraRecognition` seam with
`shared_recognition`.

The recogniser and the deciders it hands out belong together: the tracking recogniser plans
its detector work from the tracks of the decider it last handed out, so a camera must use
the two as a pair and ask for a new decider (never build one itself) when a deployment starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from lfr.vision.types import (
    Decider,
    Decisions,
    DiscardTally,
    Frame,
    FrameAnalysis,
    MatchDecision,
    Recogniser,
)

if TYPE_CHECKING:
    from lfr.vision.pipeline import FacePipeline

__all__ = [
    "CameraRecognition",
    "DeciderKind",
    "PerFrameDecider",
    "camera_recognition",
    "shared_recognition",
]

DeciderKind = Literal["tracking", "per_frame"]


@dataclass(frozen=True, slots=True)
class CameraRecognition:
    """One camera's recogniser, and `new_decider()` for each deployment it is armed with."""

    recogniser: Recogniser
    new_decider: Callable[[], Decider]


def camera_recognition(
    pipeline: FacePipeline, camera_id: str, *, decider: DeciderKind = "tracking"
) -> CameraRecognition:
    """The real pipeline's recognition for one camera.

    Tracking (the default, what deployed cameras run): a `TrackingRecogniser` for this camera
    with `TrackingDecider`s from its `new_decider`. `per_frame` analyses every face of every
    frame with the pipeline itself and decides frame by frame (a site config may ask for it;
    it does not keep up with 1080p cameras on a CPU).
    """
    if decider == "per_frame":
        return CameraRecognition(pipeline, PerFrameDecider)
    from lfr.video.focus import TrackingRecogniser  # the models' imports: only when used

    recogniser = TrackingRecogniser(pipeline, camera=camera_id)
    return CameraRecognition(recogniser, recogniser.new_decider)


def shared_recognition(
    recogniser: Recogniser, camera_id: str = "cam", *, decider: DeciderKind = "per_frame"
) -> CameraRecognition:
    """A stateless recogniser (test doubles, the scripted recogniser) shared by cameras, with
    a fresh decider of `decider`'s kind per deployment."""
    if decider == "per_frame":
        return CameraRecognition(recogniser, PerFrameDecider)
    from lfr.video.tracker import TrackingDecider

    return CameraRecognition(recogniser, lambda: TrackingDecider(camera_id))


class PerFrameDecider:
    """The simplest `Decider`: one decision per face per frame, no tracking.

    Every face at or above the threshold is a match on every frame it appears in (the zone's
    cooldown then stops repeated alerts); everything else becomes a count.
    """

    def decide(self, frame: Frame, analysis: FrameAnalysis, threshold: float) -> Decisions:
        out = Decisions()
        try:
            for face in analysis.faces:
                best = face.best
                if face.passed_quality and best is not None and best.similarity >= threshold:
                    crop = face.crop.copy() if face.crop is not None else None
                    out.matches.append(
                        MatchDecision(
                            candidate=best,
                            frame_at=frame.captured_at,
                            decoded_ns=frame.decoded_ns,
                            face_size_px=face.size_px,
                            quality=face.quality,
                            track_id=face.track_id,
                            crop=crop,
                        )
                    )
            # every face not matched is counted, whether or not the frame held a match
            out.discarded = DiscardTally(
                frames=0 if out.matches else 1,
                faces_seen=analysis.faces_seen - len(out.matches),
                faces_below_quality=analysis.faces_below_quality,
            )
        finally:
            analysis.forget()
        return out

    def flush(self) -> Decisions:
        return Decisions()
