"""Inclusion proofs: one event, the Merkle path to a signed checkpoint, and the checkpoint.

A proof is a JSON document checkable with nothing but itself and the site's public key:
recompute the event's hash from its canonical body, climb the path to the root, check the
root and the signature. No access to the log is needed, and no other event is disclosed.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lfr.store import checkpoint as ckpt
from lfr.store.base import StoreError
from lfr.store.hashchain import (
    body_hash,
    canonical_body,
    inclusion_path,
    leaf_hash,
    record_of_envelope,
    verify_inclusion,
)
from lfr.store.source import AuditSource

__all__ = ["PROOF_FORMAT", "check_proof", "make_proof"]

PROOF_FORMAT = "lfr.inclusion-proof.v1"


def make_proof(log: AuditSource, event_id: str) -> dict[str, Any]:
    """The inclusion proof of `event_id` against the first signed checkpoint covering it.

    :raises StoreError: unknown event, or no checkpoint covers it yet.
    """
    env = log.find_event(event_id)
    if env is None:
        raise StoreError(f"{log.where}: no event with id {event_id}")
    cover = next((c for c in log.checkpoints() if c.tree_size >= env.seq), None)
    if cover is None:
        raise StoreError(
            f"{log.where}: event {event_id} (seq {env.seq}) is not yet in a signed checkpoint; "
            f"one is signed every {log.checkpoint_every} events and when the site closes "
            "the log: try again later"
        )
    leaves = [leaf_hash(h) for h in log.leaf_hashes(cover.tree_size)]
    path = inclusion_path(leaves, env.seq - 1)
    return {
        "format": PROOF_FORMAT,
        "envelope": record_of_envelope(env),
        "leaf_index": env.seq - 1,
        "tree_size": cover.tree_size,
        "path": [p.hex() for p in path],
        "checkpoint": cover.to_dict(),
    }


def check_proof(proof: dict[str, Any], public_key: Ed25519PublicKey) -> tuple[bool, str]:
    """(True, summary) when the proof holds; (False, what is wrong) otherwise."""
    try:
        if proof.get("format") != PROOF_FORMAT:
            return False, f"not an lfr inclusion proof (format {proof.get('format')!r})"
        record = proof["envelope"]
        cp = ckpt.Checkpoint.from_dict(proof["checkpoint"])
        index = int(proof["leaf_index"])
        size = int(proof["tree_size"])
        path = [bytes.fromhex(p) for p in proof["path"]]
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"the proof is malformed ({exc!r})"
    if body_hash(canonical_body(record)) != record.get("hash"):
        return False, "the event does not match its hash: it was altered"
    if record.get("seq") != index + 1:
        return False, "the event's seq does not match the proof's leaf index"
    if size != cp.tree_size:
        return False, "the proof's tree size differs from the checkpoint's"
    if cp.key_id != ckpt.key_id(public_key):
        return False, f"the checkpoint was signed by key {cp.key_id}, not by the key given"
    if not cp.verify(public_key):
        return False, "the checkpoint signature does not verify with the key given"
    if not verify_inclusion(leaf_hash(record["hash"]), index, size, path, bytes.fromhex(cp.root)):
        return False, "the Merkle path does not lead to the signed root"
    return True, (
        f"event {record['event_id']} ({record['type']}, seq {record['seq']}, stream "
        f"{record['stream']}) is in log {cp.log_id} as signed at {cp.signed_at} "
        f"(tree size {cp.tree_size}, key {cp.key_id})"
    )
