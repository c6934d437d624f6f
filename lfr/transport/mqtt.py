"""Publish alerts, alert updates and zone state to officers over MQTT (aiomqtt, QoS 1).

A broker outage must never lose an alert: `publish()` only enqueues; `run()` owns the
connection, delivers the queue in order, waits for each PUBACK, and on any failure keeps the
message at the head of the queue, reconnects with backoff and tries again. Delivery is
therefore at-least-once; clients de-duplicate on `alert_id`. `on_delivered` tells the owner
(the alert view's wiring) which message reached the broker and when.

MQTT 5 (Mosquitto) gets message expiry on alerts, `traceparent` as a user property, content
type and session expiry. The embedded amqtt broker speaks MQTT 3.1.1 only (amqtt 0.12 has no
MQTT 5; it is on its roadmap), which has no properties, so the publisher degrades explicitly:
the payload always carries `traceparent` and the alert's `expires_at`, the broker's own
`session_expiry_interval` keeps an offline officer's session, and `subscribe` reads trace
context and remaining lifetime from the payload when the broker sent no properties. A 3.1.1
client must therefore drop an alert past `expires_at` itself (the MQTT 5 broker does it).
"""

from __future__ import annotations

import logging
import math
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import aiomqtt
import anyio
import anyio.abc
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lfr.transport.topics import ALERT_EXPIRY_S, Message, Topics, decode, encode
from schemas.messages import AlertMessage, AlertUpdateMessage, ZoneStateMessage

