"""The zone view: whether each zone is armed and why, folded once for every reader (the API's
zone list and the retained MQTT zone state).

`evolve_zone` is the one fold of a zone's state from the log; the zone actor keeps its own
decision state (`actors.zone_rules`), which this view never feeds back into.
"""

from __future__ import annotations

from typing import Any

from lfr.projections._keyed import KeyedProjection, occurred_at
from lfr.projections.base import Record
from schemas.views import ZoneRecord

__all__ = ["ZONE_TYPES", "ZoneProjection", "evolve_zone"]

ZONE_TYPES = frozenset(
    {
        "DeploymentAuthorised",
        "DeploymentArmed",
        "DeploymentDisarmed",
        "DeploymentEnded",
        "PatrolCheckedIn",
    }
)


def _with(zone: ZoneRecord, changes: dict[str, Any]) -> ZoneRecord:
    """`zone` with `changes`, validated (the payload's times arrive as text)."""
    return ZoneRecord.model_validate({**zone.model_dump(), **changes})


def evolve_zone(zone: ZoneRecord, record: Record) -> ZoneRecord:
    """`zone` after `record` (a record of another type leaves it unchanged)."""
    t, p = record["type"], record["payload"]
    if t not in ZONE_TYPES:
        return zone
    at = occurred_at(record)
    match t:
        case "DeploymentAuthorised":
            waiting = "authorised; waiting for a patrol on duty in the window"
            return _with(
                zone,
                {
                    "deployment_id": p["deployment_id"],
                    "deployment_ends_at": p["ends_at"],
                    "reason": zone.reason if zone.armed else waiting,
                    "updated_at": at,
                },
            )
        case "DeploymentArmed" | "DeploymentDisarmed":
            return _with(
                zone,
                {
                    "armed": t == "DeploymentArmed",
                    "reason": p["reason"],
                    "deployment_id": p["deployment_id"],
                    "patrols_on_duty": tuple(p.get("patrols_on_duty", ())),
                    "updated_at": at,
                },
            )
        case "DeploymentEnded":
            return _with(
                zone,
                {
                    "armed": False,
                    "reason": f"deployment ended ({p['reason']})",
                    "deployment_id": None,
                    "updated_at": at,
                },
            )
    return zone  # PatrolCheckedIn: the zone exists (no deployment yet)


class ZoneProjection(KeyedProjection[ZoneRecord]):
    name = "zones"
    model = ZoneRecord
    types = ZONE_TYPES

    def key_of(self, record: Record) -> str:
        zone: str = record["payload"]["zone"]
        return zone

    def fold(self, current: ZoneRecord | None, record: Record) -> ZoneRecord:
        return evolve_zone(current or ZoneRecord(zone=self.key_of(record)), record)
