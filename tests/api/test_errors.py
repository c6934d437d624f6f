"""The API answers lfr's errors by class, once (`lfr.api.errors`): 4xx for what the caller can
fix, 503 with Retry-After for an unavailable dependency (a full disk included: nothing was
written and the request may be retried), 500 for our own faults."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lfr.api.audit_log import EventNotFoundError, NotProvableError
from lfr.api.auth import AuthError, Role
from lfr.errors import ConfigError, LfrError
from lfr.kernel.errors import (
    ActorCrashedError,
    ActorStoppedError,
    AskTimeoutError,
    CommandRejected,
    MailboxFullError,
    UnknownActorError,
)
from lfr.projections import ProjectionError
from lfr.store.base import (
    ConcurrencyError,
    CorruptLogError,
    IdempotencyError,
    StoreClosedError,
    StoreUnavailableError,
    StoreWriteError,
)
from lfr.transport.sink import DeliveryPendingError
from lfr.vault import (
    BlobIntegrityError,
    BlobNotFoundError,
    BlobShreddedError,
    VaultCorruptError,
    VaultUnavailableError,
    VaultWriteError,
)
from lfr.vision.errors import EnrolmentError, ModelError
from lfr.watchlist.errors import EntryNotFoundError, WatchlistError
from schemas.errors import UnknownEventTypeError

CHECK_IN = {"zone": "north-end", "officers": ["PC A"]}
VAULT = Path("/srv/lfr/vault/keys.sqlite")


async def test_a_full_disk_during_a_write_answers_503_and_writes_nothing(api) -> None:
    """SQLite's page limit fails the append as a full disk does: 503 with Retry-After and the
    store's advice, never a 400; the refused check-in left no event behind."""
    writer = api.store._writer._conn
    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count={pages}")
    headers = api.headers(Role.SUPERVISOR)
    for i in range(500):
        before = await api.store.last_seq()
        r = await api.client.post(f"/api/patrols/p-{i}/check-in", json=CHECK_IN, headers=headers)
        if r.status_code != 204:
            break
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "StoreWriteError" and "free space" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) > 0
    assert await api.store.last_seq() == before
    writer.execute("PRAGMA max_page_count=1073741823")
    r = await api.client.post("/api/patrols/p-x/check-in", json=CHECK_IN, headers=headers)
    assert r.status_code == 204


async def test_an_unavailable_store_answers_503(api) -> None:
    """Another process holds the log's write lock past the busy timeout."""
    api.store._writer._conn.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(api.store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        r = await api.client.post(
            "/api/patrols/p-7/check-in", json=CHECK_IN, headers=api.headers(Role.SUPERVISOR)
        )
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "StoreUnavailableError" and "Retry-After" in r.headers
    finally:
        other.execute("ROLLBACK")
        other.close()


_CASES: list[tuple[Exception, int]] = [
    (AuthError("bad token"), 401),
    (CommandRejected("zone:north-end", "not_on_duty", "the patrol is not on duty"), 409),
    (ConcurrencyError("zone:north-end", 3, 4), 409),
    (IdempotencyError("e-1", 7), 409),
    (NotProvableError("not yet in a signed checkpoint"), 409),
    (EventNotFoundError("no event e-1"), 404),
    (UnknownActorError("zone:nowhere", ["zone:north-end"]), 404),
    (BlobNotFoundError("ab12", VAULT), 404),
    (EntryNotFoundError("wanted", "e-1"), 404),
    (BlobShreddedError("ab12", "2026-11-26T12:00:00+00:00", "purged"), 410),
    (EnrolmentError("photo.jpg", "no face found"), 422),
    (WatchlistError("entry id must match"), 422),
    (UnknownEventTypeError("Nope"), 422),
    (StoreUnavailableError("nats:LFR", "NoServersError", "is the server up?"), 503),
    (StoreWriteError("events.sqlite", "zone:a", 1, "database or disk is full", True), 503),
    (StoreClosedError(), 503),
    (VaultUnavailableError(VAULT, "database is locked"), 503),
    (VaultWriteError(VAULT, "disk full", full=True), 503),
    (DeliveryPendingError("a-1", 2.0), 503),
    (MailboxFullError("zone:north-end", 64), 503),
    (AskTimeoutError("zone:north-end", "CheckIn", 5.0), 503),
    (ActorStoppedError("zone:north-end"), 503),
    (ModelError("the model pack is missing"), 503),
    (ActorCrashedError("zone:north-end", "KeyError"), 500),
    (CorruptLogError("events.sqlite", "the chain is broken", 12), 500),
    (VaultCorruptError(VAULT, "file is not a database"), 500),
    (BlobIntegrityError("ab12", "ciphertext fails authentication"), 500),
    (ProjectionError("views.sqlite", None, "the views database failed"), 500),
    (ConfigError("oidc_issuer is set but oidc_jwks_url is not"), 500),
    (LfrError("something lfr did not expect"), 500),
]


@pytest.mark.parametrize(("error", "status"), _CASES, ids=[type(e).__name__ for e, _ in _CASES])
async def test_each_error_class_answers_its_status(api, error: Exception, status: int) -> None:
    async def boom() -> None:
        raise error

    api.app.add_api_route("/boom", boom)
    r = await api.client.get("/boom")
    assert r.status_code == status, r.text
    body = r.json()
    # the message as lfr wrote it, but no path on the server (lfr.api.errors.public_detail)
    assert body["error"] == type(error).__name__
    assert body["detail"] == str(error).replace(str(VAULT), "<path>/keys.sqlite")
    assert "/srv/" not in body["detail"]
    assert ("Retry-After" in r.headers) == (status == 503 and not isinstance(error, ModelError))
    if status == 401:
        assert r.headers["WWW-Authenticate"] == "Bearer"
    if isinstance(error, CommandRejected):
        assert body["code"] == error.code
