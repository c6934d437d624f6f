"""The alert services of a site, owned by one task: broker (embedded unless one is
configured), MQTT publisher, the zones' `MqttAlertSink` (with its late-delivery recorder) and
the event relay, which reads the site's `Views`. `actors.site.open_site` starts them for
`lfr run`, `lfr serve` and `lfr demo`; `lfr serve` without a site config starts them alone
for its read-only API.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import anyio
import anyio.abc

from lfr.projections import Views
from lfr.site import SiteConfig
from lfr.store.base import EventStore
from lfr.transport.broker import API_USER, PUBLISHER_USER, EmbeddedBroker, EmbeddedBrokerConfig
from lfr.transport.mosquitto import patrol_grants
from lfr.transport.mqtt import MqttConfig, MqttPublisher
from lfr.transport.sink import EventRelay, MqttAlertSink, TransportError

__all__ = ["AlertServices", "AlertServicesConfig", "mqtt_config", "run_alert_services"]


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
    """What is running: hand `sink` to the zones and `client_config` to the API and the
    officers' devices (each with its own client id); `relay` is None with `relay=False`."""

    publisher: MqttPublisher
    sink: MqttAlertSink
    client_config: MqttConfig
    broker: EmbeddedBroker | None
    ws_url: str | None
    relay: EventRelay | None = None

    def device_config(
        self, patrol: str, zone: str | None = None, *, client_id: str | None = None
    ) -> MqttConfig:
        """How a patrol's device logs in to the embedded broker: a password issued now for
        the user `patrol`, granted what `lfr ops mosquitto` grants it (its own patrol's
        topics, in `zone` or any zone, and the zones' state; no writes).

        :raises TransportError: the broker is external (give devices the users
            `lfr ops mosquitto` writes instead).
        """
        if self.broker is None:
            raise TransportError(
                "device credentials are issued by the embedded broker only; for an external "
                "broker give devices the users `lfr ops mosquitto` writes"
            )
        site = self.client_config.site
        password = self.broker.users.issue(patrol, read=patrol_grants(site, patrol, zone))
        return self.broker.client_config(
            patrol, site=site, password=password, client_id=client_id or patrol
        )


def mqtt_config(config: SiteConfig) -> MqttConfig | None:
    """The broker the site config's `[mqtt]` names (None: no section), its password read
    from the environment variable the section names."""
    m = config.mqtt
    if m is None:
        return None
    return MqttConfig(
        host=m.host,
        port=m.port,
        site=config.name,
        protocol=m.protocol,
        username=m.username,
        password=os.environ.get(m.password_env) if m.password_env else None,
        tls=m.tls,
    )


async def run_alert_services(
    store: EventStore,
    config: AlertServicesConfig,
    *,
    views: Views | None = None,
    task_status: anyio.abc.TaskStatus[AlertServices] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run broker (if embedded), publisher, sink and relay until cancelled; reports
    `AlertServices` once the publisher has made its first connection attempt, the sink
    accepts deliveries and the relay has published every zone's state.

    `views` is the site's read model, which its owner keeps following the log; without it
    (tests, a bare broker) the services follow the log with views of their own in memory.
    """
    broker: EmbeddedBroker | None = None
    try:
        if config.mqtt is None:
            # the broker requires the service users' passwords (anonymous is refused);
            # random client ids: nobody can guess one to take over lfr's connections
            broker = EmbeddedBroker(config.embedded, site=config.site)
            await broker.start()
            pub_cfg = broker.client_config(PUBLISHER_USER, site=config.site)
            client_cfg = broker.client_config(API_USER, site=config.site)
            ws_url = (
                f"ws://{config.embedded.host}:{broker.ws_port}/"
                if broker.ws_port is not None
                else None
            )
        else:
            pub_cfg = dataclasses.replace(config.mqtt, site=config.site)
            client_cfg = dataclasses.replace(
                pub_cfg, client_id="lfr-api", username=pub_cfg.username or "lfr-api"
            )
            ws_url = None
        publisher = MqttPublisher(pub_cfg)
        sink = MqttAlertSink(publisher, store=store, confirm_s=config.confirm_s)
        async with anyio.create_task_group() as tg:
            await tg.start(publisher.run)
            await tg.start(sink.run)
            relay: EventRelay | None = None
            if config.relay:
                if views is None:
                    views = await anyio.to_thread.run_sync(Views.in_memory)
                    await tg.start(views.run, store)
                relay = EventRelay(views, publisher)
                await tg.start(relay.run)
            task_status.started(AlertServices(publisher, sink, client_cfg, broker, ws_url, relay))
    finally:
        if broker is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await broker.aclose()
