"""The latest-frame slot and the analysis-rate sampler: how a camera keeps latency bounded.

A camera produces frames faster than it can analyse them under load. Rather than queueing
(latency grows without bound), the slot holds one item: a new frame replaces the unread one
and the replacement is counted as a drop. The sampler thins a stream to the analysis rate by
presentation time, so a 25 fps camera analysed at 10 fps analyses every 2nd or 3rd frame.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import anyio

from lfr.video.errors import EndOfStream

__all__ = ["LatestSlot", "RateSampler"]

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """One-item mailbox where the newest item wins; `drops` counts items never read."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._event = anyio.Event()
        self._taken = anyio.Event()
        self.drops = 0
        self.puts = 0

    def put(self, item: T) -> T | None:
        """Store `item`; return the unread item it replaced (the caller may wipe it)."""
        if self._closed:
            raise anyio.ClosedResourceError
        replaced = self._item if self._has_item else None
        if self._has_item:
            self.drops += 1
        self._item = item
        self._has_item = True
        self.puts += 1
        self._event.set()
        return replaced

    async def get(self) -> T:
        """Wait for an item and take it.

        :raises EndOfStream: the slot was closed and is empty.
        """
        while not self._has_item:
            if self._closed:
                raise EndOfStream("the frame slot is closed")
            await self._event.wait()
            self._event = anyio.Event()
        item = self._item
        self._item = None
        self._has_item = False
        self._taken.set()
        self._taken = anyio.Event()
        assert item is not None
        return item

    async def wait_empty(self) -> None:
        """Wait until the unread item (if any) is taken: back-pressure for offline files."""
        while self._has_item and not self._closed:
            await self._taken.wait()

    @property
    def pending(self) -> bool:
        """An item is waiting to be read."""
        return self._has_item

    def discard(self) -> T | None:
        """Take the unread item, if any, without reading it (counted in `drops`)."""
        if not self._has_item:
            return None
        item, self._item, self._has_item = self._item, None, False
        self.drops += 1
        self._taken.set()
        self._taken = anyio.Event()
        return item

    def close(self) -> None:
        """No more items; a waiting `get()` raises `EndOfStream` once the slot is empty."""
        self._closed = True
        self._event.set()
        self._taken.set()


class RateSampler:
    """Keeps frames at most `fps` per second of presentation time (None or <= 0 keeps all)."""

    def __init__(self, fps: float | None) -> None:
        self.fps = fps
        self._next_due: float | None = None
        self.kept = 0
        self.skipped = 0

    def due(self, pts_s: float) -> bool:
        """Whether the frame at `pts_s` should be kept; call once per frame, in order."""
        if not self.fps or self.fps <= 0:
            self.kept += 1
            return True
        interval = 1.0 / self.fps
        # A jump backwards (a looped file, a reconnected camera) restarts the schedule.
        if self._next_due is None or pts_s < self._next_due - 2 * interval - 1.0:
            self._next_due = pts_s
        # Tolerate jitter of a few ms so a 10 fps stream sampled at 10 fps keeps every frame.
        if pts_s + 0.25 * interval < self._next_due:
            self.skipped += 1
            return False
        self._next_due = max(self._next_due + interval, pts_s + 0.5 * interval)
        self.kept += 1
        return True
