"""Signed statements over every partition's head: one log made of several hash chains.

A force's log is partitioned (by site, or by zone): each partition is a log of its own, with
its own hash chain, sequence and signed checkpoints, so writers on different partitions never
contend for one tail. What ties them together is a *heads checkpoint*: the newest signed
checkpoint of every partition (its log id, tree size, Merkle root and last hash) as the leaves
of a Merkle tree (RFC 9162 leaf hashing over each head's canonical JSON), signed.

Heads checkpoints form a chain of their own (each names the hash of the one before it), and a
partition's head never moves backwards from one to the next. A writer adds its partition's
head each time it signs a checkpoint, keeping the others' heads from the previous statement,
and signs with its own key; an auditor accepts a statement signed by the key recorded in any
partition it verifies, and only if every head in it is one of that partition's verified
signed checkpoints (`check_heads`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lfr.store import checkpoint as ckpt
from lfr.store.merkle import merkle_root

__all__ = [
    "HEADS_KIND",
    "PARTITION_PATTERN",
    "Head",
    "HeadsCheckpoint",
    "PartitionFacts",
    "check_heads",
    "check_partition_name",
    "heads_root",
    "next_heads",
]

HEADS_KIND = "lfr-heads-checkpoint/1"
#: a partition's name: a subject token and a stream-name suffix ("heads" is the statements')
PARTITION_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
GENESIS = "0" * 64


def check_partition_name(name: str) -> str:
    """`name` if it can name a partition (a subject token and a stream-name suffix, and not
    "heads", the statements' own).

    :raises ValueError: it cannot.
    """
    if not re.match(PARTITION_PATTERN, name) or name == "heads":
        raise ValueError(
            f"partition name {name!r}: lower-case letters, digits, '-' and '_' (at most 32, "
            "not 'heads')"
        )
    return name


@dataclass(frozen=True, slots=True)
class Head:
    """One partition's newest signed checkpoint, as a leaf of the heads tree."""

    partition: str
    log_id: str
    tree_size: int
    root: str
    last_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "last_hash": self.last_hash,
            "log_id": self.log_id,
            "partition": self.partition,
            "root": self.root,
            "tree_size": self.tree_size,
        }

    def leaf(self) -> bytes:
        body = orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(b"\x00" + body).digest()

    @classmethod
    def of(cls, partition: str, cp: ckpt.Checkpoint) -> Head:
        return cls(partition, cp.log_id, cp.tree_size, cp.root, cp.last_hash)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Head:
        return cls(
            partition=str(data["partition"]),
            log_id=str(data["log_id"]),
            tree_size=int(data["tree_size"]),
            root=str(data["root"]),
            last_hash=str(data["last_hash"]),
        )


@dataclass(frozen=True, slots=True)
class HeadsCheckpoint:
    """One signed statement of every partition's head (see the module docstring)."""

    log: str  # the partitioned log's name (the base stream)
    index: int  # 1 for the first statement, then +1
    prev: str  # the previous statement's digest (GENESIS for the first)
    heads: tuple[Head, ...]  # by partition name
    root: str  # Merkle root over the heads' leaves
    signed_by: str  # the partition whose writer signed
    signed_at: str
    key_id: str
    signature: str = ""

    def _unsigned(self) -> dict[str, Any]:
        return {
            "kind": HEADS_KIND,
            "log": self.log,
            "index": self.index,
            "prev": self.prev,
            "heads": [h.to_dict() for h in self.heads],
            "root": self.root,
            "signed_by": self.signed_by,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
        }

    def message(self) -> bytes:
        """The exact bytes signed: canonical JSON of everything but the signature."""
        return orjson.dumps(self._unsigned(), option=orjson.OPT_SORT_KEYS)

    def digest(self) -> str:
        """What the next statement names as `prev`: covers the signature too."""
        return hashlib.sha256(self.message() + bytes.fromhex(self.signature or "")).hexdigest()

    def verify(self, key: Ed25519PublicKey) -> bool:
        return ckpt.signature_holds(key, self.signature, self.message())

    def head(self, partition: str) -> Head | None:
        return next((h for h in self.heads if h.partition == partition), None)

    def to_dict(self) -> dict[str, Any]:
        return {**self._unsigned(), "signature": self.signature}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeadsCheckpoint:
        if data.get("kind") != HEADS_KIND:
            raise ValueError(f"not a heads checkpoint (kind {data.get('kind')!r})")
        return cls(
            log=str(data["log"]),
            index=int(data["index"]),
            prev=str(data["prev"]),
            heads=tuple(Head.from_dict(h) for h in data["heads"]),
            root=str(data["root"]),
            signed_by=str(data["signed_by"]),
            signed_at=str(data["signed_at"]),
            key_id=str(data["key_id"]),
            signature=str(data["signature"]),
        )


