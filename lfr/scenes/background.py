"""A procedural high street seen from a lamppost: sky, shop fronts, pavement, road.

Drawn once per clip from the seed (nothing filmed, nobody real in it), then reused for every
frame with lighting and sensor noise applied on top.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["street_background"]

Image = npt.NDArray[np.uint8]

_SHOPS = (
    "BAKERY",
    "PHARMACY",
    "BOOKS",
    "CAFE",
    "NEWS",
    "FLORIST",
    "BANK",
    "OPTICIAN",
    "HARDWARE",
    "DELI",
    "SHOES",
    "TAILOR",
    "BARBER",
    "POST OFFICE",
    "CHARITY SHOP",
)


def street_background(width: int, height: int, rng: np.random.Generator) -> Image:
    """A BGR street scene `height` x `width`, different for each seed."""
    import cv2

    img = np.empty((height, width, 3), np.uint8)
    horizon = int(0.42 * height)
    # sky: a vertical gradient
    top = np.array(rng.integers([150, 120, 90], [230, 200, 170]), np.float32)
    bottom = np.array([225, 220, 210], np.float32)
    t = np.linspace(0, 1, horizon, dtype=np.float32)[:, None]
    img[:horizon] = (top * (1 - t) + bottom * t).astype(np.uint8)[:, None, :]
    # shop fronts along the horizon band
    x = 0
    while x < width:
        w = int(rng.integers(width // 9, width // 4))
        base = rng.integers(60, 200, 3)
        y0 = int(rng.integers(int(0.05 * height), int(0.2 * height)))
        cv2.rectangle(img, (x, y0), (x + w, horizon), tuple(int(c) for c in base), -1)
        # upper windows
        for wy in range(y0 + 12, horizon - int(0.12 * height), 34):
            for wx in range(x + 10, x + w - 24, 36):
                shade = tuple(int(c) for c in rng.integers(40, 110, 3))
                cv2.rectangle(img, (wx, wy), (wx + 20, wy + 22), shade, -1)
        # fascia with the shop's name, and a glazed front
        fy = horizon - int(0.11 * height)
        fascia = tuple(int(c) for c in rng.integers(20, 240, 3))
        cv2.rectangle(img, (x + 4, fy), (x + w - 4, fy + 22), fascia, -1)
        name = _SHOPS[int(rng.integers(len(_SHOPS)))]
        ink = (255, 255, 255) if sum(fascia) < 380 else (20, 20, 20)
        cv2.putText(
            img, name, (x + 10, fy + 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, ink, 1, cv2.LINE_AA
        )
        cv2.rectangle(img, (x + 8, fy + 28), (x + w - 8, horizon - 2), (70, 60, 50), -1)
        cv2.rectangle(img, (x + 8, fy + 28), (x + w - 8, horizon - 2), (30, 30, 30), 2)
        x += w
    # pavement and road in perspective towards a vanishing point
    img[horizon:] = (150, 150, 148)
    vp = (width // 2 + int(rng.integers(-width // 8, width // 8)), horizon - 40)
    road = np.array(
        [
            [vp[0] - 20, horizon],
            [vp[0] + 20, horizon],
            [width + width // 3, height],
            [width // 2 + width // 10, height],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [road], (90, 92, 95))
    for k in range(-12, 13):  # paving joints radiating from the vanishing point
        cv2.line(img, vp, (width // 2 + k * width // 6, height), (128, 128, 126), 1, cv2.LINE_AA)
    for y in np.geomspace(8, height - horizon, 14).astype(int):
        cv2.line(img, (0, horizon + int(y)), (width, horizon + int(y)), (132, 132, 130), 1)
    # lampposts and bins as clutter
    for _ in range(3):
        lx = int(rng.integers(0, width))
        cv2.rectangle(img, (lx, int(0.1 * height)), (lx + 8, int(0.75 * height)), (40, 45, 40), -1)
    # texture: fixed grain so flat areas are not trivially compressible
    grain = rng.integers(-9, 10, (height, width, 1), dtype=np.int16)
    out: Image = np.clip(img.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    return out
