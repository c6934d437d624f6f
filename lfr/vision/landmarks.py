"""68-point landmarks: crop preprocessing and the reduction to the five ArcFace points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from lfr.vision.types import Image

__all__ = ["crop_square", "five_points", "landmark_input"]

SIZE = 64


def crop_square(image: Image, box: Sequence[float], size: int) -> Image:
    """The box region resized to size x size; parts outside the image are black."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, 1.0)
    scale = size / side
    matrix = np.array([[scale, 0, -x1 * scale], [0, scale, -y1 * scale]], dtype=np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.warpAffine(image, matrix, (size, size), flags=interp, borderValue=(0, 0, 0))
    return cast(Image, out)


def landmark_input(image: Image, box: Sequence[float]) -> npt.NDArray[np.float32]:
    """1 x 64 x 64 grey crop scaled by 1/256, as the package's JavaScript feeds the model."""
    crop = crop_square(image, box, SIZE)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32) / 256.0
    return grey[None]


def five_points(points68: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Left eye, right eye, nose tip, left and right mouth corners from the 68 (x, y) points."""
    p = points68
    return np.stack(
        [
            p[[37, 38, 40, 41]].mean(axis=0),
            p[[43, 44, 46, 47]].mean(axis=0),
            p[30],
            (p[48] + p[60]) / 2,
            (p[54] + p[64]) / 2,
        ]
    ).astype(np.float32)
