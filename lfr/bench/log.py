"""`lfr bench log`: the event store's append and replay rates, against the `eventsourcing`
library on the same events.

The events follow a realistic town-centre day: a deployment is authorised and armed, patrols
check in, cameras stream, and then mostly `FrameDiscarded` (one per camera per second of
25 frames), with a match every few hundred events turning into an alert that is dispatched,
acknowledged, adjudicated by two officers and sometimes engaged.

Measured: `append_batched_eps` (durable batches of `--batch` events to one stream),
`append_single_eps` (one durable append per event), `replay_eps` (read the whole log and
fold it into the alert and audit views), and the same for the peer (`eventsourcing`'s SQLite
persistence, one aggregate per stream, `replay` = read every stored event and fold the same
views in Python).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from lfr.store.config import StoreConfig
from lfr.testing.logs import Batch, synthetic_log
from schemas.envelope import NewEvent

__all__ = ["command", "run_bench"]


def command(
    events: Annotated[int, typer.Option(help="events to append in the batched run")] = 200_000,
    single: Annotated[int, typer.Option(help="events to append one durable append each")] = 2000,
    batch: Annotated[int, typer.Option(help="events per batched append")] = 1000,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="leave the log written here (must not hold one yet), for `lfr audit verify`",
        ),
    ] = None,
    peer: Annotated[bool, typer.Option(help="also run the eventsourcing peer")] = True,
    json_out: Annotated[
        bool, typer.Option("--json", help="print one JSON object (else one line per figure)")
    ] = False,
    engine: Annotated[
        str, typer.Option(help="lfr's engine: sqlite (in --data-dir) or nats (a JetStream stream)")
    ] = "sqlite",
    nats_url: Annotated[str, typer.Option(help="nats: the server")] = "nats://127.0.0.1:4222",
    stream: Annotated[
        str | None,
        typer.Option(help="nats: the stream, kept after (default: a fresh one, deleted after)"),
    ] = None,
    partitions: Annotated[
        int,
        typer.Option(
            min=1,
            max=16,
            help="nats: append from this many processes, each to its own partition of one "
            "partitioned log, and compare with one (see lfr.bench.log_partitions)",
        ),
    ] = 1,
) -> None:
    """Append and replay synthetic events; print rates (events/s) for lfr and the peer."""
    import uuid

    import anyio

    from lfr.cli._common import fail, print_json
    from lfr.store.config import StoreConfig

    if engine not in ("sqlite", "nats"):
        fail(f"--engine {engine!r}: sqlite or nats")
    if partitions > 1:
        if engine != "nats":
            fail("--partitions: only the nats engine is partitioned (add --engine nats)")
        from lfr.bench.log_partitions import run_partitioned_bench
        from lfr.store.base import StoreError

        try:
            out = run_partitioned_bench(
                nats_url, partitions=partitions, events=events, batch=batch, keep=stream is not None
            )
        except (StoreError, RuntimeError) as exc:
            fail(str(exc))
        if json_out:
            print_json(out)
        else:
            for key, value in out.items():
                typer.echo(f"{key}: {value}")
        return
    store = (
        StoreConfig(
            engine="nats", url=nats_url, stream=stream or f"LFR_BENCH_{uuid.uuid4().hex[:12]}"
        )
        if engine == "nats"
        else StoreConfig()
    )

    if data_dir is not None and (Path(data_dir) / "events.sqlite").exists():
        fail(f"{data_dir} already holds an event log; pick an empty --data-dir")
    with tempfile.TemporaryDirectory(prefix="lfr-bench-log-") as tmp:
        target = Path(data_dir) if data_dir is not None else Path(tmp) / "lfr"
        result: dict[str, Any] = anyio.run(
            lambda: run_bench(
                target,
                Path(tmp),
                events=events,
                single=single,
                batch=batch,
                peer=peer,
                store=store,
                keep=stream is not None,
            )
        )
    if json_out:
        print_json(result)
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")


def _progress(message: str) -> None:
    typer.echo(message, err=True)


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def _singles(n: int) -> list[tuple[str, NewEvent]]:
    return [
        (stream, ne)
        for stream, events in synthetic_log(n, batch=50, seed=11, deployment_id="d-ne-2")
        for ne in events
    ]


class _Lfr:
    """lfr's side: the async store, then a replay into the views."""

    def __init__(self, target: Path, store: StoreConfig) -> None:
        from lfr.store.sqlite import LOG_FILE

        self.target = target
        self.config = store
        self.log_path = target / LOG_FILE
        self.replayed = 0

    async def open(self) -> None:
        from lfr.store import open_configured_store

        self.store = await open_configured_store(self.config, data_dir=self.target)

    async def append(self, batches: list[Batch]) -> None:
        for stream, events in batches:
            await self.store.append(stream, events)

    async def append_singles(self, singles: list[tuple[str, NewEvent]]) -> None:
        for stream, ne in singles:
            await self.store.append(stream, [ne])

    async def close_store(self) -> None:
        await self.store.aclose()

    def open_replay(self) -> None:
        from lfr.projections import ViewDb
        from lfr.store.source import open_audit_source

        self.log = open_audit_source(self.config, self.target)
        self.target.mkdir(parents=True, exist_ok=True)
        self.views = ViewDb(self.target / "views.sqlite", source=self.log.where)

    def replay_chunk(self, limit: int) -> int:
        """Read and project the next `limit` events; how many there were."""
        before = self.replayed
        chunks = self.log.iter_records(from_seq=before + 1, limit=limit)
        self.replayed = self.views.apply_chunks(chunks)
        return self.replayed - before

    def finish(self) -> dict[str, Any]:
        out = {
            "replayed_events": self.replayed,
            "checkpoints": len(self.log.checkpoints()),
            "views_state_hash": self.views.state_hash(),
            "counts_first_deployment": self.views.deployments(with_timeline=False)[
                0
            ].counts.model_dump(),
        }
        self.views.close()
        self.log.close()
        return out

    async def drop(self) -> None:
        """Delete the bench's own JetStream stream."""
        if self.config.engine != "nats":
            return
        from lfr.store import open_configured_store

        store = await open_configured_store(self.config, data_dir=self.target)
        await store.delete_stream()  # type: ignore[attr-defined]
        await store.aclose()


