"""`WatchlistService` on real photos: the log first, photos in the vault, recovery after a
crash between the log and the store, and labels read without any template."""

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import lancedb.query
import lancedb.table
import pytest

from lfr.catalog import WatchlistStoreCatalog
from lfr.config import settings
from lfr.store.sqlite import SqliteEventStore
from lfr.vault import BiometricVault
from lfr.vision.pipeline import FacePipeline
from lfr.watchlist import Photo, WatchlistService, WatchlistStore
from lfr.watchlist._pending import Settler

pytestmark = pytest.mark.models

WHO = {
    "category": "wanted_by_police",
    "legal_basis": "PACE s.24",
    "added_by": "DS Reed 12",
}


async def _logged(log, vault):
    """The watchlist's events with their sealed fields (who, the photo's ref) opened."""
    from lfr.sealing import Sealer

    return await Sealer(vault).open([e.decode() for e in await log.read_stream("watchlist:town")])


def _photos(person: str, *numbers: int) -> list[Photo]:
    return [Photo.file(settings().faces_dir.resolve() / person / f"{n}.jpg") for n in numbers]


def _expires() -> datetime:
    return datetime.now(UTC) + timedelta(days=2)


class RefusingLog:
    """The site's log, refusing every append (a full disk, a lost NATS quorum)."""

    def __init__(self, log: SqliteEventStore) -> None:
        self._log = log

    async def append(self, *args, **kwargs):
        raise OSError("no space left on device")

    def __getattr__(self, name):
        return getattr(self._log, name)


@pytest.fixture
async def site(tmp_path: Path):
    log = await SqliteEventStore.open(tmp_path / "events.sqlite")
    vault = await BiometricVault.open(tmp_path)
    yield tmp_path, log, vault
    vault.close()
    await log.aclose()


def _service(site, pipeline: FacePipeline, log=None) -> WatchlistService:
    root, real_log, vault = site
    return WatchlistService(root / "watchlist", log=log or real_log, vault=vault, pipeline=pipeline)


async def _types(log: SqliteEventStore, watchlist: str = "town") -> list[str]:
    return [e.type for e in await log.read_stream(f"watchlist:{watchlist}")]


def _readable_blobs(root: Path) -> int:
    with sqlite3.connect(root / "vault" / "keys.sqlite") as db:
        return db.execute("SELECT count(*) FROM keys WHERE key IS NOT NULL").fetchone()[0]


async def test_every_change_is_logged_and_the_photo_is_kept(site, pipeline):
    root, log, vault = site
    service = _service(site, pipeline)
    photos = _photos("Barack_Obama", 1, 2)
    added = await service.add_person("town", photos, label="Case 1", expires_at=_expires(), **WHO)
    assert added.entry.photos == 2 and added.refused == ()
    pub = await service.publish("town", published_by="Insp 2")
    again = await service.publish("town", published_by="Insp 2")
    assert again.reused and again.version == pub.version  # unchanged: nothing logged
    await service.remove("town", added.entry.entry_id, removed_by="Insp 2", reason="arrested")
    assert await _types(log) == [
        "WatchlistEntryAdded",
        "WatchlistPublished",
        "WatchlistEntryRemoved",
    ]
    first, published, _ = await _logged(log, vault)
    assert await vault.get(first.image_ref) == photos[0].path.read_bytes()
    assert published.watchlist_version == pub.version and published.valid_until == pub.valid_until
    assert await vault.exists(first.image_ref)  # the published version still holds it
    assert not list((root / "watchlist" / ".pending").glob("*.json"))


async def test_a_change_the_log_refuses_is_not_made(site, pipeline):
    root, log, _ = site
    refusing = _service(site, pipeline, RefusingLog(log))
    with pytest.raises(OSError, match="no space"):
        await refusing.add_person(
            "town", _photos("Joe_Biden", 1), label="Case 2", expires_at=_expires(), **WHO
        )
    assert await refusing.entries("town") == []
    assert _readable_blobs(root) == 0  # the photo put in the vault for it is shredded
    service = _service(site, pipeline)
    added = await service.add_person(
        "town", _photos("Joe_Biden", 1), label="Case 2", expires_at=_expires(), **WHO
    )
    with pytest.raises(OSError):
        await refusing.remove("town", added.entry.entry_id, removed_by="PC 1", reason="r")
    with pytest.raises(OSError):
        await refusing.publish("town", published_by="PC 1")
    assert [e.entry_id for e in await service.entries("town")] == [added.entry.entry_id]
    assert await service.publications("town") == []
    assert await _types(log) == ["WatchlistEntryAdded"]
    assert not list((root / "watchlist" / ".pending").glob("*.json"))


@pytest.fixture
def crash(monkeypatch):
    """Make `method` of WatchlistStore fail as if the process died right after the log
    append: the failing write raises and nothing settles it before the next start."""

    def arm(method: str) -> None:
        def died(*args, **kwargs):
            raise RuntimeError("killed")

        async def no_settling(self, wl, intent):
            pass

        monkeypatch.setattr(WatchlistStore, method, died)
        monkeypatch.setattr(Settler, "settle", no_settling)

    return arm


