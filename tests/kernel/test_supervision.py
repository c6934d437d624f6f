"""One-for-one restarts, rebuild from the stream, backoff, budgets and escalation."""

from __future__ import annotations

from datetime import datetime

import anyio
import pytest

from lfr.clock import ManualClock
from lfr.kernel import (
    Actor,
    ActorCrashedError,
    ActorStoppedError,
    Crash,
    EscalationError,
    EventSourcedActor,
    RestartInfo,
    RestartPolicy,
    Supervisor,
    leaf_error,
)
from lfr.store.memory import InMemoryEventStore
from schemas.events import PatrolCheckedIn
from schemas.registry import Event


class Counter(EventSourcedActor[int]):
    """Counts appended events; `("crash-after-append", n)` appends, then fails."""

    def __init__(self, store: InMemoryEventStore, clock: ManualClock) -> None:
        super().__init__("counter:1", store=store, clock=clock)

    def initial_state(self) -> int:
        return 0

    def apply(self, state: int, event: Event, occurred_at: datetime) -> int:
        return state + 1

    async def handle(self, message: object) -> object:
        if message == "get":
            return self.state
        kind, n = message  # type: ignore[misc]
        await self.emit([PatrolCheckedIn(patrol_id=f"n{n}", zone="z", officers=("o",))])
        if kind == "crash-after-append":
            raise RuntimeError("handler failed after its append")
        return self.state


async def test_crash_restarts_from_stream_without_loss_or_duplicates() -> None:
    clock = ManualClock()
    store = InMemoryEventStore(clock=clock)
    restarts: list[RestartInfo] = []

    async def on_restart(info: RestartInfo) -> None:
        restarts.append(info)

    sup = Supervisor(
        "test",
        clock=clock,
        policy=RestartPolicy(intensity=3, backoff_s=0),
        on_restart=on_restart,
    )
    ref = sup.spawn("counter:1", lambda: Counter(store, clock))
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        for n in range(10):
            kind = "crash-after-append" if n in (3, 7) else "inc"
            await ref.tell((kind, n))
        assert await ref.ask("get") == 10  # rebuilt after each crash, nothing skipped
        stream = await store.read_stream("counter:1")
        assert [e.stream_version for e in stream] == list(range(1, 11))
        assert [e.payload["patrol_id"] for e in stream] == [f"n{n}" for n in range(10)]
        assert [r.error_type for r in restarts] == ["RuntimeError", "RuntimeError"]
        assert sup.cell("counter:1").incarnations == 3
        tg.cancel_scope.cancel()


async def test_crash_of_one_child_leaves_siblings_alone_and_backoff_uses_clock() -> None:
    clock = ManualClock()
    builds = {"a": 0, "b": 0}

    class Named(Actor):
        async def handle(self, message: object) -> object:
            return self.name

    def make(name: str):
        def build() -> Actor:
            builds[name] += 1
            return Named(name, clock=clock)

        return build

    policy = RestartPolicy(intensity=5, period_s=60, backoff_s=2.0, backoff_factor=2.0)
    sup = Supervisor("test", clock=clock, policy=policy)
    a = sup.spawn("a", make("a"))
    b = sup.spawn("b", make("b"))
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        with pytest.raises(ActorCrashedError):
            await a.ask(Crash("chaos"))
        assert await b.ask("hi") == "b"  # sibling still serves
        await clock.advance(1.9)
        assert builds["a"] == 1  # still backing off
        await clock.advance(0.2)
        assert builds["a"] == 2
        assert await a.ask("hi") == "a"
        await a.tell(Crash())
        await clock.advance(3.9)
        assert builds["a"] == 2  # second backoff doubled to 4 s
        await clock.advance(0.2)
        assert await a.ask("hi") == "a" and builds["a"] == 3
        assert builds["b"] == 1
        tg.cancel_scope.cancel()


async def test_budget_spent_escalates_and_parent_restarts_subtree() -> None:
    clock = ManualClock()
    policy = RestartPolicy(intensity=2, period_s=60, backoff_s=0)

    class Echo(Actor):
        async def handle(self, message: object) -> object:
            return message

    root = Supervisor("root", clock=clock, policy=RestartPolicy(intensity=1, backoff_s=0))
    child = Supervisor("child", clock=clock, policy=policy, registry=root.registry)
    ref = child.spawn("echo", lambda: Echo("echo", clock=clock))
    root.add(child)

    with pytest.raises(ExceptionGroup) as group:
        async with anyio.create_task_group() as tg:
            await tg.start(root.run)
            for _ in range(3):  # 3 crashes > intensity 2: child escalates to root
                with pytest.raises(ActorCrashedError):
                    await ref.ask(Crash())
            # root restarted the child subtree (budget 1): the same ref works again
            assert await _ask_when_back(ref, "back") == "back"
            for _ in range(3):  # escalates again: root's budget is spent too
                with pytest.raises(ActorCrashedError):
                    await ref.ask(Crash())
            await anyio.sleep_forever()
    err = leaf_error(group.value)
    assert isinstance(err, EscalationError)
    assert err.supervisor == "root"
    assert err.child == "child"


async def _ask_when_back(ref, message):
    """Letters sent while a subtree restarts are refused (ActorStoppedError): retry."""
    for _ in range(1000):
        try:
            return await ref.ask(message)
        except ActorStoppedError:
            await anyio.lowlevel.checkpoint()
    raise AssertionError("the actor never came back")


async def test_crash_within_period_only_counts() -> None:
    clock = ManualClock()
    policy = RestartPolicy(intensity=1, period_s=10, backoff_s=0)

    class Echo(Actor):
        async def handle(self, message: object) -> object:
            return message

    sup = Supervisor("test", clock=clock, policy=policy)
    ref = sup.spawn("echo", lambda: Echo("echo", clock=clock))
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        for _ in range(3):  # one crash per period never spends a budget of 1
            with pytest.raises(ActorCrashedError):
                await ref.ask(Crash())
            await clock.advance(11)
        assert await ref.ask("ok") == "ok"
        tg.cancel_scope.cancel()
