"""`lfr demo --nodes 3`: the same town centre as three OS processes on one machine.

    demo process = node `core`: zones, patrols, views, alert services (embedded broker),
                   officers, the script, the dashboard and the report
    child `edge-north`:  North End's cameras  (python -m lfr.demo.nodes, `lfr.demo.nodes.edge`)
    child `edge-london`: London Road's cameras

Every node runs the one composition root (`actors.site.open_site`) with the config's
`[[nodes]]` placement, reaches the others over the `[cluster]` NATS (request/reply, arming
by lease) and appends to the same JetStream stream (several writers on one chain). The edges
read the RTSP streams the demo serves on loopback, the watchlists the demo enrolled
(`<data_dir>/watchlist`) and keep match crops and sealed fields' keys in the same vault
(`<data_dir>/vault`), so the core's report opens what they wrote.

The time line with children (`DemoNodes`): they are spawned before the core opens its site
and load the face models meanwhile; once the core's site runs, `go` tells them to open theirs
(cameras connect, so the clips start together) and waits until their actors run; `stop` ends
them after the script (their cameras record their last tracks and discard counts), reads
what each observed (`<data_dir>/nodes/<node>.json`) into the demo's `Observations` and checks
they exited cleanly. A child that dies early fails the demo with its log's tail; whatever
happens, the context manager leaves no child running (stdin closed, then SIGTERM, then
SIGKILL). Each child's log is `<data_dir>/nodes/<node>.log`.

Control protocol on the child's stdin/stdout (lines): the child says `lfr-node loaded`
(models, log, vault and watchlists open), waits for `go`, says `lfr-node ready` once its
site runs, and stops when its stdin closes (the parent stopping or dying) or on SIGTERM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from lfr.demo.parts import TimedRecogniser
from lfr.demo.site import Observations
from lfr.errors import ConfigError, LfrError
from lfr.site import SiteConfig
from lfr.store.config import StoreConfig

if TYPE_CHECKING:
    from lfr.vision.pipeline import FacePipeline

__all__ = [
    "CORE",
    "EDGES",
    "NODES_DIR",
    "DemoNodeError",
    "DemoNodes",
    "check_nodes",
    "demo_nodes",
    "three_node_config",
]

CORE = "core"
#: camera node -> the zone whose cameras it hosts
EDGES: dict[str, str] = {"edge-north": "north-end", "edge-london": "london-road"}
#: under the data directory: the nodes' site config, logs and observations
NODES_DIR = "nodes"
#: what a child prints on stdout, before the step's name
SAYS = "lfr-node"

_LOAD_TIMEOUT_S = 240.0  # face models (first run: onnxruntime start), NATS, vault
_READY_TIMEOUT_S = 60.0
_STOP_GRACE_S = 30.0  # cameras record their last tracks; the log signs its tail
_TERM_GRACE_S = 5.0


class DemoNodeError(LfrError):
    """A camera node of `lfr demo --nodes 3` failed to start, died, or stopped uncleanly."""


def check_nodes(nodes: int, store: StoreConfig | None) -> None:
    """:raises ConfigError: `nodes` is not 1 or 3, or 3 without a NATS log (three processes
    append to one JetStream stream; a SQLite file has one writer)."""
    if nodes not in (1, 3):
        raise ConfigError(f"--nodes {nodes}: 1 (one process) or 3 (two camera nodes + core)")
    if nodes == 3 and (store is None or store.engine != "nats"):
        raise ConfigError("--nodes 3 keeps the log in JetStream: use the NATS engine")


def three_node_config(config: SiteConfig, store: StoreConfig, *, run_id: str) -> SiteConfig:
    """`config` placed on three nodes: one edge node per zone with that zone's cameras, the
    zones and patrols on `core`; the log on `store` (NATS), the cluster on its server. The
    site is named per run (`<name>-<run_id>`): actor subjects never meet another run's."""
    raw = config.model_dump(mode="json")
    raw.update(
        name=f"{config.name}-{run_id}",
        store=store.model_dump(mode="json"),
        cluster={"url": store.url},
        nodes=[
            *(
                {"name": node, "cameras": [c.id for c in config.cameras_of(zone)]}
                for node, zone in EDGES.items()
            ),
            {
                "name": CORE,
                "zones": [z.name for z in config.zones],
                "patrols": [p.id for p in config.patrols],
            },
        ],
    )
    return SiteConfig.model_validate(raw)


