"""The default model pack (faceplugin-face-recognition-js 0.0.1) behind `FaceModels`.

Runs the derived fast models (denormals flushed, symbolic batch): all tiles of a frame go
through the detector as one batch, all faces through the landmark model and the embedder
as one batch each. Sessions are created once and shared; `run` is thread-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lfr.vision.detect import (
    Detection,
    DetectorConfig,
    decode,
    prepare,
)
from lfr.vision.embed import embed_batched, embedder_input
from lfr.vision.landmarks import five_points, landmark_input
from lfr.vision.models import ModelClock, timed_run
from lfr.vision.pack import DEFAULT_PACK, PackSpec, verify_pack
from lfr.vision.runtime import RuntimeConfig, flush_denormals_on_this_thread, make_session
from lfr.vision.types import Image

__all__ = ["FacepluginModels"]

Array = npt.NDArray[np.float32]


class FacepluginModels:
    """Ultra-Light detector + 68-point landmarks + 512-d embedder from the verified pack."""

    name = "faceplugin-face-recognition-js-0.0.1"

    def __init__(
        self,
        model_dir: Path,
        *,
        runtime: RuntimeConfig | None = None,
        detector: DetectorConfig | None = None,
        max_batch: int = 16,
        spec: PackSpec = DEFAULT_PACK,
    ) -> None:
        """:raises ModelError: the pack is missing or fails verification."""
        files = verify_pack(model_dir, spec)
        runtime = runtime or RuntimeConfig()
        self.detector_config = detector or DetectorConfig()
        self.max_batch = max_batch
        self._detect = make_session(files.detect, runtime)
        self._landmark = make_session(files.landmark, runtime)
        self._feature = make_session(files.feature, runtime)

    def detect(self, image: Image, clock: ModelClock | None = None) -> list[Detection]:
        flush_denormals_on_this_thread()
        batch, tiles, scales = prepare(image, self.detector_config)
        scores_parts, boxes_parts = [], []
        step = self.detector_config.max_batch
        for i in range(0, len(batch), step):
            scores, boxes = timed_run(
                self._detect.run, {"input": batch[i : i + step]}, clock, "detect"
            )
            scores_parts.append(scores)
            boxes_parts.append(boxes)
        return decode(
            np.concatenate(scores_parts),
            np.concatenate(boxes_parts),
            tiles,
            scales,
            self.detector_config,
        )

    def locate_points(
        self, image: Image, detections: Sequence[Detection], clock: ModelClock | None = None
    ) -> None:
        todo = [d for d in detections if d.points5 is None]
        if not todo:
            return
        flush_denormals_on_this_thread()
        batch = np.stack([landmark_input(image, d.box) for d in todo])
        out: list[Array] = []
        for i in range(0, len(batch), self.max_batch):
            (points,) = timed_run(
                self._landmark.run, {"input": batch[i : i + self.max_batch]}, clock, "keypoints"
            )
            out.append(points)
        batch.fill(0)
        points68 = np.concatenate(out).reshape(len(todo), 68, 2)
        for det, pts in zip(todo, points68, strict=True):
            x1, y1, x2, y2 = det.box
            frame_pts = pts * np.array([x2 - x1, y2 - y1], dtype=np.float32) + np.array(
                [x1, y1], dtype=np.float32
            )
            det.points5 = five_points(frame_pts)

    def embed(self, aligned: npt.NDArray[np.uint8], clock: ModelClock | None = None) -> Array:
        flush_denormals_on_this_thread()

        def run(batch: Array) -> Array:
            (out,) = timed_run(self._feature.run, {"input": batch}, clock, "embed")
            return out

        return embed_batched(run, embedder_input(aligned), self.max_batch)
