"""The engine-neutral record iterator the auditor's tools read: `AuditSource`.

`lfr.store.verify` (the chain, every record, every signed checkpoint, anchors), `lfr.store.proof`
(inclusion proofs), `lfr audit export|replay|checkpoint|consistency` and the API's audit routes
read a log only through it, so they work the same on every engine:

    SqliteLog(path, read_only=True)            the SQLite file (`lfr.store.sqlite`)
    NatsAuditSource.connect(url, stream)       a JetStream stream (`lfr.store.nats`), paged

`open_audit_source(config, data_dir)` opens whichever a `[store]` config names, read-only.
Every iterator yields in bounded memory (pages, never the whole log).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lfr.store import checkpoint as ckpt
from lfr.store.base import StoreError
from lfr.store.config import StoreConfig
from schemas.envelope import Envelope

__all__ = ["AuditSource", "open_audit_source"]


@runtime_checkable
class AuditSource(Protocol):
    """A log read-only, synchronously, as the audit code needs it (one thread at a time)."""

    log_id: str
    checkpoint_every: int

    @property
    def where(self) -> str:
        """The log's place in reports: a file path, `nats:<stream>`."""
        ...

    def public_key_pem(self) -> str:
        """The public key recorded at the log's creation (empty if it never had one)."""
        ...

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads inside see one consistent state of the log while writers append."""
        ...

    def checkpoints(self) -> list[ckpt.Checkpoint]:
        """Every signed checkpoint, by tree size."""
        ...

    def newest_checkpoint(self) -> ckpt.Checkpoint | None: ...

    def last_seq(self) -> int: ...

    def verify_rows(
        self, *, from_seq: int = 1
    ) -> Iterator[tuple[int, bytes, str, tuple[Any, ...]]]:
        """(seq, the canonical body as stored, its stored hash, the index the engine keeps
        beside it: (seq, stream, stream_version, event_id, type)) per event, in order."""
        ...

    def iter_rows(self, *, from_seq: int = 1) -> Iterator[tuple[int, bytes, str]]:
        """(seq, body, hash) per event, in order: exports."""
        ...

    def iter_records(
        self, *, from_seq: int = 1, limit: int | None = None, chunk: int = 1000
    ) -> Iterator[list[dict[str, Any]]]:
        """Records without `hash`, a list at a time: replays."""
        ...

    def find_event(self, event_id: str) -> Envelope | None: ...

    def leaf_hashes(self, until_seq: int) -> list[str]:
        """The hashes of events 1..`until_seq` (an inclusion proof's leaves)."""
        ...

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...

    def close(self) -> None: ...


def _env(name: str | None) -> str | None:
    return os.environ.get(name) if name else None


def open_audit_source(config: StoreConfig, data_dir: Path | None) -> AuditSource:
    """The log a `[store]` config names, opened read-only (blocking: call it off the loop).

    :raises StoreError: no log there (or not an lfr log); the server is unreachable.
    """
    if config.engine == "nats":
        from lfr.store.nats import NatsAuditSource

        return NatsAuditSource.connect(
            config.url,
            config.log_stream(),
            creds=config.creds,
            user=config.user,
            password=_env(config.password_env),
            token=_env(config.token_env),
        )
    if config.engine == "memory":
        raise StoreError("an in-memory log is gone with its process: nothing to audit")
    from lfr.store.sqlite import LOG_FILE, SqliteLog

    base = data_dir or config.data_dir
    if base is None:
        raise StoreError("no data directory given (--data-dir, or LFR_DATA_DIR)")
    return SqliteLog(Path(base) / LOG_FILE, read_only=True)
