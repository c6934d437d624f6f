"""The API's `WatchlistService` port over `lfr.watchlist.WatchlistService`.

Nothing here writes a watchlist: the site's one watchlist service logs each change first,
keeps the first accepted photo in the vault and enrols every photo with one clear subject.
This adapter only names uploaded photos by their place in the request ("photo 2 of 3"),
never by a temporary file, and shapes entries as the API shows them (no template, no image).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from lfr.api.ports import WatchlistEntryInfo
from lfr.store.base import EventStore
from lfr.vault import BiometricVault
from lfr.vision.pipeline import FacePipeline
from lfr.watchlist import EntryMetadata, Photo, WatchlistNotFoundError, WatchlistService
from schemas.events import WatchlistCategory

__all__ = ["StoreWatchlistService"]


def _info(entry: EntryMetadata, refused: tuple[str, ...] = ()) -> WatchlistEntryInfo:
    return WatchlistEntryInfo(
        entry_id=entry.entry_id,
        label=entry.label,
        category=entry.category,  # validated by the model
        legal_basis=entry.legal_basis,
        image_source=entry.image_source,
        added_by=entry.added_by,
        expires_at=entry.expires_at,
        photos=entry.photos,
        photos_refused=refused,
    )


class StoreWatchlistService:
    """Watchlists in `<root>` (LanceDB), changes logged in `store`, photos in `vault`.

    Pass `service` to share the site's `WatchlistService` instead of making one here.
    """

    def __init__(
        self,
        root: Path,
        *,
        store: EventStore,
        vault: BiometricVault,
        pipeline: FacePipeline | None = None,
        service: WatchlistService | None = None,
    ) -> None:
        self.service = service or WatchlistService(root, log=store, vault=vault, pipeline=pipeline)

    async def add_entry(
        self,
        watchlist: str,
        *,
        label: str,
        category: WatchlistCategory,
        legal_basis: str,
        image_source: str,
        added_by: str,
        expires_at: datetime,
        images: Sequence[bytes],
    ) -> WatchlistEntryInfo:
        """Enrol every photo with one clear subject; the others are reported, not enrolled.

        :raises EnrolmentError: no photo could be enrolled (422), each one's reason given.
        """
        photos = [
            Photo.upload(data, f"photo {i + 1} of {len(images)}") for i, data in enumerate(images)
        ]
        added = await self.service.add_person(
            watchlist,
            photos,
            entry_id=f"e-{uuid.uuid4().hex[:12]}",
            label=label,
            category=category,
            legal_basis=legal_basis,
            image_source=image_source,
            added_by=added_by,
            expires_at=expires_at,
        )
        return _info(added.entry, tuple(f"{r.path}: {r.reason}" for r in added.refused))

    async def list_entries(self, watchlist: str) -> list[WatchlistEntryInfo]:
        """:raises WatchlistNotFoundError: no such watchlist (404); nothing is created."""
        if not await self.service.exists(watchlist):
            raise WatchlistNotFoundError(watchlist)
        return [_info(e) for e in await self.service.entries(watchlist)]

    async def publish(self, watchlist: str, *, published_by: str) -> str:
        """:raises EmptyWatchlistError: no live entries (409)."""
        publication = await self.service.publish(watchlist, published_by=published_by)
        return publication.version

    async def remove_entry(
        self, watchlist: str, entry_id: str, *, removed_by: str, reason: str
    ) -> None:
        """:raises EntryNotFoundError: no such entry (404)."""
        await self.service.remove(watchlist, entry_id, removed_by=removed_by, reason=reason)
