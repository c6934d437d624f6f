"""The SQLite log's signed checkpoints and its write-ahead log settings.

A checkpoint row signs the Merkle root at a tree size and keeps the (unsigned) frontier, so a
reopened writer resumes the tree from the newest one instead of rehashing the whole log. The
WAL is copied into the file by `WalCheckpointer` off the append path; SQLite's own automatic
checkpoint stays on at a large size as the bound should that thread fall behind.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lfr.store import checkpoint as ckpt
from lfr.store.base import StoreError
from lfr.store.hashchain import MerkleFrontier, format_time
from lfr.store.merkle import consistency_proof_from, leaf_hash
from lfr.store.sqlite._schema import WAL_FALLBACK_PAGES, WAL_SIZE_LIMIT

__all__ = [
    "configure_writer",
    "consistency_proof",
    "load_frontier",
    "read_checkpoints",
    "write_checkpoint",
]


def configure_writer(conn: sqlite3.Connection) -> None:
    """WAL, `synchronous=FULL` (durable before acknowledged), and the WAL's bounds."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA wal_autocheckpoint={WAL_FALLBACK_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")


def write_checkpoint(
    conn: sqlite3.Connection,
    key: Ed25519PrivateKey,
    log_id: str,
    frontier: MerkleFrontier,
    size: int,
    last_hash: str,
) -> ckpt.Checkpoint:
    """Sign the tree of `size` events (`frontier`) and insert it, in the caller's transaction."""
    public = key.public_key()
    cp = ckpt.Checkpoint(
        log_id=log_id,
        tree_size=size,
        root=frontier.root().hex(),
        last_hash=last_hash,
        signed_at=format_time(datetime.now(UTC)),
        key_id=ckpt.key_id(public),
    ).signed(key)
    conn.execute(
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
    return cp


def load_frontier(conn: sqlite3.Connection, size: int) -> MerkleFrontier:
    """The Merkle frontier after `size` events: the newest checkpoint's at or below it, then
    the hashes after it."""
    row = conn.execute(
        "SELECT frontier FROM checkpoints WHERE tree_size <= ? ORDER BY tree_size DESC LIMIT 1",
        (size,),
    ).fetchone()
    frontier = MerkleFrontier() if row is None else MerkleFrontier.from_json(row[0])
    for (h,) in conn.execute(
        "SELECT hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
        (frontier.size, size),
    ):
        frontier.append(h)
    return frontier


def read_checkpoints(conn: sqlite3.Connection, log_id: str) -> list[ckpt.Checkpoint]:
    rows = conn.execute(
        "SELECT tree_size, root, last_hash, signed_at, key_id, signature FROM checkpoints "
        "ORDER BY tree_size"
    ).fetchall()
    return [ckpt.Checkpoint(log_id, int(t), r, lh, sa, k, s) for t, r, lh, sa, k, s in rows]


def consistency_proof(conn: sqlite3.Connection, old_size: int, new_size: int) -> list[bytes]:
    """The RFC 9162 consistency proof from the log's tree of `old_size` events to its tree of
    `new_size`: the old tree's frontier (from the checkpoint rows) and the hashes after it.

    :raises StoreError: the log holds fewer than `new_size` events.
    """
    if not 0 <= old_size <= new_size:
        raise StoreError(f"no consistency proof from tree size {old_size} to {new_size}")
    old = load_frontier(conn, old_size)
    leaves = [
        leaf_hash(h)
        for (h,) in conn.execute(
            "SELECT hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
            (old_size, new_size),
        )
    ]
    if old.size != old_size or old_size + len(leaves) != new_size:
        raise StoreError(
            f"the log holds {old.size if old.size != old_size else old_size + len(leaves)} "
            f"events, fewer than the tree size {new_size} asked for"
        )
    return consistency_proof_from(old, leaves)
