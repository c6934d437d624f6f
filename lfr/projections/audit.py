"""The audit view: per deployment, its authority, status, time line and counts.

Frame counts arrive as `FrameDiscarded` many times a second, so they are summed per batch in
memory and written once per batch; everything else is rare and goes straight to the tables.
Counts for a deployment id that was never authorised in the log are kept too (and reported),
because analysis without recorded authority is exactly what an auditor must see.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from lfr.projections.base import Record
from schemas.views import DeploymentAudit, DeploymentCounts, TimelineEntry

__all__ = ["AuditProjection"]

COUNTS = (
    "frames_analysed",
    "faces_seen",
    "frames_discarded",
    "faces_below_quality",
    "matches",
    "alerts",
    "true_alerts",
    "false_alerts",
    "engagements",
    "biometrics_purged",
)
_FA, _FS, _FD, _FBQ, _M, _AL, _TA, _FAL, _EN, _BP = range(len(COUNTS))

_DEPLOYMENT_COLUMNS = (
    "deployment_id",
    "zone",
    "cameras",
    "starts_at",
    "ends_at",
    "authorised_by",
    "authorised_at",
    "legal_basis",
    "reason",
    "watchlist_version",
    "watchlist_size",
    "threshold",
    "status",
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS deployments (
    deployment_id TEXT PRIMARY KEY, {", ".join(_DEPLOYMENT_COLUMNS[1:])}
);
CREATE INDEX IF NOT EXISTS deployments_zone ON deployments (zone, status);
CREATE TABLE IF NOT EXISTS deployment_counts (
    deployment_id TEXT PRIMARY KEY, {", ".join(c + " INTEGER NOT NULL DEFAULT 0" for c in COUNTS)}
);
CREATE TABLE IF NOT EXISTS timeline (
    deployment_id TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, type TEXT NOT NULL,
    summary TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (deployment_id, seq)
);
CREATE TABLE IF NOT EXISTS alert_verdicts (
    alert_id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL, verdict TEXT
);
"""
_COUNTS_UPSERT = (
    f"INSERT INTO deployment_counts (deployment_id, {', '.join(COUNTS)}) "
    f"VALUES (?, {', '.join('?' * len(COUNTS))}) ON CONFLICT (deployment_id) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNTS)
)

# The zone-level events that go on the time line of every open deployment in their zone.
_ZONE_EVENTS = frozenset(
    {
        "PatrolCheckedIn",
        "PatrolCheckedOut",
        "CameraStreamStarted",
        "CameraStreamLost",
        "CameraStreamRecovered",
        "CameraLeaseLapsed",
    }
)
_ALERT_FOLLOWUPS = frozenset(
    {"AlertDispatched", "AlertEscalated", "AlertAcknowledged", "AlertAdjudicated"}
)


def _summary(t: str, p: dict[str, Any]) -> str:
    """One line an auditor reads on the time line."""
    match t:
        case "DeploymentAuthorised":
            return (
                f"authorised by {p['authorised_by']} for {p['zone']} "
                f"{p['starts_at']} to {p['ends_at']}, threshold {p['threshold']}, "
                f"{p['watchlist_size']} watchlist entries ({p['legal_basis']})"
            )
        case "DeploymentArmed":
            return f"armed ({p['reason']}); on duty: {', '.join(p['patrols_on_duty']) or '-'}"
        case "DeploymentDisarmed":
            return f"disarmed ({p['reason']})"
        case "DeploymentEnded":
            by = f" by {p['ended_by']}" if p.get("ended_by") else ""
            return f"ended ({p['reason']}){by}"
        case "ThresholdChanged":
            return (
                f"threshold {p['old_threshold']} -> {p['new_threshold']} by {p['changed_by']}: "
                f"{p['reason']}"
            )
        case "PatrolCheckedIn":
            return f"patrol {p['patrol_id']} on duty ({', '.join(p['officers'])})"
        case "PatrolCheckedOut":
            return f"patrol {p['patrol_id']} off duty ({p.get('reason', '')})"
        case "CameraStreamStarted":
            return f"camera {p['camera']} streaming"
        case "CameraStreamLost":
            return f"camera {p['camera']} lost: {p['reason']}"
        case "CameraStreamRecovered":
            return (
                f"camera {p['camera']} back after {p['down_s']:.0f} s "
                f"({p['retries']} failed retries)"
            )
        case "CameraLeaseLapsed":
            return (
                f"camera {p['camera']} stopped analysing: no renewal from its zone for "
                f"{p['silent_s']:.1f} s (lease {p['lease_s']} s)"
            )
        case "FaceMatched":
            # never who: the timeline outlives the alert's retention (the log seals it)
            return (
                f"match {p['match_id']} on {p['camera']}: "
                f"similarity {p['similarity']:.3f} (threshold {p['threshold']})"
            )
        case "AlertRaised":
            return (
                f"alert {p['alert_id']} raised on {p['camera']} "
                f"({p['category'].replace('_', ' ')}, similarity {p['similarity']:.3f})"
            )
        case "AlertDispatched":
            return f"alert {p['alert_id']} sent to {', '.join(p['patrol_ids'])}"
        case "AlertEscalated":
            return f"alert {p['alert_id']} escalated to {', '.join(p['to'])} ({p['reason']})"
        case "AlertAcknowledged":
            return f"alert {p['alert_id']} acknowledged by {p['officer']}"
        case "AlertAdjudicated":
            return f"alert {p['alert_id']} judged {p['verdict']} by {p['officer']}"
        case "EngagementRecorded":
            return f"alert {p['alert_id']}: engagement by {p['engagement_officer']}, {p['outcome']}"
        case "BiometricPurged":
            return f"{p['refs_purged']} biometric records purged ({p['scope']}): {p['reason']}"
    return t


