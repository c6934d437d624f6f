"""Actor messages between nodes over NATS: `RemoteRef` sends, `NodeServer` delivers.

    subject   lfr.<site>.actor.<actor>        e.g. lfr.town-centre.actor.zone:north-end
    headers   Lfr-Msg-Id: <uuid hex>          the same on every retry of one message
              Lfr-Kind: tell | ask
    reply     {"ok": <value>} | {"err": {...}}  (JSON, `MessageCodec`)

`tell` and `ask` are NATS requests with a per-try timeout (`request_timeout_s`), retried with
the same message id until the caller's deadline: at-least-once delivery. The server
remembers each id it has delivered (and the answer) and answers a retry from that memory
without delivering again, so every message reaches its actor once per id. A tell is
answered once it is in the actor's mailbox; an ask once the actor answered.

`tell_nowait` is one publish with no answer and no retry (the arming lease's renewals: the
next renewal replaces a lost one). Messages from one node to one actor keep their order
(one connection, one subscription per actor, delivered in order).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from lfr.errors import UnavailableError
from lfr.kernel import (
    ActorCrashedError,
    ActorRef,
    ActorStoppedError,
    AskTimeoutError,
    MailboxFullError,
    Reply,
)
from lfr.nodes.codec import CodecError, MessageCodec

__all__ = [
    "KIND_HEADER",
    "MSG_ID_HEADER",
    "NodeLink",
    "NodeServer",
    "RemoteRef",
    "actor_subject",
    "connect_link",
]

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Lfr-Msg-Id"
KIND_HEADER = "Lfr-Kind"
_OK_NONE = b'{"ok":null}'


def actor_subject(site: str, actor: str) -> str:
    """The NATS subject an actor of `site` receives on (`lfr.<site>.actor.<actor>`)."""
    return f"lfr.{site}.actor.{actor}"


class NodeLink:
    """One node's NATS connection: what its `RemoteRef`s send through and its `NodeServer`
    receives on. `run` it for as long as the node runs (it owns the background sends)."""

    def __init__(
        self,
        nc: Any,
        *,
        site: str,
        node: str,
        codec: MessageCodec,
        request_timeout_s: float = 2.0,
        tell_timeout_s: float = 10.0,
    ) -> None:
        self.nc = nc
        self.site = site
        self.node = node
        self.codec = codec
        self.request_timeout_s = request_timeout_s
        self.tell_timeout_s = tell_timeout_s
        self._tg: TaskGroup | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                task_status.started()
                await anyio.sleep_forever()
            finally:
                self._tg = None

    def spawn(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run `fn` in the link's background (answers, while the node runs).

        :raises ActorStoppedError: the link is not running.
        """
        if self._tg is None:
            raise ActorStoppedError(f"node {self.node}")
        self._tg.start_soon(fn)

    def ref(self, actor: str) -> RemoteRef:
        return RemoteRef(actor, self)

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
            await self.nc.close()

    # --- sending -----------------------------------------------------------------------------

    def publish_nowait(self, actor: str, message: object) -> None:
        """One publish of a tell, no answer, no retry (may be lost)."""
        data = self.codec.encode(message)
        headers = {MSG_ID_HEADER: uuid.uuid4().hex, KIND_HEADER: "tell"}
        subject = actor_subject(self.site, actor)

        async def send() -> None:
            try:
                await self.nc.publish(subject, data, headers=headers)
            except Exception as exc:  # a closed or reconnecting connection: lost, as said
                log.debug("publish to %s lost: %s", subject, exc)

        self.spawn(send)

    async def deliver(
        self,
        actor: str,
        message: object,
        *,
        ask: bool,
        timeout_s: float,
        msg_id: str | None = None,
    ) -> Any:
        """Send until the other node answers or `timeout_s` passes (retries keep `msg_id`).

        :raises AskTimeoutError: no answer in time (the node is down or unreachable).
        :raises CommandRejected: (asks) the actor refused the command.
        :raises KernelError: the actor crashed on it, or is stopped.
        """
        import nats.errors

        msg_id = msg_id or uuid.uuid4().hex
        data = self.codec.encode(message)
        headers = {MSG_ID_HEADER: msg_id, KIND_HEADER: "ask" if ask else "tell"}
        subject = actor_subject(self.site, actor)
        deadline = anyio.current_time() + timeout_s
        pause = 0.02
        while True:
            left = deadline - anyio.current_time()
            if left <= 0:
                raise AskTimeoutError(actor, type(message).__name__, timeout_s)
            try:
                resp = await self.nc.request(
                    subject, data, timeout=min(self.request_timeout_s, left), headers=headers
                )
            except nats.errors.Error:  # timeout, no responders, reconnecting: retry
                await anyio.sleep(min(pause, max(0.0, deadline - anyio.current_time())))
                pause = min(pause * 2, 0.5)
                continue
            body = json.loads(resp.data)
            if "err" in body:
                error = MessageCodec.decode_error(body["err"])
                if not ask and isinstance(error, ActorStoppedError | MailboxFullError):
                    await anyio.sleep(pause)  # restarting or busy: the tell is retried
                    pause = min(pause * 2, 0.5)
                    continue
                raise error
            return self.codec.decode(json.dumps(body["ok"]).encode()) if ask else None


