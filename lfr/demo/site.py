"""The demo's site: the two-zone town centre's config, opened by `actors.site.open_site`
like any other site, with the demo's parts swapped in through `SiteOverrides`: the log,
vault and watchlists enrolment made, an embedded broker on a free port, each camera's
deployed recognition seen through the demo's timing and span adapters, and traced publishes.

`Observations` is the one object those adapters and the officers' devices write to, and the
dashboard and the report read (numbers and times only, never an image or an embedding).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import actors.site
from actors.system import Site
from lfr.alerts import AlertSink
from lfr.catalog import WatchlistStoreCatalog
from lfr.demo.enrolment import DemoWatchlists
from lfr.demo.officers import AlertSeen, Patrol
from lfr.demo.parts import FrameSpans, TimedRecogniser, TracedSink
from lfr.demo.scenario import CAMERAS, ZONES
from lfr.site import (
    AlertsConfig,
    CameraConfig,
    PatrolConfig,
    SiteConfig,
    VisionConfig,
    ZoneConfig,
)
from lfr.store.base import EventStore
from lfr.transport.broker import EmbeddedBrokerConfig
from lfr.transport.services import AlertServicesConfig
from lfr.vault import BiometricVault
from lfr.video import recognition

if TYPE_CHECKING:
    from lfr.video.recognition import CameraRecognition
    from lfr.vision.pipeline import FacePipeline

__all__ = [
    "CHECKING_OUT",
    "PATROLS",
    "Observations",
    "demo_site_config",
    "observed_recognition",
    "open_demo_site",
]

PATROLS = (
    Patrol("p-ne-1", "north-end", ("PC 1101", "PC 1102"), "NE-Alpha"),
    Patrol("p-ne-2", "north-end", ("PC 1201", "PC 1202"), "NE-Bravo"),
    Patrol("p-lr-1", "london-road", ("PC 2101", "PC 2102"), "LR-Charlie"),
)
#: the patrol that leaves mid-scenario, disarming London Road
CHECKING_OUT = "p-lr-1"


@dataclass
class Observations:
    """What the demo notes while the site runs, for the dashboard and the report."""

    #: (camera, track id) -> capture time of the frame whose analysis decided the match
    decided_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    #: camera -> capture time of every frame analysed (checked against armed periods)
    analysed: dict[str, list[datetime]] = field(default_factory=dict)
    #: camera -> best watchlist similarity of each face below the threshold (2 decimals)
    below: dict[str, list[float]] = field(default_factory=dict)
    #: each camera's analysis timings
    timers: list[TimedRecogniser] = field(default_factory=list)
    #: alert id -> the alert as an officer's device received it
    seen: dict[str, AlertSeen] = field(default_factory=dict)

    def timings(self, pipeline: FacePipeline) -> TimedRecogniser:
        """Every camera's analysis timings in one (as the evidence reads them)."""
        merged = TimedRecogniser(pipeline)
        merged.wait_ms = [ms for t in self.timers for ms in t.wait_ms]
        merged.analyse_ms = [ms for t in self.timers for ms in t.analyse_ms]
        return merged


def demo_site_config(urls: dict[str, str], analyse_fps: float, workers: int) -> SiteConfig:
    """The town centre: two zones, four cameras on the given stream URLs, three patrols."""
    return SiteConfig(
        name="town-centre",
        title="Town centre (demo)",
        zones=tuple(ZoneConfig(name=z, title=t) for z, (t, _) in ZONES.items()),
        cameras=tuple(
            CameraConfig(id=c, zone=z, source=urls[c], analyse_fps=analyse_fps)
            for c, z in CAMERAS.items()
        ),
        patrols=tuple(PatrolConfig(id=p.patrol_id, callsign=p.callsign) for p in PATROLS),
        alerts=AlertsConfig(cooldown_s=120.0, reappear_gap_s=10.0, ack_deadline_s=30.0),
        vision=VisionConfig(decider="tracking", workers=workers),
    )


def observed_recognition(
    pipeline: FacePipeline, observations: Observations
) -> Callable[[CameraConfig], CameraRecognition]:
    """Each camera's recognition as deployed cameras build it (`camera_recognition`), seen
    through the demo's adapters: its analyses timed (each camera's timer kept in
    `observations.timers`) and each decided frame a `camera.frame` span noting what the
    evidence needs."""

    def build(cam: CameraConfig) -> CameraRecognition:
        deployed = recognition.camera_recognition(pipeline, cam.id)
        timed = TimedRecogniser(deployed.recogniser)
        observations.timers.append(timed)
        return recognition.CameraRecognition(
            timed,
            lambda: FrameSpans(
                deployed.new_decider(),
                cam.id,
                cam.zone,
                observations.decided_at,
                observations.analysed,
                observations.below,
            ),
        )

    return build


def _traced(sink: AlertSink) -> AlertSink:
    return TracedSink(sink)


@asynccontextmanager
async def open_demo_site(
    config: SiteConfig,
    *,
    data_dir: Path,
    store: EventStore,
    vault: BiometricVault,
    enrolment: DemoWatchlists,
    pipeline: FacePipeline,
    observations: Observations,
    node: str | None = None,
) -> AsyncIterator[Site]:
    """The running demo site (alert services on an embedded broker on a free port); with
    `node`, only the actors `config` places there (`lfr demo --nodes 3`'s core)."""
    overrides = actors.site.SiteOverrides(
        data_dir=data_dir,
        store=store,
        vault=vault,
        catalog=WatchlistStoreCatalog(*enrolment.stores, vault=vault),
        recognition=observed_recognition(pipeline, observations),
        alerts=AlertServicesConfig(
            site=config.name, embedded=EmbeddedBrokerConfig(tcp_port=0, ws_port=None)
        ),
        wrap_sink=_traced,
        node=node,
    )
    async with actors.site.open_site(config, overrides) as site:
        yield site
