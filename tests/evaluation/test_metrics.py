"""Error-rate arithmetic on known score lists."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lfr.evaluation.metrics import (
    det_curve,
    eer,
    fmr_for_fpir,
    fpir_from_fmr,
    rate_at,
    rates_at,
    tail_fmr,
    tail_threshold,
    tar_at_far,
    threshold_at_far,
    wilson_interval,
)


def test_threshold_at_far_allows_floor_far_n_matches():
    impostor = np.arange(1000, dtype=np.float64) / 1000  # 0.000 .. 0.999
    t = threshold_at_far(impostor, 1e-2)
    assert np.mean(impostor >= t) <= 1e-2
    assert np.mean(impostor >= np.nextafter(impostor[-11], -np.inf)) > 1e-2
    # fewer scores than 1/far: the threshold sits just above the maximum
    assert threshold_at_far(impostor[:50], 1e-3) > impostor[49]


def test_tar_and_eer_on_separated_and_overlapping_scores():
    genuine = np.array([0.7, 0.8, 0.9, 0.6])
    impostor = np.array([0.0, 0.1, 0.2, 0.3])
    assert tar_at_far(genuine, impostor, 1e-2) == 1.0
    assert eer(genuine, impostor)[0] == 0.0
    rate, _ = eer(np.array([0.5, 0.6, 0.2, 0.9]), np.array([0.1, 0.55, 0.3, 0.0]))
    assert rate == pytest.approx(0.25)


def test_det_curve_is_monotone():
    rng = np.random.default_rng(0)
    _, fmr, fnmr = det_curve(rng.normal(0.7, 0.1, 300), rng.normal(0.0, 0.1, 3000))
    assert np.all(np.diff(fmr) <= 0) and np.all(np.diff(fnmr) >= 0)


def test_fpir_and_fmr_are_inverse():
    fmr = fmr_for_fpir(1e-4, 1000)
    assert fmr == pytest.approx(1e-7, rel=1e-3)
    assert fpir_from_fmr(fmr, 1000) == pytest.approx(1e-4, rel=1e-9)
    assert fpir_from_fmr(1e-3, 1) == pytest.approx(1e-3)


def test_tail_models_on_a_gaussian_sample():
    rng = np.random.default_rng(1)
    impostor = rng.normal(0.0, 0.1, 200_000)
    model = tail_threshold(impostor, 1e-7)
    assert model["normal"] == pytest.approx(0.52, abs=0.02)
    assert model["normal_upper_tail"] == pytest.approx(0.52, abs=0.04)
    assert model["threshold"] == max(model["normal"], model["normal_upper_tail"])
    assert model["exponential_bound"] > model["normal"]
    assert tail_fmr(model, model["threshold"]) <= 1e-7 * (1 + 1e-6)
    assert not math.isnan(tail_fmr(model, 0.3))


def test_default_threshold_meets_its_targets_as_measured():
    from lfr.vision.threshold import (
        DEFAULT_THRESHOLD,
        DEFAULT_THRESHOLD_FPIR,
        DEFAULT_THRESHOLD_WATCHLIST_SIZE,
        MEASURED,
        measured_at,
        modelled_fpir,
    )

    found = measured_at(DEFAULT_THRESHOLD, DEFAULT_THRESHOLD_WATCHLIST_SIZE)
    assert found is not None
    row, size = found
    assert row.threshold == DEFAULT_THRESHOLD and size == DEFAULT_THRESHOLD_WATCHLIST_SIZE
    # 16 of 15,970 searches: 1e-3 to the measurement's resolution (one search in 1,597)
    assert row.fpir[size][0] <= DEFAULT_THRESHOLD_FPIR + 1 / 15_970
    assert row.tpir_one_photo[1] >= 0.80 and row.tpir_three_photos[1] >= 0.93
    # FPIR falls and TPIR falls as the threshold rises; bigger lists alert more
    rows = [MEASURED[t] for t in sorted(MEASURED)]
    assert all(a.fpir[1000][0] >= b.fpir[1000][0] for a, b in zip(rows, rows[1:], strict=False))
    assert all(r.fpir[1000][0] >= r.fpir[100][0] for r in rows)
    assert all(
        a.tpir_one_photo[0] > b.tpir_one_photo[0] for a, b in zip(rows, rows[1:], strict=False)
    )
    assert modelled_fpir(0.6) > modelled_fpir(0.7) > modelled_fpir(0.75)


# --- the O(n log n) metrics give the old quadratic definitions' results ------------------


def _old_eer(genuine, impostor):
    candidates = np.unique(np.concatenate([genuine, impostor]))
    fnmr = np.array([np.mean(genuine < t) for t in candidates])
    fmr = np.array([np.mean(impostor >= t) for t in candidates])
    i = int(np.argmin(np.abs(fnmr - fmr)))
    return float((fnmr[i] + fmr[i]) / 2), float(candidates[i])


# scores on a coarse grid, so ties between and within the lists are common
_scores = arrays(
    np.float64, st.integers(1, 60), elements=st.integers(-20, 20).map(lambda k: k / 20)
)


@settings(max_examples=200, deadline=None)
@given(genuine=_scores, impostor=_scores)
def test_eer_and_det_match_the_quadratic_definitions(genuine, impostor):
    assert eer(genuine, impostor) == _old_eer(genuine, impostor)
    thresholds, fmr, fnmr = det_curve(genuine, impostor)
    assert np.array_equal(fmr, [np.mean(impostor >= t) for t in thresholds])
    assert np.array_equal(fnmr, [np.mean(genuine < t) for t in thresholds])


@settings(max_examples=200, deadline=None)
@given(scores=_scores, thresholds=_scores)
def test_rates_at_is_rate_at_for_every_threshold(scores, thresholds):
    assert np.array_equal(rates_at(scores, thresholds), [rate_at(scores, t) for t in thresholds])


def test_eer_on_a_million_scores_is_quick():
    import time

    rng = np.random.default_rng(2)
    start = time.perf_counter()
    rate, _ = eer(rng.normal(0.7, 0.1, 100_000), rng.normal(0.0, 0.1, 1_000_000))
    assert time.perf_counter() - start < 5
    assert rate < 1e-3


def test_wilson_interval_at_zero_and_in_the_middle():
    low, high = wilson_interval(0, 1_000)
    assert low == 0.0 and high == pytest.approx(3.84 / 1003.84, rel=1e-3)
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
