"""`lfr demo`: a two-zone town centre on embedded defaults, from nothing to evidence.

    models ─► cast (real pipeline) ─► street scenes (cached) ─► watchlist (LanceDB + log)
    ─► log (SQLite) + vault + amqtt broker + MQTT publisher + relay + RTSP server (loopback)
    ─► site (actors.system, loaded by name) ─► authorise, check in, officers on MQTT
    ─► London Road's patrol checks out (zone disarms) ─► windows close, watchlist purged
    ─► fold the log against the ground truth ─► report.html ─► `lfr audit verify`'s check

`lfr` may not import `actors`, so the site's wiring module is loaded by its dotted name.
"""

from __future__ import annotations

import importlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from typing import cast as cast_sink

import anyio
import numpy as np

from lfr.config import settings
from lfr.demo.cast import Cast, choose_cast, detector_locator
from lfr.demo.dashboard import AlertRow, CameraRow, DemoUI, ZoneRow
from lfr.demo.evidence import clip_origins, fold_log, percentile
from lfr.demo.footage import prepare_footage
from lfr.demo.officers import AlertSeen, OfficerDesk, Patrol
from lfr.demo.parts import FrameSpans, TimedRecogniser, TracedSink
from lfr.demo.scenario import CAMERAS, MIN_SECONDS, ZONES, Scenario, plan_scenario
from lfr.errors import ConfigError, LfrError
from lfr.report import SimilarityHistogram, TransparencyReport, Verification, write_report
from lfr.scenes import SceneManifest, load_gallery
from lfr.telemetry import Telemetry, TelemetryConfig, metrics, setup_telemetry
from lfr.telemetry.privacy import metric_label_breaches, span_breaches
from schemas.envelope import NewEvent
from schemas.events import WatchlistEntryAdded, WatchlistPublished

if TYPE_CHECKING:
    from lfr.site import CameraConfig
    from lfr.video.recognition import CameraRecognition
    from lfr.vision.pipeline import FacePipeline

__all__ = ["DemoOptions", "run_demo"]

SYSTEM_MODULE = "actors.system"
SOURCES_MODULE = "actors.sources"
WATCHLIST = "town-centre-lfr"
PATROLS = (
    Patrol("p-ne-1", "north-end", ("PC 1101", "PC 1102"), "NE-Alpha"),
    Patrol("p-ne-2", "north-end", ("PC 1201", "PC 1202"), "NE-Bravo"),
    Patrol("p-lr-1", "london-road", ("PC 2101", "PC 2102"), "LR-Charlie"),
)
CHECKING_OUT = "p-lr-1"
CATEGORIES = ("wanted_by_police", "wanted_by_courts", "suspect", "missing_person")


@dataclass(frozen=True)
class DemoOptions:
    seconds: float = 60.0
    data_dir: Path | None = None
    gallery: Path | None = None
    seed: int = 7
    threshold: float = 0.6
    subjects: int = 7
    #: per camera: four cameras at 5 fps leave one analysis worker on two cores room for a
    #: machine half as fast as ours (measured here, 2 cores: decode-to-officer p95 88 ms at
    #: 5 fps, 125 ms at 10; the camera keeps the newest frame, so overload costs frames,
    #: not latency)
    analyse_fps: float = 5.0
    workers: int = 1  # concurrent analyses (each already uses two onnxruntime threads)
    width: int = 1280
    height: int = 720
    otlp: str | None = None
    scene_cache: Path | None = None


def _fresh_data_dir(opts: DemoOptions) -> Path:
    d = opts.data_dir or settings().data_dir / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    if d.exists() and any(d.iterdir()):
        raise ConfigError(
            f"data directory {d} is not empty: the demo writes a fresh log; "
            "pass another --data-dir or remove it"
        )
    d.mkdir(parents=True, exist_ok=True)
    return d


