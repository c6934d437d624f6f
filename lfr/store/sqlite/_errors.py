"""The SQLite engine's one translation of sqlite3 errors into the store's (`lfr.store.base`).

Every use of a connection runs inside a `SqliteErrors` block, so no sqlite3 error leaves the
engine. The class is picked from SQLite's primary result code (extended codes keep it in the
low byte), the most specific first, and chained `from exc`; an open transaction is rolled back
first, so the caller may retry at once.

    SQLITE_CONSTRAINT           -> ConcurrencyError       (a (stream, version) or seq taken)
    SQLITE_FULL                 -> StoreWriteError(full)  (the disk or max_page_count)
    SQLITE_IOERR, CANTOPEN,
    READONLY while writing      -> StoreWriteError
    SQLITE_IOERR, CANTOPEN
    while reading               -> StoreUnavailableError
    SQLITE_CORRUPT, NOTADB      -> CorruptLogError
    SQLITE_BUSY, LOCKED         -> StoreUnavailableError  (another process holds the lock)
    a closed connection         -> StoreClosedError
    anything else               -> StoreError
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from lfr.store.base import (
    ConcurrencyError,
    CorruptLogError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    StoreWriteError,
)

__all__ = ["SqliteErrors", "store_error", "translated", "translated_iter"]

_IO = frozenset({sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN})
_CORRUPT = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _primary_code(exc: sqlite3.Error) -> int:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # raised by the sqlite3 module itself, not by SQLite
        return sqlite3.SQLITE_CONSTRAINT if isinstance(exc, sqlite3.IntegrityError) else -1
    return int(code) & 0xFF


def store_error(
    exc: sqlite3.Error,
    path: Path | str,
    *,
    writing: bool = False,
    stream: str | None = None,
    count: int = 0,
    expected: int | None = None,
    actual: int | None = None,
) -> StoreError:
    """The store error that says what `exc` means for the log at `path`.

    `writing` and the batch (`stream`, `count`, `expected`: the version the writer decided
    on, `actual`: the stream's version re-read after the failure) describe the operation.
    """
    code = _primary_code(exc)
    if code == sqlite3.SQLITE_CONSTRAINT:
        if stream is not None:
            return ConcurrencyError(stream, -1 if expected is None else expected, actual)
        return StoreError(f"{path}: SQLite refused a write as a constraint violation ({exc})")
    if code == sqlite3.SQLITE_FULL:
        return StoreWriteError(path, stream, count, str(exc), True)
    if code in _IO or (writing and code == sqlite3.SQLITE_READONLY):
        if writing:
            return StoreWriteError(path, stream, count, str(exc), False)
        return StoreUnavailableError(
            path, str(exc), "check the disk, its mount and the file's permissions, then retry"
        )
    if code in _CORRUPT:
        return CorruptLogError(
            path,
            f"not a readable SQLite database ({exc}); this is not an lfr event log or it is "
            "damaged: restore it from backup, nothing was changed",
        )
    if code in _BUSY:
        return StoreUnavailableError(
            path,
            str(exc),
            "another process holds the log's lock past the busy timeout; retry, or stop the "
            "other writer (one site, one writer)",
        )
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc):
        return StoreClosedError()
    return StoreError(f"{path}: SQLite failed ({type(exc).__name__}: {exc})")


class SqliteErrors:
    """`with SqliteErrors(conn, path): ...` — the translation around one use of `conn`.

    When `writing`, any exception rolls back the open transaction (nothing of the write is
    kept). A sqlite3 error is then raised as `store_error(...)` from it, after re-reading the
    stream's version for a conflict (`stream` given). The batch's fields may be set while the
    block runs (`expected` once the writer has read the version).
    """

    __slots__ = ("conn", "count", "expected", "path", "stream", "writing")

    def __init__(
        self,
        conn: sqlite3.Connection | None,
        path: Path | str,
        *,
        writing: bool = False,
        stream: str | None = None,
        count: int = 0,
        expected: int | None = None,
    ) -> None:
        self.conn = conn
        self.path = path
        self.writing = writing
        self.stream = stream
        self.count = count
        self.expected = expected

    def __enter__(self) -> SqliteErrors:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        conn = self.conn
        if conn is not None and self.writing:  # a read leaves a reader's snapshot alone
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        if not isinstance(exc, sqlite3.Error):
            return
        actual: int | None = None
        if conn is not None and self.stream is not None:
            if _primary_code(exc) == sqlite3.SQLITE_CONSTRAINT:
                with contextlib.suppress(sqlite3.Error):
                    row = conn.execute(
                        "SELECT max(stream_version) FROM events WHERE stream=?", (self.stream,)
                    ).fetchone()
                    actual = int(row[0] or 0)
        raise store_error(
            exc,
            self.path,
            writing=self.writing,
            stream=self.stream,
            count=self.count,
            expected=self.expected,
            actual=actual,
        ) from exc


class _OnLog(Protocol):
    path: Path
    _conn: sqlite3.Connection


_L = TypeVar("_L", bound=_OnLog)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def translated(method: Callable[Concatenate[_L, _P], _R]) -> Callable[Concatenate[_L, _P], _R]:
    """A reading method of a log whose sqlite3 errors leave as store errors."""

    @functools.wraps(method)
    def wrapper(self: _L, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with SqliteErrors(self._conn, self.path):
            return method(self, *args, **kwargs)

    return wrapper


def translated_iter(
    method: Callable[Concatenate[_L, _P], Iterator[_R]],
) -> Callable[Concatenate[_L, _P], Iterator[_R]]:
    """`translated` for a generator method: the translation spans the whole iteration."""

    @functools.wraps(method)
    def wrapper(self: _L, /, *args: _P.args, **kwargs: _P.kwargs) -> Iterator[_R]:
        with SqliteErrors(self._conn, self.path):
            yield from method(self, *args, **kwargs)

    return wrapper
