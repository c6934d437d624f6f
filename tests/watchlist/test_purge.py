"""Purging a deployment's watchlist version: its templates and unshared photos leave the disk,
what another version or the live list still holds stays (and is not counted as erased), a
bespoke version takes its live entries with it, and a second purge erases nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import lancedb
import numpy as np
import pytest

from actors.system import SiteParts, running_site
from lfr.alerts import InMemoryAlertSink
from lfr.catalog import WatchlistStoreCatalog
from lfr.clock import ManualClock
from lfr.site import SiteConfig
from lfr.store.memory import InMemoryEventStore
from lfr.testing import ScriptedFrameSource, ScriptedRecogniser
from lfr.vault import BiometricVault, BlobShreddedError
from lfr.watchlist import VersionNotFoundError, WatchlistEntry, WatchlistStore
from lfr.watchlist.store import Erased
from schemas.events import BiometricPurged


def _entry(i: int, image_ref: str | None = None) -> WatchlistEntry:
    v = np.random.default_rng(1000 + i).normal(size=512).astype(np.float32)
    return WatchlistEntry(
        entry_id=f"e-{i}",
        label=f"Person {i}",
        category="wanted_by_police",
        legal_basis="PACE s.24 warrant 123",
        image_source="custody image C-1",
        added_by="PC 1",
        expires_at=datetime.now(UTC) + timedelta(days=7),
        embedding=v / np.linalg.norm(v),
        image_ref=image_ref,
    )


def _photos(i: int, k: int = 3) -> np.ndarray:
    """Per-photo templates of entry `i` (k x 512), distinct from its mean."""
    rows = np.random.default_rng(5000 + i).normal(size=(k, 512)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _multi(i: int) -> WatchlistEntry:
    from lfr.watchlist.enrol import template

    rows = _photos(i)
    entry = _entry(i)
    entry.embedding = template(list(rows))
    entry.templates = rows
    entry.photo_sources = tuple(f"custody image C-{i}/{k}" for k in range(len(rows)))
    return entry


def _photo_templates(i: int) -> list[bytes]:
    return [row.astype("<f4").tobytes() for row in _photos(i)]


def _files_holding(root: Path, data: bytes) -> list[Path]:
    """Every file under `root` whose bytes contain `data`."""
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def _template(i: int) -> bytes:
    return _entry(i).embedding.astype("<f4").tobytes()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "wl"


@pytest.fixture
def store(root: Path) -> WatchlistStore:
    return WatchlistStore(root, "north-end")


def test_a_purged_version_leaves_no_template_on_disk(store: WatchlistStore, root: Path):
    # v1 holds e-0 and e-1, later taken off the live list; v2 is a larger, later list
    for i in (0, 1):
        store.add(_entry(i))
    v1 = store.publish("Insp 1").version
    store.remove("e-0")
    store.remove("e-1")
    for i in range(2, 32):
        store.add(_entry(i))
    v2 = store.publish("Insp 1").version
    # a maintenance compaction puts both versions in one data file, where deleting two rows
    # of 32 does not make LanceDB rewrite it
    lancedb.connect(str(root)).open_table("north-end_published").optimize()
    store.lance_gallery(v1)  # a search table of v1's rows, which must go too
    assert _files_holding(root, _template(0))  # the test can see a template on disk

    assert store.purge_version(v1) == Erased(entries=2, templates=2)

    assert _files_holding(root, _template(0)) == []
    assert _files_holding(root, _template(1)) == []
    assert _files_holding(root, _template(2))  # v2 and the live list still hold e-2
    assert [p.version for p in store.publications()] == [v2]
    with pytest.raises(VersionNotFoundError):
        store.load(v1)
    assert len(store.load(v2)) == 30


def test_removing_an_entry_takes_its_template_off_the_disk(store: WatchlistStore, root: Path):
    for i in range(12):
        store.add(_entry(i))
    lancedb.connect(str(root)).open_table("north-end_entries").optimize()  # one data file
    store.remove("e-3")
    assert _files_holding(root, _template(3)) == []
    assert _files_holding(root, _template(4))


def test_removing_and_purging_erase_every_per_photo_template(store: WatchlistStore, root: Path):
    for i in range(12):
        store.add(_multi(i))
    v1 = store.publish("Insp 1").version
    store.remove("e-3")  # off the live list, still in v1
    db = lancedb.connect(str(root))
    db.open_table("north-end_published").optimize()
    store.lance_gallery(v1)  # searches the means only: no per-photo copy goes there
    gallery = root / f"north-end_v_{v1.split(':')[-1][:16]}.lance"
    assert _files_holding(gallery, _multi(4).embedding.astype("<f4").tobytes())
    assert not any(_files_holding(gallery, t) for t in _photo_templates(4))
    assert all(_files_holding(root, t) for t in _photo_templates(3))  # v1 still holds them

    # only e-3 left the disk: the live list still holds the other eleven
    assert store.purge_version(v1) == Erased(entries=1, templates=1 + 3)

    for t in [*_photo_templates(3), _multi(3).embedding.astype("<f4").tobytes()]:
        assert _files_holding(root, t) == []
    assert all(_files_holding(root, t) for t in _photo_templates(4))  # the live list keeps e-4
    store.remove("e-4")
    assert not any(_files_holding(root, t) for t in _photo_templates(4))


def test_entries_still_in_a_later_version_and_the_live_list_survive(store: WatchlistStore):
    store.add(_entry(0))
    store.add(_entry(1))
    v1 = store.publish("Insp 1").version
    store.add(_entry(2))
    v2 = store.publish("Insp 1").version

    assert store.purge_version(v1) == Erased()  # v2 and the live list hold e-0 and e-1

    assert [e.entry_id for e in store.version_entries(v2)] == ["e-0", "e-1", "e-2"]
    assert store.load(v2).version == v2  # still hashes to its version: nothing altered
    assert [e.entry_id for e in store.entries()] == ["e-0", "e-1", "e-2"]
    np.testing.assert_array_equal(store.get("e-0").embedding, _entry(0).embedding)


def test_purging_twice_erases_nothing_the_second_time(store: WatchlistStore):
    store.add(_entry(0))
    version = store.publish("Insp 1", bespoke=True).version
    assert store.purge_version(version) == Erased(entries=1, templates=1)
    assert store.purge_version(version) == Erased()
    assert store.purge_version("sha256:never-published") == Erased()
    assert store.purge_version("x' OR '1'='1") == Erased()


def test_a_standing_lists_purge_keeps_its_live_entries(store: WatchlistStore, root: Path):
    store.add(_entry(0))
    version = store.publish("Insp 1").version
    assert store.purge_version(version) == Erased()  # the live list still holds e-0
    assert _files_holding(root, _template(0))
    assert [e.entry_id for e in store.entries()] == ["e-0"]


def test_photos_are_shredded_with_the_last_version_that_holds_them(
    store: WatchlistStore, tmp_path: Path
):
    vault = BiometricVault(tmp_path / "vault")
    photo = {i: f"reference photo {i}".encode() * 50 for i in range(3)}
    refs = {i: vault.put_sync(photo[i], "watchlist_image") for i in range(3)}
    store.add(_entry(0, refs[0].blob_id))  # stays on the live list
    store.add(_entry(1))
    store.attach_image("e-1", refs[1].blob_id)  # taken off the live list below
    store.add(_entry(2, refs[2].blob_id))  # off the live list, but in v2 as well
    v1 = store.publish("Insp 1").version
    store.remove("e-1")
    v2 = store.publish("Insp 1").version
    store.remove("e-2")

    erased = store.purge_version(v1, vault.shred_sync)

    assert erased == Erased(entries=1, templates=1, photos=1)  # e-1, held by no one else
    with pytest.raises(BlobShreddedError):
        vault.get_sync(refs[1])
    assert list((tmp_path / "vault" / "blobs").rglob(refs[1].blob_id)) == []  # file gone
    assert vault.get_sync(refs[0]) == photo[0]  # the live list holds e-0
    assert vault.get_sync(refs[2]) == photo[2]  # v2 holds e-2
    assert store.purge_version(v2, vault.shred_sync) == Erased(1, 1, 1)  # now e-2 goes
    assert not vault.exists_sync(refs[2])
    assert store.purge_version(v2, vault.shred_sync) == Erased()
    vault.close()


def test_a_store_written_before_photos_were_kept_opens_and_purges(root: Path):
    import pyarrow as pa

    db = lancedb.connect(str(root))
    old = WatchlistStore(root, "old")
    later = ("image_ref", "templates", "photo_sources")  # columns added since
    from lfr.watchlist import _arrow

    legacy = pa.schema([f for f in _arrow.schema(512, version=False) if f.name not in later])
    rows = old._rows([_entry(0)]).drop_columns(list(later))
    db.create_table("legacy_entries", data=rows, schema=legacy)

    store = WatchlistStore(root, "legacy")
    assert store.get("e-0").image_ref is None
    assert store.get("e-0").templates is None and store.get("e-0").photo_sources == ()
    store.add(_multi(1))  # a new entry keeps its per-photo templates beside the old one
    np.testing.assert_array_equal(store.get("e-1").templates, _photos(1))
    version = store.publish("Insp 1").version
    assert store.load(version).version == version  # both kinds hash as they were stored
    assert store.purge_version(version) == Erased()  # the live list holds both


SITE = {
    "name": "test-town",
    "zones": [{"name": "north-end"}],
    "cameras": [{"id": "ne-1", "zone": "north-end", "source": "scripted:", "analyse_fps": None}],
    "patrols": [{"id": "p-1"}],
    "store": {"engine": "memory"},
    "vision": {"recogniser": "scripted", "decider": "per_frame"},
}


@pytest.mark.blocking_ok("the test body reads the log, the views or the watchlist files directly")
async def test_the_zone_records_how_many_references_its_purge_erased(tmp_path: Path):
    store = await anyio.to_thread.run_sync(lambda: WatchlistStore(tmp_path / "wl", "north-end"))
    vault = await BiometricVault.open(tmp_path)
    ref = await vault.put(b"photo of person 0" * 20, "watchlist_image")
    for i in range(3):
        store.add(_entry(i, ref.blob_id if i == 0 else None))
    version = store.publish("Insp 1", bespoke=True).version
    store.remove("e-0")  # only the published version still needs e-0's photo
    clock = ManualClock(datetime.now(UTC))
    events = InMemoryEventStore(clock=clock)
    catalog = WatchlistStoreCatalog(store, vault=vault)
    parts = SiteParts(
        store=events,
        catalog=catalog,
        recogniser=ScriptedRecogniser(),
        source_factory=lambda cam: ScriptedFrameSource(f"scripted://{cam.id}", clock=clock),
        clock=clock,
        sink=InMemoryAlertSink(),
        ask_timeout_s=5.0,
    )
    async with running_site(SiteConfig.model_validate(SITE), parts) as site:
        now = clock.now()
        dep = await site.authorise_deployment(
            "north-end",
            starts_at=now,
            ends_at=now + timedelta(hours=1),
            watchlist_version=version,
            threshold=0.6,
            legal_basis="PACE s.24",
            reason="wanted offenders",
            authorised_by="Supt. A. Smith 1234",
        )
        await clock.advance(2 * 3600)
        status = await site.zone_status("north-end")  # answered after the purge it queued
        assert [(d.ended, d.purged) for d in status.deployments] == [(True, True)]

    purges = [e.decode() for e in await events.read_all() if e.type == "BiometricPurged"]
    assert len(purges) == 1
    purge = purges[0]
    assert isinstance(purge, BiometricPurged)
    assert (purge.deployment_id, purge.watchlist_version) == (dep.deployment_id, version)
    assert purge.refs_purged == 3 + 1  # three templates and e-0's photo
    assert purge.images_purged == 1  # of which the photo: the zone states the split
    assert store.listing() == []  # the bespoke list went with its deployment
    assert not await vault.exists(ref)
    assert await catalog.published(version) is None  # it can arm nothing again
    assert (await catalog.purge(version)) == Erased()
    await vault.aclose()


def test_expire_deletes_the_expired_entries_templates(store: WatchlistStore, root: Path):
    for i in range(12):
        store.add(_entry(i))
    lancedb.connect(str(root)).open_table("north-end_entries").optimize()  # one data file
    later = datetime.now(UTC) + timedelta(days=8)
    store.add(dataclasses.replace(_entry(12), expires_at=later + timedelta(days=1)))

    expired = store.expire(later)

    assert sorted(e.entry_id for e in expired) == sorted(f"e-{i}" for i in range(12))
    assert not any(_files_holding(root, _template(i)) for i in range(12))
    assert [e.entry_id for e in store.entries()] == ["e-12"]
    assert store.expire(later) == []
