"""The embedded engine: one SQLite file per site, WAL, `synchronous=FULL`, one writer.

`SqliteLog` (`_log`) is the synchronous core (one connection, used by one thread at a time):
the audit CLI reads with it directly. `SqliteEventStore` (`_store`) is the async `EventStore`
over two of them — a writer and a reader. The rest is private, one concept a module: the file
layout (`_schema`), opening and format checks (`_open`), rows and their inserts (`_rows`),
signed checkpoints and WAL settings (`_checkpoints`), the helper threads that take SQLite's
own work off the appending thread (`_threads`), and the one translation of sqlite3 errors
into the store's (`_errors`).

Triggers refuse UPDATE and DELETE, so only someone bypassing lfr can alter a row — and
`lfr audit verify` then names it.
"""

from lfr.store.sqlite._log import SqliteLog
from lfr.store.sqlite._schema import DEFAULT_CHECKPOINT_EVERY, KEY_FILE, LOG_FILE
from lfr.store.sqlite._store import SqliteEventStore, open_store

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "KEY_FILE",
    "LOG_FILE",
    "SqliteEventStore",
    "SqliteLog",
    "open_store",
]
