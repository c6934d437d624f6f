"""The default similarity threshold and the error rate it was calibrated for.

Calibrated with `lfr eval calibrate /work/shared/faces --target-fpir 1e-4 --watchlist-size
1000` (faceplugin pack, fast models; 184 photos, 33 identities + 4 singletons, 16,300
impostor pairs, 2026-11-26). FPIR <= 1e-4 at 1,000 entries needs a per-comparison FMR of
1.0e-7, far below what 16,300 pairs can measure (resolution 6.1e-5), so the impostor tail
was modelled: a Gaussian through the 99% and 99.9% impostor quantiles (where the lookalike
pairs are: Angelina Jolie / Kate Siegel, Leonardo DiCaprio / Matt Damon) gives 0.744,
rounded up to 0.75; a Gaussian over all impostors would give 0.54 (optimistic) and an
exponential tail 0.84 (a pessimistic bound).

Measured at 0.75 on that set: FMR 0 of 16,300 impostor pairs (highest impostor 0.495), FPIR
0 of 151 non-mated searches (33-entry gallery); modelled FMR 8.4e-8 -> FPIR 8.4e-5 at 1,000
entries. The price: TAR 0.57 on single-photo genuine pairs and FNIR 0.50 for one enrolled
photo per person (multi-photo templates and track-level decisions recover part of it).
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_THRESHOLD_FPIR",
    "DEFAULT_THRESHOLD_WATCHLIST_SIZE",
    "IMPOSTOR_TAIL",
    "modelled_fpir",
]

#: cosine similarity at or above which a face matches a watchlist entry
DEFAULT_THRESHOLD = 0.75
#: the FPIR the default was calibrated for (modelled 8.4e-5; measured 0 of 151 searches)
DEFAULT_THRESHOLD_FPIR = 1e-4
DEFAULT_THRESHOLD_WATCHLIST_SIZE = 1_000

#: the impostor score models fitted in that calibration (cosine, faceplugin pack)
IMPOSTOR_TAIL = {
    "body_mean": 0.01214,
    "body_std": 0.10170,
    "upper_tail_mean": -0.14165,
    "upper_tail_std": 0.17041,
}


def modelled_fpir(
    threshold: float, watchlist_size: int = DEFAULT_THRESHOLD_WATCHLIST_SIZE
) -> float:
    """The FPIR the calibration's impostor model predicts at a threshold and list size.

    For a supervisor choosing another threshold: e.g. 0.60 -> about 6.7e-3 at 1,000
    entries, 0.70 -> 3.9e-4, 0.75 -> 8.4e-5. A model, not a measurement: re-run
    `lfr eval calibrate` on the force's own images.
    """
    body = 1 - NormalDist(IMPOSTOR_TAIL["body_mean"], IMPOSTOR_TAIL["body_std"]).cdf(threshold)
    tail = 1 - NormalDist(IMPOSTOR_TAIL["upper_tail_mean"], IMPOSTOR_TAIL["upper_tail_std"]).cdf(
        threshold
    )
    fmr = max(body, tail, 1e-300)
    return -math.expm1(watchlist_size * math.log1p(-fmr))
