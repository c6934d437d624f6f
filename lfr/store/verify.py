"""Offline verification of a log: the chain, every row, every signed checkpoint.

Walks the log once from seq 1: each body must hash to its stored hash, carry the previous
hash, and agree with the row's index columns; positions must be gapless; every checkpoint's
Merkle root and last hash must match the recomputed tree and its signature must verify with
the public key (the one given, else the one the log recorded at creation, which only proves
self-consistency). Stops at the first problem and names its position: nothing after a broken
link can be trusted.

A log checked only against itself cannot show that it was not rewritten and re-signed by
whoever holds its key, nor that its newest events were not cut off. `anchors` are
checkpoints held outside it (by a witness, `lfr.store.witness`, or kept by the auditor): each
must be signed by the log's key, still be in the log, and the log's tree at its size must have
its root; `min_tree_size` is a size the log must at least have. A log whose metadata names a
key but holds no checkpoint at all (every new log signs its empty tree) had them deleted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lfr.store import checkpoint as ckpt
from lfr.store.hashchain import GENESIS_HASH, MerkleFrontier
from lfr.store.merkle import EMPTY_ROOT
from lfr.store.source import AuditSource
from schemas.registry import EVENT_TYPES

__all__ = ["Anchor", "VerifyResult", "verify_log"]


@dataclass(frozen=True)
class Anchor:
    """A checkpoint of this log held outside it, and who holds it (named in problems)."""

    checkpoint: ckpt.Checkpoint
    source: str


@dataclass
class VerifyResult:
    """What `lfr audit verify` found; `ok` only when every check passed."""

    path: str
    events: int = 0
    checkpoints_verified: int = 0
    last_checkpoint: int = 0
    unsigned_tail: int = 0
    anchors_verified: int = 0
    anchored_size: int = 0
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
    log: AuditSource,
    *,
    public_key: Ed25519PublicKey | None = None,
    progress: Callable[[int], None] | None = None,
    anchors: Sequence[Anchor] = (),
    min_tree_size: int = 0,
) -> VerifyResult:
    """Check `log` (any engine's) end to end (see the module docstring), on one snapshot."""
    with log.snapshot():
        return _verify(log, public_key, progress, anchors, min_tree_size)


def _verify(
    log: AuditSource,
    public_key: Ed25519PublicKey | None,
    progress: Callable[[int], None] | None,
    anchors: Sequence[Anchor],
    min_tree_size: int,
) -> VerifyResult:
    result = VerifyResult(path=log.where)
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
    if log.public_key_pem() and not checkpoints:
        return bad(
            1,
            "the log names a signing key but holds no signed checkpoint (every log signs its "
            "empty tree when created): its checkpoints were deleted",
        )
    in_log = {(c.tree_size, c.root, c.signature) for c in checkpoints}
    by_size: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        cp = anchor.checkpoint
        if cp.log_id != log.log_id:
            return bad(None, f"{anchor.source}: its checkpoint belongs to log {cp.log_id}")
        if public_key is None or cp.key_id != result.key_id or not cp.verify(public_key):
            return bad(
                None,
                f"{anchor.source}: its checkpoint of tree size {cp.tree_size} is not signed "
                f"by this log's key ({result.key_id}): the log's key was replaced",
            )
        by_size.setdefault(cp.tree_size, []).append(anchor)

    def anchored(size: int, root: str) -> VerifyResult | None:
        for anchor in by_size.pop(size, []):
            cp = anchor.checkpoint
            if cp.root != root:
                return bad(
                    result.anchored_size + 1 if size else 1,
                    f"the log's first {size} events have another Merkle root than the "
                    f"checkpoint {anchor.source} holds (signed at {cp.signed_at}): the log was "
                    "rewritten (and re-signed) since",
                )
            if (cp.tree_size, cp.root, cp.signature) not in in_log:
                return bad(
                    size + 1,
                    f"the checkpoint of tree size {size} that {anchor.source} holds (signed "
                    f"at {cp.signed_at}) is missing from the log: checkpoint rows were deleted",
                )
            result.anchors_verified += 1
            result.anchored_size = max(result.anchored_size, size)
        return None

    pending = list(checkpoints)
    while pending and pending[0].tree_size == 0:  # the empty tree, signed at creation
        cp = pending.pop(0)
        if cp.log_id != log.log_id or cp.root != EMPTY_ROOT.hex() or cp.last_hash != GENESIS_HASH:
            return bad(1, "the checkpoint of the empty tree is not the empty tree's")
        if public_key is None:
            return bad(1, "a checkpoint exists but no public key to check it")
        if cp.key_id != result.key_id or not cp.verify(public_key):
            return bad(1, f"the checkpoint signature does not verify (key {cp.key_id})")
        result.checkpoints_verified += 1
    if (problem := anchored(0, EMPTY_ROOT.hex())) is not None:
        return problem
    frontier = MerkleFrontier()
    prev = GENESIS_HASH
    expected = 1
    known = {name: cls.SCHEMA_VERSION for name, cls in EVENT_TYPES.items()}
    sha256 = hashlib.sha256
    loads = orjson.loads
    for seq, body, stored_hash, index in log.verify_rows():
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
        _, stream, version, event_id, type_name = index
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
        if seq in by_size and (problem := anchored(seq, frontier.root().hex())) is not None:
            return problem
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
    if by_size:
        size = max(by_size)
        anchor = by_size[size][0]
        return bad(
            result.events + 1,
            f"the log ends at {result.events} events but {anchor.source} holds a checkpoint of "
            f"{size} (signed at {anchor.checkpoint.signed_at}): events were removed",
        )
    if result.events < min_tree_size:
        return bad(
            result.events + 1,
            f"the log ends at {result.events} events, short of the {min_tree_size} it is "
            "known to have had: events were removed",
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
