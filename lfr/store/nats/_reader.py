"""Paged, read-only access to one log's stream (`NatsLogReader`): the reads of the writer and
of the audit source."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import orjson

from lfr.store import checkpoint as ckpt
from lfr.store.base import (
    CorruptLogError,
    StoreError,
)
from lfr.store.hashchain import (
    MerkleFrontier,
    envelope_from_record,
)
from lfr.store.merkle import consistency_proof_from, leaf_hash
from lfr.store.nats._errors import _header_int, _NatsErrors
from schemas.envelope import Envelope

FORMAT = "lfr-event-log"
FORMAT_VERSION = 1
PAGE_MESSAGES = 256  # at most this many messages fetched at a time by a reader...
PAGE_BYTES = (
    512 << 10
)  # ...aiming at about this many bytes (a message is one batch: its size varies)
DIRECT_READ_MAX = 64  # a read of at most this many messages gets each one directly
FETCH_TIMEOUT_S = 2.0  # a consumer's fetch waiting this long: the rest is read directly


@dataclass(frozen=True, slots=True)
class _Seq:
    stream: int


@dataclass(frozen=True, slots=True)
class _Meta:
    sequence: _Seq
    num_pending: int | None = None


@dataclass(frozen=True, slots=True)
class _Stored:
    """A message read directly from the stream, shaped as a consumer's (the fields read)."""

    subject: str
    data: bytes
    headers: dict[str, str] | None
    metadata: _Meta


@dataclass(slots=True)
class _Progress:
    next_js: int  # the next JetStream seq to read
    done: bool = False  # nothing more to read


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
        the stream's last message when the read starts). Each message has `subject`, `data`,
        `headers` and `metadata.sequence.stream`.

        A short read (at most `DIRECT_READ_MAX` messages: the writer's catch-up, a tail) gets
        each message directly from the stream; a longer one uses one ephemeral pull consumer
        (deleted after), and reads the rest directly should a fetch wait `FETCH_TIMEOUT_S`.
        Never waits for messages appended after the read began: a pull consumer of the
        NATS server can hold back what the stream already holds until the next append (or
        until the fetch expires), and the writer's catch-up reads under its lock."""
        filter_subject = subject or self.events_filter
        start = max(1, start_js)
        end = await self.last_js_seq()
        if until_js is not None:
            end = min(end, until_js)
        if end < start:
            return
        if end - start < DIRECT_READ_MAX:
            async for page in self._direct(start, end, filter_subject):
                yield page
            return
        read = _Progress(start)
        async for page in self._consumed(start, end, filter_subject, read):
            yield page
        if read.next_js <= end and not read.done:
            async for page in self._direct(read.next_js, end, filter_subject):
                yield page

    async def _direct(self, start: int, end: int, subject: str) -> AsyncIterator[list[Any]]:
        """Messages on `subject` in seqs `start`..`end`, each read from the stream directly
        (one request each: no consumer, nothing to wait for)."""
        page: list[Any] = []
        size = 0
        seq = start
        while seq <= end:
            raw = await self._get(seq, subject, next_=True)
            if raw is None or raw.seq > end:
                break
            msg = _Stored(raw.subject, raw.data or b"", raw.headers, _Meta(_Seq(raw.seq)))
            page.append(msg)
            size += len(msg.data)
            seq = raw.seq + 1
            if len(page) >= PAGE_MESSAGES or size >= PAGE_BYTES:
                yield page
                page, size = [], 0
        if page:
            yield page

    async def _consumed(
        self, start: int, end: int, subject: str, read: _Progress
    ) -> AsyncIterator[list[Any]]:
        """Messages on `subject` in seqs `start`..`end` through one ephemeral pull consumer;
        stops early (`read.next_js` not past `end`, `read.done` false) when a fetch times out."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=60.0,
            mem_storage=True,
            num_replicas=1,
        )
        with self.errors():
            info = await self.js.add_consumer(self.stream_name, config=config)
        name = info.name
        try:
            if info.num_pending == 0:
                read.done = True
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
                            page = await psub.fetch(batch=batch, timeout=FETCH_TIMEOUT_S)
                        except TimeoutError:
                            return  # (the caller reads the rest directly)
                    size = sum(len(m.data or b"") for m in page) // max(1, len(page))
                    batch = max(1, min(PAGE_MESSAGES, PAGE_BYTES // max(1, size)))
                    page = [m for m in page if m.metadata.sequence.stream <= end]
                    if not page:
                        read.done = True
                        return
                    read.next_js = page[-1].metadata.sequence.stream + 1
                    yield page
                    if page[-1].metadata.num_pending == 0 or read.next_js > end:
                        read.done = True
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
