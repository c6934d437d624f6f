"""`lfr eval calibrate`: the operating point of a threshold, measured on real watchlists.

A non-mated search against N entries raises a false alert if any of N comparisons matches,
so FPIR = 1 - (1 - FMR)^N: at 1,000 entries, 1e-3 per search needs about 1e-6 per
comparison. A few hundred labelled photos cannot show that, so the calibration set (one
photo each of people not otherwise in the set, e.g. LFW singletons) supplies about a
million impostor pairs and thousands of non-mated searches, and the rates are *measured*:

- FMR per comparison over every pair of two different people (labelled photos and
  calibration singletons);
- FPIR per search on watchlists of N entries: the labelled identities, padded to N with
  singleton "filler" entries. The singletons are split in folds; each fold is searched
  against a list whose fillers come from the other folds, so every singleton is one
  non-mated search against a list that does not hold it. Each labelled photo is one more,
  against the list with its own identity left out. The rotation is repeated with fresh
  folds and fillers (10 rounds by default) and the rates averaged: one lookalike pair
  among a thousand people alerts in a round only when one of them is drawn as the other's
  filler, so a single draw swings FPIR by a whole search;
- TPIR (correct entry at rank 1 and at or above the threshold) on the same lists, with one
  enrolment photo and with three (template = renormalised mean), rotating which photos are
  enrolled so every photo is both an enrolment and a probe.

Intervals are 95%: Wilson for FMR and FPIR (pairs share people, so the FMR interval is
narrower than the truth), a bootstrap over identities for TPIR (its searches come from a
few dozen people). The Gaussian tail models of the old calibration are kept beside the
measurement, to show how far the model is off where it can be checked.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lfr.evaluation.dataset import images_in, load_face_set
from lfr.evaluation.faces import embed_images
from lfr.evaluation.metrics import (
    fmr_for_fpir,
    fpir_from_fmr,
    rates_at,
    tail_fmr,
    tail_threshold,
    threshold_at_far,
    wilson_interval,
)
from lfr.vision.pipeline import FacePipeline
from lfr.vision.threshold import DEFAULT_THRESHOLD
from lfr.watchlist.enrol import template

__all__ = [
    "CalibrationSet",
    "SWEEP",
    "calibrate",
    "calibration_set",
    "measure",
]

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float64]

#: thresholds every calibration reports (cosine similarity)
SWEEP: tuple[float, ...] = tuple(round(0.40 + 0.05 * i, 2) for i in range(9))
BOOTSTRAP = 2_000


@dataclass(slots=True)
class CalibrationSet:
    """Embeddings of labelled people (several photos each) and of singletons (one each)."""

    identities: dict[str, list[Vector]]  # acquirable photos, enrolment order
    singletons: Matrix  # (n, d), one distinct person per row
    singleton_names: list[str]


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"calibrate: {message}", file=sys.stderr, flush=True)


def _interval(hits: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(hits, n)
    return {"rate": hits / n if n else None, "hits": hits, "n": n, "ci95": [low, high]}


def _fpir(top: Scores, threshold: float, rotations: int) -> dict[str, Any]:
    """FPIR over `rotations` rounds of the same searches; the interval counts each
    search once (its rounds share the probe, so they are not independent trials)."""
    hits = int(np.sum(top >= threshold))
    n = len(top) // rotations
    low, high = wilson_interval(hits / rotations, n)
    return {
        "rate": hits / len(top) if len(top) else None,
        "hits": hits,
        "searches": len(top),
        "n": n,
        "rotations": rotations,
        "ci95": [low, high],
    }


def _impostor_scores(data: CalibrationSet) -> tuple[Scores, list[dict[str, Any]]]:
    """Every pair of two different people, one matrix product; and the ten highest."""
    names = [n for n, vs in data.identities.items() for _ in vs]
    names += data.singleton_names
    rows = [v for vs in data.identities.values() for v in vs]
    matrix = np.vstack([np.stack(rows), data.singletons]) if rows else data.singletons
    label = np.unique(np.asarray(names), return_inverse=True)[1]
    sims = matrix @ matrix.T
    upper = np.triu_indices(len(matrix), k=1)
    different = label[upper[0]] != label[upper[1]]
    a, b = upper[0][different], upper[1][different]
    scores = sims[a, b].astype(np.float64)
    top = np.argsort(scores)[::-1][:10]
    highest = [
        {"score": float(scores[i]), "a": names[a[i]], "b": names[b[i]]} for i in top.tolist()
    ]
    return scores, highest


def _templates(data: CalibrationSet, photos: int) -> Matrix:
    """Each identity's standing template: the mean of its first `photos` photos."""
    return np.stack([template(vs[:photos]) for vs in data.identities.values()])


