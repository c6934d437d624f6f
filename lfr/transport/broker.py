"""The embedded MQTT broker: an in-process amqtt broker with a TCP and a WebSocket listener.

It is the default when no broker is configured (`lfr serve`, `lfr demo`), so one process runs
a whole site. It binds to loopback unless told otherwise and speaks MQTT 3.1.1 only: MQTT 5
features (message expiry, user properties) need the production broker, Mosquitto, and the
publisher falls back accordingly.

It enforces the same per-user credentials and topic ACL as the production Mosquitto
(`lfr.transport.acl`, amqtt plugins in `lfr.transport._broker_auth`): anonymous clients and
wrong passwords are refused; `lfr-publisher`, the lfr service itself, is the only user that
may publish (alerts, updates, retained zone states) and `lfr-api` reads the site's topics.
Their passwords are made at the first start and kept in `<auth_dir>/service.json` (mode
0600), or in memory for one run without an `auth_dir`. Officers' devices log in with the
users `lfr ops mosquitto --site site.toml --out <auth_dir>` writes (`passwd` and `acl`, read
at start, exactly what Mosquitto would be given: a patrol reads only its own patrol's topics
and the zones' state), or with credentials issued in process (`BrokerUsers.issue`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from lfr.errors import LfrError
from lfr.transport.acl import BrokerUsers
from lfr.transport.mqtt import MqttConfig
from lfr.transport.topics import Topics

__all__ = [
    "API_USER",
    "PUBLISHER_USER",
    "BrokerError",
    "EmbeddedBroker",
    "EmbeddedBrokerConfig",
    "ServiceCredentials",
]

PUBLISHER_USER = "lfr-publisher"
API_USER = "lfr-api"
SERVICE_FILE = "service.json"

log = logging.getLogger(__name__)


class BrokerError(LfrError):
    """The embedded broker could not start (usually a port already in use)."""


@dataclass(frozen=True)
class EmbeddedBrokerConfig:
    """Where the embedded broker listens; port 0 picks a free port (read it back after start).

    `auth_dir` keeps its credentials (`service.json`, and the optional `passwd` + `acl` of
    officers' devices); None keeps the service passwords in memory for this run."""

    host: str = "127.0.0.1"
    tcp_port: int = 1883
    ws_port: int | None = 8083
    session_expiry_s: int = 12 * 3600
    auth_dir: Path | None = None


@dataclass(frozen=True)
class ServiceCredentials:
    """The passwords of lfr's own broker users."""

    publisher: str
    api: str

    @classmethod
    def generate(cls) -> ServiceCredentials:
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(24))

    @classmethod
    def load_or_create(cls, auth_dir: Path) -> ServiceCredentials:
        """Read `<auth_dir>/service.json`, or write a new one (mode 0600)."""
        path = auth_dir / SERVICE_FILE
        if path.exists():
            if path.stat().st_mode & 0o077:
                raise BrokerError(
                    f"{path} holds the broker's service passwords and must be private: "
                    f"chmod 600 {path}"
                )
            data = json.loads(path.read_text())
            try:
                return cls(str(data[PUBLISHER_USER]), str(data[API_USER]))
            except KeyError as exc:
                raise BrokerError(f"{path} lacks {exc}; move it aside to make a new one") from None
        made = cls.generate()
        auth_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({PUBLISHER_USER: made.publisher, API_USER: made.api}, fh)
        return made


class EmbeddedBroker(AbstractAsyncContextManager["EmbeddedBroker"]):
    """Owns an amqtt `Broker`; `async with EmbeddedBroker(cfg, site="s") as b:` then
    `b.tcp_port`, `b.client_config(...)` for lfr's own clients, `b.users` for the rest.

    `site` scopes the service users to `lfr/<site>/#` (None: every site, `lfr/#`)."""

    def __init__(
        self,
        config: EmbeddedBrokerConfig | None = None,
        *,
        site: str | None = None,
        users: BrokerUsers | None = None,
    ) -> None:
        self.config = config or EmbeddedBrokerConfig()
        self.site = site
        self.users = users if users is not None else BrokerUsers()
        self.credentials: ServiceCredentials | None = None
        self._broker: Any = None
        self.tcp_port = self.config.tcp_port
        self.ws_port = self.config.ws_port

    @property
    def root(self) -> str:
        return Topics(self.site).root if self.site is not None else "lfr"

    def _load_users(self) -> ServiceCredentials:
        """Officers' users from `auth_dir` (if any), then lfr's own (which win a name clash)."""
        auth_dir = self.config.auth_dir
        if auth_dir is not None and (auth_dir / "passwd").exists():
            acl = auth_dir / "acl"
            self.users.load_mosquitto(auth_dir / "passwd", acl if acl.exists() else None)
            log.info("embedded MQTT broker: officers' devices log in as %s", auth_dir / "passwd")
        creds = (
            ServiceCredentials.load_or_create(auth_dir)
            if auth_dir is not None
            else ServiceCredentials.generate()
        )
        everything = f"{self.root}/#"
        self.users.add(PUBLISHER_USER, creds.publisher, write=(everything,))
        self.users.add(API_USER, creds.api, read=(everything,))
        return creds

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
                "lfr.transport._broker_auth.UsersAuthPlugin": {"users": self.users},
                "lfr.transport._broker_auth.UsersTopicPlugin": {"users": self.users},
            },
        }

    def client_config(
        self,
        user: str = API_USER,
        *,
        site: str | None = None,
        client_id: str | None = None,
        password: str | None = None,
        **kw: Any,
    ) -> MqttConfig:
        """How one of lfr's own clients reaches this broker (`user` lfr-publisher or lfr-api,
        or any user with its `password`)."""
        if password is None:
            if self.credentials is None:
                raise BrokerError("the embedded broker is not started: no credentials yet")
            known = {PUBLISHER_USER: self.credentials.publisher, API_USER: self.credentials.api}
            if user not in known:
                raise BrokerError(f"no password known for broker user {user!r}")
            password = known[user]
        return MqttConfig(
            host=self.config.host,
            port=self.tcp_port,
            site=site or self.site or "lfr",
            protocol="3.1.1",
            username=user,
            password=password,
            client_id=client_id or f"{user}-{secrets.token_hex(6)}",
            session_expiry_s=self.config.session_expiry_s,
            **kw,
        )

    async def start(self) -> None:
        """Start listening.

        :raises BrokerError: a listener could not bind, or the credentials are unusable.
        """
        from lfr.transport._broker_auth import AuthFirstBroker

        self.credentials = await anyio.to_thread.run_sync(self._load_users)
        # amqtt logs every packet at INFO; keep an officer's topics out of the default log.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        self._broker = AuthFirstBroker(self._amqtt_config())
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
