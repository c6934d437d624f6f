"""The patrol view: each patrol's latest check-in (zone, officers, on duty or not), which the
API reads to find an officer's patrol and the Web Push relay to find a patrol's phones."""

from __future__ import annotations

from lfr.projections._keyed import KeyedProjection
from lfr.projections.base import Record
from schemas.views import PatrolRecord

__all__ = ["PatrolProjection"]


class PatrolProjection(KeyedProjection[PatrolRecord]):
    name = "patrols"
    model = PatrolRecord
    types = frozenset({"PatrolCheckedIn", "PatrolCheckedOut"})

    def key_of(self, record: Record) -> str:
        patrol: str = record["payload"]["patrol_id"]
        return patrol

    def fold(self, current: PatrolRecord | None, record: Record) -> PatrolRecord | None:
        p = record["payload"]
        if record["type"] == "PatrolCheckedIn":
            return PatrolRecord(
                patrol_id=p["patrol_id"],
                zone=p["zone"],
                officers=tuple(p["officers"]),
                callsign=p.get("callsign"),
                on_duty=True,
            )
        return None if current is None else current.model_copy(update={"on_duty": False})
