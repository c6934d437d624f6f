"""`lfr eval faces`: verification and identification figures on a folder of face photos.

Each image is embedded once (its subject by `lfr.vision.subject`'s rule, the one enrolment
uses, no quality gate: these are enrolment-style photos); an image with no face is a failure
to acquire and scores -1 against everything, so it counts as a non-match. Embeddings stay in
this process's memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lfr.evaluation.dataset import FaceSet, Pair
from lfr.evaluation.metrics import eer, rate_at, tar_at_far, threshold_at_far
from lfr.vision.image import read_image
from lfr.vision.pipeline import FacePipeline

__all__ = [
    "Embedded",
    "Searches",
    "embed_images",
    "fnir_at",
    "fpir_at",
    "identification",
    "identification_searches",
    "pair_scores",
    "verification",
]

Vector = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float64]
FTA_SCORE = -1.0


@dataclass(slots=True)
class Embedded:
    """One template per image (None: failure to acquire) and how long embedding took.

    `metric` says how two templates compare: cosine for L2-normalised embeddings (lfr),
    negative Euclidean distance for dlib's (the peer benchmark).
    """

    vectors: dict[Path, Vector | None]
    seconds: float  # pipeline time only, decoding excluded
    metric: str = "cosine"
    #: photos whose subject was a guess (enrolment would refuse them); evaluated anyway
    ambiguous: list[Path] = field(default_factory=list)

    @property
    def fta_score(self) -> float:
        return FTA_SCORE if self.metric == "cosine" else -10.0

    def score(self, a: Vector, b: Vector) -> float:
        if self.metric == "cosine":
            return float(a @ b)
        return -float(np.linalg.norm(a - b))

    def scores(self, matrix: Vector, v: Vector) -> npt.NDArray[np.float64]:
        if self.metric == "cosine":
            return (matrix @ v).astype(np.float64)
        out: npt.NDArray[np.float64] = -np.linalg.norm(matrix - v, axis=1).astype(np.float64)
        return out

    @property
    def failures(self) -> list[Path]:
        return [p for p, v in self.vectors.items() if v is None]

    @property
    def images_per_second(self) -> float:
        return len(self.vectors) / self.seconds if self.seconds > 0 else 0.0


def embed_images(
    pipeline: FacePipeline,
    paths: Sequence[Path],
    progress: Callable[[int, int], None] | None = None,
) -> Embedded:
    """Each photo's subject embedded; a photo enrolment would refuse as ambiguous still
    gets the rule's best candidate (evaluation drops no photo) and is listed."""
    vectors: dict[Path, Vector | None] = {}
    ambiguous: list[Path] = []
    spent = 0.0
    for n, path in enumerate(dict.fromkeys(paths), start=1):
        image = read_image(path)
        if image is None:
            vectors[path] = None
            continue
        start = time.perf_counter()
        analysis, choice = pipeline.analyse_subject(image)
        spent += time.perf_counter() - start
        if choice.ambiguous:
            ambiguous.append(path)
        face = analysis.faces[0] if analysis.faces else None
        vectors[path] = None if face is None or face.embedding is None else face.embedding.copy()
        analysis.forget()
        if progress is not None:
            progress(n, len(paths))
    return Embedded(vectors, spent, ambiguous=ambiguous)


def pair_scores(pairs: Sequence[Pair], embedded: Embedded) -> tuple[Scores, Scores]:
    genuine: list[float] = []
    impostor: list[float] = []
    for pair in pairs:
        a, b = embedded.vectors.get(pair.a), embedded.vectors.get(pair.b)
        score = embedded.fta_score if a is None or b is None else embedded.score(a, b)
        (genuine if pair.same else impostor).append(score)
    return np.asarray(genuine, dtype=np.float64), np.asarray(impostor, dtype=np.float64)


def verification(genuine: Scores, impostor: Scores) -> dict[str, Any]:
    rate, at = eer(genuine, impostor)
    return {
        "pairs_genuine": int(len(genuine)),
        "pairs_impostor": int(len(impostor)),
        "tar_at_far_1e-2": tar_at_far(genuine, impostor, 1e-2),
        "tar_at_far_1e-3": tar_at_far(genuine, impostor, 1e-3),
        "eer": rate,
        "eer_threshold": at,
        "threshold_at_far_1e-2": threshold_at_far(impostor, 1e-2),
        "threshold_at_far_1e-3": threshold_at_far(impostor, 1e-3),
        "genuine_mean": float(np.mean(genuine)) if len(genuine) else None,
        "impostor_mean": float(np.mean(impostor)) if len(impostor) else None,
    }


@dataclass(slots=True)
class Searches:
    """Identification: mated probes (top-1 id correct?, score) and non-mated top scores."""

    mated_correct: npt.NDArray[np.bool_]
    mated_scores: Scores
    nonmated_scores: Scores
    gallery_size: int


def identification_searches(faces: FaceSet, embedded: Embedded) -> Searches:
    """First acquirable image of each identity enrolled; the rest are mated probes.

    Non-mated searches: every singleton, plus every mated probe searched with its own
    identity left out of the gallery (so FPIR can be measured on a small set).
    """
    gallery: dict[str, Vector] = {}
    probes: list[tuple[str, Path]] = []
    for identity, paths in faces.identities.items():
        enrolled = False
        for path in paths:
            vector = embedded.vectors.get(path)
            if not enrolled and vector is not None:
                gallery[identity] = vector
                enrolled = True
            else:
                probes.append((identity, path))
    names = list(gallery)
    matrix = np.stack([gallery[n] for n in names]) if names else np.zeros((0, 512), np.float32)
    correct, mated, nonmated = [], [], []
    for identity, path in probes:
        vector = embedded.vectors.get(path)
        if vector is None or not names:
            correct.append(False)
            mated.append(embedded.fta_score)
            nonmated.append(embedded.fta_score)
            continue
        scores = embedded.scores(matrix, vector)
        best = int(np.argmax(scores))
        correct.append(names[best] == identity)
        mated.append(float(scores[best]))
        if identity in gallery:
            scores[names.index(identity)] = -np.inf
        nonmated.append(float(np.max(scores)) if len(names) > 1 else embedded.fta_score)
    for path in faces.singletons:
        vector = embedded.vectors.get(path)
        nonmated.append(
            float(np.max(embedded.scores(matrix, vector)))
            if vector is not None and names
            else embedded.fta_score
        )
    return Searches(
        np.asarray(correct, dtype=bool),
        np.asarray(mated, dtype=np.float64),
        np.asarray(nonmated, dtype=np.float64),
        len(names),
    )


def fnir_at(searches: Searches, threshold: float) -> float:
    hits = searches.mated_correct & (searches.mated_scores >= threshold)
    return float(1.0 - np.mean(hits)) if len(hits) else float("nan")


def identification(searches: Searches) -> dict[str, Any]:
    threshold = threshold_at_far(searches.nonmated_scores, 1e-2)
    return {
        "gallery_size": searches.gallery_size,
        "probes_mated": int(len(searches.mated_scores)),
        "probes_nonmated": int(len(searches.nonmated_scores)),
        "rank1": float(np.mean(searches.mated_correct)) if len(searches.mated_correct) else None,
        "fnir_at_fpir_1e-2": fnir_at(searches, threshold),
        "threshold_at_fpir_1e-2": threshold,
    }


def fpir_at(searches: Searches, threshold: float) -> float:
    return rate_at(searches.nonmated_scores, threshold)
