"""`lfr bench actors --json`: message throughput of the kernel and of a zone with 8 cameras
and 3 patrols, and the latency from a `FaceMatched` append to `AlertDispatched`, on a site
opened by `actors.site.open_site` with scripted cameras and an in-memory sink."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from schemas.streams import camera_stream, patrol_stream, zone_stream

__all__ = ["command"]

if TYPE_CHECKING:
    from lfr.site import SiteConfig


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))], 3)


async def _kernel(messages: int) -> dict[str, Any]:
    """One bare actor: `tell` as fast as the mailbox takes it, then one `ask` to drain."""
    import anyio

    from lfr.kernel import Actor, Supervisor

    class Sink(Actor):
        count = 0

        async def handle(self, message: object) -> object:
            self.count += 1
            return self.count

    sup = Supervisor("bench")
    ref = sup.spawn("sink", lambda: Sink("sink"), mailbox_size=1024)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        start = time.perf_counter()
        for i in range(messages):
            await ref.tell(i)
        total = await ref.ask("done")
        elapsed = time.perf_counter() - start
        tg.cancel_scope.cancel()
    return {"messages": total, "seconds": round(elapsed, 3), "msgs_per_s": round(total / elapsed)}


def _site_config(cameras: int, patrols: int) -> SiteConfig:
    from lfr.site import SiteConfig

    return SiteConfig.model_validate(
        {
            "name": "bench",
            "zones": [{"name": "north-end"}],
            "cameras": [
                {"id": f"c-{i}", "zone": "north-end", "source": "scripted:", "analyse_fps": None}
                for i in range(cameras)
            ],
            "patrols": [{"id": f"p-{i}"} for i in range(patrols)],
            "alerts": {"cooldown_s": 0, "reappear_gap_s": 0, "ack_deadline_s": 3600},
            "vision": {"recogniser": "scripted", "decider": "per_frame", "crop_vault": False},
        }
    )


async def _zone(
    cameras: int, patrols: int, per_sender: int, alerts: int, store_kind: str, tmp: Path
) -> dict[str, Any]:
    from datetime import timedelta

    import anyio

    from actors import site as composition
    from actors.messages import Heartbeat
    from lfr.alerts import InMemoryAlertSink
    from lfr.clock import SystemClock
    from lfr.store.base import EventStore
    from lfr.store.memory import InMemoryEventStore
    from lfr.testing import InMemoryWatchlists, ScriptedFrameSource, ScriptedRecogniser
    from lfr.video.recognition import shared_recognition

    config = _site_config(cameras, patrols)
    clock = SystemClock()
    store: EventStore
    if store_kind == "sqlite":
        from lfr.store.sqlite import SqliteEventStore

        store = await SqliteEventStore.open(tmp / "events.sqlite")
    else:
        store = InMemoryEventStore()
    people = {f"person-{i}": f"Person {i}" for i in range(alerts)}
    watchlists = InMemoryWatchlists()
    watchlists.publish("wl-bench", people, published_at=clock.now() - timedelta(hours=1))
    sources = {c.id: ScriptedFrameSource(f"scripted://{c.id}") for c in config.cameras}
    sink = InMemoryAlertSink()
    recogniser = ScriptedRecogniser()  # one stateless double shared by every camera
    overrides = composition.SiteOverrides(
        data_dir=tmp,
        store=store,
        catalog=watchlists,
        recognition=lambda cam: shared_recognition(recogniser, cam.id),
        sources=lambda cam: sources[cam.id].reopen(),
        clock=clock,
        sink=sink,
    )
    try:
        async with composition.open_site(config, overrides) as site:
            zone = site.ref(zone_stream("north-end"))
            senders = [camera_stream(c.id) for c in config.cameras] + [
                patrol_stream(f"p-{i}") for i in range(patrols)
            ]

            async def send(sender: str) -> None:
                beat = Heartbeat(sender)
                for _ in range(per_sender):
                    await zone.tell(beat)

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for sender in senders:
                    tg.start_soon(send, sender)
            await site.zone_status("north-end")
            elapsed = time.perf_counter() - start
            sent = per_sender * len(senders)

            now = clock.now()
            await site.authorise_deployment(
                "north-end",
                starts_at=now,
                ends_at=now + timedelta(hours=1),
                watchlist_version="wl-bench",
                threshold=0.6,
                legal_basis="bench",
                reason="bench",
                authorised_by="bench",
            )
            await site.check_in("p-0", "north-end", ("PC Bench",))
            ids = list(people)
            cams = list(sources)
            with anyio.fail_after(120):  # a stuck pipeline fails the bench, never hangs it
                for i, person in enumerate(ids):
                    sources[cams[i % len(cams)]].push(person)
                    if i % len(cams) == len(cams) - 1:
                        await sink.wait_for(i + 1)
                await sink.wait_for(len(ids))
            status = await site.zone_status("north-end")
            latencies = list(status.dispatch_latencies_ms)
    finally:
        await store.aclose()
    return {
        "zone": {
            "cameras": cameras,
            "patrols": patrols,
            "messages": sent,
            "seconds": round(elapsed, 3),
            "msgs_per_s": round(sent / elapsed),
        },
        "alert_dispatch_ms": {
            "store": store_kind,
            "alerts": len(latencies),
            "p50": _pct(latencies, 50),
            "p95": _pct(latencies, 95),
            "max": round(max(latencies), 3),
        },
    }


def command(
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    messages: Annotated[int, typer.Option(help="messages through the bare kernel")] = 200_000,
    per_sender: Annotated[
        int, typer.Option(help="heartbeats each camera/patrol sends the zone")
    ] = 10_000,
    alerts: Annotated[int, typer.Option(help="matches turned into alerts")] = 200,
    store: Annotated[str, typer.Option(help="sqlite | memory (for the alert latency)")] = "sqlite",
) -> None:
    """Kernel and zone message throughput; FaceMatched -> AlertDispatched latency."""
    import logging
    import tempfile

    import anyio

    from lfr.cli._common import err_console, fail, print_json

    if store not in ("sqlite", "memory"):
        fail(f"--store must be sqlite or memory, not {store!r}")
    logging.getLogger("lfr").setLevel(logging.ERROR)
    logging.getLogger("actors").setLevel(logging.ERROR)

    async def main() -> dict[str, Any]:
        err_console.print(f"kernel: {messages} messages ...")
        kernel = await _kernel(messages)
        err_console.print(
            f"zone: 8 cameras, 3 patrols, {per_sender} messages each; {alerts} alerts"
        )
        with tempfile.TemporaryDirectory() as tmp:
            zone = await _zone(8, 3, per_sender, alerts, store, Path(tmp))
        return {"kernel": kernel, **zone}

    result: dict[str, Any] = anyio.run(main, backend="asyncio")
    result = {
        "bench": "actors",
        "nproc": os.cpu_count(),
        **result,
        "targets": {"msgs_per_s": 50_000, "alert_dispatch_p95_ms": 20},
    }
    result["pass"] = (
        result["zone"]["msgs_per_s"] >= 50_000 and result["alert_dispatch_ms"]["p95"] <= 20
    )
    if json_out:
        print_json(result)
    else:
        err_console.print_json(data=result)
