"""A frame source driven by a script or by the test: each frame knows who is in it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

import anyio
import numpy as np

from lfr.clock import Clock, SystemClock
from lfr.video.errors import EndOfStream, StreamInterrupted
from lfr.vision.types import Frame, SourceInfo

__all__ = ["ScriptedFrameSource"]


class ScriptedFrameSource:
    """Frames on demand: `push("alice", "bob")` queues a frame showing both.

    With `script` (an iterable of who-is-in-frame tuples) the frames are queued up front;
    `interval_s` paces `recv()` on the given clock (0: as fast as asked). `end()` makes
    `recv()` raise `EndOfStream` once the queue is empty; with `loop=True` a script repeats.
    `interrupt()` queues a dropped connection. `first_index` numbers the frames (tests give
    each camera its own range).
    """

    def __init__(
        self,
        url: str = "scripted://camera",
        *,
        script: Iterable[tuple[str, ...]] = (),
        clock: Clock | None = None,
        interval_s: float = 0.0,
        fps: float = 10.0,
        size: tuple[int, int] = (48, 64),
        loop: bool = False,
        first_index: int = 0,
    ) -> None:
        self.info = SourceInfo(url=url, codec="scripted", width=size[1], height=size[0], fps=fps)
        self._script = [tuple(s) for s in script]
        self._queue: deque[tuple[str, ...] | StreamInterrupted] = deque(self._script)
        self._clock = clock or SystemClock()
        self._interval_s = interval_s
        self._fps = fps
        self._size = size
        self._loop = loop
        self._ended = False
        self._closed = False
        self._changed: anyio.Event | None = None
        self._consumed: anyio.Event | None = None
        self.first_index = first_index
        self.index = first_index

    def push(self, *truth: str) -> None:
        """Queue one frame showing `truth` (names; prefix `lowq:` for a face below quality)."""
        self._queue.append(tuple(truth))
        self._wake()

    def interrupt(self, reason: str = "connection reset", retry_in_s: float | None = None) -> None:
        """Queue a lost connection: `recv()` raises `StreamInterrupted` when it gets there
        (as a live camera's does); frames queued after it follow once reopened."""
        self._queue.append(StreamInterrupted(self.info.url, reason, retry_in_s))
        self._wake()

    def end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def wait_consumed(self) -> None:
        """Wait until every queued frame was taken by `recv()`."""
        while self._queue:
            if self._consumed is None:
                self._consumed = anyio.Event()
            await self._consumed.wait()

    async def recv(self) -> Frame:
        """:raises EndOfStream: after `end()` (or a finished script) and an empty queue.
        :raises StreamInterrupted: an `interrupt()` was reached.
        """
        while not self._queue:
            if self._closed:
                raise EndOfStream(f"{self.info.url} is closed")
            if self._loop and self._script:
                self._queue.extend(self._script)
                break
            if self._ended or (self._script and not self._loop):
                raise EndOfStream(f"{self.info.url} ended")
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()
        if self._interval_s > 0:
            await self._clock.sleep(self._interval_s)
        truth = self._queue.popleft()
        if not self._queue and self._consumed is not None:
            self._consumed.set()
            self._consumed = None
        if isinstance(truth, StreamInterrupted):
            raise truth
        h, w = self._size
        frame = Frame(
            image=np.zeros((h, w, 3), dtype=np.uint8),
            index=self.index,
            pts_s=(self.index - self.first_index) / self._fps,
            captured_at=self._clock.now(),
            decoded_ns=time.monotonic_ns(),
            truth=truth,
        )
        self.index += 1
        return frame

    async def aclose(self) -> None:
        self._closed = True
        self._wake()

    def reopen(self) -> ScriptedFrameSource:
        """Open again after `aclose` (a restarted camera reconnecting); the queue is kept."""
        self._closed = False
        return self