def _folds(n: int, fillers: int, rng: np.random.Generator) -> list[tuple[Any, Any]]:
    """(probe rows, filler rows) per fold: every row a probe once, never its own filler."""
    if fillers > n - 1:
        raise ValueError(
            f"{fillers} filler entries need at least {fillers + 1} singleton photos, got {n}"
        )
    order = rng.permutation(n)
    folds = math.ceil(n / (n - fillers)) if fillers else 1
    out = []
    for probes in np.array_split(order, folds):
        rest = np.setdiff1d(order, probes)
        out.append((probes, rng.choice(rest, size=fillers, replace=False)))
    return out


def _nonmated_top(data: CalibrationSet, size: int, rng: np.random.Generator) -> Scores:
    """The best score of each non-mated search against a list of `size` entries."""
    names = list(data.identities)
    enrolled = _templates(data, 1) if names else np.zeros((0, data.singletons.shape[1]))
    fillers = size - len(names)
    if fillers < 0:
        raise ValueError(f"a watchlist of {size} cannot hold the {len(names)} identities")
    tops: list[Scores] = []
    for probes, filler in _folds(len(data.singletons), fillers, rng):
        gallery = np.vstack([enrolled, data.singletons[filler]])
        tops.append((data.singletons[probes] @ gallery.T).max(axis=1).astype(np.float64))
    # labelled photos, each against the list with its own identity left out (one more filler)
    filler = rng.choice(len(data.singletons), size=fillers + 1, replace=False)
    padding = data.singletons[filler]
    for i, vectors in enumerate(data.identities.values()):
        gallery = np.vstack([np.delete(enrolled, i, axis=0), padding])
        tops.append((np.stack(vectors) @ gallery.T).max(axis=1).astype(np.float64))
    return np.concatenate(tops) if tops else np.zeros(0)


@dataclass(slots=True)
class _Mated:
    own: Scores  # score against the probe's own template
    rival: Scores  # best score against every other entry on the list
    identity: npt.NDArray[np.int64]


def _mated(data: CalibrationSet, size: int, photos: int, rng: np.random.Generator) -> _Mated:
    """Mated searches with `photos` enrolment photos, enrolment rotated through each
    identity's photos; identities with no photo left to search are skipped."""
    standing = _templates(data, photos)
    fillers = size - len(standing)
    filler = data.singletons[rng.choice(len(data.singletons), size=fillers, replace=False)]
    own: list[float] = []
    rival: list[float] = []
    who: list[int] = []
    for i, vectors in enumerate(data.identities.values()):
        n = len(vectors)
        if n <= photos:
            continue
        others = np.vstack([np.delete(standing, i, axis=0), filler])
        stack = np.stack(vectors)
        best_other = (stack @ others.T).max(axis=1) if len(others) else np.full(n, -np.inf)
        for k in range(n):
            chosen = [(k + j) % n for j in range(photos)]
            mine = template([vectors[j] for j in chosen])
            probes = [j for j in range(n) if j not in chosen]
            own += (stack[probes] @ mine).astype(np.float64).tolist()
            rival += best_other[probes].astype(np.float64).tolist()
            who += [i] * len(probes)
    return _Mated(np.asarray(own), np.asarray(rival), np.asarray(who, dtype=np.int64))


