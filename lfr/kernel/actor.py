"""Actors: a name, a bounded mailbox, one message at a time, start/stop hooks and timers.

An `ActorRef` is the only way to reach an actor: `tell` (fire and forget, waits for room in
the mailbox), `tell_nowait` (fails fast when full) and `ask` (waits for the handler's answer,
with a timeout). The ref and its mailbox outlive restarts, so a crash loses only the message
being handled (its asker is told) and never the ones queued behind it.

Each message is handled inside an OpenTelemetry span whose parent is the sender's trace
context, so a trace follows a command from the API through every actor it touches. Spans
carry only the actor name and message type, never a message's content.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from opentelemetry.trace import SpanKind

from lfr.clock import Clock, SystemClock
from lfr.kernel.errors import (
    ActorCrashedError,
    ActorStoppedError,
    AskTimeoutError,
    CommandRejected,
    InjectedCrash,
    MailboxFullError,
)
from lfr.kernel.mailbox import Letter, Mailbox, MailboxClosed, Reply
from lfr.kernel.tracing import tracing_active
from lfr.telemetry import current_traceparent, get_tracer, span_from_traceparent

__all__ = ["Actor", "ActorCell", "ActorRef", "Crash", "Stop"]

log = logging.getLogger(__name__)
_tracer = get_tracer("lfr.kernel")


@dataclass(frozen=True, slots=True)
class Crash:
    """Make the receiving actor fail as if its handler raised (chaos and supervision tests)."""

    reason: str = "injected"


@dataclass(frozen=True, slots=True)
class Stop:
    """Ask the receiving actor to stop normally (it is not restarted)."""


def _traceparent() -> str | None:
    return current_traceparent() if tracing_active() else None


class ActorRef:
    """The address of an actor: its name and mailbox. Safe to share; survives restarts."""

    __slots__ = ("_mailbox", "name")

    def __init__(self, name: str, mailbox: Mailbox) -> None:
        self.name = name
        self._mailbox = mailbox

    def __repr__(self) -> str:
        return f"ActorRef({self.name!r})"

    @property
    def depth(self) -> int:
        """Messages waiting in the mailbox."""
        return self._mailbox.depth

    @property
    def capacity(self) -> int:
        return self._mailbox.capacity

    async def tell(self, message: object) -> None:
        """Queue `message`, waiting while the mailbox is full (back-pressure).

        :raises ActorStoppedError: the actor is gone.
        """
        try:
            await self._mailbox.send.send(Letter(message, None, _traceparent()))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise ActorStoppedError(self.name) from exc

    def tell_nowait(self, message: object) -> None:
        """Queue `message` now or fail.

        :raises MailboxFullError: the mailbox is full.
        :raises ActorStoppedError: the actor is gone.
        """
        try:
            self._mailbox.send.send_nowait(Letter(message, None, _traceparent()))
        except anyio.WouldBlock as exc:
            raise MailboxFullError(self.name, self._mailbox.capacity) from exc
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise ActorStoppedError(self.name) from exc

    async def post(self, message: object, reply: Reply | None) -> None:
        """Queue `message` with where to answer it, waiting for room: what a node server
        forwarding other nodes' asks calls, so letters keep their order of arrival while
        their answers are awaited apart.

        :raises ActorStoppedError: the actor is gone.
        """
        try:
            await self._mailbox.send.send(Letter(message, reply, _traceparent()))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise ActorStoppedError(self.name) from exc

    async def ask(self, message: object, *, timeout_s: float = 5.0) -> Any:
        """Send `message` and wait for the handler's return value.

        :raises AskTimeoutError: no answer within `timeout_s` seconds (real time).
        :raises CommandRejected: a domain rule refused the command.
        :raises ActorCrashedError: the handler crashed; the actor is restarting.
        :raises ActorStoppedError: the actor is gone.
        """
        reply = Reply()
        try:
            with anyio.fail_after(timeout_s):
                await self._mailbox.send.send(Letter(message, reply, _traceparent()))
                return await reply.wait()
        except TimeoutError as exc:
            raise AskTimeoutError(self.name, type(message).__name__, timeout_s) from exc
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, MailboxClosed) as exc:
            raise ActorStoppedError(self.name) from exc


class Actor:
    """Base class: override `handle`, and `on_start`/`on_stop` when needed.

    `on_start` runs before the actor is reported started (state rebuilt means ready);
    background work started with `start_soon` or a timer lives exactly as long as this
    incarnation of the actor.
    """

    def __init__(self, name: str, *, clock: Clock | None = None) -> None:
        self.name = name
        self.clock: Clock = clock or SystemClock()
        self._ref: ActorRef | None = None
        self._tg: TaskGroup | None = None
        self._timers: dict[str, anyio.CancelScope] = {}
        self.stopping = False

    @property
    def ref(self) -> ActorRef:
        if self._ref is None:
            raise RuntimeError(f"actor {self.name!r} is not running yet")
        return self._ref

    async def on_start(self) -> None:
        """Rebuild state and open resources; the actor is ready when this returns."""

    async def on_stop(self) -> None:
        """Close resources; runs (shielded, briefly) on normal stop, crash or cancellation."""

    async def handle(self, message: object) -> Any:
        """Handle one message; the return value answers an `ask`."""
        raise NotImplementedError(f"{type(self).__name__} does not handle {type(message)}")

    # --- background work and timers ---------------------------------------------------------

    def start_soon(
        self, fn: Callable[[], Coroutine[Any, Any, Any]], name: str | None = None
    ) -> None:
        """Run `fn` for as long as this incarnation runs; its failure crashes the actor."""
        if self._tg is None:
            raise RuntimeError("start_soon is only possible once the actor runs")
        self._tg.start_soon(fn, name=name or f"{self.name}:{getattr(fn, '__name__', 'task')}")

    def schedule_at(self, key: str, when: datetime, message: object) -> None:
        """Tell `message` to this actor at `when` (by its clock); replaces a timer of `key`."""
        self.cancel_timer(key)
        scope = anyio.CancelScope()
        self._timers[key] = scope

        async def fire() -> None:
            with scope:
                await self.clock.sleep_until(when)
                if self._timers.get(key) is scope:
                    del self._timers[key]
                await self.ref.tell(message)

        self.start_soon(fire, name=f"{self.name}:timer:{key}")

    def cancel_timer(self, key: str) -> None:
        scope = self._timers.pop(key, None)
        if scope is not None:
            scope.cancel()

    @property
    def timers(self) -> tuple[str, ...]:
        return tuple(self._timers)

    # --- kernel side -------------------------------------------------------------------------

    async def _deliver(self, letter: Letter) -> None:
        if not tracing_active():
            await self._handle_letter(letter)
            return
        kind = type(letter.message).__name__
        with span_from_traceparent(
            _tracer,
            f"{self.name} handle {kind}",
            letter.traceparent,
            kind=SpanKind.CONSUMER,
            attributes={"lfr.actor": self.name, "lfr.message": kind},
        ):
            await self._handle_letter(letter)

    async def _handle_letter(self, letter: Letter) -> None:
        message = letter.message
        kind = type(message).__name__
        try:
            if isinstance(message, Crash):
                raise InjectedCrash(self.name, message.reason)
            if isinstance(message, Stop):
                self.stopping = True
                result: Any = None
            else:
                result = await self.handle(message)
        except CommandRejected as exc:
            if letter.reply is not None:
                letter.reply.set_error(exc)
            else:
                log.warning("%s rejected %s: %s", self.name, kind, exc.reason)
            return
        except BaseException as exc:
            if letter.reply is not None:
                if isinstance(exc, Exception):
                    letter.reply.set_error(ActorCrashedError(self.name, type(exc).__name__))
                else:
                    letter.reply.set_error(ActorStoppedError(self.name))
            raise
        if letter.reply is not None:
            letter.reply.set_result(result)


class ActorCell:
    """One supervised actor slot: a stable ref and mailbox, and a factory for incarnations."""

    def __init__(self, name: str, factory: Callable[[], Actor], *, mailbox_size: int = 256) -> None:
        self.name = name
        self.factory = factory
        self.mailbox = Mailbox(mailbox_size)
        self.ref = ActorRef(name, self.mailbox)
        self.actor: Actor | None = None
        self.incarnations = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run one incarnation until it stops (returns), crashes (raises) or is cancelled."""
        actor = self.factory()
        if actor.name != self.name:
            raise ValueError(f"factory for {self.name!r} built an actor named {actor.name!r}")
        actor._ref = self.ref
        self.actor = actor
        self.incarnations += 1
        if self.mailbox.closed:
            self.mailbox.reopen()
        receive = self.mailbox.receive
        try:
            async with anyio.create_task_group() as tg:
                actor._tg = tg
                await actor.on_start()
                task_status.started()
                while not actor.stopping:
                    try:
                        letter = await receive.receive()
                    except (anyio.EndOfStream, anyio.ClosedResourceError):
                        break
                    await actor._deliver(letter)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                await actor.on_stop()
            actor._tg = None
