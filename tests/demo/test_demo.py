"""`lfr demo` end to end on the real stack (RTSP on loopback, amqtt, SQLite, ONNX models):
the scenario's invariants, the CLI's JSON line, and one connected, biometrics-free trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

import anyio
import pytest

from lfr.demo import DemoOptions, PlainUI, run_demo
from lfr.demo.scenario import CAMERAS
from lfr.errors import ConfigError
from lfr.projections import VIEWS_FILE, ViewDb
from lfr.scenes import SceneManifest
from lfr.store.sqlite import LOG_FILE, SqliteLog, open_store
from lfr.telemetry import TelemetryConfig, setup_telemetry
from lfr.telemetry.privacy import metric_label_breaches, span_breaches
from lfr.video import recognition
from lfr.video.focus import TrackingRecogniser
from lfr.video.tracker import TrackingDecider

pytestmark = [pytest.mark.slow, pytest.mark.models, pytest.mark.timeout(240)]

SECONDS = 30.0  # 6 s walks: enough sightings even on a loaded CI box


def _assert_invariants(result: dict) -> None:
    assert result["chain_verified"] is True
    assert result["subjects_walked"] >= 4
    assert result["subjects_alerted"] == result["subjects_walked"]
    assert result["false_alerts"] == 0
    assert result["true_alerts"] == result["alerts"]
    assert result["frames_analysed_while_disarmed"] == 0
    assert result["subjects_walked_while_disarmed"] == 1  # London Road after its patrol left
    assert result["watchlist_purged"] is True
    # both zones armed, each with its own version, and each purge erased stored templates
    assert len(result["deployments_armed"]) == 2
    assert all(result["refs_purged"][d] > 0 for d in result["deployments_armed"])
    assert result["telemetry_privacy_problems"] == 0
    assert result["frames_analysed"] >= result["frames_discarded"] > 0
    # the log's evidence counts exactly the frames the analysis path saw
    assert result["frames_seen_by_analysis"] == result["frames_analysed"]
    assert result["faces_seen"] > 0
    # the target is p95 <= 500 ms on a quiet 2-core box; CI boxes are shared
    assert result["latency_ms_p95"] is not None and result["latency_ms_p95"] < 1500


@pytest.fixture(scope="module")
def traced_run(tmp_path_factory, scene_cache):
    """One in-process demo run with in-memory telemetry: (result, spans, metrics, data dir,
    UI, what each camera was built with through `camera_recognition`, the sites it opened
    through `open_site`)."""
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    tel = setup_telemetry(TelemetryConfig(exporter="memory"))
    opts = DemoOptions(seconds=SECONDS, data_dir=data_dir, scene_cache=scene_cache)
    ui = PlainUI(quiet=True)
    built: dict[str, recognition.CameraRecognition] = {}
    real = recognition.camera_recognition

    def spy(pipeline, camera_id, **kw):
        built[camera_id] = real(pipeline, camera_id, **kw)
        return built[camera_id]

    import actors.site

    opened: list[actors.site.SiteOverrides] = []
    real_open = actors.site.open_site

    def open_spy(config, overrides=None):
        opened.append(overrides)
        return real_open(config, overrides)

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(recognition, "camera_recognition", spy)
            mp.setattr(actors.site, "open_site", open_spy)
            result = anyio.run(lambda: run_demo(opts, ui, telemetry=tel), backend="asyncio")
        tel.force_flush()
        spans = tel.finished_spans()
        metrics = tel.metric_reader.get_metrics_data()
    finally:
        tel.shutdown()
    return result, spans, metrics, data_dir, ui, built, opened


def test_scenario_invariants(traced_run):
    result, _, _, data_dir, ui, *_ = traced_run
    _assert_invariants(result)
    assert (data_dir / "report.html").read_text().count("deployment <code>") == 2
    assert (data_dir / "scenes" / "manifest.json").exists()
    report = json.loads((data_dir / "report.json").read_text())
    # each bespoke list left the disk with its deployment: per entry its mean template, its
    # per-photo templates and its reference photo
    assert all(d["refs_purged"] >= 2 * d["watchlist_size"] > 0 for d in report["deployments"])
    assert len({d["watchlist_version"] for d in report["deployments"]}) == 2  # bespoke lists
    html = (data_dir / "report.html").read_text()
    assert "erased no stored biometric reference" not in html
    for dep in report["deployments"]:  # closest similarities of faces below the threshold
        assert sum(dep["non_match_similarity"]["counts"]) > 0
        assert all(a["similarity"] >= dep["threshold"] for a in dep["alerts"])
    # what the dashboard showed last: both deployments over, every camera analysed frames
    assert {z: (r.armed, r.reason) for z, r in ui.view.zones.items()} == {
        "north-end": (False, "deployment ended"),
        "london-road": (False, "deployment ended"),
    }
    assert all(c.analysed > 0 for c in ui.view.cameras.values())
    assert {a.state for a in ui.view.alerts.values()} == {"engaged"}


def test_one_connected_trace_from_frame_to_acknowledgement(traced_run):
    result, spans, _, data_dir, *_ = traced_run
    by_trace = defaultdict(list)
    for s in spans:
        by_trace[s.context.trace_id].append(s)
    acked = [t for t, ss in by_trace.items() if any(s.name == "officer.acknowledge" for s in ss)]
    assert len(acked) == result["alerts"]
    for trace_id in acked:
        ss = by_trace[trace_id]
        ids = {s.context.span_id for s in ss}
        roots = [s for s in ss if s.parent is None or s.parent.span_id not in ids]
        assert [r.name for r in roots] == ["camera.frame"], "one root, every span linked"
        names = {s.name for s in ss}
        assert {
            "vision.analyse",
            "mqtt.publish alert",
            "officer.alert_received",
            "officer.acknowledge",
        } <= names
        assert any(n.endswith("handle MatchReported") for n in names)
        assert any(n.endswith("handle Acknowledge") for n in names)

    async def envelopes():
        store = await open_store(data_dir)
        try:
            return await store.read_all()
        finally:
            await store.aclose()

    envs = anyio.run(envelopes, backend="asyncio")

    def trace(e) -> int:
        assert e.traceparent, f"{e.type} at seq {e.seq} has no traceparent"
        return int(e.traceparent.split("-")[1], 16)

    raised = [e for e in envs if e.type == "AlertRaised"]
    assert {trace(e) for e in raised} == set(acked)
    matched = {e.event_id: e for e in envs if e.type == "FaceMatched"}
    for e in raised:  # the match that caused the alert was appended in the same trace
        assert trace(matched[e.causation_id]) == trace(e)
    assert {trace(e) for e in envs if e.type == "AlertAcknowledged"} <= set(acked)


def test_the_demo_opens_its_site_with_open_site(traced_run):
    """One composition root: the demo's site is `open_site`'s, with the demo's parts."""
    *_, opened = traced_run
    (overrides,) = opened
    assert overrides.store is not None and overrides.recognition is not None
    assert overrides.alerts is not None and overrides.alerts.mqtt is None  # embedded broker


