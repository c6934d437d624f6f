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
