"""Errors of the contract layer.

    ContractError (ValueError)
    ├── UnknownEventTypeError   a stored `type` no model is registered for
    └── SchemaVersionError      a stored `schema_version` newer than this code, or no upcaster path

`lfr.errors` re-exports these under its `LfrError` tree, so callers catch one hierarchy.
"""

__all__ = ["ContractError", "SchemaVersionError", "UnknownEventTypeError"]


class ContractError(ValueError):
    """An event or envelope does not fit the contract."""


class UnknownEventTypeError(ContractError):
    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        super().__init__(
            f"unknown event type {type_name!r}: this lfr does not know it; "
            "upgrade lfr or check that the log belongs to lfr"
        )


class SchemaVersionError(ContractError):
    def __init__(self, type_name: str, version: int, known: int) -> None:
        self.type_name = type_name
        self.version = version
        self.known = known
        super().__init__(
            f"{type_name} has schema_version {version} but this lfr knows up to {known}: "
            "upgrade lfr before reading this log"
        )
