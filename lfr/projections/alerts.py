"""The alert view: one row per alert with its state (raised → dispatched → acknowledged →
adjudicated → engaged), who did what and when; queried by id, zone, patrol or state."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from lfr.projections.base import Record
from schemas.views import AlertRecord

__all__ = ["ALERT_TYPES", "AlertProjection"]

ALERT_TYPES = frozenset(
    {
        "AlertRaised",
        "AlertDispatched",
        "AlertEscalated",
        "AlertAcknowledged",
        "AlertAdjudicated",
        "EngagementRecorded",
    }
)
_RANK = {"raised": 0, "dispatched": 1, "acknowledged": 2, "adjudicated": 3, "engaged": 4}

_COLUMNS = (
    "alert_id",
    "match_id",
    "zone",
    "camera",
    "deployment_id",
    "entry_id",
    "subject_label",
    "category",
    "similarity",
    "threshold",
    "watchlist_version",
    "frame_at",
    "crop_ref",
    "reference_ref",
    "sealed",
    "state",
    "raised_at",
    "dispatched_at",
    "dispatched_to",
    "escalation_level",
    "acknowledged_at",
    "acknowledged_by",
    "acknowledged_patrol",
    "acknowledgements",
    "adjudications",
    "verdict",
    "adjudicated_at",
    "confirmed_by",
    "engaged_at",
    "engagement_officer",
    "outcome",
    "last_seq",
)
_JSON_COLUMNS = (
    "crop_ref",
    "reference_ref",
    "sealed",
    "dispatched_to",
    "acknowledgements",
    "adjudications",
    "confirmed_by",
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS alerts (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "alert_id" else "") for c in _COLUMNS)}
);
CREATE INDEX IF NOT EXISTS alerts_zone ON alerts (zone, raised_at);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, raised_at);
CREATE TABLE IF NOT EXISTS alert_patrols (
    patrol_id TEXT NOT NULL, alert_id TEXT NOT NULL, PRIMARY KEY (patrol_id, alert_id)
);
"""
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM alerts"
_UPSERT = (
    f"INSERT OR REPLACE INTO alerts ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_COLUMNS))})"
)


def _row_to_dict(row: Sequence[Any]) -> dict[str, Any]:
    d = dict(zip(_COLUMNS, row, strict=True))
    for c in _JSON_COLUMNS:
        d[c] = None if d[c] is None else orjson.loads(d[c])
    return d


def _dict_to_row(d: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        (None if d[c] is None else orjson.dumps(d[c]).decode()) if c in _JSON_COLUMNS else d[c]
        for c in _COLUMNS
    )