class AuditProjection:
    """Folds deployment, patrol, camera, match and alert events into the audit tables."""

    name = "audit"

    def setup(self, conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)

    def state_rows(self, conn: sqlite3.Connection) -> Iterable[tuple[Any, ...]]:
        for table, key in (
            ("deployments", "deployment_id"),
            ("deployment_counts", "deployment_id"),
            ("timeline", "deployment_id, seq"),
            ("alert_verdicts", "alert_id"),
        ):
            yield (table,)
            yield from conn.execute(f"SELECT * FROM {table} ORDER BY {key}")

    def apply(self, conn: sqlite3.Connection, records: Sequence[Record]) -> None:
        deltas: dict[str, list[int]] = {}
        timeline: list[tuple[Any, ...]] = []
        width = len(COUNTS)
        for rec in records:
            t = rec["type"]
            if t == "FrameDiscarded":  # the hot path: most of the log
                p = rec["payload"]
                d = deltas.get(p["deployment_id"])
                if d is None:
                    d = deltas[p["deployment_id"]] = [0] * width
                frames = p["frames"]
                faces = p["faces_seen"]
                d[_FD] += frames
                d[_FA] += frames
                d[_FS] += faces
                d[_FBQ] += p["faces_below_quality"]
                continue
            self._apply_rare(conn, rec, t, deltas, timeline)
        if timeline:
            conn.executemany("INSERT OR IGNORE INTO timeline VALUES (?, ?, ?, ?, ?, ?)", timeline)
        if deltas:
            conn.executemany(_COUNTS_UPSERT, [(k, *v) for k, v in deltas.items()])

    def _apply_rare(
        self,
        conn: sqlite3.Connection,
        rec: Record,
        t: str,
        deltas: dict[str, list[int]],
        timeline: list[tuple[Any, ...]],
    ) -> None:
        p = rec["payload"]
        seq = rec["seq"]
        at = rec["occurred_at"]

        def bump(deployment_id: str, index: int, by: int = 1) -> None:
            d = deltas.get(deployment_id)
            if d is None:
                d = deltas[deployment_id] = [0] * len(COUNTS)
            d[index] += by

        def note(deployment_id: str, detail: dict[str, Any]) -> None:
            timeline.append(
                (deployment_id, seq, at, t, _summary(t, p), orjson.dumps(detail).decode())
            )

        if t == "DeploymentAuthorised":
            conn.execute(
                f"INSERT OR IGNORE INTO deployments ({', '.join(_DEPLOYMENT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_DEPLOYMENT_COLUMNS))})",
                (
                    p["deployment_id"],
                    p["zone"],
                    orjson.dumps(p["cameras"]).decode(),
                    p["starts_at"],
                    p["ends_at"],
                    p["authorised_by"],
                    at,
                    p["legal_basis"],
                    p["reason"],
                    p["watchlist_version"],
                    p["watchlist_size"],
                    p["threshold"],
                    "authorised",
                ),
            )
            note(p["deployment_id"], {"authorised_by": p["authorised_by"]})
        elif t in ("DeploymentArmed", "DeploymentDisarmed", "DeploymentEnded"):
            status = {
                "DeploymentArmed": "armed",
                "DeploymentDisarmed": "disarmed",
                "DeploymentEnded": "ended",
            }[t]
            conn.execute(
                "UPDATE deployments SET status=? WHERE deployment_id=? AND status != 'ended'",
                (status, p["deployment_id"]),
            )
            note(p["deployment_id"], {"reason": p["reason"]})
        elif t == "ThresholdChanged":
            conn.execute(
                "UPDATE deployments SET threshold=? WHERE deployment_id=?",
                (p["new_threshold"], p["deployment_id"]),
            )
            note(p["deployment_id"], {"old": p["old_threshold"], "new": p["new_threshold"]})
        elif t in _ZONE_EVENTS:
            for (dep,) in conn.execute(
                "SELECT deployment_id FROM deployments WHERE zone=? AND status != 'ended' "
                "ORDER BY deployment_id",
                (p["zone"],),
            ).fetchall():
                note(dep, {k: p[k] for k in ("patrol_id", "camera") if k in p})
        elif t == "FaceMatched":
            bump(p["deployment_id"], _M)
            bump(p["deployment_id"], _FA)
            bump(p["deployment_id"], _FS)
            note(
                p["deployment_id"],
                {"match_id": p["match_id"], "entry_id": p["entry_id"], "camera": p["camera"]},
            )
        elif t == "AlertRaised":
            conn.execute(
                "INSERT OR IGNORE INTO alert_verdicts VALUES (?, ?, NULL)",
                (p["alert_id"], p["deployment_id"]),
            )
            bump(p["deployment_id"], _AL)
            note(p["deployment_id"], {"alert_id": p["alert_id"], "entry_id": p["entry_id"]})
        elif t in _ALERT_FOLLOWUPS or t == "EngagementRecorded":
            row = conn.execute(
                "SELECT deployment_id, verdict FROM alert_verdicts WHERE alert_id=?",
                (p["alert_id"],),
            ).fetchone()
            if row is None:
                return
            dep, old = row
            if t == "AlertAdjudicated" and p["verdict"] != old:
                if old is not None:
                    bump(dep, _TA if old == "confirmed" else _FAL, -1)
                bump(dep, _TA if p["verdict"] == "confirmed" else _FAL)
                conn.execute(
                    "UPDATE alert_verdicts SET verdict=? WHERE alert_id=?",
                    (p["verdict"], p["alert_id"]),
                )
            if t == "EngagementRecorded":
                bump(dep, _EN)
            note(dep, {"alert_id": p["alert_id"]})
        elif t == "BiometricPurged" and p.get("deployment_id"):
            bump(p["deployment_id"], _BP, p["refs_purged"])
            note(p["deployment_id"], {"scope": p["scope"], "refs_purged": p["refs_purged"]})

    # --- queries ----------------------------------------------------------------------------

    def _counts(self, conn: sqlite3.Connection, deployment_id: str) -> DeploymentCounts:
        row = conn.execute(
            f"SELECT {', '.join(COUNTS)} FROM deployment_counts WHERE deployment_id=?",
            (deployment_id,),
        ).fetchone()
        return (
            DeploymentCounts()
            if row is None
            else DeploymentCounts(**dict(zip(COUNTS, row, strict=True)))
        )

    def get(
        self, conn: sqlite3.Connection, deployment_id: str, *, with_timeline: bool = True
    ) -> DeploymentAudit | None:
        row = conn.execute(
            f"SELECT {', '.join(_DEPLOYMENT_COLUMNS)} FROM deployments WHERE deployment_id=?",
            (deployment_id,),
        ).fetchone()
        if row is None:
            return None
        d = dict(zip(_DEPLOYMENT_COLUMNS, row, strict=True))
        d["cameras"] = orjson.loads(d["cameras"])
        d["counts"] = self._counts(conn, deployment_id)
        if with_timeline:
            d["timeline"] = [
                TimelineEntry(seq=s, at=a, type=t, summary=m, detail=orjson.loads(x))
                for s, a, t, m, x in conn.execute(
                    "SELECT seq, at, type, summary, detail FROM timeline "
                    "WHERE deployment_id=? ORDER BY seq",
                    (deployment_id,),
                )
            ]
        return DeploymentAudit.model_validate(d)

    def list(
        self,
        conn: sqlite3.Connection,
        *,
        zone: str | None = None,
        with_timeline: bool = True,
    ) -> list[DeploymentAudit]:
        sql = "SELECT deployment_id FROM deployments"
        args: tuple[Any, ...] = ()
        if zone is not None:
            sql += " WHERE zone=?"
            args = (zone,)
        ids = [r[0] for r in conn.execute(sql + " ORDER BY authorised_at, deployment_id", args)]
        out = [self.get(conn, i, with_timeline=with_timeline) for i in ids]
        return [d for d in out if d is not None]

    def unattributed(self, conn: sqlite3.Connection) -> dict[str, DeploymentCounts]:
        """Counts for deployment ids the log never authorised."""
        rows = conn.execute(
            f"SELECT deployment_id, {', '.join(COUNTS)} FROM deployment_counts "
            "WHERE deployment_id NOT IN (SELECT deployment_id FROM deployments) "
            "ORDER BY deployment_id"
        ).fetchall()
        return {r[0]: DeploymentCounts(**dict(zip(COUNTS, r[1:], strict=True))) for r in rows}
