"""`lfr bench alerts`: how fast an alert reaches an officer's device over MQTT, and how fast
a queue built up during a broker outage drains when the broker returns.

For each broker (the embedded amqtt broker, MQTT 3.1.1; and Mosquitto on 127.0.0.1:1883,
MQTT 5, when reachable): `--alerts` alerts are published one at a time through the
`MqttPublisher` (QoS 1) to one patrol topic while a subscribed device receives them;
`latency_ms` is publish-call to device-receipt (p50/p95/max), `throughput_aps` the rate of a
burst of the same size. `outage_drain_s` is the time from the broker accepting connections
again to the last of `--alerts` alerts queued during an outage arriving at the device.
"""

from __future__ import annotations

import secrets
import socket
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

__all__ = ["command"]


def command(
    alerts: Annotated[int, typer.Option(help="alerts per measurement")] = 200,
    mosquitto: Annotated[
        bool, typer.Option(help="also measure Mosquitto on 127.0.0.1:1883")
    ] = True,
    json_out: Annotated[
        bool, typer.Option("--json", help="print one JSON object (else one line per figure)")
    ] = False,
) -> None:
    """Alert delivery latency, throughput and outage drain over MQTT (prints one JSON)."""
    import os

    import anyio

    from lfr.cli._common import print_json

    result: dict[str, Any] = {"alerts": alerts, "nproc": os.cpu_count()}
    result["amqtt"] = anyio.run(_embedded, alerts)
    if mosquitto and _reachable(1883):
        result["mosquitto"] = anyio.run(_mosquitto, alerts)
    if json_out:
        print_json(result)
        return
    for broker in ("amqtt", "mosquitto"):
        if broker in result:
            r = result[broker]
            lat = r["latency_ms"]
            line = (
                f"{broker}: latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
                f"max {lat['max']} ms; burst {r['throughput_aps']} alerts/s"
            )
            if "outage_drain_s" in r:
                line += f"; {alerts} alerts queued in an outage drained in {r['outage_drain_s']} s"
            typer.echo(line)


def _reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _alert(n: int, site: str) -> Any:
    from schemas.messages import AlertMessage

    now = datetime.now(UTC)
    return AlertMessage(
        alert_id=f"bench-{n}",
        zone="north-end",
        camera="ne-1",
        patrol_id="p-1",
        deployment_id="d-bench",
        subject_label="Bench subject",
        category="suspect",
        similarity=0.7,
        threshold=0.6,
        frame_at=now,
        raised_at=now,
        expires_at=now + timedelta(minutes=15),
    )


async def _measure(cfg: Any, n: int) -> dict[str, Any]:
    import anyio

    from lfr.transport.mqtt import MqttPublisher, subscribe

    pub = MqttPublisher(cfg)
    topic = cfg.topics.patrol_filter("north-end", "p-1")
    latencies: list[float] = []
    async with (
        subscribe(cfg, f"bench-dev-{uuid.uuid4().hex[:6]}", [topic], clean=True) as msgs,
        anyio.create_task_group() as tg,
    ):
        await tg.start(pub.run)
        feed = aiter(msgs)
        for i in range(n):
            t0 = time.perf_counter()
            await pub.publish(_alert(i, cfg.site))
            await anext(feed)
            latencies.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        for i in range(n):
            await pub.publish(_alert(n + i, cfg.site))
        for _ in range(n):
            await anext(feed)
        burst_s = time.perf_counter() - t0
        tg.cancel_scope.cancel()
    q = statistics.quantiles(latencies, n=20)
    return {
        "latency_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p95": round(q[18], 2),
            "max": round(max(latencies), 2),
        },
        "throughput_aps": round(n / burst_s, 1),
    }


async def _embedded(n: int) -> dict[str, Any]:
    import anyio

    from lfr.transport.broker import EmbeddedBroker, EmbeddedBrokerConfig
    from lfr.transport.mqtt import MqttConfig, MqttPublisher, subscribe

    out: dict[str, Any] = {}
    # the broker refuses anonymous clients: one bench user that may read and write the site
    password = secrets.token_urlsafe(18)
    grants = {"read": ("lfr/bench/#",), "write": ("lfr/bench/#",)}
    async with EmbeddedBroker(EmbeddedBrokerConfig(tcp_port=0, ws_port=None)) as broker:
        broker.users.add("b", password, **grants)
        cfg = MqttConfig(
            port=broker.tcp_port, site="bench", protocol="3.1.1", username="b", password=password
        )
        out.update(await _measure(cfg, n))
        port = broker.tcp_port
    # outage: publish while the broker is down, then start it on the same port; the device
    # subscribes at once, the publisher finds the broker at its next retry (0.25 s)
    cfg = MqttConfig(
        port=port,
        site="bench",
        protocol="3.1.1",
        username="b",
        password=password,
        reconnect_min_s=0.25,
        reconnect_max_s=0.25,
    )
    pub = MqttPublisher(cfg)
    revived = EmbeddedBroker(EmbeddedBrokerConfig(tcp_port=port, ws_port=None))
    revived.users.add("b", password, **grants)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(pub.run)
            for i in range(n):
                await pub.publish(_alert(i, cfg.site))
            await revived.start()
            t0 = time.perf_counter()
            filt = [cfg.topics.patrol_filter("north-end", "p-1")]
            async with subscribe(cfg, "bench-dev", filt, clean=True) as msgs:
                feed = aiter(msgs)
                with anyio.fail_after(60):
                    for _ in range(n):
                        await anext(feed)
            out["outage_drain_s"] = round(time.perf_counter() - t0, 3)
            out["delivered_after_outage"] = n
            tg.cancel_scope.cancel()
    finally:
        await revived.aclose()
    return out


async def _mosquitto(n: int) -> dict[str, Any]:
    from lfr.transport.mqtt import MqttConfig

    cfg = MqttConfig(port=1883, site=f"bench{uuid.uuid4().hex[:6]}", protocol="5")
    return await _measure(cfg, n)
