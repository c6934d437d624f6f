"""The photo gallery scenes are cast from: `<Identity>/<n>.jpg|png` folders plus singletons.

A `FaceLocator` finds the face in a photo so the walker can be cut with head-and-shoulders
margin; the default guesses from the photo's shape, and `lfr demo` passes the real detector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lfr.errors import ConfigError

__all__ = ["FaceLocator", "Person", "centre_guess", "load_gallery", "read_photo"]

Image = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]  # x, y, w, h
#: Given a BGR photo, the (x, y, w, h) box of its main face, or None.
FaceLocator = Callable[[Image], Box | None]
_EXTS = {".jpg", ".jpeg", ".png"}
_MAX_SIDE = 1600


@dataclass(frozen=True)
class Person:
    identity: str
    photos: tuple[Path, ...]  # sorted, so a seed picks the same photo everywhere


def load_gallery(root: Path) -> list[Person]:
    """Every identity folder (and `_singletons/<Name>__src.jpg`) under `root`, sorted.

    :raises ConfigError: the folder is missing or holds no photos.
    """
    if not root.is_dir():
        raise ConfigError(
            f"gallery folder {root} does not exist; pass --gallery DIR or set LFR_SHARED"
        )
    people: dict[str, list[Path]] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(p for p in d.iterdir() if p.suffix.lower() in _EXTS)
        if d.name == "_singletons":
            for p in photos:
                people.setdefault(p.stem.split("__")[0], []).append(p)
        elif photos:
            people[d.name] = photos
    if not people:
        raise ConfigError(f"gallery folder {root} holds no <Identity>/*.jpg|png photos")
    return [Person(k, tuple(v)) for k, v in sorted(people.items())]


def read_photo(path: Path) -> Image:
    """The photo as BGR uint8, alpha dropped, longest side at most 1600 px.

    :raises ConfigError: the file cannot be decoded.
    """
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ConfigError(f"cannot read image {path}; is it a JPEG or PNG?")
    h, w = img.shape[:2]
    if max(h, w) > _MAX_SIDE:
        s = _MAX_SIDE / max(h, w)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img)


def centre_guess(img: Image) -> Box:
    """Where a portrait's face usually is: upper middle; a small square crop is all face."""
    h, w = img.shape[:2]
    if max(h, w) <= 256:  # tight face crops (150x150 TV stills, aligned crops)
        s = 0.62 * min(w, h)
        return (w - s) / 2, 0.42 * h - s / 2, s, s
    s = 0.36 * min(w, h)
    return (w - s) / 2, 0.40 * h - s / 2, s, s