async def test_a_logged_add_never_stored_is_undone_in_the_open(site, pipeline, crash, monkeypatch):
    root, log, vault = site
    crash("add")
    with pytest.raises(RuntimeError):
        await _service(site, pipeline).add_person(
            "town", _photos("John_Simm", 1), label="J S", expires_at=_expires(), **WHO
        )
    monkeypatch.undo()
    assert await _types(log) == ["WatchlistEntryAdded"]
    (added,) = await _logged(log, vault)
    assert await vault.exists(added.image_ref)

    restarted = _service(site, pipeline)
    assert await restarted.recover() == 1
    assert await restarted.recover() == 0
    assert await _types(log) == ["WatchlistEntryAdded", "WatchlistEntryRemoved"]
    undo = (await log.read_stream("watchlist:town"))[-1].decode()
    assert undo.entry_id == added.entry_id and undo.removed_by == "lfr (recovery)"
    assert not await vault.exists(added.image_ref)
    assert await restarted.entries("town") == []


async def test_a_logged_removal_is_finished_by_the_next_change(site, pipeline, crash, monkeypatch):
    _, log, vault = site
    service = _service(site, pipeline)
    added = await service.add_person(
        "town", _photos("John_Simm", 1), label="J S", expires_at=_expires(), **WHO
    )
    crash("discard")
    with pytest.raises(RuntimeError):
        await service.remove("town", added.entry.entry_id, removed_by="PC 1", reason="error")
    monkeypatch.undo()
    store = await anyio.to_thread.run_sync(lambda: WatchlistStore(site[0] / "watchlist", "town"))
    assert len(await anyio.to_thread.run_sync(store.listing)) == 1  # logged, not yet done
    # no explicit recover(): reading the list settles what was left first
    assert await _service(site, pipeline).entries("town") == []
    assert await _types(log) == ["WatchlistEntryAdded", "WatchlistEntryRemoved"]
    (first, _) = await _logged(log, vault)
    assert not await vault.exists(first.image_ref)  # never published: shredded at once


async def test_a_logged_publication_is_written_on_recovery(site, pipeline, crash, monkeypatch):
    root, log, _ = site
    service = _service(site, pipeline)
    await service.add_person(
        "town", _photos("Barack_Obama", 1), label="B O", expires_at=_expires(), **WHO
    )
    crash("commit")
    with pytest.raises(RuntimeError):
        await service.publish("town", published_by="Insp 2")
    monkeypatch.undo()
    store = await anyio.to_thread.run_sync(lambda: WatchlistStore(root / "watchlist", "town"))
    assert await anyio.to_thread.run_sync(store.publications) == []  # logged, not yet written
    restarted = _service(site, pipeline)
    assert await restarted.recover() == 1
    logged = (await log.read_stream("watchlist:town"))[-1].decode()
    (pub,) = await restarted.publications("town")
    assert pub.version == logged.watchlist_version and pub.valid_until == logged.valid_until
    gallery = await WatchlistStoreCatalog(await restarted.store("town")).load_gallery(pub.version)
    assert len(gallery) == 1


async def test_labels_and_listings_never_read_a_template(site, pipeline, monkeypatch):
    service = _service(site, pipeline)
    entries = []
    for n, person in enumerate(("Barack_Obama", "Joe_Biden")):
        enrolment = await service.enrol(_photos(person, 1, 2))
        entries.append(
            (
                enrolment.entry(
                    entry_id=f"wl-{n}",
                    label=person,
                    image_source="custody images",
                    expires_at=_expires(),
                    **WHO,
                ),
                enrolment.reference,
            )
        )
        enrolment.forget()
    pub = await service.publish_entries("town", entries, published_by="Insp 2")
    catalog = WatchlistStoreCatalog(await service.store("town"))

    selected: list[list[str]] = []
    full_read = lancedb.table.LanceTable.to_arrow
    projected = lancedb.query.LanceEmptyQueryBuilder.to_arrow

    def no_full_read_of_templates(self):
        assert "vector" not in self.schema.names, "a whole entry table was read"
        return full_read(self)

    def spy(self, *args, **kwargs):
        columns = self._columns
        assert columns is not None, "a query read every column"
        selected.append(list(columns))
        return projected(self, *args, **kwargs)

    monkeypatch.setattr(lancedb.table.LanceTable, "to_arrow", no_full_read_of_templates)
    monkeypatch.setattr(lancedb.query.LanceEmptyQueryBuilder, "to_arrow", spy)
    listed = await service.entries("town")
    info = await catalog.entry(pub.version, "wl-1")
    monkeypatch.undo()

    assert [e.label for e in listed] == ["Barack_Obama", "Joe_Biden"]
    assert [e.photos for e in listed] == [2, 2]
    assert info is not None and info.label == "Joe_Biden"
    assert selected and all(not {"vector", "templates"} & set(cols) for cols in selected)
