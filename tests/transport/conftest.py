"""Brokers for the transport tests: the embedded amqtt broker and the Mosquitto on loopback,
plus a TCP proxy the tests can cut to simulate a broker outage."""

import uuid
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import pytest

from lfr.transport.broker import EmbeddedBroker, EmbeddedBrokerConfig
from lfr.transport.mqtt import MqttConfig


@pytest.fixture(params=["amqtt", "mosquitto"])
async def mqtt_config(request) -> AsyncIterator[MqttConfig]:
    site = f"t{uuid.uuid4().hex[:10]}"
    if request.param == "mosquitto":
        request.applymarker(pytest.mark.mosquitto)
        yield MqttConfig(
            port=1883, site=site, protocol="5", session_expiry_s=60, username="lfr-test"
        )
        return
    async with EmbeddedBroker(EmbeddedBrokerConfig(tcp_port=0, ws_port=None), site=site) as broker:
        # these tests are about delivery, not access: one user that may read and write the site
        root = f"lfr/{site}/#"
        password = broker.users.issue("lfr-test", read=(root,), write=(root,))
        yield MqttConfig(
            port=broker.tcp_port,
            site=site,
            protocol="3.1.1",
            session_expiry_s=60,
            username="lfr-test",
            password=password,
        )


class CuttableProxy:
    """Relays TCP to the broker until `cut()`; `restore()` accepts again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._scope: anyio.CancelScope | None = None
        self._tg: anyio.abc.TaskGroup | None = None

    async def _pipe(self, src, dst) -> None:
        try:
            async for chunk in src:
                await dst.send(chunk)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            await dst.aclose()

    async def _handle(self, client) -> None:
        async with client:
            try:
                upstream = await anyio.connect_tcp("127.0.0.1", self.target_port)
            except OSError:
                return
            async with upstream, anyio.create_task_group() as tg:
                tg.start_soon(self._pipe, client, upstream)
                tg.start_soon(self._pipe, upstream, client)

    async def _serve(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            listener = await anyio.create_tcp_listener(
                local_host="127.0.0.1", local_port=self.port, reuse_port=False
            )
            self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
            task_status.started()
            async with listener:
                await listener.serve(self._handle)

    async def restore(self) -> None:
        assert self._tg is not None
        await self._tg.start(self._serve)

    def cut(self) -> None:
        assert self._scope is not None
        self._scope.cancel()


@pytest.fixture
async def proxy(mqtt_config) -> AsyncIterator[CuttableProxy]:
    p = CuttableProxy(mqtt_config.port)
    async with anyio.create_task_group() as tg:
        p._tg = tg
        await p.restore()
        yield p
        tg.cancel_scope.cancel()
