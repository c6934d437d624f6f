"""Build a small site log for the audit tests, and tamper with it like an attacker would."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lfr.store.checkpoint import load_signing_key
from lfr.store.sqlite import LOG_FILE, SqliteLog
from lfr.testing.logs import synthetic_log


def build_site(
    data_dir: Path,
    n: int = 2500,
    *,
    checkpoint_every: int = 500,
    key: Ed25519PrivateKey | None = None,
) -> Path:
    """A log of `n` synthetic events signed by `key` (default: the session's, from the
    environment), every `checkpoint_every` and at the end."""
    key = key or load_signing_key(data_dir)
    log = SqliteLog(data_dir / LOG_FILE, signing_key=key, checkpoint_every=checkpoint_every)
    for stream, events in synthetic_log(n, batch=200, match_every=60):
        log.append(stream, events)
    log.checkpoint_now()
    log.close()
    return data_dir / LOG_FILE


def tamper(path: Path, *sql: str, params: tuple = ()) -> None:
    """Run SQL on the log with lfr's append-only triggers dropped (what an attacker would do)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for trigger in (
        "events_append_only_u",
        "events_append_only_d",
        "checkpoints_append_only_u",
        "checkpoints_append_only_d",
    ):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in sql:
        conn.execute(statement, params if "?" in statement else ())
    conn.close()


def nats_prefix(stream: str) -> str:
    return "lfrtest." + stream.lower()


async def build_nats_site(
    stream: str,
    n: int = 2500,
    *,
    checkpoint_every: int = 500,
    key: Ed25519PrivateKey | None = None,
) -> None:
    """`build_site` on the local JetStream: the same synthetic events in stream `stream`,
    signed every `checkpoint_every` and at close."""
    from lfr.store.nats import NatsEventStore

    store = await NatsEventStore.open(
        stream_name=stream,
        prefix=nats_prefix(stream),
        signing_key=key,
        checkpoint_every=checkpoint_every,
    )
    try:
        for name, events in synthetic_log(n, batch=200, match_every=60):
            await store.append(name, events)
    finally:
        await store.aclose()


async def delete_nats_stream(stream: str) -> None:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:  # noqa: BLE001 (already gone)
        pass
    finally:
        await nc.close()
