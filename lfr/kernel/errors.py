"""The actor kernel's errors.

    LfrError
    ├── KernelError
    │   ├── MailboxFullError      a `tell_nowait` found the bounded mailbox full
    │   ├── AskTimeoutError       no reply within the ask's timeout
    │   ├── ActorStoppedError     the actor's mailbox is closed (site shutting down)
    │   ├── ActorCrashedError     the handler of your message raised; the actor restarts
    │   ├── UnknownActorError     no actor is registered under that name
    │   ├── InjectedCrash         a `Crash` message made the actor fail on purpose (chaos)
    │   └── EscalationError       a child spent its restart budget; its supervisor gives up
    └── CommandRejected           a domain rule refused a command; the actor is unharmed

`CommandRejected` is the one error a handler raises on purpose: it goes back to the asker
and does not crash the actor. Anything else a handler raises crashes it, and its supervisor
restarts it from its stream.
"""

from __future__ import annotations

from lfr.errors import LfrError

__all__ = [
    "ActorCrashedError",
    "ActorStoppedError",
    "AskTimeoutError",
    "CommandRejected",
    "EscalationError",
    "InjectedCrash",
    "KernelError",
    "MailboxFullError",
    "UnknownActorError",
]


class KernelError(LfrError):
    """Base of the actor kernel's errors."""


class MailboxFullError(KernelError):
    def __init__(self, actor: str, capacity: int) -> None:
        self.actor = actor
        self.capacity = capacity
        super().__init__(
            f"the mailbox of {actor!r} is full ({capacity} messages): the actor cannot keep "
            "up; retry later or use `tell` to wait for room"
        )


class AskTimeoutError(KernelError):
    def __init__(self, actor: str, message: str, timeout_s: float) -> None:
        self.actor = actor
        self.message_type = message
        self.timeout_s = timeout_s
        super().__init__(
            f"{actor!r} did not answer {message} within {timeout_s:g} s; it may be busy, "
            "restarting or stopped: check the supervisor's log"
        )


class ActorStoppedError(KernelError):
    def __init__(self, actor: str) -> None:
        self.actor = actor
        super().__init__(f"actor {actor!r} is stopped; its site is shutting down or gone")


class ActorCrashedError(KernelError):
    def __init__(self, actor: str, error_type: str) -> None:
        self.actor = actor
        self.error_type = error_type
        super().__init__(
            f"actor {actor!r} crashed ({error_type}) while handling this message; it is being "
            "restarted from its stream, so resend the command once it is back"
        )


class UnknownActorError(KernelError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"no actor named {name!r}; known: {', '.join(sorted(known)) or 'none'}")


class InjectedCrash(KernelError):
    def __init__(self, actor: str, reason: str) -> None:
        self.actor = actor
        super().__init__(f"actor {actor!r} crashed on purpose: {reason}")


class EscalationError(KernelError):
    def __init__(self, supervisor: str, child: str, restarts: int, period_s: float) -> None:
        self.supervisor = supervisor
        self.child = child
        self.restarts = restarts
        self.period_s = period_s
        super().__init__(
            f"{child!r} crashed {restarts} times within {period_s:g} s, more than "
            f"supervisor {supervisor!r} allows: escalating to its parent"
        )


class CommandRejected(LfrError):
    """A domain rule refused a command. Carries a stable `code` the HTTP layer maps to 409/422."""

    def __init__(self, actor: str, code: str, reason: str) -> None:
        self.actor = actor
        self.code = code
        self.reason = reason
        super().__init__(f"{actor}: {reason}")
