"""The `EventStore` interface every engine implements, and the store's errors.

    LfrError
    └── StoreError
        ├── ConcurrencyError      expected stream version differs from the actual one (a SQLite
        │                         constraint failure, JetStream's wrong last sequence)
        ├── IdempotencyError      an event_id already stored with different content
        ├── CorruptLogError       the file is not an lfr log, or a row/hash does not verify
        ├── StoreWriteError       the storage refused a write: full disk, I/O error, read-only
        ├── StoreUnavailableError the log cannot be reached now: NATS down, the file locked
        │                         by another process, an I/O error while reading (also an
        │                         `lfr.errors.UnavailableError`)
        └── StoreClosedError      the store was used after aclose()

An engine must: append a batch to one stream atomically, check `expected_version` (optimistic
concurrency), treat a re-sent `event_id` as already done (idempotency), be durable before it
returns, and chain every envelope's hash to the previous one (`lfr.store.hashchain`).
Engines translate their driver's errors into these classes in one place, chained `from exc`
(`lfr.store.sqlite._errors`, `NatsEventStore._errors`): no sqlite3 or nats error leaves the
store. `RecordStore` is the optional fast path of engines that serve raw records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anyio

from lfr.errors import LfrError, UnavailableError
from schemas.envelope import Envelope, NewEvent

__all__ = [
    "follow_log",
    "ConcurrencyError",
    "CorruptLogError",
    "EventStore",
    "IdempotencyError",
    "RecordStore",
    "StoreClosedError",
    "StoreError",
    "StoreUnavailableError",
    "StoreWriteError",
]


class StoreError(LfrError):
    """Base of the event store's errors."""


class ConcurrencyError(StoreError):
    """`actual` is None when the engine only knows that the stream moved on (JetStream's
    wrong-last-sequence, a constraint failure it could not re-read after)."""

    def __init__(self, stream: str, expected: int, actual: int | None) -> None:
        self.stream = stream
        self.expected = expected
        self.actual = actual
        where = "has moved on" if actual is None else f"is at version {actual}"
        super().__init__(
            f"stream {stream!r} {where}, not the expected version {expected}: "
            "another writer appended first; re-read the stream and decide again"
        )


class IdempotencyError(StoreError):
    def __init__(self, event_id: str, seq: int) -> None:
        self.event_id = event_id
        self.seq = seq
        super().__init__(
            f"event_id {event_id} is already stored at seq {seq} with different content; "
            "an event id must never be reused for another event"
        )


class CorruptLogError(StoreError):
    def __init__(self, path: Path | str, what: str, seq: int | None = None) -> None:
        self.path = str(path)
        self.seq = seq
        self.what = what
        where = f"{self.path} at seq {seq}" if seq is not None else self.path
        super().__init__(f"{where}: {what}")


class StoreWriteError(StoreError):
    """The storage refused a write (full disk, I/O error): the batch was rolled back whole, and
    every event appended before it is intact. Retrying the same events is safe (idempotent on
    `event_id`) once the cause is fixed."""

    def __init__(
        self, path: Path | str, stream: str | None, count: int, cause: str, full: bool
    ) -> None:
        self.path = str(path)
        self.stream = stream
        self.count = count
        self.full = full
        advice = (
            "free space on that disk (or move the data directory) and retry"
            if full
            else "check the disk, its mount and the file's permissions, then retry"
        )
        what = (
            f"could not append {count} event(s) to {stream!r}"
            if stream is not None
            else "could not write"
        )
        super().__init__(
            f"{self.path}: {what} ({cause}); nothing of this write was kept and every event "
            f"before it is intact; {advice}"
        )


class StoreUnavailableError(StoreError, UnavailableError):
    """The log cannot be reached now (its server is down, its file locked by another process
    past the busy timeout, the disk failing a read); nothing was changed."""

    def __init__(self, where: Path | str, cause: str, advice: str) -> None:
        self.where = str(where)
        super().__init__(f"{self.where}: the event log is unavailable ({cause}); {advice}")


class StoreClosedError(StoreError):
    def __init__(self) -> None:
        super().__init__("the event store is closed; open it again")


@runtime_checkable
class EventStore(Protocol):
    """An append-only, hash-chained log of envelopes, addressed by stream and global seq."""

    async def append(
        self, stream: str, events: Sequence[NewEvent], *, expected_version: int | None = None
    ) -> list[Envelope]:
        """Append `events` to `stream` atomically; return their envelopes.

        `expected_version` is the stream's current version the writer decided on (0: the
        stream must not exist yet; None: no check). Events whose `event_id` is already stored
        are not written again; their stored envelopes are returned.

        :raises ConcurrencyError: the stream is at another version.
        :raises IdempotencyError: an event_id is stored with different content.
        """
        ...

    async def read_stream(self, stream: str, *, from_version: int = 1) -> list[Envelope]:
        """The stream's envelopes from `from_version` on, in order."""
        ...

    async def read_all(self, *, from_seq: int = 1, limit: int | None = None) -> list[Envelope]:
        """Envelopes of every stream from global position `from_seq`, in order."""
        ...

    def subscribe(self, *, from_seq: int = 1) -> AsyncIterator[Envelope]:
        """Every envelope from `from_seq` on, then each new one as it is appended; no gap, no
        duplicate. Ends only when the caller stops iterating or the store closes."""
        ...

    async def last_seq(self) -> int:
        """The global position of the newest envelope (0 when empty)."""
        ...

    async def stream_version(self, stream: str) -> int:
        """The stream's current version (0 when it does not exist)."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class RecordStore(EventStore, Protocol):
    """An `EventStore` that also serves its stored records raw: dicts with every envelope
    field, times as text (`lfr.store.hashchain.record_of_envelope`'s shape), without building
    envelopes. Projections and the audit replay use it when an engine offers it."""

    async def read_records(
        self, *, from_seq: int = 1, limit: int | None = None, with_hash: bool = True
    ) -> list[dict[str, Any]]:
        """Records from global position `from_seq`, in order; without `with_hash` they lack
        `hash` (a replay does not need it) and may read faster."""
        ...


async def follow_log(
    read_from: Callable[[int], Awaitable[list[Envelope]]],
    *,
    from_seq: int,
    closed: Callable[[], bool],
    appended: Callable[[], anyio.Event],
    poll_s: float,
) -> AsyncIterator[Envelope]:
    """An engine's `subscribe`: catch up from `from_seq` in `read_from(seq)` batches, then
    follow, woken by this process's appends (`appended()`: the event the next append sets)
    and polling every `poll_s` for other writers; ends when the store closes."""
    next_seq = from_seq
    while not closed():
        waiter = appended()
        try:
            batch = await read_from(next_seq)
        except StoreClosedError:
            return
        for env in batch:
            yield env
            next_seq = env.seq + 1
        if not batch:
            with anyio.move_on_after(poll_s):
                await waiter.wait()
