"""The SQLite engine's two helper threads: one runs the big multi-row inserts while the
appending thread encodes the next rows, one copies the write-ahead log into the database file.

SQLite releases the GIL while it executes a statement, so both overlap with Python work on
the other core. Neither thread ever decides what is written: the inserter runs the statement
it is handed on the writer's own connection (the writer waits for it before it touches the
connection again), and the checkpointer only moves committed pages from the WAL into the
main file, as SQLite's automatic checkpoint would, off the append's critical path.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

__all__ = ["Inserter", "WalCheckpointer"]


class Inserter:
    """A thread that runs one statement at a time on a connection the caller leaves alone
    until `wait` returns (so the connection is still used by one thread at a time)."""

    def __init__(self) -> None:
        self.busy = False
        self._todo: queue.SimpleQueue[tuple[sqlite3.Connection, str, list[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._started: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="lfr-sqlite-insert", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._todo.get()) is not None:
            self._started.put(None)
            self._done.put(self._execute(*job))
            del job  # idle, the thread holds no connection (nor rows)

    @staticmethod
    def _execute(conn: sqlite3.Connection, sql: str, params: list[Any]) -> BaseException | None:
        try:
            conn.execute(sql, params)
        except BaseException as exc:  # handed to the caller in `wait`
            return exc
        return None

    def submit(self, conn: sqlite3.Connection, sql: str, params: list[Any]) -> None:
        """Start `sql` (after `wait` for the one before); returns once the thread has it and
        is about to let go of the GIL, so this thread and SQLite then run side by side."""
        self.busy = True
        self._todo.put((conn, sql, params))
        self._started.get()

    def wait(self) -> None:
        """Wait for the submitted statement, if any; raise what it raised."""
        if self.busy:
            error = self._done.get()
            self.busy = False
            if error is not None:
                raise error

    def drain(self) -> None:
        """`wait`, its error dropped (the caller is raising another)."""
        with contextlib.suppress(Exception):
            self.wait()

    def stop(self) -> None:
        self._todo.put(None)

    def close(self) -> None:
        self.stop()
        self._thread.join()


class WalCheckpointer:
    """Copies the WAL into the database file on its own connection, at most every
    `interval_s`, after the writer says it committed (`committed`).

    A PASSIVE checkpoint never blocks the writer or a reader; once it has copied every frame,
    the writer's next transaction starts the WAL from its beginning again. The writer keeps
    SQLite's own automatic checkpoint on, at a large size (`_schema.WAL_FALLBACK_PAGES`), as
    the bound: should this thread fall behind or fail, the WAL still cannot grow past it.
    Errors are kept in `last_error` (a checkpoint can be retried; nothing committed depends
    on it)."""

    def __init__(self, path: Path, *, interval_s: float = 0.05) -> None:
        self.path = path
        self.interval_s = interval_s
        self.checkpoints = 0
        self.last_error: BaseException | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lfr-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=10000")
            while True:
                self._wake.wait()
                if self._stopping.is_set():
                    return
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    self.last_error = exc
                self._stopping.wait(self.interval_s)  # coalesce the commits of the meantime
        except sqlite3.Error as exc:
            self.last_error = exc
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def close(self) -> None:
        self.stop()
        self._thread.join()
