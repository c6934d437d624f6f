"""The publisher against real brokers (embedded amqtt, MQTT 3.1.1; Mosquitto, MQTT 5)."""

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from lfr.transport.mqtt import MqttConfig, MqttPublisher, _client, subscribe
from schemas.messages import AlertMessage, ZoneStateMessage

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def alert(n: int = 1, patrol: str = "p-7") -> AlertMessage:
    now = datetime.now(UTC)
    return AlertMessage(
        alert_id=f"a-{n}",
        zone="north-end",
        camera="ne-1",
        patrol_id=patrol,
        deployment_id="d-1",
        subject_label="Case 42",
        category="wanted_by_police",
        similarity=0.71,
        threshold=0.6,
        frame_at=now,
        raised_at=now,
        expires_at=now + timedelta(minutes=15),
        traceparent=TP,
    )


async def receive(messages, n: int, limit_s: float = 5.0):
    got = []
    with anyio.fail_after(limit_s):
        async for m in messages:
            got.append(m)
            if len(got) == n:
                return got
    return got


async def test_alert_reaches_the_patrol_with_qos1_trace_and_expiry(mqtt_config):
    pub = MqttPublisher(mqtt_config)
    t = mqtt_config.topics
    async with anyio.create_task_group() as tg:
        await tg.start(pub.run)
        assert pub.connected
        async with subscribe(
            mqtt_config,
            f"o-{uuid.uuid4().hex[:8]}",
            [t.patrol_filter("north-end", "p-7")],
            clean=True,
        ) as messages:
            await pub.publish(alert(1))
            await pub.publish(alert(2, patrol="p-9"))  # another patrol: must not arrive
            await pub.publish(alert(3))
            got = await receive(messages, 2)
        tg.cancel_scope.cancel()
    assert [g.message.alert_id for g in got] == ["a-1", "a-3"]
    assert got[0].topic == t.alert("north-end", "p-7")
    assert got[0].message == alert(1).model_copy(
        update={
            "frame_at": got[0].message.frame_at,
            "raised_at": got[0].message.raised_at,
            "expires_at": got[0].message.expires_at,
        }
    )
    # MQTT 5: user property and message expiry; 3.1.1 has no properties, and `subscribe`
    # reads both from the payload (traceparent, expires_at)
    assert got[0].traceparent == TP and got[0].message.traceparent == TP
    assert 800 < got[0].expiry_s <= 900
    assert pub.delivered_total == 3


async def test_trace_context_given_at_publish_travels_in_the_payload(mqtt_config):
    """Whatever the broker speaks, a 3.1.1 client finds the trace context in the JSON."""
    pub = MqttPublisher(mqtt_config)
    t = mqtt_config.topics
    async with anyio.create_task_group() as tg:
        await tg.start(pub.run)
        async with subscribe(
            mqtt_config,
            f"o-{uuid.uuid4().hex[:8]}",
            [t.patrol_filter("north-end", "p-7")],
            clean=True,
        ) as messages:
            await pub.publish(alert(1).model_copy(update={"traceparent": None}), traceparent=TP)
            (got,) = await receive(messages, 1)
        tg.cancel_scope.cancel()
    assert got.message.traceparent == TP and got.traceparent == TP


async def test_zone_state_is_retained_for_late_subscribers(mqtt_config):
    pub = MqttPublisher(mqtt_config)
    t = mqtt_config.topics
    now = datetime.now(UTC)
    async with anyio.create_task_group() as tg:
        await tg.start(pub.run)
        await pub.publish(
            ZoneStateMessage(zone="north-end", armed=False, reason="no_patrol", updated_at=now)
        )
        await pub.publish(
            ZoneStateMessage(
                zone="north-end",
                armed=True,
                reason="patrol_on_duty",
                patrols_on_duty=("p-7",),
                updated_at=now,
            )
        )
        with anyio.fail_after(5):
            await pub.flush()
        async with subscribe(
            mqtt_config, f"o-{uuid.uuid4().hex[:8]}", [t.zone_state("north-end")], clean=True
        ) as messages:
            (got,) = await receive(messages, 1)
        # clear the retained message so the shared Mosquitto stays clean
        async with _client(mqtt_config, f"c-{uuid.uuid4().hex[:8]}", clean=True) as c:
            await c.publish(t.zone_state("north-end"), b"", qos=1, retain=True)
        await pub.publish_raw_clear(t.zone_state("north-end")) if hasattr(
            pub, "publish_raw_clear"
        ) else None
        tg.cancel_scope.cancel()
    assert got.retain and got.message.armed and got.message.patrols_on_duty == ("p-7",)


