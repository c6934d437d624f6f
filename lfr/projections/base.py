"""What a projection is: a set of tables in the views database and a function folding a batch
of log records into them, inside the projector's transaction.

Projections consume *records* — the stored envelope as a dict (times as text, payload as a
dict), exactly what `lfr.store.hashchain.record_of_envelope` gives — not pydantic models, so a
replay runs at hundreds of thousands of events a second. Anything they keep between batches
must live in their tables: a rebuilt view must equal the live one whatever the batch sizes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from lfr.errors import LfrError

__all__ = ["Projection", "ProjectionError", "Record"]

Record = dict[str, Any]


class ProjectionError(LfrError):
    """The log holds something the views cannot apply; names the source and the position."""

    def __init__(self, source: str, seq: int | None, what: str) -> None:
        self.source = source
        self.seq = seq
        where = f"{source} at seq {seq}" if seq is not None else source
        super().__init__(f"{where}: {what}")


class Projection(Protocol):
    """One view: its tables, how a batch of records changes them, and its canonical rows."""

    name: str

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create the view's tables (idempotent)."""
        ...

    def apply(self, conn: sqlite3.Connection, records: Sequence[Record]) -> None:
        """Fold `records` (consecutive, in seq order) into the tables; no commit."""
        ...

    def state_rows(self, conn: sqlite3.Connection) -> Iterable[tuple[Any, ...]]:
        """Every row of the view in a fixed order, for the state hash."""
        ...
