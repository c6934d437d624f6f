"""Per-group figures: the equitability question (do errors fall evenly across groups?).

As in NPL's equitability study of police LFR: per group, FMR/FNMR (verification) and
FPIR/FNIR (identification), at the shipped threshold and over a sweep, each with a 95%
bootstrap interval over *identities* (pairs and searches share people, so resampling pairs
would claim far more certainty than a few hundred people give), and the ratio of the worst
group to the best with its interval.

- Genuine pairs: every pair of one identity's photos (manifest exclusions left out).
- Impostor pairs: every pair of two different people who are both in the group, since
  demographically similar impostors are the hard case. Scored as one matrix product per
  block of the group's photos, never a Python loop over pairs.
- Identification: the first photo of every identity (all groups) is enrolled; each other
  photo is a mated search (hit: its own entry at rank 1 and at or above the threshold) and,
  with its own entry left out, a non-mated search. Searches count for the probe's group.

The bootstrap resamples a group's identities with replacement; each carries all its pairs
and searches (an impostor pair is carried by both its people). Ratios resample each group
independently and take worst / best per draw.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lfr.evaluation.dataset import FaceSet
from lfr.evaluation.faces import Embedded, verification

__all__ = ["GroupCounts", "group_counts", "group_figures", "read_groups", "summarise"]

Matrix = npt.NDArray[np.float64]
BOOTSTRAP = 1_000
BLOCK = 512  # rows of the similarity matrix at a time (memory stays O(BLOCK * photos))
SWEEP: tuple[float, ...] = tuple(round(0.40 + 0.05 * i, 2) for i in range(9))
#: the four error rates reported per group (larger is worse for each)
METRICS = ("fmr", "fnmr", "fpir", "fnir")


def read_groups(path: Path) -> dict[str, str]:
    """`identity,group` rows."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"identity", "group"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected columns identity,group")
        return {row["identity"].strip(): row["group"].strip() for row in reader}


@dataclass(slots=True)
class GroupCounts:
    """Per identity of one group: errors at each threshold (k x T) and trials (k)."""

    identities: list[str]
    errors: dict[str, Matrix]  # metric -> (k, T) error counts
    trials: dict[str, npt.NDArray[np.float64]]  # metric -> (k,) trial counts
    genuine: npt.NDArray[np.float64]  # pair scores, for the group's verification figures
    impostor: npt.NDArray[np.float64]


def _similarity(embedded: Embedded, a: Matrix, b: Matrix) -> Matrix:
    if embedded.metric == "cosine":
        out: Matrix = a @ b.T
        return out
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    dist: Matrix = -np.sqrt(np.maximum(squared, 0.0))
    return dist


def _stack(embedded: Embedded, paths: list[Path]) -> tuple[Matrix, npt.NDArray[np.bool_]]:
    """Vectors as rows (zeros where no face was found) and which rows are real."""
    vectors = [embedded.vectors.get(p) for p in paths]
    found = np.array([v is not None for v in vectors], dtype=bool)
    width = next((len(v) for v in vectors if v is not None), 1)
    rows = [v.astype(np.float64) if v is not None else np.zeros(width) for v in vectors]
    return (np.stack(rows) if rows else np.zeros((0, width))), found


def _scores(embedded: Embedded, a: Matrix, fa: Any, b: Matrix, fb: Any) -> Matrix:
    """Similarities with failures to acquire scored as the FTA score (a non-match)."""
    s = _similarity(embedded, a, b)
    s[~fa, :] = embedded.fta_score
    s[:, ~fb] = embedded.fta_score
    return s


