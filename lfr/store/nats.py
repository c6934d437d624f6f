"""The distributed engine: the log on NATS JetStream, with the same envelopes and hash chain.

JetStream 2.9 has no atomic multi-message publish, so one *batch* is one message (a JSON
array of records) on `<prefix>.<stream>`: a batch is stored whole or not at all. Ordering
and concurrency come from JetStream itself: each publish carries `Nats-Expected-Last-Sequence`
(no other writer appended since this one read the tail, so `seq`, `prev_hash` and the stream
versions it computed still hold) and `Nats-Expected-Last-Subject-Sequence`; `Nats-Msg-Id`
(derived from the batch's event ids) makes a retried publish a no-op inside the server's
duplicate window, and the event-id index makes it a no-op after it.

Readers keep an in-memory index of the log, caught up from JetStream before each operation,
and check every record's hash and link on the way in. This suits sites whose log fits in
memory; signed checkpoints are written by the SQLite engine only (not yet here).

nats-py errors are translated into the store's in one place (`_NatsErrors`): a dead or
unreachable server is a `StoreUnavailableError`, never a client exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import anyio
import orjson

from lfr.store.base import (
    ConcurrencyError,
    CorruptLogError,
    IdempotencyError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    StoreWriteError,
    follow_log,
)
from lfr.store.hashchain import (
    GENESIS_HASH,
    check_link,
    envelope_from_record,
    format_time,
    new_envelopes,
    record_of_envelope,
    same_event,
)
from schemas.envelope import Envelope, NewEvent

__all__ = ["NatsEventStore"]

# JetStream API error codes (nats-server's errors.json)
_WRONG_LAST_SEQUENCE = 10071  # JSStreamWrongLastSequenceErrF
_STORAGE_FULL = frozenset({10023, 10047})  # insufficient resources, storage exceeded
_STORE_FAILED = 10077  # JSStreamStoreFailedF: the server could not write the message


class _NatsErrors:
    """`with _NatsErrors(where, ...): ...` — the engine's one translation of nats-py errors
    into the store's, the most specific first, chained `from exc`:

        JetStream wrong last sequence        -> ConcurrencyError (another writer appended)
        JetStream out of storage             -> StoreWriteError(full)
        JetStream could not store            -> StoreWriteError
        no server, connection closed/lost,
        timeout, no responders, JetStream
        unavailable, OSError                 -> StoreUnavailableError
        any other JetStream or client error  -> StoreError
    """

    __slots__ = ("count", "expected", "stream", "where")

    def __init__(
        self,
        where: str,
        *,
        stream: str | None = None,
        expected: int | None = None,
        count: int = 0,
    ) -> None:
        self.where = where
        self.stream = stream
        self.expected = expected
        self.count = count

    def __enter__(self) -> _NatsErrors:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, StoreError):
            return
        error = self.translate(exc)
        if error is not None:
            raise error from exc

    def translate(self, exc: BaseException) -> StoreError | None:
        import nats.errors
        import nats.js.errors as js_errors

        if isinstance(exc, js_errors.APIError):
            code = exc.err_code
            if code == _WRONG_LAST_SEQUENCE and self.stream is not None:
                expected = -1 if self.expected is None else self.expected
                return ConcurrencyError(self.stream, expected, None)
            if code in _STORAGE_FULL or code == _STORE_FAILED:
                return StoreWriteError(
                    self.where, self.stream, self.count, str(exc), code in _STORAGE_FULL
                )
            if isinstance(exc, js_errors.ServiceUnavailableError):
                return self._unavailable(exc, "JetStream is not enabled or has no leader")
            return StoreError(f"{self.where}: NATS refused the request: {exc}")
        unavailable = (
            nats.errors.NoServersError,
            nats.errors.ConnectionClosedError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.ConnectionDrainingError,
            nats.errors.StaleConnectionError,
            nats.errors.NoRespondersError,
            nats.errors.OutboundBufferLimitError,
            js_errors.NoStreamResponseError,
            TimeoutError,  # nats.errors.TimeoutError is one too
            OSError,
        )
        if isinstance(exc, unavailable):
            return self._unavailable(exc, "is the server up and reachable?")
        if isinstance(exc, nats.errors.Error):
            return StoreError(f"{self.where}: the NATS client failed: {exc!r}")
        return None  # not a driver error: ours, raised as it is

    def _unavailable(self, exc: BaseException, hint: str) -> StoreUnavailableError:
        return StoreUnavailableError(
            self.where, f"{type(exc).__name__}: {exc}", f"{hint} Retry once it is back."
        )


def _subject_token(stream: str) -> str:
    """A subject-safe token for a stream name ('.', '*', '>' and spaces are hex-escaped)."""
    if all(ch not in stream for ch in ".*> \t") and stream:
        return stream
    return "x" + stream.encode().hex()


class NatsEventStore:
    """`EventStore` on a JetStream stream (see the module docstring)."""

    def __init__(self, nc: Any, js: Any, *, stream_name: str, prefix: str, poll_s: float) -> None:
        self._nc = nc
        self._js = js
        self.stream_name = stream_name
        self.prefix = prefix
        self._poll_s = poll_s
        self._records: list[dict[str, Any]] = []
        self._versions: dict[str, int] = {}
        self._ids: dict[str, int] = {}
        self._subject_seq: dict[str, int] = {}
        self._js_seq = 0
        self._tail = GENESIS_HASH
        self._lock = anyio.Lock()
        self._appended = anyio.Event()
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream_name: str = "LFR_EVENTS",
        prefix: str = "lfr.events",
        replicas: int = 1,
        poll_s: float = 0.2,
        connect_attempts: int = 3,
    ) -> NatsEventStore:
        """Connect, create the JetStream stream if absent, and load the log.

        `connect_attempts` (at least 1; nats-py retries forever at 0) bounds how long a dead
        server keeps the caller waiting: about 2 s an attempt.

        :raises StoreUnavailableError: no NATS server answers at `url`.
        """
        import nats
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        with _NatsErrors(url):
            nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=connect_attempts)
        try:
            with _NatsErrors(f"nats:{stream_name}"):
                js = nc.jetstream()
                try:
                    await js.stream_info(stream_name)
                except NotFoundError:
                    await js.add_stream(
                        StreamConfig(
                            name=stream_name,
                            subjects=[f"{prefix}.>"],
                            storage=StorageType.FILE,
                            num_replicas=replicas,
                            duplicate_window=120.0,
                        )
                    )
            store = cls(nc, js, stream_name=stream_name, prefix=prefix, poll_s=poll_s)
            await store._catch_up()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await nc.close()
            raise
        return store

    def _subject(self, stream: str) -> str:
        return f"{self.prefix}.{_subject_token(stream)}"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    async def _catch_up(self) -> None:
        """Read every batch message after the last one applied, checking the chain."""
        from nats.js.errors import NotFoundError

        with _NatsErrors(self._where):
            info = await self._js.stream_info(self.stream_name)
            last = info.state.last_seq
            while self._js_seq < last:
                want = self._js_seq + 1
                try:
                    msg = await self._js.get_msg(self.stream_name, want)
                except NotFoundError:  # a gap (purged message): nothing to apply there
                    self._js_seq = want
                    continue
                self._apply_batch(want, msg.subject, msg.data or b"")

    @property
    def _where(self) -> str:
        return f"nats:{self.stream_name}"

    def _apply_batch(self, js_seq: int, subject: str, data: bytes) -> None:
        where = self._where
        try:
            batch = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CorruptLogError(where, f"message {js_seq} is not JSON ({exc})") from exc
        for rec in batch:
            seq = len(self._records) + 1
            self._tail = check_link(rec, seq, self._tail, where=where)
            self._records.append(rec)
            self._versions[rec["stream"]] = rec["stream_version"]
            self._ids[rec["event_id"]] = seq
        self._subject_seq[subject] = js_seq
        self._js_seq = js_seq

    def _stored(self, stream: str, news: Sequence[NewEvent]) -> tuple[list[Envelope], int]:
        """Envelopes already stored for these events (checked equal), and how many are new."""
        stored: list[Envelope] = []
        fresh = 0
        for ne in news:
            seq = self._ids.get(str(ne.event_id))
            if seq is None:
                fresh += 1
                continue
            rec = self._records[seq - 1]
            if not same_event(rec, stream, ne):
                raise IdempotencyError(str(ne.event_id), seq)
            stored.append(envelope_from_record(rec))
        return stored, fresh

    async def append(
        self, stream: str, events: Sequence[NewEvent], *, expected_version: int | None = None
    ) -> list[Envelope]:
        self._check_open()
        if not events:
            return []
        ids = [str(e.event_id) for e in events]
        if len(set(ids)) != len(ids):
            raise IdempotencyError(ids[0], 0)
        async with self._lock:
            for _ in range(50):
                await self._catch_up()
                stored, fresh = self._stored(stream, events)
                if fresh == 0:
                    return stored
                if stored:
                    raise IdempotencyError(str(stored[0].event_id), stored[0].seq)
                version = self._versions.get(stream, 0)
                if expected_version is not None and version != expected_version:
                    raise ConcurrencyError(stream, expected_version, version)
                records = self._encode(stream, events, version)
                subject = self._subject(stream)
                headers = {
                    "Nats-Msg-Id": hashlib.sha256("|".join(ids).encode()).hexdigest(),
                    "Nats-Expected-Last-Sequence": str(self._js_seq),
                    "Nats-Expected-Last-Subject-Sequence": str(self._subject_seq.get(subject, 0)),
                }
                errors = _NatsErrors(
                    self._where, stream=stream, expected=version, count=len(events)
                )
                try:
                    with errors:
                        ack = await self._js.publish(
                            subject,
                            orjson.dumps(records),
                            stream=self.stream_name,
                            headers=headers,
                        )
                except ConcurrencyError:
                    continue  # another writer appended first: re-read and decide again
                if ack.duplicate:
                    continue  # stored by an earlier try: the next catch-up returns it
                if ack.seq != self._js_seq + 1:
                    await self._catch_up()
                    stored, _ = self._stored(stream, events)
                    return stored
                self._apply_batch(ack.seq, subject, orjson.dumps(records))
                self._notify()
                return [envelope_from_record(r) for r in records]
        # the log kept moving under us: as good as a conflict to the caller
        raise ConcurrencyError(
            stream,
            self._versions.get(stream, 0) if expected_version is None else expected_version,
            None,
        )

    def _encode(
        self, stream: str, events: Sequence[NewEvent], version: int
    ) -> list[dict[str, Any]]:
        envelopes = new_envelopes(
            stream,
            events,
            seq=len(self._records),
            version=version,
            prev_hash=self._tail,
            recorded_at=format_time(datetime.now(UTC)),
        )
        return [record_of_envelope(env) for env in envelopes]

    def _notify(self) -> None:
        event, self._appended = self._appended, anyio.Event()
        event.set()

    async def read_stream(self, stream: str, *, from_version: int = 1) -> list[Envelope]:
        self._check_open()
        await self._catch_up()
        return [
            envelope_from_record(r)
            for r in self._records
            if r["stream"] == stream and r["stream_version"] >= from_version
        ]

    async def read_records(
        self, *, from_seq: int = 1, limit: int | None = None, with_hash: bool = True
    ) -> list[dict[str, Any]]:
        self._check_open()
        await self._catch_up()
        end = None if limit is None else from_seq - 1 + limit
        out = [dict(r) for r in self._records[max(from_seq, 1) - 1 : end]]
        if not with_hash:
            for r in out:
                del r["hash"]
        return out

    async def read_all(self, *, from_seq: int = 1, limit: int | None = None) -> list[Envelope]:
        return [
            envelope_from_record(r) for r in await self.read_records(from_seq=from_seq, limit=limit)
        ]

    async def subscribe(self, *, from_seq: int = 1) -> AsyncIterator[Envelope]:
        async for env in follow_log(
            lambda seq: self.read_all(from_seq=seq, limit=1000),
            from_seq=from_seq,
            closed=lambda: self._closed,
            appended=lambda: self._appended,
            poll_s=self._poll_s,
        ):
            yield env

    async def last_seq(self) -> int:
        self._check_open()
        await self._catch_up()
        return len(self._records)

    async def stream_version(self, stream: str) -> int:
        self._check_open()
        await self._catch_up()
        return self._versions.get(stream, 0)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._appended.set()
        with anyio.CancelScope(shield=True), _NatsErrors(self._where):
            await self._nc.close()

    async def delete_stream(self) -> None:
        """Remove the JetStream stream (tests and decommissioning only)."""
        with _NatsErrors(self._where):
            await self._js.delete_stream(self.stream_name)