@dataclass
class _Child:
    node: str
    process: Process
    log_path: Path
    out_path: Path
    stdout: BufferedByteReceiveStream
    #: what the child reported after it stopped (`lfr.demo.nodes.edge`'s JSON)
    report: dict[str, Any] | None = None

    async def failed(self, what: str) -> DemoNodeError:
        """The error saying `what` of this child, with its log's last lines."""
        try:
            text = await anyio.Path(self.log_path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        tail = "\n".join(text.splitlines()[-25:])
        return DemoNodeError(
            f"camera node {self.node} {what}; its log ({self.log_path}) ends:\n{tail}"
        )

    async def expect(self, step: str) -> None:
        """Read the child's stdout until it says `step`."""
        while True:
            try:
                line = await self.stdout.receive_until(b"\n", 65536)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.ClosedResourceError):
                code = await self.process.wait()
                raise await self.failed(
                    f"ended before it was {step} (exit status {code})"
                ) from None
            if line.decode(errors="replace").strip() == f"{SAYS} {step}":
                return


@dataclass
class DemoNodes:
    """The demo's nodes: `config` is the site config every process runs, `core` the node
    the demo process is (None: one process, no children)."""

    config: SiteConfig
    core: str | None = None
    children: list[_Child] = field(default_factory=list)
    log: Callable[[str], None] = lambda _: None
    _stopping: bool = False

    @property
    def count(self) -> int:
        return 1 + len(self.children)

    async def go(self, site_started: datetime) -> datetime:
        """Let the children open their sites (their cameras connect now); return when they
        started (the clips' origin), once every child's actors run. One process: returns
        `site_started`.

        :raises DemoNodeError: a child died or took too long.
        """
        if not self.children:
            return site_started
        for child in self.children:
            await _within(_LOAD_TIMEOUT_S, child, "loaded", child.expect("loaded"))
        started = datetime.now(UTC)
        for child in self.children:
            assert child.process.stdin is not None
            await child.process.stdin.send(b"go\n")
        for child in self.children:
            await _within(_READY_TIMEOUT_S, child, "ready", child.expect("ready"))
            self.log(f"camera node {child.node} (pid {child.process.pid}) running")
        return started

    async def stop(self, observations: Observations, pipeline: FacePipeline) -> None:
        """Stop the children (their cameras record what they hold), check each exited
        cleanly and add what they observed to `observations`.

        :raises DemoNodeError: a child did not stop cleanly or left no report.
        """
        if not self.children:
            return
        await self._halt()
        for child in self.children:
            if child.process.returncode != 0:
                raise await child.failed(f"exited with status {child.process.returncode}")
            try:
                text = await anyio.Path(child.out_path).read_text(encoding="utf-8")
                child.report = json.loads(text)
            except (OSError, ValueError) as exc:
                raise DemoNodeError(
                    f"camera node {child.node} left no readable report at {child.out_path} ({exc})"
                ) from exc
            _merge(observations, child.report, pipeline)
            self.log(
                f"camera node {child.node} stopped: {child.report['events_appended']} events "
                f"appended to the shared log (log: {child.log_path})"
            )

    def summary(self, events: int) -> dict[str, Any]:
        """The `--json` line's part: how many nodes, and how many of the log's `events`
        each appended (the core's: the rest)."""
        if not self.children:
            return {"nodes": 1}
        by_node = {
            c.node: int(c.report["events_appended"]) if c.report else 0 for c in self.children
        }
        return {
            "nodes": self.count,
            "events_by_node": {CORE: events - sum(by_node.values()), **by_node},
            "node_pids": {CORE: os.getpid(), **{c.node: c.process.pid for c in self.children}},
            "node_logs": {c.node: str(c.log_path) for c in self.children},
        }

    async def _halt(self) -> None:
        """Stop every child still running: close its stdin (it stops itself), then SIGTERM,
        then SIGKILL. Never raises; leaves no child process behind."""
        self._stopping = True
        for child in self.children:
            if child.process.stdin is not None:
                try:
                    await child.process.stdin.aclose()
                except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
        for grace, signal_them in (
            (_STOP_GRACE_S, None),
            (_TERM_GRACE_S, _terminate),
            (_TERM_GRACE_S, _kill),
        ):
            running = [c for c in self.children if c.process.returncode is None]
            if not running:
                break
            for child in running:
                if signal_them is not None:
                    try:
                        signal_them(child.process)
                    except ProcessLookupError:
                        pass
            with anyio.move_on_after(grace):
                for child in running:
                    await child.process.wait()
        for child in self.children:
            with anyio.move_on_after(_TERM_GRACE_S):
                await child.process.aclose()  # (its pipes; it has exited by now)

    async def _watch(self, child: _Child) -> None:
        """Fail the demo when a child ends before it was asked to stop."""
        code = await child.process.wait()
        if not self._stopping:
            raise await child.failed(f"stopped during the demo (exit status {code})")


