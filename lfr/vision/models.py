"""The interface every face model pack implements, and a clock for the bare model calls.

Two packs implement `FaceModels`: the default faceplugin pack (`faceplugin.py`: Ultra-Light
detector, 68-point landmarks, 512-d embedder) and a user-supplied InsightFace-style pack
(`insightface.py`: SCRFD with five keypoints, ArcFace). The pipeline only sees this interface.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from lfr.vision.detect import Detection
from lfr.vision.types import Image

__all__ = ["FaceModels", "ModelClock", "timed_run"]

Array = npt.NDArray[np.float32]


class ModelClock:
    """Seconds spent inside bare model calls (session.run), per stage. One per frame."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def timed_run(
    run: Callable[[None, dict[str, npt.NDArray[Any]]], list[Array]],
    feed: dict[str, npt.NDArray[Any]],
    clock: ModelClock | None,
    stage: str,
) -> list[Array]:
    start = time.perf_counter()
    out = run(None, feed)
    if clock is not None:
        clock.add(stage, time.perf_counter() - start)
    return out


@runtime_checkable
class FaceModels(Protocol):
    """Detect faces, find five landmarks, embed aligned 112x112 crops. Thread-safe."""

    name: str

    def detect(self, image: Image, clock: ModelClock | None = None) -> list[Detection]:
        """Faces in an RGB image of any size, boxes in its pixels."""
        ...

    def locate_points(
        self, image: Image, detections: Sequence[Detection], clock: ModelClock | None = None
    ) -> None:
        """Fill `points5` (5x2 frame pixels) of each detection that has none."""
        ...

    def embed(self, aligned: npt.NDArray[np.uint8], clock: ModelClock | None = None) -> Array:
        """N x 112 x 112 x 3 RGB crops -> N x D L2-normalised float32 embeddings."""
        ...
