"""Per-group figures on synthetic embeddings: a known gap shows, and a big group is fast."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from lfr.evaluation.dataset import FaceSet
from lfr.evaluation.faces import Embedded
from lfr.evaluation.groups import group_figures


def synthetic(
    groups: dict[str, tuple[int, float]], photos: int = 3, seed: int = 0
) -> tuple[FaceSet, Embedded, dict[str, str]]:
    """Per group (identities, shared share): each person is a random direction mixed with
    the group's common direction, so two people of a group have cosine about `shared`."""
    rng = np.random.default_rng(seed)
    identities: dict[str, list[Path]] = {}
    vectors: dict[Path, np.ndarray | None] = {}
    labels: dict[str, str] = {}
    for group, (count, shared) in groups.items():
        common = rng.normal(size=512)
        common /= np.linalg.norm(common)
        for i in range(count):
            own = rng.normal(size=512)
            own /= np.linalg.norm(own)
            person = np.sqrt(shared) * common + np.sqrt(1 - shared) * own
            name = f"{group}{i}"
            labels[name] = group
            identities[name] = [Path(f"/synthetic/{name}/{k}.jpg") for k in range(photos)]
            for path in identities[name]:
                v = person + rng.normal(scale=0.015, size=512)
                vectors[path] = (v / np.linalg.norm(v)).astype(np.float32)
    return FaceSet(Path("/synthetic"), identities, []), Embedded(vectors, 1.0), labels


def test_a_known_gap_between_groups_shows_with_its_interval():
    faces, embedded, labels = synthetic({"even": (40, 0.0), "similar": (40, 0.6)})
    out = group_figures(faces, embedded, labels, 0.5)
    even, similar = out["groups"]["even"], out["groups"]["similar"]
    assert even["at_threshold"]["fmr"] == 0.0
    assert similar["at_threshold"]["fmr"] > 0.3
    assert similar["at_threshold"]["fmr_ci95"][0] > even["at_threshold"]["fmr_ci95"][1]
    # identification: the similar group's non-mated searches alert, the other's do not
    assert similar["at_threshold"]["fpir"] > 0.5 and even["at_threshold"]["fpir"] == 0.0
    fmr = out["ratios"]["fmr"]
    assert (fmr["worst"], fmr["best"]) == ("similar", "even")
    assert fmr["ratio"] is None and "unbounded" in fmr["note"]
    # both groups' genuine pairs match: FNMR/FNIR even, ratio 1
    assert out["ratios"]["fnmr"]["ratio"] == 1.0
    assert [row["threshold"] for row in even["sweep"]][:2] == [0.4, 0.45]
    assert even["sweep"][0]["fmr_trials"] == 40 * 39 * 9  # each pair carried by both people


def test_a_finite_ratio_has_an_interval_around_it():
    faces, embedded, labels = synthetic({"a": (60, 0.35), "b": (60, 0.45)}, seed=1)
    out = group_figures(faces, embedded, labels, 0.38)
    fmr = out["ratios"]["fmr"]
    assert fmr["worst"] == "b" and fmr["ratio"] > 10
    low, high = fmr["ci95"]
    assert 1 < low < fmr["ratio"] < high


def test_a_group_of_3000_photos_finishes_in_seconds():
    faces, embedded, labels = synthetic({"big": (1_000, 0.1), "small": (50, 0.1)})
    start = time.perf_counter()
    out = group_figures(faces, embedded, labels, 0.6)
    assert time.perf_counter() - start < 20
    assert out["groups"]["big"]["pairs_impostor"] == 3_000 * 2_997 // 2
    assert out["groups"]["big"]["identities"] == 1_000
