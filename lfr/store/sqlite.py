"""The embedded engine: one SQLite file per site, WAL, `synchronous=FULL`, one writer.

`SqliteLog` is the synchronous core (one connection, used by one thread at a time): the audit
CLI reads with it directly. `SqliteEventStore` is the async `EventStore` over two of them — a
writer and a reader — whose blocking calls run in worker threads behind a
`CapacityLimiter(1)` each. Two helper threads (`lfr.store._sqlite_threads`) take SQLite's
own work off the appending thread: big batches are inserted while the next rows are encoded,
and the WAL is copied into the file in the background.

Each row keeps the envelope's canonical body (`lfr.store.hashchain`) and its hash; the other
columns only index it. Triggers refuse UPDATE and DELETE, so only someone bypassing lfr can
alter a row — and `lfr audit verify` then names it.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import sqlite3
import uuid
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import TypeAdapter

from lfr.store import checkpoint as ckpt
from lfr.store._sqlite_threads import Inserter, WalCheckpointer
from lfr.store.base import (
    ConcurrencyError,
    CorruptLogError,
    IdempotencyError,
    StoreClosedError,
    StoreError,
    StoreWriteError,
)
from lfr.store.hashchain import (
    GENESIS_HASH,
    MerkleFrontier,
    adopt_envelope_dict,
    envelope_from_record,
    format_time,
    format_times,
)
from schemas.envelope import Envelope, NewEvent

__all__ = ["LOG_FILE", "KEY_FILE", "SqliteEventStore", "SqliteLog", "open_store"]

LOG_FILE = "events.sqlite"
KEY_FILE = "checkpoint_ed25519.pem"
FORMAT = "lfr-event-log"
FORMAT_VERSION = 1
DEFAULT_CHECKPOINT_EVERY = 1000

_SCHEMA = """
CREATE TABLE lfr_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    body BLOB NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (stream, stream_version)
);
CREATE TABLE checkpoints (
    tree_size INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    last_hash TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    frontier TEXT NOT NULL  -- the Merkle frontier at tree_size (unsigned; speeds reopening)
);
CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'lfr events are append-only'); END;
CREATE TRIGGER events_append_only_d BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'lfr events are append-only'); END;
CREATE TRIGGER checkpoints_append_only_u BEFORE UPDATE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'lfr checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_append_only_d BEFORE DELETE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'lfr checkpoints are append-only'); END;
"""

_INSERT = (
    "INSERT INTO events (seq, stream, stream_version, event_id, type, body, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_CHUNK = 1000
_WAL_FALLBACK_PAGES = 16384  # 128 MiB of 8 KiB pages: SQLite checkpoints on commit past it
_WAL_SIZE_LIMIT = 64 << 20  # bytes the WAL file is cut back to when it restarts
# Big appends are inserted in sub-chunks of `_PIPE_CHUNK` rows, one multi-row INSERT each, on
# a worker thread: SQLite runs a statement with the GIL released, so the caller encodes the
# next sub-chunk (JSON, hashes, envelopes) on the other core meanwhile. Below two sub-chunks
# there is nothing to overlap and `executemany` is used.
_PIPE_CHUNK = 250
_PIPE_TAIL = 125  # the last sub-chunk; divides _PIPE_CHUNK
_PIPE_MIN = 500
_PIPELINE = sqlite3.sqlite_version_info >= (3, 32, 0)  # 32766 bound parameters, not 999
_INSERT_ROWS: dict[int, str] = {}


def _insert_rows(n: int) -> str:
    """One statement inserting `n` rows from few parameters (binding one costs the GIL):
    ?1 the seq and ?3 the stream version before them, ?2 the stream; ?4 to ?7 the rows'
    event ids, types, bodies and hashes each concatenated into one blob, and after them,
    per blob, the n + 1 offsets (1-based) where each row's piece starts and the last ends.
    Cached: the sqlite3 module then reuses the compiled statement."""
    sql = _INSERT_ROWS.get(n)
    if sql is None:
        e, t, b, h = (8 + i * (n + 1) for i in range(4))

        def piece(blob: int, at: int, k: int) -> str:
            return f"substr(?{blob}, ?{at + k}, ?{at + k + 1} - ?{at + k})"

        rows = ",".join(
            f"(?1 + {k + 1}, ?2, ?3 + {k + 1}, CAST({piece(4, e, k)} AS TEXT), "
            f"CAST({piece(5, t, k)} AS TEXT), {piece(6, b, k)}, CAST({piece(7, h, k)} AS TEXT))"
            for k in range(n)
        )
        sql = _INSERT_ROWS[n] = _INSERT.partition("VALUES")[0] + "VALUES " + rows
    return sql


def _packed(texts: Sequence[str]) -> tuple[bytes, list[int]]:
    """`texts` as one UTF-8 blob and the offsets that split it (see `_insert_rows`)."""
    joined = "".join(texts)
    blob = joined.encode()
    lengths: Iterable[int] = map(len, texts)
    if len(blob) != len(joined):  # not all ASCII: count bytes
        lengths = [len(text.encode()) for text in texts]
    return blob, list(itertools.accumulate(lengths, initial=1))


# SQLite's primary result codes for a write the storage refused (extended codes keep these
# in the low byte)
_IO_ERRORS = frozenset({sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN})


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _Prepared(NamedTuple):
    """A new event reduced to the strings and dict that go into its body."""

    new: NewEvent
    event_id: str
    type_name: str
    schema_version: int
    occurred_at: str
    occurred_dt: datetime
    payload: dict[str, Any]


def _prepare(new: NewEvent) -> _Prepared:
    event = new.event
    occurred = new.occurred_at
    if occurred.tzinfo is UTC:
        text = occurred.isoformat(timespec="microseconds")
    else:
        text = format_time(occurred)
        occurred = datetime.fromisoformat(text)
    return _tuple_new(  # a plain tuple build: NamedTuple's Python __new__ costs per event
        _Prepared,
        (
            new,
            str(new.event_id),
            type(event).__name__,
            event.SCHEMA_VERSION,
            text,
            occurred,
            event.__pydantic_serializer__.to_python(event, mode="json"),
        ),
    )


_tuple_new = tuple.__new__
_UUID_LIST: TypeAdapter[list[uuid.UUID]] = TypeAdapter(list[uuid.UUID])


def _uuid_texts(ids: list[uuid.UUID]) -> list[str]:
    """`[str(i) for i in ids]`, in one call into pydantic-core (a fifth of the cost)."""
    out: list[str] = _UUID_LIST.dump_python(ids, mode="json")
    return out


class _Encoded:
    """One chunk of new events turned into rows, envelopes and chain digests.

    `rows()` yields the insert rows and, as a side effect, fills `envelopes` and `digests`
    and advances `seq`, `version` and `prev` (the chain's tail).
    """

    __slots__ = (
        "chunk",
        "digests",
        "envelopes",
        "ids",
        "prev",
        "recorded_at",
        "seq",
        "stream",
        "version",
    )

    def __init__(
        self,
        stream: str,
        recorded_at: str,
        chunk: Sequence[NewEvent],
        ids: Sequence[str],
        seq: int,
        version: int,
        prev: str,
    ) -> None:
        self.stream = stream
        self.recorded_at = recorded_at
        self.chunk = chunk
        self.ids = ids
        self.seq = seq
        self.version = version
        self.prev = prev
        self.envelopes: list[Envelope] = []
        self.digests: list[bytes] = []

    def rows(self) -> Iterator[tuple[Any, ...]]:
        chunk = self.chunk
        stream = self.stream
        recorded_at = self.recorded_at
        recorded_dt = datetime.fromisoformat(recorded_at)
        seq, version, prev = self.seq, self.version, self.prev
        envelopes = self.envelopes
        add_envelope = envelopes.append
        add_digest = self.digests.append
        adopt = adopt_envelope_dict
        dumps = orjson.dumps
        sort = orjson.OPT_SORT_KEYS
        sha256 = hashlib.sha256
        times = format_times([new.occurred_at for new in chunk])
        for new, event_id, occurred_text in zip(chunk, self.ids, times, strict=True):
            seq += 1
            version += 1
            event = new.event
            type_name = type(event).__name__
            corr = new.correlation_id
            caus = new.causation_id
            record: dict[str, Any] = {
                "causation_id": None if caus is None else str(caus),
                "correlation_id": None if corr is None else str(corr),
                "event_id": event_id,
                "occurred_at": occurred_text,
                "payload": event.__pydantic_serializer__.to_python(event, mode="json"),
                "prev_hash": prev,
                "recorded_at": recorded_at,
                "schema_version": event.SCHEMA_VERSION,
                "seq": seq,
                "stream": stream,
                "stream_version": version,
                "traceparent": new.traceparent,
                "type": type_name,
            }
            body = dumps(record, option=sort)
            digest = sha256(body).digest()
            prev = digest.hex()
            add_digest(digest)
            # the same dict becomes the envelope, its text fields typed again
            record["event_id"] = new.event_id
            record["occurred_at"] = _as_utc(new.occurred_at, occurred_text)
            record["recorded_at"] = recorded_dt
            record["correlation_id"] = corr
            record["causation_id"] = caus
            record["hash"] = prev
            add_envelope(adopt(record))
            yield (seq, stream, version, event_id, type_name, body, prev)
        self.seq, self.version, self.prev = seq, version, prev


def _as_utc(value: datetime, text: str) -> datetime:
    """`value` as the envelope holds it: the same instant in `datetime.UTC`."""
    return value if value.tzinfo is UTC else datetime.fromisoformat(text)


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
        self._conn = self._connect()
        self._check_or_create()  # before any write: a foreign file stays untouched
        if not read_only:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            # the WAL is copied into the file by a background thread (WalCheckpointer);
            # SQLite's own checkpoint on commit stays as the bound should it fall behind
            self._conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_FALLBACK_PAGES}")
            self._conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
        self.log_id = self._meta("log_id")
        self._frontier: MerkleFrontier | None = None
        self._inserter: Inserter | None = None
        self._wal: WalCheckpointer | None = None

    # --- opening ------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            if not self.path.exists():
                raise StoreError(
                    f"{self.path}: no event log here; check --data-dir (it holds {LOG_FILE})"
                )
            uri = f"file:{self.path.resolve()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CorruptLogError(
                self.path,
                f"not a readable SQLite database ({exc}); this is not an lfr event log "
                "or it is damaged: restore it from backup, nothing was changed",
            ) from exc
        return conn

    def _check_or_create(self) -> None:
        tables = {
            r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables:
            if self.read_only:
                raise CorruptLogError(self.path, "empty database: no lfr event log in it")
            self._create()
            return
        if "lfr_meta" not in tables or "events" not in tables:
            raise CorruptLogError(
                self.path,
                f"a SQLite database but not an lfr event log (tables: {sorted(tables)}); "
                "check the path, nothing was changed",
            )
        fmt = self._meta("format")
        version = int(self._meta("format_version"))
        if fmt != FORMAT:
            raise CorruptLogError(self.path, f"format is {fmt!r}, not {FORMAT!r}")
        if version > FORMAT_VERSION:
            raise CorruptLogError(
                self.path,
                f"log format version {version} is newer than this lfr ({FORMAT_VERSION}); "
                "upgrade lfr",
            )

    def _create(self) -> None:
        c = self._conn
        try:
            meta = {
                "format": FORMAT,
                "format_version": str(FORMAT_VERSION),
                "log_id": str(uuid.uuid4()),
                "created_at": format_time(datetime.now(UTC)),
                "public_key": "",
            }
            if self._key is not None:
                meta["public_key"] = ckpt.public_key_pem(self._key.public_key())
            rows = "".join(
                f"INSERT INTO lfr_meta VALUES ({_sql_str(k)}, {_sql_str(v)});"
                for k, v in meta.items()
            )
            c.execute("PRAGMA page_size=8192")  # fewer splits per batch, small single commits
            c.execute("PRAGMA journal_mode=WAL")
            c.executescript("BEGIN IMMEDIATE;" + _SCHEMA + rows + "COMMIT;")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise

    def _meta(self, key: str) -> str:
        row = self._conn.execute("SELECT value FROM lfr_meta WHERE key=?", (key,)).fetchone()
        if row is None:
            raise CorruptLogError(self.path, f"metadata {key!r} missing")
        return str(row[0])

    def public_key_pem(self) -> str:
        """The public key recorded in the log at creation (empty if it never had one)."""
        return self._meta("public_key")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one consistent state of the log, even while a writer appends."""
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
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

    def last_seq(self) -> int:
        row = self._conn.execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def stream_version(self, stream: str) -> int:
        row = self._conn.execute(
            "SELECT max(stream_version) FROM events WHERE stream=?", (stream,)
        ).fetchone()
        return int(row[0] or 0)

    def _decode(self, seq: int, body: bytes, hash_hex: str) -> dict[str, Any]:
        try:
            record: dict[str, Any] = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise CorruptLogError(self.path, f"event body is not JSON ({exc})", seq) from exc
        record["hash"] = hash_hex
        return record

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
        for seq, body, _h in self.iter_rows(from_seq=from_seq):
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise CorruptLogError(self.path, f"event body is not JSON ({exc})", seq) from exc

    def iter_rows(self, *, from_seq: int = 1) -> Iterator[tuple[int, bytes, str]]:
        """Raw (seq, body, hash) rows in order, for verification and exports."""
        cur = self._conn.execute(
            "SELECT seq, body, hash FROM events WHERE seq >= ? ORDER BY seq", (from_seq,)
        )
        cur.arraysize = 4096
        while True:
            chunk = cur.fetchmany()
            if not chunk:
                return
            yield from chunk

    def index_rows(self, *, from_seq: int = 1) -> Iterator[tuple[Any, ...]]:
        """(seq, stream, stream_version, event_id, type) columns, to check against bodies."""
        cur = self._conn.execute(
            "SELECT seq, stream, stream_version, event_id, type FROM events "
            "WHERE seq >= ? ORDER BY seq",
            (from_seq,),
        )
        cur.arraysize = 4096
        while True:
            chunk = cur.fetchmany()
            if not chunk:
                return
            yield from chunk

    def read_all(self, *, from_seq: int = 1, limit: int | None = None) -> list[Envelope]:
        return [envelope_from_record(r) for r in self.read_records(from_seq=from_seq, limit=limit)]

    def read_stream(self, stream: str, *, from_version: int = 1) -> list[Envelope]:
        rows = self._conn.execute(
            "SELECT seq, body, hash FROM events WHERE stream=? AND stream_version>=? "
            "ORDER BY stream_version",
            (stream, from_version),
        ).fetchall()
        return [envelope_from_record(self._decode(s, b, h)) for s, b, h in rows]

    def find_event(self, event_id: str) -> Envelope | None:
        row = self._conn.execute(
            "SELECT seq, body, hash FROM events WHERE event_id=?", (event_id,)
        ).fetchone()
        if row is None:
            return None
        return envelope_from_record(self._decode(*row))

    def leaf_hashes(self, until_seq: int) -> list[str]:
        rows = self._conn.execute(
            "SELECT hash FROM events WHERE seq <= ? ORDER BY seq", (until_seq,)
        ).fetchall()
        return [r[0] for r in rows]

    def checkpoints(self) -> list[ckpt.Checkpoint]:
        rows = self._conn.execute(
            "SELECT tree_size, root, last_hash, signed_at, key_id, signature FROM checkpoints "
            "ORDER BY tree_size"
        ).fetchall()
        return [
            ckpt.Checkpoint(self.log_id, int(t), r, lh, sa, k, s) for t, r, lh, sa, k, s in rows
        ]

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
        row = self._conn.execute(
            "SELECT frontier FROM checkpoints WHERE tree_size <= ? ORDER BY tree_size DESC LIMIT 1",
            (size,),
        ).fetchone()
        frontier = MerkleFrontier() if row is None else MerkleFrontier.from_json(row[0])
        for (h,) in self._conn.execute(
            "SELECT hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
            (frontier.size, size),
        ):
            frontier.append(h)
        self._frontier = frontier
        return frontier

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
            seq, body, h = hit
            rec = self._decode(seq, body, h)
            p = _prepare(e)
            if (
                rec["stream"] != stream
                or rec["type"] != p.type_name
                or rec["schema_version"] != p.schema_version
                or rec["payload"] != p.payload
            ):
                raise IdempotencyError(p.event_id, seq)
            stored.append(envelope_from_record(rec))
        return stored, fresh

    def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None = None
    ) -> list[Envelope]:
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only")
        if not events:
            return []
        batch = list(events)
        ids = _uuid_texts([e.event_id for e in batch])
        if len(set(ids)) != len(batch):  # the same event twice in a batch
            seen: dict[uuid.UUID, NewEvent] = {}
            for e in batch:
                twin = seen.setdefault(e.event_id, e)
                if twin is not e and twin != e:
                    raise IdempotencyError(str(e.event_id), 0)
            batch = list(seen.values())
            ids = _uuid_texts([e.event_id for e in batch])
        return self._append_new(stream, batch, ids, expected_version)

    def _append_new(
        self, stream: str, batch: list[NewEvent], ids: list[str], expected_version: int | None
    ) -> list[Envelope]:
        """Append `batch` (distinct events, `ids` their event ids as text) in one transaction."""
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: cannot lock the log for writing ({exc})") from exc
        try:
            version = self.stream_version(stream)
            if expected_version is not None and version != expected_version:
                stored, fresh = self._already_stored(stream, batch)
                if not fresh:
                    c.execute("ROLLBACK")
                    return stored
                raise ConcurrencyError(stream, expected_version, version)
            seq, prev = self._tail()
            frontier = self._load_frontier(seq).copy()
            recorded_at = self._recorded_at(seq)
            envelopes: list[Envelope] = []
            try:
                insert = (
                    self._insert_pipelined
                    if _PIPELINE and len(batch) >= _PIPE_MIN
                    else self._insert_plain
                )
                seq, version, prev = insert(
                    stream, recorded_at, batch, ids, (seq, version, prev), envelopes, frontier
                )
            except sqlite3.IntegrityError:
                c.execute("ROLLBACK")
                stored, fresh = self._already_stored(stream, batch)
                if not fresh:
                    return stored
                if len(fresh) == len(batch):
                    raise
                fresh_ids = _uuid_texts([e.event_id for e in fresh])
                return stored + self._append_new(stream, fresh, fresh_ids, expected_version)
            first_seq = envelopes[0].seq
            boundary = (
                self._key is not None
                and (first_seq - 1) // self.checkpoint_every != seq // self.checkpoint_every
            )
            if boundary:
                self._write_checkpoint(frontier, seq, prev)
            c.execute("COMMIT")
            self._committed()
        except sqlite3.OperationalError as exc:
            if c.in_transaction:
                c.execute("ROLLBACK")
            code = int(getattr(exc, "sqlite_errorcode", -1)) & 0xFF
            if code == sqlite3.SQLITE_FULL or code in _IO_ERRORS:
                raise StoreWriteError(
                    self.path, stream, len(batch), str(exc), code == sqlite3.SQLITE_FULL
                ) from exc
            raise
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        self._frontier = frontier
        return envelopes

    def _insert_plain(
        self,
        stream: str,
        recorded_at: str,
        batch: list[NewEvent],
        ids: list[str],
        tail: tuple[int, int, str],
        envelopes: list[Envelope],
        frontier: MerkleFrontier,
    ) -> tuple[int, int, str]:
        """Insert `batch` after `tail` (seq, stream version, hash) with `executemany`, on this
        thread; returns the new tail."""
        seq, version, prev = tail
        for start in range(0, len(batch), _CHUNK):
            end = start + _CHUNK
            encoded = _Encoded(
                stream, recorded_at, batch[start:end], ids[start:end], seq, version, prev
            )
            # rows are encoded as SQLite asks for them, so each body is freed as soon as it
            # is inserted (kept, a thousand fresh bodies cost 10x in malloc)
            self._conn.executemany(_INSERT, encoded.rows())
            seq, version, prev = encoded.seq, encoded.version, encoded.prev
            envelopes += encoded.envelopes
            frontier.extend_digests(encoded.digests)
        return seq, version, prev

    def _insert_pipelined(
        self,
        stream: str,
        recorded_at: str,
        batch: list[NewEvent],
        ids: list[str],
        tail: tuple[int, int, str],
        envelopes: list[Envelope],
        frontier: MerkleFrontier,
    ) -> tuple[int, int, str]:
        """Insert `batch` after `tail` (seq, stream version, hash) in sub-chunks, each encoded
        here while the worker inserts the previous one; returns the new tail. Errors of the
        inserts are raised here, and the worker is done with the connection on return."""
        inserter = self._inserter
        if inserter is None:
            inserter = self._inserter = Inserter()
            weakref.finalize(self, inserter.stop)  # a log never closed: the thread ends
        n = len(batch)
        digests: list[bytes] = []
        # sub-chunks of two sizes only (each its own compiled statement); the last one short,
        # as its insert overlaps only the Merkle hashing; the odd rest goes first, inserted
        # here the plain way
        bounds = [n % _PIPE_TAIL]
        while n - bounds[-1] > _PIPE_TAIL:
            left = n - bounds[-1]
            bounds.append(
                bounds[-1] + (_PIPE_CHUNK if left >= _PIPE_CHUNK + _PIPE_TAIL else _PIPE_TAIL)
            )
        rest = bounds[0]
        seq, version, prev = self._insert_plain(
            stream, recorded_at, batch[:rest], ids[:rest], tail, envelopes, frontier
        )
        try:
            for start, end in zip(bounds, bounds[1:] + [n], strict=True):
                encoded = _Encoded(
                    stream, recorded_at, batch[start:end], ids[start:end], seq, version, prev
                )
                _, _, _, event_ids, types, bodies, hashes = zip(*encoded.rows(), strict=True)
                ids_blob, id_offsets = _packed(event_ids)
                types_blob, type_offsets = _packed(types)
                hashes_blob, hash_offsets = _packed(hashes)
                body_offsets = list(itertools.accumulate(map(len, bodies), initial=1))
                params = [seq, stream, version, ids_blob, types_blob, b"".join(bodies)]
                params += [hashes_blob, *id_offsets, *type_offsets, *body_offsets, *hash_offsets]
                del bodies
                seq, version, prev = encoded.seq, encoded.version, encoded.prev
                envelopes += encoded.envelopes
                digests += encoded.digests
                inserter.wait()
                inserter.submit(self._conn, _insert_rows(end - start), params)
            frontier.extend_digests(digests)
            inserter.wait()
        finally:  # on an error: the worker finishes before the caller rolls back
            inserter.drain()
        return seq, version, prev

    def _write_checkpoint(self, frontier: MerkleFrontier, size: int, last_hash: str) -> None:
        assert self._key is not None
        public = self._key.public_key()
        cp = ckpt.Checkpoint(
            log_id=self.log_id,
            tree_size=size,
            root=frontier.root().hex(),
            last_hash=last_hash,
            signed_at=format_time(datetime.now(UTC)),
            key_id=ckpt.key_id(public),
        ).signed(self._key)
        self._conn.execute(
            "INSERT OR IGNORE INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                cp.tree_size,
                cp.root,
                cp.last_hash,
                cp.signed_at,
                cp.key_id,
                cp.signature,
                frontier.to_json(),
            ),
        )

    def checkpoint_now(self) -> None:
        """Sign a checkpoint of the current tree unless the newest one already covers it."""
        if self._key is None or self.read_only:
            return
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            seq, last = self._tail()
            row = c.execute("SELECT max(tree_size) FROM checkpoints").fetchone()
            if seq > 0 and int(row[0] or 0) < seq:
                self._write_checkpoint(self._load_frontier(seq), seq, last)
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise


