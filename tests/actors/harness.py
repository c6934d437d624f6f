"""A small two-zone site on the in-memory store and a hand-driven clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import anyio

from actors.system import Site, SiteParts, running_site
from lfr.alerts import InMemoryAlertSink
from lfr.clock import ManualClock
from lfr.site import SiteConfig
from lfr.store.base import EventStore
from lfr.store.memory import InMemoryEventStore
from lfr.testing import InMemoryWatchlists, ScriptedFrameSource, ScriptedRecogniser
from lfr.video.recognition import shared_recognition

FRAME_RANGE = 1_000_000  # camera k numbers its frames from k * FRAME_RANGE
WATCHLIST = {"alice": "Alice A. (wanted, ref 123)", "bob": "Bob B. (missing person)"}

SITE = {
    "name": "test-town",
    "zones": [{"name": "north-end"}, {"name": "london-road"}],
    "cameras": [
        {"id": "ne-1", "zone": "north-end", "source": "scripted:", "analyse_fps": None},
        {"id": "ne-2", "zone": "north-end", "source": "scripted:", "analyse_fps": None},
        {"id": "lr-1", "zone": "london-road", "source": "scripted:", "analyse_fps": None},
    ],
    "patrols": [{"id": "p-1"}, {"id": "p-2"}, {"id": "p-3"}],
    "supervision": {"intensity": 3, "period_s": 60, "backoff_s": 0.0},
    "store": {"engine": "memory"},
    "vision": {"recogniser": "scripted", "decider": "per_frame"},
}


@dataclass
class Harness:
    site: Site
    clock: ManualClock
    store: EventStore
    sink: InMemoryAlertSink
    sources: dict[str, ScriptedFrameSource]
    recogniser: ScriptedRecogniser
    watchlists: InMemoryWatchlists

    async def frame(self, camera: str, *who: str) -> None:
        """Show `who` to `camera` and wait until the camera has dealt with the frame."""
        source = self.sources[camera]
        source.push(*who)
        with anyio.fail_after(5):
            await source.wait_consumed()
        await self.site.settle_camera(camera)

    async def settle(self) -> None:
        for cam in self.sources:
            await self.site.settle_camera(cam)
        for zone in ("north-end", "london-road"):
            await self.site.zone_status(zone)
        for p in ("p-1", "p-2", "p-3"):
            await self.site.patrol_status(p)

    async def deploy(self, zone: str = "north-end", hours: float = 2.0, **kw):
        now = self.clock.now()
        args = dict(
            starts_at=now,
            ends_at=now + timedelta(hours=hours),
            watchlist_version="wl-1",
            threshold=0.6,
            legal_basis="PACE s.24; College of Policing APP (LFR)",
            reason="wanted offenders seen in the town centre",
            authorised_by="Supt. A. Smith 1234",
        )
        args.update(kw)
        return await self.site.authorise_deployment(zone, **args)


@asynccontextmanager
async def harness(
    config: dict | None = None,
    *,
    store: EventStore | None = None,
    recogniser: ScriptedRecogniser | None = None,
    clock: ManualClock | None = None,
    vault: object | None = None,
) -> AsyncIterator[Harness]:
    cfg = SiteConfig.model_validate(config or SITE)
    clock = clock or ManualClock()
    store = store or InMemoryEventStore(clock=clock)
    sources = {
        c.id: ScriptedFrameSource(f"scripted://{c.id}", clock=clock, first_index=i * FRAME_RANGE)
        for i, c in enumerate(cfg.cameras)
    }
    recogniser = recogniser or ScriptedRecogniser()
    watchlists = InMemoryWatchlists()
    watchlists.publish("wl-1", WATCHLIST, published_at=clock.now() - timedelta(hours=1))
    sink = InMemoryAlertSink()
    parts = SiteParts(
        store=store,
        catalog=watchlists,
        source_factory=lambda cam: sources[cam.id].reopen(),
        # the seam every camera is built through; the scripted recogniser is shared
        recognition=lambda cam: shared_recognition(recogniser, cam.id, decider=cfg.vision.decider),
        clock=clock,
        sink=sink,
        vault=vault,  # type: ignore[arg-type]
        ask_timeout_s=5.0,
    )
    async with running_site(cfg, parts) as site:
        yield Harness(site, clock, store, sink, sources, recogniser, watchlists)


async def events(store: EventStore) -> list[tuple[str, str]]:
    return [(e.stream, e.type) for e in await store.read_all()]
