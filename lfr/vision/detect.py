"""Face detection on whole frames of any size: a thumbnail pass plus overlapping tiles.

The Ultra-Light detector sees 320x240. A 1080p frame shrunk to that loses every face under
~50 px, so large frames are also cut into overlapping tiles (640x480 by default, halving the
resolution instead of dividing it by six), all tiles go through the detector as one batch,
and boxes are merged by non-maximum suppression across tiles. A box touching a tile's inner
edge is cut off by the tile and is dropped: the overlap guarantees a whole copy elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from lfr.vision.types import Image

__all__ = [
    "Detection",
    "DetectorConfig",
    "Tile",
    "decode",
    "letterbox_u8",
    "nms",
    "plan_tiles",
    "prepare",
    "square_box",
]

Boxes = npt.NDArray[np.float32]
INPUT_W, INPUT_H = 320, 240


@dataclass(slots=True, repr=False)
class Detection:
    """A face box in frame pixels (square, as the landmark model expects) and its score."""

    box: tuple[float, float, float, float]
    score: float
    points5: npt.NDArray[np.float32] | None = field(default=None)

    def __repr__(self) -> str:
        return f"Detection(box={tuple(round(v) for v in self.box)}, score={self.score:.2f})"

    @property
    def size_px(self) -> int:
        x1, y1, x2, y2 = self.box
        return int(round(min(x2 - x1, y2 - y1)))


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    score_threshold: float = 0.7
    nms_iou: float = 0.4
    tiling: bool = True
    #: tiles are cut from the frame shrunk so that its long side is at most this (and by at
    #: least 2x): a 1080p frame becomes 960x540 and 24 px faces reach the detector at 12 px
    tiled_long_side: int = 960
    overlap: float = 0.25
    #: a tile keeps only boxes up to this fraction of its height: larger faces are found by
    #: the whole-frame pass, and a tile that sees part of a large face mistakes it for a face
    tile_max_box: float = 0.4
    max_batch: int = 16


@dataclass(frozen=True, slots=True)
class Tile:
    """A region of the frame (x, y, w, h) and which of its edges are inside the frame."""

    x: int
    y: int
    w: int
    h: int
    inner: tuple[bool, bool, bool, bool]  # left, top, right, bottom


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    if length <= tile:
        return [0]
    step = tile * (1.0 - overlap)
    count = int(np.ceil((length - tile) / step)) + 1
    return [int(round(i * (length - tile) / (count - 1))) for i in range(count)]


def plan_tiles(width: int, height: int, overlap: float) -> list[Tile]:
    """Overlapping 320x240 tiles covering a (shrunk) frame."""
    tiles = []
    tw, th = min(INPUT_W, width), min(INPUT_H, height)
    for y in _starts(height, th, overlap):
        for x in _starts(width, tw, overlap):
            inner = (x > 0, y > 0, x + tw < width, y + th < height)
            tiles.append(Tile(x, y, tw, th, inner))
    return tiles


def prepare(
    image: Image, config: DetectorConfig
) -> tuple[npt.NDArray[np.uint8], list[Tile], list[float]]:
    """The detector's input batch for a frame: the whole frame, then tiles if it is large.

    Returns the uint8 NHWC batch (the derived detector normalises it inside its graph),
    each entry's region in frame pixels and its input-to-frame scale.
    """
    h, w = image.shape[:2]
    shrink = max(2.0, max(w, h) / config.tiled_long_side)
    sw, sh = int(round(w / shrink)), int(round(h / shrink))
    tiled = config.tiling and (sw >= INPUT_W * 1.25 or sh >= INPUT_H * 1.25)
    # the whole-frame pass starts from the shrunk frame when there is one: same result, cheaper
    small = image
    if tiled:
        small = cast(Image, cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA))
    whole, whole_scale = letterbox_u8(small)
    fx, fy = w / small.shape[1], h / small.shape[0]
    images = [whole]
    tiles = [Tile(0, 0, w, h, (False, False, False, False))]
    scales = [whole_scale * fx]
    if tiled:
        for t in plan_tiles(sw, sh, config.overlap):
            part = small[t.y : t.y + t.h, t.x : t.x + t.w]
            if part.shape[:2] != (INPUT_H, INPUT_W):
                padded = np.full((INPUT_H, INPUT_W, 3), 127, dtype=np.uint8)
                padded[: t.h, : t.w] = part
                part = padded
            images.append(part)
            x1, y1 = int(round(t.x * fx)), int(round(t.y * fy))
            x2, y2 = int(round((t.x + t.w) * fx)), int(round((t.y + t.h) * fy))
            tiles.append(Tile(x1, y1, x2 - x1, y2 - y1, t.inner))
            scales.append(fx)
    return np.stack(images), tiles, scales


def letterbox_u8(region: Image) -> tuple[Image, float]:
    """Resize keeping the aspect ratio into 320x240, pad with grey (127, which normalises to
    0); returns the uint8 canvas and the scale from input pixels to region pixels."""
    h, w = region.shape[:2]
    scale = min(INPUT_W / w, INPUT_H / h)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas = np.full((INPUT_H, INPUT_W, 3), 127, dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(region, (nw, nh), interpolation=interp)
    return canvas, 1.0 / scale


def nms(boxes: Boxes, scores: npt.NDArray[np.float32], iou: float) -> list[int]:
    """Greedy non-maximum suppression; indices of the boxes kept, best first."""
    order = np.argsort(-scores)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        union = areas[i] + areas[rest] - inter
        overlap = inter / np.maximum(union, 1e-9)
        # also drop a box mostly inside a kept one (a partial face from a tile edge)
        contained = inter / np.maximum(areas[rest], 1e-9)
        order = rest[(overlap <= iou) & (contained <= 0.8)]
    return keep


def square_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    """Square a box on its height around its centre, as the package's JavaScript does."""
    x1, y1, x2, y2 = box
    side = y2 - y1
    cx = (x1 + x2) / 2
    return (cx - side / 2, y1, cx + side / 2, y2)


