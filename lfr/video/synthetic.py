"""Generated test clips: face photos composited onto a moving background, encoded by PyAV.

Used by the camera benchmark (1080p 25 fps H.264 streams served over RTSP) and by tests that
need a clip of a given size or a deliberately damaged file. Only shared, consented test
photos go in; the clip is written where the caller says (a temporary directory).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["write_clip"]


def _load_face(path: Path, size: int) -> npt.NDArray[np.uint8]:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read face photo {path}")
    h, w = bgr.shape[:2]
    scale = size / max(h, w)
    bgr = cv2.resize(bgr, (max(1, int(w * scale)), max(1, int(h * scale))))
    return np.ascontiguousarray(bgr[:, :, ::-1])


def write_clip(
    path: Path,
    faces: Sequence[Path],
    *,
    width: int = 1920,
    height: int = 1080,
    fps: int = 25,
    seconds: float = 8.0,
    face_px: int = 260,
    gop: int = 50,
    preset: str = "veryfast",
    pan_px: int = 0,
) -> Path:
    """Write an H.264 clip with each photo in `faces` drifting across the frame.

    The encoder is set up as a typical IP camera's (no B-frames, a key frame every `gop`).
    The background is still, as a fixed camera's, unless `pan_px` scrolls it every frame.
    """
    import av

    photos = [_load_face(p, face_px) for p in faces]
    rng = np.random.default_rng(7)
    # A textured background so the encoder has realistic work to do.
    base = rng.integers(60, 180, size=(height // 8, width // 8, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))[:height, :width]
    n = int(seconds * fps)
    slots = max(1, len(photos))
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = 0
        stream.codec_context.options = {"preset": preset, "tune": "zerolatency", "crf": "26"}
        for i in range(n):
            img = np.roll(base, shift=i * pan_px, axis=1) if pan_px else base.copy()
            # Sensor noise, so a still background is not perfectly still.
            img = np.clip(
                img.astype(np.int16) + rng.integers(-3, 4, size=(1, width, 1), dtype=np.int16),
                0,
                255,
            ).astype(np.uint8)
            for k, photo in enumerate(photos):
                ph, pw = photo.shape[:2]
                lane_w = width // slots
                x = int(k * lane_w + (lane_w - pw) * (0.5 + 0.4 * np.sin(i / fps + k)))
                y = int((height - ph) * (0.35 + 0.1 * np.cos(i / (2 * fps) + k)))
                x = min(max(0, x), width - pw)
                y = min(max(0, y), height - ph)
                img[y : y + ph, x : x + pw] = photo
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
