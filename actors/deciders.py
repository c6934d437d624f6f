"""`PerFrameDecider`: the simplest `Decider`, one decision per face per frame, no tracking.

Every face at or above the threshold is a match on every frame it appears in (the zone's
cooldown then stops repeated alerts); everything else becomes a count. The tracking decider
(`lfr.video.tracker.TrackingDecider`) implements the same protocol and decides once per track.
"""

from __future__ import annotations

from lfr.vision.types import Decisions, DiscardTally, Frame, FrameAnalysis, MatchDecision

__all__ = ["PerFrameDecider"]


class PerFrameDecider:
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
            if not out.matches:
                out.discarded = DiscardTally(
                    frames=1,
                    faces_seen=analysis.faces_seen,
                    faces_below_quality=analysis.faces_below_quality,
                )
        finally:
            analysis.forget()
        return out

    def flush(self) -> Decisions:
        return Decisions()
