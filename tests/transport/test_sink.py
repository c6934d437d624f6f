"""The zone's AlertSink over MQTT, and the relay of updates and zone state from the log."""

import dataclasses
import uuid
from datetime import UTC, datetime

import anyio
import pytest

from lfr.alerts import AlertNotice
from lfr.projections import Views
from lfr.store.memory import InMemoryEventStore
from lfr.transport.mqtt import MqttPublisher, _client, subscribe
from lfr.transport.sink import (
    LATE_DELIVERY_STREAM,
    DeliveryPendingError,
    EventRelay,
    MqttAlertSink,
    SinkNotRunningError,
    zone_state_message,
)
from schemas.envelope import NewEvent
from schemas.events import (
    AlertAcknowledged,
    AlertDispatched,
    AlertRaised,
    DeploymentArmed,
)


def raised(alert_id="al-1") -> AlertRaised:
    return AlertRaised(
        alert_id=alert_id,
        match_id="m-1",
        zone="north-end",
        camera="ne-1",
        deployment_id="d-1",
        watchlist_version="v1",
        entry_id="e-1",
        subject_label="Case 9",
        category="suspect",
        similarity=0.7,
        threshold=0.6,
        frame_at=datetime.now(UTC),
    )


async def test_sink_delivers_to_each_patrol_and_the_supervisor(mqtt_config):
    pub = MqttPublisher(mqtt_config)
    sink = MqttAlertSink(pub)
    t = mqtt_config.topics
    filters = [t.patrol_filter("north-end", "p-1"), t.patrol_filter("north-end", "supervisor")]
    async with subscribe(mqtt_config, f"o-{uuid.uuid4().hex[:6]}", filters, clean=True) as msgs:
        async with anyio.create_task_group() as tg:
            await tg.start(pub.run)
            await tg.start(sink.run)
            tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            await sink.deliver(AlertNotice(raised(), ("p-1", "supervisor:north-end"), 1, tp))
            got = []
            with anyio.fail_after(5):
                async for m in msgs:
                    got.append(m.message)
                    if len(got) == 2:
                        break
            tg.cancel_scope.cancel()
    assert {(m.patrol_id, m.escalation_level, m.traceparent) for m in got} == {
        ("p-1", 1, tp),
        ("supervisor", 1, tp),
    }
    assert got[0].subject_label == "Case 9" and got[0].crop_url is None


async def test_alert_delivered_late_is_recorded_when_it_goes_out(mqtt_config, proxy):
    store = InMemoryEventStore()
    cfg = dataclasses.replace(
        mqtt_config, port=proxy.port, publish_timeout_s=1.0, reconnect_max_s=0.3
    )
    pub = MqttPublisher(cfg)
    sink = MqttAlertSink(pub, store=store, confirm_s=0.3)
    async with anyio.create_task_group() as tg:
        await tg.start(pub.run)
        await tg.start(sink.run)
        proxy.cut()
        await anyio.sleep(0.2)
        with pytest.raises(DeliveryPendingError, match="stays queued"):
            await sink.deliver(AlertNotice(raised("al-late"), ("p-1",)))
        assert await store.read_stream(LATE_DELIVERY_STREAM) == []
        await proxy.restore()
        with anyio.fail_after(10):
            await pub.flush()
            async for env in store.subscribe():
                if env.stream == LATE_DELIVERY_STREAM:
                    break
        tg.cancel_scope.cancel()
    (env,) = await store.read_stream(LATE_DELIVERY_STREAM)
    event = env.decode()
    assert isinstance(event, AlertDispatched)
    assert (event.alert_id, event.patrol_ids, event.channel) == ("al-late", ("p-1",), "mqtt")


async def test_sink_delivers_only_while_it_runs(mqtt_config):
    """The sink owns its late-delivery recorder: no delivery is accepted that nobody would
    record, before `run` starts or after it stops."""
    pub = MqttPublisher(mqtt_config)
    sink = MqttAlertSink(pub, store=InMemoryEventStore())
    with pytest.raises(SinkNotRunningError, match="start it"):
        await sink.deliver(AlertNotice(raised(), ("p-1",)))
    async with anyio.create_task_group() as tg:
        await tg.start(pub.run)
        await tg.start(sink.run)
        assert sink.running
        await sink.deliver(AlertNotice(raised(), ("p-1",)))
        tg.cancel_scope.cancel()
    assert not sink.running
    with pytest.raises(SinkNotRunningError):
        await sink.deliver(AlertNotice(raised(), ("p-1",)))


async def test_relay_publishes_updates_and_retained_zone_state(mqtt_config):
    """The relay reads the site's Views: an acknowledgement reaches the patrol holding the
    alert, and the zone's state (retained) is the one the views hold."""
    store = InMemoryEventStore()
    await store.append(
        "zone:north-end",
        [
            NewEvent(event=raised()),
            NewEvent(event=AlertDispatched(alert_id="al-1", zone="north-end", patrol_ids=("p-1",))),
        ],
    )
    pub = MqttPublisher(mqtt_config)
    t = mqtt_config.topics
    filters = [t.patrol_filter("north-end", "p-1"), t.zone_state("north-end")]
    async with anyio.create_task_group() as tg:
        await tg.start(pub.run)
        views = Views.in_memory()
        await tg.start(views.run, store)
        relay = EventRelay(views, pub)
        await tg.start(relay.run)
        async with subscribe(mqtt_config, f"o-{uuid.uuid4().hex[:6]}", filters, clean=True) as msgs:
            await store.append(
                "zone:north-end",
                [
                    NewEvent(
                        event=DeploymentArmed(
                            deployment_id="d-1",
                            zone="north-end",
                            reason="patrol_on_duty",
                            patrols_on_duty=("p-1",),
                        )
                    )
                ],
            )
            await store.append(
                "patrol:p-1",
                [
                    NewEvent(
                        event=AlertAcknowledged(alert_id="al-1", patrol_id="p-1", officer="PC A")
                    )
                ],
            )
            got = []
            with anyio.fail_after(5):
                async for m in msgs:
                    got.append(m.message)
                    if len(got) == 2:
                        break
        async with subscribe(
            mqtt_config, f"c-{uuid.uuid4().hex[:6]}", [t.zone_state("north-end")], clean=True
        ) as late:
            with anyio.fail_after(5):
                retained = await anext(aiter(late))
        # clear the retained state so the shared Mosquitto stays clean
        async with _client(mqtt_config, f"c-{uuid.uuid4().hex[:6]}", clean=True) as c:
            await c.publish(t.zone_state("north-end"), b"", qos=1, retain=True)
        tg.cancel_scope.cancel()
    kinds = {m.message_type: m for m in got}
    assert kinds["alert_update"].status == "acknowledged" and kinds["alert_update"].by == "PC A"
    assert kinds["zone_state"].armed and kinds["zone_state"].patrols_on_duty == ("p-1",)
    assert retained.retain and retained.message.armed
    assert relay.published["north-end"] == zone_state_message(await views.zone("north-end"))
