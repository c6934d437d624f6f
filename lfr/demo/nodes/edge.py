"""A camera node of `lfr demo --nodes 3` (a child process: `python -m lfr.demo.nodes`).

It runs the actors `[[nodes]]` places on it (one zone's cameras) through `open_site`, with
the demo's parts: the shared JetStream log, the demo's vault and watchlists (the data
directory on this machine), and each camera's deployed recognition seen through the demo's
adapters (`observed_recognition`), so what it observes reaches the report. The control
protocol is in `lfr.demo.nodes`; at its end it writes `--out`: what it observed (times and
numbers only, never an image or an embedding) and the seqs of the events it appended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import anyio

from lfr.demo.site import Observations, observed_recognition
from lfr.errors import ConfigError
from lfr.site import RetentionConfig, SiteConfig
from lfr.store.base import EventStore
from schemas.envelope import Envelope, NewEvent

__all__ = ["CountingStore", "main", "observations_json", "run_node"]

log = logging.getLogger("lfr.demo.node")


class CountingStore:
    """The node's log, noting the seq of every event this process appended."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.seqs: set[int] = set()

    async def append(
        self, stream: str, events: Sequence[NewEvent], *, expected_version: int | None = None
    ) -> list[Envelope]:
        envs = await self.inner.append(stream, events, expected_version=expected_version)
        self.seqs.update(e.seq for e in envs)
        return envs

    async def read_stream(self, stream: str, *, from_version: int = 1) -> list[Envelope]:
        return await self.inner.read_stream(stream, from_version=from_version)

    async def read_all(self, *, from_seq: int = 1, limit: int | None = None) -> list[Envelope]:
        return await self.inner.read_all(from_seq=from_seq, limit=limit)

    def subscribe(self, *, from_seq: int = 1) -> AsyncIterator[Envelope]:
        return self.inner.subscribe(from_seq=from_seq)

    async def last_seq(self) -> int:
        return await self.inner.last_seq()

    async def stream_version(self, stream: str) -> int:
        return await self.inner.stream_version(stream)

    async def aclose(self) -> None:
        await self.inner.aclose()


