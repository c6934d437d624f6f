"""What a zone must know about a published watchlist, behind one small interface.

A deployment arms with a published watchlist version; the zone checks when it was published
(at most 24 hours before the window opens), shows officers an entry's label and category,
gives cameras the in-memory `Gallery` to search, and deletes the list when the deployment
ends. `WatchlistCatalog` is that seam: `WatchlistStoreCatalog` implements it over the LanceDB
store of record (labels read without loading any template) and the biometric vault (the
entry's reference photo, which officers compare with the live capture); `lfr.testing` ships
one in memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

import anyio

from lfr.vision.types import Gallery
from schemas.events import BiometricRef, WatchlistCategory

if TYPE_CHECKING:
    from lfr.vault import BiometricVault
    from lfr.watchlist import Publication, WatchlistStore
    from lfr.watchlist.entry import EntryMetadata
    from lfr.watchlist.store import Erased

log = logging.getLogger(__name__)

__all__ = [
    "EntryInfo",
    "PublishedWatchlist",
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
    """What officers see of a watchlist entry in an alert (never an embedding): its label,
    category and the vault reference of its reference photo, when the vault holds one."""

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

    async def purge(self, version: str) -> Erased:
        """Delete the version's biometric data; return what left the disk for good (entries,
        templates, photos; `Erased.refs` the references erased)."""
        ...


class WatchlistStoreCatalog:
    """The catalog over LanceDB `lfr.watchlist.WatchlistStore`s, one per watchlist (blocking
    calls in a worker thread). Galleries are cached per version and dropped on purge.

    A purge erases the version's frozen copy in every store that holds it and, given the
    `vault`, shreds the reference photos no other version or live list still uses
    (`WatchlistStore.purge_version` states the rule). A version is one deployment's
    bespoke list, deleted when it ends, so zones refuse a version another deployment holds.
    """

    def __init__(self, *stores: WatchlistStore, vault: BiometricVault | None = None) -> None:
        if not stores:
            raise ValueError("WatchlistStoreCatalog needs at least one WatchlistStore")
        self._stores = stores
        self._vault = vault
        self._galleries: dict[str, Gallery] = {}

    async def _holder(self, version: str) -> tuple[WatchlistStore, Publication] | tuple[None, None]:
        """The store that published `version`, with its publication."""
        for store in self._stores:
            pubs = await anyio.to_thread.run_sync(store.publications)
            pub = next((p for p in pubs if p.version == version), None)
            if pub is not None:
                return store, pub
        return None, None

    async def published(self, version: str) -> PublishedWatchlist | None:
        _, pub = await self._holder(version)
        if pub is None:
            return None
        return PublishedWatchlist(
            version, pub.watchlist, pub.entries, pub.published_at, pub.valid_until
        )

    async def entry(self, version: str, entry_id: str) -> EntryInfo | None:
        store, _ = await self._holder(version)
        if store is None:
            return None
        # metadata columns only: an officer's label never loads anyone's template
        entries = await anyio.to_thread.run_sync(store.version_listing, version)
        for e in entries:
            if e.entry_id == entry_id:
                category = cast(WatchlistCategory, e.category)
                return EntryInfo(e.entry_id, e.label, category, await self._reference(e))
        return None

    async def _reference(self, entry: EntryMetadata) -> BiometricRef | None:
        """The vault reference of the entry's reference photo (the first photo enrolled: the
        store keeps one per entry) as the vault stored it (the sha256 of its plaintext; read
        without decrypting the photo), retained as long as the entry. None when there is no
        photo, no vault, or the vault cannot give it now: an alert never waits on a photo."""
        from lfr.vault import VaultError

        if entry.image_ref is None or self._vault is None:
            return None
        try:
            stored = await self._vault.ref(entry.image_ref)
        except VaultError as exc:
            log.warning(
                "reference photo of watchlist entry %s cannot be read (%s); the alert goes "
                "without it",
                entry.entry_id,
                exc,
            )
            return None
        return stored.model_copy(update={"retain_until": entry.expires_at})

    async def load_gallery(self, version: str) -> Gallery:
        cached = self._galleries.get(version)
        if cached is not None:
            return cached
        store, _ = await self._holder(version)
        # an unknown version: the store says so (VersionNotFoundError)
        store = store if store is not None else self._stores[0]
        loaded: Gallery = await anyio.to_thread.run_sync(store.load, version)
        self._galleries[version] = loaded
        return loaded

    async def purge(self, version: str) -> Erased:
        """Erase the version's templates and unshared photos (and a bespoke version's live
        entries); return the entries, templates and photos that left the disk for good,
        nothing once already purged (`WatchlistStore.purge_version` counts them)."""
        from lfr.watchlist.store import Erased

        self._galleries.pop(version, None)
        shred = self._shred if self._vault is not None else None
        erased = Erased()
        for store in self._stores:
            erased += await anyio.to_thread.run_sync(store.purge_version, version, shred)
        return erased

    def _shred(self, blob_id: str) -> bool:
        """Shred one photo from the purge's worker thread, through the vault's own limiter."""
        from lfr.vault import BlobNotFoundError

        assert self._vault is not None
        try:
            return anyio.from_thread.run(self._vault.shred, blob_id, "deployment ended")
        except BlobNotFoundError:
            log.warning("watchlist photo %s is not in this vault; nothing to shred", blob_id)
            return False
