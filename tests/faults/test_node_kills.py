"""kill -9 of a camera node and of the core node mid-stream, then restart (issue 16).

A two-node site as two real OS processes (`NODE`, run with `sys.executable -c`): the edge
node `edge-1` runs camera ne-1 (`scripted:` source at 20 fps, Alice in one frame of
`ALICE_EVERY`, no face in the others; the scripted recogniser, the per-frame decider), the
core node runs zone north-end and patrol p-1. They reach each other over NATS (a fresh site
name, so fresh subjects) and append to ONE fresh JetStream stream, one log (`[store] engine
= "nats"`), deleted at the end. Both read one watchlist the test published. The core's
first start authorises a deployment and checks the patrol in (the `arm` flag, first start
only); its restart finds both in the log. The arming lease is `LEASE_S`.

Scenario: both nodes started; once the camera analyses (a `FaceMatched` in the log), the
edge is SIGKILLed, left dead `EDGE_DOWN_S`, restarted; once it analyses again, the core is
SIGKILLed `IN_FLIGHT_KILL_S` after a match, while its report to the zone is on its way (a
match every half second), left dead `CORE_DOWN_S` (past the lease, and past the link's tell
timeout, so a report to the dead zone is dropped), restarted; once the camera
analyses again the site runs `TAIL_S` more, then both nodes are stopped (SIGTERM: each
closes its site and signs the log's tail). Then, on the whole log:

1. `lfr audit verify --engine nats` passes (chain, rows, every signed checkpoint);
2. nothing duplicated or lost: event ids unique, one `FaceMatched` per match id and per
   frame (`frame_at`: a match per Alice frame), seqs gapless from 1, every stream's versions
   gapless from 1, and every record read before each kill is still there unchanged (hash);
3. each gap is visible in the log:

   * the edge's (its process, and so its camera, dead): the camera's stream holds no event
     dated inside the outage, and the restarted camera's first event is a second
     `CameraStreamStarted` (the camera records one each time its video starts; a killed
     process records nothing, so neither `CameraStreamLost` nor a last discard count): in
     camera:ne-1, analysis events, a hole of at least `EDGE_DOWN_S`, `CameraStreamStarted`,
     analysis again;
   * the core's: the camera's `CameraLeaseLapsed` (one, dated within the bound after the
     kill, its `silent_s` at least the lease), after the discard counts it flushed on
     disarming (a `FrameDiscarded` whose `window_end` is its last analysed frame), then a
     hole in the camera's analysis events of at least `CORE_DOWN_S` - lease, until frames
     analysed after the restart. The zone and patrol streams hold no event dated inside the
     outage: the restarted zone folds its stream, finds its deployment still armed (no
     `DeploymentDisarmed` was written) and a patrol on duty, appends nothing and re-sends
     `Arm`;
4. the arming invariant: every analysis event comes after the one `DeploymentArmed`, for
   its deployment, and no `DeploymentDisarmed` exists; no frame is analysed while the edge
   is dead; after the core's kill no frame is analysed (a `FaceMatched`'s `frame_at`, a
   `FrameDiscarded`'s `window_end`, nor an analysis event dated) later than kill + lease +
   the watchdog's quarter second + `IN_FLIGHT_S` until the restarted core's process
   started. The measured disarm delay (last frame analysed, and the discard flush, after
   the kill) is printed.

Why a match in flight: the camera tells its zone of each match at least once, retrying for
the link's tell timeout (`ask_timeout_s`, 5 s here). That report once held the camera's
frame loop, so a camera whose zone died mid-report read no video and flushed its lease
disarm 4-5 s after the kill, past the bound; the camera now reports from its own task, in
order, and the bound holds with a report stuck on the dead zone.

Both nodes open the fresh stream together: each may find it empty and race to write the
log's identity; they must agree on it (else checkpoints of "another log" fail verify).

About 25 s on 2 busy cores (generous waits, each on a polled condition, `WAIT_S` at most).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from lfr.store.nats import NatsLogReader
from lfr.testing.gallery import identity_vector
from lfr.watchlist import WatchlistEntry, WatchlistStore

pytestmark = [
    pytest.mark.faults,
    pytest.mark.nats,
    pytest.mark.blocking_ok("starts, kills and waits for the node processes; reads their files"),
]

ROOT = Path(__file__).resolve().parents[2]
LFR = str(Path(sys.executable).parent / "lfr")
NATS = "nats://127.0.0.1:4222"
LEASE_S = 1.5
WATCHDOG_S = 0.25  # the camera checks its lease every quarter second
IN_FLIGHT_S = 0.5  # the frame in flight when the lease lapses, and scheduling on busy cores
BOUND_S = LEASE_S + WATCHDOG_S + IN_FLIGHT_S
EDGE_DOWN_S = 1.0
CORE_DOWN_S = 8.0  # past the lease and the tell timeout: a report to the dead zone is dropped
TAIL_S = 2.0
WAIT_S = 30.0  # the most any one condition is waited for (a node's start on busy cores)
ANALYSIS = ("FaceMatched", "FrameDiscarded")
FPS = 20
ALICE_EVERY = 10  # frames: a match every half second, no face in the others
IN_FLIGHT_KILL_S = 0.2  # the core is killed this long after a match is in the log

NODE = r"""
import json, logging, signal, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from actors.site import SiteOverrides, open_site
from lfr.alerts import InMemoryAlertSink
from lfr.catalog import WatchlistStoreCatalog
from lfr.site import SiteConfig
from lfr.watchlist import WatchlistStore