def _camera_counters(tel: Telemetry) -> dict[str, dict[str, float]]:
    """Per-camera analysed and dropped counts from the in-memory metric reader."""
    out: dict[str, dict[str, float]] = {}
    reader = tel.metric_reader
    data = reader.get_metrics_data() if reader is not None else None
    if data is None:
        return out
    names = {
        "lfr.camera.frames.analysed": "analysed",
        "lfr.camera.frames.dropped": "dropped",
    }
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                key = names.get(m.name)
                if key is None:
                    continue
                for p in m.data.data_points:
                    cam = str((p.attributes or {}).get("camera", ""))
                    out.setdefault(cam, {})[key] = float(getattr(p, "value", 0))
    return out


async def _enrol_watchlist(
    data_dir: Path, pipeline: Any, cast: Cast, store: Any, log: Callable[[str], None]
) -> tuple[list[Any], dict[str, str], dict[str, str]]:
    """Enrol the cast's subjects from every accepted enrolment photo (refused ones are
    logged with their reason) into one bespoke watchlist per zone (criteria approved for
    that deployment, so each zone arms with its own version and its purge erases that
    copy); record and publish them.

    Returns the stores, the version per zone and the identity behind each label."""
    from functools import partial

    from lfr.watchlist import WatchlistStore
    from lfr.watchlist.enrol import embed_photos

    now = datetime.now(UTC)
    label_to_identity: dict[str, str] = {}
    enrolments = []
    for m in cast.subjects:
        sources = [f"{m.identity}/{p.name}" for p in m.enrol_photos]
        enrolled = await anyio.to_thread.run_sync(
            partial(embed_photos, pipeline, m.enrol_photos, sources=sources)
        )
        for refusal in enrolled.refused:
            log(f"refused {refusal}")
        enrolments.append(enrolled)
        label_to_identity[m.identity.replace("_", " ")] = m.identity
    stores, versions = [], {}
    for zone, (title, _) in ZONES.items():
        name = f"{WATCHLIST}-{zone}"
        wstore = WatchlistStore(data_dir / "watchlist", name=name)
        events = []
        for i, (m, enrolled) in enumerate(zip(cast.subjects, enrolments, strict=True)):
            entry = enrolled.entry(
                entry_id=f"wl-{i + 1:03d}",
                label=m.identity.replace("_", " "),
                category=CATEGORIES[i % len(CATEGORIES)],
                legal_basis=f"Warrant / court order on file; criteria approved for {title} (demo)",
                image_source=f"custody images (demo gallery: {', '.join(enrolled.sources)})",
                added_by="DS 4012 Watchlist Manager",
                expires_at=now + timedelta(days=1),
            )
            await anyio.to_thread.run_sync(wstore.add, entry)
            events.append(
                NewEvent(
                    event=WatchlistEntryAdded(
                        watchlist=name,
                        entry_id=entry.entry_id,
                        label=entry.label,
                        category=entry.category,
                        legal_basis=entry.legal_basis,
                        image_source=entry.image_source,
                        added_by=entry.added_by,
                        expires_at=entry.expires_at,
                        photos=entry.photos,
                        photo_sources=entry.photo_sources,
                    )
                )
            )
        pub = await anyio.to_thread.run_sync(wstore.publish, "DS 4012 Watchlist Manager")
        events.append(
            NewEvent(
                event=WatchlistPublished(
                    watchlist=name,
                    watchlist_version=pub.version,
                    entries=pub.entries,
                    published_by=pub.published_by,
                    valid_until=pub.valid_until,
                )
            )
        )
        await store.append(f"watchlist:{name}", events)
        log(f"watchlist {name} published: {pub.entries} entries, version {pub.version[:12]}")
        stores.append(wstore)
        versions[zone] = pub.version
    for enrolled in enrolments:
        enrolled.forget()  # each zone's store holds its own copy now
    return stores, versions, label_to_identity


