"""The one composition root: `open_site(config, overrides)` builds a whole site and runs it.

    data dir ─► event store (SQLite, or memory) ─► vault ─► watchlist catalog (LanceDB)
    ─► each camera's recognition (`lfr.video.recognition.camera_recognition`) and source
    ─► the read model (`lfr.projections.Views` in `<data_dir>/views.sqlite`, following the log)
    ─► retention (`lfr.retention.retention_schedule`: expired blobs shredded, every hour)
    ─► alert services (broker, publisher, `MqttAlertSink`, late-delivery recorder, relay)
    ─► supervised actors (`actors.system.Site`)

The site's one `Views` is `site.views`: the relay publishes from it, and `lfr serve`, the
demo and its report read it, so every reader sees the same state.

`lfr run`, `lfr serve --config`, `lfr demo` and `lfr bench actors` all open their site here,
so they differ only in the `SiteOverrides` they pass. Teardown runs in reverse: actors, then
alert services, then the vault and the store this function opened (parts passed in through
`overrides` belong to the caller and are never closed here).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio

from actors.sources import open_source
from actors.system import Site, SiteParts, running_site
from lfr.alerts import AlertNotice, AlertSink, Channel
from lfr.catalog import WatchlistCatalog, WatchlistStoreCatalog
from lfr.clock import Clock, SystemClock
from lfr.config import settings
from lfr.errors import ConfigError
from lfr.projections import Views
from lfr.retention import retention_schedule
from lfr.sealing import Sealer
from lfr.site import CameraConfig, SiteConfig
from lfr.store.base import EventStore
from lfr.transport.services import (
    AlertServices,
    AlertServicesConfig,
    mqtt_config,
    run_alert_services,
)
from lfr.vault import BiometricVault
from lfr.video import recognition as _recognition
from lfr.video.recognition import CameraRecognition
from lfr.vision.types import FrameSource

__all__ = [
    "LoggingAlertSink",
    "SiteOverrides",
    "config_recognition",
    "open_site",
    "site_data_dir",
]

log = logging.getLogger("lfr.site")

#: where a site keeps its watchlists, under its data directory (`lfr serve` enrols there)
WATCHLIST_DIR = "watchlist"


@dataclass(frozen=True)
class SiteOverrides:
    """Parts to use instead of those the config names; None builds the config's.

    `store`, `vault`, `catalog` and `views` passed in stay the caller's (opened and closed
    by it; the site still follows the log with `views`).
    `sink` replaces the alert services altogether (tests); `alerts` chooses them (`lfr
    serve`: its broker options, the demo: an embedded broker on a free port), else the
    config's `[mqtt]` section does, else alerts are only logged. `wrap_sink` decorates
    whichever sink the zones get (the demo traces each publish).
    """

    data_dir: Path | None = None
    store: EventStore | None = None
    vault: BiometricVault | None = None
    catalog: WatchlistCatalog | None = None
    views: Views | None = None
    clock: Clock | None = None
    sources: Callable[[CameraConfig], FrameSource] | None = None
    recognition: Callable[[CameraConfig], CameraRecognition] | None = None
    sink: AlertSink | None = None
    alerts: AlertServicesConfig | None = None
    wrap_sink: Callable[[AlertSink], AlertSink] | None = None
    ask_timeout_s: float = 10.0
    #: run only the actors `[[nodes]]` places on this node, reaching the others over NATS
    node: str | None = None


class LoggingAlertSink:
    """Alerts to the log only (no MQTT configured): ids and levels, never images."""

    channel: Channel = "api"

    async def deliver(self, notice: AlertNotice) -> None:
        log.warning(
            "ALERT %s zone=%s camera=%s to=%s level=%d (no MQTT configured)",
            notice.alert.alert_id,
            notice.alert.zone,
            notice.alert.camera,
            ",".join(notice.to),
            notice.escalation_level,
        )


def config_recognition(config: SiteConfig) -> Callable[[CameraConfig], CameraRecognition]:
    """Each camera's recogniser and deciders as the config names them; the real pipeline's
    through `camera_recognition`, as `lfr watch` and `lfr bench cameras` build theirs.
    Loading the face models blocks: call it in a worker thread.

    :raises ConfigError: the face models cannot be loaded.
    """
    kind = config.vision.decider
    if config.vision.recogniser == "scripted":
        from lfr.testing import ScriptedRecogniser

        scripted = ScriptedRecogniser()
        return lambda cam: _recognition.shared_recognition(scripted, cam.id, decider=kind)
    from lfr.vision.pipeline import FacePipeline

    try:
        pipeline = FacePipeline.shared()
    except Exception as exc:
        raise ConfigError(
            f"cannot load the face models ({exc}); run `lfr models pull` first"
        ) from exc
    # looked up on the module at each call, so tests can watch the seam
    return lambda cam: _recognition.camera_recognition(pipeline, cam.id, decider=kind)


def site_data_dir(config: SiteConfig, overrides: SiteOverrides) -> Path:
    """The overrides', else the config's, else `LFR_DATA_DIR`."""
    return overrides.data_dir or config.store.data_dir or settings().data_dir


async def _open_store(config: SiteConfig, data_dir: Path) -> EventStore:
    """The log `[store]` names (SQLite beside the data, a NATS JetStream stream, or memory),
    signed and witnessed as `[log]` says."""
    from lfr.store import open_configured_store

    if config.store.engine == "memory":
        log.warning("in-memory event store: nothing is durable; use engine = 'sqlite' or 'nats'")
    return await open_configured_store(config.store, data_dir=data_dir, log=config.log)


def _alerts_config(config: SiteConfig, overrides: SiteOverrides) -> AlertServicesConfig | None:
    if overrides.sink is not None:
        if overrides.alerts is not None:
            raise TypeError("SiteOverrides: give either a sink or alert services, not both")
        return None
    if overrides.alerts is not None:
        return overrides.alerts
    broker = mqtt_config(config)
    return AlertServicesConfig(site=config.name, mqtt=broker) if broker is not None else None


async def _open_views(store: EventStore, data_dir: Path) -> Views:
    """Views beside the log (resumed from their stored position), or in memory for a log
    that is itself in memory."""
    from lfr.store.memory import InMemoryEventStore

    if isinstance(store, InMemoryEventStore):
        return await anyio.to_thread.run_sync(Views.in_memory)
    return await Views.open(data_dir)


@asynccontextmanager
async def open_site(
    config: SiteConfig, overrides: SiteOverrides | None = None
) -> AsyncIterator[Site]:
    """Build every part of `config`'s site (bar those in `overrides`), start its read model,
    alert services and actors, yield the running `Site` once every actor is ready; on exit stop
    the actors, then the alert services and the views' follower, then close what was
    opened here.

    The vault is opened even without `[vision] crop_vault`: purges shred the watchlist
    photos kept in it; cameras keep match crops there only with `crop_vault = true`.

    :raises ConfigError: a part cannot be built from the config (face models, a source).
    :raises EscalationError: (on exit) the site failed beyond its restart budget.
    """
    overrides = overrides or SiteOverrides()
    if overrides.node is None and config.nodes:
        log.warning("site %s has [[nodes]] but no node was named: running all of it", config.name)
    data_dir = site_data_dir(config, overrides)
    clock = overrides.clock or SystemClock()
    async with AsyncExitStack() as stack:
        store = overrides.store
        if store is None:
            await anyio.to_thread.run_sync(partial(data_dir.mkdir, parents=True, exist_ok=True))
            store = await _open_store(config, data_dir)
            stack.push_async_callback(store.aclose)
        vault = overrides.vault
        if vault is None:
            vault = await BiometricVault.open(data_dir)
            stack.push_async_callback(vault.aclose)
        catalog = overrides.catalog
        if catalog is None:
            from lfr.watchlist import WatchlistStore

            watchlists = await anyio.to_thread.run_sync(WatchlistStore, data_dir / WATCHLIST_DIR)
            catalog = WatchlistStoreCatalog(watchlists, vault=vault)
        recognition = overrides.recognition or await anyio.to_thread.run_sync(
            config_recognition, config
        )
        sources = overrides.sources or (lambda cam: open_source(cam, clock))
        sealer = Sealer(vault)  # alerts' personal fields: sealed in the log, keys in the vault
        views = overrides.views
        if views is None:
            views = await _open_views(store, data_dir)
            stack.push_async_callback(views.aclose)
        if views.opener is None:
            views.opener = sealer

        services = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(services.cancel_scope.cancel)  # runs before the group is left
        await services.start(views.run, store)
        if config.retention.enabled:
            await services.start(
                retention_schedule,
                store,
                vault,
                config.retention.interval_s,
                clock,
                data_dir / WATCHLIST_DIR,
            )
        alerts: AlertServices | None = None
        alerts_config = _alerts_config(config, overrides)
        sink: AlertSink
        if alerts_config is not None:
            alerts = await services.start(
                partial(run_alert_services, store, alerts_config, views=views)
            )
            sink = alerts.sink
        else:
            sink = overrides.sink or LoggingAlertSink()
        if overrides.wrap_sink is not None:
            sink = overrides.wrap_sink(sink)

        link = None
        if overrides.node is not None:
            from actors.nodes import open_link

            link = await open_link(config, overrides.node, tell_timeout_s=overrides.ask_timeout_s)
            stack.push_async_callback(link.aclose)
        parts = SiteParts(
            store=store,
            catalog=catalog,
            source_factory=sources,
            recognition=recognition,
            clock=clock,
            sink=sink,
            vault=vault if config.vision.crop_vault else None,
            ask_timeout_s=overrides.ask_timeout_s,
            sealer=sealer,
            model_pack=SiteParts.model_pack_of(config),
            node=overrides.node,
            link=link,
        )
        site = await stack.enter_async_context(
            running_site(config, parts, vault=vault, alerts=alerts, views=views)
        )
        yield site