def _tpir(mated: _Mated, thresholds: Sequence[float], rng: np.random.Generator) -> list[Any]:
    """TPIR per threshold with a 95% bootstrap interval over identities."""
    if len(mated.own) == 0:
        return [{"rate": None, "n": 0, "ci95": [None, None]} for _ in thresholds]
    t = np.asarray(thresholds, dtype=np.float64)
    hit = (mated.own[:, None] >= t[None, :]) & (mated.own > mated.rival)[:, None]
    people, index = np.unique(mated.identity, return_inverse=True)
    hits = np.zeros((len(people), len(t)))
    np.add.at(hits, index, hit)
    counts = np.bincount(index).astype(np.float64)
    draws = rng.integers(0, len(people), size=(BOOTSTRAP, len(people)))
    sampled = hits[draws].sum(axis=1) / counts[draws].sum(axis=1)[:, None]
    low, high = np.quantile(sampled, [0.025, 0.975], axis=0)
    rate = hits.sum(axis=0) / counts.sum()
    return [
        {
            "rate": float(rate[j]),
            "n": len(mated.own),
            "identities": len(people),
            "ci95": [float(low[j]), float(high[j])],
        }
        for j in range(len(t))
    ]


def measure(
    data: CalibrationSet,
    *,
    watchlist_sizes: Sequence[int] = (100, 1_000),
    target_fpir: float = 1e-3,
    thresholds: Sequence[float] = SWEEP,
    seed: int = 0,
    rotations: int = 10,
    quiet: bool = True,
) -> dict[str, Any]:
    """Every measured figure from embeddings: FMR, FPIR per list size, TPIR (1 and 3
    photos), a proposed threshold for `target_fpir` at the largest list size."""
    rng = np.random.default_rng(seed)
    sizes = sorted(set(watchlist_sizes))
    _say(f"impostor pairs among {len(data.singletons)} singletons and the labelled set", quiet)
    impostor, highest = _impostor_scores(data)
    fmr_hits = np.rint(rates_at(impostor, np.asarray(thresholds)) * len(impostor)).astype(int)
    nonmated: dict[int, Scores] = {}
    mated: dict[tuple[int, int], _Mated] = {}
    for size in sizes:
        _say(f"searches against a watchlist of {size}", quiet)
        nonmated[size] = np.concatenate([_nonmated_top(data, size, rng) for _ in range(rotations)])
        for photos in (1, 3):
            mated[size, photos] = _mated(data, size, photos, rng)
    tpir = {key: _tpir(m, thresholds, rng) for key, m in mated.items()}

    def at(threshold: float, j: int | None = None) -> dict[str, Any]:
        row: dict[str, Any] = {"threshold": threshold}
        hits = int(np.sum(impostor >= threshold)) if j is None else int(fmr_hits[j])
        row["fmr"] = _interval(hits, len(impostor))
        for size in sizes:
            top = nonmated[size]
            row[f"fpir_at_{size}"] = _fpir(top, threshold, rotations)
            for photos in (1, 3):
                figures = (
                    tpir[size, photos][j]
                    if j is not None
                    else _tpir(mated[size, photos], [threshold], rng)[0]
                )
                row[f"tpir_at_{size}_{photos}_photo{'s' if photos > 1 else ''}"] = figures
        return row

    sweep = [at(t, j) for j, t in enumerate(thresholds)]
    largest = sizes[-1]
    exact = threshold_at_far(nonmated[largest], target_fpir)
    proposed = math.ceil(round(exact * 100, 6)) / 100  # rounded up to 0.01, never down
    searches = len(nonmated[largest]) // rotations
    fmr_needed = fmr_for_fpir(target_fpir, largest)
    tail = tail_threshold(impostor, fmr_needed) if len(impostor) > 2 else None
    return {
        "date": date.today().isoformat(),
        "target_fpir": target_fpir,
        "watchlist_sizes": sizes,
        "identities": len(data.identities),
        "labelled_photos": sum(len(v) for v in data.identities.values()),
        "singletons": len(data.singletons),
        "impostor_pairs": len(impostor),
        "impostor_max": float(np.max(impostor)) if len(impostor) else None,
        "impostor_highest": highest,
        "nonmated_searches": {str(s): len(nonmated[s]) // rotations for s in sizes},
        "rotations": rotations,
        "mated_searches": {f"{s}_{p}": len(mated[s, p].own) for s, p in mated},
        "fpir_resolvable": searches * target_fpir >= 3,
        "fpir_resolution": 1.0 / searches if searches else None,
        "threshold": proposed,
        "threshold_exact": exact,
        "at_threshold": at(proposed),
        "default_threshold": DEFAULT_THRESHOLD,
        "at_default_threshold": at(DEFAULT_THRESHOLD),
        "sweep": sweep,
        "modelled": None
        if tail is None
        else {
            "fmr_needed_per_comparison": fmr_needed,
            "tail_models": tail,
            "fmr_at_threshold": tail_fmr(tail, proposed),
            "fpir_at_threshold": fpir_from_fmr(tail_fmr(tail, proposed), largest),
            "fpir_from_measured_fmr": fpir_from_fmr(float(np.mean(impostor >= proposed)), largest),
        },
        "intervals": "95%: Wilson for FMR and FPIR (pairs share people, so the FMR interval "
        "is too narrow), bootstrap over identities for TPIR",
    }


def calibration_set(
    root: Path,
    impostors: Path | None,
    pipeline: FacePipeline,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[CalibrationSet, dict[str, Any]]:
    """Embed the labelled set and the calibration singletons (photos with no face dropped)."""
    faces = load_face_set(root)
    extra: list[Path] = []
    if impostors is not None:
        if not impostors.is_dir():
            raise FileNotFoundError(f"{impostors} is not a folder of single photos")
        extra = images_in(impostors)
    singles = faces.singletons + extra
    embedded = embed_images(pipeline, faces.images + extra, progress)
    identities: dict[str, list[Vector]] = {}
    for identity, paths in faces.identities.items():
        usable = [embedded.vectors.get(p) for p in paths if p not in faces.excluded]
        vectors = [v for v in usable if v is not None]
        if vectors:
            identities[identity] = vectors
    rows = [(p, embedded.vectors.get(p)) for p in singles]
    kept = [(p, v) for p, v in rows if v is not None]
    if not kept:
        raise ValueError("no singleton photo with a face: pass --impostors DIR")
    data = CalibrationSet(
        identities,
        np.stack([v for _, v in kept]),
        [f"{p.parent.name}/{p.stem}" for p, _ in kept],
    )
    info = {
        "dir": str(root),
        "impostors_dir": str(impostors) if impostors is not None else None,
        "model_pack": pipeline.models.name,
        "failures_to_acquire": len(embedded.failures),
        "excluded_from_mated": [str(p.relative_to(root)) for p in faces.excluded],
        "images_per_second": embedded.images_per_second,
    }
    return data, info


def calibrate(
    pipeline: FacePipeline,
    root: Path,
    *,
    impostors: Path | None = None,
    target_fpir: float = 1e-3,
    watchlist_sizes: Sequence[int] = (100, 1_000),
    thresholds: Sequence[float] = SWEEP,
    seed: int = 0,
    rotations: int = 10,
    progress: Callable[[int, int], None] | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Embed, then measure (see the module docstring); one JSON-ready dict."""
    data, info = calibration_set(root, impostors, pipeline, progress)
    measured = measure(
        data,
        watchlist_sizes=watchlist_sizes,
        target_fpir=target_fpir,
        thresholds=thresholds,
        seed=seed,
        rotations=rotations,
        quiet=quiet,
    )
    return info | measured
