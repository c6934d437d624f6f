"""`TrackingRecogniser`: the face pipeline steered by a camera's tracks, to keep up on a CPU.

Running the full tiled detector and the embedder on every face of every 1080p frame costs
about 60 ms a frame; ten frames a second on several cameras do not fit two cores. Between
full scans (every `scan_interval_s`, which find newcomers) the detector only runs on a small
region around each open track (up to four regions packed into one detector input), and a
face is embedded only when its track wants a sample (new, undecided, or a better-quality
view): a person walking past is embedded a few times, not on every frame. The analysis
means what `FacePipeline.analyse` returns, except that faces not embedded this frame carry
no candidate.

One instance per camera (it follows that camera's `TrackingDecider`); the models inside are
shared and thread-safe. Crops and embeddings live only in the returned analysis.
"""

from __future__ import annotations

import random
import time
from typing import cast

import cv2
import numpy as np

from lfr.video.tracker import TrackingDecider, stream_ns
from lfr.vision.align import align
from lfr.vision.detect import Detection, DetectorConfig, nms, plan_tiles
from lfr.vision.models import ModelClock
from lfr.vision.pipeline import FacePipeline
from lfr.vision.types import (
    Box,
    Candidate,
    FaceResult,
    Frame,
    FrameAnalysis,
    Gallery,
    Image,
    Vector,
)

__all__ = ["TrackingRecogniser"]


