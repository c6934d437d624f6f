"""The SQLite engine's rows: how a chunk of new events becomes `events` rows, and the two ways
they are inserted (`executemany` here, or multi-row statements on the inserter thread).

The record and its bytes come from `lfr.store.hashchain.encode_new`; this module only lays
them out as rows. Nothing here commits: the caller holds the transaction.
"""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence

from pydantic import TypeAdapter

from lfr.store.hashchain import MerkleFrontier, StoredRow, encode_new
from lfr.store.sqlite._threads import Inserter
from schemas.envelope import Envelope, NewEvent

__all__ = ["PIPELINE", "PIPE_MIN", "insert_pipelined", "insert_plain", "uuid_texts"]

_INSERT = (
    "INSERT INTO events (seq, stream, stream_version, event_id, type, body, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_CHUNK = 1000
# Big appends are inserted in sub-chunks of `_PIPE_CHUNK` rows, one multi-row INSERT each, on
# a worker thread: SQLite runs a statement with the GIL released, so the caller encodes the
# next sub-chunk (JSON, hashes, envelopes) on the other core meanwhile. Below two sub-chunks
# (`PIPE_MIN`) there is nothing to overlap and `executemany` is used.
_PIPE_CHUNK = 250
_PIPE_TAIL = 125  # the last sub-chunk; divides _PIPE_CHUNK
PIPE_MIN = 500
PIPELINE = sqlite3.sqlite_version_info >= (3, 32, 0)  # 32766 bound parameters, not 999
_INSERT_ROWS: dict[int, str] = {}
_UUID_LIST: TypeAdapter[list[uuid.UUID]] = TypeAdapter(list[uuid.UUID])

Tail = tuple[int, int, str]  # (seq, stream version, hash) after the last row


def uuid_texts(ids: list[uuid.UUID]) -> list[str]:
    """`[str(i) for i in ids]`, in one call into pydantic-core (a fifth of the cost)."""
    out: list[str] = _UUID_LIST.dump_python(ids, mode="json")
    return out


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
        tail: Tail,
    ) -> None:
        self.stream = stream
        self.recorded_at = recorded_at
        self.chunk = chunk
        self.ids = ids
        self.seq, self.version, self.prev = tail
        self.envelopes: list[Envelope] = []
        self.digests: list[bytes] = []

    def rows(self) -> Iterator[StoredRow]:
        envelopes = self.envelopes
        yield from encode_new(
            self.stream,
            self.chunk,
            seq=self.seq,
            version=self.version,
            prev_hash=self.prev,
            recorded_at=self.recorded_at,
            envelopes=envelopes,
            digests=self.digests,
            event_ids=self.ids,
        )
        if envelopes:
            last = envelopes[-1]
            self.seq, self.version, self.prev = last.seq, last.stream_version, last.hash

    @property
    def tail(self) -> Tail:
        return self.seq, self.version, self.prev


def insert_plain(
    conn: sqlite3.Connection,
    stream: str,
    recorded_at: str,
    batch: list[NewEvent],
    ids: list[str],
    tail: Tail,
    envelopes: list[Envelope],
    frontier: MerkleFrontier,
) -> Tail:
    """Insert `batch` after `tail` with `executemany`, on this thread; returns the new tail."""
    for start in range(0, len(batch), _CHUNK):
        end = start + _CHUNK
        encoded = _Encoded(stream, recorded_at, batch[start:end], ids[start:end], tail)
        # rows are encoded as SQLite asks for them, so each body is freed as soon as it
        # is inserted (kept, a thousand fresh bodies cost 10x in malloc)
        conn.executemany(_INSERT, encoded.rows())
        tail = encoded.tail
        envelopes += encoded.envelopes
        frontier.extend_digests(encoded.digests)
    return tail


def insert_pipelined(
    conn: sqlite3.Connection,
    inserter: Inserter,
    stream: str,
    recorded_at: str,
    batch: list[NewEvent],
    ids: list[str],
    tail: Tail,
    envelopes: list[Envelope],
    frontier: MerkleFrontier,
) -> Tail:
    """Insert `batch` after `tail` in sub-chunks, each encoded here while `inserter` inserts
    the previous one; returns the new tail. Errors of the inserts are raised here, and the
    worker is done with the connection on return."""
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
    tail = insert_plain(
        conn, stream, recorded_at, batch[:rest], ids[:rest], tail, envelopes, frontier
    )
    try:
        for start, end in zip(bounds, bounds[1:] + [n], strict=True):
            seq, version, _ = tail
            encoded = _Encoded(stream, recorded_at, batch[start:end], ids[start:end], tail)
            _, _, _, event_ids, types, bodies, hashes = zip(*encoded.rows(), strict=True)
            ids_blob, id_offsets = _packed(event_ids)
            types_blob, type_offsets = _packed(types)
            hashes_blob, hash_offsets = _packed(hashes)
            body_offsets = list(itertools.accumulate(map(len, bodies), initial=1))
            params = [seq, stream, version, ids_blob, types_blob, b"".join(bodies)]
            params += [hashes_blob, *id_offsets, *type_offsets, *body_offsets, *hash_offsets]
            del bodies
            tail = encoded.tail
            envelopes += encoded.envelopes
            digests += encoded.digests
            inserter.wait()
            inserter.submit(conn, _insert_rows(end - start), params)
        frontier.extend_digests(digests)
        inserter.wait()
    finally:  # on an error: the worker finishes before the caller rolls back
        inserter.drain()
    return tail
