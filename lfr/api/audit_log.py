"""The audit routes' access to the log: the same code as `lfr audit` (verify, proof, replay).

Each call reads the log through an `AuditSource` in a worker thread, exactly as the CLI does
(the SQLite file opened read-only; a JetStream log paged through the live store's
connection), so an inclusion proof fetched over HTTP is byte-for-byte the document `lfr audit
proof` writes and passes `lfr audit check-proof FILE --public-key K`, on either engine. A
proof needs a signed checkpoint covering the event: when the event is newer than the last
one, the site's store signs one at once (a checkpoint adds a signature over what the log
already holds; it changes no event).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from lfr.projections import ViewDb
from lfr.store.base import EventStore, RecordStore, StoreError
from lfr.store.hashchain import format_time, record_of_envelope
from lfr.store.proof import make_proof
from lfr.store.source import AuditSource
from lfr.store.sqlite import SqliteLog
from lfr.store.verify import VerifyResult, verify_log
from schemas.views import AuditReport

__all__ = ["AuditLog", "EventNotFoundError", "NotProvableError", "replay_report"]

_BATCH = 20_000


class EventNotFoundError(StoreError):
    """The log holds no event with that id."""


class NotProvableError(StoreError):
    """No signed checkpoint covers the event and none can be signed here."""


class AuditLog:
    """The site's log: the SQLite file at `path`, or what `source` opens (any engine's
    `AuditSource`, called in a worker thread); `sign_checkpoint` is the live store's (if
    any)."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        sign_checkpoint: Callable[[], Awaitable[None]] | None = None,
        source: Callable[[], AuditSource] | None = None,
    ) -> None:
        if source is None:
            if path is None:
                raise TypeError("AuditLog: give the log's path or a source")
            file = Path(path)
            source = lambda: SqliteLog(file, read_only=True)  # noqa: E731
        self._open = source
        self._sign_checkpoint = sign_checkpoint

    @classmethod
    def of_store(cls, store: EventStore) -> AuditLog | None:
        """The audit log of a live store that serves one (`audit_source()`: SQLite, NATS);
        None for a store that keeps no signed checkpoints (in memory)."""
        opener = getattr(store, "audit_source", None)
        if opener is None:
            return None
        return cls(source=opener, sign_checkpoint=getattr(store, "checkpoint", None))

    def _with_log(self, fn: Callable[[AuditSource], Any]) -> Any:
        log = self._open()
        try:
            return fn(log)
        finally:
            log.close()

    async def verify(self) -> VerifyResult:
        """`lfr audit verify`: chain, rows and signed checkpoints (key recorded in the log)."""
        result: VerifyResult = await anyio.to_thread.run_sync(self._with_log, verify_log)
        return result

    async def proof(self, event_id: str) -> dict[str, Any]:
        """`lfr audit proof EVENT_ID`, signing a checkpoint first when none covers the event.

        :raises EventNotFoundError: no such event.
        :raises NotProvableError: no checkpoint covers it and this API cannot sign one.
        """

        def attempt(log: AuditSource) -> dict[str, Any] | None:
            if log.find_event(event_id) is None:
                raise EventNotFoundError(f"no event {event_id} in the log")
            try:
                return make_proof(log, event_id)
            except StoreError:
                return None  # not yet covered by a signed checkpoint

        doc: dict[str, Any] | None = await anyio.to_thread.run_sync(self._with_log, attempt)
        if doc is None and self._sign_checkpoint is not None:
            await self._sign_checkpoint()
            doc = await anyio.to_thread.run_sync(self._with_log, attempt)
        if doc is None:
            raise NotProvableError(
                f"event {event_id} is not yet in a signed checkpoint and this API does not "
                "write the log: try again once the site has signed one"
            )
        return doc


async def _records(store: EventStore, from_seq: int) -> list[dict[str, Any]]:
    if isinstance(store, RecordStore):  # the engine's raw path
        return await store.read_records(from_seq=from_seq, limit=_BATCH)
    return [record_of_envelope(e) for e in await store.read_all(from_seq=from_seq, limit=_BATCH)]


async def replay_report(store: EventStore, *, until: datetime | None = None) -> AuditReport:
    """`lfr audit replay --json`: the audit view rebuilt in memory from the log alone; with
    `until`, only events recorded at or before that time count."""
    limit = format_time(until) if until is not None else None
    limiter = anyio.CapacityLimiter(1)
    views = await anyio.to_thread.run_sync(lambda: ViewDb(":memory:", source="event log"))
    try:
        pos = 0
        while records := await _records(store, pos + 1):
            if limit is not None and records[-1]["recorded_at"] > limit:
                # one writer records in seq order: the log as it stood then is a prefix
                records = [r for r in records if r["recorded_at"] <= limit]
                await anyio.to_thread.run_sync(views.apply, records, limiter=limiter)
                break
            pos = await anyio.to_thread.run_sync(views.apply, records, limiter=limiter)
        report: AuditReport = await anyio.to_thread.run_sync(
            lambda: views.report(as_of=until), limiter=limiter
        )
        return report
    finally:
        views.close()