def heads_root(heads: Sequence[Head]) -> str:
    return merkle_root([h.leaf() for h in heads]).hex()


def next_heads(
    previous: HeadsCheckpoint | None,
    *,
    log: str,
    head: Head,
    key: Ed25519PrivateKey,
    signed_at: str,
) -> HeadsCheckpoint | None:
    """The statement after `previous` with `head` as its partition's head, signed; None when
    `previous` already holds that head or a newer one (nothing to say)."""
    check_partition_name(head.partition)
    held = previous.head(head.partition) if previous is not None else None
    if held is not None and held.tree_size >= head.tree_size:
        return None
    others = [h for h in (previous.heads if previous else ()) if h.partition != head.partition]
    heads = tuple(sorted([*others, head], key=lambda h: h.partition))
    unsigned = HeadsCheckpoint(
        log=log,
        index=(previous.index + 1) if previous else 1,
        prev=previous.digest() if previous else GENESIS,
        heads=heads,
        root=heads_root(heads),
        signed_by=head.partition,
        signed_at=signed_at,
        key_id=ckpt.key_id(key.public_key()),
    )
    return replace(unsigned, signature=key.sign(unsigned.message()).hex())


@dataclass(frozen=True)
class PartitionFacts:
    """What verifying one partition established: its public key and its checkpoints."""

    log_id: str
    public_key: Ed25519PublicKey | None
    checkpoints: Sequence[ckpt.Checkpoint]


def check_heads(
    statements: Iterable[HeadsCheckpoint],
    partitions: Mapping[str, PartitionFacts],
    *,
    log: str,
    complete: bool = True,
) -> list[str]:
    """Every problem with the heads statements (empty: they hold), given the partitions each
    verified on its own: the chain of statements, their signatures (by the key of the
    partition named as signer), each root, heads that never move back, and every head equal
    to a verified signed checkpoint of its partition. With `complete` false (one partition
    audited), heads and signatures of partitions not in `partitions` are left unchecked."""
    problems: list[str] = []
    prev = GENESIS
    seen: dict[str, int] = {}
    by_partition = {
        name: {(c.tree_size, c.root, c.last_hash, c.log_id) for c in facts.checkpoints}
        for name, facts in partitions.items()
    }
    for i, hc in enumerate(statements, start=1):
        where = f"heads checkpoint {i}"
        if hc.log != log:
            problems.append(f"{where} is of log {hc.log!r}, not {log!r}")
        if hc.index != i or hc.prev != prev:
            problems.append(f"{where}: the chain of statements is broken (index or prev)")
        prev = hc.digest()
        signer = partitions.get(hc.signed_by)
        if signer is None and not complete:
            pass
        elif signer is None or signer.public_key is None:
            problems.append(f"{where}: signed by {hc.signed_by!r}, a partition not verified")
        elif ckpt.key_id(signer.public_key) != hc.key_id or not hc.verify(signer.public_key):
            problems.append(f"{where}: the signature is not {hc.signed_by!r}'s key's")
        if heads_root(hc.heads) != hc.root:
            problems.append(f"{where}: its root is not the Merkle root of its heads")
        for head in hc.heads:
            if head.tree_size < seen.get(head.partition, 0):
                problems.append(f"{where}: partition {head.partition!r} moved back")
            seen[head.partition] = head.tree_size
            known = by_partition.get(head.partition)
            if known is None and not complete:
                continue
            if known is None:
                problems.append(f"{where}: partition {head.partition!r} was not verified")
            elif (head.tree_size, head.root, head.last_hash, head.log_id) not in known:
                problems.append(
                    f"{where}: partition {head.partition!r}'s head at {head.tree_size} is "
                    "not one of its signed checkpoints"
                )
    return problems