def _camera_recognition(
    pipeline: FacePipeline,
    timers: list[TimedRecogniser],
    decided_at: dict[tuple[str, str], datetime],
    analysed: dict[str, list[datetime]],
    below: dict[str, list[float]],
) -> Callable[[CameraConfig], CameraRecognition]:
    """Each camera's recognition as deployed cameras build it (`camera_recognition`), seen
    through the demo's adapters: its analyses timed (each camera's timer kept in `timers`)
    and each decided frame a `camera.frame` span noting what the evidence needs."""
    from lfr.video import recognition

    def build(cam: CameraConfig) -> CameraRecognition:
        deployed = recognition.camera_recognition(pipeline, cam.id)
        timed = TimedRecogniser(deployed.recogniser)
        timers.append(timed)
        return recognition.CameraRecognition(
            timed,
            lambda: FrameSpans(
                deployed.new_decider(), cam.id, cam.zone, decided_at, analysed, below
            ),
        )

    return build


def _all_timings(pipeline: FacePipeline, timers: list[TimedRecogniser]) -> TimedRecogniser:
    """Every camera's analysis timings in one (as the evidence reads them)."""
    merged = TimedRecogniser(pipeline)
    merged.wait_ms = [ms for t in timers for ms in t.wait_ms]
    merged.analyse_ms = [ms for t in timers for ms in t.analyse_ms]
    return merged


def _site_config(urls: dict[str, str], analyse_fps: float, workers: int) -> Any:
    from lfr.site import (
        AlertsConfig,
        CameraConfig,
        PatrolConfig,
        SiteConfig,
        VisionConfig,
        ZoneConfig,
    )

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
    data_dir = _fresh_data_dir(opts)
    view = ui.view
    view.total_s = opts.seconds
    view.zones = {z: ZoneRow(t) for z, (t, _) in ZONES.items()}
    view.cameras = {c: CameraRow(z) for c, z in CAMERAS.items()}
    ui.log(f"data directory {data_dir}")
    if telemetry is not None:
        return await _run(opts, ui, data_dir, telemetry, started)
    spans_out = (data_dir / "telemetry.jsonl").open("w", encoding="utf-8")
    tel = setup_telemetry(
        TelemetryConfig(
            exporter="otlp" if opts.otlp else "console",
            otlp_url=opts.otlp,
            console_out=spans_out,
            keep_in_memory=True,
            service_name="lfr-demo",
            metric_interval_s=5.0,
        )
    )
    try:
        return await _run(opts, ui, data_dir, tel, started)
    finally:
        tel.shutdown()
        spans_out.close()


