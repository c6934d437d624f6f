"""The Merkle tree follows RFC 9162: checked against a direct transcription of its definition."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone

from lfr.store.hashchain import (
    MerkleFrontier,
    format_time,
    format_times,
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


def test_frontier_extended_in_runs_equals_one_leaf_at_a_time() -> None:
    rng = random.Random(3)
    digests = [hashlib.sha256(str(i).encode()).digest() for i in range(700)]
    one = MerkleFrontier()
    runs = MerkleFrontier()
    i = 0
    while i < len(digests):
        n = rng.choice((0, 1, 2, 3, 7, 8, 64, 100))
        for d in digests[i : i + n]:
            one.append_digest(d)
        runs.extend_digests(digests[i : i + n])
        i += n
        assert (runs.size, runs.nodes) == (one.size, one.nodes)
    assert runs.root() == merkle_root([leaf_hash(d.hex()) for d in digests])


def test_format_times_equals_format_time() -> None:
    rng = random.Random(5)
    base = datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)
    values = [base + timedelta(microseconds=rng.randrange(10**13)) for _ in range(500)]
    values += [
        base,
        base.replace(microsecond=100_000),
        base.replace(microsecond=1),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 29, 2, 30),  # naive: taken as UTC
    ]
    assert format_times(values) == [format_time(v) for v in values]
