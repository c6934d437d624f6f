"""The writer's signed checkpoints (`_CheckpointSigning`, mixed into `NatsEventStore`): each is
a message on `<prefix>._lfr.cp` with the Merkle frontier at its size, signed every
`checkpoint_every` events, by a timer task once the oldest unsigned event is
`checkpoint_interval_s` old, and on close; the newest is offered to every witness that does
not hold it, with a consistency proof from the one it holds (the per-witness bookkeeping is
`lfr.store.witness`'s, shared with the SQLite engine's signer). Witness failures never stop
the log: they are logged and retried."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lfr.store import checkpoint as ckpt
from lfr.store.base import (
    StoreError,
)
from lfr.store.hashchain import (
    MerkleFrontier,
    format_time,
)
from lfr.store.nats._heads import NatsHeads, Partition
from lfr.store.nats._reader import NatsLogReader
from lfr.store.witness import Witness, note_witness_outcome, proof_start

log = logging.getLogger("lfr.store.nats")

_RETRY_S = 5.0  # a witness that failed is tried again after this, even without news
HEADS_INTERVAL_S = 1.0  # a partition states its head at most this often (and on close)


class _CheckpointSigning:
    """`NatsEventStore`'s checkpoints: signing them into the stream, the timer that signs the
    unsigned tail, and publishing the newest to the witnesses. A mixin: the state it reads
    is the writer's (see `NatsEventStore.__init__`)."""

    reader: NatsLogReader
    stream_name: str
    log_id: str
    witnesses: list[Witness]
    published: dict[str, ckpt.Checkpoint]
    witness_errors: dict[str, str]
    checkpoint_interval_s: float
    unsigned_since: float | None
    _js: Any
    _key: Ed25519PrivateKey | None
    _public_pem: str
    _seq: int
    _tail: str
    _js_seq: int
    _frontier: MerkleFrontier
    _signed_size: int
    _newest: ckpt.Checkpoint | None
    _lock: anyio.Lock
    _wake: anyio.Event
    _closed: bool
    _stopping: bool
    partition: Partition | None
    _heads: NatsHeads | None
    _stated_size: int  # the newest tree size stated in the heads (-1: none)
    _stated_at: float  # when (monotonic) it was stated

    def _check_open(self) -> None:
        raise NotImplementedError

    async def _catch_up(self) -> None:
        raise NotImplementedError

    async def _publish_checkpoint(
        self, frontier: MerkleFrontier, size: int, last_hash: str
    ) -> ckpt.Checkpoint:
        assert self._key is not None
        cp = ckpt.Checkpoint(
            log_id=self.log_id,
            tree_size=size,
            root=frontier.root().hex(),
            last_hash=last_hash,
            signed_at=format_time(datetime.now(UTC)),
            key_id=ckpt.key_id(self._key.public_key()),
        ).signed(self._key)
        body = orjson.dumps({**cp.to_dict(), "frontier": frontier.to_json()})
        with self.reader.errors():
            ack = await self._js.publish(
                self.reader.checkpoint_subject, body, stream=self.stream_name
            )
        if ack.seq == self._js_seq + 1:
            self._js_seq = ack.seq
        self._note_checkpoint(cp)
        return cp

    def _note_checkpoint(self, cp: ckpt.Checkpoint) -> None:
        if cp.tree_size > self._signed_size:
            self._signed_size = cp.tree_size
            self._newest = cp
        if self._signed_size >= self._seq:
            self.unsigned_since = None

    async def checkpoint_now(self) -> bool:
        """Sign a checkpoint of the current tree unless the newest one already covers it;
        True when one was signed."""
        if self._key is None or self._closed:
            return False
        async with self._lock:
            await self._catch_up()
            if self._seq == 0 or self._signed_size >= self._seq:
                self.unsigned_since = None
                return False
            await self._publish_checkpoint(self._frontier, self._seq, self._tail)
            return True

    async def checkpoint(self) -> None:
        """Sign a checkpoint now and publish it to the witnesses (also done every
        `checkpoint_every` events, on the timer and on close)."""
        self._check_open()
        await self.checkpoint_now()
        await self.publish_witnesses()

    async def _sign_on_timer(self) -> None:
        while not (self._closed or self._stopping):
            since = self.unsigned_since
            timeout = self.checkpoint_interval_s
            if since is not None:
                timeout = max(0.0, since + timeout - time.monotonic())
            if self.witness_errors:
                timeout = min(timeout, _RETRY_S)
            heads_due = self._heads_due_in()
            if heads_due is not None:
                timeout = min(timeout, heads_due)
            with anyio.move_on_after(timeout):
                await self._wake.wait()
            self._wake = anyio.Event()
            if self._closed or self._stopping:
                return
            try:
                since = self.unsigned_since
                if since is not None and time.monotonic() - since >= self.checkpoint_interval_s:
                    await self.checkpoint_now()
                await self.publish_witnesses()
                await self.publish_heads()
            except StoreError as exc:
                log.error("checkpoint signer: %s", exc)
                await anyio.sleep(_RETRY_S)

    def _heads_due_in(self) -> float | None:
        """Seconds until the newest checkpoint may be stated as the partition's head; None
        when there is nothing to state."""
        newest = self._newest
        if self._heads is None or newest is None or newest.tree_size <= self._stated_size:
            return None
        return max(0.0, self._stated_at + HEADS_INTERVAL_S - time.monotonic())

    async def publish_heads(self, *, final: bool = False) -> None:
        """State the newest signed checkpoint as this partition's head (a partitioned log's
        writer only): at most every `HEADS_INTERVAL_S` (the statements are shared by every
        partition), and on close (`final`). A failure is logged: the next try states it."""
        newest, heads, partition = self._newest, self._heads, self.partition
        if heads is None or partition is None or self._key is None or newest is None:
            return
        if newest.tree_size <= self._stated_size:
            return
        if not final and time.monotonic() - self._stated_at < HEADS_INTERVAL_S:
            return  # the timer comes back for it (`_heads_due_in`)
        self._stated_at = time.monotonic()  # (a failure too: tried again an interval on)
        try:
            await heads.publish(partition.name, newest, self._key)
        except StoreError as exc:
            log.info(
                "partition %s: its head at %d is not stated yet (%s); tried again in a second",
                partition.name,
                newest.tree_size,
                exc,
            )
        else:
            self._stated_size = newest.tree_size

    async def publish_witnesses(self) -> None:
        """Offer the newest signed checkpoint to every witness that does not hold it (as the
        SQLite engine's signer does: with a consistency proof from what the witness holds)."""
        newest = self._newest
        if not self.witnesses or newest is None:
            return
        for witness in self.witnesses:
            if self.published.get(witness.name) == newest:
                continue
            try:
                await self._publish_to(witness, newest)
            except StoreError as exc:
                note_witness_outcome(self.witness_errors, witness.name, newest, exc, log)
            else:
                note_witness_outcome(self.witness_errors, witness.name, newest, None, log)

    async def _publish_to(self, witness: Witness, newest: ckpt.Checkpoint) -> None:
        held = await anyio.to_thread.run_sync(witness.latest, newest.log_id)
        start = proof_start(witness.name, held, newest, self.published)
        if start is None:
            return
        proof = [h.hex() for h in await self.reader.consistency_proof(start, newest.tree_size)]
        pem = self._public_pem
        await anyio.to_thread.run_sync(lambda: witness.submit(newest, pem, start, proof))
        self.published[witness.name] = newest
