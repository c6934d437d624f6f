"""The actor kernel: actors with bounded mailboxes, event sourcing, supervision, time.

The kernel knows nothing of cameras, zones or patrols (`actors/` builds those on it).
"""

from lfr.kernel.actor import Actor, ActorCell, ActorRef, Crash, Stop
from lfr.kernel.errors import (
    ActorCrashedError,
    ActorStoppedError,
    AskTimeoutError,
    CommandRejected,
    EscalationError,
    InjectedCrash,
    KernelError,
    MailboxFullError,
    UnknownActorError,
)
from lfr.kernel.mailbox import LatestSlot, Letter, Mailbox, Reply
from lfr.kernel.registry import Registry
from lfr.kernel.sourced import EventSourcedActor, Sealing
from lfr.kernel.supervisor import Child, RestartInfo, RestartPolicy, Supervisor, leaf_error
from lfr.kernel.tracing import span_for_envelope

__all__ = [
    "Actor",
    "ActorCell",
    "ActorCrashedError",
    "ActorRef",
    "ActorStoppedError",
    "AskTimeoutError",
    "Child",
    "CommandRejected",
    "Crash",
    "EscalationError",
    "EventSourcedActor",
    "Sealing",
    "InjectedCrash",
    "KernelError",
    "LatestSlot",
    "MailboxFullError",
    "Letter",
    "Mailbox",
    "Registry",
    "Reply",
    "RestartInfo",
    "RestartPolicy",
    "Stop",
    "Supervisor",
    "UnknownActorError",
    "leaf_error",
    "span_for_envelope",
]
