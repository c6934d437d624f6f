"""amqtt authentication for the embedded broker: a client must name itself (a username).

amqtt keeps no offline session, and so queues no alert, for an anonymous client; officers'
devices and the publisher therefore connect with a username. The embedded broker listens on
loopback only; production authentication and ACLs are Mosquitto's (ops/mosquitto.conf).
"""

from __future__ import annotations

from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session


class NamedClientAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Accept a client that presents a username; refuse anonymous ones."""

    @dataclass
    class Config:
        allow_anonymous: bool = False

    async def authenticate(self, *, session: Session) -> bool | None:
        return bool(session.username)
