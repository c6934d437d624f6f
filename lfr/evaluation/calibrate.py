"""`lfr eval calibrate`: a threshold for a target FPIR on a watchlist of a given size.

A non-mated search against N entries raises a false alert if any of N comparisons matches,
so FPIR = 1 - (1 - FMR)^N and the per-comparison FMR needed is about FPIR / N (1e-7 for
1e-4 at 1,000). No photo set here measures 1e-7 directly, so the impostor tail is modelled
(a Gaussian and a heavier exponential tail; the larger threshold is proposed) and the
proposal is then checked by measurement: the FPIR of the set's own non-mated searches and
the empirical FMR over every impostor pair.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lfr.evaluation.dataset import load_face_set
from lfr.evaluation.faces import embed_images, fnir_at, fpir_at, identification_searches
from lfr.evaluation.metrics import fmr_for_fpir, fpir_from_fmr, rate_at, tail_fmr, tail_threshold
from lfr.vision.pipeline import FacePipeline

__all__ = ["calibrate"]


def calibrate(
    pipeline: FacePipeline,
    root: Path,
    *,
    target_fpir: float = 1e-4,
    watchlist_size: int = 1_000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    faces = load_face_set(root)
    embedded = embed_images(pipeline, faces.images, progress)
    labelled = [(i, p) for i, ps in faces.identities.items() for p in ps]
    labelled += [(f"_single:{p.name}", p) for p in faces.singletons]
    impostor, genuine = [], []
    for (ia, a), (ib, b) in itertools.combinations(labelled, 2):
        va, vb = embedded.vectors[a], embedded.vectors[b]
        if va is None or vb is None:
            continue
        if ia != ib:
            impostor.append(float(va @ vb))
        elif a not in faces.excluded and b not in faces.excluded:
            genuine.append(float(va @ vb))
    m = np.asarray(impostor, dtype=np.float64)
    g = np.asarray(genuine, dtype=np.float64)
    fmr = fmr_for_fpir(target_fpir, watchlist_size)
    tail = tail_threshold(m, fmr)
    threshold = round(float(tail["threshold"]) + 0.005, 2)  # rounded up, never down
    searches = identification_searches(faces, embedded)
    empirical_fmr = rate_at(m, threshold)
    return {
        "dir": str(root),
        "target_fpir": target_fpir,
        "watchlist_size": watchlist_size,
        "fmr_needed_per_comparison": fmr,
        "threshold": threshold,
        "tail_models": tail,
        "impostor_pairs": len(m),
        "impostor_max": float(np.max(m)) if len(m) else None,
        "empirical_fmr_at_threshold": empirical_fmr,
        "empirical_fmr_resolution": 1.0 / len(m) if len(m) else None,
        "modelled_fmr_at_threshold": tail_fmr(tail, threshold),
        "modelled_fpir_at_threshold": fpir_from_fmr(tail_fmr(tail, threshold), watchlist_size),
        "measured_fpir_on_set": fpir_at(searches, threshold),
        "nonmated_searches": int(len(searches.nonmated_scores)),
        "gallery_size": searches.gallery_size,
        "fnir_on_set_at_threshold": fnir_at(searches, threshold),
        "tar_on_genuine_pairs_at_threshold": rate_at(g, threshold),
        "genuine_pairs": len(g),
    }
