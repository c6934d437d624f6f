"""`NatsEventStore`: the writer and the async `EventStore` on a JetStream stream (see the
package docstring); its checkpoints are `_checkpoints`'."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
)
from lfr.store.hashchain import (
    GENESIS_HASH,
    MerkleFrontier,
    check_link,
    encode_new,
    envelope_from_record,
    format_time,
    same_event,
)
from lfr.store.nats._audit import NatsAuditSource
from lfr.store.nats._checkpoints import HEADS_INTERVAL_S, _CheckpointSigning
from lfr.store.nats._errors import _NatsErrors, _subject_token, connect
from lfr.store.nats._heads import NatsHeads, Partition
from lfr.store.nats._reader import FORMAT, FORMAT_VERSION, NatsLogReader
from lfr.store.witness import Witness
from schemas.envelope import Envelope, NewEvent

log = logging.getLogger("lfr.store.nats")

ID_WINDOW = 100_000  # event ids a writer keeps for idempotency (about 15 MB)
VERSION_CACHE = 100_000  # stream versions a writer keeps (others read back when needed)
_SIGNER_STOP_S = 10.0  # how long closing waits for a checkpoint or witness call in flight


class NatsEventStore(_CheckpointSigning):
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
        partition: Partition | None = None,
        heads: NatsHeads | None = None,
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
        self.partition = partition
        self._heads = heads
        self._stated_size = -1
        self._stated_at = -HEADS_INTERVAL_S
        self.log_id = ""
        self._public_pem = ""
        # the writer's state: the tail and what deciding an append needs
        self._seq = 0
        self._tail = GENESIS_HASH
        self._js_seq = 0
        # bounded: the streams written lately (others read from their subject's newest
        # message) and the ids of the newest `ID_WINDOW` events (older retries: the server's
        # duplicate window, see the package docstring)
        self._versions: dict[str, int] = {}
        self._ids: dict[str, int] = {}  # event id -> seq
        self._resumed_at = 0  # the checkpoint's tree size this writer resumed from (0: none)
        self._versions_partial = False  # some streams' versions are not in `_versions`
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
        self._stopping = False  # close asked the checkpoint timer to end
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
        partition: Partition | None = None,
    ) -> NatsEventStore:
        """Connect, create the JetStream stream (and the log's identity) if absent, and catch
        up with the log.

        The checkpoint key is `signing_key` (a key or a PEM file), else the environment's
        (`LFR_CHECKPOINT_KEY`, `LFR_CHECKPOINT_KEY_FILE`), as for SQLite; checkpoints are
        signed every `checkpoint_every` events, once the oldest unsigned event is
        `checkpoint_interval_s` old, and on close, and published to `witnesses`.

        `connect_attempts` (at least 1; nats-py retries forever at 0) bounds how long a dead
        server keeps the caller waiting: about 2 s an attempt.

        With `partition`, the log is that partition of a partitioned log (its stream and
        subjects are the partition's, `stream_name` and `prefix` are ignored), and each of its
        checkpoints is also stated as the partition's head (`lfr.store.heads`).

        :raises StoreUnavailableError: no NATS server answers at `url`.
        :raises CheckpointKeyError: no signing key.
        :raises StoreError: the key did not sign this log.
        """
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        if partition is not None:
            stream_name, prefix = partition.stream, partition.prefix
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
            heads = None
            if partition is not None:
                heads = NatsHeads(nc, js, base=partition.base, base_prefix=partition.base_prefix)
                await heads.ensure(replicas=replicas)
            store = cls(
                reader,
                poll_s=poll_s,
                key=key,
                checkpoint_every=checkpoint_every,
                checkpoint_interval_s=checkpoint_interval_s,
                witnesses=witnesses,
                partition=partition,
                heads=heads,
            )
            await store._identify()
            async with store._lock:
                await store._resume()
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

    # --- identity (its checkpoints: _checkpoints) ----------------------------------------------

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
        elif meta is None:
            # the stream is not empty: its identity, if it has one, is its first message, so
            # it was there before the length was read (a writer that created the log just
            # after this one's first read of it): read it again
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

    # --- the writer's state -------------------------------------------------------------------

    async def _resume(self) -> None:
        """Start from the newest signed checkpoint instead of the log's first event: its
        signature (the log's recorded key), size, last hash and Merkle frontier give the
        tail, so opening reads only what follows it, plus the ids of the `ID_WINDOW` events
        before it (a retry shortly before a crash is still recognised). Without a usable
        checkpoint the writer reads the whole log, as before."""
        if not self._public_pem:
            return
        msg = await self.reader._get(None, self.reader.checkpoint_subject, next_=False)
        if msg is None:
            return
        try:
            doc = orjson.loads(msg.data or b"")
            cp = ckpt.Checkpoint.from_dict(doc)
            frontier = MerkleFrontier.from_json(str(doc["frontier"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return  # read the whole log; verify reports the bad checkpoint
        key = ckpt.load_public_key(self._public_pem)
        if (
            cp.tree_size == 0
            or cp.log_id != self.log_id
            or not cp.verify(key)
            or frontier.size != cp.tree_size
            or frontier.root().hex() != cp.root
        ):
            return
        async for chunk in self.reader.records(from_seq=max(1, cp.tree_size - ID_WINDOW + 1)):
            for rec in chunk:
                if rec["seq"] > cp.tree_size:
                    break
                self._ids[rec["event_id"]] = rec["seq"]
            if chunk and chunk[-1]["seq"] >= cp.tree_size:
                break
        self._seq, self._tail, self._frontier = cp.tree_size, cp.last_hash, frontier
        self._note_checkpoint(cp)
        self._resumed_at = cp.tree_size
        self._versions_partial = True
        self._js_seq = await self.reader.locate(cp.tree_size + 1) - 1

    async def _catch_up(self) -> None:
        """Apply every message after the last one seen (checking the chain): the tail,
        versions, event ids and Merkle frontier. Called with the lock held. (`messages` reads
        the stream's last seq first and returns at once when nothing is new.)"""
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
            if rec.get("seq", 0) <= self._seq and self._resumed_at:
                continue  # (the message holding a resumed checkpoint's last event)
            seq = self._seq + 1
            self._tail = check_link(rec, seq, self._tail, where=where)
            self._seq = seq
            self._versions[rec["stream"]] = rec["stream_version"]
            self._ids[rec["event_id"]] = seq
            frontier.append(self._tail)
        self._bound_indexes()

    def _bound_indexes(self) -> None:
        """Forget the oldest ids beyond `ID_WINDOW` and streams beyond `VERSION_CACHE`."""
        for index, bound in ((self._ids, ID_WINDOW), (self._versions, VERSION_CACHE)):
            extra = len(index) - bound
            if extra > 0:
                for key in list(itertools.islice(index, extra)):
                    del index[key]
                self._versions_partial |= index is self._versions

    async def _version(self, stream: str) -> int:
        """`stream`'s version as this writer knows the log: remembered, else read from the
        newest message on the stream's subject. Called with the lock held."""
        version = self._versions.get(stream)
        if version is not None:
            return version
        if not self._versions_partial:
            return 0  # the writer saw every stream's version: one it did not see is empty
        msg = await self.reader._get(None, self._subject(stream), next_=False)
        version = 0
        if msg is not None:
            batch = self.reader._decode(msg.seq, msg.data or b"")
            records = [r for r in batch if r["stream"] == stream]
            if records:
                version = int(records[-1]["stream_version"])
            else:  # another stream shares the subject token: read the stream
                envs = await self.read_stream(stream)
                version = envs[-1].stream_version if envs else 0
        self._versions[stream] = version
        return version

    async def _stored(
        self, stream: str, news: Sequence[NewEvent], ids: Sequence[str]
    ) -> tuple[list[Envelope], int]:
        """Envelopes already stored for these events (checked equal), and how many are new."""
        stored: list[Envelope] = []
        fresh = 0
        for ne, event_id in zip(news, ids, strict=True):
            seq = self._ids.get(event_id)
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
                stored, fresh = await self._stored(stream, events, ids)
                if fresh == 0:
                    return stored
                if stored:
                    raise IdempotencyError(str(stored[0].event_id), stored[0].seq)
                version = await self._version(stream)
                if expected_version is not None and version != expected_version:
                    # perhaps only this writer's view is stale: look again before refusing
                    if await self.reader.last_js_seq() != self._js_seq:
                        await self._catch_up()
                        continue
                    raise ConcurrencyError(stream, expected_version, version)
                envelopes: list[Envelope] = []
                digests: list[bytes] = []
                data = self._encode(stream, events, version, ids, envelopes, digests)
                headers = {
                    "Nats-Msg-Id": hashlib.sha256("|".join(ids).encode()).hexdigest(),
                    "Nats-Expected-Last-Sequence": str(self._js_seq),
                    "Lfr-Seq": str(self._seq + 1),
                    "Lfr-Count": str(len(envelopes)),
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
                self._apply_own(stream, envelopes, digests, ids)
                self._js_seq = ack.seq
                self._notify()
                await self._after_append(first)
                return envelopes
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
        self,
        stream: str,
        events: Sequence[NewEvent],
        version: int,
        ids: Sequence[str],
        envelopes: list[Envelope],
        digests: list[bytes],
    ) -> bytes:
        """The batch's message: a JSON array of the records, each its canonical body (the
        bytes hashed) with its `hash` added last; the envelopes and raw digests are kept."""
        rows = encode_new(
            stream,
            events,
            seq=self._seq,
            version=version,
            prev_hash=self._tail,
            recorded_at=self._recorded_at(),
            envelopes=envelopes,
            digests=digests,
            event_ids=ids,
        )
        return b"[" + b",".join(_with_hash(row[5], row[6]) for row in rows) + b"]"

    def _apply_own(
        self,
        stream: str,
        envelopes: list[Envelope],
        digests: list[bytes],
        ids: Sequence[str],
    ) -> None:
        """The writer's state after its own batch was stored: made here, so not re-checked."""
        first = self._seq + 1
        self._seq = envelopes[-1].seq
        self._tail = envelopes[-1].hash
        self._versions[stream] = envelopes[-1].stream_version
        self._ids.update(zip(ids, range(first, first + len(ids)), strict=True))
        self._frontier.extend_digests(digests)
        self._bound_indexes()

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
        if seq is None and len(self._ids) < self._seq:  # older than the ids kept: search
            return await self.reader.find_event(str(event_id))
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
            return await self._version(stream)

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
                # asked to stop, not cancelled: a cancel arriving as its wait's deadline
                # passes can be swallowed by that wait's scope, and the task never ends
                self._stopping = True
                self._wake.set()
                with anyio.move_on_after(_SIGNER_STOP_S):
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._signer)
                if not self._signer.done():
                    self._signer.cancel()
            try:
                await self.checkpoint_now()
                await self.publish_witnesses()
                await self.publish_heads(final=True)
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


def _with_hash(body: bytes, hash_hex: str) -> bytes:
    """A canonical body (a JSON object) with `"hash"` appended as its last member."""
    return body[:-1] + b',"hash":"' + hash_hex.encode() + b'"}'