async def test_offline_officer_gets_queued_alerts_when_back(mqtt_config):
    """Session expiry: an officer whose phone was offline receives what was sent meanwhile."""
    pub = MqttPublisher(mqtt_config)
    t = mqtt_config.topics
    officer = f"o-{uuid.uuid4().hex[:8]}"
    filters = [t.patrol_filter("north-end", "p-7")]
    async with subscribe(mqtt_config, officer, filters):
        pass  # subscribed, then the phone goes offline
    async with anyio.create_task_group() as tg:
        await tg.start(pub.run)
        await pub.publish(alert(5))
        with anyio.fail_after(5):
            await pub.flush()
        tg.cancel_scope.cancel()
    async with subscribe(mqtt_config, officer, filters) as messages:
        (got,) = await receive(messages, 1)
    async with subscribe(mqtt_config, officer, [], clean=True):
        pass  # end the session
    assert got.message.alert_id == "a-5"


@pytest.mark.mosquitto
async def test_mqtt5_session_expiry_is_what_keeps_an_offline_officers_queue():
    """Mosquitto (MQTT 5): the officer whose session has an expiry interval gets the alert
    queued while offline; one whose session ends at disconnect (expiry 0) does not."""
    cfg = MqttConfig(port=1883, site=f"t{uuid.uuid4().hex[:10]}", session_expiry_s=60)
    t = cfg.topics
    filters = [t.patrol_filter("north-end", "p-7")]
    kept, gone = f"o-{uuid.uuid4().hex[:8]}", f"o-{uuid.uuid4().hex[:8]}"
    no_session = dataclasses.replace(cfg, session_expiry_s=0)
    async with subscribe(cfg, kept, filters), subscribe(no_session, gone, filters):
        pass  # both subscribed, then both phones go offline
    pub = MqttPublisher(cfg)
    async with anyio.create_task_group() as tg:
        await tg.start(pub.run)
        await pub.publish(alert(5))
        with anyio.fail_after(5):
            await pub.flush()
        async with subscribe(cfg, kept, filters) as messages:
            (got,) = await receive(messages, 1)
        assert got.message.alert_id == "a-5" and got.traceparent == TP
        async with subscribe(no_session, gone, filters) as messages:
            await pub.publish(alert(6))  # after re-subscribing: the first thing it sees
            (first,) = await receive(messages, 1)
        assert first.message.alert_id == "a-6"
        tg.cancel_scope.cancel()
    async with subscribe(cfg, kept, [], clean=True):
        pass


@pytest.mark.mosquitto
async def test_mqtt5_broker_drops_an_expired_alert_queued_for_an_offline_officer():
    """Message expiry: an alert that expired while the officer was offline is not delivered;
    a fresh one queued after it is."""
    cfg = MqttConfig(
        port=1883,
        site=f"t{uuid.uuid4().hex[:10]}",
        session_expiry_s=60,
        min_alert_expiry_s=1,
    )
    t = cfg.topics
    officer = f"o-{uuid.uuid4().hex[:8]}"
    filters = [t.patrol_filter("north-end", "p-7")]
    async with subscribe(cfg, officer, filters):
        pass
    soon = alert(7).model_copy(update={"expires_at": datetime.now(UTC) + timedelta(seconds=1)})
    pub = MqttPublisher(cfg)
    async with anyio.create_task_group() as tg:
        await tg.start(pub.run)
        await pub.publish(soon)
        with anyio.fail_after(5):
            await pub.flush()
        await anyio.sleep(2.5)  # the broker's expiry (1 s) passes while the officer is away
        await pub.publish(alert(8))
        with anyio.fail_after(5):
            await pub.flush()
        tg.cancel_scope.cancel()
    async with subscribe(cfg, officer, filters) as messages:
        (first,) = await receive(messages, 1)
    async with subscribe(cfg, officer, [], clean=True):
        pass
    assert first.message.alert_id == "a-8"


async def test_broker_outage_loses_no_alert(mqtt_config, proxy):
    """The publisher's link is cut; alerts queue; the link returns; every alert arrives once
    (at least once on the wire, de-duplicated on alert_id)."""
    delivered = []

    async def on_delivered(out, at):
        delivered.append(out.message.alert_id)

    cfg = dataclasses.replace(
        mqtt_config, port=proxy.port, reconnect_max_s=0.3, publish_timeout_s=1.0
    )
    pub = MqttPublisher(cfg, on_delivered=on_delivered)
    t = mqtt_config.topics
    async with subscribe(
        mqtt_config, f"o-{uuid.uuid4().hex[:8]}", [t.patrol_filter("north-end", "p-7")], clean=True
    ) as messages:
        async with anyio.create_task_group() as tg:
            await tg.start(pub.run)
            await pub.publish(alert(1))
            with anyio.fail_after(5):
                await pub.flush()
            proxy.cut()
            for n in (2, 3, 4):
                await pub.publish(alert(n))
            await anyio.sleep(0.5)
            assert pub.pending >= 1
            await proxy.restore()
            with anyio.fail_after(10):
                await pub.flush()
            got = await receive(messages, 4, limit_s=10)
            tg.cancel_scope.cancel()
    ids = {g.message.alert_id for g in got}
    assert ids == {"a-1", "a-2", "a-3", "a-4"}
    assert set(delivered) == ids
    assert pub.reconnects >= 1
