"""A scripted `Recogniser` for the loop and tracker tests: faces where the script says.

It is a test double for the face pipeline (which has its own tests with real models); the
video code under test here is real.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from lfr.vision.types import Box, Candidate, FaceResult, Frame, FrameAnalysis, Gallery


def unit(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def face(
    box: Box,
    *,
    person: int,
    similarity: float | None,
    quality: float = 0.9,
    entry: str = "e-1",
) -> FaceResult:
    best = Candidate(entry, f"person {entry}", similarity) if similarity is not None else None
    return FaceResult(
        box=box,
        size_px=int(box[2] - box[0]),
        quality=quality,
        passed_quality=True,
        best=best,
        embedding=unit(person),
        crop=np.full((8, 8, 3), 7, np.uint8),
    )


class ScriptedRecogniser:
    """Returns `script(frame)` faces after sleeping `delay_s` (a stand-in for model time)."""

    def __init__(self, script: Callable[[Frame], list[FaceResult]], delay_s: float = 0.0) -> None:
        self.script = script
        self.delay_s = delay_s
        self.calls = 0

    def analyse(self, frame: Frame, gallery: Gallery) -> FrameAnalysis:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return FrameAnalysis(frame_index=frame.index, faces=self.script(frame))


class EmptyGallery:
    version = "test"

    def __len__(self) -> int:
        return 0

    def search(self, embeddings: np.ndarray) -> list[Candidate | None]:
        return [None] * len(embeddings)