def test_the_evidence_is_the_sites_views(traced_run):
    """The report's numbers come from the site's one read model (views.sqlite beside the
    log), which equals a rebuild of the log from seq 0."""
    result, _, _, data_dir, *_ = traced_run
    kept = ViewDb(data_dir / VIEWS_FILE)
    rebuilt = ViewDb(":memory:")
    log = SqliteLog(data_dir / LOG_FILE, read_only=True)
    try:
        rebuilt.apply(log.read_records())
        assert kept.position() == rebuilt.position() == result["events"] == log.last_seq()
        assert kept.state_hash() == rebuilt.state_hash()
        alerts = kept.list_alerts(limit=None)
        assert len(alerts) == result["alerts"] and all(a.acknowledged_by for a in alerts)
        deployments = kept.deployments(with_timeline=False)
        assert sum(d.counts.frames_analysed for d in deployments) == result["frames_analysed"]
    finally:
        log.close()
        kept.close()
        rebuilt.close()


def test_cameras_run_the_deployed_recognition(traced_run):
    """The demo's cameras are built as deployed ones are: a tracking recogniser per camera."""
    *_, built, _ = traced_run
    assert sorted(built) == sorted(CAMERAS)
    for chosen in built.values():
        assert type(chosen.recogniser) is TrackingRecogniser
        assert type(chosen.recogniser.decider) is TrackingDecider


