"""`SqliteEventStore`: the async `EventStore` over one SQLite file, a writer and a reader
`SqliteLog` whose blocking calls run in worker threads behind a `CapacityLimiter(1)` each.

It adds no error handling of its own: every sqlite3 error was already translated by the log
(`_errors`), so what reaches a caller is an `lfr.store` error.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio

from lfr.store import checkpoint as ckpt
from lfr.store.base import StoreClosedError, StoreError, follow_log
from lfr.store.sqlite._log import SqliteLog
from lfr.store.sqlite._schema import DEFAULT_CHECKPOINT_EVERY, KEY_FILE, LOG_FILE
from schemas.envelope import Envelope, NewEvent

__all__ = ["SqliteEventStore", "open_store"]


class SqliteEventStore:
    """The async `EventStore` over one SQLite file (see the module docstring)."""

    def __init__(self, writer: SqliteLog, reader: SqliteLog, *, poll_s: float = 0.5) -> None:
        self._writer = writer
        self._reader = reader
        self._wlock = anyio.CapacityLimiter(1)
        self._rlock = anyio.CapacityLimiter(1)
        self._appended = anyio.Event()
        self._closed = False
        self._poll_s = poll_s
        self.path = writer.path

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        key_path: Path | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        poll_s: float = 0.5,
    ) -> SqliteEventStore:
        """Open (creating if absent) the log at `path`; its signing key defaults to
        `<path's folder>/checkpoint_ed25519.pem`, created at first run."""
        path = Path(path)
        key_file = key_path if key_path is not None else path.parent / KEY_FILE

        def _open() -> tuple[SqliteLog, SqliteLog]:
            existed = path.exists() and path.stat().st_size > 0
            recorded = ""
            if existed:  # refuse a foreign or damaged file before creating anything
                probe = SqliteLog(path, read_only=True)
                recorded = probe.public_key_pem()
                probe.close()
                if recorded and not key_file.exists():
                    raise StoreError(
                        f"{key_file}: the key that signs {path} is missing; restore it from "
                        "backup (a new key could not continue its signed checkpoints)"
                    )
            key = ckpt.load_or_create_signing_key(key_file, create=True)
            writer = SqliteLog(path, signing_key=key, checkpoint_every=checkpoint_every)
            mine = ckpt.public_key_pem(key.public_key())
            if existed and recorded and recorded != mine:
                writer.close()
                raise StoreError(
                    f"{key_file}: this key did not sign {path} (the log records another public "
                    "key); restore the site's original key file"
                )
            reader = SqliteLog(path)
            return writer, reader

        writer, reader = await anyio.to_thread.run_sync(_open)
        return cls(writer, reader, poll_s=poll_s)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    async def _write(self, fn: Any, *args: Any) -> Any:
        self._check_open()
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._wlock)

    async def _read(self, fn: Any, *args: Any) -> Any:
        self._check_open()
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._rlock)

    async def append(
        self, stream: str, events: Sequence[NewEvent], *, expected_version: int | None = None
    ) -> list[Envelope]:
        result: list[Envelope] = await self._write(
            self._writer.append, stream, events, expected_version
        )
        if result:
            self._notify()
        return result

    def _notify(self) -> None:
        event, self._appended = self._appended, anyio.Event()
        event.set()

    async def read_stream(self, stream: str, *, from_version: int = 1) -> list[Envelope]:
        return await self._read(lambda: self._reader.read_stream(stream, from_version=from_version))  # type: ignore[no-any-return]

    async def read_all(self, *, from_seq: int = 1, limit: int | None = None) -> list[Envelope]:
        return await self._read(lambda: self._reader.read_all(from_seq=from_seq, limit=limit))  # type: ignore[no-any-return]

    async def read_records(
        self, *, from_seq: int = 1, limit: int | None = None, with_hash: bool = True
    ) -> list[dict[str, Any]]:
        """Raw records (see `SqliteLog.read_records`): the projections' fast path."""
        return await self._read(  # type: ignore[no-any-return]
            lambda: self._reader.read_records(from_seq=from_seq, limit=limit, with_hash=with_hash)
        )

    async def find_event(self, event_id: uuid.UUID | str) -> Envelope | None:
        return await self._read(self._reader.find_event, str(event_id))  # type: ignore[no-any-return]

    async def subscribe(self, *, from_seq: int = 1) -> AsyncIterator[Envelope]:
        """Catch up from `from_seq`, then follow appends (woken by this process's appends,
        polling every `poll_s` for other writers)."""
        async for env in follow_log(
            lambda seq: self.read_all(from_seq=seq, limit=1000),
            from_seq=from_seq,
            closed=lambda: self._closed,
            appended=lambda: self._appended,
            poll_s=self._poll_s,
        ):
            yield env

    async def last_seq(self) -> int:
        return await self._read(self._reader.last_seq)  # type: ignore[no-any-return]

    async def stream_version(self, stream: str) -> int:
        return await self._read(self._reader.stream_version, stream)  # type: ignore[no-any-return]

    async def checkpoint(self) -> None:
        """Sign a checkpoint now (also done every `checkpoint_every` events and on close)."""
        await self._write(self._writer.checkpoint_now)

    def public_key_pem(self) -> str:
        return self._writer.public_key_pem()

    async def aclose(self) -> None:
        if self._closed:
            return
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._writer.checkpoint_now, limiter=self._wlock)
            self._closed = True
            self._appended.set()
            async with self._wlock, self._rlock:
                # closing joins the WAL checkpointer's thread: not on the event loop
                await anyio.to_thread.run_sync(self._close_logs)

    def _close_logs(self) -> None:
        self._writer.close()
        self._reader.close()

    async def __aenter__(self) -> SqliteEventStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def open_store(
    data_dir: Path, *, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
) -> SqliteEventStore:
    """The site's embedded log: `<data_dir>/events.sqlite`, key beside it."""
    data_dir = Path(data_dir)
    return await SqliteEventStore.open(data_dir / LOG_FILE, checkpoint_every=checkpoint_every)
