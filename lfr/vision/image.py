"""Reading photos as RGB uint8 arrays (PNG with alpha, greyscale and JPEG alike).

A photo's dimensions are read from its header before anything is decoded, so a small file
that claims a huge canvas (a decompression bomb) is refused without costing gigabytes.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import PIL.Image

from lfr.vision.types import Image

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "ImageTooLargeError", "read_image"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
#: the most pixels a photo may have (50 Mpx: a 8660 x 5773 camera original)
MAX_PIXELS = 50_000_000


class ImageTooLargeError(ValueError):
    """The photo's header claims more pixels than `MAX_PIXELS`; nothing was decoded."""

    def __init__(self, width: int, height: int, limit: int) -> None:
        self.width, self.height = width, height
        super().__init__(
            f"{width} x {height} pixels is more than the {limit / 1e6:g} Mpx a photo may "
            "have; scale it down"
        )


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the header alone (Pillow opens lazily), None if unknown."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(path) as im:
                return im.size
    except PIL.Image.DecompressionBombError:
        return (1 << 30, 1)  # beyond Pillow's own bomb limit: certainly too large
    except (OSError, ValueError, SyntaxError):
        return None  # not an image Pillow knows; OpenCV decides below


def read_image(path: Path, *, max_pixels: int = MAX_PIXELS) -> Image | None:
    """The photo as RGB, or None when it cannot be read or decoded.

    :raises ImageTooLargeError: its header claims more than `max_pixels`.
    """
    size = _header_size(path)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLargeError(size[0], size[1], max_pixels)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return cast(Image, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