class RemoteRef(ActorRef):
    """An actor on another node, addressed like a local one (see the module docstring)."""

    __slots__ = ("_link",)

    def __init__(self, name: str, link: NodeLink) -> None:  # no mailbox here
        self.name = name
        self._link = link

    def __repr__(self) -> str:
        return f"RemoteRef({self.name!r})"

    @property
    def depth(self) -> int:
        return 0

    @property
    def capacity(self) -> int:
        return 0

    async def tell(self, message: object) -> None:
        """Deliver `message` at least once, retrying for the link's `tell_timeout_s`; a
        message still undelivered then is logged and dropped (another node being down
        never crashes the sender: the arming lease keeps cameras safe meanwhile)."""
        try:
            await self._link.deliver(
                self.name, message, ask=False, timeout_s=self._link.tell_timeout_s
            )
        except AskTimeoutError:
            log.warning("%s unreachable: %s dropped", self.name, type(message).__name__)

    def tell_nowait(self, message: object) -> None:
        """Publish `message` once, without waiting or retrying (it may be lost).

        :raises ActorStoppedError: this node's link is not running.
        """
        self._link.publish_nowait(self.name, message)

    async def ask(self, message: object, *, timeout_s: float = 5.0) -> Any:
        return await self._link.deliver(self.name, message, ask=True, timeout_s=timeout_s)


