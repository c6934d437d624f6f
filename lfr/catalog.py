"""What a zone must know about a published watchlist, behind one small interface.

A deployment arms with a published watchlist version; the zone checks when it was published
(at most 24 hours before the window opens), shows officers an entry's label and category,
gives cameras the in-memory `Gallery` to search, and deletes the list when the deployment
ends. `WatchlistCatalog` is that seam: the watchlist issue implements it over LanceDB;
`StoreWatchlistCatalog` reads the facts from the event log; `lfr.testing` ships one in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import anyio

from lfr.store.base import EventStore
from lfr.vision.types import Gallery
from schemas.events import (
    BiometricRef,
    WatchlistCategory,
    WatchlistEntryAdded,
    WatchlistEntryRemoved,
    WatchlistPublished,
)

__all__ = [
    "EntryInfo",
    "PublishedWatchlist",
    "StoreWatchlistCatalog",
    "WatchlistCatalog",
    "WatchlistStoreCatalog",
]


@dataclass(frozen=True, slots=True)
class PublishedWatchlist:
    version: str
    watchlist: str
    entries: int
    published_at: datetime
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """What officers see of a watchlist entry in an alert (never an embedding)."""

    entry_id: str
    label: str
    category: WatchlistCategory
    reference_ref: BiometricRef | None = None


@runtime_checkable
class WatchlistCatalog(Protocol):
    async def published(self, version: str) -> PublishedWatchlist | None:
        """The published version, or None if no such version was published."""
        ...

    async def entry(self, version: str, entry_id: str) -> EntryInfo | None: ...

    async def load_gallery(self, version: str) -> Gallery:
        """The armed, in-memory gallery of `version` (cameras call this when armed)."""
        ...

    async def purge(self, version: str) -> int:
        """Delete the version's biometric data; return how many references were erased."""
        ...


class StoreWatchlistCatalog:
    """Reads `WatchlistPublished`/`WatchlistEntryAdded` from the log; galleries and purging
    are delegated to the watchlist implementation passed in."""

    def __init__(
        self,
        store: EventStore,
        *,
        load_gallery: Callable[[str], Awaitable[Gallery]],
        purge: Callable[[str], Awaitable[int]],
    ) -> None:
        self._store = store
        self._load = load_gallery
        self._purge = purge

    async def published(self, version: str) -> PublishedWatchlist | None:
        found: PublishedWatchlist | None = None
        for env in await self._store.read_all():
            if env.type != "WatchlistPublished":
                continue
            event = env.decode()
            assert isinstance(event, WatchlistPublished)
            if event.watchlist_version == version:
                found = PublishedWatchlist(
                    version, event.watchlist, event.entries, env.occurred_at, event.valid_until
                )
        return found

    async def entry(self, version: str, entry_id: str) -> EntryInfo | None:
        published = await self.published(version)
        if published is None:
            return None
        info: EntryInfo | None = None
        for env in await self._store.read_all():
            if env.type == "WatchlistEntryAdded":
                added = env.decode()
                assert isinstance(added, WatchlistEntryAdded)
                if added.watchlist == published.watchlist and added.entry_id == entry_id:
                    info = EntryInfo(entry_id, added.label, added.category, added.image_ref)
            elif env.type == "WatchlistEntryRemoved":
                removed = env.decode()
                assert isinstance(removed, WatchlistEntryRemoved)
                if removed.watchlist == published.watchlist and removed.entry_id == entry_id:
                    info = None
        return info

    async def load_gallery(self, version: str) -> Gallery:
        return await self._load(version)

    async def purge(self, version: str) -> int:
        return await self._purge(version)


class WatchlistStoreCatalog:
    """The catalog over the LanceDB `lfr.watchlist.WatchlistStore` (blocking calls in a
    worker thread). Galleries are cached per version and dropped on purge."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._galleries: dict[str, Gallery] = {}

    async def _publication(self, version: str) -> Any | None:
        pubs = await anyio.to_thread.run_sync(self._store.publications)
        return next((p for p in pubs if p.version == version), None)

    async def published(self, version: str) -> PublishedWatchlist | None:
        pub = await self._publication(version)
        if pub is None:
            return None
        return PublishedWatchlist(
            version, pub.watchlist, pub.entries, pub.published_at, pub.valid_until
        )

    async def entry(self, version: str, entry_id: str) -> EntryInfo | None:
        entries = await anyio.to_thread.run_sync(self._store.version_entries, version)
        for e in entries:
            if e.entry_id == entry_id:
                category: WatchlistCategory = e.category
                return EntryInfo(e.entry_id, e.label, category)
        return None

    async def load_gallery(self, version: str) -> Gallery:
        cached = self._galleries.get(version)
        if cached is not None:
            return cached
        loaded: Gallery = await anyio.to_thread.run_sync(self._store.load, version)
        self._galleries[version] = loaded
        return loaded

    async def purge(self, version: str) -> int:
        self._galleries.pop(version, None)
        purge = getattr(self._store, "purge_version", None)
        if purge is not None:
            return int(await anyio.to_thread.run_sync(purge, version))
        # Honest count: the in-memory gallery is gone, but this store cannot delete a
        # published version yet, so no stored reference was erased.
        logging.getLogger(__name__).error(
            "watchlist store has no purge_version(); version %s is still on disk", version
        )
        return 0
