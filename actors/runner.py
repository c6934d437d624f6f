"""`lfr run`: assemble the real parts for a site config and run it until told to stop."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio

from actors.deciders import PerFrameDecider
from actors.sources import open_source
from actors.system import SiteParts, build_site
from lfr.alerts import AlertNotice
from lfr.clock import SystemClock
from lfr.config import settings
from lfr.errors import ConfigError
from lfr.site import CameraConfig, SiteConfig
from lfr.store.base import EventStore
from lfr.vision.types import Decider, Recogniser

__all__ = ["LoggingAlertSink", "describe", "run_site"]

log = logging.getLogger("lfr.run")


class LoggingAlertSink:
    """Alerts to the log only (no MQTT configured): ids and levels, never images."""

    channel = "api"

    async def deliver(self, notice: AlertNotice) -> None:
        log.warning(
            "ALERT %s zone=%s camera=%s to=%s level=%d (no MQTT configured)",
            notice.alert.alert_id,
            notice.alert.zone,
            notice.alert.camera,
            ",".join(notice.to),
            notice.escalation_level,
        )


def describe(config: SiteConfig) -> str:
    lines = [f"site {config.name}: {len(config.zones)} zone(s), {len(config.patrols)} patrol(s)"]
    for zone in config.zones:
        cams = ", ".join(c.id for c in config.cameras_of(zone.name)) or "no cameras"
        lines.append(f"  zone:{zone.name} ({zone.title or zone.name}): {cams}")
    lines.append(f"  patrols: {', '.join(p.id for p in config.patrols) or 'none'}")
    lines.append(
        f"  store: {config.store.engine}; recogniser: {config.vision.recogniser}; "
        f"decider: {config.vision.decider}; alerts: {'mqtt' if config.mqtt else 'log only'}"
    )
    return "\n".join(lines)


def _recogniser(config: SiteConfig) -> Recogniser:
    if config.vision.recogniser == "scripted":
        from lfr.testing import ScriptedRecogniser

        return ScriptedRecogniser()
    from lfr.vision.pipeline import FacePipeline

    try:
        return FacePipeline.from_pack()
    except Exception as exc:
        raise ConfigError(
            f"cannot load the face models ({exc}); run `lfr models pull` first"
        ) from exc


def _decider_factory(config: SiteConfig) -> Callable[[CameraConfig], Decider]:
    if config.vision.decider == "per_frame":
        return lambda cam: PerFrameDecider()
    from lfr.video.tracker import TrackingDecider

    return lambda cam: TrackingDecider(camera=cam.id)


async def _store(config: SiteConfig, data_dir: Path) -> EventStore:
    if config.store.engine == "memory":
        from lfr.store.memory import InMemoryEventStore

        log.warning("in-memory event store: nothing is durable; use engine = 'sqlite'")
        return InMemoryEventStore()
    from lfr.store import open_store

    return await open_store(data_dir)


async def run_site(
    config: SiteConfig,
    *,
    data_dir: Path | None = None,
    for_seconds: float | None = None,
    on_ready: Callable[[str], Any] | None = None,
) -> None:
    """Run the site until SIGINT/SIGTERM (or `for_seconds`).

    :raises ConfigError: a part cannot be built from the config.
    :raises EscalationError: the site failed beyond its restart budget.
    """
    data_dir = data_dir or config.store.data_dir or settings().data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    clock = SystemClock()
    async with AsyncExitStack() as stack:
        store = await _store(config, data_dir)
        stack.push_async_callback(store.aclose)
        from lfr.catalog import WatchlistStoreCatalog
        from lfr.watchlist import WatchlistStore

        catalog = WatchlistStoreCatalog(await anyio.to_thread.run_sync(WatchlistStore))
        vault = None
        if config.vision.crop_vault:
            from lfr.vault import BiometricVault

            vault = await BiometricVault.open(data_dir)
            stack.push_async_callback(vault.aclose)
        recogniser = await anyio.to_thread.run_sync(_recogniser, config)
        tg = await stack.enter_async_context(anyio.create_task_group())
        sink: Any = LoggingAlertSink()
        if config.mqtt is not None:
            from lfr.transport import MqttAlertSink, MqttConfig, MqttPublisher

            m = config.mqtt
            publisher = MqttPublisher(
                MqttConfig(
                    host=m.host,
                    port=m.port,
                    site=config.name,
                    protocol=m.protocol,
                    username=m.username,
                    password=os.environ.get(m.password_env) if m.password_env else None,
                    tls=m.tls,
                )
            )
            await tg.start(publisher.run)
            sink = MqttAlertSink(publisher, store=store)
        parts = SiteParts(
            store=store,
            catalog=catalog,
            recogniser=recogniser,
            source_factory=lambda cam: open_source(cam, clock),
            clock=clock,
            sink=sink,
            decider_factory=_decider_factory(config),
            vault=vault,
        )
        site = build_site(config, parts)
        await tg.start(site.run)
        if on_ready is not None:
            on_ready(describe(config))
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            with anyio.move_on_after(for_seconds if for_seconds is not None else float("inf")):
                async for sig in signals:
                    print(f"lfr run: {signal.Signals(sig).name}, stopping", file=sys.stderr)
                    break
        tg.cancel_scope.cancel()
