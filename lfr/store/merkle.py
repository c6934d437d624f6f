"""Merkle trees over the event hashes (RFC 9162, Certificate Transparency v2, section 2.1).

Leaves are the event hashes in `seq` order: `leaf = sha256(0x00 || hash)`,
`node = sha256(0x01 || left || right)`. A signed checkpoint covers the root; an inclusion
proof of one event then needs only log2(n) hashes, the checkpoint and the log's public key.
A consistency proof (RFC 9162 section 2.1.4) shows that the tree of m events is a prefix of the
tree of n: what a witness checks before it countersigns a newer checkpoint.
Pure functions and one small class, no I/O: `lfr.store.hashchain` re-exports them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import orjson

__all__ = [
    "EMPTY_ROOT",
    "MerkleFrontier",
    "consistency_proof",
    "consistency_proof_from",
    "inclusion_path",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256


def leaf_hash(event_hash_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(event_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


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
            return EMPTY_ROOT
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


# --- consistency proofs (RFC 9162 section 2.1.4) ------------------------------------------------


def _subproof(
    m: int, lo: int, hi: int, complete: bool, mth: Callable[[int, int], bytes], out: list[bytes]
) -> None:
    """SUBPROOF(m, D[lo:hi], complete), its nodes appended to `out` (m counted from `lo`)."""
    n = hi - lo
    if m == n:
        if not complete:
            out.append(mth(lo, hi))
        return
    k = _split(n)
    if m <= k:
        _subproof(m, lo, lo + k, complete, mth, out)
        out.append(mth(lo + k, hi))
    else:
        _subproof(m - k, lo + k, hi, False, mth, out)
        out.append(mth(lo, lo + k))


def _check_sizes(m: int, n: int) -> None:
    if not 0 <= m <= n:
        raise ValueError(f"no consistency proof from a tree of {m} to one of {n} leaves")


def consistency_proof(leaves: Sequence[bytes], m: int) -> list[bytes]:
    """RFC 9162 PROOF(m, D[n]) over already leaf-hashed values: the tree of the first `m`
    leaves is a prefix of the tree of all of them (empty when m is 0 or n)."""
    _check_sizes(m, len(leaves))
    out: list[bytes] = []
    if 0 < m:
        _subproof(m, 0, len(leaves), True, lambda a, b: merkle_root(leaves[a:b]), out)
    return out


def consistency_proof_from(old: MerkleFrontier, new_leaves: Sequence[bytes]) -> list[bytes]:
    """`consistency_proof` from the tree of `old.size` leaves to it extended by `new_leaves`
    (already leaf-hashed), without the old leaves: every node of the proof inside the old tree
    is one of its frontier's perfect subtrees or a run of them (the proof climbs the old
    tree's right edge), and the rest lie in the new leaves. Costs O(len(new_leaves))."""
    m = old.size
    n = m + len(new_leaves)
    starts: dict[int, int] = {}  # a frontier block's first leaf -> its index in old.nodes
    pos = 0
    for i, (height, _) in enumerate(old.nodes):
        starts[pos] = i
        pos += 1 << height

    def mth(a: int, b: int) -> bytes:
        if a >= m:
            return merkle_root(new_leaves[a - m : b - m])
        if b > m or a not in starts:
            raise AssertionError(f"range [{a}, {b}) is not on the old tree's right edge")
        run = old.nodes[starts[a] :]
        end = a + sum(1 << height for height, _ in run)
        if end == b:  # the run of blocks from a to the end of the old tree
            return MerkleFrontier(b - a, run).root()
        if (1 << run[0][0]) == b - a:  # one block
            return run[0][1]
        raise AssertionError(f"range [{a}, {b}) is not on the old tree's right edge")

    _check_sizes(m, n)
    out: list[bytes] = []
    if 0 < m:
        _subproof(m, 0, n, True, mth, out)
    return out


def verify_consistency(
    m: int, n: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: does `proof` show the tree of `m` leaves with `old_root` is a
    prefix of the tree of `n` leaves with `new_root`? (Every tree extends the empty one.)"""
    if m < 0 or m > n:
        return False
    if m == n:
        return not proof and old_root == new_root
    if m == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    nodes = list(proof)
    if m & (m - 1) == 0:  # m is a power of two: the old root is itself a node of the proof
        nodes.insert(0, old_root)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
