"""Offline verification of a log: the chain, every row, every signed checkpoint.

Walks the log once from seq 1: each body must hash to its stored hash, carry the previous
hash, and agree with the row's index columns; positions must be gapless; every checkpoint's
Merkle root and last hash must match the recomputed tree and its signature must verify with
the public key (the one given, else the one the log recorded at creation, which only proves
self-consistency). Stops at the first problem and names its position: nothing after a broken
link can be trusted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lfr.store import checkpoint as ckpt
from lfr.store.hashchain import GENESIS_HASH, MerkleFrontier
from lfr.store.sqlite import SqliteLog
from schemas.registry import EVENT_TYPES

__all__ = ["VerifyResult", "verify_log"]


@dataclass
class VerifyResult:
    """What `lfr audit verify` found; `ok` only when every check passed."""

    path: str
    events: int = 0
    checkpoints_verified: int = 0
    last_checkpoint: int = 0
    unsigned_tail: int = 0
    key_id: str | None = None
    key_source: str = "none"
    first_bad_seq: int | None = None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def verify_log(
    log: SqliteLog,
    *,
    public_key: Ed25519PublicKey | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Check `log` end to end (see the module docstring), on one snapshot of it."""
    with log.snapshot():
        return _verify(log, public_key, progress)


def _verify(
    log: SqliteLog,
    public_key: Ed25519PublicKey | None,
    progress: Callable[[int], None] | None,
) -> VerifyResult:
    result = VerifyResult(path=str(log.path))
    if public_key is not None:
        result.key_source = "given public key"
    else:
        pem = log.public_key_pem()
        if pem:
            public_key = ckpt.load_public_key(pem)
            result.key_source = "public key recorded in the log (pass --public-key to pin it)"
    if public_key is not None:
        result.key_id = ckpt.key_id(public_key)

    def bad(seq: int | None, what: str) -> VerifyResult:
        result.first_bad_seq = seq
        result.problem = what
        return result

    checkpoints = log.checkpoints()
    pending = list(checkpoints)
    frontier = MerkleFrontier()
    prev = GENESIS_HASH
    expected = 1
    known = {name: cls.SCHEMA_VERSION for name, cls in EVENT_TYPES.items()}
    sha256 = hashlib.sha256
    loads = orjson.loads
    index_rows = log.index_rows()
    for seq, body, stored_hash in log.iter_rows():
        if seq != expected:
            return bad(expected, f"seq {expected} is missing (next row is seq {seq})")
        if not isinstance(body, bytes):  # an edit through a SQL shell can turn it into text
            body = str(body).encode()
        digest = sha256(body).digest()
        if digest.hex() != stored_hash:
            return bad(seq, "the stored event does not match its hash: the row was altered")
        try:
            rec = loads(body)
        except orjson.JSONDecodeError:
            return bad(seq, "the event body is not JSON")
        if rec.get("prev_hash") != prev:
            return bad(seq, "the chain is broken: prev_hash differs from the previous event's hash")
        if rec.get("seq") != seq:
            return bad(seq, f"the event says seq {rec.get('seq')} but is stored at seq {seq}")
        _, stream, version, event_id, type_name = next(index_rows)
        if (stream, version, event_id, type_name) != (
            rec.get("stream"),
            rec.get("stream_version"),
            rec.get("event_id"),
            rec.get("type"),
        ):
            return bad(seq, "the row's index columns differ from the hashed event: altered")
        current = known.get(type_name)
        if current is None:
            return bad(seq, f"unknown event type {type_name!r}: upgrade lfr to read this log")
        if rec["schema_version"] > current:
            return bad(
                seq,
                f"{type_name} schema_version {rec['schema_version']} is newer than this lfr "
                f"({current}): upgrade lfr",
            )
        frontier.append_digest(digest)
        prev = stored_hash
        while pending and pending[0].tree_size == seq:
            cp = pending.pop(0)
            if cp.log_id != log.log_id:
                return bad(seq, "a checkpoint belongs to another log")
            if cp.root != frontier.root().hex():
                first = result.last_checkpoint + 1
                return bad(
                    first,
                    f"the checkpoint signed at seq {seq} has another Merkle root: an event "
                    f"between seq {first} and {seq} was altered and the chain rewritten",
                )
            if cp.last_hash != stored_hash:
                return bad(seq, "the signed checkpoint's last hash differs from the log")
            if public_key is None:
                return bad(seq, "a checkpoint exists but no public key to check it")
            if cp.key_id != result.key_id or not cp.verify(public_key):
                return bad(seq, f"the checkpoint signature does not verify (key {cp.key_id})")
            result.checkpoints_verified += 1
            result.last_checkpoint = seq
        result.events = seq
        expected = seq + 1
        if progress is not None and seq % 50_000 == 0:
            progress(seq)
    if pending:
        cp = pending[0]
        return bad(
            result.events + 1,
            f"a signed checkpoint covers {cp.tree_size} events but the log ends at "
            f"{result.events}: events were removed",
        )
    result.unsigned_tail = result.events - result.last_checkpoint
    if result.unsigned_tail:
        result.notes.append(
            f"{result.unsigned_tail} newest events are chained but not yet in a signed "
            "checkpoint (normal while the site runs; one is signed on close)"
        )
    if progress is not None:
        progress(result.events)
    return result
