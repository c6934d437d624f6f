# One module past 450 lines on purpose: `ViewDb` and its async facade `Views` share one
# transaction discipline (a batch and its position move together) that reads best whole.
"""The projector: folds log records into the views, with its position in the same transaction.

`ViewDb` is the synchronous core over one SQLite file (`<data_dir>/views.sqlite`, or
`:memory:` for `lfr audit replay`); `Views` is the async facade and the site's one runtime
read model: `actors.site.open_site` opens it, follows the log with `run`, and hands the same
instance to the HTTP API, the MQTT relay (`changes`), the demo and its report.

A batch is applied in one transaction that also moves `view_position`; a crash between
batches therefore re-applies nothing and skips nothing. `state_hash` digests every view row,
so a view rebuilt from seq 1 can be compared with the live one. A views file written by
another layout (`VIEWS_LAYOUT`), or ahead of the log it is opened on, is rebuilt from seq 1.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import anyio
import orjson
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from lfr.projections.alerts import AlertProjection
from lfr.projections.audit import AuditProjection
from lfr.projections.base import Projection, ProjectionError, Record
from lfr.projections.cameras import CameraProjection
from lfr.projections.patrols import PatrolProjection
from lfr.projections.zones import ZoneProjection
from lfr.store.base import EventStore, RecordStore
from lfr.store.hashchain import record_of_envelope
from schemas.errors import ContractError
from schemas.registry import EVENT_TYPES, upcast
from schemas.views import (
    AlertRecord,
    AlertState,
    AuditReport,
    CameraRecord,
    DeploymentAudit,
    PatrolRecord,
    ZoneRecord,
)

__all__ = ["VIEWS_FILE", "VIEWS_LAYOUT", "AlertOpener", "ViewDb", "Views"]

log = logging.getLogger(__name__)

VIEWS_FILE = "views.sqlite"
#: Bumped whenever a projection's tables or fold change: a file of another layout is rebuilt.
VIEWS_LAYOUT = 3
_T = TypeVar("_T")
_P = ParamSpec("_P")


@contextlib.contextmanager
def _view_errors(path: str) -> Iterator[None]:
    """The views database's one translation of sqlite3 errors: a `ProjectionError` that says
    what to do (the views are derived data: free space, or delete the file to rebuild)."""
    try:
        yield
    except sqlite3.Error as exc:
        code = (getattr(exc, "sqlite_errorcode", None) or -1) & 0xFF
        if code == sqlite3.SQLITE_FULL:
            advice = "free space on its disk; the views catch up from the log afterwards"
        elif code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            advice = "another process holds it; one process serves a site's views"
        else:
            advice = "delete it to rebuild the views from the log"
        raise ProjectionError(path, None, f"the views database failed ({exc}); {advice}") from exc


def _translated(
    method: Callable[Concatenate[ViewDb, _P], _T],
) -> Callable[Concatenate[ViewDb, _P], _T]:
    """A `ViewDb` method whose sqlite3 errors leave as `ProjectionError`s."""

    @functools.wraps(method)
    def wrapper(self: ViewDb, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with _view_errors(self.path):
            return method(self, *args, **kwargs)

    return wrapper


class ViewDb:
    """The views database: projections' tables plus `view_position`. One thread at a time."""

    def __init__(
        self,
        path: Path | str = ":memory:",
        projections: Sequence[Projection] | None = None,
        *,
        source: str = "event log",
    ) -> None:
        self.path = str(path)
        self.source = source
        self.alerts = AlertProjection()
        self.audit = AuditProjection()
        self.zones = ZoneProjection()
        self.patrols = PatrolProjection()
        self.cameras = CameraProjection()
        self.projections: list[Projection] = (
            list(projections)
            if projections is not None
            else [self.alerts, self.audit, self.zones, self.patrols, self.cameras]
        )
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with _view_errors(self.path):
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            c = self._conn
            try:
                if self.path != ":memory:":
                    c.execute("PRAGMA journal_mode=WAL")
                    c.execute("PRAGMA synchronous=NORMAL")  # a lost view batch is re-projected
                if c.execute("PRAGMA user_version").fetchone()[0] != VIEWS_LAYOUT:
                    self._drop_all()
                    c.execute(f"PRAGMA user_version={VIEWS_LAYOUT}")
                self._setup()
            except BaseException:
                c.close()
                raise

    def close(self) -> None:
        self._conn.close()

    def _drop_all(self) -> None:
        c = self._conn
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for name in tables:
            c.execute(f'DROP TABLE IF EXISTS "{name}"')

    @_translated
    def reset(self) -> None:
        """Empty every view and go back to seq 0 (the next catch-up rebuilds from seq 1)."""
        self._drop_all()
        self._setup()

    def _setup(self) -> None:
        c = self._conn
        c.execute(
            "CREATE TABLE IF NOT EXISTS view_position "
            "(id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL)"
        )
        c.execute("INSERT OR IGNORE INTO view_position VALUES (1, 0)")
        for proj in self.projections:
            proj.setup(c)

    @_translated
    def position(self) -> int:
        return int(self._conn.execute("SELECT seq FROM view_position").fetchone()[0])

    def _normalise(self, records: Sequence[Record]) -> Sequence[Record]:
        """Refuse unknown types and future versions; upcast old payloads (rare: copies)."""
        known = {name: cls.SCHEMA_VERSION for name, cls in EVENT_TYPES.items()}
        out: list[Record] | None = None
        for i, rec in enumerate(records):
            current = known.get(rec["type"])
            version = rec["schema_version"]
            if current == version:
                if out is not None:
                    out.append(rec)
                continue
            try:
                payload = upcast(rec["type"], version, rec["payload"])
            except ContractError as exc:
                raise ProjectionError(self.source, rec["seq"], str(exc)) from exc
            if out is None:
                out = list(records[:i])
            out.append({**rec, "payload": payload, "schema_version": current})
        return records if out is None else out

    @_translated
    def apply(self, records: Sequence[Record]) -> int:
        """Apply consecutive records in one transaction; skip those already applied.

        :raises ProjectionError: a gap before the first record, or an unreadable record.
        """
        pos = self.position()
        if records and records[0]["seq"] <= pos:
            records = [r for r in records if r["seq"] > pos]
        if not records:
            return pos
        if records[0]["seq"] != pos + 1:
            raise ProjectionError(
                self.source, records[0]["seq"], f"gap: the views are at seq {pos}"
            )
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            self._fold(records)
            last: int = records[-1]["seq"]
            c.execute("UPDATE view_position SET seq=?", (last,))
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return last

    @_translated
    def apply_chunks(self, chunks: Iterable[Sequence[Record]]) -> int:
        """`apply` for consecutive chunks of records (a replay), all in one transaction.

        Each chunk is folded before the next is asked for, so a reader can decode lazily
        (`SqliteLog.iter_records`). Returns the new position.

        :raises ProjectionError: a gap, or an unreadable record.
        """
        pos = self.position()
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            for chunk in chunks:
                records = chunk
                if records and records[0]["seq"] <= pos:
                    records = [r for r in records if r["seq"] > pos]
                if not records:
                    continue
                if records[0]["seq"] != pos + 1:
                    raise ProjectionError(
                        self.source, records[0]["seq"], f"gap: the views are at seq {pos}"
                    )
                self._fold(records)
                pos = records[-1]["seq"]
            c.execute("UPDATE view_position SET seq=?", (pos,))
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return pos

    def _fold(self, records: Sequence[Record]) -> None:
        """Every projection over `records` (normalised here), inside the caller's transaction."""
        records = self._normalise(records)
        try:
            for proj in self.projections:
                proj.apply(self._conn, records)
        except (KeyError, TypeError) as exc:
            raise ProjectionError(
                self.source,
                None,
                f"a record between seq {records[0]['seq']} and "
                f"{records[-1]['seq']} does not fit its event type ({exc!r})",
            ) from exc

    @_translated
    def state_hash(self) -> str:
        """sha256 over every view row in a fixed order (not the position)."""
        h = hashlib.sha256()
        for proj in self.projections:
            h.update(proj.name.encode() + b"\n")
            for row in proj.state_rows(self._conn):
                h.update(orjson.dumps(list(row)) + b"\n")
        return h.hexdigest()

    # --- queries ----------------------------------------------------------------------------

    @_translated
    def alert(self, alert_id: str) -> AlertRecord | None:
        return self.alerts.get(self._conn, alert_id)

    def list_alerts(self, **filters: Any) -> list[AlertRecord]:
        with _view_errors(self.path):
            return self.alerts.list(self._conn, **filters)

    @_translated
    def deployment(self, deployment_id: str) -> DeploymentAudit | None:
        return self.audit.get(self._conn, deployment_id)

    @_translated
    def zone(self, zone: str) -> ZoneRecord | None:
        return self.zones.get(self._conn, zone)

    @_translated
    def list_zones(self) -> list[ZoneRecord]:
        return self.zones.list(self._conn)

    @_translated
    def patrol(self, patrol_id: str) -> PatrolRecord | None:
        return self.patrols.get(self._conn, patrol_id)

    @_translated
    def list_patrols(self) -> list[PatrolRecord]:
        return self.patrols.list(self._conn)

    @_translated
    def list_cameras(self) -> list[CameraRecord]:
        return self.cameras.list(self._conn)

    @_translated
    def deployments(
        self, *, zone: str | None = None, with_timeline: bool = True
    ) -> list[DeploymentAudit]:
        return self.audit.list(self._conn, zone=zone, with_timeline=with_timeline)

    @_translated
    def report(self, *, as_of: datetime | None = None) -> AuditReport:
        return AuditReport(
            as_of_seq=self.position(),
            as_of=as_of,
            deployments=tuple(self.deployments()),
            unattributed=self.audit.unattributed(self._conn),
        )


