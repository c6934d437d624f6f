"""The demo's stand-in for an officer comparing the images: is the listed person really in
the camera's clip at the moment of the alert? Read from the scene manifest (ground truth)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from lfr.scenes import SceneManifest
from schemas.messages import AlertMessage

__all__ = ["Judge"]


@dataclass
class Judge:
    """What an officer sees comparing the images: is the listed person really there?

    `stream_started` (when each camera's looped clip began) is filled in once the cameras
    have started; until then every alert is taken as true."""

    manifest: SceneManifest
    label_to_identity: dict[str, str]
    stream_started: dict[str, datetime] | None = None
    site_started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def check(self, alert: AlertMessage) -> bool:
        if self.stream_started is None:
            return True
        start = self.stream_started.get(alert.camera)
        if start is None:
            return True
        clip = self.manifest.clip(alert.camera)
        t = (alert.frame_at - start).total_seconds() % clip.seconds
        identity = self.label_to_identity.get(alert.subject_label)
        return any(
            a.identity == identity and a.seconds(clip.fps)[0] - 1 <= t <= a.seconds(clip.fps)[1] + 1
            for a in clip.appearances
        )