async def _run(
    opts: DemoOptions, ui: DemoUI, data_dir: Path, tel: Telemetry, started: float
) -> dict[str, Any]:
    from lfr.alerts import AlertSink
    from lfr.catalog import WatchlistStoreCatalog
    from lfr.clock import SystemClock
    from lfr.store.sqlite import LOG_FILE, open_store
    from lfr.transport.broker import EmbeddedBroker, EmbeddedBrokerConfig
    from lfr.transport.mqtt import MqttConfig, MqttPublisher
    from lfr.transport.sink import EventRelay, MqttAlertSink
    from lfr.vault import BiometricVault
    from lfr.video.rtsp_server import RtspClipServer
    from lfr.vision.pack import pull_pack
    from lfr.vision.pipeline import FacePipeline

    seen: dict[str, AlertSeen] = {}
    decided_at: dict[tuple[str, str], datetime] = {}
    analysed: dict[str, list[datetime]] = {}
    below: dict[str, list[float]] = {}
    ui.phase("model pack")
    await anyio.to_thread.run_sync(lambda: pull_pack(settings().model_dir, progress=ui.log))
    pipeline = await anyio.to_thread.run_sync(FacePipeline.shared)

    ui.phase("casting the street")
    gallery_root = (opts.gallery or settings().faces_dir).resolve()
    people = load_gallery(gallery_root)
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
    scenes_dir.mkdir()
    shutil.copy(footage / "manifest.json", scenes_dir / "manifest.json")

    ui.phase("log, vault, watchlist")
    store = await open_store(data_dir)
    vault = await BiometricVault.open(data_dir)
    try:
        wstores, versions, label_to_identity = await _enrol_watchlist(
            data_dir, pipeline, cast, store, ui.log
        )
        timers: list[TimedRecogniser] = []
        system = importlib.import_module(SYSTEM_MODULE)
        sources = importlib.import_module(SOURCES_MODULE)
        ui.phase("broker, cameras, site")
        async with EmbeddedBroker(EmbeddedBrokerConfig(tcp_port=0, ws_port=None)) as broker:
            mqtt = MqttConfig(
                port=broker.tcp_port, protocol="3.1.1", username="lfr-site", client_id="lfr-site"
            )
            publisher = MqttPublisher(mqtt)
            async with RtspClipServer(footage) as rtsp, anyio.create_task_group() as tg:
                await tg.start(publisher.run)
                await tg.start(EventRelay(store, publisher).run)
                mqtt_sink = MqttAlertSink(publisher, store=store)
                await tg.start(mqtt_sink.run_late_deliveries)
                clock = SystemClock()
                urls = {c: rtsp.url(f"{c}.mp4", loop=True) for c in CAMERAS}
                parts = system.SiteParts(
                    store=store,
                    catalog=WatchlistStoreCatalog(*wstores, vault=vault),
                    source_factory=lambda cam: sources.open_source(cam, clock),
                    recognition=_camera_recognition(pipeline, timers, decided_at, analysed, below),
                    clock=clock,
                    sink=TracedSink(cast_sink(AlertSink, mqtt_sink)),
                    vault=vault,
                )
                judge = _Judge(manifest, label_to_identity)
                judge.site_started = datetime.now(UTC)
                async with system.running_site(
                    _site_config(urls, opts.analyse_fps, opts.workers), parts
                ) as site:
                    await _scenario(opts, ui, site, seen, tg, mqtt, versions, scenario, tel, judge)
                tg.cancel_scope.cancel()
        ui.phase("evidence")
        envelopes = await store.read_all()
    finally:
        await store.aclose()
        await vault.aclose()
    return await _evidence(
        opts,
        ui,
        data_dir / LOG_FILE,
        data_dir,
        envelopes,
        manifest,
        cast,
        label_to_identity,
        desk_seen=dict(seen),
        tally=_all_timings(pipeline, timers),
        tel=tel,
        started=started,
        site_started=judge.site_started,
        decided_at=decided_at,
        analysed=analysed,
        below=below,
    )


@dataclass
class _Judge:
    """What an officer sees comparing the images: is the listed person really there?"""

    manifest: SceneManifest
    label_to_identity: dict[str, str]
    stream_started: dict[str, datetime] | None = None
    site_started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def check(self, alert: Any) -> bool:
        if self.stream_started is None:
            return True
        start = self.stream_started.get(alert.camera)
        if start is None:
            return True
        clip = self.manifest.clip(alert.camera)
        t = (alert.frame_at - start).total_seconds() % clip.seconds
        identity = self.label_to_identity.get(alert.subject_label)
        return any(
            a.identity == identity and a.seconds(clip.fps)[0] - 1 <= t <= a.seconds(clip.fps)[1] + 1
            for a in clip.appearances
        )