def observations_json(node: str, observations: Observations, appended: set[int]) -> str:
    """What the parent merges (`lfr.demo.nodes._merge`) and the test reads."""
    wait_ms = [ms for t in observations.timers for ms in t.wait_ms]
    analyse_ms = [ms for t in observations.timers for ms in t.analyse_ms]
    out: dict[str, Any] = {
        "node": node,
        "pid": os.getpid(),
        "events_appended": len(appended),
        "seqs_appended": sorted(appended),
        "analysed": {c: [t.isoformat() for t in ts] for c, ts in observations.analysed.items()},
        "below": observations.below,
        "decided_at": [
            [cam, track, at.isoformat()] for (cam, track), at in observations.decided_at.items()
        ],
        "wait_ms": wait_ms,
        "analyse_ms": analyse_ms,
        "stopped_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(out)


#: the control channel to the parent (the process's original stdout; `main` points fd 1 at
#: the log, so nothing else a library prints can fill the pipe or look like a step)
_control: list[TextIO] = []


def _say(step: str) -> None:
    from lfr.demo.nodes import SAYS

    out = _control[0] if _control else sys.stdout
    out.write(f"{SAYS} {step}\n")
    out.flush()


async def _stdin_lines() -> AsyncIterator[str]:
    """The parent's lines on stdin; ends when it closes stdin (stops, or dies)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while line := await reader.readline():
            yield line.decode(errors="replace").strip()
    finally:
        transport.close()


def _awaiting(coro: Any) -> str:
    """Where a coroutine is, down its chain of awaits (a task's own stack shows only its
    outermost coroutine)."""
    lines: list[str] = []
    while coro is not None and len(lines) < 40:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}\n")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return "".join(lines)


def _dump_tasks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` logs every task's stack down its awaits (to the `async for` of an
    async generator, which Python does not follow), then every thread's: what an on-call
    engineer asks first of a camera node that seems stuck."""
    import io

    loop = asyncio.get_running_loop()

    def dump() -> None:
        out = io.StringIO()
        for task in asyncio.all_tasks(loop):
            out.write(f"Task {task.get_name()}:\n{_awaiting(task.get_coro())}")
        log.warning("SIGUSR1: %d tasks\n%s", len(asyncio.all_tasks(loop)), out.getvalue())
        # and every thread's (a task waiting on a worker thread shows only its await)
        threads = io.StringIO()
        frames = sys._current_frames()
        for thread in threading.enumerate():
            frame = frames.get(thread.ident or -1)
            if frame is not None:
                threads.write(f"Thread {thread.name} (ident {thread.ident}):\n")
                threads.write("".join(traceback.format_stack(frame, limit=30)))
        log.warning("SIGUSR1: %d threads\n%s", len(frames), threads.getvalue())

    loop.add_signal_handler(signal.SIGUSR1, dump)


async def _until_stopped(lines: AsyncIterator[str]) -> None:
    """Until stdin closes or SIGTERM/SIGINT arrives."""
    async with anyio.create_task_group() as tg:

        async def on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for sig in signals:
                    log.info("%s: stopping", signal.Signals(sig).name)
                    break
            tg.cancel_scope.cancel()

        async def on_eof() -> None:
            async for _ in lines:
                pass
            log.info("stdin closed: stopping")
            tg.cancel_scope.cancel()

        tg.start_soon(on_signal)
        tg.start_soon(on_eof)


async def run_node(node: str, site_file: Path, data_dir: Path, out: Path) -> None:
    """Run camera node `node` of the site in `site_file` until told to stop."""
    import actors.site
    from lfr.catalog import WatchlistStoreCatalog
    from lfr.projections import Views
    from lfr.store import open_configured_store
    from lfr.telemetry import TelemetryConfig, setup_telemetry
    from lfr.vault import BiometricVault
    from lfr.vision.pipeline import FacePipeline
    from lfr.watchlist import WatchlistStore

    text = await anyio.Path(site_file).read_text(encoding="utf-8")
    # retention is the core's job (the watchlists and the vault are its)
    config = SiteConfig.model_validate_json(text).model_copy(
        update={"retention": RetentionConfig(enabled=False)}
    )
    placed = config.node(node)
    log.info("node %s of site %s: cameras %s", node, config.name, ", ".join(placed.cameras))
    spans_path = out.with_suffix(".telemetry.jsonl")
    spans_out = await anyio.to_thread.run_sync(lambda: spans_path.open("w", encoding="utf-8"))
    tel = await anyio.to_thread.run_sync(
        setup_telemetry,
        TelemetryConfig(
            exporter="console",
            console_out=spans_out,
            service_name=f"lfr-demo-{node}",
            metric_interval_s=5.0,
        ),
    )
    _dump_tasks_on_sigusr1()
    lines = _stdin_lines()
    try:
        store = CountingStore(
            await open_configured_store(config.store, data_dir=data_dir, log=config.log)
        )
        try:
            pipeline = await anyio.to_thread.run_sync(FacePipeline.shared)
            vault = await BiometricVault.open(data_dir)
            try:

                def watchlists() -> list[WatchlistStore]:
                    root = data_dir / actors.site.WATCHLIST_DIR
                    return [WatchlistStore(root, name) for name in WatchlistStore.names(root)]

                stores = await anyio.to_thread.run_sync(watchlists)
                if not stores:
                    raise ConfigError(
                        f"no watchlist in {data_dir / actors.site.WATCHLIST_DIR}: the demo "
                        "enrols them before its camera nodes start"
                    )
                views = await anyio.to_thread.run_sync(Views.in_memory)
                observations = Observations()
                overrides = actors.site.SiteOverrides(
                    data_dir=out.parent / node,
                    store=store,
                    vault=vault,
                    catalog=WatchlistStoreCatalog(*stores),
                    views=views,
                    recognition=observed_recognition(pipeline, observations),
                    node=node,
                )
                _say("loaded")
                async for line in lines:
                    if line == "go":
                        break
                else:
                    log.info("stdin closed before go: not starting")
                    return
                try:
                    async with actors.site.open_site(config, overrides):
                        _say("ready")
                        await _until_stopped(lines)
                finally:
                    await views.aclose()
                report = observations_json(node, observations, store.seqs)
                await anyio.Path(out).write_text(report, encoding="utf-8")
                log.info("appended %d events; report %s", len(store.seqs), out)
            finally:
                await vault.aclose()
        finally:
            await store.aclose()
    finally:
        await anyio.to_thread.run_sync(tel.shutdown)
        await anyio.to_thread.run_sync(spans_out.close)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lfr.demo.nodes", description="a camera node of `lfr demo --nodes 3`"
    )
    parser.add_argument("--node", required=True)
    parser.add_argument("--site", required=True, type=Path, help="the placed site config (JSON)")
    parser.add_argument("--data-dir", required=True, type=Path, help="the demo's data directory")
    parser.add_argument("--out", required=True, type=Path, help="where the report goes (JSON)")
    args = parser.parse_args(argv)
    sys.stdout.flush()
    _control.append(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    anyio.run(run_node, args.node, args.site, args.data_dir, args.out, backend="asyncio")
