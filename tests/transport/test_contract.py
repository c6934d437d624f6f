"""The MQTT contract: topics, payload round trips, and the committed AsyncAPI document."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from lfr.transport.asyncapi import build_document, render
from lfr.transport.topics import CHANNELS, InvalidTopicError, Topics, decode, encode
from schemas.messages import AlertMessage, AlertUpdateMessage, ZoneStateMessage

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)


def alert(**kw) -> AlertMessage:
    base = dict(
        alert_id="a-1",
        zone="north-end",
        camera="ne-1",
        patrol_id="p-7",
        deployment_id="d-1",
        subject_label="Case 42",
        category="wanted_by_police",
        similarity=0.71,
        threshold=0.6,
        frame_at=NOW,
        raised_at=NOW,
        expires_at=NOW + timedelta(minutes=15),
        crop_url="/api/alerts/a-1/images/crop",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    base.update(kw)
    return AlertMessage(**base)


def test_committed_asyncapi_matches_the_models():
    committed = (ROOT / "schemas" / "asyncapi.yaml").read_text()
    assert committed == render(), (
        "schemas/asyncapi.yaml drifted: run `python -m lfr.transport.asyncapi > "
        "schemas/asyncapi.yaml` and commit it"
    )


def test_document_is_asyncapi_3_with_mqtt_bindings_for_every_channel():
    doc = yaml.safe_load(render())
    assert doc["asyncapi"] == "3.0.0"
    assert set(doc["channels"]) == {c.name for c in CHANNELS}
    ops = {op["channel"]["$ref"].split("/")[-1]: op for op in doc["operations"].values()}
    assert ops["patrolAlert"]["bindings"]["mqtt"] == {
        "qos": 1,
        "retain": False,
        "bindingVersion": "0.2.0",
        "messageExpiryInterval": 900,
    }
    assert ops["zoneState"]["bindings"]["mqtt"]["retain"] is True
    assert doc["servers"]["production"]["bindings"]["mqtt"]["cleanSession"] is False
    # every $ref resolves
    text = render()
    for ref in set(__import__("re").findall(r"\$ref: '#/([^']+)'", text)):
        node = doc
        for part in ref.split("/"):
            node = node[part]


def test_payload_schema_in_document_is_the_models_schema():
    doc = build_document()
    schema = doc["components"]["schemas"]["AlertMessage"]
    assert set(schema["required"]) >= {"alert_id", "zone", "patrol_id", "similarity"}
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    "message",
    [
        alert(),
        AlertUpdateMessage(
            alert_id="a-1",
            zone="north-end",
            patrol_id="p-7",
            status="adjudicated",
            by="PC 1",
            verdict="confirmed",
            confirmed_by=("PC 1",),
            occurred_at=NOW,
        ),
        ZoneStateMessage(zone="north-end", armed=True, reason="patrol_on_duty", updated_at=NOW),
    ],
)
def test_encode_decode_round_trip(message):
    assert decode(encode(message)) == message


def test_topics_per_patrol_and_zone():
    t = Topics("town")
    assert t.alert("north-end", "p-7") == "lfr/town/zone/north-end/patrol/p-7/alert"
    assert t.zone_state("london-road") == "lfr/town/zone/london-road/state"
    assert t.for_message(alert()) == "lfr/town/zone/north-end/patrol/p-7/alert"
    assert t.patrol_filter("north-end", "p-7") == "lfr/town/zone/north-end/patrol/p-7/+"


@pytest.mark.parametrize("bad", ["a/b", "+", "#", "", "x" * 65, "p 7"])
def test_wildcards_and_separators_are_refused_as_segments(bad):
    with pytest.raises(InvalidTopicError, match="cannot be an MQTT topic segment"):
        Topics("town").alert("north-end", bad)


def test_decode_refuses_unknown_fields():
    with pytest.raises(ValidationError):
        decode(
            b'{"message_type":"zone_state","zone":"z","armed":true,"reason":"r",'
            b'"updated_at":"2026-01-01T00:00:00Z","extra":1}'
        )
