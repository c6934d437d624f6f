"""Render a street clip from walker specs: background, walkers, lighting, blur, noise, H.264.

Deterministic for a given spec and seed; the manifest returned is the clip's ground truth.
Compositing is done on small per-walker regions with OpenCV, so a 60 s 720p clip renders in
seconds, not minutes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from lfr.scenes.background import street_background
from lfr.scenes.encode import H264Writer
from lfr.scenes.gallery import FaceLocator, Person, centre_guess, read_photo
from lfr.scenes.manifest import Appearance, ClipManifest
from lfr.scenes.walker import Sprite, WalkerMotion, cut_sprite, draw_walker

__all__ = ["ClipSpec", "WalkerSpec", "crowd", "render_clip"]

Progress = Callable[[int, int], None]
_MIN_FACE_TRUTH_PX = 12


@dataclass(frozen=True)
class WalkerSpec:
    """One walk: who, from which photo, when, along which path, how big the face gets."""

    walker_id: str
    identity: str
    photo: Path
    start_s: float
    duration_s: float
    path: Literal["approach", "cross"] = "approach"
    x_from: float = 0.5  # fractions of the frame width
    x_to: float = 0.5
    face_from_px: float = 40.0
    face_to_px: float = 150.0
    yaw_amp: float = 0.5
    gain: float = 1.0
    watchlisted: bool = False
    coat: tuple[int, int, int] = (60, 60, 120)
    #: the face in `read_photo(photo)` pixels, when already located (e.g. in another process)
    face_box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class ClipSpec:
    name: str
    seconds: float
    walkers: tuple[WalkerSpec, ...]
    seed: int = 0
    width: int = 1280
    height: int = 720
    fps: int = 25
    shadow: tuple[float, float] = field(default=(0.62, 0.8))  # an awning's shade, x fractions


def crowd(
    rng: np.random.Generator,
    people: list[Person],
    *,
    seconds: float,
    per_minute: float,
    prefix: str,
    start_s: float = 0.0,
) -> list[WalkerSpec]:
    """Passers-by not on the watchlist: random people, paths, sizes and times."""
    walkers = []
    n = max(1, round(per_minute * (seconds - start_s) / 60.0))
    starts = np.sort(rng.uniform(start_s, max(start_s + 0.1, seconds - 3.0), n))
    for i, t0 in enumerate(starts):
        person = people[int(rng.integers(len(people)))]
        photo = person.photos[int(rng.integers(len(person.photos)))]
        kind: Literal["approach", "cross"] = "approach" if rng.random() < 0.6 else "cross"
        if kind == "approach":
            x0 = float(rng.uniform(0.25, 0.75))
            x1 = float(np.clip(x0 + rng.uniform(-0.3, 0.3), 0.1, 0.9))
            f0, f1 = float(rng.uniform(30, 45)), float(rng.uniform(100, 170))
            dur = float(rng.uniform(5.0, 8.0))
        else:
            left = rng.random() < 0.5
            x0, x1 = (-0.08, 1.08) if left else (1.08, -0.08)
            f0 = float(rng.uniform(35, 80))
            f1 = f0 * float(rng.uniform(1.0, 1.25))
            dur = float(rng.uniform(5.0, 9.0))
        walkers.append(
            WalkerSpec(
                walker_id=f"{prefix}-{i:03d}",
                identity=person.identity,
                photo=photo,
                start_s=float(t0),
                duration_s=dur,
                path=kind,
                x_from=x0,
                x_to=x1,
                face_from_px=f0,
                face_to_px=f1,
                yaw_amp=float(rng.uniform(0.1, 0.8)),
                gain=float(rng.uniform(0.85, 1.15)),
                coat=tuple(int(c) for c in rng.integers(20, 200, 3)),  # type: ignore[arg-type]
            )
        )
    return walkers


def _motion(w: WalkerSpec, t: float, spec: ClipSpec, light: float) -> WalkerMotion | None:
    u = (t - w.start_s) / w.duration_s
    if not 0.0 <= u <= 1.0:
        return None
    width, height = spec.width, spec.height
    if w.path == "approach":
        # size grows as 1/distance; the last stretch walks out under the camera
        walk = min(u / 0.85, 1.0)
        face = 1.0 / (1.0 / w.face_from_px + (1.0 / w.face_to_px - 1.0 / w.face_from_px) * walk)
        cy = height * (0.36 + 0.2 * walk) + (max(0.0, u - 0.85) / 0.15) * height * 0.9
    else:
        face = w.face_from_px + (w.face_to_px - w.face_from_px) * u
        cy = height * (0.36 + 0.2 * (face - 35.0) / 115.0)
    cx = width * (w.x_from + (w.x_to - w.x_from) * u)
    speed = abs(w.x_to - w.x_from) * width / (w.duration_s * spec.fps)
    shade = 0.7 if spec.shadow[0] * width <= cx <= spec.shadow[1] * width else 1.0
    seed = hash(w.walker_id) % 1000 / 1000.0 * math.tau
    return WalkerMotion(
        cx=cx,
        cy=cy,
        face_px=face,
        yaw=w.yaw_amp * math.sin(t * 1.3 + seed),
        gain=w.gain * light * shade,
        blur=1 + int(speed * 0.4) + (2 if w.path == "cross" and face < 50 else 0),
        phase=t * 7.0 + seed,
        coat=w.coat,
    )


def render_clip(
    spec: ClipSpec,
    out_dir: Path,
    *,
    gallery_root: Path,
    locate: FaceLocator = centre_guess,
    progress: Progress | None = None,
) -> ClipManifest:
    """Render and encode `spec` to `out_dir/<name>.mp4`; return its ground-truth manifest."""
    import cv2

    rng = np.random.default_rng(spec.seed)
    bg = street_background(spec.width, spec.height, rng)
    noise = [rng.integers(0, 7, bg.shape, dtype=np.uint8) for _ in range(6)]
    sprites: dict[Path, Sprite] = {}
    for w in spec.walkers:
        if w.photo not in sprites:
            photo = read_photo(w.photo)
            box = w.face_box or locate(photo) or centre_guess(photo)
            sprites[w.photo] = cut_sprite(photo, box)
    frames = round(spec.seconds * spec.fps)
    boxes: dict[str, list[tuple[int, int, int, int, int]]] = {w.walker_id: [] for w in spec.walkers}
    peak: dict[str, int] = {w.walker_id: 0 for w in spec.walkers}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{spec.name}.mp4"
    focus_hunt = set(int(x) for x in rng.integers(0, max(1, frames - 10), 2))
    frame = np.empty_like(bg)
    with H264Writer(path, spec.width, spec.height, spec.fps) as writer:
        for i in range(frames):
            t = i / spec.fps
            light = 1.0 + 0.12 * math.sin(t * math.tau / 17.0) - 0.1 * (math.sin(t / 3.1) > 0.9)
            cv2.convertScaleAbs(bg, frame, alpha=light)
            live = [(w, m) for w in spec.walkers if (m := _motion(w, t, spec, light))]
            for w, m in sorted(live, key=lambda wm: wm[1].face_px):
                x, y, bw, bh = draw_walker(frame, sprites[w.photo], m)
                inside = x >= 0 and y >= 0 and x + bw <= spec.width and y + bh <= spec.height
                if inside and bh >= _MIN_FACE_TRUTH_PX:
                    boxes[w.walker_id].append((i, x, y, bw, bh))
                    peak[w.walker_id] = max(peak[w.walker_id], bh)
            if any(0 <= i - f < 6 for f in focus_hunt):  # the camera hunts focus briefly
                cv2.GaussianBlur(frame, (7, 7), 0, dst=frame)
            cv2.add(frame, noise[i % 6], dst=frame)
            cv2.subtract(frame, noise[(i + 3) % 6], dst=frame)
            writer.write(frame)
            if progress and i % 25 == 0:
                progress(i, frames)
    if progress:
        progress(frames, frames)
    appearances = [
        Appearance(
            walker_id=w.walker_id,
            identity=w.identity,
            photo=str(w.photo.relative_to(gallery_root))
            if w.photo.is_relative_to(gallery_root)
            else str(w.photo),
            watchlisted=w.watchlisted,
            path=w.path,
            first_frame=boxes[w.walker_id][0][0],
            last_frame=boxes[w.walker_id][-1][0],
            max_face_px=peak[w.walker_id],
            boxes=boxes[w.walker_id],
        )
        for w in spec.walkers
        if boxes[w.walker_id]
    ]
    return ClipManifest(
        name=spec.name,
        file=path.name,
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        frames=frames,
        seed=spec.seed,
        appearances=appearances,
    )
