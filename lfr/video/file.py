"""Video files (MP4, MKV, ...) as a `FrameSource`, decoded by PyAV in a worker thread.

`realtime=True` releases each frame at its presentation time, so a file behaves like a
camera (frames arrive at 25 fps whether or not anyone keeps up); `loop=True` starts again at
the end. A frame's `decoded_ns` is the moment it is released, as for a live camera.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import anyio

from lfr.video._pyav import PyAVReader, ReaderOptions
from lfr.video.errors import EndOfStream
from lfr.vision.types import Frame, SourceInfo

__all__ = ["FileSource"]


class FileSource:
    """Frames of one video file.

    :raises SourceOpenError: from `recv()`, if the file is missing, corrupt or has no video.
    :raises EndOfStream: from `recv()`, at the end (never, with `loop=True`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        loop: bool = False,
        realtime: bool = False,
        max_fps: float | None = None,
        threads: int = 0,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.path = str(path)
        self.loop = loop
        self.realtime = realtime
        self.max_fps = max_fps
        self.threads = threads
        self.info = SourceInfo(url=self.path)
        self._limiter = limiter
        self._reader: PyAVReader | None = None
        self._offset_s = 0.0  # pts offset of the current pass (looping)
        self._last_pts = 0.0
        self._clock0: tuple[int, float] | None = None  # (monotonic ns, pts) at the first frame
        self._decoded_before = 0
        self._index = 0
        self._closed = False

    @property
    def frames_decoded(self) -> int:
        """Every frame FFmpeg decoded, kept or not."""
        now = self._reader.frames_decoded if self._reader else 0
        return self._decoded_before + now

    async def recv(self) -> Frame:
        if self._closed:
            raise EndOfStream(f"{self.path} is closed")
        while True:
            reader = await self._open()
            try:
                frame = await anyio.to_thread.run_sync(reader.read, limiter=self._limiter)
            except EndOfStream:
                if not self.loop or reader.frames_decoded == 0:
                    raise
                self._offset_s = self._last_pts + 1.0 / (self.info.fps or 25.0)
                await self._drop_reader()
                continue
            break
        frame.pts_s += self._offset_s
        self._last_pts = frame.pts_s
        self._index += 1
        frame.index = self._index
        if self.realtime:
            await self._pace(frame)
        return frame

    async def _pace(self, frame: Frame) -> None:
        if self._clock0 is None:
            self._clock0 = (time.monotonic_ns(), frame.pts_s)
        start_ns, pts0 = self._clock0
        due_ns = start_ns + int((frame.pts_s - pts0) * 1e9)
        wait = (due_ns - time.monotonic_ns()) / 1e9
        if wait > 0:
            await anyio.sleep(wait)
        frame.decoded_ns = time.monotonic_ns()
        frame.captured_at = datetime.now(UTC)

    async def _open(self) -> PyAVReader:
        if self._reader is None:
            options = ReaderOptions(max_fps=self.max_fps, threads=self.threads)
            self._reader = await anyio.to_thread.run_sync(
                PyAVReader, self.path, options, limiter=self._limiter
            )
            self.info = self._reader.info
        return self._reader

    async def _drop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            self._decoded_before += reader.frames_decoded
            await anyio.to_thread.run_sync(reader.close, limiter=self._limiter)

    async def aclose(self) -> None:
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._drop_reader()

    async def __aenter__(self) -> FileSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
