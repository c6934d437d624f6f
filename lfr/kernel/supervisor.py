"""One-for-one supervision in the spirit of Erlang/OTP.

A supervisor owns a task group and runs each child in it. When a child crashes, only that
child is restarted (one-for-one), after an exponential backoff, and the crash is reported
(`on_restart`: the site appends `ActorRestarted`, no payload of the crash). A restart budget
(`intensity` restarts within `period_s`) stops crash loops: a child that spends it makes the
supervisor fail with `EscalationError`, which its own parent handles by the same rules. A
crash never touches the other children.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import anyio
from anyio.abc import TaskGroup, TaskStatus

from lfr.clock import Clock, SystemClock
from lfr.kernel.actor import Actor, ActorCell, ActorRef
from lfr.kernel.errors import EscalationError
from lfr.kernel.registry import Registry

__all__ = ["Child", "RestartInfo", "RestartPolicy", "Supervisor", "leaf_error"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """At most `intensity` restarts within `period_s`; backoff doubles from `backoff_s`."""

    intensity: int = 5
    period_s: float = 60.0
    backoff_s: float = 0.1
    backoff_factor: float = 2.0
    max_backoff_s: float = 10.0

    def backoff(self, restarts_in_period: int) -> float:
        if self.backoff_s <= 0:
            return 0.0
        delay = self.backoff_s * self.backoff_factor ** max(0, restarts_in_period - 1)
        return float(min(self.max_backoff_s, delay))


@dataclass(frozen=True, slots=True)
class RestartInfo:
    """What the supervisor tells `on_restart`: never the crash's message, only its type."""

    supervisor: str
    child: str
    error_type: str
    restarts_in_period: int
    backoff_s: float


class Child(Protocol):
    """Anything a supervisor can run: an `ActorCell` or another `Supervisor`."""

    name: str

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None: ...


def leaf_error(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, for reporting."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class Supervisor:
    """Runs children, restarts each on its own, escalates when a budget is spent."""

    def __init__(
        self,
        name: str,
        *,
        clock: Clock | None = None,
        policy: RestartPolicy | None = None,
        registry: Registry | None = None,
        on_restart: Callable[[RestartInfo], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.clock = clock or SystemClock()
        self.policy = policy or RestartPolicy()
        self.registry = registry if registry is not None else Registry()
        self.on_restart = on_restart
        self._children: list[Child] = []
        self._cells: dict[str, ActorCell] = {}
        self._tg: TaskGroup | None = None
        self.restarts: dict[str, int] = {}

    def spawn(
        self, name: str, factory: Callable[[], Actor], *, mailbox_size: int = 256
    ) -> ActorRef:
        """Add an actor child (before `run`) and register its ref under `name`."""
        cell = ActorCell(name, factory, mailbox_size=mailbox_size)
        self.registry.register(cell.ref)
        self._cells[name] = cell
        self.add(cell)
        return cell.ref

    def add(self, child: Child) -> None:
        """Add any child (e.g. a nested supervisor) before `run`."""
        if self._tg is not None:
            raise RuntimeError(f"supervisor {self.name!r} is running; add children before run")
        self._children.append(child)

    def cell(self, name: str) -> ActorCell:
        return self._cells[name]

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start every child (each ready before the next), then supervise until cancelled.

        :raises EscalationError: a child spent its restart budget.
        """
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for child in self._children:
                    await tg.start(self._supervise, child)
                task_status.started()
                await anyio.sleep_forever()
        except BaseExceptionGroup as group:
            escalations = [e for e in group.exceptions if isinstance(e, EscalationError)]
            if escalations and len(escalations) == len(group.exceptions):
                raise escalations[0] from None
            raise
        finally:
            # Senders to a stopped subtree fail fast instead of waiting; if a parent runs
            # this supervisor again, each cell reopens its mailbox and refs work again.
            self._tg = None
            self.close()

    def close(self) -> None:
        """Close every actor mailbox of this supervisor and its nested supervisors."""
        for cell in self._cells.values():
            cell.mailbox.close()
        for child in self._children:
            if isinstance(child, Supervisor):
                child.close()

    async def _supervise(
        self, child: Child, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        restarts: deque[float] = deque()
        started = False

        def mark_started(value: None = None) -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        status = _Status(mark_started)
        while True:
            try:
                await child.run(task_status=status)
                mark_started()
                return
            except Exception as raw:
                exc = leaf_error(raw)
                now = self.clock.monotonic()
                restarts.append(now)
                while restarts and now - restarts[0] > self.policy.period_s:
                    restarts.popleft()
                self.restarts[child.name] = self.restarts.get(child.name, 0) + 1
                if len(restarts) > self.policy.intensity:
                    log.error(
                        "%s: %s crashed (%s) beyond its restart budget; escalating",
                        self.name,
                        child.name,
                        type(exc).__name__,
                    )
                    raise EscalationError(
                        self.name, child.name, len(restarts), self.policy.period_s
                    ) from exc
                delay = self.policy.backoff(len(restarts))
                log.warning(
                    "%s: %s crashed (%s); restart %d in %.0f s, in %.2f s",
                    self.name,
                    child.name,
                    type(exc).__name__,
                    len(restarts),
                    self.policy.period_s,
                    delay,
                )
                if self.on_restart is not None:
                    info = RestartInfo(
                        self.name, child.name, type(exc).__name__, len(restarts), delay
                    )
                    try:
                        await self.on_restart(info)
                    except Exception:
                        log.exception(
                            "%s: could not record the restart of %s", self.name, child.name
                        )
                await self.clock.sleep(delay)


class _Status(TaskStatus[None]):
    """Forwards the first `started()` of any incarnation to the supervisor's starter."""

    def __init__(self, fn: Callable[[None], None]) -> None:
        self._fn = fn

    def started(self, value: None = None) -> None:
        self._fn(value)
