"""Deletion that deletes: after a bespoke version's purge and after an expiry, no template (mean
or per-photo) and no photo of an erased entry is anywhere under the data directory (the log,
the vault, LanceDB's data files, `_versions` and `_transactions`), the vault can no longer
decrypt the photo, and publishing from what is left cannot rebuild the purged version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import numpy as np
import pytest

from lfr.catalog import WatchlistStoreCatalog
from lfr.store.sqlite import SqliteEventStore
from lfr.vault import BiometricVault, BlobShreddedError
from lfr.watchlist import WatchlistEntry, WatchlistService
from lfr.watchlist.enrol import template
from lfr.watchlist.store import Erased
from schemas.events import WatchlistEntryRemoved

NOW = datetime.now(UTC)


def _entry(i: int, expires_at: datetime | None = None) -> WatchlistEntry:
    rows = np.random.default_rng(7000 + i).normal(size=(3, 512)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return WatchlistEntry(
        entry_id=f"e-{i}",
        label=f"Person {i}",
        category="wanted_by_police",
        legal_basis="PACE s.24 warrant 123",
        image_source="custody images",
        added_by="DS Reed 12",
        expires_at=expires_at or NOW + timedelta(days=7),
        embedding=template(list(rows)),
        templates=rows,
        photo_sources=tuple(f"custody image C-{i}/{k}" for k in range(3)),
    )


def _templates(i: int) -> list[bytes]:
    """Entry `i`'s mean and per-photo templates as they are stored: float32 little-endian."""
    entry = _entry(i)
    assert entry.templates is not None
    return [entry.embedding.astype("<f4").tobytes()] + [
        row.astype("<f4").tobytes() for row in entry.templates
    ]


def _photo(i: int) -> bytes:
    return f"reference photo of person {i} ".encode() * 40


def _holding(root: Path, data: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


async def _on_disk(root: Path, i: int) -> list[Path]:
    """Every file under `root` holding any template or the photo of entry `i`."""

    def scan() -> list[Path]:
        return sorted({p for data in [*_templates(i), _photo(i)] for p in _holding(root, data)})

    return await anyio.to_thread.run_sync(scan)


@pytest.fixture
async def site(tmp_path: Path):
    log = await SqliteEventStore.open(tmp_path / "events.sqlite")
    vault = await BiometricVault.open(tmp_path)
    service = WatchlistService(tmp_path / "watchlist", log=log, vault=vault)
    yield tmp_path, log, vault, service
    await vault.aclose()
    await log.aclose()


async def _decryptable(vault: BiometricVault, blob_id: str | None) -> bool:
    assert blob_id is not None
    try:
        await vault.get(blob_id)
    except BlobShreddedError:
        return False
    return True


async def test_a_bespoke_purge_leaves_nothing_of_its_entries_on_disk(site):
    root, _, vault, service = site
    for i in range(3):
        await service.add("zone-a", _entry(i), photo=_photo(i))
    pub = await service.publish("zone-a", published_by="Insp 1", bespoke=True)
    await service.add("zone-a", _entry(3), photo=_photo(3))  # added after: not the deployment's
    refs = {e.entry_id: e.image_ref for e in await service.entries("zone-a")}
    assert await _on_disk(root, 0)  # the scan sees a template where there is one

    catalog = WatchlistStoreCatalog(await service.store("zone-a"), vault=vault)
    assert (await catalog.purge(pub.version)) == Erased(entries=3, templates=3 * (1 + 3), photos=3)

    for i in range(3):
        assert await _on_disk(root, i) == []
        assert not await _decryptable(vault, refs[f"e-{i}"])
    assert await _on_disk(root, 3)  # e-3 stays, photo and all
    assert await _decryptable(vault, refs["e-3"])
    assert [e.entry_id for e in await service.entries("zone-a")] == ["e-3"]
    again = await service.publish("zone-a", published_by="Insp 1", bespoke=True)
    assert again.version != pub.version and again.entries == 1
    assert (await catalog.purge(pub.version)) == Erased()


async def test_expiry_deletes_the_templates_and_shreds_the_photo(site):
    root, log, vault, service = site
    soon = NOW + timedelta(hours=1)
    await service.add("town", _entry(0, expires_at=soon), photo=_photo(0))
    await service.add("town", _entry(1), photo=_photo(1))
    refs = {e.entry_id: e.image_ref for e in await service.entries("town")}

    assert await service.expire("town", NOW) == []  # nothing has expired yet
    expired = await service.expire("town", soon + timedelta(seconds=1))

    assert [e.entry_id for e in expired] == ["e-0"]
    removed = [e.decode() for e in await log.read_stream("watchlist:town")][-1]
    assert isinstance(removed, WatchlistEntryRemoved)
    assert (removed.entry_id, removed.reason) == ("e-0", "expired")
    assert await _on_disk(root, 0) == []
    assert not await _decryptable(vault, refs["e-0"])
    assert await _on_disk(root, 1) and await _decryptable(vault, refs["e-1"])
    assert [e.entry_id for e in await service.entries("town")] == ["e-1"]


async def test_an_expired_entry_a_version_holds_goes_with_that_versions_purge(site):
    root, _, vault, service = site
    soon = NOW + timedelta(hours=1)
    await service.add("town", _entry(0, expires_at=soon), photo=_photo(0))
    await service.add("town", _entry(1), photo=_photo(1))
    pub = await service.publish("town", published_by="Insp 1")  # a standing list
    refs = {e.entry_id: e.image_ref for e in await service.entries("town")}

    await service.expire("town", soon)

    # the running deployment's frozen copy still holds e-0, so its photo waits for the purge
    assert await _decryptable(vault, refs["e-0"])
    catalog = WatchlistStoreCatalog(await service.store("town"), vault=vault)
    # e-0 only (its mean, three per-photo templates, its photo): the live list keeps e-1
    assert (await catalog.purge(pub.version)) == Erased(1, 1 + 3, 1)
    assert await _on_disk(root, 0) == []
    assert not await _decryptable(vault, refs["e-0"])
    assert await _decryptable(vault, refs["e-1"])
    again = await service.publish("town", published_by="Insp 1")
    assert again.version != pub.version
