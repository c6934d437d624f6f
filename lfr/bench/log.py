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

import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from schemas.envelope import NewEvent
from schemas.events import (
    AlertAcknowledged,
    AlertAdjudicated,
    AlertDispatched,
    AlertRaised,
    CameraStreamStarted,
    DeploymentArmed,
    DeploymentAuthorised,
    DeploymentDisarmed,
    DeploymentEnded,
    EngagementRecorded,
    FaceMatched,
    FrameDiscarded,
    PatrolCheckedIn,
    PatrolCheckedOut,
)

__all__ = ["command", "synthetic_log"]

Batch = tuple[str, list[NewEvent]]


def synthetic_log(
    n_events: int,
    *,
    batch: int = 1000,
    seed: int = 7,
    zone: str = "north-end",
    deployment_id: str = "d-ne-1",
    start: datetime | None = None,
    match_every: int = 400,
) -> Iterator[Batch]:
    """About `n_events` events of one deployment as (stream, events) batches of at most
    `batch`, in the order a site would append them."""
    rng = random.Random(seed)
    t0 = start or datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    prefix = "".join(word[0] for word in zone.split("-"))
    cameras = [f"{prefix}-{i}" for i in range(1, 4)]
    zs = f"zone:{zone}"
    produced = 0

    def at(offset_s: float) -> datetime:
        return t0 + timedelta(seconds=offset_s)

    opening = [
        NewEvent(
            event=DeploymentAuthorised(
                deployment_id=deployment_id,
                zone=zone,
                cameras=tuple(cameras),
                starts_at=t0,
                ends_at=t0 + timedelta(hours=10),
                watchlist_version="a" * 64,
                watchlist_size=33,
                threshold=0.6,
                legal_basis="PACE s.1; force LFR policy v3",
                reason="serious violence hot spot, intelligence report 2026/118",
                authorised_by="Supt 4471 Okafor",
            ),
            occurred_at=at(0),
        ),
        NewEvent(
            event=PatrolCheckedIn(patrol_id="p-7", zone=zone, officers=("PC 101", "PC 102")),
            occurred_at=at(1),
        ),
        NewEvent(
            event=DeploymentArmed(
                deployment_id=deployment_id,
                zone=zone,
                reason="patrol_on_duty",
                patrols_on_duty=("p-7",),
            ),
            occurred_at=at(1),
        ),
    ]
    yield zs, opening
    produced += len(opening)
    for cam in cameras:
        yield (
            f"camera:{cam}",
            [
                NewEvent(
                    event=CameraStreamStarted(
                        camera=cam, zone=zone, source=f"rtsp://cam/{cam}", fps=25.0
                    ),
                    occurred_at=at(2),
                )
            ],
        )
        produced += 1
    second = 3.0
    alert_no = 0
    while produced < n_events - 3:
        cam = cameras[rng.randrange(len(cameras))]
        size = min(batch, n_events - 3 - produced)
        events: list[NewEvent] = []
        followups: list[NewEvent] = []
        for _ in range(size):
            second += 1.0 / len(cameras)
            if rng.randrange(match_every) == 0 and len(events) + 7 < size:
                alert_no += 1
                match_id = f"{deployment_id}-m-{alert_no}"
                alert_id = f"{deployment_id}-a-{alert_no}"
                similarity = round(0.6 + rng.random() * 0.35, 4)
                events.append(
                    NewEvent(
                        event=FaceMatched(
                            match_id=match_id,
                            camera=cam,
                            zone=zone,
                            deployment_id=deployment_id,
                            watchlist_version="a" * 64,
                            entry_id=f"e-{rng.randrange(33)}",
                            similarity=similarity,
                            threshold=0.6,
                            frame_at=at(second),
                            face_size_px=rng.randrange(40, 160),
                        ),
                        occurred_at=at(second),
                    )
                )
                verdict = "confirmed" if rng.random() < 0.7 else "false_alert"
                followups += [
                    NewEvent(
                        event=AlertRaised(
                            alert_id=alert_id,
                            match_id=match_id,
                            zone=zone,
                            camera=cam,
                            deployment_id=deployment_id,
                            watchlist_version="a" * 64,
                            entry_id=f"e-{alert_no % 33}",
                            subject_label=f"Subject {alert_no % 33}",
                            category="wanted_by_police",
                            similarity=similarity,
                            threshold=0.6,
                            frame_at=at(second),
                        ),
                        occurred_at=at(second + 0.2),
                    ),
                    NewEvent(
                        event=AlertDispatched(alert_id=alert_id, zone=zone, patrol_ids=("p-7",)),
                        occurred_at=at(second + 0.3),
                    ),
                    NewEvent(
                        event=AlertAcknowledged(
                            alert_id=alert_id, patrol_id="p-7", officer="PC 101"
                        ),
                        occurred_at=at(second + 9),
                    ),
                    NewEvent(
                        event=AlertAdjudicated(
                            alert_id=alert_id, patrol_id="p-7", officer="PC 101", verdict=verdict
                        ),
                        occurred_at=at(second + 30),
                    ),
                ]
                if verdict == "confirmed":
                    followups += [
                        NewEvent(
                            event=AlertAdjudicated(
                                alert_id=alert_id,
                                patrol_id="p-7",
                                officer="PC 102",
                                verdict="confirmed",
                            ),
                            occurred_at=at(second + 35),
                        ),
                        NewEvent(
                            event=EngagementRecorded(
                                alert_id=alert_id,
                                patrol_id="p-7",
                                engagement_officer="PC 101",
                                confirmed_by=("PC 101", "PC 102"),
                                outcome="spoken_to",
                            ),
                            occurred_at=at(second + 120),
                        ),
                    ]
            else:
                faces = rng.choice((0, 0, 1, 1, 2, 3))
                events.append(
                    NewEvent(
                        event=FrameDiscarded(
                            camera=cam,
                            zone=zone,
                            deployment_id=deployment_id,
                            frames=25,
                            faces_seen=faces,
                            faces_below_quality=rng.randrange(faces + 1),
                            reason="no_match" if faces else "no_face",
                        ),
                        occurred_at=at(second),
                    )
                )
        yield f"camera:{cam}", events
        produced += len(events)
        if followups:
            yield zs, followups
            produced += len(followups)
    closing = [
        NewEvent(
            event=PatrolCheckedOut(patrol_id="p-7", zone=zone),
            occurred_at=at(second + 200),
        ),
        NewEvent(
            event=DeploymentDisarmed(
                deployment_id=deployment_id, zone=zone, reason="last_patrol_left"
            ),
            occurred_at=at(second + 200),
        ),
        NewEvent(
            event=DeploymentEnded(deployment_id=deployment_id, zone=zone, reason="window_closed"),
            occurred_at=at(second + 201),
        ),
    ]
    yield zs, closing


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
) -> None:
    """Append and replay synthetic events; print rates (events/s) for lfr and the peer."""
    import anyio

    from lfr.cli._common import fail, print_json

    if data_dir is not None and (Path(data_dir) / "events.sqlite").exists():
        fail(f"{data_dir} already holds an event log; pick an empty --data-dir")
    with tempfile.TemporaryDirectory(prefix="lfr-bench-log-") as tmp:
        target = Path(data_dir) if data_dir is not None else Path(tmp) / "lfr"
        result: dict[str, Any] = anyio.run(
            lambda: run_bench(
                target, Path(tmp), events=events, single=single, batch=batch, peer=peer
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


async def _bench_lfr(
    target: Path, batches: list[Batch], singles: list[tuple[str, NewEvent]]
) -> dict[str, Any]:
    from lfr.projections import ViewDb
    from lfr.store import open_store
    from lfr.store.sqlite import LOG_FILE, SqliteLog

    n = sum(len(e) for _, e in batches)
    _progress(f"lfr: appending {n} events in batches, then {len(singles)} one by one")
    store = await open_store(target)
    t = time.perf_counter()
    for stream, events in batches:
        await store.append(stream, events)
    batched_s = time.perf_counter() - t
    t = time.perf_counter()
    for stream, ne in singles:
        await store.append(stream, [ne])
    single_s = time.perf_counter() - t
    await store.aclose()

    _progress("lfr: replaying the log into the alert and audit views")
    log = SqliteLog(target / LOG_FILE, read_only=True)
    views = ViewDb(target / "views.sqlite", source=str(target / LOG_FILE))
    t = time.perf_counter()
    pos = 0
    while records := log.read_records(from_seq=pos + 1, limit=20_000, with_hash=False):
        pos = views.apply(records)
    replay_s = time.perf_counter() - t
    counts = views.deployments(with_timeline=False)[0].counts.model_dump()
    state = views.state_hash()
    views.close()
    checkpoints = len(log.checkpoints())
    log.close()
    return {
        "append_batched_eps": _rate(n, batched_s),
        "append_single_eps": _rate(len(singles), single_s),
        "replay_eps": _rate(pos, replay_s),
        "replayed_events": pos,
        "checkpoints": checkpoints,
        "views_state_hash": state,
        "counts_first_deployment": counts,
    }


def _bench_peer(
    where: Path, batches: list[Batch], singles: list[tuple[str, NewEvent]]
) -> dict[str, Any]:
    """The same work on `eventsourcing` (SQLite application recorder, JSON transcoder)."""
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

    register_topic("lfr.bench.log:LoggedEvent", LoggedEvent)
    LoggedEvent.__module__ = "lfr.bench.log"
    LoggedEvent.__qualname__ = "LoggedEvent"

    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    mapper: Mapper[uuid.UUID] = Mapper(transcoder=transcoder)
    datastore = SQLiteDatastore(str(where / "peer.sqlite"))
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    versions: dict[str, int] = {}

    def to_stored(stream: str, ne: NewEvent) -> Any:
        version = versions.get(stream, 0) + 1
        versions[stream] = version
        ev = LoggedEvent(
            originator_id=uuid.uuid5(uuid.NAMESPACE_URL, stream),
            originator_version=version,
            timestamp=ne.occurred_at,
            type=ne.type,
            schema_version=ne.schema_version,
            payload=ne.event.model_dump(mode="json"),
        )
        return mapper.to_stored_event(ev)

    n = sum(len(e) for _, e in batches)
    _progress("peer (eventsourcing): appending, then replaying the same events")
    t = time.perf_counter()
    for stream, events in batches:
        recorder.insert_events([to_stored(stream, ne) for ne in events])
    batched_s = time.perf_counter() - t
    t = time.perf_counter()
    for stream, ne in singles:
        recorder.insert_events([to_stored(stream, ne)])
    single_s = time.perf_counter() - t

    views = ViewDb(where / "peer-views.sqlite")
    t = time.perf_counter()
    start = 1
    total = 0
    while notes := recorder.select_notifications(start, 20_000):
        records = []
        for note in notes:
            ev = mapper.to_domain_event(note)
            assert isinstance(ev, LoggedEvent)
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
        views.apply(records)
        total += len(records)
        start = notes[-1].id + 1
    replay_s = time.perf_counter() - t
    views.close()
    datastore.close()
    return {
        "peer_append_batched_eps": _rate(n, batched_s),
        "peer_append_single_eps": _rate(len(singles), single_s),
        "peer_replay_eps": _rate(total, replay_s),
    }


async def run_bench(
    target: Path, scratch: Path, *, events: int, single: int, batch: int, peer: bool
) -> dict[str, Any]:
    """Run both sides on identical events; the lfr log is left in `target`."""
    import os
    import sqlite3

    import anyio

    _progress(f"generating {events} synthetic events")
    batches = list(synthetic_log(events, batch=batch))
    singles = _singles(single)
    result: dict[str, Any] = {
        "events": sum(len(e) for _, e in batches),
        "single_events": len(singles),
        "batch": batch,
        "durability": "WAL, synchronous=FULL (fsync per commit)",
        "nproc": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "data_dir": str(target),
    }
    result.update(await _bench_lfr(target, batches, singles))
    if peer:
        import eventsourcing

        peer_dir = scratch / "peer"
        peer_dir.mkdir(parents=True, exist_ok=True)
        result.update(
            await anyio.to_thread.run_sync(lambda: _bench_peer(peer_dir, batches, singles))
        )
        result["peer"] = f"eventsourcing {getattr(eventsourcing, '__version__', '9')}"
        for key in ("append_batched_eps", "append_single_eps", "replay_eps"):
            result[f"x_peer_{key}"] = round(result[key] / result[f"peer_{key}"], 2)
    return result
