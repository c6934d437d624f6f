# Past 450 lines (about 1,300): the JetStream engine, its paged readers and its checkpoints.
# Known debt: its checkpoint signer and its audit source belong in modules of their own.
"""The distributed engine: the log on NATS JetStream, with the same envelopes, hash chain and
signed Merkle checkpoints as the SQLite engine.

JetStream 2.9 has no atomic multi-message publish, so one *batch* is one message (a JSON
array of records) on `<prefix>.<stream>`: a batch is stored whole or not at all. Each carries
the headers `Lfr-Seq` (its first record's global seq) and `Lfr-Count`, so a reader finds the
message holding any seq by bisecting the stream. Ordering and concurrency come from JetStream
itself: each publish carries `Nats-Expected-Last-Sequence` (no other writer appended since
this one last looked, so the `seq`, `prev_hash` and stream versions it computed still hold);
a refused publish makes the writer catch up and decide again. `Nats-Msg-Id` (derived from the
batch's event ids) makes a retried publish a no-op inside the server's duplicate window, and
the writer's event-id index makes it a no-op after it.

The log's own records sit beside the events in the same stream, on subjects two tokens deep
(an event subject is one token after the prefix, so they never collide):

    <prefix>._lfr.meta   the log's identity: format, log_id, created_at, the signing key's
                         public half (published once, by the writer that finds the stream empty)
    <prefix>._lfr.cp     signed checkpoints (`lfr.store.checkpoint`'s format, the same key
                         handling as SQLite) with the Merkle frontier at their size

Readers page: every read runs an ephemeral pull consumer (`AckPolicy.NONE`, filtered on
`<prefix>.*`, from the message holding the first seq asked for) and fetches a bounded number
of messages at a time, so no reader holds the log in memory; `subscribe` follows with one
such consumer. The writer keeps only what deciding an append needs: the tail (seq, hash,
JetStream sequence), each stream's version, the Merkle frontier (O(log n)) and the event-id
index (seq per id, for idempotency).

`NatsAuditSource` is the same log, read synchronously for `lfr audit` and the API's audit
routes (`lfr.store.source.AuditSource`).

nats-py errors are translated into the store's in one place (`_NatsErrors`): a dead or
unreachable server is a `StoreUnavailableError`, never a client exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lfr.store import checkpoint as ckpt
from lfr.store.base import (
    ConcurrencyError,
    CorruptLogError,
    IdempotencyError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    StoreWriteError,
)
from lfr.store.hashchain import (
    GENESIS_HASH,
    MerkleFrontier,
    canonical_body,
    check_link,
    envelope_from_record,
    format_time,
    new_envelopes,
    record_of_envelope,
    same_event,
)
from lfr.store.merkle import consistency_proof_from, leaf_hash
from lfr.store.witness import Witness, WitnessRefusedError
from schemas.envelope import Envelope, NewEvent

__all__ = ["NatsAuditSource", "NatsEventStore", "NatsLogReader", "connect"]

log = logging.getLogger("lfr.store.nats")

# JetStream API error codes (nats-server's errors.json)
_WRONG_LAST_SEQUENCE = 10071  # JSStreamWrongLastSequenceErrF
_STORAGE_FULL = frozenset({10023, 10047})  # insufficient resources, storage exceeded
_STORE_FAILED = 10077  # JSStreamStoreFailedF: the server could not write the message

FORMAT = "lfr-event-log"
FORMAT_VERSION = 1
PAGE_MESSAGES = 256  # at most this many messages fetched at a time by a reader...
PAGE_BYTES = (
    512 << 10
)  # ...aiming at about this many bytes (a message is one batch: its size varies)
_RETRY_S = 5.0

T = TypeVar("T")


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
        if isinstance(exc, nats.errors.MaxPayloadError):
            return StoreWriteError(
                self.where,
                self.stream,
                self.count,
                f"the batch is larger than the server's max_payload ({exc})",
                False,
            )
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


async def connect(
    url: str,
    *,
    creds: Path | None = None,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    connect_attempts: int = 3,
) -> Any:
    """A NATS connection (`creds`: a `.creds` file of NATS decentralised auth; else user and
    password, or a token).

    :raises StoreUnavailableError: no NATS server answers at `url`.
    """
    import nats

    options: dict[str, Any] = {}
    if creds is not None:
        options["user_credentials"] = str(creds)
    if user is not None:
        options["user"] = user
        options["password"] = password
    if token is not None:
        options["token"] = token
    with _NatsErrors(url):
        return await nats.connect(
            url,
            connect_timeout=5,
            max_reconnect_attempts=connect_attempts,
            allow_reconnect=connect_attempts > 0,
            **options,
        )


def _header_int(headers: dict[str, str] | None, name: str) -> int | None:
    if not headers or name not in headers:
        return None
    try:
        return int(headers[name])
    except ValueError:
        return None


class NatsLogReader:
    """Paged, read-only access to one log's stream (no state beyond its names): the reads
    of `NatsEventStore` and `NatsAuditSource`. Every method may raise `StoreError`s only."""

    def __init__(self, nc: Any, js: Any, *, stream_name: str, prefix: str) -> None:
        self.nc = nc
        self.js = js
        self.stream_name = stream_name
        self.prefix = prefix
        self.events_filter = f"{prefix}.*"
        self.meta_subject = f"{prefix}._lfr.meta"
        self.checkpoint_subject = f"{prefix}._lfr.cp"
        # (first seq of a message -> its JetStream seq) of messages read lately, so a reader
        # asking for the next page starts from there instead of bisecting again (bounded)
        self._starts: dict[int, int] = {}

    @property
    def where(self) -> str:
        return f"nats:{self.stream_name}"

    def errors(self, **kw: Any) -> _NatsErrors:
        return _NatsErrors(self.where, **kw)

    @classmethod
    async def attach(cls, nc: Any, stream_name: str) -> NatsLogReader:
        """A reader of an existing stream; its subject prefix read from the stream's config.

        :raises StoreError: no such stream, or not one of lfr's.
        """
        from nats.js.errors import NotFoundError

        js = nc.jetstream()
        with _NatsErrors(f"nats:{stream_name}"):
            try:
                info = await js.stream_info(stream_name)
            except NotFoundError:
                raise StoreError(
                    f"nats:{stream_name}: no such JetStream stream; check --stream (and the "
                    "server: --nats-url)"
                ) from None
        subjects = [s for s in (info.config.subjects or []) if s.endswith(".>")]
        if len(subjects) != 1:
            raise StoreError(
                f"nats:{stream_name}: not an lfr event log (its subjects are "
                f"{info.config.subjects})"
            )
        return cls(nc, js, stream_name=stream_name, prefix=subjects[0][:-2])

    async def last_js_seq(self) -> int:
        with self.errors():
            info = await self.js.stream_info(self.stream_name)
        return int(info.state.last_seq)

    async def _get(self, seq: int | None, subject: str | None, *, next_: bool) -> Any | None:
        from nats.js.errors import NotFoundError

        with self.errors():
            try:
                return await self.js.get_msg(self.stream_name, seq, subject=subject, next=next_)
            except NotFoundError:
                return None

    async def meta(self) -> dict[str, Any] | None:
        msg = await self._get(None, self.meta_subject, next_=False)
        if msg is None:
            return None
        try:
            doc = orjson.loads(msg.data or b"")
        except orjson.JSONDecodeError as exc:
            raise CorruptLogError(self.where, "the log's metadata is not JSON") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise CorruptLogError(self.where, "not an lfr event log (metadata format)")
        if int(doc.get("format_version", 0)) > FORMAT_VERSION:
            raise CorruptLogError(
                self.where,
                f"log format version {doc.get('format_version')} is newer than this lfr "
                f"({FORMAT_VERSION}); upgrade lfr",
            )
        return doc

    async def messages(
        self, *, start_js: int = 1, subject: str | None = None, until_js: int | None = None
    ) -> AsyncIterator[list[Any]]:
        """Pages of messages (about `PAGE_BYTES`, at most `PAGE_MESSAGES`) on `subject`
        (default: the events) from JetStream seq `start_js` on, through `until_js` (default:
        whatever the stream holds when the read reaches its end). One ephemeral pull
        consumer, deleted after."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(1, start_js),
            ack_policy=AckPolicy.NONE,
            filter_subject=subject or self.events_filter,
            inactive_threshold=60.0,
            mem_storage=True,
            num_replicas=1,
        )
        with self.errors():
            info = await self.js.add_consumer(self.stream_name, config=config)
        name = info.name
        try:
            if info.num_pending == 0:
                return
            with self.errors():
                psub = await self.js.pull_subscribe_bind(
                    name=name,
                    stream=self.stream_name,
                    pending_msgs_limit=4 * PAGE_MESSAGES,
                )
            try:
                batch = 8  # adapted to the messages' size: a page stays near PAGE_BYTES
                while True:
                    with self.errors():
                        try:
                            page = await psub.fetch(batch=batch, timeout=10)
                        except TimeoutError:
                            return
                    size = sum(len(m.data or b"") for m in page) // max(1, len(page))
                    batch = max(1, min(PAGE_MESSAGES, PAGE_BYTES // max(1, size)))
                    if until_js is not None:
                        page = [m for m in page if m.metadata.sequence.stream <= until_js]
                        if not page:
                            return
                    yield page
                    meta = page[-1].metadata
                    if meta.num_pending == 0:
                        return
                    if until_js is not None and meta.sequence.stream >= until_js:
                        return
            finally:
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await psub.unsubscribe()
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self.js.delete_consumer(self.stream_name, name)

    def _decode(self, js_seq: int, data: bytes) -> list[dict[str, Any]]:
        try:
            batch = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CorruptLogError(self.where, f"message {js_seq} is not JSON ({exc})") from exc
        if not isinstance(batch, list):
            raise CorruptLogError(self.where, f"message {js_seq} is not a batch of records")
        return batch

    async def locate(self, seq: int) -> int:
        """A JetStream seq at or before the message holding the event at global `seq`, after
        every message wholly before it (1 when unsure): bisects on the `Lfr-Seq` headers."""
        if seq <= 1:
            return 1
        hit = self._starts.get(seq)
        if hit is not None:
            return hit
        below = [first for first in self._starts if first <= seq]
        if below and seq - max(below) <= 4 * PAGE_MESSAGES:  # a message read lately, close by
            return self._starts[max(below)]
        lo, hi, best = 1, await self.last_js_seq(), 1
        while lo <= hi:
            mid = (lo + hi) // 2
            msg = await self._get(mid, self.events_filter, next_=True)
            if msg is None:
                hi = mid - 1
                continue
            first = _header_int(msg.headers, "Lfr-Seq")
            if first is None:  # written before the headers: read its records
                batch = self._decode(msg.seq, msg.data or b"")
                first = int(batch[0]["seq"]) if batch else seq + 1
            if first <= seq:
                best = msg.seq
                lo = msg.seq + 1
            else:
                hi = mid - 1
        return best

    def _remember(self, seq: int, js_seq: int) -> None:
        if len(self._starts) > 1024:
            self._starts.clear()
        self._starts[seq] = js_seq

    async def pages(
        self, *, from_seq: int = 1, until_js: int | None = None
    ) -> AsyncIterator[list[tuple[str, list[dict[str, Any]]]]]:
        """(subject, records) of each event message from the one holding `from_seq` on, a
        page at a time; records before `from_seq` left out."""
        start = await self.locate(from_seq)
        async for page in self.messages(start_js=start, until_js=until_js):
            out: list[tuple[str, list[dict[str, Any]]]] = []
            for msg in page:
                records = self._decode(0, msg.data or b"")
                if records:
                    self._remember(records[0]["seq"], msg.metadata.sequence.stream)
                if records and records[0]["seq"] < from_seq:
                    records = [r for r in records if r["seq"] >= from_seq]
                if records:
                    out.append((msg.subject, records))
            if out:
                yield out

    async def records(
        self, *, from_seq: int = 1, limit: int | None = None, until_js: int | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Records from global `from_seq` on (at most `limit`), a page at a time."""
        left = limit
        async for page in self.pages(from_seq=from_seq, until_js=until_js):
            chunk = [r for _, records in page for r in records]
            if left is not None:
                chunk = chunk[:left]
                left -= len(chunk)
            if chunk:
                yield chunk
            if left is not None and left <= 0:
                return

    async def read_records(
        self, *, from_seq: int = 1, limit: int | None = None
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for chunk in self.records(from_seq=from_seq, limit=limit):
            out += chunk
        return out

    async def checkpoints(
        self, *, until_js: int | None = None
    ) -> list[tuple[ckpt.Checkpoint, str]]:
        """Every signed checkpoint with its Merkle frontier (JSON), by tree size."""
        out: list[tuple[ckpt.Checkpoint, str]] = []
        async for page in self.messages(subject=self.checkpoint_subject, until_js=until_js):
            for msg in page:
                try:
                    doc = orjson.loads(msg.data or b"")
                    out.append((ckpt.Checkpoint.from_dict(doc), str(doc.get("frontier", ""))))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    raise CorruptLogError(
                        self.where,
                        f"checkpoint message {msg.metadata.sequence.stream} is unreadable ({exc})",
                    ) from exc
        out.sort(key=lambda c: c[0].tree_size)
        return out

    async def find_event(self, event_id: str, *, near_seq: int | None = None) -> Envelope | None:
        """The event with this id: read from its seq when known, else by scanning the log."""
        async for chunk in self.records(from_seq=near_seq or 1):
            for rec in chunk:
                if rec.get("event_id") == event_id:
                    return envelope_from_record(rec)
            if near_seq is not None:
                return None
        return None

    async def hashes(self, after: int, until: int) -> list[str]:
        """The event hashes of seqs `after`+1 .. `until`."""
        out: list[str] = []
        if until <= after:
            return out
        async for chunk in self.records(from_seq=after + 1, limit=until - after):
            out += [r["hash"] for r in chunk]
        return out

    async def frontier_at(
        self, size: int, checkpoints: Sequence[tuple[ckpt.Checkpoint, str]] | None = None
    ) -> MerkleFrontier:
        """The Merkle frontier after `size` events (the newest checkpoint's at or below it,
        then the hashes after it)."""
        if checkpoints is None:
            checkpoints = await self.checkpoints()
        frontier = MerkleFrontier()
        for cp, text in checkpoints:
            if cp.tree_size <= size and text and cp.tree_size > frontier.size:
                frontier = MerkleFrontier.from_json(text)
        for h in await self.hashes(frontier.size, size):
            frontier.append(h)
        if frontier.size != size:
            raise StoreError(f"{self.where}: the log holds fewer than {size} events")
        return frontier

    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 consistency proof between the log's trees of these sizes."""
        if not 0 <= old_size <= new_size:
            raise StoreError(f"no consistency proof from tree size {old_size} to {new_size}")
        old = await self.frontier_at(old_size)
        leaves = [leaf_hash(h) for h in await self.hashes(old_size, new_size)]
        if old_size + len(leaves) != new_size:
            raise StoreError(
                f"the log holds {old_size + len(leaves)} events, fewer than the tree size "
                f"{new_size} asked for"
            )
        return consistency_proof_from(old, leaves)


class NatsEventStore:
    """`EventStore` on a JetStream stream (see the module docstring)."""

    def __init__(
        self,
        reader: NatsLogReader,
        *,
        poll_s: float,
        key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval_s: float = 10.0,
        witnesses: Sequence[Witness] = (),
    ) -> None:
        self.reader = reader
        self._nc = reader.nc
        self._js = reader.js
        self.stream_name = reader.stream_name
        self.prefix = reader.prefix
        self._poll_s = poll_s
        self._key = key
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval_s = checkpoint_interval_s
        self.witnesses = list(witnesses)
        self.log_id = ""
        self._public_pem = ""
        # the writer's state: the tail and what deciding an append needs
        self._seq = 0
        self._tail = GENESIS_HASH
        self._js_seq = 0
        self._versions: dict[str, int] = {}
        self._ids: dict[str, int] = {}  # event id -> seq
        self._frontier = MerkleFrontier()
        self._signed_size = -1  # the newest checkpoint's tree size (-1: none)
        self._newest: ckpt.Checkpoint | None = None
        self.unsigned_since: float | None = None
        self.published: dict[str, ckpt.Checkpoint] = {}
        self.witness_errors: dict[str, str] = {}
        self._lock = anyio.Lock()
        self._appended = anyio.Event()
        self._wake = anyio.Event()
        self._closed = False
        self._signer: asyncio.Task[None] | None = None

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
        signing_key: Ed25519PrivateKey | Path | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval_s: float = 10.0,
        witnesses: Sequence[Witness] = (),
        creds: Path | None = None,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> NatsEventStore:
        """Connect, create the JetStream stream (and the log's identity) if absent, and catch
        up with the log.

        The checkpoint key is `signing_key` (a key or a PEM file), else the environment's
        (`LFR_CHECKPOINT_KEY`, `LFR_CHECKPOINT_KEY_FILE`), as for SQLite; checkpoints are
        signed every `checkpoint_every` events, once the oldest unsigned event is
        `checkpoint_interval_s` old, and on close, and published to `witnesses`.

        `connect_attempts` (at least 1; nats-py retries forever at 0) bounds how long a dead
        server keeps the caller waiting: about 2 s an attempt.

        :raises StoreUnavailableError: no NATS server answers at `url`.
        :raises CheckpointKeyError: no signing key.
        :raises StoreError: the key did not sign this log.
        """
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        key = (
            signing_key
            if isinstance(signing_key, Ed25519PrivateKey)
            else await anyio.to_thread.run_sync(
                lambda: ckpt.load_signing_key(None, path=signing_key)
            )
        )
        nc = await connect(
            url,
            creds=creds,
            user=user,
            password=password,
            token=token,
            connect_attempts=connect_attempts,
        )
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
            reader = NatsLogReader(nc, js, stream_name=stream_name, prefix=prefix)
            store = cls(
                reader,
                poll_s=poll_s,
                key=key,
                checkpoint_every=checkpoint_every,
                checkpoint_interval_s=checkpoint_interval_s,
                witnesses=witnesses,
            )
            await store._identify()
            async with store._lock:
                await store._catch_up()
        except BaseException:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await nc.close()
            raise
        store._signer = asyncio.get_running_loop().create_task(store._sign_on_timer())
        return store

    @property
    def _where(self) -> str:
        return self.reader.where

    def _subject(self, stream: str) -> str:
        return f"{self.prefix}.{_subject_token(stream)}"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    # --- identity and checkpoints -------------------------------------------------------------

    async def _identify(self) -> None:
        """Read the log's identity; in an empty stream write it (and sign the empty tree)."""
        meta = await self.reader.meta()
        mine = ckpt.public_key_pem(self._key.public_key()) if self._key is not None else ""
        if meta is None and await self.reader.last_js_seq() == 0:
            log_id = str(uuid.uuid4())
            doc: dict[str, Any] = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "log_id": log_id,
                "created_at": format_time(datetime.now(UTC)),
                "public_key": mine,
            }
            try:
                with self.reader.errors(stream="(meta)", expected=0):
                    await self._js.publish(
                        self.reader.meta_subject,
                        orjson.dumps(doc),
                        stream=self.stream_name,
                        headers={"Nats-Expected-Last-Sequence": "0"},
                    )
            except ConcurrencyError:
                pass  # another writer created the log first: read its identity
            else:
                self.log_id, self._public_pem = log_id, mine
                if self._key is not None:
                    await self._publish_checkpoint(MerkleFrontier(), 0, GENESIS_HASH)
                return
            meta = await self.reader.meta()
        if meta is None:  # a stream written before logs had an identity
            self.log_id, self._public_pem = f"nats:{self.stream_name}", ""
            return
        self.log_id = str(meta["log_id"])
        self._public_pem = str(meta.get("public_key", ""))
        if self._public_pem and mine and self._public_pem != mine:
            raise StoreError(
                f"{self._where}: the checkpoint key given did not sign this log (the log "
                "records another public key); give the site's original key"
            )

    def public_key_pem(self) -> str:
        return self._public_pem

    async def _publish_checkpoint(
        self, frontier: MerkleFrontier, size: int, last_hash: str
    ) -> ckpt.Checkpoint:
        assert self._key is not None
        cp = ckpt.Checkpoint(
            log_id=self.log_id,
            tree_size=size,
            root=frontier.root().hex(),
            last_hash=last_hash,
            signed_at=format_time(datetime.now(UTC)),
            key_id=ckpt.key_id(self._key.public_key()),
        ).signed(self._key)
        body = orjson.dumps({**cp.to_dict(), "frontier": frontier.to_json()})
        with self.reader.errors():
            ack = await self._js.publish(
                self.reader.checkpoint_subject, body, stream=self.stream_name
            )
        if ack.seq == self._js_seq + 1:
            self._js_seq = ack.seq
        self._note_checkpoint(cp)
        return cp

    def _note_checkpoint(self, cp: ckpt.Checkpoint) -> None:
        if cp.tree_size > self._signed_size:
            self._signed_size = cp.tree_size
            self._newest = cp
        if self._signed_size >= self._seq:
            self.unsigned_since = None

    async def checkpoint_now(self) -> bool:
        """Sign a checkpoint of the current tree unless the newest one already covers it;
        True when one was signed."""
        if self._key is None or self._closed:
            return False
        async with self._lock:
            await self._catch_up()
            if self._seq == 0 or self._signed_size >= self._seq:
                self.unsigned_since = None
                return False
            await self._publish_checkpoint(self._frontier, self._seq, self._tail)
            return True

    async def checkpoint(self) -> None:
        """Sign a checkpoint now and publish it to the witnesses (also done every
        `checkpoint_every` events, on the timer and on close)."""
        self._check_open()
        await self.checkpoint_now()
        await self.publish_witnesses()

    async def _sign_on_timer(self) -> None:
        while not self._closed:
            since = self.unsigned_since
            timeout = self.checkpoint_interval_s
            if since is not None:
                timeout = max(0.0, since + timeout - time.monotonic())
            if self.witness_errors:
                timeout = min(timeout, _RETRY_S)
            with anyio.move_on_after(timeout):
                await self._wake.wait()
            self._wake = anyio.Event()
            if self._closed:
                return
            try:
                since = self.unsigned_since
                if since is not None and time.monotonic() - since >= self.checkpoint_interval_s:
                    await self.checkpoint_now()
                await self.publish_witnesses()
            except StoreError as exc:
                log.error("checkpoint signer: %s", exc)
                await anyio.sleep(_RETRY_S)

    async def publish_witnesses(self) -> None:
        """Offer the newest signed checkpoint to every witness that does not hold it (as the
        SQLite engine's signer does: with a consistency proof from what the witness holds)."""
        newest = self._newest
        if not self.witnesses or newest is None:
            return
        for witness in self.witnesses:
            if self.published.get(witness.name) == newest:
                continue
            try:
                await self._publish_to(witness, newest)
            except StoreError as exc:
                first = self.witness_errors.get(witness.name) != str(exc)
                self.witness_errors[witness.name] = str(exc)
                if isinstance(exc, WitnessRefusedError):
                    log.error("checkpoint of tree size %d: %s", newest.tree_size, exc)
                elif first:
                    log.warning("checkpoint not witnessed (will retry): %s", exc)
            else:
                if self.witness_errors.pop(witness.name, None) is not None:
                    log.warning("witness %s reachable again", witness.name)

    async def _publish_to(self, witness: Witness, newest: ckpt.Checkpoint) -> None:
        held = await anyio.to_thread.run_sync(witness.latest, newest.log_id)
        if held is not None and held.tree_size > newest.tree_size:
            raise StoreError(
                f"the witness {witness.name} holds tree size {held.tree_size}, more than this "
                f"log's newest checkpoint ({newest.tree_size}): the log was truncated"
            )
        if held is not None and held.tree_size == newest.tree_size:
            self.published[witness.name] = held
            if held != newest:
                raise StoreError(
                    f"the witness {witness.name} holds another checkpoint of tree size "
                    f"{held.tree_size} than this log"
                )
            return
        start = 0 if held is None else held.tree_size
        proof = [h.hex() for h in await self.reader.consistency_proof(start, newest.tree_size)]
        pem = self._public_pem
        await anyio.to_thread.run_sync(lambda: witness.submit(newest, pem, start, proof))
        self.published[witness.name] = newest

    # --- the writer's state -------------------------------------------------------------------

    async def _catch_up(self) -> None:
        """Apply every message after the last one seen (checking the chain): the tail,
        versions, event ids and Merkle frontier. Called with the lock held."""
        last = await self.reader.last_js_seq()
        if last <= self._js_seq:
            return
        async for page in self.reader.messages(
            start_js=self._js_seq + 1, subject=f"{self.prefix}.>"
        ):
            for msg in page:
                js_seq = msg.metadata.sequence.stream
                if msg.subject == self.reader.checkpoint_subject:
                    try:
                        self._note_checkpoint(
                            ckpt.Checkpoint.from_dict(orjson.loads(msg.data or b""))
                        )
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                        raise CorruptLogError(
                            self._where, f"checkpoint message {js_seq} is unreadable"
                        ) from exc
                elif msg.subject.count(".") == self.prefix.count(".") + 1:
                    self._apply_batch(self.reader._decode(js_seq, msg.data or b""))
                self._js_seq = js_seq

    def _apply_batch(self, batch: list[dict[str, Any]]) -> None:
        where = self._where
        frontier = self._frontier
        for rec in batch:
            seq = self._seq + 1
            self._tail = check_link(rec, seq, self._tail, where=where)
            self._seq = seq
            self._versions[rec["stream"]] = rec["stream_version"]
            self._ids[rec["event_id"]] = seq
            frontier.append(self._tail)

    async def _stored(self, stream: str, news: Sequence[NewEvent]) -> tuple[list[Envelope], int]:
        """Envelopes already stored for these events (checked equal), and how many are new."""
        stored: list[Envelope] = []
        fresh = 0
        for ne in news:
            seq = self._ids.get(str(ne.event_id))
            if seq is None:
                fresh += 1
                continue
            [rec] = await self.reader.read_records(from_seq=seq, limit=1)
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
                stored, fresh = await self._stored(stream, events)
                if fresh == 0:
                    return stored
                if stored:
                    raise IdempotencyError(str(stored[0].event_id), stored[0].seq)
                version = self._versions.get(stream, 0)
                if expected_version is not None and version != expected_version:
                    # perhaps only this writer's view is stale: look again before refusing
                    if await self.reader.last_js_seq() != self._js_seq:
                        await self._catch_up()
                        continue
                    raise ConcurrencyError(stream, expected_version, version)
                records = self._encode(stream, events, version)
                data = orjson.dumps(records)
                headers = {
                    "Nats-Msg-Id": hashlib.sha256("|".join(ids).encode()).hexdigest(),
                    "Nats-Expected-Last-Sequence": str(self._js_seq),
                    "Lfr-Seq": str(self._seq + 1),
                    "Lfr-Count": str(len(records)),
                }
                errors = _NatsErrors(
                    self._where, stream=stream, expected=version, count=len(events)
                )
                try:
                    with errors:
                        ack = await self._js.publish(
                            self._subject(stream), data, stream=self.stream_name, headers=headers
                        )
                except ConcurrencyError:
                    await self._catch_up()  # another writer appended first: decide again
                    continue
                if ack.duplicate or ack.seq != self._js_seq + 1:
                    await self._catch_up()  # stored by an earlier try: returned next round
                    continue
                first = self._seq + 1
                self._apply_batch(records)
                self._js_seq = ack.seq
                self._notify()
                await self._after_append(first)
                return [envelope_from_record(r) for r in records]
        # the log kept moving under us: as good as a conflict to the caller
        raise ConcurrencyError(
            stream,
            self._versions.get(stream, 0) if expected_version is None else expected_version,
            None,
        )

    async def _after_append(self, first_seq: int) -> None:
        if self._key is None:
            return
        every = self.checkpoint_every
        if (first_seq - 1) // every != self._seq // every:
            await self._publish_checkpoint(self._frontier, self._seq, self._tail)
            self._wake.set()  # the timer task publishes it to the witnesses
        elif self.unsigned_since is None:
            self.unsigned_since = time.monotonic()
            self._wake.set()

    def _encode(
        self, stream: str, events: Sequence[NewEvent], version: int
    ) -> list[dict[str, Any]]:
        envelopes = new_envelopes(
            stream,
            events,
            seq=self._seq,
            version=version,
            prev_hash=self._tail,
            recorded_at=self._recorded_at(),
        )
        return [record_of_envelope(env) for env in envelopes]

    def _recorded_at(self) -> str:
        return format_time(datetime.now(UTC))

    def _notify(self) -> None:
        event, self._appended = self._appended, anyio.Event()
        event.set()

    # --- reading ------------------------------------------------------------------------------

    async def read_stream(self, stream: str, *, from_version: int = 1) -> list[Envelope]:
        """The stream's envelopes (one consumer filtered on the stream's subject)."""
        self._check_open()
        out: list[Envelope] = []
        async for page in self.reader.messages(subject=self._subject(stream)):
            for msg in page:
                for rec in self.reader._decode(0, msg.data or b""):
                    if rec["stream"] == stream and rec["stream_version"] >= from_version:
                        out.append(envelope_from_record(rec))
        return out

    async def read_records(
        self, *, from_seq: int = 1, limit: int | None = None, with_hash: bool = True
    ) -> list[dict[str, Any]]:
        self._check_open()
        out = await self.reader.read_records(from_seq=from_seq, limit=limit)
        if not with_hash:
            for r in out:
                del r["hash"]
        return out

    async def read_all(self, *, from_seq: int = 1, limit: int | None = None) -> list[Envelope]:
        return [
            envelope_from_record(r) for r in await self.read_records(from_seq=from_seq, limit=limit)
        ]

    async def subscribe(self, *, from_seq: int = 1) -> AsyncIterator[Envelope]:
        """Catch up from `from_seq` a page at a time, then follow: woken by this process's
        appends and polling every `poll_s` for other writers. Holds one page at most."""
        next_seq = from_seq
        while not self._closed:
            waiter = self._appended
            got = False
            try:
                async for chunk in self.reader.records(from_seq=next_seq):
                    for rec in chunk:
                        got = True
                        yield envelope_from_record(rec)
                        next_seq = rec["seq"] + 1
                    if self._closed:
                        return
            except StoreClosedError:
                return
            except StoreUnavailableError:
                if self._closed:
                    return
                raise
            if not got:
                with anyio.move_on_after(self._poll_s):
                    await waiter.wait()

    async def iter_records(
        self, *, from_seq: int = 1, limit: int | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Records a page at a time (bounded memory): replays and exports."""
        self._check_open()
        async for chunk in self.reader.records(from_seq=from_seq, limit=limit):
            yield chunk

    async def find_event(self, event_id: uuid.UUID | str) -> Envelope | None:
        self._check_open()
        seq = self._ids.get(str(event_id))
        if seq is None:
            return None
        return await self.reader.find_event(str(event_id), near_seq=seq)

    async def last_seq(self) -> int:
        self._check_open()
        async with self._lock:
            await self._catch_up()
        return self._seq

    async def stream_version(self, stream: str) -> int:
        self._check_open()
        async with self._lock:
            await self._catch_up()
        return self._versions.get(stream, 0)

    def audit_source(self) -> NatsAuditSource:
        """This log read synchronously (in a worker thread of this event loop) by the audit
        code: `lfr.store.verify`, `lfr.store.proof`."""
        return NatsAuditSource(self.reader, anyio.from_thread.run, log_id=self.log_id)

    @property
    def signer_errors(self) -> dict[str, str]:
        return self.witness_errors

    async def aclose(self) -> None:
        if self._closed:
            return
        with anyio.CancelScope(shield=True):
            if self._signer is not None:
                self._signer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._signer
            try:
                await self.checkpoint_now()
                await self.publish_witnesses()
            except StoreError as exc:
                log.error("closing the NATS log: could not sign its tail: %s", exc)
            self._closed = True
            self._appended.set()
            with _NatsErrors(self._where), contextlib.suppress(StoreError):
                await self._nc.close()

    async def __aenter__(self) -> NatsEventStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def delete_stream(self) -> None:
        """Remove the JetStream stream (tests and decommissioning only); closing after signs
        nothing."""
        with _NatsErrors(self._where):
            await self._js.delete_stream(self.stream_name)
        self._key = None


_END = object()


async def _next(agen: AsyncIterator[T]) -> T | object:
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return _END


class NatsAuditSource:
    """A JetStream log read synchronously (`lfr.store.source.AuditSource`): every call runs
    on an event loop through `call` (a blocking portal's, or `anyio.from_thread.run` from a
    worker thread of the loop that owns the connection)."""

    def __init__(
        self,
        reader: NatsLogReader,
        call: Callable[..., Any],
        *,
        log_id: str | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._reader = reader
        self._call = call
        self._on_close = on_close
        self._until: int | None = None
        self.checkpoint_every = 1000
        meta = self._run(reader.meta)
        self._meta = meta or {}
        self.log_id = log_id or str(self._meta.get("log_id") or f"nats:{reader.stream_name}")

    @classmethod
    def connect(
        cls,
        url: str,
        stream_name: str,
        *,
        creds: Path | None = None,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> NatsAuditSource:
        """Open the log read-only from synchronous code (its own event loop, in a thread).

        :raises StoreUnavailableError: the server is unreachable.
        :raises StoreError: no such stream, or not an lfr log.
        """
        portal_cm = anyio.from_thread.start_blocking_portal("asyncio")
        portal = portal_cm.__enter__()
        try:

            async def attach() -> NatsLogReader:
                nc = await connect(
                    url,
                    creds=creds,
                    user=user,
                    password=password,
                    token=token,
                    connect_attempts=1,
                )
                try:
                    return await NatsLogReader.attach(nc, stream_name)
                except BaseException:
                    await nc.close()
                    raise

            reader = portal.call(attach)
        except BaseException:
            portal_cm.__exit__(None, None, None)
            raise

        def close() -> None:
            try:
                with contextlib.suppress(Exception):
                    portal.call(reader.nc.close)
            finally:
                portal_cm.__exit__(None, None, None)

        try:
            return cls(reader, portal.call, on_close=close)
        except BaseException:
            close()
            raise

    def _run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        result: T = self._call(fn, *args)
        return result

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        try:
            while (item := self._run(_next, agen)) is not _END:
                yield item  # type: ignore[misc]
        finally:
            self._run(agen.aclose)  # type: ignore[attr-defined]

    @property
    def where(self) -> str:
        return self._reader.where

    @property
    def path(self) -> str:
        return self.where

    def public_key_pem(self) -> str:
        return str(self._meta.get("public_key", ""))

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see the log as it stood on entry (appends after it are left out)."""
        self._until = self._run(self._reader.last_js_seq)
        try:
            yield
        finally:
            self._until = None

    def checkpoints(self) -> list[ckpt.Checkpoint]:
        return [cp for cp, _ in self._run(lambda: self._reader.checkpoints(until_js=self._until))]

    def newest_checkpoint(self) -> ckpt.Checkpoint | None:
        cps = self.checkpoints()
        return cps[-1] if cps else None

    def last_seq(self) -> int:
        """The newest event's seq (reads the newest event message's headers)."""

        async def newest() -> int:
            last = await self._reader.last_js_seq() if self._until is None else self._until
            while last > 0:
                msg = await self._reader._get(last, None, next_=False)
                if msg is not None and msg.subject.count(".") == self._reader.prefix.count(".") + 1:
                    first = _header_int(msg.headers, "Lfr-Seq")
                    count = _header_int(msg.headers, "Lfr-Count")
                    if first is not None and count is not None:
                        return first + count - 1
                    batch = self._reader._decode(msg.seq, msg.data or b"")
                    return int(batch[-1]["seq"]) if batch else 0
                last -= 1
            return 0

        return self._run(newest)

    def verify_rows(
        self, *, from_seq: int = 1
    ) -> Iterator[tuple[int, bytes, str, tuple[Any, ...]]]:
        """(seq, canonical body, stored hash, index) per event, in order; the index is what the
        message says of the record: (stream of its subject, stream_version, event_id, type)."""
        prefix_len = len(self._reader.prefix) + 1
        for page in self._iterate(self._reader.pages(from_seq=from_seq, until_js=self._until)):
            for subject, records in page:
                token = subject[prefix_len:]
                for rec in records:
                    seq = rec.get("seq")
                    stream = rec.get("stream")
                    subject_stream = (
                        stream
                        if isinstance(stream, str) and _subject_token(stream) == token
                        else token
                    )
                    yield (
                        seq if isinstance(seq, int) else -1,
                        canonical_body(rec),
                        str(rec.get("hash")),
                        (
                            seq,
                            subject_stream,
                            rec.get("stream_version"),
                            rec.get("event_id"),
                            rec.get("type"),
                        ),
                    )

    def iter_rows(self, *, from_seq: int = 1) -> Iterator[tuple[int, bytes, str]]:
        for seq, body, h, _ in self.verify_rows(from_seq=from_seq):
            yield seq, body, h

    def iter_records(
        self, *, from_seq: int = 1, limit: int | None = None, chunk: int = 1000
    ) -> Iterator[list[dict[str, Any]]]:
        """Records without `hash`, a page at a time (bounded memory)."""
        for page in self._iterate(
            self._reader.records(from_seq=from_seq, limit=limit, until_js=self._until)
        ):
            for r in page:
                r.pop("hash", None)
            yield page

    def find_event(self, event_id: str) -> Envelope | None:
        return self._run(self._reader.find_event, event_id)

    def leaf_hashes(self, until_seq: int) -> list[str]:
        return self._run(self._reader.hashes, 0, until_seq)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self._run(self._reader.consistency_proof, old_size, new_size)

    def close(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()