class _Peer:
    """The same work on `eventsourcing`: its SQLite application recorder (one aggregate per
    stream, JSON transcoder), replayed through its notification log into the same views."""

    def __init__(self, where: Path) -> None:
        import uuid
        from dataclasses import dataclass

        from eventsourcing.domain import DomainEvent
        from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex
        from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
        from eventsourcing.utils import register_topic

        from lfr.projections import ViewDb

        @dataclass(frozen=True)
        class LoggedEvent(DomainEvent):
            type: str
            schema_version: int
            payload: dict[str, Any]

        LoggedEvent.__module__ = __name__
        LoggedEvent.__qualname__ = "LoggedEvent"
        register_topic(f"{__name__}:LoggedEvent", LoggedEvent)
        self._cls = LoggedEvent
        self._uuid5 = uuid.uuid5
        self._ns = uuid.NAMESPACE_URL
        transcoder = JSONTranscoder()
        transcoder.register(UUIDAsHex())
        transcoder.register(DatetimeAsISO())
        self.mapper: Mapper[uuid.UUID] = Mapper(transcoder=transcoder)
        self.datastore = SQLiteDatastore(str(where / "peer.sqlite"))
        self.recorder = SQLiteApplicationRecorder(self.datastore)
        self.recorder.create_table()
        self.views = ViewDb(where / "peer-views.sqlite")
        self.versions: dict[str, int] = {}
        self.next_note = 1
        self.replayed = 0

    def _stored(self, stream: str, ne: NewEvent) -> Any:
        version = self.versions.get(stream, 0) + 1
        self.versions[stream] = version
        event = self._cls(
            originator_id=self._uuid5(self._ns, stream),
            originator_version=version,
            timestamp=ne.occurred_at,
            type=ne.type,
            schema_version=ne.schema_version,
            payload=ne.event.model_dump(mode="json"),
        )
        return self.mapper.to_stored_event(event)

    def append(self, batches: list[Batch]) -> None:
        for stream, events in batches:
            self.recorder.insert_events([self._stored(stream, ne) for ne in events])

    def append_singles(self, singles: list[tuple[str, NewEvent]]) -> None:
        for stream, ne in singles:
            self.recorder.insert_events([self._stored(stream, ne)])

    def replay_chunk(self, limit: int) -> int:
        notes = self.recorder.select_notifications(self.next_note, limit)
        if not notes:
            return 0
        records = []
        for note in notes:
            ev = self.mapper.to_domain_event(note)
            assert isinstance(ev, self._cls)
            records.append(
                {
                    "seq": note.id,
                    "stream": str(note.originator_id),
                    "stream_version": note.originator_version,
                    "type": ev.type,
                    "schema_version": ev.schema_version,
                    "occurred_at": ev.timestamp.isoformat(),
                    "payload": ev.payload,
                }
            )
        self.views.apply(records)
        self.next_note = notes[-1].id + 1
        self.replayed += len(records)
        return len(records)

    def close(self) -> None:
        self.views.close()
        self.datastore.close()


