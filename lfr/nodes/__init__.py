"""A site across nodes: actor messages between machines over NATS request/reply.

    codec   messages (frozen dataclasses, pydantic events) <-> JSON, by an allow-list of types
    link    `NodeLink` (one node's NATS connection), `RemoteRef` (an actor on another node,
            addressed like a local one) and `NodeServer` (delivers other nodes' messages to
            this node's actors, once per message id)

The kernel knows nothing of this: a `RemoteRef` is an `ActorRef` in the registry, so actors
`tell` and `ask` a camera or a zone without knowing where it runs. Messages between actors of
one node stay in memory; a site without `[[nodes]]` never opens a NATS connection.
"""

from lfr.nodes.codec import CodecError, MessageCodec
from lfr.nodes.link import (
    MSG_ID_HEADER,
    NodeLink,
    NodeServer,
    RemoteRef,
    actor_subject,
    connect_link,
)

__all__ = [
    "MSG_ID_HEADER",
    "CodecError",
    "MessageCodec",
    "NodeLink",
    "NodeServer",
    "RemoteRef",
    "actor_subject",
    "connect_link",
]
