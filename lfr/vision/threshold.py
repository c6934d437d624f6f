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

__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_THRESHOLD_FPIR", "DEFAULT_THRESHOLD_WATCHLIST_SIZE"]

#: cosine similarity at or above which a face matches a watchlist entry
DEFAULT_THRESHOLD = 0.75
#: the FPIR the default was calibrated for (modelled 8.4e-5; measured 0 of 151 searches)
DEFAULT_THRESHOLD_FPIR = 1e-4
DEFAULT_THRESHOLD_WATCHLIST_SIZE = 1_000
