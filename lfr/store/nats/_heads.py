"""A partitioned log's heads statements on JetStream (`lfr.store.heads`): the stream
`<base>-heads`, one message per statement on `<base prefix>.heads.statement`, appended with
`Nats-Expected-Last-Sequence` so that statements form one chain however many partition
writers sign them. Each partition's log is the stream `<base>-<partition>` with subjects
`<base prefix>.p.<partition>.>` (`partition_stream`)."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lfr.store import checkpoint as ckpt
from lfr.store.base import ConcurrencyError, CorruptLogError
from lfr.store.hashchain import format_time
from lfr.store.heads import Head, HeadsCheckpoint, next_heads
from lfr.store.nats._errors import _NatsErrors
from lfr.store.nats._reader import NatsLogReader

__all__ = ["NatsHeads", "Partition", "heads_stream", "partition_prefix", "partition_stream"]

log = logging.getLogger("lfr.store.nats")

_TRIES = 8  # statements racing other partitions' writers before this one gives up for now


def partition_stream(base: str, partition: str) -> str:
    return f"{base}-{partition}"


def partition_prefix(base_prefix: str, partition: str) -> str:
    return f"{base_prefix}.p.{partition}"


def heads_stream(base: str) -> str:
    return f"{base}-heads"


@dataclass(frozen=True)
class Partition:
    """One partition of the partitioned log `base` (subjects under `base_prefix`)."""

    base: str
    base_prefix: str
    name: str

    @property
    def stream(self) -> str:
        return partition_stream(self.base, self.name)

    @property
    def prefix(self) -> str:
        return partition_prefix(self.base_prefix, self.name)


class NatsHeads:
    """The heads statements of the partitioned log `base` (see the module docstring)."""

    def __init__(self, nc: Any, js: Any, *, base: str, base_prefix: str) -> None:
        self.base = base
        self.stream_name = heads_stream(base)
        self.subject = f"{base_prefix}.heads.statement"
        self.reader = NatsLogReader(
            nc, js, stream_name=self.stream_name, prefix=f"{base_prefix}.heads"
        )
        self._js = js

    @property
    def where(self) -> str:
        return f"nats:{self.stream_name}"

    async def ensure(self, *, replicas: int = 1) -> None:
        """Create the statements' stream unless it exists."""
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        with _NatsErrors(self.where):
            try:
                await self._js.stream_info(self.stream_name)
            except NotFoundError:
                await self._js.add_stream(
                    StreamConfig(
                        name=self.stream_name,
                        subjects=[f"{self.reader.prefix}.>"],
                        storage=StorageType.FILE,
                        num_replicas=replicas,
                    )
                )

    async def newest(self) -> tuple[int, HeadsCheckpoint | None]:
        """(its JetStream seq, the newest statement); (0, None) before the first."""
        last = await self.reader.last_js_seq()
        if last == 0:
            return 0, None
        msg = await self.reader._get(last, None, next_=False)
        if msg is None:
            return last, None
        return last, self._decode(last, msg.data or b"")

    async def publish(
        self, partition: str, cp: ckpt.Checkpoint, key: Ed25519PrivateKey
    ) -> HeadsCheckpoint | None:
        """State `cp` as `partition`'s head (the other heads as the newest statement has
        them), signed by `key`; None if a statement already holds it or a newer one.

        :raises ConcurrencyError: other writers kept stating first, try after the next
            checkpoint.
        :raises StoreError: the server refused or is unreachable.
        """
        for _ in range(_TRIES):
            last, previous = await self.newest()
            statement = next_heads(
                previous,
                log=self.base,
                head=Head.of(partition, cp),
                key=key,
                signed_at=format_time(datetime.now(UTC)),
            )
            if statement is None:
                return None
            try:
                with _NatsErrors(self.where, stream="(heads)", expected=last):
                    await self._js.publish(
                        self.subject,
                        orjson.dumps(statement.to_dict()),
                        stream=self.stream_name,
                        headers={"Nats-Expected-Last-Sequence": str(last)},
                    )
            except ConcurrencyError:
                # another partition stated first: build on its statement, after a pause
                # that keeps writers which checkpoint together from colliding again
                await anyio.sleep(random.uniform(0.005, 0.05))
                continue
            return statement
        raise ConcurrencyError("(heads)", -1, None)

    async def statements(self) -> AsyncIterator[HeadsCheckpoint]:
        """Every statement, oldest first, a page at a time."""
        async for page in self.reader.messages(subject=self.subject):
            for msg in page:
                yield self._decode(msg.metadata.sequence.stream, msg.data or b"")

    def _decode(self, js_seq: int, data: bytes) -> HeadsCheckpoint:
        try:
            return HeadsCheckpoint.from_dict(orjson.loads(data))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CorruptLogError(self.where, f"heads statement {js_seq} is unreadable") from exc
