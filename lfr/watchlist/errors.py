"""Errors of the watchlist store.

LfrError
└── WatchlistError            the watchlist cannot do what was asked
    ├── EntryNotFoundError    no entry with that id
    ├── DuplicateEntryError   an entry with that id exists already
    ├── VersionNotFoundError  no published version with that hash
    └── EmptyWatchlistError   publishing a list with no live entries
"""

from __future__ import annotations

from lfr.errors import LfrError

__all__ = [
    "DuplicateEntryError",
    "EmptyWatchlistError",
    "EntryNotFoundError",
    "VersionNotFoundError",
    "WatchlistError",
]


class WatchlistError(LfrError):
    """Base of the watchlist's errors."""


class EntryNotFoundError(WatchlistError):
    def __init__(self, entry_id: str, watchlist: str) -> None:
        self.entry_id = entry_id
        super().__init__(
            f"no entry {entry_id!r} in watchlist {watchlist!r}; `lfr watchlist list` shows them"
        )


class DuplicateEntryError(WatchlistError):
    def __init__(self, entry_id: str, watchlist: str) -> None:
        self.entry_id = entry_id
        super().__init__(
            f"entry {entry_id!r} is already in watchlist {watchlist!r}; "
            "remove it first or choose another --id"
        )


class VersionNotFoundError(WatchlistError):
    def __init__(self, version: str, watchlist: str) -> None:
        self.version = version
        super().__init__(
            f"watchlist {watchlist!r} has no published version {version!r}; "
            "`lfr watchlist list --versions` shows them"
        )


class EmptyWatchlistError(WatchlistError):
    def __init__(self, watchlist: str) -> None:
        super().__init__(
            f"watchlist {watchlist!r} has no unexpired entries to publish; add some first"
        )
