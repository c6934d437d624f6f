"""Start the alert services and the HTTP server together: broker (embedded unless one is
configured), MQTT publisher, the event relay, and uvicorn, all owned by one task group.

    async with anyio.create_task_group() as tg:
        alerts = await tg.start(run_alert_services, store, AlertServicesConfig(site="town"))
        site = build_site(store, sink=alerts.sink)            # the actors' wiring
        app = create_app(store=store, site=site, mqtt=alerts.client_config, ...)
        url = await tg.start(serve_http, app, "127.0.0.1", 8080)
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import anyio
import anyio.abc
import uvicorn
from fastapi import FastAPI

from lfr.store.base import EventStore
from lfr.transport.broker import EmbeddedBroker, EmbeddedBrokerConfig
from lfr.transport.mqtt import MqttConfig, MqttPublisher
from lfr.transport.sink import EventRelay, MqttAlertSink

__all__ = ["AlertServices", "AlertServicesConfig", "run_alert_services", "serve_http"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertServicesConfig:
    """`mqtt=None` starts the embedded amqtt broker on `embedded`'s ports."""

    site: str = "lfr"
    mqtt: MqttConfig | None = None
    embedded: EmbeddedBrokerConfig = dataclasses.field(default_factory=EmbeddedBrokerConfig)
    relay: bool = True
    confirm_s: float = 2.0


@dataclass(frozen=True)
class AlertServices:
    """What is running: hand `sink` to the zones and `client_config` to the API."""

    publisher: MqttPublisher
    sink: MqttAlertSink
    client_config: MqttConfig
    broker: EmbeddedBroker | None
    ws_url: str | None


async def run_alert_services(
    store: EventStore,
    config: AlertServicesConfig,
    *,
    task_status: anyio.abc.TaskStatus[AlertServices] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run broker (if embedded), publisher and relay until cancelled; reports `AlertServices`
    once the publisher has made its first connection attempt and the relay has caught up."""
    broker: EmbeddedBroker | None = None
    try:
        if config.mqtt is None:
            broker = EmbeddedBroker(config.embedded)
            await broker.start()
            pub_cfg = MqttConfig(
                host=config.embedded.host,
                port=broker.tcp_port,
                site=config.site,
                protocol="3.1.1",
                username="lfr-publisher",
                client_id="lfr-publisher",
                session_expiry_s=config.embedded.session_expiry_s,
            )
            ws_url = (
                f"ws://{config.embedded.host}:{broker.ws_port}/"
                if broker.ws_port is not None
                else None
            )
        else:
            pub_cfg = dataclasses.replace(config.mqtt, site=config.site)
            ws_url = None
        client_cfg = dataclasses.replace(
            pub_cfg, client_id="lfr-api", username=pub_cfg.username or "lfr-api"
        )
        publisher = MqttPublisher(pub_cfg)
        sink = MqttAlertSink(publisher, store=store, confirm_s=config.confirm_s)
        async with anyio.create_task_group() as tg:
            await tg.start(publisher.run)
            await tg.start(sink.run_late_deliveries)
            if config.relay:
                await tg.start(EventRelay(store, publisher).run)
            task_status.started(AlertServices(publisher, sink, client_cfg, broker, ws_url))
    finally:
        if broker is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await broker.aclose()


async def serve_http(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` with uvicorn until cancelled; reports the base URL once listening
    (port 0 picks a free port)."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    stopped = anyio.Event()

    async def run() -> None:
        # stopped through `should_exit` (graceful: lifespan shutdown, streams closed), never
        # cancelled mid-request; returns by itself on SIGINT/SIGTERM
        with anyio.CancelScope(shield=True):
            await server.serve()
        stopped.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        try:
            # uvicorn offers only a `started` flag, no event to wait on
            while not server.started and not stopped.is_set():  # noqa: ASYNC110
                await anyio.sleep(0.02)
            if stopped.is_set():
                raise OSError(f"the HTTP server could not listen on {host}:{port}")
            bound = server.servers[0].sockets[0].getsockname()[1]
            task_status.started(f"http://{host}:{bound}")
            await stopped.wait()
        finally:
            server.should_exit = True
