"""Watchlists: LanceDB store of record, published versions, in-memory armed galleries, and
`WatchlistService`, the one way a list is changed (logged first, photos in the vault)."""

from lfr.watchlist._pending import PhotoVault
from lfr.watchlist.armed import ArmedWatchlist, LanceGallery
from lfr.watchlist.enrol import Enrolment, Photo
from lfr.watchlist.entry import (
    CATEGORIES,
    EntryMetadata,
    WatchlistEntry,
    check_expiry,
    content_hash,
    max_expiry,
)
from lfr.watchlist.errors import (
    DuplicateEntryError,
    EmptyWatchlistError,
    EntryNotFoundError,
    ExpiryTooFarError,
    VersionNotFoundError,
    WatchlistError,
    WatchlistNotFoundError,
)
from lfr.watchlist.service import Added, WatchlistService
from lfr.watchlist.store import Publication, PublishPlan, WatchlistStore

__all__ = [
    "CATEGORIES",
    "Added",
    "ArmedWatchlist",
    "DuplicateEntryError",
    "EmptyWatchlistError",
    "Enrolment",
    "EntryMetadata",
    "EntryNotFoundError",
    "ExpiryTooFarError",
    "LanceGallery",
    "Photo",
    "PhotoVault",
    "Publication",
    "PublishPlan",
    "VersionNotFoundError",
    "WatchlistEntry",
    "WatchlistError",
    "WatchlistNotFoundError",
    "WatchlistService",
    "WatchlistStore",
    "check_expiry",
    "content_hash",
    "max_expiry",
]