def test_no_biometric_value_or_passer_by_in_telemetry(traced_run):
    _, spans, metrics, data_dir, *_ = traced_run
    manifest = SceneManifest.read(data_dir / "scenes" / "manifest.json")
    passers = {a.identity for c in manifest.clips for a in c.appearances if not a.watchlisted}
    names = sorted(passers | {p.replace("_", " ") for p in passers})
    assert len(spans) > 100
    assert span_breaches(spans, names) == []
    assert metric_label_breaches(metrics, names) == []


def test_cli_json_line_and_exit_status(tmp_path, scene_cache):
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    # the CLI caches scenes under ~/.cache/lfr/scenes: point it at the shared test cache
    (tmp_path / "home" / ".cache" / "lfr").mkdir(parents=True)
    (tmp_path / "home" / ".cache" / "lfr" / "scenes").symlink_to(scene_cache)
    models = os.path.expanduser("~/.cache/lfr/models")
    env.setdefault("LFR_MODEL_DIR", models)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lfr.cli import main; main()",
            "demo",
            "--seconds",
            str(SECONDS),
            "--no-tui",
            "--json",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=200,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in (
        "frames_analysed",
        "faces_seen",
        "frames_discarded",
        "alerts",
        "true_alerts",
        "false_alerts",
        "subjects_walked",
        "subjects_alerted",
        "latency_ms_p50",
        "latency_ms_p95",
        "events",
        "chain_verified",
    ):
        assert key in result
    _assert_invariants(result)
    assert "lfr audit verify" in proc.stderr
    # what the demo leaves is what `lfr audit` reads
    for args in (["verify"], ["export"]):
        audit = subprocess.run(
            [
                sys.executable,
                "-c",
                "from lfr.cli import main; main()",
                "audit",
                *args,
                "--data-dir",
                str(tmp_path / "data"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert audit.returncode == 0, audit.stderr[-2000:]
        if args == ["export"]:
            assert len(audit.stdout.strip().splitlines()) == result["events"]
    assert (tmp_path / "data" / "telemetry.jsonl").stat().st_size > 0


def test_refuses_a_used_data_dir(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        anyio.run(run_demo, DemoOptions(data_dir=tmp_path), PlainUI(quiet=True))


def test_refuses_too_short_a_scenario(tmp_path):
    with pytest.raises(ConfigError, match="at least 20"):
        anyio.run(run_demo, DemoOptions(seconds=5, data_dir=tmp_path / "d"), PlainUI(quiet=True))


def test_a_gallery_without_enough_people_says_what_to_add(tmp_path):
    import shutil

    from lfr.config import settings

    gallery = tmp_path / "gallery"
    for person in ("Barack_Obama", "Joe_Biden"):
        shutil.copytree(settings().faces_dir / person, gallery / person)
    opts = DemoOptions(seconds=20, data_dir=tmp_path / "d", gallery=gallery)
    with pytest.raises(ConfigError, match="two or more clear photos"):
        anyio.run(run_demo, opts, PlainUI(quiet=True))


def test_metrics_cover_analysis_drops_mailboxes_and_latency(traced_run):
    result, _, metrics, *_ = traced_run
    points: dict[str, list] = defaultdict(list)
    for rm in metrics.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                points[m.name].extend(m.data.data_points)
    analysed = {p.attributes["camera"]: p.value for p in points["lfr.camera.frames.analysed"]}
    assert set(analysed) == {"ne-1", "ne-2", "lr-1", "lr-2"}
    assert sum(analysed.values()) == result["frames_analysed"]
    assert {p.attributes["camera"] for p in points["lfr.camera.analysed_fps"]} == set(analysed)
    actors = {p.attributes["actor"] for p in points["lfr.kernel.mailbox.depth"]}
    assert {"zone:north-end", "camera:ne-1", "patrol:p-lr-1"} <= actors
    assert sum(p.count for p in points["lfr.alert.delivery"]) == result["alerts"]


def test_the_cli_hands_every_option_to_the_demo(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import lfr.demo
    from lfr.cli import app

    seen: list[DemoOptions] = []

    async def record(opts: DemoOptions, ui: object) -> dict:
        seen.append(opts)
        raise ConfigError("stop here")

    monkeypatch.setattr(lfr.demo, "run_demo", record)
    args = ["demo", "--no-tui", "--seconds", "42", "--data-dir", str(tmp_path / "d")]
    args += ["--seed", "3", "--threshold", "0.55", "--analyse-fps", "7"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "stop here" in result.output
    (opts,) = seen
    assert (opts.seconds, opts.seed, opts.threshold, opts.analyse_fps) == (42, 3, 0.55, 7)
    assert opts.data_dir == tmp_path / "d"


def test_a_month_after_the_demo_retention_leaves_nothing_of_anyone(traced_run, tmp_path):
    """Issue 14's target: after `lfr demo` and `lfr retention run --now <+32 days>`, no crop
    or key decrypts, no photo of anyone the demo enrolled is anywhere under the data
    directory, no watchlist entry is left, the log, views, vault and watchlists name nobody,
    the log verifies and its export shows every erasure."""
    import shutil
    from datetime import UTC, datetime, timedelta

    from typer.testing import CliRunner

    from lfr.cli import app
    from lfr.config import settings
    from lfr.sealing import Sealer
    from lfr.vault import BiometricVault
    from lfr.watchlist import WatchlistStore

    _, _, _, data_dir, *_ = traced_run
    site = tmp_path / "site"
    shutil.copytree(data_dir, site)  # the other tests keep reading the demo's own

    # who the demo alerted on (opened with the vault's keys), and every photo of them
    log = SqliteLog(site / LOG_FILE, read_only=True)
    try:
        records = log.read_records()
    finally:
        log.close()
    vault = BiometricVault.for_data_dir(site)
    sealer = Sealer(vault)
    labels = {
        sealer.open_fields_sync("AlertRaised", r["payload"]["sealed"]).fields["subject_label"]
        for r in records
        if r["type"] == "AlertRaised"
    }
    blobs = [r[0] for r in vault._conn.execute("SELECT blob_id FROM keys WHERE key IS NOT NULL")]
    vault.close()
    identities = {label.replace(" ", "_") for label in labels}
    photos = [
        p.read_bytes()
        for p in settings().shared.rglob("*")
        if p.is_file() and p.parent.name in identities and p.suffix.lower() in (".jpg", ".png")
    ]
    assert labels and photos and blobs  # the demo alerted, enrolled photos and kept crops

    later = (datetime.now(UTC) + timedelta(days=32)).isoformat()
    runner = CliRunner()
    out = runner.invoke(
        app, ["retention", "run", "--now", later, "--json", "--data-dir", str(site)]
    )
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["crops"] > 0 and summary["sealed_field_keys"] > 0

    vault = BiometricVault.for_data_dir(site)
    try:
        assert not any(vault.exists_sync(b) for b in blobs), "a crop, photo or key decrypts"
    finally:
        vault.close()
    for name in WatchlistStore.names(site / "watchlist"):
        assert WatchlistStore(site / "watchlist", name).entries() == []
    files = [p for p in site.rglob("*") if p.is_file()]
    for photo in photos:
        window = photo[len(photo) // 2 : len(photo) // 2 + 64]
        assert not [p for p in files if window in p.read_bytes()], "a photo's bytes are left"
    # (the demo's report, html and json, names the alerted subjects: it is the demo's output)
    stores = [p for p in files if p.stem != "report"]
    for label in labels:
        named = [p for p in stores if label.encode() in p.read_bytes()]
        assert not named, f"{label!r} still named in {named}"

    verified = runner.invoke(app, ["audit", "verify", "--data-dir", str(site)])
    assert verified.exit_code == 0, verified.output
    exported = runner.invoke(app, ["audit", "export", "--data-dir", str(site)])
    records = [json.loads(x) for x in exported.stdout.splitlines() if x.startswith("{")]
    personal = [
        r for r in records if r["type"] in ("FaceMatched", "AlertRaised", "WatchlistEntryAdded")
    ]
    assert personal and all("erased" in r for r in personal)
