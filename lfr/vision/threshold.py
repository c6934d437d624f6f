"""The default similarity threshold, what it was measured to cost, and the old tail model.

Measured with `lfr eval calibrate ../shared/faces --json` on 2026-12-04 (faceplugin pack,
subject = the face the enrolment rule picks; 33 identities, 179 labelled photos + 1,418
singletons: ../shared/calibration/lfw_singletons and faces/_singletons). 1,273,879 impostor
pairs; 1,597 non-mated searches per watchlist (every singleton against a list that does
not hold it, every labelled photo with its own identity left out), 10 rounds of fresh
filler draws; 1,054 mated searches with one enrolment photo and 708 with three, on lists
of 100 and 1,000 entries (the 33 identities padded with singleton fillers).

At the default, 0.58, on a 1,000-entry watchlist:
- FPIR 1.0e-3 per search (16 alerts in 15,970 searches; 95% CI 2.4e-4 to 4.2e-3, counting
  each of the 1,597 searches once); 1.3e-4 on 100 entries. FMR 7.9e-7 per comparison.
- TPIR 0.926 with one enrolment photo (95% CI 0.86-0.97, bootstrap over identities) and
  0.990 with three (0.97-1.00).
All 16 alerts are one lookalike pair (LFW's Ray Young and Jason Kapono, two UCLA players,
cosine 0.758): FPIR is the same 1.0e-3 at every threshold from 0.58 to 0.75, strictly just
over the 1e-3 target (by one search in 15,970, below the measurement's resolution), and
only 0.76 clears it, at TPIR 0.53 / 0.81. No other impostor pair of the 1.27 million
reaches 0.58 (the next is 0.573), so 0.58 is the lowest threshold at that measured FPIR;
0.55 lets a second pair through (1.75e-3). Going lower than the measurement requires costs
recall on real video that nothing measured buys back: on ../shared/video's clips (`lfr eval
video --all`, 1,423-entry list) 0.58 finds 8 of 10 watchlisted people and 0.60 only 6, with
no false alert at either (the best similarity to anyone else in those clips is 0.47).
`MEASURED` holds the whole sweep. These labelled photos are easier than a street camera:
expect lower TPIR.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

__all__ = [
    "CALIBRATION",
    "DEFAULT_THRESHOLD",
    "DEFAULT_THRESHOLD_FPIR",
    "DEFAULT_THRESHOLD_WATCHLIST_SIZE",
    "IMPOSTOR_TAIL",
    "MEASURED",
    "Measured",
    "measured_at",
    "modelled_fpir",
]

#: cosine similarity at or above which a face matches a watchlist entry
DEFAULT_THRESHOLD = 0.58
#: the FPIR per search targeted on a watchlist of DEFAULT_THRESHOLD_WATCHLIST_SIZE entries
DEFAULT_THRESHOLD_FPIR = 1e-3
DEFAULT_THRESHOLD_WATCHLIST_SIZE = 1_000
#: where the measurements below come from
CALIBRATION = "lfr eval calibrate ../shared/faces, 2026-12-04"

Rate = tuple[float, float, float]  # rate, 95% interval low, high


class Measured(NamedTuple):
    """Measured figures at one threshold: FPIR per search by watchlist size, and TPIR on a
    1,000-entry list with one and with three enrolment photos."""

    threshold: float
    fpir: dict[int, Rate]
    tpir_one_photo: Rate
    tpir_three_photos: Rate


def _row(t: float, f100: Rate, f1000: Rate, one: Rate, three: Rate) -> Measured:
    return Measured(t, {100: f100, 1_000: f1000}, one, three)


#: the calibration's sweep (see the module docstring for the sets and the command)
MEASURED: dict[float, Measured] = {
    row.threshold: row
    for row in (
        _row(
            0.40,
            (0.01584, 0.01078, 0.02323),
            (0.1294, 0.1139, 0.1468),
            (0.993, 0.982, 1.0),
            (1.0, 1.0, 1.0),
        ),
        _row(
            0.45,
            (0.004195, 0.002003, 0.008768),
            (0.03463, 0.02672, 0.04477),
            (0.990, 0.973, 0.999),
            (0.999, 0.994, 1.0),
        ),
        _row(
            0.50,
            (3.131e-4, 3.27e-5, 2.992e-3),
            (6.575e-3, 3.627e-3, 0.01189),
            (0.975, 0.945, 0.995),
            (0.996, 0.986, 1.0),
        ),
        _row(
            0.55,
            (1.879e-4, 1.27e-5, 2.762e-3),
            (1.753e-3, 5.76e-4, 5.322e-3),
            (0.945, 0.893, 0.979),
            (0.996, 0.986, 1.0),
        ),
        _row(
            0.58,
            (1.252e-4, 5.9e-6, 2.644e-3),
            (1.002e-3, 2.41e-4, 4.158e-3),
            (0.926, 0.862, 0.968),
            (0.990, 0.974, 0.999),
        ),
        _row(
            0.60,
            (1.252e-4, 5.9e-6, 2.644e-3),
            (1.002e-3, 2.41e-4, 4.158e-3),
            (0.907, 0.833, 0.960),
            (0.986, 0.964, 0.998),
        ),
        _row(
            0.65,
            (1.252e-4, 5.9e-6, 2.644e-3),
            (1.002e-3, 2.41e-4, 4.158e-3),
            (0.839, 0.733, 0.916),
            (0.963, 0.925, 0.988),
        ),
        _row(
            0.70,
            (1.252e-4, 5.9e-6, 2.644e-3),
            (1.002e-3, 2.41e-4, 4.158e-3),
            (0.713, 0.554, 0.830),
            (0.911, 0.837, 0.962),
        ),
        _row(
            0.75,
            (1.252e-4, 5.9e-6, 2.644e-3),
            (1.002e-3, 2.41e-4, 4.158e-3),
            (0.569, 0.391, 0.700),
            (0.826, 0.686, 0.917),
        ),
        _row(
            0.80,
            (0.0, 0.0, 2.400e-3),
            (0.0, 0.0, 2.400e-3),
            (0.355, 0.175, 0.502),
            (0.706, 0.502, 0.836),
        ),
    )
}


def measured_at(threshold: float, watchlist_size: int) -> tuple[Measured, int] | None:
    """The measured row that bounds a deployment's false alert rate from above: the sweep
    step at or below its threshold and the smallest measured list at least its size (FPIR
    only grows as the threshold falls or the list grows). None where nothing measured
    covers it (a threshold under the sweep, a list over 1,000 entries)."""
    steps = [t for t in MEASURED if t <= threshold + 1e-9]
    sizes = [n for n in MEASURED[min(MEASURED)].fpir if n >= watchlist_size]
    if not steps or not sizes:
        return None
    return MEASURED[max(steps)], min(sizes)


#: the impostor score models fitted in the 2026-11-26 calibration (16,300 pairs; cosine,
#: faceplugin pack). Pessimistic beside the measurement: 6.7e-3 at 0.60 and 1,000 entries
#: where 1.0e-3 was measured; kept for list sizes nothing measured covers
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
    entries, 0.70 -> 3.9e-4, 0.75 -> 8.4e-5. A model, not a measurement, and pessimistic
    beside `MEASURED`; re-run `lfr eval calibrate` on the force's own images.
    """
    body = 1 - NormalDist(IMPOSTOR_TAIL["body_mean"], IMPOSTOR_TAIL["body_std"]).cdf(threshold)
    tail = 1 - NormalDist(IMPOSTOR_TAIL["upper_tail_mean"], IMPOSTOR_TAIL["upper_tail_std"]).cdf(
        threshold
    )
    fmr = max(body, tail, 1e-300)
    return -math.expm1(watchlist_size * math.log1p(-fmr))