class SqliteEventStore:
    """The async `EventStore` over one SQLite file (see the module docstring)."""

    def __init__(self, writer: SqliteLog, reader: SqliteLog, *, poll_s: float = 0.5) -> None:
        self._writer = writer
        self._reader = reader
        self._wlock = anyio.CapacityLimiter(1)
        self._rlock = anyio.CapacityLimiter(1)
        self._appended = anyio.Event()
        self._closed = False
        self._poll_s = poll_s
        self.path = writer.path

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        key_path: Path | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        poll_s: float = 0.5,
    ) -> SqliteEventStore:
        """Open (creating if absent) the log at `path`; its signing key defaults to
        `<path's folder>/checkpoint_ed25519.pem`, created at first run."""
        path = Path(path)
        key_file = key_path if key_path is not None else path.parent / KEY_FILE

        def _open() -> tuple[SqliteLog, SqliteLog]:
            existed = path.exists() and path.stat().st_size > 0
            recorded = ""
            if existed:  # refuse a foreign or damaged file before creating anything
                probe = SqliteLog(path, read_only=True)
                recorded = probe.public_key_pem()
                probe.close()
                if recorded and not key_file.exists():
                    raise StoreError(
                        f"{key_file}: the key that signs {path} is missing; restore it from "
                        "backup (a new key could not continue its signed checkpoints)"
                    )
            key = ckpt.load_or_create_signing_key(key_file, create=True)
            writer = SqliteLog(path, signing_key=key, checkpoint_every=checkpoint_every)
            mine = ckpt.public_key_pem(key.public_key())
            if existed and recorded and recorded != mine:
                writer.close()
                raise StoreError(
                    f"{key_file}: this key did not sign {path} (the log records another public "
                    "key); restore the site's original key file"
                )
            reader = SqliteLog(path)
            return writer, reader

        writer, reader = await anyio.to_thread.run_sync(_open)
        return cls(writer, reader, poll_s=poll_s)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    async def _write(self, fn: Any, *args: Any) -> Any:
        self._check_open()
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._wlock)

    async def _read(self, fn: Any, *args: Any) -> Any:
        self._check_open()
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._rlock)

    async def append(
        self, stream: str, events: Sequence[NewEvent], *, expected_version: int | None = None
    ) -> list[Envelope]:
        result: list[Envelope] = await self._write(
            self._writer.append, stream, events, expected_version
        )
        if result:
            self._notify()
        return result

    def _notify(self) -> None:
        event, self._appended = self._appended, anyio.Event()
        event.set()

    async def read_stream(self, stream: str, *, from_version: int = 1) -> list[Envelope]:
        return await self._read(lambda: self._reader.read_stream(stream, from_version=from_version))  # type: ignore[no-any-return]

    async def read_all(self, *, from_seq: int = 1, limit: int | None = None) -> list[Envelope]:
        return await self._read(lambda: self._reader.read_all(from_seq=from_seq, limit=limit))  # type: ignore[no-any-return]

    async def read_records(
        self, *, from_seq: int = 1, limit: int | None = None, with_hash: bool = True
    ) -> list[dict[str, Any]]:
        """Raw records (see `SqliteLog.read_records`): the projections' fast path."""
        return await self._read(  # type: ignore[no-any-return]
            lambda: self._reader.read_records(from_seq=from_seq, limit=limit, with_hash=with_hash)
        )

    async def find_event(self, event_id: uuid.UUID | str) -> Envelope | None:
        return await self._read(self._reader.find_event, str(event_id))  # type: ignore[no-any-return]

    async def subscribe(self, *, from_seq: int = 1) -> AsyncIterator[Envelope]:
        """Catch up from `from_seq`, then follow appends (woken by this process's appends,
        polling every `poll_s` for other writers)."""
        next_seq = from_seq
        while not self._closed:
            waiter = self._appended
            try:
                batch = await self.read_all(from_seq=next_seq, limit=1000)
            except StoreClosedError:
                return
            for env in batch:
                yield env
                next_seq = env.seq + 1
            if not batch:
                with anyio.move_on_after(self._poll_s):
                    await waiter.wait()

    async def last_seq(self) -> int:
        return await self._read(self._reader.last_seq)  # type: ignore[no-any-return]

    async def stream_version(self, stream: str) -> int:
        return await self._read(self._reader.stream_version, stream)  # type: ignore[no-any-return]

    async def checkpoint(self) -> None:
        """Sign a checkpoint now (also done every `checkpoint_every` events and on close)."""
        await self._write(self._writer.checkpoint_now)

    def public_key_pem(self) -> str:
        return self._writer.public_key_pem()

    async def aclose(self) -> None:
        if self._closed:
            return
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._writer.checkpoint_now, limiter=self._wlock)
            self._closed = True
            self._appended.set()
            async with self._wlock, self._rlock:
                self._writer.close()
                self._reader.close()

    async def __aenter__(self) -> SqliteEventStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def open_store(
    data_dir: Path, *, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
) -> SqliteEventStore:
    """The site's embedded log: `<data_dir>/events.sqlite`, key beside it."""
    data_dir = Path(data_dir)
    return await SqliteEventStore.open(data_dir / LOG_FILE, checkpoint_every=checkpoint_every)
