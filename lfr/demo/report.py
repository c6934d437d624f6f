"""The demo's evidence: the site's views read against the scene's ground truth, the chain
verified as `lfr audit verify` verifies it, telemetry checked for biometric values and
passers-by, the transparency report written, and the numbers of the `--json` line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from lfr.demo.cast import Cast
from lfr.demo.dashboard import DemoUI
from lfr.demo.evidence import Evidence, clip_origins, percentile, read_evidence
from lfr.demo.officers import AlertSeen
from lfr.demo.parts import TimedRecogniser
from lfr.demo.scenario import CAMERAS, ZONES
from lfr.demo.site import Observations
from lfr.kernel import Sealing
from lfr.projections import Views
from lfr.report import SimilarityHistogram, TransparencyReport, Verification, write_report
from lfr.scenes import SceneManifest
from lfr.store.base import EventStore
from lfr.telemetry import Telemetry
from lfr.telemetry.privacy import metric_label_breaches, span_breaches

__all__ = ["DemoRun", "write_evidence"]


@dataclass(frozen=True)
class DemoRun:
    """The run's settings the report states, where it writes, and when it began."""

    data_dir: Path
    seconds: float
    threshold: float
    analyse_fps: float
    started: float  # time.monotonic() at the start


def _fmt(ms: float | None) -> str:
    return "n/a" if ms is None else f"{ms:.0f} ms"


def _decision_latency(
    ev: Evidence,
    seen: dict[str, AlertSeen],
    decided_at: dict[tuple[str, str], datetime],
) -> dict[str, float]:
    """Per alert: its deciding frame's capture -> delivery on the device, in ms."""
    out = {}
    for d in ev.deployments.values():
        for a in d.alerts:
            track = ev.track_of.get(a.match_id)
            at = decided_at.get(track) if track is not None else None
            if a.alert_id in seen and at is not None:
                received = seen[a.alert_id].received_at
                out[a.alert_id] = (received - at).total_seconds() * 1000.0
    return out


