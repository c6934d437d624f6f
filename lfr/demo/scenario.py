"""The demo's town centre: two zones, four cameras, a cast and a time line, as clip specs.

Times are seconds from the cameras' start. London Road's only patrol checks out at
`checkout_s`, so its cameras disarm while people (one watchlisted) still walk past; North
End stays armed to the end. Subjects walk well clear of the change, so the ground truth does
not hinge on a fraction of a second.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from lfr.demo.cast import Cast
from lfr.scenes import ClipSpec, WalkerSpec, crowd

__all__ = ["CAMERAS", "MIN_SECONDS", "ZONES", "Scenario", "plan_scenario"]

#: zone id -> (display name, cameras)
ZONES: dict[str, tuple[str, tuple[str, ...]]] = {
    "north-end": ("North End", ("ne-1", "ne-2")),
    "london-road": ("London Road", ("lr-1", "lr-2")),
}
CAMERAS: dict[str, str] = {cam: zone for zone, (_, cams) in ZONES.items() for cam in cams}
MIN_SECONDS = 20.0
_SETTLE_S = 4.0


@dataclass(frozen=True)
class Scenario:
    seconds: float
    checkout_s: float  # London Road's patrol checks out
    clips: tuple[ClipSpec, ...]
    listed: tuple[str, ...]  # identities on the watchlist
    notes: tuple[str, ...] = field(default=())

    def photos(self) -> set[Path]:
        return {w.photo for c in self.clips for w in c.walkers}

    def with_face_boxes(self, boxes: dict[Path, tuple[float, float, float, float]]) -> Scenario:
        """The same scenario with each walking photo's face located (for worker processes)."""
        clips = tuple(
            replace(c, walkers=tuple(replace(w, face_box=boxes.get(w.photo)) for w in c.walkers))
            for c in self.clips
        )
        return replace(self, clips=clips)

    def key(self) -> str:
        """A digest of everything that shapes the clips, for the scene cache."""
        h = hashlib.sha256(repr(self.clips).encode())
        for c in self.clips:
            for w in c.walkers:
                st = w.photo.stat()
                h.update(f"{w.photo}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:20]


def _subject_walk(
    wid: str, member_photo: Path, identity: str, start: float, dur: float, x0: float, x1: float
) -> WalkerSpec:
    return WalkerSpec(
        walker_id=wid,
        identity=identity,
        photo=member_photo,
        start_s=start,
        duration_s=dur,
        path="approach",
        x_from=x0,
        x_to=x1,
        face_from_px=38.0,
        face_to_px=150.0,
        yaw_amp=0.45,
        gain=1.0,
        watchlisted=True,
        coat=(90, 70, 50),
    )


def plan_scenario(
    cast: Cast, *, seconds: float, seed: int, width: int = 1280, height: int = 720
) -> Scenario:
    """Clip specs for the four cameras: subjects at set times, passers-by at random.

    :raises ConfigError: `seconds` below `MIN_SECONDS` (no room for the time line).
    """
    if seconds < MIN_SECONDS:
        from lfr.errors import ConfigError

        raise ConfigError(
            f"--seconds {seconds:g} is too short: the scenario needs at least "
            f"{MIN_SECONDS:g} s (walks before and after a patrol leaves)"
        )
    t = seconds
    checkout = round(0.55 * t, 1)
    dur = min(6.5, 0.2 * t)
    s = cast.subjects
    walk: dict[str, list[WalkerSpec]] = {cam: [] for cam in CAMERAS}

    def add(cam: str, i: int, start: float, x0: float, x1: float, suffix: str = "") -> None:
        m = s[i]
        walk[cam].append(
            _subject_walk(f"subject-{i}{suffix}", m.walk_photo, m.identity, start, dur, x0, x1)
        )

    early = max(0.1 * t, _SETTLE_S)  # cameras connect and arm in the first seconds
    add("ne-1", 0, max(0.12 * t, _SETTLE_S), 0.35, 0.5)
    add("ne-2", 1, 0.32 * t, 0.6, 0.45)  # seen by both North End cameras: one alert
    add("ne-1", 1, 0.32 * t + 1.0, 0.55, 0.7, "-b")
    add("ne-1", 2, min(0.62 * t, t - dur - 0.5), 0.4, 0.3)  # North End still armed
    add("lr-1", 3, early, 0.45, 0.6)
    add("lr-2", 4, max(early, checkout - dur - 0.25 * t), 0.5, 0.35)
    add("lr-1", 5, min(checkout + 0.12 * t, t - dur - 0.5), 0.5, 0.6)  # disarmed: not analysed
    rng = np.random.default_rng(seed)
    clips = []
    for k, cam in enumerate(CAMERAS):
        passers = crowd(rng, cast.passers_by, seconds=t, per_minute=14, prefix=f"{cam}-p")
        walkers = [replace(w, face_box=cast.boxes.get(w.photo)) for w in (*walk[cam], *passers)]
        clips.append(
            ClipSpec(cam, t + 1.0, tuple(walkers), seed=seed * 16 + k, width=width, height=height)
        )
    return Scenario(
        seconds=t,
        checkout_s=checkout,
        clips=tuple(clips),
        listed=tuple(m.identity for m in s),
    )
