"""RTSP cameras as a `FrameSource`: PyAV over TCP, with time-outs, reconnection and backoff.

A hung camera must never block anything else: opening and every read are bounded by
FFmpeg time-outs (the worker thread returns), and all blocking work runs off the event loop.
When the stream drops, `recv()` raises `StreamInterrupted` with the reason and the retry
delay (the camera turns that into `CameraStreamLost`); the next `recv()` waits out the
backoff and reconnects. Driven by a `CameraLoop` (the camera actor's, `lfr watch`), one source
lives as long as the loop: the loop waits out the longer of this delay and its own backoff
before calling `recv()` again, and records the whole outage as one loss and one recovery.
"""

from __future__ import annotations

import time

import anyio

from lfr.video._pyav import PyAVReader, ReaderOptions, redact_url
from lfr.video.backoff import Backoff
from lfr.video.errors import EndOfStream, SourceOpenError, StreamInterrupted
from lfr.vision.types import Frame, SourceInfo

__all__ = ["Backoff", "RtspSource"]


class RtspSource:
    """Frames of one RTSP camera; reconnects for ever until closed."""

    def __init__(
        self,
        url: str,
        *,
        max_fps: float | None = None,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        backoff: Backoff | None = None,
        threads: int = 1,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        if not url.startswith(("rtsp://", "rtsps://")):
            raise ValueError(f"not an RTSP URL: {redact_url(url)!r}")
        self._url = url
        self.max_fps = max_fps
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.backoff = backoff or Backoff()
        self.threads = threads
        self.info = SourceInfo(url=redact_url(url))
        self.connects = 0
        self._limiter = limiter
        self._reader: PyAVReader | None = None
        self._retry_at_ns: int | None = None
        self._decoded_before = 0
        self._index = 0
        self._closed = False

    @property
    def frames_decoded(self) -> int:
        now = self._reader.frames_decoded if self._reader else 0
        return self._decoded_before + now

    async def recv(self) -> Frame:
        """The next frame.

        :raises StreamInterrupted: the stream could not be opened or was lost; call again.
        :raises EndOfStream: the source was closed.
        """
        if self._closed:
            raise EndOfStream(f"{self.info.url} is closed")
        reader = self._reader or await self._connect()
        try:
            frame = await anyio.to_thread.run_sync(reader.read, limiter=self._limiter)
        except (EndOfStream, TimeoutError, SourceOpenError) as exc:
            await self._drop_reader()
            raise self._interrupted(_why(exc)) from exc
        self.backoff.reset()
        self._index += 1
        frame.index = self._index
        return frame

    async def _connect(self) -> PyAVReader:
        if self._retry_at_ns is not None:
            wait = (self._retry_at_ns - time.monotonic_ns()) / 1e9
            if wait > 0:
                await anyio.sleep(wait)
        options = ReaderOptions(
            max_fps=self.max_fps,
            threads=self.threads,
            open_timeout_s=self.open_timeout_s,
            read_timeout_s=self.read_timeout_s,
            rtsp=True,
        )
        try:
            reader = await anyio.to_thread.run_sync(
                PyAVReader, self._url, options, limiter=self._limiter
            )
        except SourceOpenError as exc:
            raise self._interrupted(exc.reason) from exc
        self._reader = reader
        self.info = reader.info
        self.connects += 1
        return reader

    def _interrupted(self, reason: str) -> StreamInterrupted:
        delay = self.backoff.step()
        self._retry_at_ns = time.monotonic_ns() + int(delay * 1e9)
        return StreamInterrupted(self.info.url, reason, retry_in_s=delay)

    async def _drop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            self._decoded_before += reader.frames_decoded
            await anyio.to_thread.run_sync(reader.close, limiter=self._limiter)

    async def aclose(self) -> None:
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._drop_reader()

    async def __aenter__(self) -> RtspSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _why(exc: BaseException) -> str:
    if isinstance(exc, EndOfStream):
        return "the camera ended the stream"
    if isinstance(exc, SourceOpenError):
        return exc.reason
    return str(exc)
