"""The Merkle tree follows RFC 9162: checked against a direct transcription of its definition."""

from __future__ import annotations

import hashlib

from lfr.store.hashchain import (
    MerkleFrontier,
    inclusion_path,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_inclusion,
)


def mth(d: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, literally (d are already leaf hashes)."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return d[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1, literally."""
    n = len(d)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def test_roots_paths_and_frontier_match_the_rfc() -> None:
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(40)]
    leaves = [leaf_hash(h) for h in hashes]
    frontier = MerkleFrontier()
    for n in range(1, 41):
        frontier.append(hashes[n - 1])
        d = leaves[:n]
        root = mth(d)
        assert merkle_root(d) == root == frontier.root()
        assert MerkleFrontier.from_json(frontier.to_json()).root() == root
        for m in range(n):
            p = inclusion_path(d, m)
            assert p == path(m, d)
            assert verify_inclusion(d[m], m, n, p, root)
            assert not verify_inclusion(leaf_hash("00" * 32), m, n, p, root)
            if p:
                assert not verify_inclusion(d[m], m, n, [p[0][::-1], *p[1:]], root)
