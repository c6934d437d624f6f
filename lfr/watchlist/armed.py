"""`ArmedWatchlist`: a published version held in memory and searched with numpy.

Brute-force top-1 over a float32 matrix costs under a millisecond at 10,000 entries, far
below LanceDB's per-query floor (shared/MODELS.md), so the version a deployment arms with
is searched here. `LanceGallery` serves lists too large to hold in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lfr.vision.types import Candidate
from lfr.watchlist.entry import WatchlistEntry, content_hash

__all__ = ["ArmedWatchlist", "LanceGallery"]

Vector = npt.NDArray[np.float32]


class ArmedWatchlist:
    """Implements `Gallery`: top-1 cosine similarity for each probe embedding.

    Each entry is one row, the mean of its photos' templates: searching every photo's
    template instead would multiply the false-match chances per entry by its photo count.
    """

    def __init__(
        self,
        version: str,
        entry_ids: Sequence[str],
        labels: Sequence[str],
        matrix: Vector,
        categories: Sequence[str] | None = None,
        photo_sources: Sequence[tuple[str, ...]] | None = None,
    ) -> None:
        if matrix.ndim != 2 or len(matrix) != len(entry_ids) or len(labels) != len(entry_ids):
            raise ValueError("entry_ids, labels and matrix rows must match")
        self.version = version
        self.entry_ids = list(entry_ids)
        self.labels = list(labels)
        self.categories = list(categories) if categories is not None else None
        self._sources = dict(zip(self.entry_ids, photo_sources or (), strict=False))
        self._matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self._matrix.setflags(write=False)

    @classmethod
    def from_entries(
        cls, entries: Sequence[WatchlistEntry], version: str | None = None
    ) -> ArmedWatchlist:
        dim = entries[0].embedding.shape[0] if entries else 512
        matrix = (
            np.stack([e.embedding for e in entries]).astype(np.float32)
            if entries
            else np.zeros((0, dim), dtype=np.float32)
        )
        return cls(
            version or content_hash(entries),
            [e.entry_id for e in entries],
            [e.label for e in entries],
            matrix,
            [e.category for e in entries],
            [e.photo_sources for e in entries],
        )

    def __len__(self) -> int:
        return len(self.entry_ids)

    def __repr__(self) -> str:
        return f"ArmedWatchlist(version={self.version!r}, entries={len(self)})"

    def photos_used(self, entry_id: str) -> tuple[str, ...]:
        """The photos whose templates' mean is `entry_id`'s row (empty when not recorded)."""
        return self._sources.get(entry_id, ())

    @property
    def dim(self) -> int:
        return int(self._matrix.shape[1])

    def search(self, embeddings: Vector) -> list[Candidate | None]:
        if len(embeddings) == 0:
            return []
        if len(self) == 0:
            return [None] * len(embeddings)
        out: list[Candidate | None] = []
        # one matrix-vector product per face: with a handful of faces this beats a
        # matrix-matrix product, which wakes every BLAS thread and fights onnxruntime's
        for probe in np.asarray(embeddings, dtype=np.float32):
            scores = self._matrix @ probe
            j = int(np.argmax(scores))
            out.append(Candidate(self.entry_ids[j], self.labels[j], float(scores[j])))
            scores.fill(0)
        return out

    def scores(self, embeddings: Vector) -> Vector:
        """All similarities (N x entries), for evaluation."""
        out: Vector = np.asarray(embeddings, dtype=np.float32) @ self._matrix.T
        return out


class LanceGallery:
    """Implements `Gallery` over a LanceDB table (cosine), for lists too large for memory.

    Build an ANN index (`ensure_index`) once the table is large; below that LanceDB scans.
    """

    def __init__(self, table: Any, version: str) -> None:
        self._table = table
        self.version = version

    def __len__(self) -> int:
        return int(self._table.count_rows())

    def ensure_index(self, min_rows: int = 50_000) -> bool:
        """Create an IVF_PQ cosine index when the table has at least `min_rows` rows."""
        rows = len(self)
        if rows < min_rows:
            return False
        from lancedb.index import IvfPq

        self._table.create_index(
            "vector",
            config=IvfPq(
                distance_type="cosine",
                num_partitions=max(1, int(rows**0.5)),
                num_sub_vectors=64,
            ),
        )
        return True

    def search(self, embeddings: Vector) -> list[Candidate | None]:
        out: list[Candidate | None] = []
        for row in np.asarray(embeddings, dtype=np.float32):
            hits = (
                self._table.search(row, vector_column_name="vector")
                .metric("cosine")
                .limit(1)
                .to_list()
            )
            if not hits:
                out.append(None)
                continue
            hit = hits[0]
            out.append(Candidate(hit["entry_id"], hit["label"], 1.0 - float(hit["_distance"])))
        return out
