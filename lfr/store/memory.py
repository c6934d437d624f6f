"""An in-memory `EventStore`: the same contract as SQLite (atomic batches, optimistic
concurrency, idempotent event ids, the same hash chain) with no disk, for tests and benches.

Not durable: a process exit loses the log. Never use it for a real deployment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio

from lfr.clock import Clock
from lfr.store.base import ConcurrencyError, IdempotencyError, StoreClosedError
from lfr.store.hashchain import (
    GENESIS_HASH,
    body_hash,
    envelope_body,
    envelope_from_record,
    format_time,
)
from schemas.envelope import Envelope, NewEvent

__all__ = ["InMemoryEventStore"]


class InMemoryEventStore:
    """A list of envelopes with per-stream indexes; every call completes without I/O."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock
        self._log: list[Envelope] = []
        self._streams: dict[str, list[Envelope]] = {}
        self._by_id: dict[str, Envelope] = {}
        self._appended: anyio.Event | None = None  # made in the loop, on first wait
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)

    async def append(
        self, stream: str, events: Sequence[NewEvent], *, expected_version: int | None = None
    ) -> list[Envelope]:
        self._check_open()
        await anyio.lowlevel.checkpoint()
        if not events:
            return []
        stored: list[Envelope] = []
        fresh: list[NewEvent] = []
        for new in events:
            hit = self._by_id.get(str(new.event_id))
            if hit is None:
                fresh.append(new)
                continue
            payload = new.event.model_dump(mode="json")
            if hit.stream != stream or hit.type != new.type or hit.payload != payload:
                raise IdempotencyError(str(new.event_id), hit.seq)
            stored.append(hit)
        if not fresh:
            return stored
        records = self._streams.setdefault(stream, [])
        version = len(records)
        if expected_version is not None and version != expected_version:
            if not records:
                del self._streams[stream]
            raise ConcurrencyError(stream, expected_version, version)
        recorded_at = format_time(self._now())
        out = list(stored)
        for new in fresh:
            seq = len(self._log) + 1
            version += 1
            prev = self._log[-1].hash if self._log else GENESIS_HASH
            event_id = str(new.event_id)
            correlation = None if new.correlation_id is None else str(new.correlation_id)
            causation = None if new.causation_id is None else str(new.causation_id)
            payload = new.event.model_dump(mode="json")
            occurred_at = format_time(new.occurred_at)
            record: dict[str, Any] = {
                "seq": seq,
                "stream": stream,
                "stream_version": version,
                "event_id": event_id,
                "type": new.type,
                "schema_version": new.schema_version,
                "occurred_at": occurred_at,
                "recorded_at": recorded_at,
                "correlation_id": correlation,
                "causation_id": causation,
                "traceparent": new.traceparent,
                "payload": payload,
                "prev_hash": prev,
            }
            body = envelope_body(
                seq=seq,
                stream=stream,
                stream_version=version,
                event_id=event_id,
                type_name=new.type,
                schema_version=new.schema_version,
                occurred_at=occurred_at,
                recorded_at=recorded_at,
                correlation_id=correlation,
                causation_id=causation,
                traceparent=new.traceparent,
                payload=payload,
                prev_hash=prev,
            )
            env = envelope_from_record(record, body_hash(body))
            self._log.append(env)
            records.append(env)
            self._by_id[event_id] = env
            out.append(env)
        if self._appended is not None:
            self._appended.set()
            self._appended = None
        return out

    async def read_stream(self, stream: str, *, from_version: int = 1) -> list[Envelope]:
        self._check_open()
        await anyio.lowlevel.checkpoint()
        return list(self._streams.get(stream, [])[max(0, from_version - 1) :])

    async def read_all(self, *, from_seq: int = 1, limit: int | None = None) -> list[Envelope]:
        self._check_open()
        await anyio.lowlevel.checkpoint()
        start = max(0, from_seq - 1)
        end = None if limit is None else start + limit
        return self._log[start:end]

    async def subscribe(self, *, from_seq: int = 1) -> AsyncIterator[Envelope]:
        next_seq = from_seq
        while not self._closed:
            if self._appended is None:
                self._appended = anyio.Event()
            waiter = self._appended
            batch = self._log[next_seq - 1 :]
            for env in batch:
                yield env
                next_seq = env.seq + 1
            if not batch:
                await waiter.wait()

    async def last_seq(self) -> int:
        self._check_open()
        return len(self._log)

    async def stream_version(self, stream: str) -> int:
        self._check_open()
        return len(self._streams.get(stream, []))

    def envelopes(self) -> list[Envelope]:
        """The whole log, synchronously (tests and the hypothesis machine)."""
        return list(self._log)

    def reopened(self) -> InMemoryEventStore:
        """A new handle on the same log (what reopening a file is for a durable engine)."""
        other = InMemoryEventStore(clock=self._clock)
        other._log, other._streams, other._by_id = self._log, self._streams, self._by_id
        return other

    async def aclose(self) -> None:
        self._closed = True
        if self._appended is not None:
            self._appended.set()