async def write_evidence(
    run: DemoRun,
    ui: DemoUI,
    views: Views,
    store: EventStore,
    *,
    manifest: SceneManifest,
    cast: Cast,
    label_to_identity: dict[str, str],
    observations: Observations,
    tally: TimedRecogniser,
    tel: Telemetry,
    site_started: datetime,
    sealer: Sealing | None = None,
) -> dict[str, Any]:
    """Read the site's views (caught up with `store`) against the ground truth, verify the
    chain as `lfr audit verify` does, check telemetry for biometric values, write
    report.html; return the `--json` numbers."""
    from lfr.store.sqlite import LOG_FILE, SqliteLog
    from lfr.store.verify import VerifyResult, verify_log

    log_path = run.data_dir / LOG_FILE
    data_dir = run.data_dir
    desk_seen = dict(observations.seen)
    decided_at, analysed, below = (
        observations.decided_at,
        observations.analysed,
        observations.below,
    )

    ev = await read_evidence(views, store, CAMERAS, sealer)
    last = await store.read_all(from_seq=ev.events) if ev.events else []
    until = last[-1].occurred_at if last else datetime.now(UTC)
    ev.stream_started = clip_origins(ev.stream_started, site_started)
    # decode of the frame that decided the match -> the alert on the officer's device
    latency = _decision_latency(ev, desk_seen, decided_at)
    best_frame = {k: v.latency_ms for k, v in desk_seen.items()}
    zone_names = {z: t for z, (t, _) in ZONES.items()}
    sections = ev.sections(manifest, zone_names, until, latency, label_to_identity)
    sections = [  # one deployment per zone here, so a zone's cameras are its deployment's
        s.model_copy(
            update={
                "non_match_similarity": SimilarityHistogram.of(
                    [v for cam in s.cameras for v in below.get(cam, [])]
                )
            }
        )
        for s in sections
    ]
    alerted = {
        label_to_identity.get(a.subject_label or "", "")
        for s in sections
        for a in s.alerts
        if a.ground_truth == "true"
    }
    gt, walked, walked_disarmed = ev.ground_truth(manifest, until, alerted)
    observed = ev.frames_captured_while_disarmed(analysed, until)
    if observed > gt.frames_analysed_while_disarmed:
        gt = gt.model_copy(update={"frames_analysed_while_disarmed": observed})

    def verify() -> VerifyResult:
        opener = getattr(store, "audit_source", None)  # the engine's own reader (SQLite, NATS)
        log = opener() if opener is not None else SqliteLog(log_path, read_only=True)
        try:
            return verify_log(log)
        finally:
            log.close()

    result = await anyio.to_thread.run_sync(verify)
    head = last[-1].hash if last else None
    verification = Verification(
        chain_verified=result.ok,
        events=result.events,
        head_hash=head,
        detail=result.problem
        or f"{result.checkpoints_verified} signed checkpoint(s) verified; "
        f"key {result.key_id} ({result.key_source})",
    )
    passers = sorted({p.identity for p in cast.passers_by} - set(label_to_identity.values()))
    tel.force_flush()
    span_problems = span_breaches(
        tel.finished_spans(), [p.replace("_", " ") for p in passers] + passers
    )
    metric_problems = metric_label_breaches(
        tel.metric_reader.get_metrics_data() if tel.metric_reader else None, passers
    )
    lat = [v for v in latency.values() if v is not None]
    report = TransparencyReport(
        site="Town centre (two zones: North End, London Road)",
        generated_at=datetime.now(UTC),
        deployments=sections,
        latencies_ms=lat,
        verification=verification,
        ground_truth=gt,
        notes=[
            f"Demo run: {run.seconds:.0f} s of generated street video on four cameras, "
            f"analysed at up to {run.analyse_fps:g} frames per second each.",
            f"Threshold {run.threshold:.2f} (cosine similarity of the faceplugin model); "
            "watchlist photos differ from the street images.",
            "Similarities of faces below the threshold are kept only as bin counts for the chart.",
            "Latency runs from the capture of the frame whose analysis decided a match to the "
            "alert's arrival on the officer's device; the tracker may wait for a second "
            "agreeing sighting, so the best-scoring frame can be older (best frame to device: "
            f"p95 {_fmt(percentile(list(best_frame.values()), 95))}).",
            f"Telemetry privacy check: {len(span_problems) + len(metric_problems)} problem(s) "
            "in spans and metric labels.",
        ],
    )
    path = write_report(report, data_dir / "report.html")
    alerts = [a for s in sections for a in s.alerts]
    out = {
        "frames_analysed": sum(s.frames_analysed for s in sections),
        "faces_seen": sum(s.faces_scanned for s in sections),
        "frames_discarded": sum(s.frames_discarded for s in sections),
        "alerts": len(alerts),
        "true_alerts": sum(a.ground_truth == "true" for a in alerts),
        "false_alerts": sum(a.ground_truth == "false" for a in alerts),
        "subjects_walked": gt.subjects_walked,
        "subjects_alerted": gt.subjects_alerted,
        "subjects_walked_while_disarmed": gt.subjects_walked_while_disarmed,
        "frames_analysed_while_disarmed": gt.frames_analysed_while_disarmed,
        "frames_seen_by_analysis": sum(len(v) for v in analysed.values()),
        "engagements": sum(s.engagements for s in sections),
        "latency_ms_p50": percentile(lat, 50),
        "latency_ms_p95": percentile(lat, 95),
        "best_frame_to_device_ms_p50": percentile(list(best_frame.values()), 50),
        "best_frame_to_device_ms_p95": percentile(list(best_frame.values()), 95),
        "analysis_wait_ms_p95": percentile(tally.wait_ms, 95),
        "analysis_ms_p50": percentile(tally.analyse_ms, 50),
        "analysis_ms_p95": percentile(tally.analyse_ms, 95),
        "events": ev.events,
        "chain_verified": result.ok,
        "telemetry_privacy_problems": len(span_problems) + len(metric_problems),
        "watchlist_purged": all(s.watchlist_purged for s in sections),
        "biometric_refs_purged": sum(s.refs_purged for s in sections),
        # per deployment: the templates its BiometricPurged says were erased
        "refs_purged": {s.deployment_id: s.refs_purged for s in sections},
        "deployments_armed": sorted(s.deployment_id for s in sections if s.armed_periods),
        "data_dir": str(data_dir),
        "report": str(path),
        "seconds": run.seconds,
        "wall_s": round(time.monotonic() - run.started, 1),
    }
    ui.log(
        f"{out['alerts']} alerts ({out['true_alerts']} true, {out['false_alerts']} false); "
        f"{gt.subjects_alerted}/{gt.subjects_walked} subjects alerted; "
        f"chain {'verified' if result.ok else 'FAILED: ' + str(result.problem)}"
    )
    ui.log(f"report: {path}")
    return out
