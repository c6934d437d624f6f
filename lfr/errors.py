"""The root of lfr's errors. Each layer defines its own under `LfrError` and draws its tree.

    LfrError
    ├── ConfigError                a setting or site config is wrong (says which and how to fix)
    ├── ContractError (schemas)    UnknownEventTypeError, SchemaVersionError
    ├── StoreError (lfr.store)     ConcurrencyError, CorruptLogError, StoreClosedError, ...
    ├── ModelError (lfr.vision)    a model file missing, wrong or unreadable
    └── ...                        further layers add their own branch here

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
    "UnknownEventTypeError",
]


class LfrError(Exception):
    """Base of every error lfr raises on purpose."""


class ConfigError(LfrError):
    """A setting or config file is wrong; the message names it and what to change."""


#: Catch this tuple to handle every deliberate error, including the contract's, which live in
#: `schemas` (it may not import lfr) and so cannot subclass `LfrError`.
ANY_LFR_ERROR: tuple[type[Exception], ...] = (LfrError, ContractError)