class _Clock:
    """Seconds spent per (side, phase), summed over the interleaved rounds."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._t = 0.0

    def start(self) -> None:
        self._t = time.perf_counter()

    def stop(self, key: str) -> None:
        self.spent[key] = self.spent.get(key, 0.0) + time.perf_counter() - self._t


async def run_bench(
    target: Path,
    scratch: Path,
    *,
    events: int,
    single: int,
    batch: int,
    peer: bool,
    store: StoreConfig | None = None,
    keep: bool = True,
) -> dict[str, Any]:
    """Both sides on identical events, interleaved round by round so that a busy machine
    slows both alike; the lfr log is left in `target`."""
    import gc
    import os
    import sqlite3

    from anyio import to_thread

    _progress(f"generating {events} synthetic events")
    batches = list(synthetic_log(events, batch=batch))
    singles = _singles(single)
    n = sum(len(e) for _, e in batches)
    n_single = len(singles)
    # The fixture's million objects live through every round; frozen, the collector's full
    # passes during the appends skip them (for both sides alike), as they would in a site,
    # which never holds a day of events in memory.
    gc.collect()
    gc.freeze()
    from lfr.store.config import StoreConfig

    config = store or StoreConfig()
    lfr = _Lfr(target, config)
    await lfr.open()
    other: _Peer | None = None
    if peer:
        (scratch / "peer").mkdir(parents=True, exist_ok=True)
        other = _Peer(scratch / "peer")
    clock = _Clock()
    rounds = 8
    _progress(f"appending {n} events in batches of {batch}, then {len(singles)} one by one")
    for r in range(rounds):
        part = batches[r * len(batches) // rounds : (r + 1) * len(batches) // rounds]
        clock.start()
        await lfr.append(part)
        clock.stop("append_batched")
        if other is not None:
            clock.start()
            await to_thread.run_sync(other.append, part)
            clock.stop("peer_append_batched")
    for r in range(rounds):
        part_s = singles[r * len(singles) // rounds : (r + 1) * len(singles) // rounds]
        clock.start()
        await lfr.append_singles(part_s)
        clock.stop("append_single")
        if other is not None:
            clock.start()
            await to_thread.run_sync(other.append_singles, part_s)
            clock.stop("peer_append_single")
    await lfr.close_store()
    # The append fixture (a million Python objects) is not part of a replay: released here,
    # so that the collector's full passes during the replay do not walk it, for both sides.
    del batches, singles, part, part_s
    gc.unfreeze()
    gc.collect()

    _progress("replaying both logs into the alert and audit views")
    nats = config.engine == "nats"
    if nats:  # the JetStream reader runs its own loop: keep this one free
        await to_thread.run_sync(lfr.open_replay)
    else:
        lfr.open_replay()
    chunk = 20_000
    while True:
        clock.start()
        got = await to_thread.run_sync(lfr.replay_chunk, chunk) if nats else lfr.replay_chunk(chunk)
        clock.stop("replay")
        if other is not None:
            clock.start()
            got += other.replay_chunk(chunk)
            clock.stop("peer_replay")
        if not got:
            break
    result: dict[str, Any] = {
        "events": n,
        "single_events": n_single,
        "batch": batch,
        "engine": config.describe(),
        "durability": (
            "JetStream file storage, acknowledged by the server (its default sync); the peer "
            "WAL, synchronous=FULL"
            if nats
            else "WAL, synchronous=FULL (fsync per commit), both sides"
        ),
        "method": f"lfr and peer interleaved in {rounds} rounds per phase",
        "nproc": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "sqlite": sqlite3.sqlite_version,
        "data_dir": str(target),
        "append_batched_eps": _rate(n, clock.spent["append_batched"]),
        "append_single_eps": _rate(n_single, clock.spent["append_single"]),
        "replay_eps": _rate(lfr.replayed, clock.spent["replay"]),
    }
    result.update(await to_thread.run_sync(lfr.finish) if nats else lfr.finish())
    if nats and not keep:
        await lfr.drop()
    if other is not None:
        result["peer"] = "eventsourcing " + _peer_version()
        result["peer_append_batched_eps"] = _rate(n, clock.spent["peer_append_batched"])
        result["peer_append_single_eps"] = _rate(n_single, clock.spent["peer_append_single"])
        result["peer_replay_eps"] = _rate(other.replayed, clock.spent["peer_replay"])
        other.close()
        for key in ("append_batched_eps", "append_single_eps", "replay_eps"):
            result[f"x_peer_{key}"] = round(result[key] / result[f"peer_{key}"], 2)
    return result


def _peer_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eventsourcing")
    except PackageNotFoundError:
        return "?"
