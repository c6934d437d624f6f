"""An in-memory `EventStore`: the same contract as SQLite (atomic batches, optimistic
concurrency, idempotent event ids, the same hash chain) with no disk, for tests and benches.

Not durable: a process exit loses the log. Never use it for a real deployment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import anyio

from lfr.clock import Clock
from lfr.store.base import ConcurrencyError, IdempotencyError, StoreClosedError
from lfr.store.hashchain import (
    GENESIS_HASH,
    format_time,
    new_envelopes,
    record_of_envelope,
    same_event,
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
            elif same_event(record_of_envelope(hit), stream, new):
                stored.append(hit)
            else:
                raise IdempotencyError(str(new.event_id), hit.seq)
        if not fresh:
            return stored
        records = self._streams.setdefault(stream, [])
        version = len(records)
        if expected_version is not None and version != expected_version:
            if not records:
                del self._streams[stream]
            raise ConcurrencyError(stream, expected_version, version)
        fresh_envelopes = new_envelopes(
            stream,
            fresh,
            seq=len(self._log),
            version=version,
            prev_hash=self._log[-1].hash if self._log else GENESIS_HASH,
            recorded_at=format_time(self._now()),
        )
        for env in fresh_envelopes:
            self._log.append(env)
            records.append(env)
            self._by_id[str(env.event_id)] = env
        out = stored + fresh_envelopes
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
