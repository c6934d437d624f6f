"""Merkle trees over the event hashes (RFC 9162, Certificate Transparency v2, section 2.1).

Leaves are the event hashes in `seq` order: `leaf = sha256(0x00 || hash)`,
`node = sha256(0x01 || left || right)`. A signed checkpoint covers the root; an inclusion
proof of one event then needs only log2(n) hashes, the checkpoint and the log's public key.
Pure functions and one small class, no I/O: `lfr.store.hashchain` re-exports them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import orjson

__all__ = [
    "MerkleFrontier",
    "inclusion_path",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "verify_inclusion",
]

_sha256 = hashlib.sha256


def leaf_hash(event_hash_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(event_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


_EMPTY_ROOT = hashlib.sha256(b"").digest()


class MerkleFrontier:
    """The roots of the perfect subtrees covering leaves 1..n: O(log n) memory, O(1) append."""

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: list[tuple[int, bytes]] | None = None) -> None:
        self.size = size
        self.nodes: list[tuple[int, bytes]] = list(nodes or [])

    def copy(self) -> MerkleFrontier:
        return MerkleFrontier(self.size, self.nodes)

    def append(self, event_hash_hex: str) -> None:
        self.append_digest(bytes.fromhex(event_hash_hex))

    def append_digest(self, event_hash: bytes) -> None:
        """Add the leaf for an event whose raw sha256 digest is `event_hash`."""
        h = _sha256(b"\x00" + event_hash).digest()
        height = 0
        nodes = self.nodes
        while nodes and nodes[-1][0] == height:
            h = _sha256(b"\x01" + nodes.pop()[1] + h).digest()
            height += 1
        nodes.append((height, h))
        self.size += 1

    def extend_digests(self, event_hashes: Sequence[bytes]) -> None:
        """`append_digest` for each, a level of the tree at a time (same nodes, less Python).

        At each height the pending nodes are the frontier's node of that height (if any, it
        lies leftmost) followed by the new ones; pairs merge upwards, an odd one out stays.
        """
        sha256 = _sha256
        level = [sha256(b"\x00" + h).digest() for h in event_hashes]
        old = self.nodes
        kept: list[tuple[int, bytes]] = []
        height = 0
        while level:
            if old and old[-1][0] == height:
                level.insert(0, old.pop()[1])
            if len(level) % 2:
                kept.append((height, level.pop()))
            level = [
                sha256(b"\x01" + left + right).digest()
                for left, right in zip(level[0::2], level[1::2], strict=True)
            ]
            height += 1
        old.extend(reversed(kept))
        self.size += len(event_hashes)

    def root(self) -> bytes:
        if not self.nodes:
            return _EMPTY_ROOT
        acc = self.nodes[-1][1]
        for _, h in reversed(self.nodes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def to_json(self) -> str:
        return orjson.dumps(
            {"size": self.size, "nodes": [[ht, h.hex()] for ht, h in self.nodes]}
        ).decode()

    @classmethod
    def from_json(cls, text: str) -> MerkleFrontier:
        data = orjson.loads(text)
        return cls(int(data["size"]), [(int(ht), bytes.fromhex(h)) for ht, h in data["nodes"]])


def _split(n: int) -> int:
    """The largest power of two strictly less than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 MTH over already leaf-hashed values."""
    frontier_nodes: list[tuple[int, bytes]] = []
    for h in leaves:
        height = 0
        while frontier_nodes and frontier_nodes[-1][0] == height:
            h = node_hash(frontier_nodes.pop()[1], h)
            height += 1
        frontier_nodes.append((height, h))
    return MerkleFrontier(len(leaves), frontier_nodes).root()


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 PATH(index, leaves): the sibling hashes from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf index {index} outside a tree of {len(leaves)} leaves")
    path: list[bytes] = []
    lo, hi, m = 0, len(leaves), index
    stack: list[bytes] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            stack.append(merkle_root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            stack.append(merkle_root(leaves[lo : lo + k]))
            lo, m = lo + k, m - k
    path.extend(reversed(stack))
    return path


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does `path` lead from `leaf` at `index` to `root`?"""
    if index >= tree_size or index < 0:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
