"""The whole `lfr eval faces` run: embed, verify, identify, per-group figures, plot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lfr.evaluation.dataset import load_face_set, read_pairs
from lfr.evaluation.faces import (
    embed_images,
    identification,
    identification_searches,
    pair_scores,
    verification,
)
from lfr.evaluation.groups import group_figures, read_groups
from lfr.evaluation.plot import plot_det
from lfr.vision.pipeline import FacePipeline
from lfr.vision.threshold import DEFAULT_THRESHOLD

__all__ = ["evaluate_faces"]


def evaluate_faces(
    pipeline: FacePipeline,
    root: Path,
    *,
    pairs_file: Path | None = None,
    impostors: int = 10_000,
    seed: int = 0,
    plot: Path | None = None,
    groups_file: Path | None = None,
    threshold: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Every figure of the issue's evaluation interface, as one JSON-ready dict."""
    faces = load_face_set(root)
    if pairs_file is not None:
        pairs = read_pairs(pairs_file, root)
    else:
        pairs = faces.genuine_pairs() + faces.impostor_pairs(impostors, seed)
    paths = list(dict.fromkeys([*faces.images, *(p.a for p in pairs), *(p.b for p in pairs)]))
    embedded = embed_images(pipeline, paths, progress)
    genuine, impostor = pair_scores(pairs, embedded)
    result: dict[str, Any] = {
        "dir": str(root),
        "model_pack": pipeline.models.name,
        "pairs_source": str(pairs_file)
        if pairs_file
        else f"all genuine + {impostors} impostor (seed {seed})",
        "images": len(paths),
        "failure_to_acquire": len(embedded.failures) / len(paths) if paths else 0.0,
        "failed_images": [
            str(p.relative_to(root.parent)) if p.is_relative_to(root.parent) else str(p)
            for p in embedded.failures
        ],
        "excluded_from_genuine": [str(p.relative_to(root)) for p in faces.excluded],
        "ambiguous_subject": len(embedded.ambiguous),
    }
    result |= verification(genuine, impostor)
    searches = identification_searches(faces, embedded)
    result |= identification(searches)
    result["images_per_second"] = embedded.images_per_second
    chosen = threshold if threshold is not None else result["threshold_at_far_1e-3"]
    if groups_file is not None:
        shipped = threshold if threshold is not None else DEFAULT_THRESHOLD
        result["groups"] = group_figures(faces, embedded, read_groups(groups_file), shipped)
    if plot is not None:
        plot_det(genuine, impostor, plot, title=f"lfr on {root.name}", threshold=chosen)
        result["plot"] = str(plot)
    return result
