"""Actor messages between nodes over a real NATS server (127.0.0.1:4222, one subject per
test): the codec keeps messages' types, a remote tell and ask reach a local actor, and a
message sent twice with one id is handled once (its retry answered from memory)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from actors.messages import Arm, CameraStatus, MatchReported
from actors.nodes import site_codec
from lfr.kernel import Actor, ActorCell, CommandRejected
from lfr.nodes import CodecError, NodeLink, NodeServer, connect_link
from schemas.events import FaceMatched

URL = "nats://127.0.0.1:4222"


class _Counter(Actor):
    def __init__(self) -> None:
        super().__init__("camera:c-1")
        self.seen: list[object] = []

    async def handle(self, message: object) -> Any:
        self.seen.append(message)
        if isinstance(message, Arm) and message.threshold > 1:
            raise CommandRejected(self.name, "threshold_invalid", "too high")
        return len(self.seen)


@asynccontextmanager
async def _node(site: str) -> AsyncIterator[tuple[NodeLink, NodeServer, _Counter]]:
    counter = _Counter()
    cell = ActorCell(counter.name, lambda: counter)
    link = await connect_link(URL, site=site, node="n", codec=site_codec(), request_timeout_s=0.5)
    server = NodeServer(link, {cell.name: cell.ref})
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(link.run)
            await tg.start(cell.run)
            await tg.start(server.run)
            yield link, server, counter
            tg.cancel_scope.cancel()
    finally:
        await link.aclose()


def _match() -> MatchReported:
    match = FaceMatched(
        match_id="match-1",
        camera="c-1",
        zone="z",
        deployment_id="dep-1",
        watchlist_version="v1",
        entry_id="e-1",
        similarity=0.9,
        threshold=0.6,
        track_id="t-3",
        frame_at=datetime.now(UTC),
        face_size_px=40,
        quality=0.8,
    )
    return MatchReported(match, uuid.uuid4(), "Case 7", 123)


def test_the_codec_keeps_types_and_refuses_others() -> None:
    codec = site_codec()
    report = _match()
    assert codec.decode(codec.encode(report)) == report
    status = CameraStatus("c-1", "z", None, 1, 2, 3, 4, 5, 6, True)
    assert codec.decode(codec.encode(status)) == status
    with pytest.raises(CodecError):
        codec.encode(object())
    with pytest.raises(CodecError):
        codec.decode(b'{"$dc": "Popen", "v": {}}')


async def test_a_duplicated_message_is_handled_once() -> None:
    site = f"t{uuid.uuid4().hex[:10]}"
    async with _node(site) as (link, server, counter):
        report = _match()
        await link.deliver("camera:c-1", report, ask=False, timeout_s=5, msg_id="m-1")
        await link.deliver("camera:c-1", report, ask=False, timeout_s=5, msg_id="m-1")
        first = await link.deliver(
            "camera:c-1", Arm("d", "v", 0.6), ask=True, timeout_s=5, msg_id="m-2"
        )
        again = await link.deliver(
            "camera:c-1", Arm("d", "v", 0.6), ask=True, timeout_s=5, msg_id="m-2"
        )
        assert first == again == 2  # the retry got the first answer, not a second handling
        with pytest.raises(CommandRejected) as info:
            await link.ref("camera:c-1").ask(Arm("d", "v", 2.0), timeout_s=5)
        assert info.value.code == "threshold_invalid"
        assert counter.seen[0] == report and len(counter.seen) == 3
        assert (server.handled, server.duplicates) == (3, 2)


async def test_a_tell_to_a_node_that_is_down_is_retried_then_dropped() -> None:
    site = f"t{uuid.uuid4().hex[:10]}"
    link = await connect_link(URL, site=site, node="n", codec=site_codec(), tell_timeout_s=0.5)
    try:
        with anyio.fail_after(3):
            await link.ref("zone:z").tell(_match())  # nobody serves it: logged, not raised
    finally:
        await link.aclose()
