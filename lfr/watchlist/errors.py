"""Errors of the watchlist store.

LfrError
└── WatchlistError            the watchlist cannot do what was asked
    ├── WatchlistNotFoundError no watchlist of that name (a read never creates one)
    ├── EntryNotFoundError    no entry with that id
    ├── DuplicateEntryError   an entry with that id exists already
    ├── ExpiryTooFarError     an entry set to expire beyond what the policy allows
    ├── VersionNotFoundError  no published version with that hash
    └── EmptyWatchlistError   publishing a list with no live entries
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lfr.errors import LfrError

__all__ = [
    "DuplicateEntryError",
    "EmptyWatchlistError",
    "EntryNotFoundError",
    "ExpiryTooFarError",
    "VersionNotFoundError",
    "WatchlistError",
    "WatchlistNotFoundError",
]


class WatchlistError(LfrError):
    """Base of the watchlist's errors."""


class WatchlistNotFoundError(WatchlistError):
    def __init__(self, watchlist: str) -> None:
        self.watchlist = watchlist
        super().__init__(
            f"no watchlist {watchlist!r} here; adding its first entry starts it "
            "(`lfr watchlist add --watchlist NAME` or POST .../entries)"
        )


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


class ExpiryTooFarError(WatchlistError):
    """An entry's `expires_at` further ahead than the watchlist policy allows."""

    def __init__(self, expires_at: datetime, limit: timedelta) -> None:
        self.expires_at = expires_at
        self.limit = limit
        days = limit / timedelta(days=1)
        shown = f"{days:g} days" if days != 1 else "1 day"
        super().__init__(
            f"expires_at {expires_at.isoformat()} is too far ahead: a watchlist entry may "
            f"expire at most {shown} from now (LFR_WATCHLIST_MAX_EXPIRY_DAYS); "
            "give an earlier expiry and renew the entry when it is still needed"
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
