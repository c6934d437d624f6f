"""`lfr demo`: a two-zone town centre on embedded defaults, from nothing to evidence.

    models ─► cast (real pipeline) ─► street scenes (cached)
    ─► log (SQLite) + vault ─► watchlists (enrolment: LanceDB + log)      lfr.demo.enrolment
    ─► RTSP server (loopback) ─► site by `open_site`: amqtt broker, publisher, sink, relay,
       actors, cameras through the demo's adapters                       lfr.demo.site
    ─► authorise, check in, officers on MQTT, London Road's patrol checks out (zone
       disarms), windows close, watchlists purged                         lfr.demo.script
       (the dashboard samples the site throughout)                        lfr.demo.dashboard
       (`--nodes 3`: the cameras on two child processes, one log in NATS) lfr.demo.nodes
    ─► the site's views (open_site's read model, resumed) against the ground truth
       (the judge's), report.html, `lfr audit verify`'s check             lfr.demo.report

This module holds the options and the time line; each step lives in its own module.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from lfr.config import settings
from lfr.demo.cast import choose_cast, detector_locator
from lfr.demo.dashboard import CameraRow, DemoUI, ZoneRow
from lfr.demo.enrolment import enrol_watchlists
from lfr.demo.footage import prepare_footage
from lfr.demo.judge import Judge
from lfr.demo.nodes import check_nodes, demo_nodes
from lfr.demo.report import DemoRun, write_evidence
from lfr.demo.scenario import CAMERAS, MIN_SECONDS, ZONES, plan_scenario
from lfr.demo.script import play_script
from lfr.demo.site import Observations, demo_site_config, open_demo_site
from lfr.errors import ConfigError
from lfr.projections import Views
from lfr.scenes import load_gallery
from lfr.sealing import Sealer
from lfr.store.config import StoreConfig
from lfr.telemetry import Telemetry, TelemetryConfig, setup_telemetry

__all__ = ["DemoOptions", "run_demo"]


@dataclass(frozen=True)
class DemoOptions:
    seconds: float = 60.0
    data_dir: Path | None = None
    gallery: Path | None = None
    seed: int = 7
    threshold: float = 0.6
    subjects: int = 7
    #: per camera: four cameras at 5 fps leave one analysis worker on two cores room for a
    #: machine half as fast as ours (measured here, 2 cores, tracking recogniser:
    #: decode-to-officer p95 about 70 ms; the camera keeps the newest frame, so overload
    #: costs frames, not latency)
    analyse_fps: float = 5.0
    workers: int = 1  # concurrent analyses (each already uses two onnxruntime threads)
    width: int = 1280
    height: int = 720
    otlp: str | None = None
    scene_cache: Path | None = None
    #: where the log is kept (None: SQLite in the data directory, needing no service)
    store: StoreConfig | None = None
    #: 1: one process; 3: the cameras on two child processes (`lfr.demo.nodes`; NATS log)
    nodes: int = 1


def _fresh_data_dir(opts: DemoOptions) -> Path:
    d = opts.data_dir or settings().data_dir / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    if d.exists() and any(d.iterdir()):
        raise ConfigError(
            f"data directory {d} is not empty: the demo writes a fresh log; "
            "pass another --data-dir or remove it"
        )
    d.mkdir(parents=True, exist_ok=True)
    return d


async def run_demo(
    opts: DemoOptions, ui: DemoUI, *, telemetry: Telemetry | None = None
) -> dict[str, Any]:
    """Run the whole scenario; return the numbers of the `--json` line.

    With `telemetry` given (tests: in-memory), spans and metrics go there and it is left
    running; otherwise console (or OTLP) export to `<data_dir>/telemetry.jsonl` is set up.

    :raises ConfigError: a bad option or gallery, with what to change.
    """
    started = time.monotonic()
    if opts.seconds < MIN_SECONDS:
        raise ConfigError(
            f"--seconds {opts.seconds:g} is too short: the scenario needs at least "
            f"{MIN_SECONDS:g} s (walks before and after a patrol leaves)"
        )
    check_nodes(opts.nodes, opts.store)
    data_dir = await anyio.to_thread.run_sync(_fresh_data_dir, opts)
    view = ui.view
    view.total_s = opts.seconds
    view.zones = {z: ZoneRow(t) for z, (t, _) in ZONES.items()}
    view.cameras = {c: CameraRow(z) for c, z in CAMERAS.items()}
    ui.log(f"data directory {data_dir}")
    if telemetry is not None:
        return await _run(opts, ui, data_dir, telemetry, started)
    spans_out = await anyio.to_thread.run_sync(
        partial((data_dir / "telemetry.jsonl").open, "w", encoding="utf-8")
    )
    tel = await anyio.to_thread.run_sync(
        setup_telemetry,
        TelemetryConfig(
            exporter="otlp" if opts.otlp else "console",
            otlp_url=opts.otlp,
            console_out=spans_out,
            keep_in_memory=True,
            service_name="lfr-demo",
            metric_interval_s=5.0,
        ),
    )
    try:
        return await _run(opts, ui, data_dir, tel, started)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(tel.shutdown)  # flushes the exporters
            await anyio.to_thread.run_sync(spans_out.close)


async def _run(
    opts: DemoOptions, ui: DemoUI, data_dir: Path, tel: Telemetry, started: float
) -> dict[str, Any]:
    from lfr.store import open_configured_store
    from lfr.vault import BiometricVault
    from lfr.video.rtsp_server import RtspClipServer
    from lfr.vision.pack import pull_pack
    from lfr.vision.pipeline import FacePipeline

    ui.phase("model pack")
    await anyio.to_thread.run_sync(lambda: pull_pack(settings().model_dir, progress=ui.log))
    pipeline = await anyio.to_thread.run_sync(FacePipeline.shared)

    ui.phase("casting the street")
    gallery_root = await anyio.to_thread.run_sync((opts.gallery or settings().faces_dir).resolve)
    people = await anyio.to_thread.run_sync(load_gallery, gallery_root)
    rng = np.random.default_rng(opts.seed)
    cast = await anyio.to_thread.run_sync(
        lambda: choose_cast(
            pipeline,
            people,
            subjects=opts.subjects,
            threshold=opts.threshold,
            rng=rng,
            progress=ui.log,
        )
    )
    scenario = plan_scenario(
        cast, seconds=opts.seconds, seed=opts.seed, width=opts.width, height=opts.height
    )
    ui.phase("street scenes")
    footage, manifest = await prepare_footage(
        scenario,
        gallery_root=gallery_root,
        locate=detector_locator(pipeline),
        cache_dir=opts.scene_cache,
        progress=ui.log,
    )
    scenes_dir = data_dir / "scenes"
    await anyio.to_thread.run_sync(scenes_dir.mkdir)
    await anyio.to_thread.run_sync(shutil.copy, footage / "manifest.json", scenes_dir)

    ui.phase("log, vault, watchlist")
    observations = Observations()
    store = await open_configured_store(opts.store or StoreConfig(), data_dir=data_dir)
    vault = await BiometricVault.open(data_dir)
    try:
        enrolment = await enrol_watchlists(data_dir, pipeline, cast, store, vault, ui.log)
        judge = Judge(manifest, enrolment.label_to_identity)
        ui.phase("broker, cameras, site")
        async with RtspClipServer(footage) as rtsp:
            urls = {c: rtsp.url(f"{c}.mp4", loop=True) for c in CAMERAS}
            judge.site_started = datetime.now(UTC)
            async with demo_nodes(
                opts.nodes,
                demo_site_config(urls, opts.analyse_fps, opts.workers),
                store=opts.store,
                data_dir=data_dir,
                log=ui.log,
            ) as nodes:
                # camera nodes (`--nodes 3`): their cameras start now, then the core's zones
                judge.site_started = await nodes.go(judge.site_started)
                async with open_demo_site(
                    nodes.config,
                    data_dir=data_dir,
                    store=store,
                    vault=vault,
                    enrolment=enrolment,
                    pipeline=pipeline,
                    observations=observations,
                    node=nodes.core,
                ) as site:
                    await play_script(
                        site,
                        seconds=opts.seconds,
                        threshold=opts.threshold,
                        versions=enrolment.versions,
                        scenario=scenario,
                        ui=ui,
                        tel=tel,
                        judge=judge,
                        observations=observations,
                    )
                    await nodes.stop(observations, pipeline)  # their cameras' last records
        ui.phase("evidence")
        # the site's views, resumed from where it left them and caught up with its teardown
        sealer = Sealer(vault)
        views = await Views.open(data_dir, sealer)
        try:
            result = await write_evidence(
                DemoRun(data_dir, opts.seconds, opts.threshold, opts.analyse_fps, started),
                ui,
                views,
                store,
                manifest=manifest,
                cast=cast,
                label_to_identity=enrolment.label_to_identity,
                observations=observations,
                tally=observations.timings(pipeline),
                tel=tel,
                site_started=judge.site_started,
                sealer=sealer,
            )
            return result | nodes.summary(result["events"])
        finally:
            await views.aclose()
    finally:
        await store.aclose()
        await vault.aclose()
