"""Watchlists over HTTP on the real store of record, enrolled with the real face models."""

import base64
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest

from lfr.api.app import create_app
from lfr.api.auth import AuthConfig, Role, TokenIssuer, TokenVerifier, load_or_create_api_key
from lfr.api.watchlists import StoreWatchlistService
from lfr.config import settings
from lfr.sealing import Sealer
from lfr.store.sqlite import SqliteEventStore
from lfr.vault import BiometricVault
from schemas.events import WatchlistEntryAdded

pytestmark = pytest.mark.models


@pytest.fixture
async def wl_api(tmp_path):
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
    issuer = TokenIssuer(key)
    headers = {"Authorization": "Bearer " + issuer.issue("DS Reed 12", Role.WATCHLIST_MANAGER)}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lfr.test", headers=headers
    ) as client:
        yield client, store, vault
    vault.close()
    await store.aclose()


def photo(person: str, n: int = 0) -> str:
    paths = sorted((settings().faces_dir / person).iterdir())
    return base64.b64encode(paths[n].read_bytes()).decode()


def entry_body(label: str, photo_no: int) -> dict:
    return {
        "label": label,
        "category": "wanted_by_police",
        "legal_basis": "PACE s.24",
        "image_source": "custody image 2026/123",
        "expires_at": (datetime.now(UTC) + timedelta(hours=20)).isoformat(),
        "images_base64": [photo("Barack_Obama", photo_no)],
    }


async def test_add_list_publish_remove(wl_api):
    client, store, vault = wl_api
    expires = (datetime.now(UTC) + timedelta(hours=20)).isoformat()
    body = {
        "label": "Case 4711",
        "category": "wanted_by_police",
        "legal_basis": "PACE s.24",
        "image_source": "custody image 2026/123",
        "expires_at": expires,
        "images_base64": [photo("Barack_Obama", 0), photo("Barack_Obama", 1)],
    }
    r = await client.post("/api/watchlists/town/entries", json=body)
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["photos"] == 2 and entry["added_by"] == "DS Reed 12"
    listed = (await client.get("/api/watchlists/town/entries")).json()
    assert [e["entry_id"] for e in listed] == [entry["entry_id"]]
    r = await client.post("/api/watchlists/town/publish")
    assert r.status_code == 200 and len(r.json()["watchlist_version"]) >= 16
    r = await client.request(
        "DELETE", f"/api/watchlists/town/entries/{entry['entry_id']}", json={"reason": "arrested"}
    )
    assert r.status_code == 204
    r = await client.request(
        "DELETE", f"/api/watchlists/town/entries/{entry['entry_id']}", json={"reason": "again"}
    )
    assert r.status_code == 404
    r = await client.post("/api/watchlists/town/publish")
    assert r.status_code == 409
    events = await Sealer(vault).open([e.decode() for e in await store.read_all()])
    assert [type(e).__name__ for e in events] == [
        "WatchlistEntryAdded",
        "WatchlistPublished",
        "WatchlistEntryRemoved",
    ]
    assert await vault.get(events[0].image_ref) == base64.b64decode(body["images_base64"][0])


async def test_a_photo_without_a_face_is_a_clear_422(wl_api):
    client, _, _ = wl_api
    blank = base64.b64encode(b"not an image at all").decode()
    r = await client.post(
        "/api/watchlists/town/entries",
        json={
            "label": "X",
            "category": "suspect",
            "legal_basis": "PACE",
            "image_source": "n/a",
            "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "images_base64": [blank],
        },
    )
    assert r.status_code == 422 and "cannot enrol" in r.json()["detail"]


@pytest.mark.blocking_ok("the test body runs a CLI or reads files directly")
async def test_purging_the_last_version_holding_a_removed_entry_shreds_its_photo(wl_api, tmp_path):
    from lfr.catalog import WatchlistStoreCatalog
    from lfr.vault import BlobShreddedError
    from lfr.watchlist import WatchlistStore

    client, store, vault = wl_api
    entries = []
    for i in range(2):
        r = await client.post("/api/watchlists/town/entries", json=entry_body(f"Case {i}", i))
        assert r.status_code == 201, r.text
        entries.append(r.json()["entry_id"])
    r = await client.post("/api/watchlists/town/publish")
    version = r.json()["watchlist_version"]
    removed, kept = entries
    r = await client.request(
        "DELETE", f"/api/watchlists/town/entries/{removed}", json={"reason": "arrested"}
    )
    assert r.status_code == 204
    logged = [env.decode() for env in await store.read_all()]
    refs = {  # the photo refs are sealed in the log: opened with the vault's keys
        e.entry_id: e.image_ref.blob_id
        for e in await Sealer(vault).open(logged)
        if isinstance(e, WatchlistEntryAdded) and e.image_ref is not None
    }
    assert await vault.exists(refs[removed])  # the published version still holds it

    catalog = WatchlistStoreCatalog(WatchlistStore(tmp_path / "watchlists", "town"), vault=vault)
    erased = await catalog.purge(version)

    assert erased.refs == 3 and erased.photos == 1  # two templates, the removed photo
    assert not await vault.exists(refs[removed])
    with pytest.raises(BlobShreddedError):
        await vault.get(refs[removed])
    assert await vault.exists(refs[kept])  # still on the live list: a later version needs it


async def test_removing_an_entry_no_version_holds_shreds_its_photo_at_once(wl_api):
    client, store, vault = wl_api
    r = await client.post("/api/watchlists/town/entries", json=entry_body("Case 9", 0))
    entry_id = r.json()["entry_id"]
    (added,) = await Sealer(vault).open([env.decode() for env in await store.read_all()])
    assert await vault.exists(added.image_ref.blob_id)
    r = await client.request(
        "DELETE", f"/api/watchlists/town/entries/{entry_id}", json={"reason": "entered in error"}
    )
    assert r.status_code == 204
    assert not await vault.exists(added.image_ref.blob_id)  # never published: nothing keeps it


async def test_every_accepted_photo_is_enrolled_and_refused_ones_are_reported(wl_api):
    client, store, vault = wl_api
    two_people = settings().shared / "scenes" / "face_recognition_two_people.jpg"
    body = entry_body("Case 77", 0)
    body["images_base64"] = [
        base64.b64encode(two_people.read_bytes()).decode(),  # no clear subject: refused
        photo("Barack_Obama", 1),
        photo("Barack_Obama", 2),
    ]
    r = await client.post("/api/watchlists/town/entries", json=body)
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["photos"] == 2
    (refused,) = entry["photos_refused"]
    assert refused.startswith("photo 1 of 3: ") and "give that person's box" in refused
    (added,) = await Sealer(vault).open([env.decode() for env in await store.read_all()])
    assert added.photos == 2 and added.photo_sources == ("photo 2 of 3", "photo 3 of 3")
    # the reference photo officers see is an accepted one, not the refused group photo
    assert await vault.get(added.image_ref) == base64.b64decode(body["images_base64"][1])
    listed = (await client.get("/api/watchlists/town/entries")).json()
    assert [e["photos"] for e in listed] == [2]


async def test_no_photo_with_a_clear_subject_is_a_422_naming_each(wl_api):
    client, _, _ = wl_api
    two_people = settings().shared / "scenes" / "face_recognition_two_people.jpg"
    body = entry_body("Case 78", 0)
    body["images_base64"] = [
        base64.b64encode(two_people.read_bytes()).decode(),
        base64.b64encode(b"not an image").decode(),
    ]
    r = await client.post("/api/watchlists/town/entries", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "photo 1 of 2" in detail and "photo 2 of 2" in detail and "lfr-enrol" not in detail
