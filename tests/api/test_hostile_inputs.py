"""Hostile input at the API's doors (issue 15, "Inputs bounded"): a watchlist entry's expiry is
bounded by policy (31 days; the year 9999 refused) with a 422 that names the limit; a read of
an unknown watchlist is a 404 that creates nothing; and no error body names a file on the
server (the data or temp directory, the vault's key store) or a URL's credentials."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import pytest

from lfr.api.app import create_app
from lfr.api.auth import AuthConfig, Role, TokenIssuer, TokenVerifier, load_or_create_api_key
from lfr.api.errors import places, public_detail
from lfr.api.watchlists import StoreWatchlistService
from lfr.store.base import StoreUnavailableError
from lfr.store.sqlite import SqliteEventStore
from lfr.vault import BiometricVault, VaultCorruptError
from schemas.events import BiometricRef
from tests.api.test_alerts import officer, setup

ENTRY = {
    "label": "Case 7",
    "category": "suspect",
    "legal_basis": "PACE",
    "image_source": "custody record 123",
    "images_base64": ["aGVsbG8="],
}


@pytest.fixture
async def wl_api(tmp_path: Path):
    """Watchlists without face models: every request here is refused before enrolment."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite")
    vault = await BiometricVault.open(tmp_path)
    key = await anyio.to_thread.run_sync(load_or_create_api_key, tmp_path)
    service = StoreWatchlistService(tmp_path / "watchlists", store=store, vault=vault)
    app = await anyio.to_thread.run_sync(
        lambda: create_app(
            store=store,
            verifier=TokenVerifier(AuthConfig(), key.public_key()),
            data_dir=tmp_path,
            watchlists_service=service,
            vault=vault,
        )
    )
    token = TokenIssuer(key).issue("DS Reed 12", Role.WATCHLIST_MANAGER)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://lfr.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client, store, tmp_path
    vault.close()
    await store.aclose()


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize(
    "expires_at",
    [
        (datetime.now(UTC) + timedelta(days=32)).isoformat(),
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59.999999+00:00",
    ],
    ids=["32 days", "year 9999", "the last instant"],
)
async def test_an_expiry_beyond_the_policy_is_a_422_naming_the_limit(wl_api, expires_at):
    client, store, root = wl_api
    r = await client.post("/api/watchlists/town/entries", json=ENTRY | {"expires_at": expires_at})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "ExpiryTooFarError"
    assert "at most 31 days" in body["detail"]
    assert await store.read_all() == []  # nothing logged
    assert not (root / "watchlists").exists()  # nothing stored


async def test_a_read_of_an_unknown_watchlist_is_a_404_and_creates_nothing(wl_api):
    client, _, root = wl_api
    before = _files(root)
    for name in ("ghost", "town", "a.b-c_9"):
        r = await client.get(f"/api/watchlists/{name}/entries")
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "WatchlistNotFoundError" and name in r.json()["detail"]
    assert _files(root) == before
    assert not (root / "watchlists").exists()


async def test_a_read_next_to_a_real_watchlist_writes_nothing(wl_api):
    """With the LanceDB directory already there (another list in it), a read of an unknown
    list adds no table, file or folder."""
    from lfr.watchlist import WatchlistStore
    from tests.watchlist.test_bounds import _entry

    client, _, root = wl_api
    await anyio.to_thread.run_sync(
        lambda: WatchlistStore(root / "watchlists", "town").add(
            _entry(datetime.now(UTC) + timedelta(days=1))
        )
    )
    before = _files(root / "watchlists")
    assert (await client.get("/api/watchlists/town/entries")).status_code == 200
    assert (await client.get("/api/watchlists/ghost/entries")).status_code == 404
    assert _files(root / "watchlists") == before


def _no_paths(body: str, *dirs: Path) -> None:
    assert "/tmp/" not in body and "/srv/" not in body
    for d in dirs:
        assert str(d) not in body and str(d.resolve()) not in body


async def test_a_full_disk_names_no_path(api) -> None:
    writer = api.store._writer._conn
    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count={pages}")
    headers = api.headers(Role.SUPERVISOR)
    try:
        for i in range(500):
            r = await api.client.post(
                f"/api/patrols/p-{i}/check-in",
                json={"zone": "north-end", "officers": ["PC A"]},
                headers=headers,
            )
            if r.status_code != 204:
                break
    finally:
        writer.execute("PRAGMA max_page_count=1073741823")
    assert r.status_code == 503, r.text
    assert "free space" in r.json()["detail"]
    _no_paths(r.text, api.data_dir)


async def test_a_missing_blob_names_no_path(api) -> None:
    ghost = BiometricRef(blob_id="0" * 32, kind="alert_crop", sha256="0" * 64)
    alert_id = await setup(api, crop_ref=ghost)
    r = await api.client.get(f"/api/alerts/{alert_id}/images/crop", headers=officer(api, "PC A"))
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "BlobNotFoundError" and "<data dir>" in r.json()["detail"]
    _no_paths(r.text, api.data_dir)


async def test_a_corrupt_vault_names_no_path(api, monkeypatch) -> None:
    crop = await api.vault.put(b"\xff\xd8 crop", "alert_crop")
    alert_id = await setup(api, crop_ref=crop)
    db = api.data_dir / "vault" / "keys.sqlite"

    async def corrupt(ref: object) -> bytes:  # what the vault raises on a garbled key store
        raise VaultCorruptError(db, "file is not a database")

    monkeypatch.setattr(api.vault, "get", corrupt)
    r = await api.client.get(f"/api/alerts/{alert_id}/images/crop", headers=officer(api, "PC A"))
    assert r.status_code == 500, r.text
    assert r.json()["detail"].startswith("<data dir>/vault/keys.sqlite: not a readable vault")
    _no_paths(r.text, api.data_dir)


async def test_a_locked_log_names_no_path(api) -> None:
    api.store._writer._conn.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(api.store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        r = await api.client.post(
            "/api/patrols/p-7/check-in",
            json={"zone": "north-end", "officers": ["PC A"]},
            headers=api.headers(Role.SUPERVISOR),
        )
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert r.status_code == 503, r.text
    _no_paths(r.text, api.data_dir)


async def test_a_url_in_an_error_loses_its_credentials(api) -> None:
    async def boom() -> None:
        raise StoreUnavailableError("nats://lfr:s3cret@10.0.0.5:4222", "NoServersError", "up?")

    api.app.add_api_route("/boom", boom)
    r = await api.client.get("/boom")
    assert r.status_code == 503 and "s3cret" not in r.text and "10.0.0.5:4222" in r.text


@pytest.mark.parametrize(
    ("message", "public"),
    [
        ("the vault at /srv/lfr/vault/keys.sqlite is locked", "the vault at <path>/keys.sqlite"),
        ("{d}/vault/keys.sqlite: corrupt", "<data dir>/vault/keys.sqlite: corrupt"),
        ("see /api/watchlists/town/entries", "see /api/watchlists/town/entries"),
        ("a ratio 1/2 and https://push.example/a/b", "a ratio 1/2 and https://push.example/a/b"),
        ("rtsp://admin:hunter2@cam/stream1", "rtsp://cam/stream1"),
    ],
)
def test_public_detail(tmp_path: Path, message: str, public: str) -> None:
    named = places(tmp_path)
    assert public_detail(message.format(d=tmp_path), named).startswith(public)
