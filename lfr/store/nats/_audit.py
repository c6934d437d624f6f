"""`NatsAuditSource`: a JetStream log read synchronously (`lfr.store.source.AuditSource`), for
`lfr audit` and the API's audit routes, through the paged reader."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio

from lfr.store import checkpoint as ckpt
from lfr.store.hashchain import (
    canonical_body,
)
from lfr.store.nats._errors import _header_int, _subject_token, connect
from lfr.store.nats._reader import NatsLogReader
from schemas.envelope import Envelope

T = TypeVar("T")

_END = object()


async def _next(agen: AsyncIterator[T]) -> T | object:
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return _END


class NatsAuditSource:
    """A JetStream log read synchronously (`lfr.store.source.AuditSource`): every call runs
    on an event loop through `call` (a blocking portal's, or `anyio.from_thread.run` from a
    worker thread of the loop that owns the connection)."""

    def __init__(
        self,
        reader: NatsLogReader,
        call: Callable[..., Any],
        *,
        log_id: str | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._reader = reader
        self._call = call
        self._on_close = on_close
        self._until: int | None = None
        self.checkpoint_every = 1000
        meta = self._run(reader.meta)
        self._meta = meta or {}
        self.log_id = log_id or str(self._meta.get("log_id") or f"nats:{reader.stream_name}")

    @classmethod
    def connect(
        cls,
        url: str,
        stream_name: str,
        *,
        creds: Path | None = None,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> NatsAuditSource:
        """Open the log read-only from synchronous code (its own event loop, in a thread).

        :raises StoreUnavailableError: the server is unreachable.
        :raises StoreError: no such stream, or not an lfr log.
        """
        portal_cm = anyio.from_thread.start_blocking_portal("asyncio")
        portal = portal_cm.__enter__()
        try:

            async def attach() -> NatsLogReader:
                nc = await connect(
                    url,
                    creds=creds,
                    user=user,
                    password=password,
                    token=token,
                    connect_attempts=1,
                )
                try:
                    return await NatsLogReader.attach(nc, stream_name)
                except BaseException:
                    await nc.close()
                    raise

            reader = portal.call(attach)
        except BaseException:
            portal_cm.__exit__(None, None, None)
            raise

        def close() -> None:
            try:
                with contextlib.suppress(Exception):
                    portal.call(reader.nc.close)
            finally:
                portal_cm.__exit__(None, None, None)

        try:
            return cls(reader, portal.call, on_close=close)
        except BaseException:
            close()
            raise

    def _run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        result: T = self._call(fn, *args)
        return result

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        try:
            while (item := self._run(_next, agen)) is not _END:
                yield item  # type: ignore[misc]
        finally:
            self._run(agen.aclose)  # type: ignore[attr-defined]

    @property
    def where(self) -> str:
        return self._reader.where

    @property
    def path(self) -> str:
        return self.where

    def public_key_pem(self) -> str:
        return str(self._meta.get("public_key", ""))

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see the log as it stood on entry (appends after it are left out)."""
        self._until = self._run(self._reader.last_js_seq)
        try:
            yield
        finally:
            self._until = None

    def checkpoints(self) -> list[ckpt.Checkpoint]:
        return [cp for cp, _ in self._run(lambda: self._reader.checkpoints(until_js=self._until))]

    def newest_checkpoint(self) -> ckpt.Checkpoint | None:
        cps = self.checkpoints()
        return cps[-1] if cps else None

    def last_seq(self) -> int:
        """The newest event's seq (reads the newest event message's headers)."""

        async def newest() -> int:
            last = await self._reader.last_js_seq() if self._until is None else self._until
            while last > 0:
                msg = await self._reader._get(last, None, next_=False)
                if msg is not None and msg.subject.count(".") == self._reader.prefix.count(".") + 1:
                    first = _header_int(msg.headers, "Lfr-Seq")
                    count = _header_int(msg.headers, "Lfr-Count")
                    if first is not None and count is not None:
                        return first + count - 1
                    batch = self._reader._decode(msg.seq, msg.data or b"")
                    return int(batch[-1]["seq"]) if batch else 0
                last -= 1
            return 0

        return self._run(newest)

    def verify_rows(
        self, *, from_seq: int = 1
    ) -> Iterator[tuple[int, bytes, str, tuple[Any, ...]]]:
        """(seq, canonical body, stored hash, index) per event, in order; the index is what the
        message says of the record: (stream of its subject, stream_version, event_id, type)."""
        prefix_len = len(self._reader.prefix) + 1
        for page in self._iterate(self._reader.pages(from_seq=from_seq, until_js=self._until)):
            for subject, records in page:
                token = subject[prefix_len:]
                for rec in records:
                    seq = rec.get("seq")
                    stream = rec.get("stream")
                    subject_stream = (
                        stream
                        if isinstance(stream, str) and _subject_token(stream) == token
                        else token
                    )
                    yield (
                        seq if isinstance(seq, int) else -1,
                        canonical_body(rec),
                        str(rec.get("hash")),
                        (
                            seq,
                            subject_stream,
                            rec.get("stream_version"),
                            rec.get("event_id"),
                            rec.get("type"),
                        ),
                    )

    def iter_rows(self, *, from_seq: int = 1) -> Iterator[tuple[int, bytes, str]]:
        for seq, body, h, _ in self.verify_rows(from_seq=from_seq):
            yield seq, body, h

    def iter_records(
        self, *, from_seq: int = 1, limit: int | None = None, chunk: int = 1000
    ) -> Iterator[list[dict[str, Any]]]:
        """Records without `hash`, a page at a time (bounded memory)."""
        for page in self._iterate(
            self._reader.records(from_seq=from_seq, limit=limit, until_js=self._until)
        ):
            for r in page:
                r.pop("hash", None)
            yield page

    def find_event(self, event_id: str) -> Envelope | None:
        return self._run(self._reader.find_event, event_id)

    def leaf_hashes(self, until_seq: int) -> list[str]:
        return self._run(self._reader.hashes, 0, until_seq)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self._run(self._reader.consistency_proof, old_size, new_size)

    def close(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()
