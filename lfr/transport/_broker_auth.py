"""amqtt plugins that make the embedded broker enforce `BrokerUsers`: a client must log in
with a known username and its password (anonymous and wrong passwords are refused), and
every subscribe, publish and delivery is checked against that user's ACL.

amqtt binds a stored (persistent) session to its client id alone, so a user presenting
another user's client id would inherit that session's subscriptions and queued messages: a
client id that owns a persistent session is therefore kept for the user that made it. And
amqtt 0.12 authenticates only after it has looked that stored session up (copying the new
login onto it, deleting it for a clean connect, marking it connected): `AuthFirstBroker`
checks the login first, so a refused client touches no session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session
from amqtt.utils import gen_client_id

from lfr.transport.acl import BrokerUsers

__all__ = ["AuthFirstBroker", "UsersAuthPlugin", "UsersTopicPlugin"]

log = logging.getLogger("lfr.transport.broker")


def _users(config: Any) -> BrokerUsers:
    users = getattr(config, "users", None)
    if not isinstance(users, BrokerUsers):
        raise TypeError("the lfr broker plugins need `users: BrokerUsers` in their config")
    return users


class UsersAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Accept a client whose username and password `BrokerUsers` knows; refuse the rest."""

    @dataclass
    class Config:
        users: Any = None

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._users = _users(self.config)
        #: client id of a persistent session -> the user it belongs to
        self._owners: dict[str, str] = {}

    async def authenticate(self, *, session: Session) -> bool | None:
        name, client_id = session.username, session.client_id or ""
        owner = self._owners.get(client_id)
        why: str | None = None
        if not name:
            why = "anonymous"
        elif not self._users.authenticate(name, session.password):
            why = "unknown user or wrong password"
        elif owner is not None and owner != name:
            why = "the client id belongs to another user's session"
        if why is not None:
            log.warning("refused MQTT login of client %r as %r: %s", client_id, name, why)
            return False
        if not session.clean_session:
            self._owners[client_id] = name
        return True


class UsersTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Allow a subscribe, publish or delivery only as the user's ACL grants it."""

    @dataclass
    class Config:
        users: Any = None

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._users = _users(self.config)

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool | None:
        if session is None or topic is None:
            return False
        name = session.username
        if action == Action.PUBLISH:
            allowed = self._users.may_publish(name, topic)
        elif action == Action.SUBSCRIBE:
            allowed = self._users.may_subscribe(name, topic)
        elif action == Action.RECEIVE:
            allowed = self._users.may_receive(name, topic)
        else:
            allowed = False
        if not allowed and action != Action.RECEIVE:
            log.warning("refused MQTT %s of %r on %s", action, name, topic)
        return allowed


class AuthFirstBroker(Broker):  # type: ignore[misc]
    """amqtt's `Broker`, authenticating a CONNECT before it touches any stored session.

    A refused client is answered NOT_AUTHORIZED and closed; only then does the rest of
    amqtt's session set-up (the same steps as amqtt 0.12's own) run for an accepted one."""

    async def _initialize_client_session(
        self,
        reader: ReaderAdapter,
        writer: WriterAdapter,
        remote_address: str,
        remote_port: int,
    ) -> tuple[BrokerProtocolHandler, Session]:
        try:
            handler, incoming = await BrokerProtocolHandler.init_from_connect(
                reader, writer, self.plugins_manager
            )
        except MQTTError:
            await writer.close()
            raise
        except (AMQTTError, NoDataError) as exc:
            raise AMQTTError(exc) from exc
        if not await self._authenticate(incoming, None):
            await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
            await writer.close()
            raise MQTTError(f"client {incoming.client_id!r} from {remote_address}: not authorised")
        session: Session = incoming
        if incoming.clean_session:
            if incoming.client_id:
                await self._delete_session(incoming.client_id)
            else:
                incoming.client_id = gen_client_id()
            incoming.parent = 0
        elif incoming.client_id in self._sessions:
            session, _ = self._sessions[incoming.client_id]
            for attr in (
                "will_flag",
                "will_message",
                "will_topic",
                "will_qos",
                "keep_alive",
                "username",
                "password",
            ):
                setattr(session, attr, getattr(incoming, attr))
            session.parent = 1
        else:
            incoming.parent = 0
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return handler, session
