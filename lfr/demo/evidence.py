"""From the log and the scenes' ground truth to the transparency report and the demo's
numbers: deployments, armed periods, alerts and what officers did, judged against who
really walked past which camera and when.

Reads only envelopes (the same facts `lfr audit` replays) plus the manifest; it never sees a
face of anyone. A walker counts as having "walked past an armed camera" when their face was
at least `min_face_px` tall on that camera while its zone was armed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lfr.report import AlertRow, DeploymentSection, GroundTruth
from lfr.scenes import SceneManifest
from schemas.envelope import Envelope

__all__ = ["Evidence", "clip_origins", "fold_log"]

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
    payload: dict[str, Any]
    armed: list[list[datetime | None]] = field(default_factory=list)
    ended_at: datetime | None = None
    frames: int = 0
    faces: int = 0
    discarded: int = 0
    by_camera: dict[str, int] = field(default_factory=dict)
    purged: bool = False
    refs_purged: int = 0
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    engagements: int = 0


@dataclass
class Evidence:
    """Everything the report and the `--json` line need, folded from the log."""

    deployments: dict[str, _Dep]
    stream_started: dict[str, datetime]  # camera -> when its clip began (see clip_origins)
    analysed_at: list[tuple[str, datetime, datetime, int]]  # camera, from, to, frames
    events: int
    zone_of: dict[str, str]
    first_frame_at: dict[str, datetime] = field(default_factory=dict)  # first StreamStarted

    def armed_periods(self, zone: str, until: datetime) -> list[tuple[datetime, datetime]]:
        out = []
        for d in self.deployments.values():
            if d.payload["zone"] != zone:
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
            p = d.payload
            zone = str(p["zone"])
            rows = []
            for alert_id, a in d.alerts.items():
                verdict = "unknown"
                if manifest is not None:
                    identity = label_to_identity.get(str(a["subject_label"]), "")
                    verdict = (
                        "true"
                        if self._present(manifest, identity, str(a["camera"]), a["frame_at"])
                        else "false"
                    )
                ack_at = a.get("ack_at")
                rows.append(
                    AlertRow(
                        alert_id=alert_id,
                        raised_at=a["raised_at"],
                        camera=str(a["camera"]),
                        subject_label=str(a["subject_label"]),
                        category=str(a["category"]),
                        similarity=float(a["similarity"]),
                        threshold=float(a["threshold"]),
                        ground_truth=verdict,
                        acknowledged_by=a.get("ack_by"),
                        ack_after_s=(ack_at - a["raised_at"]).total_seconds() if ack_at else None,
                        adjudications=list(a.get("adjudications", [])),
                        engagement=a.get("engagement"),
                        latency_ms=latency_by_alert.get(alert_id),
                    )
                )
            out.append(
                DeploymentSection(
                    deployment_id=dep_id,
                    zone=zone,
                    zone_name=zone_names.get(zone, zone),
                    cameras=list(p["cameras"]),
                    authorised_by=str(p["authorised_by"]),
                    legal_basis=str(p["legal_basis"]),
                    reason=str(p["reason"]),
                    window_start=datetime.fromisoformat(str(p["starts_at"])),
                    window_end=datetime.fromisoformat(str(p["ends_at"])),
                    ended_at=d.ended_at,
                    armed_periods=[(a, b or d.ended_at or until) for a, b in d.armed],
                    watchlist_version=str(p["watchlist_version"]),
                    watchlist_size=int(p["watchlist_size"]),
                    threshold=float(p["threshold"]),
                    frames_analysed=d.frames,
                    faces_scanned=d.faces,
                    frames_discarded=d.discarded,
                    frames_by_camera=dict(sorted(d.by_camera.items())),
                    alerts=sorted(rows, key=lambda r: r.raised_at),
                    engagements=d.engagements,
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


def fold_log(envelopes: Iterable[Envelope], zone_of: dict[str, str]) -> Evidence:
    """Fold the log's envelopes into `Evidence` (one pass, in seq order)."""
    deps: dict[str, _Dep] = {}
    alert_dep: dict[str, str] = {}
    started: dict[str, datetime] = {}
    analysed: list[tuple[str, datetime, datetime, int]] = []
    count = 0
    for env in envelopes:
        count += 1
        p, t, at = env.payload, env.type, env.occurred_at
        if t == "DeploymentAuthorised":
            deps[str(p["deployment_id"])] = _Dep(payload=dict(p))
        elif t == "DeploymentArmed" and p["deployment_id"] in deps:
            d = deps[str(p["deployment_id"])]
            if not d.armed or d.armed[-1][1] is not None:
                d.armed.append([at, None])
        elif t in ("DeploymentDisarmed", "DeploymentEnded") and p["deployment_id"] in deps:
            d = deps[str(p["deployment_id"])]
            if d.armed and d.armed[-1][1] is None:
                d.armed[-1][1] = at
            if t == "DeploymentEnded":
                d.ended_at = at
        elif t == "CameraStreamStarted":
            started.setdefault(str(p["camera"]), at)
        elif t == "FrameDiscarded" and p["deployment_id"] in deps:
            d = deps[str(p["deployment_id"])]
            frames = int(p.get("frames", 1))
            d.frames += frames
            d.by_camera[str(p["camera"])] = d.by_camera.get(str(p["camera"]), 0) + frames
            d.discarded += frames
            d.faces += int(p.get("faces_seen", 0))
            w0 = p.get("window_start")
            w1 = p.get("window_end")
            analysed.append(
                (
                    str(p["camera"]),
                    datetime.fromisoformat(str(w0)) if w0 else at,
                    datetime.fromisoformat(str(w1)) if w1 else at,
                    frames,
                )
            )
        elif t == "FaceMatched" and p["deployment_id"] in deps:
            d = deps[str(p["deployment_id"])]
            d.frames += 1
            d.faces += 1
            d.by_camera[str(p["camera"])] = d.by_camera.get(str(p["camera"]), 0) + 1
            fa = datetime.fromisoformat(str(p["frame_at"]))
            analysed.append((str(p["camera"]), fa, fa, 1))
        elif t == "AlertRaised" and p["deployment_id"] in deps:
            alert_dep[str(p["alert_id"])] = str(p["deployment_id"])
            deps[str(p["deployment_id"])].alerts[str(p["alert_id"])] = {
                **p,
                "raised_at": at,
                "frame_at": datetime.fromisoformat(str(p["frame_at"])),
                "adjudications": [],
            }
        elif t in ("AlertAcknowledged", "AlertAdjudicated", "EngagementRecorded"):
            dep_id = alert_dep.get(str(p["alert_id"]))
            if dep_id is None:
                continue
            a = deps[dep_id].alerts[str(p["alert_id"])]
            if t == "AlertAcknowledged" and "ack_by" not in a:
                a["ack_by"], a["ack_at"] = p["officer"], at
            elif t == "AlertAdjudicated":
                a["adjudications"].append(f"{p['officer']}: {p['verdict']}")
            elif t == "EngagementRecorded":
                a["engagement"] = str(p["outcome"]).replace("_", " ")
                deps[dep_id].engagements += 1
        elif t == "BiometricPurged" and p.get("scope") == "deployment_watchlist":
            dep_id = str(p.get("deployment_id"))
            if dep_id in deps:
                deps[dep_id].purged = True
                deps[dep_id].refs_purged += int(p.get("refs_purged", 0))
    return Evidence(deps, dict(started), analysed, count, zone_of, first_frame_at=dict(started))


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    import numpy as np

    return float(np.percentile(np.asarray(values, float), q))
