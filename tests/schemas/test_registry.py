import pytest

import schemas
from schemas import (
    EVENT_TYPES,
    FaceMatched,
    NewEvent,
    PatrolCheckedIn,
    SchemaVersionError,
    UnknownEventTypeError,
    decode_event,
    new_event_id,
)
from schemas.registry import _UPCASTERS, Event, upcaster


def test_every_exported_event_is_registered():
    exported = {name for name in schemas.__all__ if name in EVENT_TYPES}
    assert exported == set(EVENT_TYPES) - {n for n in EVENT_TYPES if n.startswith("_")}


def test_events_are_frozen_and_strict():
    event = PatrolCheckedIn(patrol_id="p-1", zone="north-end", officers=("PC 101",))
    with pytest.raises(ValueError):
        PatrolCheckedIn(patrol_id="p-1", zone="north-end", officers=("PC 101",), extra=1)
    with pytest.raises(ValueError):
        event.zone = "london-road"  # type: ignore[misc]


def test_decode_round_trip():
    event = PatrolCheckedIn(patrol_id="p-1", zone="north-end", officers=("PC 101",))
    payload = event.model_dump(mode="json")
    assert decode_event("PatrolCheckedIn", 1, payload) == event


def test_unknown_type_and_future_version_are_refused():
    with pytest.raises(UnknownEventTypeError, match="NoSuchEvent"):
        decode_event("NoSuchEvent", 1, {})
    with pytest.raises(SchemaVersionError, match="schema_version 9"):
        decode_event("FaceMatched", 9, {})


def test_upcaster_lifts_old_payloads():
    class _Renamed(Event):
        SCHEMA_VERSION = 2
        new_name: str

    @upcaster("_Renamed", 1)
    def _v1_v2(payload):
        return {"new_name": payload["old_name"]}

    try:
        assert decode_event("_Renamed", 1, {"old_name": "x"}) == _Renamed(new_name="x")
        assert decode_event("_Renamed", 2, {"new_name": "y"}).new_name == "y"
    finally:
        EVENT_TYPES.pop("_Renamed")
        _UPCASTERS.pop(("_Renamed", 1))


def test_event_ids_are_uuid7_and_ordered():
    ids = [new_event_id() for _ in range(100)]
    assert all(i.version == 7 for i in ids)
    assert [i.bytes[:6] for i in ids] == sorted(i.bytes[:6] for i in ids)


def test_new_event_carries_type():
    ne = NewEvent(event=PatrolCheckedIn(patrol_id="p", zone="z", officers=("a",)))
    assert ne.type == "PatrolCheckedIn" and ne.schema_version == 1
    assert FaceMatched.SCHEMA_VERSION == 1
