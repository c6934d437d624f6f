"""Published watchlists in memory: a searchable `Gallery` and a `WatchlistCatalog`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

import numpy as np

from lfr.catalog import EntryInfo, PublishedWatchlist
from lfr.vision.types import Candidate, Vector
from lfr.watchlist.store import Erased
from schemas.events import WatchlistCategory

__all__ = ["InMemoryGallery", "InMemoryWatchlists", "identity_vector"]

DIM = 32


def identity_vector(name: str) -> Vector:
    """A stable unit vector per name: the scripted recogniser's "embedding" of a person."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


class InMemoryGallery:
    """Entries keyed by entry id (in tests: the person's name), searched by cosine."""

    def __init__(self, version: str, labels: Mapping[str, str]) -> None:
        self.version = version
        self.labels = dict(labels)
        self._ids = list(self.labels)
        self._matrix = (
            np.stack([identity_vector(i) for i in self._ids])
            if self._ids
            else np.zeros((0, DIM), np.float32)
        )

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.labels

    def search(self, embeddings: Vector) -> list[Candidate | None]:
        if not self._ids:
            return [None] * len(embeddings)
        scores = embeddings @ self._matrix.T
        out: list[Candidate | None] = []
        for row in scores:
            i = int(np.argmax(row))
            out.append(Candidate(self._ids[i], self.labels[self._ids[i]], float(row[i])))
        return out


class InMemoryWatchlists:
    """A `WatchlistCatalog` in memory: `publish(...)` then deployments can arm with it."""

    def __init__(self) -> None:
        self._published: dict[str, PublishedWatchlist] = {}
        self._entries: dict[str, dict[str, EntryInfo]] = {}
        self._galleries: dict[str, InMemoryGallery] = {}
        self.purged: list[str] = []
        #: published versions whose gallery cannot be loaded (an unreachable store)
        self.unloadable: set[str] = set()
        self.loads = 0

    def publish(
        self,
        version: str,
        labels: Mapping[str, str],
        *,
        published_at: datetime,
        watchlist: str = "default",
        category: WatchlistCategory = "wanted_by_police",
    ) -> InMemoryGallery:
        self._published[version] = PublishedWatchlist(version, watchlist, len(labels), published_at)
        self._entries[version] = {e: EntryInfo(e, label, category) for e, label in labels.items()}
        gallery = InMemoryGallery(version, labels)
        self._galleries[version] = gallery
        return gallery

    async def published(self, version: str) -> PublishedWatchlist | None:
        """None also once purged: a deleted watchlist can arm nothing."""
        if version in self.purged:
            return None
        return self._published.get(version)

    async def entry(self, version: str, entry_id: str) -> EntryInfo | None:
        return self._entries.get(version, {}).get(entry_id)

    async def load_gallery(self, version: str) -> InMemoryGallery:
        if version in self.unloadable:
            raise OSError(f"watchlist {version!r} cannot be read (store unreachable)")
        gallery = self._galleries.get(version)
        if gallery is None:
            raise LookupError(f"watchlist {version!r} is not loadable (never published, or purged)")
        self.loads += 1
        return gallery

    async def purge(self, version: str) -> Erased:
        """One template per entry (no photos kept here); nothing once purged."""
        gallery = self._galleries.pop(version, None)
        self.purged.append(version)
        n = 0 if gallery is None else len(gallery)
        return Erased(entries=n, templates=n)