__all__ = [
    "MqttConfig",
    "MqttPublisher",
    "Outbound",
    "ReceivedMessage",
    "subscribe",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttConfig:
    """How to reach the broker. `protocol="3.1.1"` for the embedded amqtt broker."""

    host: str = "127.0.0.1"
    port: int = 1883
    site: str = "lfr"
    protocol: Literal["5", "3.1.1"] = "5"
    transport: Literal["tcp", "websockets"] = "tcp"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    client_id: str = "lfr-publisher"
    session_expiry_s: int = 12 * 3600
    alert_expiry_s: int = ALERT_EXPIRY_S
    #: an alert delivered late (after an outage) still lives this long on the broker
    min_alert_expiry_s: int = 30
    publish_timeout_s: float = 5.0
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0

    @property
    def topics(self) -> Topics:
        return Topics(self.site)


@dataclass(frozen=True)
class Outbound:
    """One queued message with how it must be published."""

    message: Message
    topic: str
    payload: bytes
    retain: bool
    traceparent: str | None
    queued_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: set once the broker acknowledged the message (PUBACK)
    done: anyio.Event = field(default_factory=anyio.Event, compare=False, repr=False)

    @property
    def key(self) -> str:
        """De-duplication key of the message (alert id, or the topic for zone state)."""
        if isinstance(self.message, ZoneStateMessage):
            return self.topic
        return f"{self.message.alert_id}@{self.message.patrol_id}:{self.message.message_type}"


@dataclass(frozen=True)
class ReceivedMessage:
    """A decoded message; `traceparent` and `expiry_s` come from the MQTT 5 properties, or
    from the payload (`traceparent`, an alert's `expires_at`) when the broker speaks 3.1.1."""

    topic: str
    message: Message
    retain: bool
    traceparent: str | None
    expiry_s: int | None


DeliveredHook = Callable[[Outbound, datetime], Awaitable[None]]


def _client(config: MqttConfig, client_id: str, *, clean: bool = False) -> aiomqtt.Client:
    v5 = config.protocol == "5"
    props: Properties | None = None
    if v5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0 if clean else config.session_expiry_s
    return aiomqtt.Client(
        config.host,
        config.port,
        username=config.username,
        password=config.password,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        clean_session=None if v5 else clean,
        clean_start=clean if v5 else 3,  # paho's MQTT_CLEAN_START_FIRST_ONLY for 3.1.1
        transport=config.transport,
        properties=props,
        tls_context=ssl.create_default_context() if config.tls else None,
        timeout=config.publish_timeout_s,
        keepalive=30,
    )


class MqttPublisher:
    """Queues messages and delivers them to the broker, surviving broker outages.

    Run it in a task group: `await tg.start(publisher.run)`; then `await publisher.publish(m)`.
    """

    def __init__(self, config: MqttConfig, *, on_delivered: DeliveredHook | None = None) -> None:
        self.config = config
        self.topics = config.topics
        self._queue: deque[Outbound] = deque()
        self._wakeup = anyio.Event()
        self._drained = anyio.Event()
        self._drained.set()
        self._on_delivered = on_delivered
        self.connected = False
        self.delivered_total = 0
        self.reconnects = 0
        self.delivered: dict[str, datetime] = {}

    # --- the queue -----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def publish(self, message: Message, *, traceparent: str | None = None) -> Outbound:
        """Queue `message` for delivery and return at once (never blocks on the broker)."""
        tp = traceparent or getattr(message, "traceparent", None)
        if tp and not isinstance(message, ZoneStateMessage) and message.traceparent is None:
            # MQTT 3.1.1 has no user properties: the payload must carry the trace context
            message = message.model_copy(update={"traceparent": tp})
        out = Outbound(
            message=message,
            topic=self.topics.for_message(message),
            payload=encode(message),
            retain=isinstance(message, ZoneStateMessage),
            traceparent=tp,
        )
        if out.retain:
            # a newer zone state supersedes a queued older one for the same zone
            self._queue = deque(o for o in self._queue if o.topic != out.topic)
        self._queue.append(out)
        self._drained = anyio.Event() if self._drained.is_set() else self._drained
        self._wakeup.set()
        return out

    async def flush(self) -> None:
        """Wait until every queued message has reached the broker (bound it with
        `anyio.fail_after`)."""
        await self._drained.wait()

    # --- the connection ------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, deliver, reconnect forever. Reports started after the first attempt, so a
        site with its broker down still starts (and queues)."""
        delay = self.config.reconnect_min_s
        started = False
        while True:
            try:
                async with _client(self.config, self.config.client_id) as client:
                    self.connected = True
                    delay = self.config.reconnect_min_s
                    log.info("mqtt connected to %s:%s", self.config.host, self.config.port)
                    if self.config.protocol != "5" and not started:
                        log.info(
                            "MQTT %s broker: no message expiry or user properties; alerts "
                            "carry traceparent and expires_at in the payload instead",
                            self.config.protocol,
                        )
                    if not started:
                        started = True
                        task_status.started()
                    await self._deliver(client)
            except aiomqtt.MqttError as exc:
                if self.connected:
                    self.reconnects += 1
                self.connected = False
                log.warning(
                    "mqtt broker %s:%s unavailable (%s); %d message(s) queued, retry in %.1fs",
                    self.config.host,
                    self.config.port,
                    exc,
                    len(self._queue),
                    delay,
                )
                if not started:
                    started = True
                    task_status.started()
                await anyio.sleep(delay)
                delay = min(delay * 2, self.config.reconnect_max_s)

    async def _deliver(self, client: aiomqtt.Client) -> None:
        while True:
            while self._queue:
                out = self._queue[0]
                await client.publish(
                    out.topic,
                    out.payload,
                    qos=1,
                    retain=out.retain,
                    properties=self._properties(out),
                    timeout=self.config.publish_timeout_s,
                )
                if self._queue and self._queue[0] is out:
                    self._queue.popleft()
                now = datetime.now(UTC)
                self.delivered_total += 1
                self.delivered[out.key] = now
                out.done.set()
                if self._on_delivered is not None:
                    try:
                        await self._on_delivered(out, now)
                    except Exception:  # a bookkeeping hook must not stop delivery
                        log.exception("on_delivered hook failed for %s", out.key)
            self._drained.set()
            self._wakeup = anyio.Event()
            if not self._queue:
                await self._wakeup.wait()

    def _properties(self, out: Outbound) -> Properties | None:
        if self.config.protocol != "5":
            return None
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.PayloadFormatIndicator = 1
        props.ContentType = "application/json"
        if out.traceparent:
            props.UserProperty = [("traceparent", out.traceparent)]
        expiry = _expiry_s(out.message, self.config.alert_expiry_s, self.config.min_alert_expiry_s)
        if expiry is not None:
            props.MessageExpiryInterval = expiry
        return props


def _expiry_s(message: Message, default: int, floor: int = 30) -> int | None:
    """Remaining lifetime of an alert (at least `floor`, so a late delivery is still seen)."""
    if isinstance(message, AlertMessage):
        left = (message.expires_at - datetime.now(UTC)).total_seconds()
        return max(floor, math.ceil(left))
    if isinstance(message, AlertUpdateMessage):
        return default
    return None


@asynccontextmanager
async def subscribe(
    config: MqttConfig,
    client_id: str,
    filters: Sequence[str],
    *,
    clean: bool = False,
) -> AsyncIterator[AsyncIterator[ReceivedMessage]]:
    """Subscribe like an officer's device: QoS 1, a persistent session unless `clean`.

    Yields an iterator of decoded messages; payloads that fail validation are logged and
    skipped (a foreign publisher must not crash an officer's feed).
    """
    async with _client(config, client_id, clean=clean) as client:
        for f in filters:
            await client.subscribe(f, qos=1)

        async def messages() -> AsyncIterator[ReceivedMessage]:
            async for m in client.messages:
                payload: Any = m.payload
                try:
                    decoded = decode(payload if isinstance(payload, bytes | str) else b"")
                except ValueError:
                    log.warning("ignored a malformed message on %s", m.topic.value)
                    continue
                tp: str | None = None
                expiry: int | None = None
                if m.properties is not None:
                    for k, v in getattr(m.properties, "UserProperty", []) or []:
                        if k == "traceparent":
                            tp = v
                    expiry = getattr(m.properties, "MessageExpiryInterval", None)
                if tp is None and not isinstance(decoded, ZoneStateMessage):
                    tp = decoded.traceparent  # MQTT 3.1.1: the payload carries it
                if expiry is None and isinstance(decoded, AlertMessage):
                    expiry = math.ceil((decoded.expires_at - datetime.now(UTC)).total_seconds())
                yield ReceivedMessage(
                    topic=m.topic.value,
                    message=decoded,
                    retain=bool(m.retain),
                    traceparent=tp,
                    expiry_s=expiry,
                )

        yield messages()