class NodeServer:
    """Delivers other nodes' messages to this node's actors, once per message id.

    `handled` counts messages delivered, `duplicates` retries answered from memory (the last
    `remember` ids are kept).
    """

    def __init__(
        self, link: NodeLink, actors: Mapping[str, ActorRef], *, remember: int = 10_000
    ) -> None:
        self.link = link
        self.actors = dict(actors)
        self.remember = remember
        self.handled = 0
        self.duplicates = 0
        self._done: OrderedDict[str, bytes] = OrderedDict()
        self._pending: dict[str, anyio.Event] = {}
        self._tg: TaskGroup | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Subscribe for every local actor; started once all subscriptions are in place."""
        nc = self.link.nc
        subs = []
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                for name in self.actors:
                    subject = actor_subject(self.link.site, name)
                    subs.append(await nc.subscribe(subject, cb=partial(self._on_msg, name)))
                await nc.flush()
                task_status.started()
                await anyio.sleep_forever()
            finally:
                self._tg = None
                with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                    for sub in subs:
                        try:
                            await sub.unsubscribe()
                        except Exception:  # the connection is already closed
                            break

    async def _respond(self, msg: Any, body: bytes) -> None:
        if msg.reply:
            try:
                await self.link.nc.publish(msg.reply, body)
            except Exception as exc:  # the asker retries
                log.debug("could not answer on %s: %s", msg.reply, exc)

    @staticmethod
    def _error(exc: BaseException) -> bytes:
        return json.dumps({"err": MessageCodec.encode_error(exc)}).encode()

    def _keep(self, msg_id: str, body: bytes) -> None:
        self._done[msg_id] = body
        while len(self._done) > self.remember:
            self._done.popitem(last=False)

    async def _on_msg(self, actor: str, msg: Any) -> None:
        headers = msg.headers or {}
        msg_id = headers.get(MSG_ID_HEADER)
        if not msg_id:
            await self._respond(msg, self._error(ActorCrashedError(actor, "no message id")))
            return
        done = self._done.get(msg_id)
        if done is not None:
            self.duplicates += 1
            await self._respond(msg, done)
            return
        pending = self._pending.get(msg_id)
        if pending is not None:
            self.duplicates += 1
            self._later(partial(self._answer_when_done, msg, msg_id, pending))
            return
        try:
            message = self.link.codec.decode(msg.data)
        except CodecError as exc:
            log.warning("%s: unreadable message %s dropped: %s", actor, msg_id, exc)
            await self._respond(msg, self._error(ActorCrashedError(actor, "CodecError")))
            return
        ref = self.actors[actor]
        ask = headers.get(KIND_HEADER) == "ask"
        reply = Reply() if ask else None
        try:
            # waits for room in the mailbox (back-pressure), but not past the sender's try
            with anyio.fail_after(self.link.request_timeout_s):
                await ref.post(message, reply)
        except TimeoutError:
            await self._respond(msg, self._error(MailboxFullError(actor, ref.capacity)))
            return  # not delivered: the sender tries again with the same id
        except ActorStoppedError as exc:
            await self._respond(msg, self._error(exc))
            return
        self.handled += 1
        if reply is None:
            self._keep(msg_id, _OK_NONE)
            await self._respond(msg, _OK_NONE)
            return
        event = self._pending[msg_id] = anyio.Event()
        self._later(partial(self._answer, msg, msg_id, reply, event))

    def _later(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        if self._tg is not None:
            self._tg.start_soon(fn)

    async def _answer(self, msg: Any, msg_id: str, reply: Reply, event: anyio.Event) -> None:
        try:
            try:
                result = await reply.wait()
                body = b'{"ok":' + self.link.codec.encode(result) + b"}"
            except CodecError as exc:
                log.error("%s: cannot send its answer to another node: %s", msg_id, exc)
                body = self._error(ActorCrashedError("?", "CodecError"))
            except Exception as exc:
                body = self._error(exc)
            self._keep(msg_id, body)
        finally:
            del self._pending[msg_id]
            event.set()
        await self._respond(msg, body)

    async def _answer_when_done(self, msg: Any, msg_id: str, event: anyio.Event) -> None:
        await event.wait()
        body = self._done.get(msg_id)
        await self._respond(msg, body if body is not None else self._error(ActorStoppedError("?")))


async def connect_link(
    url: str,
    *,
    site: str,
    node: str,
    codec: MessageCodec,
    creds: str | None = None,
    request_timeout_s: float = 2.0,
    tell_timeout_s: float = 10.0,
) -> NodeLink:
    """A `NodeLink` on a fresh NATS connection that reconnects for ever (a node outlives a
    NATS restart); `aclose` it.

    :raises UnavailableError: no NATS server answers at `url`.
    """
    import nats

    options: dict[str, Any] = {}
    if creds is not None:
        options["user_credentials"] = creds
    try:
        nc = await nats.connect(
            url.split(",") if "," in url else url,
            name=f"lfr-{site}-{node}",
            connect_timeout=5,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            **options,
        )
    except Exception as exc:
        raise UnavailableError(f"node {node}: no NATS server at {url} ({exc})") from exc
    return NodeLink(
        nc,
        site=site,
        node=node,
        codec=codec,
        request_timeout_s=request_timeout_s,
        tell_timeout_s=tell_timeout_s,
    )