async def _scenario(
    opts: DemoOptions,
    ui: DemoUI,
    site: Any,
    seen: dict[str, AlertSeen],
    tg: Any,
    mqtt: Any,
    versions: dict[str, str],
    scenario: Scenario,
    tel: Telemetry,
    judge: _Judge,
) -> None:
    view = ui.view
    store = site.parts.store
    claimed: set[str] = set()
    for patrol in PATROLS:
        device = replace(
            mqtt, username=f"device-{patrol.patrol_id}", client_id=f"device-{patrol.patrol_id}"
        )
        desk_for = OfficerDesk(
            site=site, mqtt=device, judge=judge.check, seen=seen, log_line=ui.log, claimed=claimed
        )
        await tg.start(desk_for.run_patrol, patrol)
    t0 = datetime.now(UTC)
    mono0 = time.monotonic()
    ends_at = t0 + timedelta(seconds=opts.seconds)
    ui.phase("supervisor authorises deployments")
    deployments = {}
    for zone, (title, cams) in ZONES.items():
        dep = await site.authorise_deployment(
            zone,
            starts_at=t0 - timedelta(seconds=1),
            ends_at=ends_at,
            watchlist_version=versions[zone],
            threshold=opts.threshold,
            legal_basis="Common law policing powers; DPA 2018 Part 3 s.35 (sensitive processing)",
            reason=f"{title}: violent crime and wanted offenders in the night-time economy; "
            "less intrusive means tried (demo)",
            authorised_by="Supt 1234 A. Authorising-Officer",
            cameras=cams,
        )
        deployments[zone] = dep
        ui.log(
            f"deployment {dep.deployment_id} authorised for {title} until "
            f"{ends_at:%H:%M:%S} (threshold {opts.threshold:.2f})"
        )
    ui.phase("patrols check in")
    for patrol in PATROLS:
        await site.check_in(patrol.patrol_id, patrol.zone, patrol.officers, patrol.callsign)
        ui.log(
            f"{patrol.callsign} ({', '.join(patrol.officers)}) checked in at "
            f"{ZONES[patrol.zone][0]}"
        )
    checked_out = False
    ui.phase("cameras armed: people walking past")
    while True:
        elapsed = time.monotonic() - mono0
        view.elapsed_s = elapsed
        if judge.stream_started is None or len(judge.stream_started) < len(CAMERAS):
            judge.stream_started = clip_origins(await _stream_starts(store), judge.site_started)
        if not checked_out and elapsed >= scenario.checkout_s:
            await site.check_out(CHECKING_OUT)
            checked_out = True
            ui.phase("London Road patrol checked out: zone disarmed, people still walking")
            ui.log("LR-Charlie checked out: London Road cameras disarmed")
        await _refresh(ui, site, tel, seen)
        if elapsed >= opts.seconds + 0.5:
            break
        await anyio.sleep(0.5)
    ui.phase("deployments end, their watchlists purged")
    with anyio.move_on_after(15):
        while True:
            statuses = [await site.zone_status(z) for z in ZONES]
            if all(_ended(s) for s in statuses):
                break
            await anyio.sleep(0.25)
    with anyio.move_on_after(8):  # let officers finish the reviews in hand
        while any(s.state in ("received", "acknowledged") for s in seen.values()):
            await _refresh(ui, site, tel, seen)
            await anyio.sleep(0.25)
    await _refresh(ui, site, tel, seen)


def _ended(status: Any) -> bool:
    """Every deployment of the zone ended and its watchlist purge recorded."""
    return all(d.ended and d.purged for d in status.deployments)


def _zone_reason(status: Any) -> str:
    if status.armed_deployment is not None:
        return "patrol on duty"
    live = [d for d in status.deployments if not d.ended]
    if live:
        return "no patrol on duty" if not status.patrols_on_duty else "outside the window"
    return "deployment ended" if status.deployments else "not authorised"


async def _stream_starts(store: Any) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for env in await store.read_all():
        if env.type == "CameraStreamStarted":
            out.setdefault(str(env.payload["camera"]), env.occurred_at)
    return out


async def _refresh(ui: DemoUI, site: Any, tel: Telemetry, seen: dict[str, AlertSeen]) -> None:
    view = ui.view
    for zone, row in view.zones.items():
        try:
            st = await site.zone_status(zone)
        except LfrError:  # a status is decoration; the log is the truth
            continue
        row.armed = st.armed_deployment is not None
        row.patrols = tuple(st.patrols_on_duty)
        row.reason = _zone_reason(st)
    for name in site.registry.names():  # sampled here; the kernel keeps no time series
        ref = site.registry.get(name)
        if ref is not None:
            metrics().mailbox_depth(name, ref.depth)
            if name.startswith("camera:") and name[7:] in view.cameras:
                view.cameras[name[7:]].mailbox = ref.depth
    counters = _camera_counters(tel)
    now = time.monotonic()
    for cam, crow in view.cameras.items():
        c = counters.get(cam, {})
        analysed = int(c.get("analysed", 0))
        if crow.sampled_at and now > crow.sampled_at:
            rate = (analysed - crow.analysed) / (now - crow.sampled_at)
            crow.fps = 0.6 * crow.fps + 0.4 * rate
        crow.sampled_at = now
        metrics().analysed_fps(cam, crow.zone, crow.fps)
        crow.analysed = analysed
        crow.dropped = int(c.get("dropped", 0))
    for a in seen.values():
        view.alerts[a.alert_id] = AlertRow(
            a.alert_id, a.zone, a.camera, a.subject_label, a.similarity, a.state, a.latency_ms
        )
    ui.refresh()