def group_counts(
    faces: FaceSet,
    embedded: Embedded,
    identities: list[str],
    thresholds: npt.NDArray[np.float64],
    gallery: tuple[Matrix, list[str]],
) -> GroupCounts:
    """Error and trial counts per identity of one group, vectorised (see module doc)."""
    k, t = len(identities), len(thresholds)
    paths = [p for i in identities for p in faces.identities[i]]
    owner = np.repeat(np.arange(k), [len(faces.identities[i]) for i in identities])
    excluded = np.array([p in set(faces.excluded) for p in paths], dtype=bool)
    x, found = _stack(embedded, paths)
    errors = {m: np.zeros((k, t)) for m in METRICS}
    trials = {m: np.zeros(k) for m in METRICS}
    genuine: list[Matrix] = []
    impostor: list[Matrix] = []
    for start in range(0, len(paths), BLOCK):
        rows = slice(start, min(start + BLOCK, len(paths)))
        s = _scores(embedded, x[rows], found[rows], x, found)
        index = np.arange(rows.start, rows.stop)
        later = index[:, None] < np.arange(len(paths))[None, :]  # each pair once
        same = owner[rows][:, None] == owner[None, :]
        usable = ~excluded[rows][:, None] & ~excluded[None, :]
        imp, gen = later & ~same, later & same & usable
        impostor.append(s[imp])
        genuine.append(s[gen])
        # per photo, at each threshold: false matches (both people carry the pair)
        over = s[:, :, None] >= thresholds[None, None, :]
        fm_rows = (over & imp[:, :, None]).sum(axis=1)
        fm_cols = (over & imp[:, :, None]).sum(axis=0)
        np.add.at(errors["fmr"], owner[rows], fm_rows)
        np.add.at(errors["fmr"], owner, fm_cols)
        np.add.at(trials["fmr"], owner[rows], imp.sum(axis=1))
        np.add.at(trials["fmr"], owner, imp.sum(axis=0))
        fnm = (~over & gen[:, :, None]).sum(axis=1)
        np.add.at(errors["fnmr"], owner[rows], fnm)
        np.add.at(trials["fnmr"], owner[rows], gen.sum(axis=1))
    matrix, names = gallery
    column = {n: j for j, n in enumerate(names)}
    probes = [
        (a, p)
        for a, i in enumerate(identities)
        for n, p in enumerate(faces.identities[i])
        if n > 0 or i not in column  # an enrolled photo is not searched
    ]
    if probes and len(names):
        px, pf = _stack(embedded, [p for _, p in probes])
        who = np.array([a for a, _ in probes])
        own = np.array([column.get(identities[a], -1) for a, _ in probes])
        s = _scores(embedded, px, pf, matrix, np.ones(len(names), dtype=bool))
        mine = np.where(own >= 0, s[np.arange(len(s)), np.maximum(own, 0)], -np.inf)
        s[np.arange(len(s))[own >= 0], own[own >= 0]] = -np.inf
        rival = s.max(axis=1)
        mated = own >= 0
        hit = (mine[:, None] >= thresholds[None, :]) & (mine > rival)[:, None]
        np.add.at(errors["fnir"], who[mated], ~hit[mated])
        np.add.at(trials["fnir"], who[mated], 1.0)
        np.add.at(errors["fpir"], who, rival[:, None] >= thresholds[None, :])
        np.add.at(trials["fpir"], who, 1.0)
    return GroupCounts(
        identities,
        errors,
        trials,
        np.concatenate(genuine) if genuine else np.zeros(0),
        np.concatenate(impostor) if impostor else np.zeros(0),
    )


def _draws(k: int, rng: np.random.Generator) -> Matrix:
    """(BOOTSTRAP, k) multiplicities of each identity in each resample."""
    picks = rng.integers(0, k, size=(BOOTSTRAP, k))
    weights = np.zeros((BOOTSTRAP, k))
    np.add.at(weights, (np.repeat(np.arange(BOOTSTRAP), k), picks.ravel()), 1.0)
    return weights


