"""Bounded mailboxes and the latest-value slot: the kernel's two kinds of back-pressure.

A mailbox holds commands and facts that must all be handled, so it is bounded and `tell`
waits for room; a slot holds video frames, where only the newest matters, so a new frame
replaces the old one and the drop is counted. Neither ever grows without bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["LatestSlot", "Letter", "Mailbox", "MailboxClosed", "Reply"]

T = TypeVar("T")


class MailboxClosed(Exception):
    """A letter was dropped because its mailbox closed (the ref turns it into
    `ActorStoppedError`)."""


class Reply:
    """A one-shot answer to an `ask`."""

    __slots__ = ("_done", "_error", "_value")

    def __init__(self) -> None:
        self._done = anyio.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def set_result(self, value: Any) -> None:
        if not self._done.is_set():
            self._value = value
            self._done.set()

    def set_error(self, error: BaseException) -> None:
        if not self._done.is_set():
            self._error = error
            self._done.set()

    async def wait(self) -> Any:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


@dataclass(slots=True)
class Letter:
    """A message in a mailbox, with where to answer and the sender's trace context."""

    message: object
    reply: Reply | None = None
    traceparent: str | None = None


@dataclass
class Mailbox:
    """A bounded FIFO of letters that outlives restarts of the actor reading it."""

    capacity: int
    send: MemoryObjectSendStream[Letter] = field(init=False)
    receive: MemoryObjectReceiveStream[Letter] = field(init=False)

    closed: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("a mailbox needs room for at least one message")
        self.reopen()

    def reopen(self) -> None:
        """Fresh, empty streams (after the owning supervisor stopped and is run again)."""
        self.send, self.receive = anyio.create_memory_object_stream[Letter](self.capacity)
        self.closed = False

    @property
    def depth(self) -> int:
        return self.send.statistics().current_buffer_used

    def close(self) -> None:
        """Refuse new letters (senders get `ActorStoppedError`) and drop queued ones."""
        self.closed = True
        self.send.close()
        while True:  # askers of dropped letters must not wait for ever
            try:
                letter = self.receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            if letter.reply is not None:
                letter.reply.set_error(MailboxClosed())
        self.receive.close()


class LatestSlot(Generic[T]):
    """Holds only the newest value: `put` never waits, replacing an unread value counts a drop."""

    def __init__(self) -> None:
        self._value: T | None = None
        self._has = False
        self._changed = anyio.Event()
        self.dropped = 0
        self.put_count = 0

    def put(self, value: T) -> T | None:
        """Store `value`; return the unread value it replaced (already counted as dropped)."""
        old = self._value if self._has else None
        if self._has:
            self.dropped += 1
        self._value = value
        self._has = True
        self.put_count += 1
        self._changed.set()
        return old

    def take_nowait(self) -> T | None:
        """The newest unread value, or None."""
        if not self._has:
            return None
        value = self._value
        self._value = None
        self._has = False
        self._changed = anyio.Event()
        return value

    async def take(self) -> T:
        """Wait for a value and take it."""
        while not self._has:
            await self._changed.wait()
        value = self.take_nowait()
        assert value is not None
        return value

    def __len__(self) -> int:
        return int(self._has)