class AlertOpener(Protocol):
    """Opens the sealed personal fields of alerts as they are served (`lfr.sealing.Sealer`)."""

    async def open_alerts(self, alerts: Sequence[AlertRecord]) -> list[AlertRecord]: ...


class Views:
    """The async facade over a `ViewDb`: catch up, follow live, query, and tell listeners
    what each applied batch held (`changes`).

    The views hold alerts' personal fields sealed, as the log does; given an `opener` (the
    site's sealer, whose keys are in the vault) `alert` and `alerts` serve them opened, or
    with `erased_at` once retention shredded their key. Without one they stay sealed."""

    def __init__(self, db: ViewDb, opener: AlertOpener | None = None) -> None:
        self.db = db
        self.opener = opener
        self._limiter = anyio.CapacityLimiter(1)
        self._advanced = anyio.Event()
        self._listeners: set[MemoryObjectSendStream[Sequence[Record]]] = set()

    @classmethod
    async def open(cls, data_dir: Path, opener: AlertOpener | None = None) -> Views:
        """The site's views in `<data_dir>/views.sqlite` (created; delete it to rebuild)."""
        path = Path(data_dir) / VIEWS_FILE
        db = await anyio.to_thread.run_sync(lambda: ViewDb(path, source=str(path)))
        return cls(db, opener)

    @classmethod
    def in_memory(cls) -> Views:
        """Views that live as long as the process (an in-memory log, tests, a bare API)."""
        return cls(ViewDb(":memory:"))

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def _apply(self, records: list[Record]) -> int:
        def apply() -> tuple[int, int]:
            return self.db.position(), self.db.apply(records)

        before, pos = await self._run(apply)
        event, self._advanced = self._advanced, anyio.Event()
        event.set()
        if pos > before and self._listeners:
            fresh = [r for r in records if r["seq"] > before]
            for listener in list(self._listeners):
                await listener.send(fresh)
        return pos

    async def catch_up(self, store: EventStore, *, batch: int = 5000) -> int:
        """Apply everything the store holds beyond the views' position; return the position.

        Safe to call while `run` follows the store (a record is applied once), so a reader
        that has just written calls it to read its own write. Views ahead of the store (its
        log was replaced) are emptied and rebuilt from seq 1.
        """
        pos = await self._run(self.db.position)
        if pos and pos > await store.last_seq():
            log.warning("%s is ahead of its log (seq %d): rebuilding it", self.db.source, pos)
            await self._run(self.db.reset)
            pos = 0
        while True:
            if isinstance(store, RecordStore):
                records: list[Record] = await store.read_records(
                    from_seq=pos + 1, limit=batch, with_hash=False
                )
            else:
                envs = await store.read_all(from_seq=pos + 1, limit=batch)
                records = [record_of_envelope(e) for e in envs]
            if not records:
                return pos
            pos = await self._apply(records)

    async def run(
        self,
        store: EventStore,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Catch up, report started, then follow the store until cancelled or it closes."""
        pos = await self.catch_up(store)
        task_status.started()
        async for env in store.subscribe(from_seq=pos + 1):
            await self._apply([record_of_envelope(env)])

    @asynccontextmanager
    async def changes(
        self, *, buffer: int = 1024
    ) -> AsyncIterator[MemoryObjectReceiveStream[Sequence[Record]]]:
        """The records of every batch applied from now on, in order, once each; a listener
        that falls `buffer` batches behind holds the views back (back-pressure, no loss)."""
        send, receive = anyio.create_memory_object_stream[Sequence[Record]](buffer)
        self._listeners.add(send)
        try:
            async with receive:
                yield receive
        finally:
            self._listeners.discard(send)
            send.close()

    async def wait_for(self, seq: int) -> None:
        """Return once the views have applied `seq` (for read-your-writes in the API)."""
        while True:
            waiter = self._advanced
            if await self._run(self.db.position) >= seq:
                return
            await waiter.wait()

    async def position(self) -> int:
        return await self._run(self.db.position)

    async def state_hash(self) -> str:
        return await self._run(self.db.state_hash)

    async def _opened(self, alerts: list[AlertRecord]) -> list[AlertRecord]:
        if self.opener is None or not any(a.sealed is not None for a in alerts):
            return alerts
        return await self.opener.open_alerts(alerts)

    async def alert(self, alert_id: str, *, opened: bool = True) -> AlertRecord | None:
        """One alert; `opened=False` leaves its personal fields sealed (for a reader that
        needs only its state, such as the MQTT relay, so no key is read for it)."""
        found = await self._run(self.db.alert, alert_id)
        if found is None or not opened:
            return found
        return (await self._opened([found]))[0]

    async def alerts(
        self,
        *,
        zone: str | None = None,
        patrol: str | None = None,
        state: AlertState | None = None,
        deployment_id: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[AlertRecord]:
        """Alerts newest first, filtered by zone, patrol (sent to or handled by), state;
        `limit=None`: every one."""

        def q() -> list[AlertRecord]:
            return self.db.list_alerts(
                zone=zone,
                patrol=patrol,
                state=state,
                deployment_id=deployment_id,
                limit=limit,
                offset=offset,
            )

        return await self._opened(await self._run(q))

    async def deployment(self, deployment_id: str) -> DeploymentAudit | None:
        return await self._run(self.db.deployment, deployment_id)

    async def deployments(self, *, zone: str | None = None) -> list[DeploymentAudit]:
        return await self._run(lambda: self.db.deployments(zone=zone))

    async def zone(self, zone: str) -> ZoneRecord | None:
        return await self._run(self.db.zone, zone)

    async def zones(self) -> list[ZoneRecord]:
        """Every zone the log has named, by name."""
        return await self._run(self.db.list_zones)

    async def patrol(self, patrol_id: str) -> PatrolRecord | None:
        return await self._run(self.db.patrol, patrol_id)

    async def patrols(self) -> list[PatrolRecord]:
        return await self._run(self.db.list_patrols)

    async def cameras(self) -> list[CameraRecord]:
        return await self._run(self.db.list_cameras)

    async def report(self) -> AuditReport:
        return await self._run(self.db.report)

    async def aclose(self) -> None:
        async with self._limiter:
            self.db.close()
