"""From the site's read model and the scenes' ground truth to the transparency report and the
demo's numbers: deployments, armed periods, alerts and what officers did, judged against who
really walked past which camera and when.

Deployments (authority, counts, time line), alerts and camera starts come from the site's
`Views`, as the API and the auditor read them. The one thing the views do not keep - when
each camera analysed its frames, per analysis window - is read from the log's
`FrameDiscarded`/`FaceMatched` records, to check the log's own counts against the armed
periods independently. It never sees a face of anyone. A walker counts as having "walked
past an armed camera" when their face was at least `min_face_px` tall on that camera while
its zone was armed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lfr.kernel import Sealing
from lfr.projections import Views
from lfr.report import AlertRow, DeploymentSection, GroundTruth
from lfr.scenes import SceneManifest
from lfr.store.base import EventStore
from schemas.events import FaceMatched
from schemas.views import AlertRecord, DeploymentAudit

__all__ = [
    "Evidence",
    "clip_origins",
    "percentile",
    "read_evidence",
]

_MIN_FACE_PX = 40
_TRUTH_SLACK_S = 1.0


#: An RTSP client reads about a second of stream (probing) before it releases its first frame,
#: so `CameraStreamStarted` comes that long after the clip began playing.
_PROBE_LEAD_S = 1.2
_CONNECT_WINDOW_S = 3.0


def clip_origins(started: dict[str, datetime], site_started: datetime) -> dict[str, datetime]:
    """When each camera's clip began playing: the site's start when the camera's stream came
    up with it (clips start on connection), else the stream's start less the probe time."""
    out = {}
    for camera, at in started.items():
        late = (at - site_started).total_seconds() > _CONNECT_WINDOW_S
        out[camera] = at - timedelta(seconds=_PROBE_LEAD_S) if late else site_started
    return out


@dataclass
class _Dep:
    """One deployment as the views hold it, with its armed periods read off its time line."""

    audit: DeploymentAudit
    alerts: list[AlertRecord]
    armed: list[list[datetime | None]] = field(default_factory=list)
    ended_at: datetime | None = None
    by_camera: dict[str, int] = field(default_factory=dict)
    purged: bool = False
    refs_purged: int = 0

    @classmethod
    def of(cls, audit: DeploymentAudit, alerts: list[AlertRecord]) -> _Dep:
        d = cls(audit, alerts)
        for entry in audit.timeline:
            if entry.type == "DeploymentArmed" and (not d.armed or d.armed[-1][1] is not None):
                d.armed.append([entry.at, None])
            elif entry.type in ("DeploymentDisarmed", "DeploymentEnded"):
                if d.armed and d.armed[-1][1] is None:
                    d.armed[-1][1] = entry.at
                if entry.type == "DeploymentEnded":
                    d.ended_at = entry.at
            elif (
                entry.type == "BiometricPurged"
                and entry.detail.get("scope") == "deployment_watchlist"
            ):
                d.purged = True
                d.refs_purged += int(entry.detail.get("refs_purged", 0))
        return d


