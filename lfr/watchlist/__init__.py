"""Watchlists: LanceDB store of record, published versions, in-memory armed galleries."""

from lfr.watchlist.armed import ArmedWatchlist, LanceGallery
from lfr.watchlist.entry import CATEGORIES, WatchlistEntry, content_hash
from lfr.watchlist.errors import (
    DuplicateEntryError,
    EmptyWatchlistError,
    EntryNotFoundError,
    VersionNotFoundError,
    WatchlistError,
)
from lfr.watchlist.store import Publication, WatchlistStore

__all__ = [
    "CATEGORIES",
    "ArmedWatchlist",
    "DuplicateEntryError",
    "EmptyWatchlistError",
    "EntryNotFoundError",
    "LanceGallery",
    "Publication",
    "VersionNotFoundError",
    "WatchlistEntry",
    "WatchlistError",
    "WatchlistStore",
    "content_hash",
]
