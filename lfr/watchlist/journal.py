"""Watchlist changes as events in the site's log (`<data_dir>/events.sqlite`).

Every add, removal and publication is recorded on the stream `watchlist:<name>` so an
auditor can replay who put whom on a list, on what basis, and which version was armed.
Events carry metadata only, never an embedding or an image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lfr.watchlist.entry import WatchlistEntry
from lfr.watchlist.store import Publication

__all__ = ["added", "published", "record", "removed"]


def added(watchlist: str, entry: WatchlistEntry) -> Any:
    from schemas.events import WatchlistEntryAdded

    return WatchlistEntryAdded(
        watchlist=watchlist,
        entry_id=entry.entry_id,
        label=entry.label,
        category=entry.category,
        legal_basis=entry.legal_basis,
        image_source=entry.image_source,
        added_by=entry.added_by,
        expires_at=entry.expires_at,
        photos=entry.photos,
        photo_sources=entry.photo_sources,
    )


def removed(watchlist: str, entry_id: str, by: str, reason: str) -> Any:
    from schemas.events import WatchlistEntryRemoved

    return WatchlistEntryRemoved(
        watchlist=watchlist, entry_id=entry_id, removed_by=by, reason=reason
    )


def published(publication: Publication) -> Any:
    from schemas.events import WatchlistPublished

    return WatchlistPublished(
        watchlist=publication.watchlist,
        watchlist_version=publication.version,
        entries=publication.entries,
        published_by=publication.published_by,
        valid_until=publication.valid_until,
    )


def record(data_dir: Path, watchlist: str, events: Sequence[Any]) -> int:
    """Append the events to `watchlist:<name>` in the site's log; returns the last seq."""
    import anyio

    from lfr.store.sqlite import open_store
    from schemas.envelope import NewEvent

    async def append() -> int:
        store = await open_store(data_dir)
        try:
            envelopes = await store.append(
                f"watchlist:{watchlist}", [NewEvent(event=e) for e in events]
            )
            return envelopes[-1].seq if envelopes else 0
        finally:
            await store.aclose()

    data_dir.mkdir(parents=True, exist_ok=True)
    return anyio.run(append)