@dataclass
class Evidence:
    """Everything the report and the `--json` line need, read from the views (and the
    analysis windows from the log)."""

    deployments: dict[str, _Dep]
    stream_started: dict[str, datetime]  # camera -> when its clip began (see clip_origins)
    analysed_at: list[tuple[str, datetime, datetime, int]]  # camera, from, to, frames
    events: int
    zone_of: dict[str, str]
    first_frame_at: dict[str, datetime] = field(default_factory=dict)  # first StreamStarted
    #: match id -> (camera, track id) of the match that raised an alert (for its latency)
    track_of: dict[str, tuple[str, str]] = field(default_factory=dict)

    def armed_periods(self, zone: str, until: datetime) -> list[tuple[datetime, datetime]]:
        out = []
        for d in self.deployments.values():
            if d.audit.zone != zone:
                continue
            for a, b in d.armed:
                assert a is not None
                out.append((a, b or d.ended_at or until))
        return out

    def sections(
        self,
        manifest: SceneManifest | None,
        zone_names: dict[str, str],
        until: datetime,
        latency_by_alert: dict[str, float],
        label_to_identity: dict[str, str],
    ) -> list[DeploymentSection]:
        out = []
        for dep_id, d in self.deployments.items():
            a_ = d.audit
            rows = []
            for a in d.alerts:
                verdict = "unknown"
                if manifest is not None:
                    identity = label_to_identity.get(a.subject_label or "", "")
                    present = self._present(manifest, identity, a.camera, a.frame_at)
                    verdict = "true" if present else "false"
                ack_at = a.acknowledged_at
                rows.append(
                    AlertRow(
                        alert_id=a.alert_id,
                        raised_at=a.raised_at,
                        camera=a.camera,
                        subject_label=a.subject_label,
                        category=a.category,
                        similarity=a.similarity,
                        threshold=a.threshold,
                        ground_truth=verdict,
                        acknowledged_by=a.acknowledged_by,
                        ack_after_s=(ack_at - a.raised_at).total_seconds() if ack_at else None,
                        adjudications=[f"{x.officer}: {x.verdict}" for x in a.adjudications],
                        engagement=a.outcome.replace("_", " ") if a.outcome else None,
                        latency_ms=latency_by_alert.get(a.alert_id),
                    )
                )
            out.append(
                DeploymentSection(
                    deployment_id=dep_id,
                    zone=a_.zone,
                    zone_name=zone_names.get(a_.zone, a_.zone),
                    cameras=list(a_.cameras),
                    authorised_by=a_.authorised_by,
                    legal_basis=a_.legal_basis,
                    reason=a_.reason,
                    window_start=a_.starts_at,
                    window_end=a_.ends_at,
                    ended_at=d.ended_at,
                    armed_periods=[(a, b or d.ended_at or until) for a, b in d.armed],
                    watchlist_version=a_.watchlist_version,
                    watchlist_size=a_.watchlist_size,
                    threshold=a_.threshold,
                    frames_analysed=a_.counts.frames_analysed,
                    faces_scanned=a_.counts.faces_seen,
                    frames_discarded=a_.counts.frames_discarded,
                    frames_by_camera=dict(sorted(d.by_camera.items())),
                    alerts=sorted(rows, key=lambda r: r.raised_at),
                    engagements=a_.counts.engagements,
                    watchlist_purged=d.purged,
                    refs_purged=d.refs_purged,
                )
            )
        return out

    def _clip_time(self, manifest: SceneManifest, camera: str, at: datetime) -> float | None:
        start = self.stream_started.get(camera)
        if start is None:
            return None
        clip = manifest.clip(camera)
        return (at - start).total_seconds() % clip.seconds

    def _present(self, manifest: SceneManifest, identity: str, camera: str, at: datetime) -> bool:
        t = self._clip_time(manifest, camera, at)
        if t is None:
            return False
        clip = manifest.clip(camera)
        for a in clip.appearances:
            first, last = a.seconds(clip.fps)
            if a.identity == identity and first - _TRUTH_SLACK_S <= t <= last + _TRUTH_SLACK_S:
                return True
        return False

    def ground_truth(
        self, manifest: SceneManifest, until: datetime, alerted_identities: set[str]
    ) -> tuple[GroundTruth, set[str], set[str]]:
        """Who walked past an armed / a disarmed camera, and how many of them were alerted."""
        walked: set[str] = set()
        walked_disarmed: set[str] = set()
        for clip in manifest.clips:
            start = self.stream_started.get(clip.name)
            if start is None:
                continue
            live = self.first_frame_at.get(clip.name, start)
            periods = [
                (max(p0, live), p1)
                for p0, p1 in self.armed_periods(self.zone_of[clip.name], until)
                if p1 > live
            ]
            for a in clip.appearances:
                if not a.watchlisted:
                    continue
                big = [row[0] for row in a.boxes if row[4] >= _MIN_FACE_PX]
                if not big:
                    continue
                seen_armed = False
                for fi in big:
                    at = start + timedelta(seconds=fi / clip.fps)
                    if at > until:
                        break
                    if any(p0 <= at <= p1 for p0, p1 in periods):
                        seen_armed = True
                        break
                # seen at all (before the scenario ended)?
                seen = start + timedelta(seconds=big[0] / clip.fps) <= until
                if seen_armed:
                    walked.add(a.identity)
                elif seen:
                    walked_disarmed.add(a.identity)
        walked_disarmed -= walked
        disarmed_frames = self.frames_analysed_while_disarmed(until)
        gt = GroundTruth(
            subjects_walked=len(walked),
            subjects_alerted=len(walked & alerted_identities),
            subjects_walked_while_disarmed=len(walked_disarmed),
            frames_analysed_while_disarmed=disarmed_frames,
        )
        return gt, walked, walked_disarmed

    def frames_captured_while_disarmed(
        self, analysed: dict[str, list[datetime]], until: datetime, slack_s: float = 0.1
    ) -> int:
        """Analysed frames (as the analysis path saw them) captured outside every armed period
        of their camera's zone: an independent check of the log's own counts."""
        n = 0
        slack = timedelta(seconds=slack_s)
        for camera, times in analysed.items():
            periods = self.armed_periods(self.zone_of.get(camera, ""), until)
            n += sum(not any(p0 - slack <= t <= p1 + slack for p0, p1 in periods) for t in times)
        return n

    def frames_analysed_while_disarmed(self, until: datetime, slack_s: float = 0.5) -> int:
        """Frames whose analysis window lies outside every armed period of their zone."""
        n = 0
        for camera, t0, t1, frames in self.analysed_at:
            periods = self.armed_periods(self.zone_of.get(camera, ""), until)
            slack = timedelta(seconds=slack_s)
            if not any(p0 - slack <= t0 and t1 <= p1 + slack for p0, p1 in periods):
                n += frames
        return n