class AlertProjection:
    """Folds the alert events into `alerts` and `alert_patrols`."""

    name = "alerts"

    def setup(self, conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)

    def state_rows(self, conn: sqlite3.Connection) -> Iterable[tuple[Any, ...]]:
        yield from conn.execute(_SELECT + " ORDER BY alert_id")
        yield from conn.execute("SELECT * FROM alert_patrols ORDER BY patrol_id, alert_id")

    def apply(self, conn: sqlite3.Connection, records: Sequence[Record]) -> None:
        types = ALERT_TYPES
        for rec in records:
            if rec["type"] in types:
                self._apply_one(conn, rec)

    def _load(self, conn: sqlite3.Connection, alert_id: str) -> dict[str, Any] | None:
        row = conn.execute(_SELECT + " WHERE alert_id=?", (alert_id,)).fetchone()
        return None if row is None else _row_to_dict(row)

    def _apply_one(self, conn: sqlite3.Connection, rec: Record) -> None:
        t = rec["type"]
        p = rec["payload"]
        at = rec["occurred_at"]
        alert_id = p["alert_id"]
        if t == "AlertRaised":
            a: dict[str, Any] = dict.fromkeys(_COLUMNS)
            for k in (
                "alert_id",
                "match_id",
                "zone",
                "camera",
                "deployment_id",
                "entry_id",
                "subject_label",
                "category",
                "similarity",
                "threshold",
                "watchlist_version",
                "frame_at",
                "crop_ref",
                "reference_ref",
                "sealed",
            ):
                a[k] = p.get(k)
            a.update(
                state="raised",
                raised_at=at,
                dispatched_to=[],
                escalation_level=0,
                acknowledgements=[],
                adjudications=[],
                confirmed_by=[],
                last_seq=rec["seq"],
            )
            existing = self._load(conn, alert_id)
            if existing is not None:  # a later event arrived first; keep what it recorded
                return
            conn.execute(_UPSERT, _dict_to_row(a))
            return
        found = self._load(conn, alert_id)
        if found is None:
            return  # an event about an alert this log never raised: nothing to attach it to
        a = found
        patrols: list[str] = []
        if t == "AlertDispatched":
            self._advance(a, "dispatched")
            a["dispatched_at"] = a["dispatched_at"] or at
            patrols = list(p["patrol_ids"])
            a["escalation_level"] = max(a["escalation_level"] or 0, p.get("escalation_level", 0))
        elif t == "AlertEscalated":
            patrols = list(p["to"])
            a["escalation_level"] = max(a["escalation_level"] or 0, p["escalation_level"])
        elif t == "AlertAcknowledged":
            self._advance(a, "acknowledged")
            if a["acknowledged_at"] is None:
                a["acknowledged_at"] = at
                a["acknowledged_by"] = p["officer"]
                a["acknowledged_patrol"] = p["patrol_id"]
            a["acknowledgements"].append(
                {"officer": p["officer"], "patrol_id": p["patrol_id"], "at": at}
            )
            patrols = [p["patrol_id"]]
        elif t == "AlertAdjudicated":
            self._advance(a, "adjudicated")
            a["adjudications"].append(
                {
                    "officer": p["officer"],
                    "patrol_id": p["patrol_id"],
                    "verdict": p["verdict"],
                    "at": at,
                    "note": p.get("note"),
                }
            )
            a["verdict"] = p["verdict"]
            a["adjudicated_at"] = at
            if p["verdict"] == "confirmed" and p["officer"] not in a["confirmed_by"]:
                a["confirmed_by"].append(p["officer"])
            patrols = [p["patrol_id"]]
        elif t == "EngagementRecorded":
            self._advance(a, "engaged")
            a["engaged_at"] = at
            a["engagement_officer"] = p["engagement_officer"]
            a["outcome"] = p["outcome"]
            for officer in p["confirmed_by"]:
                if officer not in a["confirmed_by"]:
                    a["confirmed_by"].append(officer)
            patrols = [p["patrol_id"]]
        for patrol in patrols:
            if patrol not in a["dispatched_to"] and t in ("AlertDispatched", "AlertEscalated"):
                a["dispatched_to"].append(patrol)
        a["last_seq"] = rec["seq"]
        conn.execute(_UPSERT, _dict_to_row(a))
        conn.executemany(
            "INSERT OR IGNORE INTO alert_patrols VALUES (?, ?)", [(x, alert_id) for x in patrols]
        )

    @staticmethod
    def _advance(a: dict[str, Any], state: str) -> None:
        if _RANK[state] > _RANK[a["state"]]:
            a["state"] = state

    # --- queries ----------------------------------------------------------------------------

    def get(self, conn: sqlite3.Connection, alert_id: str) -> AlertRecord | None:
        d = self._load(conn, alert_id)
        return None if d is None else AlertRecord.model_validate(d)

    def list(
        self,
        conn: sqlite3.Connection,
        *,
        zone: str | None = None,
        patrol: str | None = None,
        state: str | None = None,
        deployment_id: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[AlertRecord]:
        """Newest first; `limit=None`: all of them."""
        where: list[str] = []
        args: list[Any] = []
        if zone is not None:
            where.append("zone = ?")
            args.append(zone)
        if state is not None:
            where.append("state = ?")
            args.append(state)
        if deployment_id is not None:
            where.append("deployment_id = ?")
            args.append(deployment_id)
        if patrol is not None:
            where.append("alert_id IN (SELECT alert_id FROM alert_patrols WHERE patrol_id = ?)")
            args.append(patrol)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY raised_at DESC, alert_id LIMIT ? OFFSET ?"
        rows = conn.execute(sql, (*args, -1 if limit is None else limit, offset)).fetchall()
        return [AlertRecord.model_validate(_row_to_dict(r)) for r in rows]