class TrackingRecogniser:
    """Implements `Recogniser` for one camera, planning work with its `TrackingDecider`."""

    def __init__(
        self,
        pipeline: FacePipeline,
        decider: TrackingDecider | None = None,
        *,
        camera: str = "cam",
        scan_interval_s: float = 0.8,
        region_scale: float = 2.2,
        motion_gating: bool = True,
    ) -> None:
        self.models = pipeline.models
        self.gate = pipeline.gate
        self.camera = camera
        self.decider = decider or TrackingDecider(camera)
        self.scan_interval_ns = int(scan_interval_s * 1e9)
        self.region_scale = region_scale
        self._last_scan_ns: int | None = None
        self._rng = random.Random(camera)
        self._next_interval_ns = self.scan_interval_ns
        self._previous_grey: Image | None = None
        self.motion_gating = motion_gating
        self.tiles_scanned = 0
        self.full_scans = 0
        self.embedded = 0

    def new_decider(self) -> TrackingDecider:
        """A fresh decider for this camera (a new deployment), which this recogniser follows.

        `lfr.video.recognition.camera_recognition` hands it out as the camera's `new_decider`.
        """
        self.decider = TrackingDecider(self.camera)
        self._last_scan_ns = None
        if self._previous_grey is not None:
            self._previous_grey.fill(0)
        self._previous_grey = None
        return self.decider

    def analyse(self, frame: Frame, gallery: Gallery) -> FrameAnalysis:
        clock = ModelClock()
        start = time.perf_counter()
        image = frame.image
        now = stream_ns(frame)
        regions = self.decider.regions(now)
        full = (
            self._last_scan_ns is None
            or now - self._last_scan_ns >= self._next_interval_ns
            or now < self._last_scan_ns  # the clock went back: a new stream
        )
        if full:
            self._last_scan_ns = now
            # Jitter the interval so cameras started together do not all scan on one frame
            # (a burst of full scans makes every camera drop a frame at once).
            self._next_interval_ns = int(self.scan_interval_ns * self._rng.uniform(0.75, 1.25))
            self.full_scans += 1
            detections = self._scan(image, clock)
            if regions:  # still people in tiles without motion stay followed
                detections = _merge(detections, self._detect_regions(image, regions, clock))
        else:
            detections = self._detect_regions(image, regions, clock)
        t_detect = time.perf_counter()
        # Faces of settled tracks (decided, or sampled enough for now) are only followed by
        # their box: no landmarks, alignment or quality assessment, and they are not counted
        # as below quality.
        assess = [d for d in detections if not self.decider.settled(d.box, now)]
        self.models.locate_points(image, assess, clock)
        faces: list[FaceResult] = []
        crops: list[Image | None] = []
        chosen: list[int] = []
        for det in detections:
            if det.points5 is None:
                faces.append(
                    FaceResult(box=det.box, size_px=det.size_px, quality=0.0, passed_quality=True)
                )
                crops.append(None)
                continue
            crop = align(image, det.points5)
            score = self.gate.assess(det.size_px, det.points5, crop)
            face = FaceResult(
                box=det.box, size_px=det.size_px, quality=score.score, passed_quality=score.passed
            )
            if score.passed and self.decider.wants_embedding(det.box, score.score, now):
                chosen.append(len(faces))
            faces.append(face)
            crops.append(crop)
        t_gate = time.perf_counter()
        if chosen:
            picked = [crops[i] for i in chosen]
            batch = np.stack([c for c in picked if c is not None])
            try:
                vectors = self.models.embed(batch, clock)
            finally:
                batch.fill(0)  # the detector batch: a copy of every chosen crop
            try:
                candidates: list[Candidate | None] = gallery.search(vectors)
                for row, i in enumerate(chosen):
                    faces[i].embedding = vectors[row].copy()
                    faces[i].crop = picked[row]
                    faces[i].best = candidates[row]
                self._search_templates(detections, chosen, vectors, faces, gallery)
            finally:
                vectors.fill(0)
            self.embedded += len(chosen)
        keep = set(chosen)
        for i, leftover in enumerate(crops):
            if i not in keep and leftover is not None:
                leftover.fill(0)
        end = time.perf_counter()
        stage_ms = {
            "detect": (t_detect - start) * 1000,
            "gate": (t_gate - t_detect) * 1000,
            "embed": (end - t_gate) * 1000,
            "total": (end - start) * 1000,
            "model": clock.total * 1000,
            "full_scan": 1.0 if full else 0.0,
            "embedded": float(len(chosen)),
        }
        return FrameAnalysis(frame_index=frame.index, faces=faces, stage_ms=stage_ms)

    def _search_templates(
        self,
        detections: list[Detection],
        chosen: list[int],
        vectors: Vector,
        faces: list[FaceResult],
        gallery: Gallery,
    ) -> None:
        """Search each sampled face's track as a whole: the mean of its earlier samples and
        this one, a template of the person as seen so far. Noise of single frames (pose,
        blur, light) averages out, as with several enrolment photos."""
        rows: list[int] = []
        owners: list[tuple[int, str]] = []
        totals: list[Vector] = []
        for row, i in enumerate(chosen):
            planned = self.decider.track_template(detections[i].box)
            if planned is not None:
                rows.append(row)
                owners.append((i, planned[0]))
                totals.append(planned[1])
        if not rows:
            return
        means = np.stack(totals)
        try:
            for k, row in enumerate(rows):
                means[k] += vectors[row]  # views: no unzeroed copy of the embeddings
            means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
            for (i, track_id), candidate in zip(owners, gallery.search(means), strict=True):
                faces[i].track_best = candidate
                faces[i].track_id = track_id
        finally:
            means.fill(0)

    def _scan(self, image: Image, clock: ModelClock) -> list[Detection]:
        """Find newcomers: the whole-frame pass plus only the tiles where something moved.

        A fixed camera's background is still, so on a street most tiles hold no change since
        the last scan; people walking in always move. The first scan covers every tile.
        """
        h, w = image.shape[:2]
        cfg: DetectorConfig = getattr(self.models, "detector_config", DetectorConfig())
        shrink = max(2.0, max(w, h) / cfg.tiled_long_side)
        sw, sh = int(round(w / shrink)), int(round(h / shrink))
        if not cfg.tiling or not self.motion_gating or (sw < 400 and sh < 300):
            return self.models.detect(image, clock)  # small frames: one detector pass anyway
        # One shrink of the frame serves the tiles (at the detector's scale), the whole-frame
        # pass and the motion map: resizing each tile on its own costs several times more.
        scaled = cast(Image, cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA))
        half = cast(Image, cv2.resize(scaled, (sw // 2, sh // 2), interpolation=cv2.INTER_AREA))
        small = cv2.resize(half, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
        grey = cast(Image, cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        previous, self._previous_grey = self._previous_grey, grey
        if previous is None or previous.shape != grey.shape:
            scaled.fill(0)
            half.fill(0)
            return self.models.detect(image, clock)
        moving = cv2.absdiff(grey, previous) > _MOTION_LEVEL
        previous.fill(0)
        # The whole-frame pass (large faces), at the detector's own scale.
        f = w / half.shape[1]
        boxes = [(_scaled(d.box, f, 0, 0), d.score) for d in self.models.detect(half, clock)]
        for tile in plan_tiles(sw, sh, cfg.overlap):
            x1, y1 = int(tile.x * shrink), int(tile.y * shrink)
            x2 = min(w, int((tile.x + tile.w) * shrink))
            y2 = min(h, int((tile.y + tile.h) * shrink))
            if moving[y1 // 8 : y2 // 8, x1 // 8 : x2 // 8].mean() < _MOTION_SHARE:
                continue
            self.tiles_scanned += 1
            left, top, right, bottom = x1 > 0, y1 > 0, x2 < w, y2 < h
            part = scaled[tile.y : tile.y + tile.h, tile.x : tile.x + tile.w]
            for d in self.models.detect(part, clock):
                bx1, by1, bx2, by2 = _scaled(d.box, shrink, 0, 0)
                if by2 - by1 > cfg.tile_max_box * (y2 - y1):
                    continue  # a large face seen in part: the whole-frame pass has it
                m = 2.0  # a box cut by an inner tile edge has a whole copy in the next tile
                if (left and bx1 <= m) or (top and by1 <= m):
                    continue
                if (right and bx2 >= x2 - x1 - m) or (bottom and by2 >= y2 - y1 - m):
                    continue
                boxes.append(((bx1 + x1, by1 + y1, bx2 + x1, by2 + y1), d.score))
        scaled.fill(0)
        half.fill(0)
        return _merge([], [Detection(box=b, score=sc) for b, sc in boxes], cfg.nms_iou)

    def _detect_regions(
        self, image: Image, regions: list[Box], clock: ModelClock
    ) -> list[Detection]:
        """Faces near the tracks: their regions tiled 2x2 into one detector input per 4."""
        h, w = image.shape[:2]
        squares: list[tuple[int, int, int]] = []  # x, y, side of each region in the frame
        for x1, y1, x2, y2 in regions:
            side = int(max(x2 - x1, y2 - y1) * self.region_scale)
            side = min(side, w, h)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            rx = int(min(max(0, cx - side / 2), w - side))
            ry = int(min(max(0, cy - side / 2), h - side))
            if side >= 16:
                squares.append((rx, ry, side))
        found: list[Detection] = []
        for i in range(0, len(squares), 4):
            mosaic = np.full((_MOSAIC_H, _MOSAIC_W, 3), 127, dtype=np.uint8)
            group = squares[i : i + 4]
            for k, (rx, ry, side) in enumerate(group):
                cx, cy = _CELLS[k]
                mosaic[cy : cy + _CELL, cx : cx + _CELL] = _cell(image, rx, ry, side)
            for det in self.models.detect(mosaic, clock):
                bx1, by1, bx2, by2 = det.box
                mx, my = (bx1 + bx2) / 2, (by1 + by2) / 2
                for k, (rx, ry, side) in enumerate(group):
                    cx, cy = _CELLS[k]
                    if cx <= mx < cx + _CELL and cy <= my < cy + _CELL:
                        f = side / _CELL
                        box = (
                            rx + (bx1 - cx) * f,
                            ry + (by1 - cy) * f,
                            rx + (bx2 - cx) * f,
                            ry + (by2 - cy) * f,
                        )
                        if not any(_iou(box, other.box) > 0.5 for other in found):
                            found.append(Detection(box=box, score=det.score))
                        break
            mosaic.fill(0)
        return found


def _cell(image: Image, x: int, y: int, side: int) -> Image:
    """The square region resized to one mosaic cell. Large regions are first halved with
    OpenCV's fast 2x box filter: a single area resize by a fractional factor costs over ten
    times more per pixel, and halving then area-resizing averages the same pixels."""
    patch = image[y : y + side, x : x + side]
    while patch.shape[0] >= 2 * _CELL:
        even = patch.shape[0] // 2 * 2
        patch = cast(
            Image,
            cv2.resize(patch[:even, :even], (even // 2, even // 2), interpolation=cv2.INTER_AREA),
        )
    interpolation = cv2.INTER_AREA if patch.shape[0] > _CELL else cv2.INTER_LINEAR
    return cast(Image, cv2.resize(patch, (_CELL, _CELL), interpolation=interpolation))


def _scaled(box: Box, f: float, dx: float, dy: float) -> Box:
    return (box[0] * f + dx, box[1] * f + dy, box[2] * f + dx, box[3] * f + dy)


def _merge(first: list[Detection], second: list[Detection], iou: float = 0.4) -> list[Detection]:
    """Union of two detection lists, duplicates suppressed (best score kept)."""
    every = first + second
    if len(every) < 2:
        return every
    boxes = np.array([d.box for d in every], dtype=np.float32)
    scores = np.array([d.score for d in every], dtype=np.float32)
    return [every[i] for i in nms(boxes, scores, iou)]


_MOTION_LEVEL = 18  # grey-level change that counts as motion (1/8-scale frame)
_MOTION_SHARE = 0.002  # share of a tile's pixels that must change for it to be scanned

# The detector's native input is 320x240: four 120x120 cells, 2x2, with gaps between them.
_MOSAIC_W, _MOSAIC_H, _CELL = 320, 240, 120
_CELLS = [(20, 0), (180, 0), (20, 120), (180, 120)]


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
