"""Injectable time: the wall clock in production, a hand-driven clock in tests.

Every actor, timer and backoff reads time and sleeps through a `Clock`, so a test can walk a
deployment window, a 60 s alert cooldown or a 30 s acknowledgement deadline in microseconds
and deterministically; nothing in a unit test sleeps for real.
"""

from __future__ import annotations

import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import anyio

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Wall time for events, monotonic time for intervals, and sleeping."""

    def now(self) -> datetime:
        """Aware UTC wall time, stamped on events (`occurred_at`)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for intervals and budgets."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, when: datetime) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: datetime) -> None:
        await anyio.sleep(max(0.0, (when - self.now()).total_seconds()))


class ManualClock:
    """A clock that moves only when the test calls `advance`/`set`.

    Sleepers wake in deadline order; after each wake-up `advance` waits until every task is
    blocked again, so the effects of a timer (appends, messages) are done when it returns.
    Blocking work in worker threads is not waited for: settle those with an `ask`.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime (tzinfo=UTC)")
        self._origin = self._now
        self._sleepers: list[tuple[datetime, int, anyio.Event]] = []
        self._ids = itertools.count()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return (self._now - self._origin).total_seconds()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        await self.sleep_until(self._now + timedelta(seconds=seconds))

    async def sleep_until(self, when: datetime) -> None:
        if when <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._sleepers, (when, next(self._ids), event))
        await event.wait()

    @property
    def sleepers(self) -> int:
        """How many tasks are asleep on this clock (for tests)."""
        return sum(not e.is_set() for _, _, e in self._sleepers)

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline in order."""
        await self.set(self._now + timedelta(seconds=seconds))

    async def set(self, when: datetime) -> None:
        """Move time forward to `when` (never back)."""
        if when < self._now:
            raise ValueError(f"ManualClock cannot go back from {self._now} to {when}")
        await anyio.wait_all_tasks_blocked()
        while self._sleepers and self._sleepers[0][0] <= when:
            deadline, _, event = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            event.set()
            await anyio.wait_all_tasks_blocked()
        self._now = when
        await anyio.wait_all_tasks_blocked()