def decode(
    scores: npt.NDArray[np.float32],
    boxes: npt.NDArray[np.float32],
    tiles: Sequence[Tile],
    scales: Sequence[float],
    config: DetectorConfig,
) -> list[Detection]:
    """Turn the detector's batched outputs into frame-space detections merged across tiles."""
    all_boxes: list[npt.NDArray[np.float32]] = []
    all_scores: list[npt.NDArray[np.float32]] = []
    margin = 2.0
    for tile, scale, s, b in zip(tiles, scales, scores, boxes, strict=True):
        mask = s[:, 1] > config.score_threshold
        if not mask.any():
            continue
        px = b[mask] * np.array([INPUT_W, INPUT_H, INPUT_W, INPUT_H], dtype=np.float32)
        px = px * scale + np.array([tile.x, tile.y, tile.x, tile.y], dtype=np.float32)
        keep = np.ones(len(px), dtype=bool)
        if tile.inner != (False, False, False, False) or tile.w < tiles[0].w:
            keep &= (px[:, 3] - px[:, 1]) <= config.tile_max_box * tile.h
        left, top, right, bottom = tile.inner
        if left:
            keep &= px[:, 0] > tile.x + margin
        if top:
            keep &= px[:, 1] > tile.y + margin
        if right:
            keep &= px[:, 2] < tile.x + tile.w - margin
        if bottom:
            keep &= px[:, 3] < tile.y + tile.h - margin
        all_boxes.append(px[keep])
        all_scores.append(s[mask, 1][keep])
    if not all_boxes:
        return []
    merged = np.concatenate(all_boxes)
    merged_scores = np.concatenate(all_scores)
    if merged.size == 0:
        return []
    kept = nms(merged, merged_scores, config.nms_iou)
    return [
        Detection(square_box(merged[i].tolist()), float(merged_scores[i]))
        for i in kept
        if merged[i, 3] - merged[i, 1] >= 4
    ]