async def read_evidence(
    views: Views, store: EventStore, zone_of: dict[str, str], sealer: Sealing | None = None
) -> Evidence:
    """The evidence as `views` (caught up with `store`) hold it, plus each camera's analysis
    windows and matches' tracks from the log's records (opened with the site's `sealer`:
    a match's track is sealed there with who it was)."""
    await views.catch_up(store)
    deps = {
        d.deployment_id: _Dep.of(d, await views.alerts(deployment_id=d.deployment_id, limit=None))
        for d in await views.deployments()
    }
    started = {c.camera: c.first_started_at for c in await views.cameras() if c.first_started_at}
    analysed: list[tuple[str, datetime, datetime, int]] = []
    track_of: dict[str, tuple[str, str]] = {}
    matches: list[FaceMatched] = []
    for env in await store.read_all():
        p, t = env.payload, env.type
        if t not in ("FrameDiscarded", "FaceMatched") or p["deployment_id"] not in deps:
            continue
        camera = str(p["camera"])
        frames = int(p.get("frames", 1))
        by_camera = deps[str(p["deployment_id"])].by_camera
        by_camera[camera] = by_camera.get(camera, 0) + frames
        if t == "FaceMatched":
            fa = datetime.fromisoformat(str(p["frame_at"]))
            analysed.append((camera, fa, fa, 1))
            match = env.decode()
            assert isinstance(match, FaceMatched)
            matches.append(match)
        else:
            w0, w1 = p.get("window_start"), p.get("window_end")
            analysed.append(
                (
                    camera,
                    datetime.fromisoformat(str(w0)) if w0 else env.occurred_at,
                    datetime.fromisoformat(str(w1)) if w1 else env.occurred_at,
                    frames,
                )
            )
    for match in await sealer.open(matches) if sealer is not None else matches:
        track_of[match.match_id] = (match.camera, match.track_id or "")
    return Evidence(
        deps,
        dict(started),
        analysed,
        await views.position(),
        zone_of,
        first_frame_at=dict(started),
        track_of=track_of,
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    import numpy as np

    return float(np.percentile(np.asarray(values, float), q))
