"""`lfr demo --nodes 3`: the town centre as three OS processes (the demo as the core node,
two camera-node children) linked by NATS and appending to one JetStream log. The same
scenario, the same alerts, the same invariants, a log that verifies, the camera events
appended by the children themselves, and no child left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from lfr.demo.nodes import CORE, EDGES, DemoNodeError, demo_nodes, three_node_config
from lfr.demo.scenario import CAMERAS, ZONES
from lfr.demo.site import demo_site_config
from lfr.store.config import StoreConfig

pytestmark = [pytest.mark.nats]

SECONDS = 30.0
NATS = "nats://127.0.0.1:4222"


def _cli(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lfr.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


async def _delete_stream(stream: str) -> None:
    import nats

    nc = await nats.connect(NATS)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:  # noqa: BLE001 (never created, or already gone)
        pass
    finally:
        await nc.close()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def _expected_alerts(data_dir: Path) -> set[tuple[str, str]]:
    """(zone, subject) of every watchlisted walk the scenario puts in front of an armed
    camera: all but London Road's last, after its patrol left (the seed fixes the street)."""
    manifest = json.loads((data_dir / "scenes" / "manifest.json").read_text())
    walks = [
        (CAMERAS[clip["name"]], a["first_frame"], a["identity"].replace("_", " "))
        for clip in manifest["clips"]
        for a in clip["appearances"]
        if a["watchlisted"]
    ]
    after_checkout = max(w for w in walks if w[0] == "london-road")
    return {(zone, who) for zone, at, who in walks if (zone, at, who) != after_checkout}


