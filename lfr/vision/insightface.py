"""A user-supplied InsightFace-style pack behind `FaceModels`: SCRFD + ArcFace ONNX files.

lfr never ships InsightFace's weights (their licence is non-commercial); a force that has
its own licensed SCRFD detector (with five keypoints, e.g. `scrfd_10g_bnkps.onnx`) and an
ArcFace recogniser (112x112 input) puts both in one folder. The files are told apart by
their input shape. If the folder holds a `SHA256SUMS` file (`sha256sum` format), every
listed file is checked against it before loading.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from lfr.vision.detect import Detection, nms
from lfr.vision.embed import embed_batched
from lfr.vision.errors import ModelError, PackIntegrityError
from lfr.vision.models import ModelClock, timed_run
from lfr.vision.pack import sha256_file
from lfr.vision.runtime import RuntimeConfig, flush_denormals_on_this_thread, make_session
from lfr.vision.types import Image

__all__ = ["InsightFaceModels", "scrfd_decode", "scrfd_input"]

Array = npt.NDArray[np.float32]
STRIDES = (8, 16, 32)


def scrfd_input(image: Image, size: int) -> tuple[Array, float]:
    """Letterbox into size x size (top-left), (x - 127.5) / 128, NCHW; and the scale."""
    h, w = image.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh))
    tensor = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(tensor), scale


def _centres(size: int, stride: int, anchors: int) -> Array:
    side = size // stride
    ys, xs = np.mgrid[:side, :side]
    centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centres, anchors, axis=0)


def scrfd_decode(
    outputs: Sequence[Array],
    size: int,
    scale: float,
    *,
    threshold: float = 0.5,
    nms_iou: float = 0.4,
    anchors: int = 2,
) -> list[Detection]:
    """SCRFD's 9 outputs (scores, boxes, keypoints for strides 8/16/32) -> detections.

    Boxes and keypoints are distances from anchor centres in units of the stride.
    """
    n = len(STRIDES)
    if len(outputs) != 3 * n:
        raise ModelError(
            f"the SCRFD model gives {len(outputs)} outputs; lfr needs the 9-output variant "
            "with keypoints (`*_bnkps.onnx`)"
        )
    boxes, scores, points = [], [], []
    for i, stride in enumerate(STRIDES):
        score = outputs[i].reshape(-1)
        dist = outputs[i + n].reshape(-1, 4) * stride
        kps = outputs[i + 2 * n].reshape(-1, 10) * stride
        centres = _centres(size, stride, anchors)
        keep = score >= threshold
        if not keep.any():
            continue
        c, d, k = centres[keep], dist[keep], kps[keep]
        boxes.append(np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1))
        points.append(k.reshape(-1, 5, 2) + c[:, None, :])
        scores.append(score[keep])
    if not boxes:
        return []
    all_boxes = np.concatenate(boxes) / scale
    all_points = np.concatenate(points) / scale
    all_scores = np.concatenate(scores).astype(np.float32)
    out = []
    for i in nms(all_boxes.astype(np.float32), all_scores, nms_iou):
        x1, y1, x2, y2 = (float(v) for v in all_boxes[i])
        out.append(
            Detection((x1, y1, x2, y2), float(all_scores[i]), all_points[i].astype(np.float32))
        )
    return out


def _verify_sums(folder: Path) -> None:
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        expected, name = line.split(maxsplit=1)
        name = name.lstrip("*").strip()
        path = folder / name
        actual = sha256_file(path) if path.is_file() else None
        if actual != expected:
            raise PackIntegrityError(name, expected, actual, folder)


class InsightFaceModels:
    """SCRFD (five keypoints) + ArcFace from a folder of the user's ONNX files."""

    def __init__(
        self,
        folder: Path,
        *,
        runtime: RuntimeConfig | None = None,
        det_size: int = 640,
        threshold: float = 0.5,
        max_batch: int = 16,
    ) -> None:
        """:raises ModelError: the folder lacks a detector or a recogniser."""
        if not folder.is_dir():
            raise ModelError(f"{folder} is not a folder with SCRFD and ArcFace ONNX files")
        _verify_sums(folder)
        runtime = runtime or RuntimeConfig()
        detector = recogniser = None
        for path in sorted(folder.glob("*.onnx")):
            session = make_session(path, runtime)
            shape = session.get_inputs()[0].shape
            if shape[-2:] == [112, 112]:
                recogniser = recogniser or session
            elif len(session.get_outputs()) in (6, 9):
                detector = detector or session
        if detector is None or recogniser is None:
            missing = (
                "an SCRFD detector (*_bnkps.onnx)"
                if detector is None
                else ("an ArcFace recogniser (112x112 input)")
            )
            raise ModelError(f"{folder} has no {missing}; put both ONNX files there")
        self.name = f"insightface:{folder.name}"
        self._detector = detector
        self._recogniser = recogniser
        self._input = detector.get_inputs()[0].name
        self._rec_input = recogniser.get_inputs()[0].name
        # a recogniser exported with a fixed batch of 1 is fed one face at a time
        batch_dim = recogniser.get_inputs()[0].shape[0]
        self._rec_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else max_batch
        self.det_size = det_size
        self.threshold = threshold
        self.max_batch = max_batch

    def detect(self, image: Image, clock: ModelClock | None = None) -> list[Detection]:
        flush_denormals_on_this_thread()
        tensor, scale = scrfd_input(image, self.det_size)
        outputs = timed_run(self._detector.run, {self._input: tensor}, clock, "detect")
        return scrfd_decode(outputs, self.det_size, scale, threshold=self.threshold)

    def locate_points(
        self, image: Image, detections: Sequence[Detection], clock: ModelClock | None = None
    ) -> None:
        """SCRFD gives the five points with each box: nothing left to do."""
        for det in detections:
            if det.points5 is None:
                raise ModelError("the SCRFD model gave a box without keypoints")

    def embed(self, aligned: npt.NDArray[np.uint8], clock: ModelClock | None = None) -> Array:
        flush_denormals_on_this_thread()
        tensors = ((aligned.astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2).copy()

        def run(batch: Array) -> Array:
            (out,) = timed_run(self._recogniser.run, {self._rec_input: batch}, clock, "embed")
            return out

        return embed_batched(run, tensors, self._rec_batch)