def _terminate(process: Process) -> None:
    process.terminate()


def _kill(process: Process) -> None:
    process.kill()


async def _within(seconds: float, child: _Child, step: str, waiting: Any) -> None:
    with anyio.move_on_after(seconds) as scope:
        await waiting
    if scope.cancelled_caught:
        raise await child.failed(f"was not {step} within {seconds:g} s")


def _merge(observations: Observations, report: dict[str, Any], pipeline: FacePipeline) -> None:
    """A child's observations (`lfr.demo.nodes.edge.observations_json`) into the demo's."""
    for cam, times in report["analysed"].items():
        observations.analysed.setdefault(cam, []).extend(datetime.fromisoformat(t) for t in times)
    for cam, values in report["below"].items():
        observations.below.setdefault(cam, []).extend(float(v) for v in values)
    for cam, track, at in report["decided_at"]:
        observations.decided_at[(cam, track)] = datetime.fromisoformat(at)
    timer = TimedRecogniser(pipeline)  # (the numbers only; never called)
    timer.wait_ms = [float(v) for v in report["wait_ms"]]
    timer.analyse_ms = [float(v) for v in report["analyse_ms"]]
    observations.timers.append(timer)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # two camera nodes share the machine: each gets half the cores for onnxruntime (the
    # single-process demo runs one analysis at a time on two threads)
    threads = max(1, min(2, (os.cpu_count() or 2) // 2))
    env.setdefault("LFR_VISION_INTRA_OP_THREADS", str(threads))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


async def _spawn(node: str, site_file: Path, data_dir: Path, nodes_dir: Path) -> _Child:
    log_path = nodes_dir / f"{node}.log"
    out_path = nodes_dir / f"{node}.json"
    args = [sys.executable, "-m", "lfr.demo.nodes", "--node", node]
    args += ["--site", str(site_file), "--data-dir", str(data_dir), "--out", str(out_path)]

    def open_log() -> Any:
        return log_path.open("wb")

    log_file = await anyio.to_thread.run_sync(open_log)
    try:
        process = await anyio.open_process(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            env=_child_env(),
            # its own session: a Ctrl-C at the terminal reaches the demo, which stops the
            # children in order (and a child whose parent dies sees its stdin close)
            start_new_session=True,
        )
    finally:
        await anyio.to_thread.run_sync(log_file.close)
    assert process.stdout is not None
    return _Child(node, process, log_path, out_path, BufferedByteReceiveStream(process.stdout))


@asynccontextmanager
async def demo_nodes(
    nodes: int,
    config: SiteConfig,
    *,
    store: StoreConfig | None,
    data_dir: Path,
    log: Callable[[str], None] = lambda _: None,
) -> AsyncIterator[DemoNodes]:
    """The demo's nodes for `config`: with `nodes` 1, only this process (`config` as it is);
    with 3, two camera-node children spawned now (loading their models) and the config placed
    on three nodes. On exit no child is left running.

    :raises ConfigError: `nodes` is not 1 or 3, or 3 without a NATS log.
    :raises DemoNodeError: a child died before it was asked to stop.
    """
    check_nodes(nodes, store)
    if nodes == 1:
        yield DemoNodes(config)
        return
    assert store is not None  # (check_nodes)
    placed = three_node_config(config, store, run_id=uuid.uuid4().hex[:8])
    nodes_dir = data_dir / NODES_DIR
    site_file = nodes_dir / "site.json"

    def write_site() -> None:
        nodes_dir.mkdir(parents=True, exist_ok=True)
        site_file.write_text(placed.model_dump_json(indent=2), encoding="utf-8")

    await anyio.to_thread.run_sync(write_site)
    demo = DemoNodes(placed, CORE, log=log)
    try:
        async with anyio.create_task_group() as tg:
            for node in EDGES:
                child = await _spawn(node, site_file, data_dir, nodes_dir)
                demo.children.append(child)
                tg.start_soon(demo._watch, child)
                log(f"camera node {node} started (pid {child.process.pid}), loading models")
            try:
                yield demo
            finally:
                with anyio.CancelScope(shield=True):
                    await demo._halt()
    finally:
        with anyio.CancelScope(shield=True):
            await demo._halt()  # (a spawn that failed half-way)
