"""Reading photos as RGB uint8 arrays (PNG with alpha, greyscale and JPEG alike)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import cv2
import numpy as np

from lfr.vision.types import Image

__all__ = ["IMAGE_SUFFIXES", "read_image"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


def read_image(path: Path) -> Image | None:
    """The photo as RGB, or None when it cannot be read or decoded."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return cast(Image, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
