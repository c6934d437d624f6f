"""Error-rate arithmetic on similarity scores: pure numpy, no models.

Conventions: a comparison matches when its score is >= the threshold. FAR (= FMR) is the
share of impostor scores that match, TAR = 1 - FNMR the share of genuine ones. Every
function is O(n log n) (one sort, then `searchsorted`): evaluation sets reach millions of
impostor scores, where a mean per distinct score never finishes.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "det_curve",
    "eer",
    "rates_at",
    "wilson_interval",
    "fpir_from_fmr",
    "fmr_for_fpir",
    "rate_at",
    "tail_fmr",
    "tail_threshold",
    "tar_at_far",
    "threshold_at_far",
]

Scores = npt.NDArray[np.float64]


def rate_at(scores: Scores, threshold: float) -> float:
    """Share of scores >= threshold (0 for no scores)."""
    return float(np.mean(scores >= threshold)) if len(scores) else 0.0


def rates_at(scores: Scores, thresholds: Scores) -> Scores:
    """Share of scores >= each threshold, for many thresholds at the cost of one sort."""
    if len(scores) == 0:
        return np.zeros(len(thresholds), dtype=np.float64)
    ordered = np.sort(scores)
    below = np.searchsorted(ordered, np.asarray(thresholds, dtype=np.float64), side="left")
    out: Scores = (len(ordered) - below) / len(ordered)
    return out


def wilson_interval(hits: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial rate: sensible at 0 of n (upper bound about
    3.84 / n at 95%), where the normal approximation collapses to a point.

    It treats the n trials as independent; pairs and searches that share people are not,
    so for those it is a lower bound on the real uncertainty.
    """
    if n <= 0:
        return float("nan"), float("nan")
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = hits / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if hits == 0 else max(0.0, centre - half)
    return low, 1.0 if hits == n else min(1.0, centre + half)


def threshold_at_far(impostor: Scores, far: float) -> float:
    """The lowest threshold whose measured FAR is <= `far`.

    With n impostor scores, at most floor(far * n) of them may match; when that is 0 the
    threshold sits just above the highest impostor score.
    """
    if len(impostor) == 0:
        return float("nan")
    ordered = np.sort(impostor)[::-1]
    allowed = int(math.floor(far * len(ordered)))
    if allowed >= len(ordered):
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], np.inf))


def tar_at_far(genuine: Scores, impostor: Scores, far: float) -> float:
    return rate_at(genuine, threshold_at_far(impostor, far))


def eer(genuine: Scores, impostor: Scores) -> tuple[float, float]:
    """Equal error rate and the threshold where FNMR and FMR cross."""
    if len(genuine) == 0 or len(impostor) == 0:
        return float("nan"), float("nan")
    candidates, fmr, fnmr = det_curve(genuine, impostor)
    i = int(np.argmin(np.abs(fnmr - fmr)))
    return float((fnmr[i] + fmr[i]) / 2), float(candidates[i])


def det_curve(genuine: Scores, impostor: Scores) -> tuple[Scores, Scores, Scores]:
    """(thresholds, FMR, FNMR) over every distinct score."""
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    g = np.sort(genuine)
    fnmr = np.searchsorted(g, thresholds, side="left") / max(len(g), 1)
    fmr = rates_at(impostor, thresholds)
    return thresholds, fmr.astype(np.float64), fnmr.astype(np.float64)


def fpir_from_fmr(fmr: float, watchlist_size: int) -> float:
    """Chance that a non-mated search matches any of N independent entries."""
    return float(-math.expm1(watchlist_size * math.log1p(-min(fmr, 1 - 1e-16))))


def fmr_for_fpir(fpir: float, watchlist_size: int) -> float:
    """The per-comparison FMR that gives `fpir` over a watchlist of N entries."""
    return float(-math.expm1(math.log1p(-fpir) / watchlist_size))


def tail_threshold(impostor: Scores, fmr: float) -> dict[str, float]:
    """Thresholds for an FMR far below what the sample can measure, by three tail models.

    - `normal`: a Gaussian fitted to all impostor scores (optimistic: lookalike pairs make
      the upper tail heavier than the body);
    - `normal_upper_tail`: a Gaussian through the 99% and 99.9% quantiles, i.e. fitted to
      the tail where the lookalikes are;
    - `exponential`: an exponential excess over the 99% quantile (a GPD with shape 0; too
      pessimistic for bounded cosine scores, reported as an upper bound only).
    `threshold` is the larger of the two Gaussian ones.
    """
    from statistics import NormalDist

    unit = NormalDist()
    mean, std = float(np.mean(impostor)), float(np.std(impostor, ddof=1))
    normal = mean + std * unit.inv_cdf(1.0 - fmr)
    q1, q2 = float(np.quantile(impostor, 0.99)), float(np.quantile(impostor, 0.999))
    z1, z2 = unit.inv_cdf(0.99), unit.inv_cdf(0.999)
    tail_std = max((q2 - q1) / (z2 - z1), 1e-9)
    tail_mean = q1 - z1 * tail_std
    upper = tail_mean + tail_std * unit.inv_cdf(1.0 - fmr)
    excess = impostor[impostor > q1] - q1
    beta = float(np.mean(excess)) if len(excess) else std
    expo = q1 + beta * math.log(0.01 / fmr) if fmr < 0.01 else q1
    return {
        "impostor_mean": mean,
        "impostor_std": std,
        "upper_tail_mean": tail_mean,
        "upper_tail_std": tail_std,
        "normal": normal,
        "normal_upper_tail": upper,
        "exponential_bound": expo,
        "threshold": max(normal, upper),
    }


def tail_fmr(model: dict[str, float], threshold: float) -> float:
    """FMR at `threshold` under the more pessimistic of the two Gaussian tail models."""
    from statistics import NormalDist

    body = 1.0 - NormalDist(model["impostor_mean"], model["impostor_std"]).cdf(threshold)
    tail = 1.0 - NormalDist(model["upper_tail_mean"], model["upper_tail_std"]).cdf(threshold)
    return max(body, tail)
