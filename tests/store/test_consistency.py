"""Consistency proofs follow RFC 9162 2.1.4: every (m, n) pair of small trees proves, the
frontier-based generator agrees with the definition, and any alteration fails."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from lfr.store.merkle import (
    EMPTY_ROOT,
    MerkleFrontier,
    consistency_proof,
    consistency_proof_from,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_consistency,
)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(n)]


def mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return d[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(d[:k]), mth(d[k:]))


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 2.1.4.1, literally."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def frontier_of(d: list[bytes], m: int) -> MerkleFrontier:
    f = MerkleFrontier()
    for h in d[:m]:
        # the frontier appends raw event digests; rebuild it from leaf hashes directly
        height, nodes = 0, f.nodes
        while nodes and nodes[-1][0] == height:
            h = node_hash(nodes.pop()[1], h)
            height += 1
        nodes.append((height, h))
        f.size += 1
    return f


def test_every_pair_up_to_40_leaves_proves_and_matches_the_definition() -> None:
    d = leaves(40)
    for n in range(1, 41):
        new_root = merkle_root(d[:n])
        for m in range(1, n + 1):
            proof = consistency_proof(d[:n], m)
            assert proof == subproof(m, d[:n], True), (m, n)
            assert consistency_proof_from(frontier_of(d, m), d[m:n]) == proof, (m, n)
            assert verify_consistency(m, n, merkle_root(d[:m]), new_root, proof), (m, n)


def test_the_known_example_of_rfc_9162() -> None:
    """The RFC's example tree of 7 leaves: PROOF(3, D[7]) = [c, d, g, l], PROOF(4, D[7]) =
    [l], PROOF(6, D[7]) = [i, j, k]."""
    d = leaves(7)
    c, dd, g = d[2], d[3], d[6]
    i = node_hash(d[4], d[5])
    j, k = node_hash(d[0], d[1]), node_hash(d[2], d[3])
    l_ = node_hash(i, g)
    assert consistency_proof(d, 3) == [c, dd, j, l_]
    assert consistency_proof(d, 4) == [l_]
    assert consistency_proof(d, 6) == [i, g, node_hash(j, k)]


def test_trivial_and_impossible_sizes() -> None:
    d = leaves(5)
    root = merkle_root(d)
    assert consistency_proof(d, 5) == [] and verify_consistency(5, 5, root, root, [])
    assert consistency_proof(d, 0) == [] and verify_consistency(0, 5, EMPTY_ROOT, root, [])
    assert not verify_consistency(0, 5, root, root, [])
    assert not verify_consistency(5, 5, root, merkle_root(d[:4]), [])
    assert not verify_consistency(6, 5, root, root, [])
    assert not verify_consistency(3, 5, merkle_root(d[:3]), root, [])


sizes = st.integers(min_value=1, max_value=70).flatmap(
    lambda n: st.tuples(st.integers(min_value=1, max_value=n), st.just(n))
)


@settings(max_examples=300, deadline=None)
@given(sizes)
def test_consistency_proofs_verify_for_any_pair(mn: tuple[int, int]) -> None:
    m, n = mn
    d = leaves(n)
    proof = consistency_proof_from(frontier_of(d, m), d[m:])
    assert proof == consistency_proof(d, m)
    assert verify_consistency(m, n, merkle_root(d[:m]), merkle_root(d), proof)


@settings(max_examples=300, deadline=None)
@given(sizes, st.data())
def test_altered_proofs_roots_or_sizes_fail(mn: tuple[int, int], data: st.DataObject) -> None:
    m, n = mn
    d = leaves(n)
    old, new = merkle_root(d[:m]), merkle_root(d)
    proof = consistency_proof(d, m)
    forged_leaf = leaf_hash("ff" * 32)
    if m < n:
        # another history: one leaf changed, old or new
        i = data.draw(st.integers(min_value=0, max_value=n - 1))
        other = list(d)
        other[i] = forged_leaf
        if i < m:
            assert not verify_consistency(m, n, merkle_root(other[:m]), new, proof)
        assert not verify_consistency(m, n, old, merkle_root(other), proof)
        j = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = list(proof)
        bad[j] = bytes(32)
        assert not verify_consistency(m, n, old, new, bad)
        assert not verify_consistency(m, n, old, new, proof[:-1])
        assert not verify_consistency(m, n, old, new, [*proof, bytes(32)])
        # (the sizes themselves are bound by the signed checkpoints, not by the proof)
    else:
        assert not verify_consistency(m, n, old, merkle_root([*d, forged_leaf]), proof)
