"""A recogniser that "sees" the people a scripted frame is tagged with."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np

from lfr.testing.gallery import identity_vector
from lfr.vision.types import Candidate, FaceResult, Frame, FrameAnalysis, Gallery

__all__ = ["ScriptedRecogniser"]


class ScriptedRecogniser:
    """One face per name in `frame.truth`, embedded as that person's identity vector and
    searched in the gallery for real; `similarity` overrides a person's score. A name with
    the prefix `lowq:` is a face below the quality gate. Thread-safe; counts its calls."""

    def __init__(self, similarity: Mapping[str, float] | None = None) -> None:
        self.similarity = dict(similarity or {})
        self._lock = threading.Lock()
        self.calls = 0

    def analyse(self, frame: Frame, gallery: Gallery) -> FrameAnalysis:
        with self._lock:
            self.calls += 1
        faces: list[FaceResult] = []
        for i, who in enumerate(frame.truth):
            low = who.startswith("lowq:")
            name = who.removeprefix("lowq:")
            face = FaceResult(
                box=(10.0 * i, 0.0, 10.0 * i + 8, 8.0),
                size_px=24 if low else 64,
                quality=0.1 if low else 0.9,
                passed_quality=not low,
                embedding=identity_vector(name),
                crop=np.full((8, 8, 3), 7, dtype=np.uint8),
            )
            if not low:
                best = gallery.search(face.embedding[None, :])[0]  # type: ignore[index]
                if best is not None and name in self.similarity:
                    best = Candidate(best.entry_id, best.label, self.similarity[name])
                face.best = best
            faces.append(face)
        return FrameAnalysis(frame_index=frame.index, faces=faces)
