"""H.264 encoding of generated frames with PyAV's bundled libx264.

Frames go BGR -> I420 with OpenCV (faster than swscale from RGB); preset ultrafast (encoding
dominates generation time), no B-frames and a keyframe every two seconds, so an RTSP
client joining mid-clip starts decoding quickly.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["H264Writer"]


class H264Writer:
    """Write BGR frames to an MP4 file as H.264 (yuv420p). Use as a context manager."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: int,
        *,
        crf: int = 26,
        preset: str = "ultrafast",
    ) -> None:
        import av

        self.path = path
        self._container: Any = av.open(str(path), "w")
        stream: Any = self._container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {
            "preset": preset,
            "crf": str(crf),
            "g": str(2 * fps),
            "bf": "0",
            "tune": "zerolatency",
        }
        self._stream = stream
        self._frames = 0

    def write(self, bgr: npt.NDArray[np.uint8]) -> None:
        import av
        import cv2

        yuv = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), np.uint8)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self._frames
        self._frames += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
