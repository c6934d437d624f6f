"""LanceDB store of record: entries, publication by content hash, armed versions."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from lfr.vision.types import Gallery
from lfr.watchlist import (
    ArmedWatchlist,
    DuplicateEntryError,
    EmptyWatchlistError,
    EntryNotFoundError,
    VersionNotFoundError,
    WatchlistEntry,
    WatchlistError,
    WatchlistStore,
    content_hash,
)


def _entry(i: int, *, expires_in: timedelta = timedelta(days=7)) -> WatchlistEntry:
    rng = np.random.default_rng(i)
    v = rng.normal(size=512).astype(np.float32)
    return WatchlistEntry(
        entry_id=f"e-{i}",
        label=f"Person {i}",
        category="wanted_by_police",
        legal_basis="PACE s.24 warrant 123",
        image_source="custody image C-1",
        added_by="PC 1",
        expires_at=datetime.now(UTC) + expires_in,
        embedding=v / np.linalg.norm(v),
    )


@pytest.fixture
def store(tmp_path: Path) -> WatchlistStore:
    return WatchlistStore(tmp_path / "wl", "north-end")


def test_add_list_remove(store: WatchlistStore):
    for i in range(3):
        store.add(_entry(i))
    assert [e.entry_id for e in store.entries()] == ["e-0", "e-1", "e-2"]
    got = store.get("e-1")
    assert got.legal_basis == "PACE s.24 warrant 123"
    np.testing.assert_allclose(got.embedding, _entry(1).embedding)
    with pytest.raises(DuplicateEntryError, match="e-1"):
        store.add(_entry(1))
    store.remove("e-1")
    assert [e.entry_id for e in store.entries()] == ["e-0", "e-2"]
    with pytest.raises(EntryNotFoundError, match="lfr watchlist list"):
        store.remove("e-1")


def test_bad_entries_are_refused(store: WatchlistStore):
    bad = _entry(1)
    bad.entry_id = "x'; drop"
    with pytest.raises(WatchlistError, match="must match"):
        store.add(bad)
    short = _entry(2)
    short.embedding = short.embedding[:128]
    with pytest.raises(WatchlistError, match="512-d"):
        store.add(short)


def test_publish_freezes_a_content_hashed_version(store: WatchlistStore, tmp_path: Path):
    with pytest.raises(EmptyWatchlistError):
        store.publish("Insp 2")
    for i in range(3):
        store.add(_entry(i))
    store.add(_entry(9, expires_in=timedelta(seconds=-1)))  # expired: not published
    first = store.publish("Insp 2")
    assert first.entries == 3
    assert first.version == content_hash([_entry(i) for i in range(3)]) or first.version.startswith(
        "sha256:"
    )
    again = store.publish("Insp 3")  # unchanged content: the same version, flagged
    assert again.version == first.version and again.reused and not first.reused
    store.remove("e-0")
    second = store.publish("Insp 2")
    assert second.version != first.version and second.entries == 2
    # the first version is unchanged by later edits, and reopens from disk
    reopened = WatchlistStore(tmp_path / "wl", "north-end")
    armed = reopened.load(first.version)
    assert isinstance(armed, Gallery)
    assert len(armed) == 3 and armed.version == first.version
    assert len(reopened.load()) == 2  # latest
    with pytest.raises(VersionNotFoundError):
        reopened.load("sha256:nope")


def test_hash_covers_metadata_and_embedding():
    a = [_entry(1), _entry(2)]
    assert content_hash(a) == content_hash(list(reversed(a)))
    changed = _entry(1)
    changed.legal_basis = "other"
    assert content_hash([changed, _entry(2)]) != content_hash(a)
    moved = _entry(1)
    moved.embedding = moved.embedding.copy()
    moved.embedding[0] += 1e-3
    assert content_hash([moved, _entry(2)]) != content_hash(a)


def test_armed_search_matches_lancedb_search(store: WatchlistStore):
    entries = [_entry(i) for i in range(20)]
    for e in entries:
        store.add(e)
    store.publish("Insp 2")
    armed = store.load()
    lance = store.lance_gallery()
    probes = np.stack([entries[3].embedding, entries[17].embedding])
    noisy = probes + np.random.default_rng(0).normal(scale=0.02, size=probes.shape)
    noisy = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
    a, b = armed.search(noisy), lance.search(noisy)
    assert [c.entry_id for c in a] == ["e-3", "e-17"] == [c.entry_id for c in b]
    for x, y in zip(a, b, strict=True):
        assert abs(x.similarity - y.similarity) < 1e-4


def test_empty_armed_watchlist_finds_nobody():
    armed = ArmedWatchlist.from_entries([])
    assert len(armed) == 0
    assert armed.search(np.ones((2, 512), np.float32)) == [None, None]


def test_lancedb_ann_index_serves_large_lists(store: WatchlistStore):
    """An IVF_PQ index (for lists too large to hold in memory) still finds the right entry."""
    rng = np.random.default_rng(5)
    n = 1500
    m = rng.normal(size=(n, 512)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    expires = datetime.now(UTC) + timedelta(days=1)
    for start in range(0, n, 500):
        rows = [
            WatchlistEntry(f"e-{i}", f"P {i}", "suspect", "b", "s", "a", expires, m[i])
            for i in range(start, start + 500)
        ]
        store._table("entries").add(store._rows(rows))
    store.publish("Insp 2")
    gallery = store.lance_gallery()
    assert len(gallery) == n
    assert gallery.ensure_index(min_rows=1000)
    probes = m[:10] + rng.normal(scale=0.02, size=(10, 512)).astype(np.float32)
    found = gallery.search(probes)
    assert sum(c is not None and c.entry_id == f"e-{i}" for i, c in enumerate(found)) >= 9


def _multi(i: int, photos: int = 3) -> WatchlistEntry:
    """An entry from several photos: the mean searched, each photo's template kept."""
    from lfr.watchlist.enrol import template

    rng = np.random.default_rng(100 + i)
    rows = rng.normal(size=(photos, 512)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    entry = _entry(i)
    entry.embedding = template(list(rows))
    entry.templates = rows
    entry.photo_sources = tuple(f"custody image C-{i}/{k}" for k in range(photos))
    entry.photos = photos
    entry.expires_at = datetime(2030, 1, 1, tzinfo=UTC)  # hashed: the same each call
    return entry


def test_per_photo_templates_round_trip_and_search_uses_the_mean(store: WatchlistStore, pipeline):
    from lfr.config import settings
    from lfr.watchlist.enrol import embed_photos

    faces = settings().faces_dir
    photos = [faces / "Barack_Obama" / f"{n}.jpg" for n in (1, 2, 3)]
    photos.append(settings().shared / "scenes" / "face_recognition_two_people.jpg")
    enrolled = embed_photos(pipeline, photos)
    assert len(enrolled.vectors) == 3 and [r.path for r in enrolled.refused] == [photos[3]]
    entry = enrolled.entry(
        entry_id="obama",
        label="Barack Obama",
        category="suspect",
        legal_basis="PACE s.24",
        image_source="custody images",
        added_by="PC 1",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    assert entry.photos == 3 and entry.photo_sources == tuple(str(p) for p in photos[:3])
    store.add(entry)
    store.add(_entry(1))  # stored without per-photo templates
    got = store.get("obama")
    np.testing.assert_array_equal(got.templates, entry.templates)
    assert got.photo_sources == entry.photo_sources and got.photos == 3
    assert store.get("e-1").templates is None and store.get("e-1").photo_sources == ()
    assert store.entries()[-1].metadata()["photo_sources"] == list(entry.photo_sources)

    version = store.publish("Insp 2").version
    armed = store.load(version)  # the stored templates still hash to the version
    assert armed.photos_used("obama") == entry.photo_sources
    probe = enrolled.vectors[0]
    (best,) = armed.search(probe[None])
    # the entry's row is the mean, not the probe's own template (which would score 1.0)
    assert best.entry_id == "obama" and 0.7 < best.similarity < 0.999
    np.testing.assert_allclose(best.similarity, float(entry.embedding @ probe), atol=1e-5)


def test_hash_covers_the_per_photo_templates_and_their_sources():
    base = content_hash([_multi(1)])
    assert content_hash([_multi(1)]) == base
    moved = _multi(1)
    assert moved.templates is not None
    moved.templates[2, 0] += 1e-3
    assert content_hash([moved]) != base
    renamed = _multi(1)
    renamed.photo_sources = ("a", "b", "c")
    assert content_hash([renamed]) != base
    bare = _multi(1)
    bare.templates, bare.photo_sources = None, ()
    assert content_hash([bare]) != base


def test_templates_must_go_with_the_embedding():
    with pytest.raises(ValueError, match="do not go with"):
        WatchlistEntry(**{**_fields(_entry(1)), "templates": np.zeros((2, 128), np.float32)})
    with pytest.raises(ValueError, match="2 photo sources for 3 templates"):
        WatchlistEntry(
            **{
                **_fields(_entry(1)),
                "templates": np.zeros((3, 512), np.float32),
                "photo_sources": ("a", "b"),
            }
        )


def _fields(entry: WatchlistEntry) -> dict:
    from dataclasses import fields

    return {f.name: getattr(entry, f.name) for f in fields(entry)}