def _fmt(ms: float | None) -> str:
    return "n/a" if ms is None else f"{ms:.0f} ms"


def _decision_latency(
    envelopes: list[Any],
    seen: dict[str, AlertSeen],
    decided_at: dict[tuple[str, str], datetime],
) -> dict[str, float]:
    """Per alert: its deciding frame's capture -> delivery on the device, in ms."""
    matches = {e.event_id: e.payload for e in envelopes if e.type == "FaceMatched"}
    out = {}
    for e in envelopes:
        if e.type != "AlertRaised" or e.payload["alert_id"] not in seen:
            continue
        match = matches.get(e.causation_id)
        if match is None:
            continue
        at = decided_at.get((str(match["camera"]), str(match.get("track_id") or "")))
        received = seen[e.payload["alert_id"]].received_at
        if at is not None:
            out[str(e.payload["alert_id"])] = (received - at).total_seconds() * 1000.0
    return out


async def _evidence(
    opts: DemoOptions,
    ui: DemoUI,
    log_path: Path,
    data_dir: Path,
    envelopes: list[Any],
    manifest: SceneManifest,
    cast: Cast,
    label_to_identity: dict[str, str],
    *,
    desk_seen: dict[str, Any],
    tally: TimedRecogniser,
    tel: Telemetry,
    started: float,
    site_started: datetime,
    decided_at: dict[tuple[str, str], datetime],
    analysed: dict[str, list[datetime]],
    below: dict[str, list[float]],
) -> dict[str, Any]:
    from lfr.store.sqlite import SqliteLog
    from lfr.store.verify import verify_log

    until = max((e.occurred_at for e in envelopes), default=datetime.now(UTC))
    ev = fold_log(envelopes, CAMERAS)
    ev.stream_started = clip_origins(ev.stream_started, site_started)
    # decode of the frame that decided the match -> the alert on the officer's device
    latency = _decision_latency(envelopes, desk_seen, decided_at)
    best_frame = {k: v.latency_ms for k, v in desk_seen.items()}
    zone_names = {z: t for z, (t, _) in ZONES.items()}
    sections = ev.sections(manifest, zone_names, until, latency, label_to_identity)
    sections = [  # one deployment per zone here, so a zone's cameras are its deployment's
        s.model_copy(
            update={
                "non_match_similarity": SimilarityHistogram.of(
                    [v for cam in s.cameras for v in below.get(cam, [])]
                )
            }
        )
        for s in sections
    ]
    alerted = {
        label_to_identity.get(a.subject_label, "")
        for s in sections
        for a in s.alerts
        if a.ground_truth == "true"
    }
    gt, walked, walked_disarmed = ev.ground_truth(manifest, until, alerted)
    observed = ev.frames_captured_while_disarmed(analysed, until)
    if observed > gt.frames_analysed_while_disarmed:
        gt = gt.model_copy(update={"frames_analysed_while_disarmed": observed})

    def verify() -> Any:
        log = SqliteLog(log_path, read_only=True)
        try:
            return verify_log(log)
        finally:
            log.close()

    result = await anyio.to_thread.run_sync(verify)
    head = envelopes[-1].hash if envelopes else None
    verification = Verification(
        chain_verified=result.ok,
        events=result.events,
        head_hash=head,
        detail=result.problem
        or f"{result.checkpoints_verified} signed checkpoint(s) verified; "
        f"key {result.key_id} ({result.key_source})",
    )
    passers = sorted({p.identity for p in cast.passers_by} - set(label_to_identity.values()))
    tel.force_flush()
    span_problems = span_breaches(
        tel.finished_spans(), [p.replace("_", " ") for p in passers] + passers
    )
    metric_problems = metric_label_breaches(
        tel.metric_reader.get_metrics_data() if tel.metric_reader else None, passers
    )
    lat = [v for v in latency.values() if v is not None]
    report = TransparencyReport(
        site="Town centre (two zones: North End, London Road)",
        generated_at=datetime.now(UTC),
        deployments=sections,
        latencies_ms=lat,
        verification=verification,
        ground_truth=gt,
        notes=[
            f"Demo run: {opts.seconds:.0f} s of generated street video on four cameras, "
            f"analysed at up to {opts.analyse_fps:g} frames per second each.",
            f"Threshold {opts.threshold:.2f} (cosine similarity of the faceplugin model); "
            "watchlist photos differ from the street images.",
            "Similarities of faces below the threshold are kept only as bin counts for the chart.",
            "Latency runs from the capture of the frame whose analysis decided a match to the "
            "alert's arrival on the officer's device; the tracker may wait for a second "
            "agreeing sighting, so the best-scoring frame can be older (best frame to device: "
            f"p95 {_fmt(percentile(list(best_frame.values()), 95))}).",
            f"Telemetry privacy check: {len(span_problems) + len(metric_problems)} problem(s) "
            "in spans and metric labels.",
        ],
    )
    path = write_report(report, data_dir / "report.html")
    alerts = [a for s in sections for a in s.alerts]
    out = {
        "frames_analysed": sum(s.frames_analysed for s in sections),
        "faces_seen": sum(s.faces_scanned for s in sections),
        "frames_discarded": sum(s.frames_discarded for s in sections),
        "alerts": len(alerts),
        "true_alerts": sum(a.ground_truth == "true" for a in alerts),
        "false_alerts": sum(a.ground_truth == "false" for a in alerts),
        "subjects_walked": gt.subjects_walked,
        "subjects_alerted": gt.subjects_alerted,
        "subjects_walked_while_disarmed": gt.subjects_walked_while_disarmed,
        "frames_analysed_while_disarmed": gt.frames_analysed_while_disarmed,
        "frames_seen_by_analysis": sum(len(v) for v in analysed.values()),
        "engagements": sum(s.engagements for s in sections),
        "latency_ms_p50": percentile(lat, 50),
        "latency_ms_p95": percentile(lat, 95),
        "best_frame_to_device_ms_p50": percentile(list(best_frame.values()), 50),
        "best_frame_to_device_ms_p95": percentile(list(best_frame.values()), 95),
        "analysis_wait_ms_p95": percentile(tally.wait_ms, 95),
        "analysis_ms_p50": percentile(tally.analyse_ms, 50),
        "analysis_ms_p95": percentile(tally.analyse_ms, 95),
        "events": len(envelopes),
        "chain_verified": result.ok,
        "telemetry_privacy_problems": len(span_problems) + len(metric_problems),
        "watchlist_purged": all(s.watchlist_purged for s in sections),
        "biometric_refs_purged": sum(s.refs_purged for s in sections),
        # per deployment: the templates its BiometricPurged says were erased
        "refs_purged": {s.deployment_id: s.refs_purged for s in sections},
        "deployments_armed": sorted(s.deployment_id for s in sections if s.armed_periods),
        "data_dir": str(data_dir),
        "report": str(path),
        "seconds": opts.seconds,
        "wall_s": round(time.monotonic() - started, 1),
    }
    ui.log(
        f"{out['alerts']} alerts ({out['true_alerts']} true, {out['false_alerts']} false); "
        f"{gt.subjects_alerted}/{gt.subjects_walked} subjects alerted; "
        f"chain {'verified' if result.ok else 'FAILED: ' + str(result.problem)}"
    )
    ui.log(f"report: {path}")
    return out
