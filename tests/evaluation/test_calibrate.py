"""Measured operating point on synthetic embeddings: counts, folds, and known rates."""

from __future__ import annotations

import numpy as np
import pytest

from lfr.evaluation.calibrate import CalibrationSet, measure


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 128))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def synthetic(singletons: int = 300, twin: bool = False) -> CalibrationSet:
    """10 people with 5 photos each (genuine cosine about 0.8), singletons all different;
    `twin`: one singleton is a lookalike of person 0 (cosine about 0.7 to their photos)."""
    rng = np.random.default_rng(0)
    people = _unit(rng, 10)
    identities = {}
    for i, person in enumerate(people):
        noisy = person + 0.06 * rng.normal(size=(5, 128))
        identities[f"p{i}"] = list(
            (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
        )
    single = _unit(rng, singletons)
    if twin:
        mix = 0.8 * people[0] + 0.6 * single[0]
        single[0] = mix / np.linalg.norm(mix)
    return CalibrationSet(identities, single, [f"s{i}" for i in range(singletons)])


def test_every_singleton_and_labelled_photo_is_one_nonmated_search():
    out = measure(synthetic(), watchlist_sizes=(20, 200), thresholds=(0.3, 0.5))
    assert out["nonmated_searches"] == {"20": 300 + 50, "200": 300 + 50}
    assert out["impostor_pairs"] == (350 * 349) // 2 - 10 * 10  # less the genuine pairs
    # one photo enrolled, rotated over 5: 5 x 4 probes each; three photos: 5 x 2
    assert out["mated_searches"] == {"20_1": 200, "20_3": 100, "200_1": 200, "200_3": 100}
    row = out["sweep"][1]
    assert row["fpir_at_200"]["hits"] == 0 and row["fmr"]["hits"] == 0
    assert row["tpir_at_200_1_photo"]["rate"] == 1.0
    assert row["fpir_at_200"]["ci95"][1] == pytest.approx(3.84 / 353.84, rel=0.01)


def test_a_lookalike_raises_fmr_and_fpir_and_sets_the_proposal():
    out = measure(synthetic(twin=True), watchlist_sizes=(200,), target_fpir=1e-3)
    top = out["impostor_highest"][0]
    assert {top["a"], top["b"]} == {"p0", "s0"} and top["score"] > 0.6
    # the twin's search alerts on p0's entry below its score; the proposal sits above it
    assert out["threshold"] > out["impostor_highest"][4]["score"]
    assert out["at_threshold"]["fpir_at_200"]["hits"] == 0
    low = out["sweep"][0]
    assert low["threshold"] == 0.4 and low["fpir_at_200"]["hits"] >= 1
    assert low["fmr"]["hits"] >= 5  # the twin against all five of p0's photos
    assert not out["fpir_resolvable"]  # 350 searches cannot show 1e-3


def test_a_list_too_big_for_the_singletons_is_refused():
    with pytest.raises(ValueError, match="filler"):
        measure(synthetic(singletons=30), watchlist_sizes=(100,))
