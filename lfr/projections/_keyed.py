"""One row per key holding a frozen view model as JSON: the shape of the small views (zones,
patrols, cameras), whose rows change a few times a day and are read whole.

A batch is folded in memory (each key loaded at most once) and written once at its end, so a
rebuilt view equals the live one whatever the batch sizes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from lfr.projections.base import Record

__all__ = ["KeyedProjection", "occurred_at"]

_M = TypeVar("_M", bound=BaseModel)


def occurred_at(record: Record) -> datetime:
    """The record's `occurred_at` (stored as ISO 8601 text) as a datetime."""
    return datetime.fromisoformat(record["occurred_at"])


class KeyedProjection(Generic[_M]):
    """Base of a view keyed by one id; subclasses say which types they read and how a record
    changes the current row (`fold`, a pure function of the row and the record)."""

    name: str
    model: type[_M]
    types: frozenset[str]

    def key_of(self, record: Record) -> str:
        raise NotImplementedError

    def fold(self, current: _M | None, record: Record) -> _M | None:
        """The row after `record` (None: leave the row as it is)."""
        raise NotImplementedError

    def setup(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.name} (key TEXT PRIMARY KEY, row TEXT NOT NULL)"
        )

    def apply(self, conn: sqlite3.Connection, records: Sequence[Record]) -> None:
        changed: dict[str, _M] = {}
        for rec in records:
            if rec["type"] not in self.types:
                continue
            key = self.key_of(rec)
            current = changed.get(key) or self.get(conn, key)
            new = self.fold(current, rec)
            if new is not None:
                changed[key] = new
        if changed:
            conn.executemany(
                f"INSERT OR REPLACE INTO {self.name} VALUES (?, ?)",
                [(k, m.model_dump_json()) for k, m in changed.items()],
            )

    def state_rows(self, conn: sqlite3.Connection) -> Iterable[tuple[Any, ...]]:
        yield from conn.execute(f"SELECT key, row FROM {self.name} ORDER BY key")

    def get(self, conn: sqlite3.Connection, key: str) -> _M | None:
        row = conn.execute(f"SELECT row FROM {self.name} WHERE key=?", (key,)).fetchone()
        return None if row is None else self.model.model_validate_json(row[0])

    def list(self, conn: sqlite3.Connection) -> list[_M]:
        rows = conn.execute(f"SELECT row FROM {self.name} ORDER BY key")
        return [self.model.model_validate_json(r[0]) for r in rows]
