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
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, cast

import anyio
from pydantic import BaseModel, ConfigDict

from lfr.store.base import EventStore
from lfr.watchlist.errors import WatchlistError
from lfr.watchlist.store import WatchlistStore
from schemas.envelope import NewEvent
from schemas.events import BiometricRef, WatchlistEntryRemoved
from schemas.streams import watchlist_stream

__all__ = ["RECOVERY", "DirectoryLock", "Intent", "Intents", "PhotoVault", "Settler", "stream"]

T = TypeVar("T")
_log = logging.getLogger(__name__)
RECOVERY = "lfr (recovery)"

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
    key_ref: str | None = None  # the key of the add's sealed fields (who), shredded on undo
    undo_id: str | None = None  # event id of the compensating removal of an add
    version: str | None = None
    published_by: str | None = None
    published_at: datetime | None = None
    valid_until: datetime | None = None
    bespoke: bool = False


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


def stream(watchlist: str) -> str:
    """The log stream of a watchlist's changes."""
    return watchlist_stream(watchlist)


class PhotoVault(Protocol):
    """What the service needs of `lfr.vault.BiometricVault`."""

    async def put(
        self, data: bytes, kind: Literal["watchlist_image"], retain_until: datetime | None = None
    ) -> BiometricRef: ...

    async def shred(self, ref: str, reason: str = "purged") -> bool: ...

    async def exists(self, ref: str) -> bool: ...


class Settler:
    """Finishes or undoes changes left between the log and the store (`WatchlistService`'s
    docstring gives the rules); also the one place an entry is discarded with its photo."""

    def __init__(
        self,
        log: EventStore,
        vault: PhotoVault,
        intents: Intents,
        run: Callable[[Callable[[], Any]], Awaitable[Any]],
    ) -> None:
        self.log = log
        self.vault = vault
        self.intents = intents
        self._run = run

    async def settle(self, wl: WatchlistStore, intent: Intent) -> None:
        """Finish or undo one interrupted change (the rules are in the module docstring)."""
        logged = {str(env.event_id) for env in await self.log.read_stream(stream(wl.name))}
        if intent.event_id not in logged:
            if intent.kind == "add":
                await self._forget_add(intent)
        elif intent.kind == "add":
            assert intent.entry_id is not None
            if await self._run(lambda: wl.find(cast(str, intent.entry_id))) is None:
                await self._undo_add(wl, intent, logged)
        elif intent.kind == "remove":
            assert intent.entry_id is not None
            await self.discard(wl, intent.entry_id, intent.image_ref, "removed from the watchlist")
        else:
            await self._redo_publish(wl, intent)
        await self._run(lambda: self.intents.clear(intent))

    async def _undo_add(self, wl: WatchlistStore, intent: Intent, logged: set[str]) -> None:
        assert intent.entry_id is not None and intent.undo_id is not None
        _log.warning(
            "watchlist %s: the add of %s was logged but never stored; recording its removal",
            wl.name,
            intent.entry_id,
        )
        if intent.undo_id not in logged:
            undo = WatchlistEntryRemoved(
                watchlist=wl.name,
                entry_id=intent.entry_id,
                removed_by=RECOVERY,
                reason="interrupted before the entry reached the watchlist store: it was "
                "never searchable; add the person again",
            )
            await self.log.append(
                stream(wl.name), [NewEvent(event=undo, event_id=uuid.UUID(intent.undo_id))]
            )
        await self._forget_add(intent)

    async def _forget_add(self, intent: Intent) -> None:
        """An add that never reached the store: its photo and the key of who it named."""
        for ref in (intent.image_ref, intent.key_ref):
            if ref is not None:
                await self.shred(ref, "the entry was never added")

    async def _redo_publish(self, wl: WatchlistStore, intent: Intent) -> None:
        assert intent.published_at is not None and intent.valid_until is not None
        at, until = intent.published_at, intent.valid_until
        try:
            plan = await self._run(
                lambda: wl.prepare_publish(
                    cast(str, intent.published_by), until - at, now=at, bespoke=intent.bespoke
                )
            )
        except WatchlistError:
            plan = None
        if plan is None or plan.publication.version != intent.version:
            # cannot happen while changes are settled in order; if it does, no zone can arm
            # with the logged version, since the catalog reads the store
            _log.error(
                "watchlist %s: logged version %s cannot be rebuilt; publish again",
                wl.name,
                intent.version,
            )
            return
        await self._run(lambda: wl.commit(plan))

    async def discard(
        self, wl: WatchlistStore, entry_id: str, image_ref: str | None, reason: str
    ) -> None:
        await self._run(lambda: wl.discard(entry_id))
        if image_ref is not None and not await self._run(lambda: wl.photo_held(image_ref)):
            # never published (or every version holding it purged): nothing can arm with it
            # again, so the photo goes now rather than at its expiry
            await self.shred(image_ref, reason)

    async def shred(self, image_ref: str, reason: str) -> None:
        if await self.vault.exists(image_ref):
            await self.vault.shred(image_ref, reason)
