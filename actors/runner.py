"""`lfr run`: assemble the real parts for a site config and run it until told to stop.

`site_parts` is that assembly on its own, so `lfr serve --config` (which loads this module by
name: `lfr` never imports `actors`) builds a site exactly as `lfr run` does.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from actors.sources import open_source
from actors.system import SiteParts, build_site
from lfr.alerts import AlertNotice, AlertSink, Channel
from lfr.clock import Clock, SystemClock
from lfr.config import settings
from lfr.errors import ConfigError
from lfr.site import CameraConfig, SiteConfig
from lfr.store.base import EventStore
from lfr.video.recognition import CameraRecognition

if TYPE_CHECKING:
    from lfr.vault import BiometricVault

__all__ = ["LoggingAlertSink", "describe", "run_site", "site_parts"]

log = logging.getLogger("lfr.run")


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


def _recognition(config: SiteConfig) -> Callable[[CameraConfig], CameraRecognition]:
    """Each camera's recogniser and deciders as the config names them; the real pipeline's
    through `camera_recognition`, as `lfr watch` and `lfr bench cameras` build theirs.
    Loading the face models blocks: call it in a worker thread.

    :raises ConfigError: the face models cannot be loaded.
    """
    from lfr.video import recognition

    kind = config.vision.decider
    if config.vision.recogniser == "scripted":
        from lfr.testing import ScriptedRecogniser

        scripted = ScriptedRecogniser()
        return lambda cam: recognition.shared_recognition(scripted, cam.id, decider=kind)
    from lfr.vision.pipeline import FacePipeline

    try:
        pipeline = FacePipeline.shared()
    except Exception as exc:
        raise ConfigError(
            f"cannot load the face models ({exc}); run `lfr models pull` first"
        ) from exc
    return lambda cam: recognition.camera_recognition(pipeline, cam.id, decider=kind)


async def site_parts(
    config: SiteConfig,
    *,
    store: EventStore,
    sink: AlertSink,
    vault: BiometricVault | None,
    watchlist_dir: Path | None = None,
    clock: Clock | None = None,
) -> SiteParts:
    """The real parts of a site for `config`: each camera's recognition as it names it
    (`lfr.video.recognition.camera_recognition` for the face pipeline), its cameras'
    sources, and the watchlists in `watchlist_dir` (default: `lfr watchlist`'s folder,
    `<LFR_DATA_DIR>/watchlist`).

    The `vault` shreds a purged version's reference photos whatever the config says; the
    cameras keep match crops in it only with `[vision] crop_vault = true`. Loading the face
    models blocks, so it runs in a worker thread.

    :raises ConfigError: the face models cannot be loaded.
    """
    from lfr.catalog import WatchlistStoreCatalog
    from lfr.watchlist import WatchlistStore

    clock = clock or SystemClock()
    watchlists = await anyio.to_thread.run_sync(WatchlistStore, watchlist_dir)
    recognition = await anyio.to_thread.run_sync(_recognition, config)
    return SiteParts(
        store=store,
        catalog=WatchlistStoreCatalog(watchlists, vault=vault),
        source_factory=lambda cam: open_source(cam, clock),
        recognition=recognition,
        clock=clock,
        sink=sink,
        vault=vault if config.vision.crop_vault else None,
    )


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
    async with AsyncExitStack() as stack:
        store = await _store(config, data_dir)
        stack.push_async_callback(store.aclose)
        from lfr.vault import BiometricVault

        # opened even without crop_vault: purges shred the watchlist photos kept in it
        vault = await BiometricVault.open(data_dir)
        stack.push_async_callback(vault.aclose)
        parts = await site_parts(config, store=store, sink=LoggingAlertSink(), vault=vault)
        tg = await stack.enter_async_context(anyio.create_task_group())
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
            # Any: its `channel` is Literal["mqtt"], narrower than AlertSink's settable attribute
            sink: Any = MqttAlertSink(publisher, store=store)
            parts = dataclasses.replace(parts, sink=sink)
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
