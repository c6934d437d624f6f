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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lfr.store import checkpoint as ckpt
from lfr.store.base import StoreClosedError, StoreError, follow_log
from lfr.store.policy import LogConfig
from lfr.store.sqlite._log import SqliteLog
from lfr.store.sqlite._schema import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_CHECKPOINT_INTERVAL_S,
    LOG_FILE,
)
from lfr.store.sqlite._signer import CheckpointSigner
from lfr.store.witness import Witness, witnesses_of
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
        self._signer: CheckpointSigner | None = None
        self.path = writer.path

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        signing_key: Ed25519PrivateKey | Path | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S,
        witnesses: Sequence[Witness] = (),
        poll_s: float = 0.5,
    ) -> SqliteEventStore:
        """Open (creating if absent) the log at `path`.

        Its checkpoint key is `signing_key` (a key, or a PEM file outside the log's folder),
        else the environment's (`LFR_CHECKPOINT_KEY`, `LFR_CHECKPOINT_KEY_FILE`). Checkpoints
        are signed every `checkpoint_every` events, once the oldest unsigned event is
        `checkpoint_interval_s` old, and on close; each is published to `witnesses`.

        :raises CheckpointKeyError: no key, or a key file inside the log's folder.
        :raises StoreError: the key did not sign this log.
        """
        path = Path(path)

        def _open() -> tuple[SqliteLog, SqliteLog, CheckpointSigner]:
            existed = path.exists() and path.stat().st_size > 0
            recorded = ""
            if existed:  # refuse a foreign or damaged file before creating anything
                probe = SqliteLog(path, read_only=True)
                recorded = probe.public_key_pem()
                probe.close()
            key = (
                signing_key
                if isinstance(signing_key, Ed25519PrivateKey)
                else ckpt.load_signing_key(path.parent, path=signing_key)
            )
            mine = ckpt.public_key_pem(key.public_key())
            if existed and recorded and recorded != mine:
                raise StoreError(
                    f"{path}: the checkpoint key given did not sign this log (the log records "
                    "another public key); give the site's original key"
                )
            writer = SqliteLog(path, signing_key=key, checkpoint_every=checkpoint_every)
            reader = SqliteLog(path)
            signer = CheckpointSigner(writer, interval_s=checkpoint_interval_s, witnesses=witnesses)
            return writer, reader, signer

        writer, reader, signer = await anyio.to_thread.run_sync(_open)
        store = cls(writer, reader, poll_s=poll_s)
        store._signer = signer
        return store

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
        """Sign a checkpoint now and publish it to the witnesses (also done every
        `checkpoint_every` events, on the timer and on close)."""
        await self._write(self._writer.checkpoint_now)
        if self._signer is not None:
            await anyio.to_thread.run_sync(self._signer.publish)

    @property
    def signer(self) -> CheckpointSigner | None:
        """The thread that signs on the timer and publishes to the witnesses."""
        return self._signer

    def public_key_pem(self) -> str:
        return self._writer.public_key_pem()

    def audit_source(self) -> SqliteLog:
        """The log read-only on a connection of its own (blocking: from a worker thread), for
        the audit code (`lfr.store.source.AuditSource`)."""
        return SqliteLog(self.path, read_only=True)

    async def aclose(self) -> None:
        if self._closed:
            return
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._writer.checkpoint_now, limiter=self._wlock)
            if self._signer is not None:  # publishes the tail's checkpoint to the witnesses
                await anyio.to_thread.run_sync(self._signer.close)
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
    data_dir: Path, *, checkpoint_every: int | None = None, log: LogConfig | None = None
) -> SqliteEventStore:
    """The site's embedded log: `<data_dir>/events.sqlite`, its checkpoints as `log` says
    (signing key, how often, witnesses; default: the key from the environment, no witness).

    :raises CheckpointKeyError: no signing key, or one inside `data_dir`.
    :raises WitnessError: a witness file inside `data_dir`.
    """
    data_dir = Path(data_dir)
    log = log or LogConfig()
    witnesses = await anyio.to_thread.run_sync(
        lambda: witnesses_of(log.witness_targets(), key_path=log.witness_key, data_dir=data_dir)
    )
    return await SqliteEventStore.open(
        data_dir / LOG_FILE,
        signing_key=log.signing_key,
        checkpoint_every=checkpoint_every or log.checkpoint_every,
        checkpoint_interval_s=log.checkpoint_interval_s,
        witnesses=witnesses,
    )