node, config_json, data_dir, watchlist_dir, dim, version, arm = sys.argv[1:8]
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
config = SiteConfig.model_validate(json.loads(config_json))


async def main():
    watchlists = await anyio.to_thread.run_sync(
        lambda: WatchlistStore(Path(watchlist_dir), dim=int(dim))
    )
    overrides = SiteOverrides(
        data_dir=Path(data_dir),
        catalog=WatchlistStoreCatalog(watchlists),
        sink=InMemoryAlertSink(),
        node=node,
        ask_timeout_s=5,
    )
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_site(config, overrides) as site:
            if arm == "arm":
                now = datetime.now(UTC)
                await site.authorise_deployment(
                    "north-end",
                    starts_at=now - timedelta(minutes=1),
                    ends_at=now + timedelta(hours=1),
                    watchlist_version=version,
                    threshold=0.6,
                    legal_basis="PACE s.24",
                    reason="wanted offenders",
                    authorised_by="Supt 1",
                )
                await site.check_in("p-1", "north-end", ("PC Khan", "PC Jones"))
            print("ready", flush=True)
            async for _ in signals:
                break
    print("stopped", flush=True)


anyio.run(main)
"""


def _config(site: str, stream: str, prefix: str) -> dict[str, Any]:
    return {
        "name": site,
        "zones": [{"name": "north-end"}],
        "cameras": [
            {
                "id": "ne-1",
                "zone": "north-end",
                "source": "scripted:alice" + "," * (ALICE_EVERY - 1),
                "analyse_fps": FPS,
            }
        ],
        "patrols": [{"id": "p-1"}],
        "vision": {"recogniser": "scripted", "decider": "per_frame", "crop_vault": False},
        "retention": {"enabled": False},
        "nodes": [
            {"name": "edge-1", "cameras": ["ne-1"]},
            {"name": "core", "zones": ["north-end"], "patrols": ["p-1"]},
        ],
        "cluster": {"arming_lease_s": LEASE_S, "request_timeout_s": 0.5},
        "store": {"engine": "nats", "url": NATS, "stream": stream, "prefix": prefix},
    }


def _publish(watchlist_dir: Path) -> tuple[int, str]:
    vector = identity_vector("alice")
    store = WatchlistStore(watchlist_dir, dim=len(vector))
    store.add(
        WatchlistEntry(
            "entry-alice-7",
            "Alice Example",
            "suspect",
            "PACE",
            "custody record 7",
            "manager-1",
            datetime.now(UTC) + timedelta(days=7),
            vector,
        )
    )
    return len(vector), store.publish("manager-1").version


@dataclass
class Node:
    """One node's process: started (again) with `start`, its output in files."""

    name: str
    args: list[str]
    tmp: Path
    runs: int = 0
    proc: subprocess.Popen[bytes] | None = None
    started_at: list[float] = field(default_factory=list)

    @property
    def out(self) -> Path:
        return self.tmp / f"{self.name}.{self.runs}.out"

    @property
    def err(self) -> Path:
        return self.tmp / f"{self.name}.{self.runs}.err"

    def start(self, *extra: str) -> None:
        self.runs += 1
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.started_at.append(time.time())
            self.proc = subprocess.Popen(
                [sys.executable, "-c", NODE, self.name, *self.args, *extra],
                stdout=out,
                stderr=err,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def said(self, word: str) -> bool:
        return word in self.out.read_text().split()

    def tail(self) -> str:
        return f"{self.name} run {self.runs}: ...{self.err.read_text()[-3000:]}"

    def kill(self) -> float:
        """SIGKILL; the time it was sent."""
        assert self.proc is not None and self.alive(), self.tail()
        self.proc.send_signal(signal.SIGKILL)
        at = time.time()
        assert self.proc.wait(10) == -signal.SIGKILL
        return at

    async def stop(self) -> None:
        assert self.proc is not None and self.alive(), self.tail()
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + WAIT_S
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"{self.name} did not stop: {self.tail()}"
            await anyio.sleep(0.05)
        assert self.proc.returncode == 0 and self.said("stopped"), self.tail()

    def reap(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)


class Log:
    """The shared log as the test reads it while the nodes run (read-only: signs nothing)."""

    def __init__(self, reader: NatsLogReader) -> None:
        self.reader = reader
        self.records: list[dict[str, Any]] = []

    async def poll(self) -> list[dict[str, Any]]:
        self.records += await self.reader.read_records(from_seq=len(self.records) + 1)
        return self.records

    async def wait_for(
        self, what: str, found: Callable[[dict[str, Any]], bool], nodes: list[Node]
    ) -> dict[str, Any]:
        """The first record (from the start) that `found` accepts, polled for up to WAIT_S."""
        deadline = time.monotonic() + WAIT_S
        while True:
            for rec in await self.poll():
                if found(rec):
                    return rec
            for node in nodes:
                assert node.alive(), f"waiting for {what}: {node.tail()}"
            assert time.monotonic() < deadline, f"no {what} within {WAIT_S} s"
            await anyio.sleep(0.1)


async def _ready(node: Node) -> None:
    deadline = time.monotonic() + WAIT_S
    while not node.said("ready"):
        assert node.alive(), node.tail()
        assert time.monotonic() < deadline, f"{node.name} not ready in {WAIT_S} s: {node.tail()}"
        await anyio.sleep(0.05)


def _at(rec: dict[str, Any], key: str = "occurred_at") -> float:
    value = rec["payload"][key] if key != "occurred_at" else rec[key]
    return datetime.fromisoformat(value).timestamp()


def _analysed(rec: dict[str, Any]) -> float:
    """When the frame(s) an analysis event reports were analysed (the latest of them)."""
    if rec["type"] == "FaceMatched":
        return _at(rec, "frame_at")
    return _at(rec, "window_end") if rec["payload"].get("window_end") else _at(rec)


def _began(rec: dict[str, Any]) -> float:
    """When the first frame an analysis event reports was analysed."""
    if rec["type"] == "FaceMatched":
        return _at(rec, "frame_at")
    return _at(rec, "window_start") if rec["payload"].get("window_start") else _at(rec)


def _is_analysis(rec: dict[str, Any]) -> bool:
    return rec["stream"] == "camera:ne-1" and rec["type"] in ANALYSIS


async def _delete_stream(stream: str) -> None:
    import nats

    nc = await nats.connect(NATS)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:  # noqa: BLE001 (never created, or already gone)
        pass
    finally:
        await nc.close()


async def test_kill_9_of_the_camera_node_and_of_the_core_node_mid_stream(
    tmp_path: Path,
) -> None:
    import nats
    from nats.js.api import StorageType, StreamConfig

    tag = uuid.uuid4().hex[:10]
    site, stream, prefix = f"k{tag}", f"LFRNODEKILL_{tag}", f"lfrnodekill.{tag}"
    dim, version = await anyio.to_thread.run_sync(_publish, tmp_path / "watchlist")
    config = json.dumps(_config(site, stream, prefix))

    def node(name: str) -> Node:
        data = str(tmp_path / name)
        return Node(name, [config, data, str(tmp_path / "watchlist"), str(dim), version], tmp_path)

    edge, core = node("edge-1"), node("core")
    nc = await nats.connect(NATS)
    await nc.jetstream().add_stream(  # empty: the nodes race to write its identity
        StreamConfig(
            name=stream, subjects=[f"{prefix}.>"], storage=StorageType.FILE, duplicate_window=120.0
        )
    )
    log = Log(await NatsLogReader.attach(nc, stream))
    started = time.monotonic()
    try:
        core.start("arm")
        edge.start("-")
        await _ready(core)
        await _ready(edge)
        both = [edge, core]
        await log.wait_for("a first match", lambda r: r["type"] == "FaceMatched", both)
        await anyio.sleep(1.5)

        # --- the edge (camera) node: kill -9, dead EDGE_DOWN_S, restarted -----------------
        before_edge_kill = list(await log.poll())
        edge_killed = edge.kill()
        await anyio.sleep(EDGE_DOWN_S)
        edge.start("-")
        edge_restarted = edge.started_at[-1]
        await _ready(edge)
        await log.wait_for(
            "a match after the edge's restart",
            lambda r: r["type"] == "FaceMatched" and _analysed(r) > edge_restarted,
            both,
        )
        await anyio.sleep(1.0)

        # --- the core node: kill -9, dead CORE_DOWN_S (past the lease), restarted ---------
        # with a match's report to the zone on its way (see the docstring)
        seen = len(await log.poll())
        await log.wait_for(
            "a fresh match", lambda r: r["type"] == "FaceMatched" and r["seq"] > seen, both
        )
        await anyio.sleep(IN_FLIGHT_KILL_S)
        before_core_kill = list(log.records)
        core_killed = core.kill()
        await anyio.sleep(CORE_DOWN_S)
        core.start("-")
        core_restarted = core.started_at[-1]
        await _ready(core)
        await log.wait_for(
            "a match after the core's restart",
            lambda r: r["type"] == "FaceMatched" and _analysed(r) > core_restarted,
            both,
        )
        await anyio.sleep(TAIL_S)
        await edge.stop()
        await core.stop()
        run_s = time.monotonic() - started
        records = list(await log.poll())

        # --- 1. the log verifies ---------------------------------------------------------
        verify = await anyio.run_process(
            [LFR, "audit", "verify", "--engine", "nats", "--nats-url", NATS]
            + ["--stream", stream, "--json"],
            check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        out = verify.stdout.decode()
        assert verify.returncode == 0, out + verify.stderr.decode()
        result = json.loads(out.strip().splitlines()[-1])
        assert result["ok"] and result["events"] == len(records), result
    finally:
        edge.reap()
        core.reap()
        await nc.close()
        await _delete_stream(stream)

    # --- 2. nothing duplicated, nothing lost ---------------------------------------------
    ids = Counter(r["event_id"] for r in records)
    assert not {i: n for i, n in ids.items() if n > 1}, "an event stored twice"
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1)), "a gap in the seqs"
    versions: dict[str, int] = {}
    for r in records:
        versions[r["stream"]] = versions.get(r["stream"], 0) + 1
        assert r["stream_version"] == versions[r["stream"]], f"{r['stream']}: a version gap"
    for before in (before_edge_kill, before_core_kill):
        assert [r["hash"] for r in records[: len(before)]] == [r["hash"] for r in before], (
            "an event read before a kill changed or went missing"
        )
    matches = [r for r in records if r["type"] == "FaceMatched"]
    assert len({r["payload"]["match_id"] for r in matches}) == len(matches)
    frames = Counter(r["payload"]["frame_at"] for r in matches)
    assert not {f: n for f, n in frames.items() if n > 1}, "one frame matched twice"

    # --- 3. the gaps, as the log shows them ----------------------------------------------
    camera = [r for r in records if r["stream"] == "camera:ne-1"]
    starts = [r for r in camera if r["type"] == "CameraStreamStarted"]
    assert len(starts) == 2, [r["type"] for r in camera]
    assert _at(starts[0]) < edge_killed < edge_restarted < _at(starts[1])
    during_edge = [r for r in camera if edge_killed < _at(r) < edge_restarted]
    assert not during_edge, f"camera events while its node was dead: {during_edge}"
    (first_after_kill, *_) = [r for r in camera if _at(r) > edge_killed]
    assert first_after_kill is starts[1], "the restarted camera began with something else"
    after_edge = [r for r in camera if r["seq"] > starts[1]["seq"]]
    first_after = camera.index(starts[1])
    last_before_edge = max(_analysed(r) for r in camera[:first_after] if _is_analysis(r))
    assert last_before_edge < edge_killed
    assert all(_at(r) > edge_restarted for r in after_edge)
    assert not [r for r in camera if r["type"] in ("CameraStreamLost", "CameraStreamRecovered")]
    core_streams = [r for r in records if r["stream"] in ("zone:north-end", "patrol:p-1")]
    during_core = [r for r in core_streams if core_killed < _at(r) < core_restarted]
    assert not during_core, f"zone/patrol events while the core was dead: {during_core}"
    (lapsed,) = [r for r in camera if r["type"] == "CameraLeaseLapsed"]
    assert core_killed < _at(lapsed) < core_killed + BOUND_S, "the lapse is not marked in time"
    assert lapsed["payload"]["silent_s"] >= LEASE_S and lapsed["payload"]["lease_s"] == LEASE_S
    assert not [r for r in records if r["type"] == "ActorRestarted"], "an actor crashed"

    # --- 4. the arming invariant -----------------------------------------------------------
    (armed,) = [r for r in records if r["type"] == "DeploymentArmed"]
    (authorised,) = [r for r in records if r["type"] == "DeploymentAuthorised"]
    assert not [r for r in records if r["type"] == "DeploymentDisarmed"]
    deployment = authorised["payload"]["deployment_id"]
    analysis = [r for r in camera if _is_analysis(r)]
    assert analysis and min(r["seq"] for r in analysis) > armed["seq"]
    assert {r["payload"]["deployment_id"] for r in analysis} == {deployment}
    while_edge_dead = [
        r for r in analysis if _analysed(r) > edge_killed and _began(r) < edge_restarted
    ]
    assert not while_edge_dead, "frames analysed while the camera's node was dead"
    bound = core_killed + BOUND_S
    # from the bound to the restart of the core's process: no frame analysed, no analysis
    # event dated; the last frames before (and the counts flushed as the lease lapsed) inside
    past = [
        r
        for r in analysis
        if (_analysed(r) > bound and _began(r) < core_restarted) or bound < _at(r) < core_restarted
    ]
    assert not past, (
        f"analysed past the bound (kill + {BOUND_S} s) with the core dead: "
        f"{[(r['type'], _began(r) - core_killed, _analysed(r) - core_killed) for r in past]}"
        f" (first and last frame, s after the kill)"
    )
    before_restart = [r for r in analysis if _analysed(r) < core_restarted]
    last_frame = max(_analysed(r) for r in before_restart)
    flushed = max(_at(r) for r in before_restart)
    assert last_frame > core_killed, "the camera stopped before the core was killed"
    after_restart = [r for r in analysis if _began(r) > core_restarted]
    assert after_restart, "the camera was not armed again after the core's restart"
    again = min(_began(r) for r in after_restart)
    assert again - last_frame >= CORE_DOWN_S - BOUND_S, "no hole in the analysis"
    edge_again = min(_began(r) for r in after_edge if _is_analysis(r))
    print(
        f"\nnode kills: {len(records)} events (seq 1..{len(records)}), {len(matches)} matches, "
        f"lost 0, duplicated 0, verified; run {run_s:.1f} s. Edge dead "
        f"{edge_restarted - edge_killed:.2f} s, its camera analysing again "
        f"{edge_again - edge_restarted:.2f} s after its restart. Core killed: last frame "
        f"analysed {last_frame - core_killed:.2f} s after, counts flushed "
        f"{flushed - core_killed:.2f} s after (bound {BOUND_S} s); core restarted "
        f"{core_restarted - core_killed:.2f} s after the kill, the camera analysing again "
        f"{again - core_restarted:.2f} s after that (a hole of {again - last_frame:.2f} s)"
    )
