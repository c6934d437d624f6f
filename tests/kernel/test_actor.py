"""Mailboxes, tell/ask, back-pressure, the latest-frame slot and the manual clock."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from lfr.clock import ManualClock
from lfr.kernel import (
    Actor,
    ActorCrashedError,
    AskTimeoutError,
    CommandRejected,
    LatestSlot,
    MailboxFullError,
    Supervisor,
)


class Recorder(Actor):
    def __init__(self, name: str = "rec", gate: anyio.Event | None = None) -> None:
        super().__init__(name)
        self.seen: list[object] = []
        self.gate = gate

    async def handle(self, message: object) -> object:
        if self.gate is not None:
            await self.gate.wait()
        if message == "reject":
            raise CommandRejected(self.name, "nope", "rejected on purpose")
        if message == "boom":
            raise RuntimeError("boom")
        self.seen.append(message)
        return ("ok", message)


async def test_tell_is_fifo_and_ask_answers() -> None:
    actor = Recorder()
    sup = Supervisor("test")
    ref = sup.spawn("rec", lambda: actor)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        for i in range(100):
            await ref.tell(i)
        assert await ref.ask("last") == ("ok", "last")
        assert actor.seen == [*range(100), "last"]
        tg.cancel_scope.cancel()


async def test_rejection_goes_to_asker_without_crashing() -> None:
    actors: list[Recorder] = []

    def make() -> Recorder:
        actors.append(Recorder())
        return actors[-1]

    sup = Supervisor("test")
    ref = sup.spawn("rec", make)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        with pytest.raises(CommandRejected):
            await ref.ask("reject")
        assert await ref.ask(1) == ("ok", 1)
        assert len(actors) == 1
        with pytest.raises(ActorCrashedError):
            await ref.ask("boom")
        assert await ref.ask(2) == ("ok", 2)
        assert len(actors) == 2  # restarted once
        tg.cancel_scope.cancel()


async def test_bounded_mailbox_pushes_back() -> None:
    gate = anyio.Event()
    actor = Recorder(gate=gate)
    sup = Supervisor("test")
    ref = sup.spawn("rec", lambda: actor, mailbox_size=2)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        ref.tell_nowait(1)  # taken by the handler, which waits at the gate
        await anyio.wait_all_tasks_blocked()
        ref.tell_nowait(2)
        ref.tell_nowait(3)
        assert ref.depth == 2
        with pytest.raises(MailboxFullError):
            ref.tell_nowait(4)
        with anyio.move_on_after(0.01) as scope:  # tell waits for room instead
            await ref.tell(4)
        assert scope.cancelled_caught
        gate.set()
        await ref.ask(5)
        assert actor.seen == [1, 2, 3, 5]
        tg.cancel_scope.cancel()


async def test_ask_times_out() -> None:
    sup = Supervisor("test")
    ref = sup.spawn("rec", lambda: Recorder(gate=anyio.Event()))
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        with pytest.raises(AskTimeoutError, match="did not answer"):
            await ref.ask("x", timeout_s=0.01)
        tg.cancel_scope.cancel()


def test_latest_slot_keeps_newest_and_counts_drops() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take_nowait() is None
    for i in range(5):
        slot.put(i)
    assert slot.dropped == 4
    assert slot.take_nowait() == 4
    assert len(slot) == 0
    slot.put(9)
    assert slot.take_nowait() == 9
    assert slot.dropped == 4


async def test_manual_clock_wakes_sleepers_in_order() -> None:
    clock = ManualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append((name, clock.monotonic()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, "b", 20)
        tg.start_soon(sleeper, "a", 10)
        tg.start_soon(sleeper, "c", 60)
        await clock.advance(30)
        assert woke == [("a", 10), ("b", 20)]
        await clock.set(clock.now() + timedelta(seconds=30))
    assert woke[-1] == ("c", 60)
    with pytest.raises(ValueError):
        await clock.set(clock.now() - timedelta(seconds=1))


async def test_timers_fire_on_the_clock() -> None:
    clock = ManualClock()

    class Timed(Actor):
        def __init__(self) -> None:
            super().__init__("timed", clock=clock)
            self.got: list[object] = []

        async def on_start(self) -> None:
            self.schedule_at("a", clock.now() + timedelta(seconds=5), "five")
            self.schedule_at("b", clock.now() + timedelta(seconds=9), "nine")
            self.schedule_at("b", clock.now() + timedelta(seconds=7), "seven")  # replaces b

        async def handle(self, message: object) -> object:
            self.got.append(message)
            return list(self.got)

    actor = Timed()
    sup = Supervisor("test", clock=clock)
    ref = sup.spawn("timed", lambda: actor)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        await clock.advance(4)
        assert actor.got == []
        await clock.advance(10)
        assert await ref.ask("x") == ["five", "seven", "x"]
        assert actor.timers == ()
        tg.cancel_scope.cancel()
