"""Error-rate arithmetic on known score lists."""

import math

import numpy as np
import pytest

from lfr.evaluation.metrics import (
    det_curve,
    eer,
    fmr_for_fpir,
    fpir_from_fmr,
    tail_fmr,
    tail_threshold,
    tar_at_far,
    threshold_at_far,
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


def test_default_threshold_meets_its_target_under_its_own_model():
    from lfr.vision.threshold import (
        DEFAULT_THRESHOLD,
        DEFAULT_THRESHOLD_FPIR,
        DEFAULT_THRESHOLD_WATCHLIST_SIZE,
        modelled_fpir,
    )

    assert (
        modelled_fpir(DEFAULT_THRESHOLD, DEFAULT_THRESHOLD_WATCHLIST_SIZE) <= DEFAULT_THRESHOLD_FPIR
    )
    assert modelled_fpir(0.6) > modelled_fpir(0.7) > modelled_fpir(0.75)
