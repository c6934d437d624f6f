"""The MQTT broker restarted with alerts in flight: a private Mosquitto (a real process, with
persistence) is stopped and started again while the zone's `MqttAlertSink` keeps delivering
alerts through the real `MqttPublisher`. An officer's device, subscribed with a persistent
session (QoS 1) and reconnecting on its own, is out of coverage across the restart: the broker
holds its alerts through the restart, the publisher queues those sent while the broker is
down. The device receives every alert, each exactly once by alert id (QoS 1 is at-least-once:
a re-sent copy would be counted and dropped by id, as devices do), in order; every alert either
reached the broker within the sink's wait or is recorded once, late, as `AlertDispatched` on
`transport:mqtt`; none is lost.
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import aiomqtt
import anyio
import pytest

from lfr.alerts import AlertNotice
from lfr.store.memory import InMemoryEventStore
from lfr.transport.mqtt import MqttConfig, MqttPublisher, subscribe
from lfr.transport.sink import LATE_DELIVERY_STREAM, DeliveryPendingError, MqttAlertSink
from tests.transport.test_sink import raised

pytestmark = [
    pytest.mark.faults,
    pytest.mark.blocking_ok("starts and stops the broker's process"),
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs the mosquitto binary"),
]

ALERTS = 60
OFFLINE_AT = 10  # the device goes out of coverage after this many alerts
RESTART_AT = 20  # the broker goes down after this many alerts, and is back 10 alerts later
ONLINE_AT = 40  # the device is back


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A private Mosquitto on `port`, its sessions and queues kept in `folder` across restarts."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"user {getpass.getuser()}\n"  # as root it would switch to `mosquitto`: no folder
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "max_queued_messages 10000\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / f"broker-{self.starts}.log").open("wb"),
        )
        self.starts += 1
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert self.proc.poll() is None, "mosquitto did not start"
                assert time.monotonic() < deadline, "mosquitto did not listen"
                time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves its sessions and queued messages, then exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            if self.proc.stderr is not None:
                self.proc.stderr.close()


async def test_alerts_in_flight_survive_a_broker_restart_each_once_by_id(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    broker.start()
    site = f"f{uuid.uuid4().hex[:8]}"
    config = MqttConfig(
        port=broker.port,
        site=site,
        protocol="5",
        session_expiry_s=300,
        client_id=f"pub-{site}",
        publish_timeout_s=1.0,
        reconnect_min_s=0.05,
        reconnect_max_s=0.3,
    )
    filters = [config.topics.patrol_filter("north-end", "p-1")]
    received: list[str] = []
    device_connects = 0
    subscribed = anyio.Event()

    back_online = anyio.Event()
    online = [anyio.CancelScope()]

    async def device() -> None:
        """An officer's phone: a persistent session, reconnecting whenever the broker drops;
        out of coverage (its scope cancelled) until `back_online`."""
        nonlocal device_connects
        while True:
            scope = online[-1] = anyio.CancelScope()
            with scope:
                try:
                    async with subscribe(config, f"dev-{site}", filters, clean=False) as messages:
                        device_connects += 1
                        subscribed.set()
                        async for m in messages:
                            received.append(m.message.alert_id)  # type: ignore[union-attr]
                except aiomqtt.MqttError:
                    await anyio.sleep(0.1)
            if scope.cancel_called:
                await back_online.wait()

    store = InMemoryEventStore()
    pub = MqttPublisher(config)
    sink = MqttAlertSink(pub, store=store, confirm_s=0.3)
    sent: list[str] = []
    pending: list[str] = []
    started = time.monotonic()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(device)
            with anyio.fail_after(10):
                await subscribed.wait()
            await tg.start(pub.run)
            await tg.start(sink.run)
            for n in range(ALERTS):
                if n == OFFLINE_AT:  # the device loses coverage: the broker queues its alerts
                    online[-1].cancel()
                if n == RESTART_AT:  # with those queued and more to come, the broker restarts
                    await anyio.to_thread.run_sync(broker.stop)
                if n == RESTART_AT + 10:
                    await anyio.to_thread.run_sync(broker.start)
                if n == ONLINE_AT:
                    back_online.set()
                alert_id = f"al-{n:03d}"
                sent.append(alert_id)
                try:
                    await sink.deliver(AlertNotice(raised(alert_id), ("p-1",)))
                except DeliveryPendingError:
                    pending.append(alert_id)
                await anyio.sleep(0.01)
            with anyio.fail_after(30):
                await pub.flush()
                while set(received) != set(sent):  # noqa: ASYNC110 (the device's own pace)
                    await anyio.sleep(0.05)
                while len(await store.read_stream(LATE_DELIVERY_STREAM)) < len(pending):  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            await anyio.sleep(0.5)  # a late duplicate, if any, would arrive now
            tg.cancel_scope.cancel()
    finally:
        await anyio.to_thread.run_sync(broker.stop)

    copies = Counter(received)
    duplicated = sum(c - 1 for c in copies.values())
    late = [e.payload["alert_id"] for e in await store.read_stream(LATE_DELIVERY_STREAM)]
    print(
        f"\nbroker restart: {ALERTS} alerts, {len(pending)} in flight during the outage "
        f"(recorded late), {len(set(received))} delivered by id, 0 lost, {duplicated} "
        f"re-sent copies dropped by id, device connected {device_connects}x, publisher "
        f"reconnected {pub.reconnects}x, {time.monotonic() - started:.1f} s"
    )
    assert set(copies) == set(sent), f"lost: {sorted(set(sent) - set(copies))}"
    assert broker.starts == 2 and pub.reconnects >= 1 and device_connects >= 2
    assert pending, "no alert was in flight while the broker was down"
    assert sorted(late) == sorted(pending), "each late alert recorded once, when it went out"
    assert list(dict.fromkeys(received)) == sent  # in order, bar re-sent copies
