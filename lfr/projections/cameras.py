"""The camera view: when each camera's video first arrived and whether it streams now (the
demo lines its clips up with the first start; an engineer sees which cameras are down: down
from `CameraStreamLost`, up again from `CameraStreamRecovered` or `CameraStreamStarted`)."""

from __future__ import annotations

from lfr.projections._keyed import KeyedProjection, occurred_at
from lfr.projections.base import Record
from schemas.views import CameraRecord

__all__ = ["CameraProjection"]


class CameraProjection(KeyedProjection[CameraRecord]):
    name = "cameras"
    model = CameraRecord
    types = frozenset({"CameraStreamStarted", "CameraStreamLost", "CameraStreamRecovered"})

    def key_of(self, record: Record) -> str:
        camera: str = record["payload"]["camera"]
        return camera

    def fold(self, current: CameraRecord | None, record: Record) -> CameraRecord:
        at = occurred_at(record)
        started = record["type"] == "CameraStreamStarted"
        up = started or record["type"] == "CameraStreamRecovered"  # video is back
        first = current.first_started_at if current is not None else None
        return CameraRecord(
            camera=self.key_of(record),
            zone=record["payload"]["zone"],
            first_started_at=first or (at if started else None),
            streaming=up,
            changed_at=at,
        )
