"""The embedded MQTT broker: an in-process amqtt broker with a TCP and a WebSocket listener.

It is the default when no broker is configured (`lfr serve`, `lfr demo`), so one process runs
a whole site. It binds to loopback unless told otherwise, requires a client to name itself
(amqtt queues nothing for anonymous sessions; the API authenticates officers), and speaks
MQTT 3.1.1 only: MQTT 5 features (message expiry, user properties) need the production broker,
Mosquitto, and the publisher falls back accordingly. Production sites use `ops/mosquitto.conf`
with a per-officer ACL.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from lfr.errors import LfrError

__all__ = ["BrokerError", "EmbeddedBroker", "EmbeddedBrokerConfig"]


class BrokerError(LfrError):
    """The embedded broker could not start (usually a port already in use)."""


@dataclass(frozen=True)
class EmbeddedBrokerConfig:
    """Where the embedded broker listens; port 0 picks a free port (read it back after start)."""

    host: str = "127.0.0.1"
    tcp_port: int = 1883
    ws_port: int | None = 8083
    session_expiry_s: int = 12 * 3600


class EmbeddedBroker(AbstractAsyncContextManager["EmbeddedBroker"]):
    """Owns an amqtt `Broker`; `async with EmbeddedBroker(cfg) as b:` then `b.tcp_port`."""

    def __init__(self, config: EmbeddedBrokerConfig | None = None) -> None:
        self.config = config or EmbeddedBrokerConfig()
        self._broker: Any = None
        self.tcp_port = self.config.tcp_port
        self.ws_port = self.config.ws_port

    def _amqtt_config(self) -> dict[str, Any]:
        listeners: dict[str, Any] = {
            "default": {"type": "tcp", "bind": f"{self.config.host}:{self.config.tcp_port}"}
        }
        if self.config.ws_port is not None:
            listeners["ws"] = {"type": "ws", "bind": f"{self.config.host}:{self.config.ws_port}"}
        return {
            "listeners": listeners,
            "session_expiry_interval": self.config.session_expiry_s,
            "plugins": {
                "lfr.transport._broker_auth.NamedClientAuthPlugin": {},
            },
        }

    async def start(self) -> None:
        """Start listening.

        :raises BrokerError: a listener could not bind.
        """
        from amqtt.broker import Broker

        # amqtt logs every packet at INFO; keep an officer's topics out of the default log.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        self._broker = Broker(self._amqtt_config())
        try:
            await self._broker.start()
        except Exception as exc:
            self._broker = None
            raise BrokerError(
                f"the embedded MQTT broker could not listen on {self.config.host} "
                f"(tcp {self.config.tcp_port}, ws {self.config.ws_port}): {exc}; "
                "free the port or configure another (or an external broker)"
            ) from exc
        servers = self._broker._servers
        self.tcp_port = _bound_port(servers["default"].instance)
        if "ws" in servers:
            self.ws_port = _bound_port(servers["ws"].instance)

    async def aclose(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await broker.shutdown()

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _bound_port(server: Any) -> int:
    sockets = getattr(server, "sockets", None) or ()
    for sock in sockets:
        return int(sock.getsockname()[1])
    raise BrokerError("the embedded broker started without a listening socket")
