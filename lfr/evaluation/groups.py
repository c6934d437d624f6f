"""Per-group figures: the equitability question (do false matches fall evenly?).

A group's genuine pairs are its own; its impostor pairs are every pair of two different
people who are both in the group, since demographically similar impostors are the hard
case. The headline is the largest ratio of false match rates between groups at one
threshold.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from lfr.evaluation.dataset import FaceSet
from lfr.evaluation.faces import Embedded, verification
from lfr.evaluation.metrics import rate_at

__all__ = ["group_figures", "read_groups"]


def read_groups(path: Path) -> dict[str, str]:
    """`identity,group` rows."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"identity", "group"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected columns identity,group")
        return {row["identity"].strip(): row["group"].strip() for row in reader}


def _score(embedded: Embedded, a: Path, b: Path) -> float:
    va, vb = embedded.vectors.get(a), embedded.vectors.get(b)
    return embedded.fta_score if va is None or vb is None else embedded.score(va, vb)


def group_figures(
    faces: FaceSet, embedded: Embedded, groups: dict[str, str], threshold: float
) -> dict[str, Any]:
    members: dict[str, list[str]] = {}
    for identity in faces.identities:
        if identity in groups:
            members.setdefault(groups[identity], []).append(identity)
    per_group: dict[str, Any] = {}
    fmrs: dict[str, float] = {}
    for group, identities in sorted(members.items()):
        genuine = [
            _score(embedded, a, b)
            for i in identities
            for a, b in itertools.combinations(
                [p for p in faces.identities[i] if p not in faces.excluded], 2
            )
        ]
        impostor = [
            _score(embedded, a, b)
            for i, j in itertools.combinations(identities, 2)
            for a in faces.identities[i]
            for b in faces.identities[j]
        ]
        g = np.asarray(genuine, dtype=np.float64)
        m = np.asarray(impostor, dtype=np.float64)
        figures = verification(g, m)
        figures["identities"] = len(identities)
        figures["fmr_at_threshold"] = rate_at(m, threshold)
        figures["fnmr_at_threshold"] = 1.0 - rate_at(g, threshold) if len(g) else None
        per_group[group] = figures
        if len(m):
            fmrs[group] = figures["fmr_at_threshold"]
    ratio: float | None = None
    at_least: float | None = None
    note = None
    if len(fmrs) >= 2:
        low, high = min(fmrs.values()), max(fmrs.values())
        if low > 0:
            ratio = at_least = high / low
        elif high == 0:
            ratio = at_least = 1.0
            note = "no false match in any group at this threshold"
        else:
            # a group with 0 of n false matches has FMR below 3/n (95%, rule of three)
            zero = [per_group[g]["pairs_impostor"] for g, f in fmrs.items() if f == 0]
            at_least = high / (3.0 / max(zero))
            note = (
                "a group has no false match at this threshold: the ratio is unbounded; "
                "max_fmr_ratio_at_least uses the rule-of-three bound 3/n for that group"
            )
    return {
        "threshold": threshold,
        "groups": per_group,
        "max_fmr_ratio": ratio,
        "max_fmr_ratio_at_least": at_least,
        "max_fmr_ratio_note": note,
        "unassigned_identities": sorted(set(faces.identities) - set(groups)),
    }
