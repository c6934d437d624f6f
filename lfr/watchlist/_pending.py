"""Changes in flight: a write-ahead intent per change, and a lock across processes.

`WatchlistService` writes an intent here before it appends a change's event to the log and
removes it once the LanceDB write is done, so a crash between the two leaves a file that
says which event to look for and what to finish or undo. Intents hold ids, names and times
only: never a template or a photo. The directory lock (`flock` on `<root>/.lock`) keeps the
CLI and a running API from settling each other's changes while they are in flight; the
kernel drops it when a process dies, so a crash never leaves the lock held.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal

import anyio
from pydantic import BaseModel, ConfigDict

__all__ = ["DirectoryLock", "Intent", "Intents"]

PENDING_DIR = ".pending"
LOCK_FILE = ".lock"


class Intent(BaseModel):
    """One change logged (or about to be) but perhaps not yet written to the store."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["add", "remove", "publish"]
    watchlist: str
    event_id: str  # the change's event: in the log or not decides finish or drop
    entry_id: str | None = None
    image_ref: str | None = None  # the entry's photo in the vault, to shred on undo
    undo_id: str | None = None  # event id of the compensating removal of an add
    version: str | None = None
    published_by: str | None = None
    published_at: datetime | None = None
    valid_until: datetime | None = None


class Intents:
    """The intent files under `<root>/.pending`, one per change in flight. Blocking."""

    def __init__(self, root: Path) -> None:
        self.dir = root / PENDING_DIR

    def _path(self, intent: Intent) -> Path:
        return self.dir / f"{intent.event_id}.json"

    def write(self, intent: Intent) -> None:
        """Durably, before the change's event is appended: renamed into place, then synced."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(intent)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(intent.model_dump_json().encode())
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        self._sync_dir()

    def clear(self, intent: Intent) -> None:
        self._path(intent).unlink(missing_ok=True)

    def pending(self, watchlist: str | None = None) -> list[Intent]:
        """The intents left behind, oldest first (event ids are UUIDv7: time-ordered)."""
        if not self.dir.is_dir():
            return []
        found = [
            Intent.model_validate_json(path.read_bytes())
            for path in sorted(self.dir.glob("*.json"))
        ]
        return [i for i in found if watchlist is None or i.watchlist == watchlist]

    def _sync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class DirectoryLock:
    """One writer at a time on a watchlist directory, across tasks and processes."""

    def __init__(self, root: Path) -> None:
        self._path = root / LOCK_FILE
        self._lock = anyio.Lock()

    def _acquire(self) -> int:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        async with self._lock:
            fd = await anyio.to_thread.run_sync(self._acquire)
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    # closing the descriptor releases the flock
                    await anyio.to_thread.run_sync(os.close, fd)
