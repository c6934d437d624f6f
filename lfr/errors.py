"""The root of lfr's errors. Each layer defines its own under `LfrError` and draws its tree.

    LfrError
    ├── ConfigError                   a setting or site config is wrong (says which, how to fix)
    ├── UnavailableError              a dependency cannot serve now; the same request may succeed
    │                                 later (mixed into each layer's own class, e.g.
    │                                 StoreUnavailableError, VaultUnavailableError)
    ├── StoreError (lfr.store)        ConcurrencyError, IdempotencyError, CorruptLogError,
    │                                 StoreWriteError, StoreUnavailableError, StoreClosedError
    ├── VaultError (lfr.vault)        BlobNotFoundError, BlobShreddedError, BlobIntegrityError,
    │                                 VaultCorruptError, VaultWriteError, VaultUnavailableError,
    │                                 VaultKeyMissingError, VaultKeyError (the KEK)
    ├── ProjectionError (lfr.projections)   the views cannot apply the log or use their file
    ├── KernelError (lfr.kernel)      MailboxFullError, AskTimeoutError, ActorCrashedError, ...
    ├── CommandRejected (lfr.kernel)  a domain rule refused a command
    ├── WatchlistError (lfr.watchlist), ModelError (lfr.vision), TransportError, ...
    └── ...                           further layers add their own branch here
    ContractError (schemas)           UnknownEventTypeError, SchemaVersionError: `schemas` may
                                      not import lfr, so catch `ANY_LFR_ERROR` for both roots

Driver errors (sqlite3, nats-py) never leave lfr: each engine translates them once, in one
context manager, into the most specific class here, chained `from exc`. The HTTP API maps
these classes to statuses in one handler (`lfr.api.app`).

Errors carry data (stream, expected, actual, path, position) and say what to do next.
"""

from __future__ import annotations

from schemas.errors import ContractError, SchemaVersionError, UnknownEventTypeError

__all__ = [
    "ANY_LFR_ERROR",
    "ConfigError",
    "ContractError",
    "LfrError",
    "SchemaVersionError",
    "UnavailableError",
    "UnknownEventTypeError",
]


class LfrError(Exception):
    """Base of every error lfr raises on purpose."""


class ConfigError(LfrError):
    """A setting or config file is wrong; the message names it and what to change."""


class UnavailableError(LfrError):
    """A dependency (the log's server or file lock, the vault, a broker) cannot serve right
    now. Nothing was changed; the same request may succeed later. Each layer mixes this into
    its own class, so a caller can retry on it and the API answers 503 to it."""


#: Catch this tuple to handle every deliberate error, including the contract's, which live in
#: `schemas` (it may not import lfr) and so cannot subclass `LfrError`.
ANY_LFR_ERROR: tuple[type[Exception], ...] = (LfrError, ContractError)