@pytest.fixture(scope="module")
def three_nodes(tmp_path_factory, scene_cache) -> dict[str, Any]:
    """One `lfr demo --nodes 3` run (no --engine: it chooses NATS itself)."""
    tmp = tmp_path_factory.mktemp("nodes")
    env = {**os.environ, "HOME": str(tmp / "home")}
    # the CLI caches scenes under ~/.cache/lfr/scenes: point it at the shared test cache
    (tmp / "home" / ".cache" / "lfr").mkdir(parents=True)
    (tmp / "home" / ".cache" / "lfr" / "scenes").symlink_to(scene_cache)
    env.setdefault("LFR_MODEL_DIR", os.path.expanduser("~/.cache/lfr/models"))
    stream = f"LFR_TEST_NODES_{uuid.uuid4().hex[:10]}"
    data_dir = tmp / "data"
    try:
        proc = _cli(
            "demo",
            "--nodes",
            "3",
            "--seconds",
            str(SECONDS),
            "--no-tui",
            "--json",
            "--stream",
            stream,
            "--data-dir",
            str(data_dir),
            env=env,
            timeout=240,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        where = ["--engine", "nats", "--nats-url", NATS, "--stream", stream]
        verify = _cli("audit", "verify", *where, env=env, timeout=60)
        export = _cli("audit", "export", *where, env=env, timeout=60)
        children = {
            node: json.loads((data_dir / "nodes" / f"{node}.json").read_text()) for node in EDGES
        }
        yield {
            "proc": proc,
            "result": result,
            "data_dir": data_dir,
            "verify": verify,
            "records": [json.loads(line) for line in export.stdout.splitlines()],
            "export": export,
            "children": children,
        }
    finally:
        anyio.run(_delete_stream, stream)


@pytest.mark.slow
@pytest.mark.models
@pytest.mark.timeout(300)
@pytest.mark.blocking_ok("reads what the demo's processes left behind")
def test_three_processes_run_the_scenario_with_its_invariants(three_nodes) -> None:
    result, proc = three_nodes["result"], three_nodes["proc"]
    assert "--nodes 3" in proc.stderr and "JetStream" in proc.stderr  # said it chose NATS
    assert result["nodes"] == 3
    assert result["chain_verified"] is True
    assert result["false_alerts"] == 0
    assert result["true_alerts"] == result["alerts"] == result["subjects_walked"] >= 4
    assert result["subjects_alerted"] == result["subjects_walked"]
    assert result["subjects_walked_while_disarmed"] == 1  # London Road after its patrol left
    assert result["frames_analysed_while_disarmed"] == 0
    assert result["watchlist_purged"] is True
    assert len(result["deployments_armed"]) == 2
    # the children's analyses reached the report: every frame the log counts was seen
    assert result["frames_analysed"] >= result["frames_discarded"] > 0
    assert result["frames_seen_by_analysis"] == result["frames_analysed"]
    assert result["latency_ms_p95"] is not None
    # the core's dashboard counts the children's cameras too (it asks them over NATS)
    status = [line for line in proc.stderr.splitlines() if "cameras: " in line][-1]
    for camera in ("ne-1", "ne-2", "lr-1", "lr-2"):
        analysed = int(status.split(f"{camera}: ")[1].split(" analysed")[0])
        assert analysed > 0, status


@pytest.mark.slow
@pytest.mark.models
@pytest.mark.blocking_ok("reads what the demo's processes left behind")
def test_the_same_alerts_as_one_process(three_nodes) -> None:
    """The seed fixes the street: one alert per (zone, subject) walked past armed cameras,
    as the one-process demo raises them (tests/demo/test_demo.py holds it to the same)."""
    data_dir = three_nodes["data_dir"]
    report = json.loads((data_dir / "report.json").read_text())
    alerted = {(d["zone"], a["subject_label"]) for d in report["deployments"] for a in d["alerts"]}
    assert alerted == _expected_alerts(data_dir)
    assert len(alerted) == three_nodes["result"]["alerts"]


@pytest.mark.slow
@pytest.mark.models
@pytest.mark.blocking_ok("reads what the demo's processes left behind")
def test_one_log_written_by_three_processes_verifies(three_nodes) -> None:
    result, records = three_nodes["result"], three_nodes["records"]
    assert three_nodes["verify"].returncode == 0, three_nodes["verify"].stderr[-2000:]
    assert three_nodes["export"].returncode == 0, three_nodes["export"].stderr[-2000:]
    assert len(records) == result["events"]
    pids = result["node_pids"]
    assert len(set(pids.values())) == 3 and set(pids) == {CORE, *EDGES}
    written: dict[str, set[int]] = {}
    for node, child in three_nodes["children"].items():
        assert child["node"] == node and child["pid"] == pids[node]
        written[node] = set(child["seqs_appended"])
        assert child["events_appended"] == len(written[node]) > 0
    # each camera's events were appended by the child hosting its zone's cameras, and only
    # those: the core appended every other event
    stream_of = {r["seq"]: r["stream"] for r in records}
    for node, zone in EDGES.items():
        own = {f"camera:{c}" for c in ZONES[zone][1]}
        assert {stream_of[s] for s in written[node]} == own
        assert written[node] == {s for s, st in stream_of.items() if st in own}
    by_node = result["events_by_node"]
    assert by_node == {
        CORE: result["events"] - sum(len(w) for w in written.values()),
        **{n: len(w) for n, w in written.items()},
    }
    assert all(n > 0 for n in by_node.values())
    types = {
        r["type"] for s, r in zip(stream_of, records, strict=True) if s in written["edge-north"]
    }
    assert {"CameraStreamStarted", "FaceMatched", "FrameDiscarded"} <= types


@pytest.mark.slow
@pytest.mark.models
@pytest.mark.blocking_ok("reads what the demo's processes left behind")
def test_no_child_outlives_the_demo_and_their_logs_are_kept(three_nodes) -> None:
    data_dir = three_nodes["data_dir"]
    for node, child in three_nodes["children"].items():
        assert not _alive(child["pid"]), f"{node} (pid {child['pid']}) still runs"
        log = (data_dir / "nodes" / f"{node}.log").read_text()
        assert f"node {node} of site" in log and "stopping" in log
        assert three_nodes["result"]["node_logs"][node] == str(data_dir / "nodes" / f"{node}.log")


def test_three_nodes_place_each_zones_cameras_on_its_own_node() -> None:
    config = demo_site_config({c: f"rtsp://127.0.0.1:1/{c}" for c in CAMERAS}, 5.0, 1)
    store = StoreConfig(engine="nats", url=NATS, stream="LFR_X")
    placed = three_node_config(config, store, run_id="r1")
    assert placed.name == "town-centre-r1" and placed.store == store
    assert placed.cluster.url == NATS
    assert {n.name: n.actors() for n in placed.nodes} == {
        "edge-north": {"camera:ne-1", "camera:ne-2"},
        "edge-london": {"camera:lr-1", "camera:lr-2"},
        "core": {
            "zone:north-end",
            "zone:london-road",
            "patrol:p-ne-1",
            "patrol:p-ne-2",
            "patrol:p-lr-1",
        },
    }
    assert placed.cameras == config.cameras and placed.patrols == config.patrols


def _flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [e for sub in exc.exceptions for e in _flatten(sub)]
    return [exc]


async def test_a_camera_node_that_dies_fails_the_demo_and_none_is_left(tmp_path: Path) -> None:
    """A child that cannot start (here: no watchlist enrolled in the data directory) fails
    the demo with its log's tail; no child is left running."""
    stream = f"LFR_TEST_NODES_{uuid.uuid4().hex[:10]}"
    store = StoreConfig(engine="nats", url=NATS, stream=stream)
    config = demo_site_config({c: f"rtsp://127.0.0.1:1/{c}" for c in CAMERAS}, 5.0, 1)
    started = None
    try:
        with pytest.raises(BaseException) as info:
            async with demo_nodes(3, config, store=store, data_dir=tmp_path) as nodes:
                started = nodes
                with anyio.fail_after(120):
                    await nodes.go(datetime.now(UTC))
    finally:
        await _delete_stream(stream)
    errors = _flatten(info.value)
    assert errors and all(isinstance(e, DemoNodeError) for e in errors), errors
    assert any("no watchlist in" in str(e) and "its log" in str(e) for e in errors), errors
    assert started is not None and len(started.children) == 2
    for child in started.children:
        assert child.process.returncode is not None
        assert not _alive(child.process.pid)


def test_the_cli_refuses_other_node_counts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lfr.cli import app

    out = CliRunner().invoke(app, ["demo", "--nodes", "2", "--data-dir", str(tmp_path / "d")])
    assert out.exit_code != 0 and "--nodes 2" in out.output
