# One module past 450 lines on purpose: one file's reader and writer share its connection
# discipline and its row codec.
"""`SqliteLog`: synchronous access to one log file, on one connection used by one thread at a
time. It opens (refusing a foreign or newer file untouched), reads, and appends batches in one
`BEGIN IMMEDIATE` transaction each.

Each row keeps the envelope's canonical body (`lfr.store.hashchain`) and its hash; the other
columns only index it. Every use of the connection runs inside the engine's one error
translation (`_errors`), so callers only ever see `lfr.store` errors.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lfr.store import checkpoint as ckpt
from lfr.store.base import ConcurrencyError, CorruptLogError, IdempotencyError, StoreError
from lfr.store.hashchain import (
    GENESIS_HASH,
    MerkleFrontier,
    decode_record,
    envelope_from_record,
    format_time,
    same_event,
)
from lfr.store.sqlite._checkpoints import (
    configure_writer,
    consistency_proof,
    load_frontier,
    read_checkpoints,
    write_checkpoint,
)
from lfr.store.sqlite._errors import SqliteErrors, translated, translated_iter
from lfr.store.sqlite._open import check_or_create, connect, read_meta
from lfr.store.sqlite._rows import (
    PIPE_MIN,
    PIPELINE,
    insert_pipelined,
    insert_plain,
    uuid_texts,
)
from lfr.store.sqlite._schema import DEFAULT_CHECKPOINT_EVERY
from lfr.store.sqlite._threads import Inserter, WalCheckpointer
from schemas.envelope import Envelope, NewEvent

__all__ = ["SqliteLog"]


class SqliteLog:
    """Synchronous access to one log file. Not thread-safe: one thread at a time."""

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._key = signing_key
        self.checkpoint_every = checkpoint_every
        self._conn = connect(self.path, read_only=read_only)
        try:
            with SqliteErrors(self._conn, self.path, writing=not read_only):
                # before any write: a foreign file stays untouched
                check_or_create(self._conn, self.path, read_only=read_only, key=signing_key)
                if not read_only:
                    configure_writer(self._conn)
                self.log_id = self._meta("log_id")
        except BaseException:
            self._conn.close()
            raise
        self._frontier: MerkleFrontier | None = None
        self._inserter: Inserter | None = None
        self._wal: WalCheckpointer | None = None
        # appends and signing may come from two threads (the store's writer, its signer)
        self._write_lock = threading.Lock()
        #: when (time.monotonic) the oldest event not yet in a signed checkpoint was committed
        self.unsigned_since: float | None = None
        #: called (on the writing thread) when a checkpoint was signed or events became unsigned
        self.on_change: Callable[[], None] | None = None

    def _meta(self, key: str) -> str:
        return read_meta(self._conn, self.path, key)

    @property
    def where(self) -> str:
        """The log's place in reports (`lfr.store.source.AuditSource`): its file."""
        return str(self.path)

    @translated
    def public_key_pem(self) -> str:
        """The public key recorded in the log at creation (empty if it never had one)."""
        return self._meta("public_key")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one consistent state of the log, even while a writer appends."""
        with SqliteErrors(self._conn, self.path):
            self._conn.execute("BEGIN")
        try:
            yield
        finally:
            with SqliteErrors(self._conn, self.path):
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")

    def close(self) -> None:
        if self._inserter is not None:
            self._inserter.close()
            self._inserter = None
        if self._wal is not None:  # first, so that this connection is the last to close
            self._wal.close()
            self._wal = None
        self._conn.close()

    def _committed(self) -> None:
        """After a write: the checkpointer may copy the WAL into the file."""
        wal = self._wal
        if wal is None:
            wal = self._wal = WalCheckpointer(self.path)
            weakref.finalize(self, wal.stop)  # a log never closed: the thread ends
        wal.committed()

    # --- reading ------------------------------------------------------------------------------

    @translated
    def last_seq(self) -> int:
        row = self._conn.execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    @translated
    def stream_version(self, stream: str) -> int:
        return self._stream_version(stream)

    def _stream_version(self, stream: str) -> int:
        row = self._conn.execute(
            "SELECT max(stream_version) FROM events WHERE stream=?", (stream,)
        ).fetchone()
        return int(row[0] or 0)

    def _decode(self, seq: int, body: bytes, hash_hex: str) -> dict[str, Any]:
        return decode_record(body, hash_hex, where=str(self.path), seq=seq)

    @translated
    def read_records(
        self, *, from_seq: int = 1, limit: int | None = None, with_hash: bool = True
    ) -> list[dict[str, Any]]:
        """Stored records (dicts with every envelope field, times as text) from `from_seq`.

        The fast path for projections and exports: no pydantic on the way. Without
        `with_hash` the records lack `hash` (a replay does not need it) and read faster.
        """
        args = (from_seq, -1 if limit is None else limit)
        loads = orjson.loads
        try:
            if not with_hash:
                cur = self._conn.execute(
                    "SELECT body FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", args
                )
                return [loads(body) for (body,) in cur]
            out: list[dict[str, Any]] = []
            for body, h in self._conn.execute(
                "SELECT body, hash FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", args
            ):
                rec = loads(body)
                rec["hash"] = h
                out.append(rec)
            return out
        except orjson.JSONDecodeError as exc:
            self._find_unreadable(from_seq)
            raise CorruptLogError(self.path, f"an event body is not JSON ({exc})") from exc

    @translated_iter
    def iter_records(
        self, *, from_seq: int = 1, limit: int | None = None, chunk: int = 1000
    ) -> Iterator[list[dict[str, Any]]]:
        """`read_records(..., with_hash=False)` as lists of at most `chunk` records, decoded
        only as they are asked for: a replay that folds each list before the next keeps its
        working set in cache and reuses the memory (decoding 20,000 at once costs twice)."""
        loads = orjson.loads
        cur = self._conn.execute(
            "SELECT body FROM events WHERE seq >= ? ORDER BY seq LIMIT ?",
            (from_seq, -1 if limit is None else limit),
        )
        cur.arraysize = chunk
        try:
            while rows := cur.fetchmany():
                yield [loads(body) for (body,) in rows]
        except orjson.JSONDecodeError as exc:
            self._find_unreadable(from_seq)
            raise CorruptLogError(self.path, f"an event body is not JSON ({exc})") from exc

    def _find_unreadable(self, from_seq: int) -> None:
        """Raise naming the first row from `from_seq` whose body is not JSON."""
        for seq, body, h in self.iter_rows(from_seq=from_seq):
            self._decode(seq, body, h)

    @translated_iter
    def iter_rows(self, *, from_seq: int = 1) -> Iterator[tuple[int, bytes, str]]:
        """Raw (seq, body, hash) rows in order, for verification and exports."""
        cur = self._conn.execute(
            "SELECT seq, body, hash FROM events WHERE seq >= ? ORDER BY seq", (from_seq,)
        )
        cur.arraysize = 4096
        while chunk := cur.fetchmany():
            yield from chunk

    @translated_iter
    def index_rows(self, *, from_seq: int = 1) -> Iterator[tuple[Any, ...]]:
        """(seq, stream, stream_version, event_id, type) columns, to check against bodies."""
        cur = self._conn.execute(
            "SELECT seq, stream, stream_version, event_id, type FROM events "
            "WHERE seq >= ? ORDER BY seq",
            (from_seq,),
        )
        cur.arraysize = 4096
        while chunk := cur.fetchmany():
            yield from chunk

    def verify_rows(
        self, *, from_seq: int = 1
    ) -> Iterator[tuple[int, bytes, str, tuple[Any, ...]]]:
        """(seq, body, hash, index columns) per row, in order (`AuditSource.verify_rows`)."""
        index = self.index_rows(from_seq=from_seq)
        for seq, body, h in self.iter_rows(from_seq=from_seq):
            yield seq, body, h, next(index, (seq, None, None, None, None))

    def read_all(self, *, from_seq: int = 1, limit: int | None = None) -> list[Envelope]:
        return [envelope_from_record(r) for r in self.read_records(from_seq=from_seq, limit=limit)]

    @translated
    def read_stream(self, stream: str, *, from_version: int = 1) -> list[Envelope]:
        rows = self._conn.execute(
            "SELECT seq, body, hash FROM events WHERE stream=? AND stream_version>=? "
            "ORDER BY stream_version",
            (stream, from_version),
        ).fetchall()
        return [envelope_from_record(self._decode(s, b, h)) for s, b, h in rows]

    @translated
    def find_event(self, event_id: str) -> Envelope | None:
        row = self._conn.execute(
            "SELECT seq, body, hash FROM events WHERE event_id=?", (event_id,)
        ).fetchone()
        if row is None:
            return None
        return envelope_from_record(self._decode(*row))

    @translated
    def leaf_hashes(self, until_seq: int) -> list[str]:
        rows = self._conn.execute(
            "SELECT hash FROM events WHERE seq <= ? ORDER BY seq", (until_seq,)
        ).fetchall()
        return [r[0] for r in rows]

    @translated
    def checkpoints(self) -> list[ckpt.Checkpoint]:
        return read_checkpoints(self._conn, self.log_id)

    @translated
    def newest_checkpoint(self) -> ckpt.Checkpoint | None:
        row = self._conn.execute(
            "SELECT tree_size, root, last_hash, signed_at, key_id, signature FROM checkpoints "
            "ORDER BY tree_size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else ckpt.Checkpoint(self.log_id, *row)

    @translated
    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 consistency proof between the log's trees of these sizes (see `merkle`)."""
        return consistency_proof(self._conn, old_size, new_size)

    # --- writing ------------------------------------------------------------------------------

    def _tail(self) -> tuple[int, str]:
        row = self._conn.execute(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))

    def _recorded_at(self, tail_seq: int) -> str:
        """Now, but never before the newest event's `recorded_at`: recording times follow seq
        even if the clock steps back, so "the log as it stood at T" is a prefix."""
        now = format_time(datetime.now(UTC))
        if tail_seq == 0:
            return now
        body = self._conn.execute("SELECT body FROM events WHERE seq=?", (tail_seq,)).fetchone()
        try:
            last = str(orjson.loads(body[0])["recorded_at"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise CorruptLogError(self.path, "the newest event is unreadable", tail_seq) from exc
        return max(now, last)

    def _load_frontier(self, size: int) -> MerkleFrontier:
        if self._frontier is not None and self._frontier.size == size:
            return self._frontier
        # reopened or another writer appended: resume from the newest checkpoint's frontier
        self._frontier = load_frontier(self._conn, size)
        return self._frontier

    def _lookup(self, event_ids: Sequence[str]) -> dict[str, tuple[int, bytes, str]]:
        found: dict[str, tuple[int, bytes, str]] = {}
        for i in range(0, len(event_ids), 500):
            chunk = event_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for eid, seq, body, h in self._conn.execute(
                f"SELECT event_id, seq, body, hash FROM events WHERE event_id IN ({marks})",
                chunk,
            ):
                found[eid] = (seq, body, h)
        return found

    def _already_stored(
        self, stream: str, events: Sequence[NewEvent]
    ) -> tuple[list[Envelope], list[NewEvent]]:
        """Split a batch into envelopes already stored (same content) and new events."""
        found = self._lookup([str(e.event_id) for e in events])
        stored: list[Envelope] = []
        fresh: list[NewEvent] = []
        for e in events:
            hit = found.get(str(e.event_id))
            if hit is None:
                fresh.append(e)
                continue
            rec = self._decode(*hit)
            if not same_event(rec, stream, e):
                raise IdempotencyError(str(e.event_id), hit[0])
            stored.append(envelope_from_record(rec))
        return stored, fresh

    def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None = None
    ) -> list[Envelope]:
        """Append `events` to `stream` in one transaction (see `EventStore.append`).

        :raises ConcurrencyError: the stream is at another version.
        :raises IdempotencyError: an event_id is stored with different content.
        :raises StoreWriteError: the disk is full or failed; nothing of the batch was kept.
        :raises StoreUnavailableError: another process holds the log's lock.
        """
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only")
        if not events:
            return []
        with self._write_lock:
            return self._append(stream, events, expected_version)

    def _append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> list[Envelope]:
        batch = list(events)
        ids = uuid_texts([e.event_id for e in batch])
        if len(set(ids)) != len(batch):  # the same event twice in a batch
            seen: dict[uuid.UUID, NewEvent] = {}
            for e in batch:
                twin = seen.setdefault(e.event_id, e)
                if twin is not e and twin != e:
                    raise IdempotencyError(str(e.event_id), 0)
            batch = list(seen.values())
            ids = uuid_texts([e.event_id for e in batch])
        return self._append_new(stream, batch, ids, expected_version)

    def _append_new(
        self, stream: str, batch: list[NewEvent], ids: list[str], expected_version: int | None
    ) -> list[Envelope]:
        """Append `batch` (distinct events, `ids` their event ids as text) in one transaction."""
        c = self._conn
        errors = SqliteErrors(
            c, self.path, writing=True, stream=stream, count=len(batch), expected=expected_version
        )
        with errors:
            c.execute("BEGIN IMMEDIATE")
            version = self._stream_version(stream)
            if errors.expected is None:
                errors.expected = version
            elif version != errors.expected:
                stored, fresh = self._already_stored(stream, batch)
                if not fresh:
                    c.execute("ROLLBACK")
                    return stored
                raise ConcurrencyError(stream, errors.expected, version)
            seq, prev = self._tail()
            frontier = self._load_frontier(seq).copy()
            recorded_at = self._recorded_at(seq)
            envelopes: list[Envelope] = []
            tail = (seq, version, prev)
            try:
                if PIPELINE and len(batch) >= PIPE_MIN:
                    inserter = self._get_inserter()
                    tail = insert_pipelined(
                        c, inserter, stream, recorded_at, batch, ids, tail, envelopes, frontier
                    )
                else:
                    tail = insert_plain(
                        c, stream, recorded_at, batch, ids, tail, envelopes, frontier
                    )
            except sqlite3.IntegrityError:
                # an event id already stored: keep those, append the rest; none stored:
                # the (stream, version) was taken, translated to a ConcurrencyError
                c.execute("ROLLBACK")
                stored, fresh = self._already_stored(stream, batch)
                if not fresh:
                    return stored
                if len(fresh) == len(batch):
                    raise
                fresh_ids = uuid_texts([e.event_id for e in fresh])
                return stored + self._append_new(stream, fresh, fresh_ids, expected_version)
            seq, _, prev = tail
            first_seq = envelopes[0].seq
            every = self.checkpoint_every
            signed = self._key is not None and (first_seq - 1) // every != seq // every
            if signed:
                assert self._key is not None
                write_checkpoint(c, self._key, self.log_id, frontier, seq, prev)
            c.execute("COMMIT")
        self._committed()
        self._frontier = frontier
        if self._key is not None and (signed or self.unsigned_since is None):
            self.unsigned_since = None if signed else time.monotonic()
            if self.on_change is not None:
                self.on_change()
        return envelopes

    def _get_inserter(self) -> Inserter:
        inserter = self._inserter
        if inserter is None:
            inserter = self._inserter = Inserter()
            weakref.finalize(self, inserter.stop)  # a log never closed: the thread ends
        return inserter

    def checkpoint_now(self) -> bool:
        """Sign a checkpoint of the current tree unless the newest one already covers it;
        True when one was signed."""
        if self._key is None or self.read_only:
            return False
        c = self._conn
        signed = False
        with self._write_lock, SqliteErrors(c, self.path, writing=True):
            c.execute("BEGIN IMMEDIATE")
            seq, last = self._tail()
            row = c.execute("SELECT max(tree_size) FROM checkpoints").fetchone()
            if seq > 0 and int(row[0] or 0) < seq:
                write_checkpoint(c, self._key, self.log_id, self._load_frontier(seq), seq, last)
                signed = True
            c.execute("COMMIT")
            self.unsigned_since = None
        if signed and self.on_change is not None:
            self.on_change()
        return signed
