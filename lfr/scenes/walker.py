"""One person walking through a clip: a head-and-shoulders cut from a gallery photo on a
drawn body, moving along a path, growing as they approach, turning slightly, lit and blurred
by where they are. Each call renders one frame's worth into the frame in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lfr.scenes.gallery import Box

__all__ = ["Sprite", "WalkerMotion", "cut_sprite", "draw_walker"]

Image = npt.NDArray[np.uint8]
_SRC_FACE_PX = 160  # the cut is normalised so its face is this tall


@dataclass(frozen=True)
class Sprite:
    """A head-and-shoulders cut, its feathered alpha and where its face is inside it."""

    bgr: Image
    alpha: npt.NDArray[np.float32]  # HxW in 0..1
    face: Box  # x, y, w, h inside the cut, at source scale
    #: the cut halved, quartered, ... (area-averaged once), so each frame only needs a cheap
    #: bilinear resize from the level just above the wanted size
    levels: tuple[tuple[Image, npt.NDArray[np.float32]], ...] = ()

    def level_for(self, scale: float) -> tuple[Image, npt.NDArray[np.float32], float]:
        """The smallest level still at least `scale` times the cut, and its own scale."""
        img, alpha, level_scale = self.bgr, self.alpha, 1.0
        for lim, la in self.levels:
            if level_scale / 2 < scale:
                break
            img, alpha, level_scale = lim, la, level_scale / 2
        return img, alpha, level_scale


def cut_sprite(photo: Image, face: Box) -> Sprite:
    """Cut head and shoulders around `face`, normalise the face height, feather the edge."""
    import cv2

    fx, fy, fw, fh = face
    s = _SRC_FACE_PX / max(fh, 1.0)
    # margins in face units: 0.55 either side, 0.45 above, 0.9 below (neck and shoulders)
    x0, y0 = fx - 0.55 * fw, fy - 0.45 * fh
    x1, y1 = fx + 1.55 * fw, fy + 1.9 * fh
    # affine crop+scale in one warp; outside the photo is filled from its border
    m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float32)
    out_w, out_h = round((x1 - x0) * s), round((y1 - y0) * s)
    bgr = cv2.warpAffine(
        photo, m, (out_w, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )
    # alpha: an ellipse for the head over a wider band for the shoulders, feathered
    mask = np.zeros((out_h, out_w), np.uint8)
    cx, cy = out_w / 2, (fy - y0 + fh / 2) * s
    cv2.ellipse(
        mask,
        (round(cx), round(cy)),
        (round(0.62 * fw * s), round(0.78 * fh * s)),
        0,
        0,
        360,
        255,
        -1,
    )
    sh_top = round(cy + 0.55 * fh * s)
    cv2.ellipse(
        mask, (round(cx), out_h), (round(out_w * 0.5), out_h - sh_top), 0, 180, 360, 255, -1
    )
    # only pixels the photo really has: a tight crop must not smear its border into shoulders
    inside = cv2.warpAffine(
        np.full(photo.shape[:2], 255, np.uint8), m, (out_w, out_h), flags=cv2.INTER_NEAREST
    )
    mask = np.minimum(mask, np.asarray(inside, np.uint8))
    k = max(3, (round(0.08 * fw * s) // 2) * 2 + 1)
    alpha = cv2.GaussianBlur(mask, (k, k), 0).astype(np.float32) / 255.0
    levels: list[tuple[Image, npt.NDArray[np.float32]]] = []
    img: Image = np.ascontiguousarray(bgr, dtype=np.uint8)
    a: npt.NDArray[np.float32] = alpha
    while min(img.shape[:2]) >= 32:
        img = np.asarray(
            cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA),
            np.uint8,
        )
        a = np.asarray(
            cv2.resize(a, (a.shape[1] // 2, a.shape[0] // 2), interpolation=cv2.INTER_AREA),
            np.float32,
        )
        levels.append((img, a))
    return Sprite(
        np.ascontiguousarray(bgr),
        alpha,
        ((fx - x0) * s, (fy - y0) * s, fw * s, fh * s),
        tuple(levels),
    )


@dataclass(frozen=True)
class WalkerMotion:
    """Where and how the walker is at one instant."""

    cx: float  # face centre x in frame px
    cy: float  # face centre y
    face_px: float  # face height in frame px
    yaw: float  # -1..1, a slight turn of the head
    gain: float  # lighting multiplier
    blur: int  # horizontal motion blur kernel (1 = none)
    phase: float  # walk cycle, radians
    coat: tuple[int, int, int]


def _blend(frame: Image, img: Image, alpha: npt.NDArray[np.float32], x: int, y: int) -> None:
    h, w = img.shape[:2]
    fh, fw = frame.shape[:2]
    ax0, ay0 = max(0, -x), max(0, -y)
    ax1, ay1 = min(w, fw - x), min(h, fh - y)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    roi = frame[y + ay0 : y + ay1, x + ax0 : x + ax1]
    a = alpha[ay0:ay1, ax0:ax1, None]
    src = img[ay0:ay1, ax0:ax1].astype(np.float32)
    roi[:] = (src * a + roi.astype(np.float32) * (1.0 - a)).astype(np.uint8)


def draw_walker(frame: Image, sprite: Sprite, m: WalkerMotion) -> tuple[int, int, int, int]:
    """Render the walker into `frame`; return the face box (x, y, w, h) in frame pixels."""
    import cv2

    s = m.face_px / sprite.face[3]
    fw = sprite.face[2] * s
    # body first: torso and legs under the cut, in frame units of the face height
    u = m.face_px
    shoulders_y = m.cy + 0.95 * u
    torso = np.array(
        [
            [m.cx - 1.15 * u, shoulders_y],
            [m.cx + 1.15 * u, shoulders_y],
            [m.cx + 0.95 * u, shoulders_y + 3.0 * u],
            [m.cx - 0.95 * u, shoulders_y + 3.0 * u],
        ],
        np.int32,
    )
    shade = tuple(int(min(255, c * m.gain)) for c in m.coat)
    cv2.fillConvexPoly(frame, torso, shade, cv2.LINE_AA)
    hip_y = shoulders_y + 2.9 * u
    swing = 0.55 * u * math.sin(m.phase)
    thick = max(2, round(0.42 * u))
    trousers = (40, 38, 45)
    for sign in (-1, 1):
        hip = (round(m.cx + sign * 0.45 * u), round(hip_y))
        foot = (round(m.cx + sign * 0.45 * u + sign * swing), round(hip_y + 3.3 * u))
        cv2.line(frame, hip, foot, trousers, thick, cv2.LINE_AA)
    # the head-and-shoulders cut, scaled, turned, lit and blurred
    h0, w0 = sprite.bgr.shape[:2]
    w1, h1 = max(2, round(w0 * s)), max(2, round(h0 * s))
    src, src_alpha, _ = sprite.level_for(s)
    img = cv2.resize(src, (w1, h1), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.resize(src_alpha, (w1, h1), interpolation=cv2.INTER_LINEAR)
    if abs(m.yaw) > 0.02:  # a turn: one side recedes (narrower, shorter)
        d = 0.18 * abs(m.yaw)
        src = np.array([[0, 0], [w1, 0], [w1, h1], [0, h1]], np.float32)
        near, far = (0.0, d) if m.yaw > 0 else (d, 0.0)
        dst = np.array(
            [
                [w1 * near * 0.5, h1 * near * 0.25],
                [w1 * (1 - far * 0.5), h1 * far * 0.25],
                [w1 * (1 - far * 0.5), h1 * (1 - far * 0.25)],
                [w1 * near * 0.5, h1 * (1 - near * 0.25)],
            ],
            np.float32,
        )
        p = cv2.getPerspectiveTransform(src, dst)
        img = cv2.warpPerspective(
            img, p, (w1, h1), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        alpha = cv2.warpPerspective(alpha, p, (w1, h1), flags=cv2.INTER_LINEAR)
    if abs(m.gain - 1.0) > 0.01:
        img = cv2.convertScaleAbs(img, alpha=m.gain)
    if m.blur > 1:
        img = cv2.blur(img, (m.blur, 1))
    fx_in, fy_in = sprite.face[0] * s, sprite.face[1] * s
    x = round(m.cx - fx_in - fw / 2)
    y = round(m.cy - fy_in - m.face_px / 2)
    _blend(frame, np.asarray(img, np.uint8), np.asarray(alpha, np.float32), x, y)
    return round(x + fx_in), round(y + fy_in), round(fw), round(m.face_px)
