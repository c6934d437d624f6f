"""Alignment: a similarity transform from five landmarks to the ArcFace 112x112 template."""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from lfr.vision.types import Image

__all__ = ["TEMPLATE", "align", "similarity_transform"]

TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
SIZE = 112


def similarity_transform(
    src: npt.NDArray[np.floating], dst: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """Least-squares rotation + uniform scale + translation mapping src to dst (Umeyama)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    cov = d_c.T @ s_c / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var_s = (s_c**2).sum() / len(src)
    scale = float((sig * d).sum() / max(var_s, 1e-12))
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def align(image: Image, points5: npt.NDArray[np.floating]) -> Image:
    """The face warped onto the 112x112 ArcFace template, RGB uint8."""
    matrix = similarity_transform(points5, TEMPLATE)
    out = cv2.warpAffine(image, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderValue=0)
    return cast(Image, out)