def _resampled(counts: GroupCounts, weights: Matrix) -> dict[str, Matrix]:
    """metric -> (BOOTSTRAP, T) rates (NaN where a resample has no trials)."""
    out = {}
    for m in METRICS:
        num = weights @ counts.errors[m]
        den = (weights @ counts.trials[m])[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[m] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return out


def _interval(values: npt.NDArray[np.float64]) -> list[float | None]:
    """95% percentile interval by order statistics (inf-safe: a draw whose best group has
    no error gives an infinite ratio); None for a bound that is not finite."""
    finite = np.sort(values[~np.isnan(values)])
    if len(finite) == 0:
        return [None, None]
    ends = [float(finite[int(q * (len(finite) - 1))]) for q in (0.025, 0.975)]
    return [e if np.isfinite(e) else None for e in ends]


def summarise(
    counts: dict[str, GroupCounts],
    thresholds: npt.NDArray[np.float64],
    headline: float,
    seed: int = 0,
) -> dict[str, Any]:
    """Rates with intervals per group and threshold, and worst/best ratios at `headline`."""
    rng = np.random.default_rng(seed)
    h = int(np.flatnonzero(np.isclose(thresholds, headline))[0])
    groups: dict[str, Any] = {}
    boot: dict[str, dict[str, Matrix]] = {}
    point: dict[str, dict[str, Matrix]] = {}
    for name, c in counts.items():
        boot[name] = _resampled(c, _draws(len(c.identities), rng))
        point[name] = {}
        rows: list[dict[str, Any]] = [{"threshold": float(t)} for t in thresholds]
        for m in METRICS:
            n = float(c.trials[m].sum())
            rate = c.errors[m].sum(axis=0) / n if n else np.full(len(thresholds), np.nan)
            point[name][m] = rate
            for j, row in enumerate(rows):
                row[m] = None if np.isnan(rate[j]) else float(rate[j])
                row[f"{m}_ci95"] = _interval(boot[name][m][:, j])
                row[f"{m}_trials"] = int(n)
        groups[name] = {"identities": len(c.identities), "at_threshold": rows[h], "sweep": rows}
    ratios: dict[str, Any] = {}
    for m in METRICS:
        rates = {g: float(point[g][m][h]) for g in counts if not np.isnan(point[g][m][h])}
        if len(rates) < 2:
            ratios[m] = None
            continue
        worst, best = max(rates, key=rates.__getitem__), min(rates, key=rates.__getitem__)
        draws = np.stack([boot[g][m][:, h] for g in rates])  # (groups, BOOTSTRAP)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_draw = np.nanmax(draws, axis=0) / np.nanmin(draws, axis=0)
        per_draw = np.where(np.isnan(per_draw), 1.0, per_draw)  # 0 / 0: no error anywhere
        low = rates[best]
        ratios[m] = {
            "worst": worst,
            "best": best,
            "ratio": rates[worst] / low if low > 0 else (1.0 if rates[worst] == 0 else None),
            "ci95": _interval(per_draw),
            "note": None
            if low > 0 or rates[worst] == 0
            else f"no error in group {best!r} at this threshold: the ratio is unbounded",
        }
    return {"groups": groups, "ratios": ratios}


def group_figures(
    faces: FaceSet,
    embedded: Embedded,
    groups: dict[str, str],
    threshold: float,
    *,
    thresholds: tuple[float, ...] = SWEEP,
    seed: int = 0,
) -> dict[str, Any]:
    """Every group's figures at `threshold` and over the sweep (see the module doc)."""
    members: dict[str, list[str]] = {}
    for identity in faces.identities:
        if identity in groups:
            members.setdefault(groups[identity], []).append(identity)
    sweep = np.array(sorted({*thresholds, threshold}), dtype=np.float64)
    first = {i: ps[0] for i, ps in faces.identities.items()}
    gx, gf = _stack(embedded, list(first.values()))
    names = [n for n, ok in zip(first, gf, strict=True) if ok]
    gallery = (gx[gf], names)
    counts = {
        group: group_counts(faces, embedded, identities, sweep, gallery)
        for group, identities in sorted(members.items())
    }
    summary = summarise(counts, sweep, threshold, seed)
    for group, c in counts.items():
        summary["groups"][group] |= verification(c.genuine, c.impostor)
    fmr = summary["ratios"]["fmr"]
    return {
        "threshold": threshold,
        "groups": summary["groups"],
        "ratios": summary["ratios"],
        "max_fmr_ratio": fmr["ratio"] if fmr else None,
        "max_fmr_ratio_ci95": fmr["ci95"] if fmr else None,
        "bootstrap": f"{BOOTSTRAP} resamples of identities per group, 95% percentile intervals",
        "unassigned_identities": sorted(set(faces.identities) - set(groups)),
    }
