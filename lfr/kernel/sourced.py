"""Event-sourced actors: state is a fold of the actor's own stream, changed only by appends.

At start the actor reads its stream and folds every event through `apply`; afterwards it
changes state only by `emit`, which appends to the store with the stream version it decided
on (optimistic concurrency: a second writer makes the append fail, the actor crash and its
restart re-read the truth) and then folds the stored events. Each appended event carries the
current trace context, its clock's time and the command's correlation id.

Given a `Sealing` (the site's `lfr.sealing.Sealer`), the actor appends personal fields sealed
and opens them again when it reads the log back (`read_events`), so its state holds them in
memory only; it folds what it emitted as it was, before sealing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Generic, Protocol, TypeVar

import anyio

from lfr.clock import Clock
from lfr.kernel.actor import Actor
from lfr.store.base import EventStore
from lfr.telemetry import current_traceparent
from schemas.envelope import Envelope, NewEvent
from schemas.registry import Event

__all__ = ["EventSourcedActor", "Sealing"]

S = TypeVar("S")
E = TypeVar("E", bound=Event)


class Sealing(Protocol):
    """Seals the personal fields of events before they are appended, and opens them after
    they are read (fields whose key was shredded stay null)."""

    async def seal(self, events: Sequence[E], at: datetime) -> list[E]: ...

    async def open(self, events: Sequence[E]) -> list[E]: ...


class EventSourcedActor(Actor, Generic[S]):
    """An actor whose state is rebuilt from `stream` at every (re)start."""

    def __init__(
        self,
        name: str,
        *,
        store: EventStore,
        clock: Clock,
        stream: str | None = None,
        sealer: Sealing | None = None,
    ) -> None:
        super().__init__(name, clock=clock)
        self.store = store
        self.sealer = sealer
        self.stream = stream or name
        self.version = 0
        self.state: S = self.initial_state()
        self._emit_lock: anyio.Lock | None = None

    def initial_state(self) -> S:
        raise NotImplementedError

    def apply(self, state: S, event: Event, occurred_at: datetime) -> S:
        """Fold one event into the state: pure, no I/O (the domain's `evolve`)."""
        raise NotImplementedError

    async def on_start(self) -> None:
        await self.rebuild()

    async def rebuild(self) -> None:
        """Fold the whole stream into a fresh state."""
        state = self.initial_state()
        version = 0
        for env, event in await self.read_events(self.stream):
            state = self.apply(state, event, env.occurred_at)
            version = env.stream_version
        self.state = state
        self.version = version

    async def read_events(self, stream: str) -> list[tuple[Envelope, Event]]:
        """`stream`'s envelopes with their events decoded and, given a sealer, opened."""
        envelopes = await self.store.read_stream(stream)
        events = [env.decode() for env in envelopes]
        if self.sealer is not None:
            events = await self.sealer.open(events)
        return list(zip(envelopes, events, strict=True))

    async def emit(
        self,
        events: Sequence[Event],
        *,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> list[Envelope]:
        """Append `events` atomically at the expected version, then fold them in.

        :raises ConcurrencyError: someone else wrote to this stream (the actor then crashes
            and restarts from the stream).
        """
        if not events:
            return []
        if self._emit_lock is None:
            self._emit_lock = anyio.Lock()
        async with self._emit_lock:  # background tasks of one actor append in turn
            return await self._emit(events, correlation_id, causation_id)

    async def _emit(
        self,
        events: Sequence[Event],
        correlation_id: uuid.UUID | None,
        causation_id: uuid.UUID | None,
    ) -> list[Envelope]:
        now = self.clock.now()
        traceparent = current_traceparent()
        stored = events if self.sealer is None else await self.sealer.seal(events, now)
        batch = [
            NewEvent(
                event=event,
                occurred_at=now,
                correlation_id=correlation_id,
                causation_id=causation_id,
                traceparent=traceparent,
            )
            for event in stored
        ]
        envelopes = await self.store.append(self.stream, batch, expected_version=self.version)
        state = self.state
        for env, event in zip(envelopes, events, strict=True):
            state = self.apply(state, event, env.occurred_at)
            self.version = env.stream_version
        self.state = state
        return envelopes
