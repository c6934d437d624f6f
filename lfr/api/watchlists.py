"""The API's `WatchlistService` over the LanceDB store of record (`lfr.watchlist`).

Adding an entry enrols every photo that shows one clear subject (the rule in
`lfr.vision.subject`) and reports the others with their reasons; the entry keeps each
accepted photo's template and searches their mean. The first accepted photo is kept
encrypted in the biometric vault (officers see it beside the live capture), and
`WatchlistEntryAdded` records how many photos were used; publishing records
`WatchlistPublished`; removing records `WatchlistEntryRemoved`. The photo's vault id is
kept beside the entry's templates, so purging the last published version that holds an
entry taken off the list shreds its photo. LanceDB and the pipeline block, so they run in a
worker thread.
Photo bytes pass through a private temporary file only for the duration of enrolment.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import anyio

from lfr.api.ports import WatchlistEntryInfo
from lfr.store.base import EventStore
from schemas.envelope import NewEvent
from schemas.events import (
    BiometricRef,
    WatchlistCategory,
    WatchlistEntryAdded,
    WatchlistEntryRemoved,
    WatchlistPublished,
)

__all__ = ["StoreWatchlistService"]

Embed = Callable[[Sequence[Path]], Any]  # photos -> lfr.watchlist.enrol.Enrolled


class _Vault(Protocol):
    async def put(
        self, data: bytes, kind: Any, retain_until: datetime | None = None
    ) -> BiometricRef: ...

    async def shred(self, ref: str, reason: str = "purged") -> bool: ...


class StoreWatchlistService:
    """Watchlists in `<root>` (LanceDB), events in `store`, photos in `vault`."""

    def __init__(
        self,
        root: Path,
        *,
        store: EventStore,
        vault: _Vault,
        embed: Embed | None = None,
    ) -> None:
        self.root = Path(root)
        self.store = store
        self.vault = vault
        self._embed = embed
        self._limiter = anyio.CapacityLimiter(1)

    def _embedder(self) -> Embed:
        if self._embed is None:
            from lfr.vision.pipeline import FacePipeline
            from lfr.watchlist.enrol import embed_photos

            pipeline = FacePipeline.from_pack(FacePipeline.config_from_env())
            self._embed = lambda paths: embed_photos(pipeline, paths)
        return self._embed

    def _store(self, watchlist: str) -> Any:
        from lfr.watchlist import WatchlistStore

        return WatchlistStore(self.root, watchlist)

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(fn, limiter=self._limiter)

    async def add_entry(
        self,
        watchlist: str,
        *,
        label: str,
        category: WatchlistCategory,
        legal_basis: str,
        image_source: str,
        added_by: str,
        expires_at: datetime,
        images: Sequence[bytes],
    ) -> WatchlistEntryInfo:
        """Enrol every photo with one clear subject; the others are reported, not enrolled.

        :raises EnrolmentError: no photo could be enrolled (422), each one's reason given.
        """
        from lfr.vision.errors import EnrolmentError

        entry_id = f"e-{uuid.uuid4().hex[:12]}"
        names = [f"photo {i + 1} of {len(images)}" for i in range(len(images))]

        def enrol() -> tuple[Any, list[str], int]:
            embed = self._embedder()
            with tempfile.TemporaryDirectory(prefix="lfr-enrol-") as tmp:
                os.chmod(tmp, 0o700)
                paths = [Path(tmp) / f"photo-{i + 1}" for i in range(len(images))]
                for path, data in zip(paths, images, strict=True):
                    path.write_bytes(data)
                enrolled = embed(paths)
            # name the photos by their place in the request, not the temporary file
            where = {str(path): name for path, name in zip(paths, names, strict=True)}
            enrolled.sources = [where[s] for s in enrolled.sources]
            enrolled.refused = [
                EnrolmentError(where.get(str(r.path), "a photo"), r.reason)
                for r in enrolled.refused
            ]
            refused = [f"{r.path}: {r.reason}" for r in enrolled.refused]
            try:
                entry = enrolled.entry(
                    entry_id=entry_id,
                    label=label,
                    category=category,
                    legal_basis=legal_basis,
                    image_source=image_source,
                    added_by=added_by,
                    expires_at=expires_at,
                )
            finally:
                enrolled.forget()
            self._store(watchlist).add(entry)
            first = names.index(entry.photo_sources[0])
            return entry, refused, first

        entry, refused, first = await self._run(enrol)
        ref = await self.vault.put(images[first], "watchlist_image", expires_at)
        # beside the template, so purging the last version holding the entry shreds it too
        await self._run(lambda: self._store(watchlist).attach_image(entry_id, ref.blob_id))
        await self.store.append(
            f"watchlist:{watchlist}",
            [
                NewEvent(
                    event=WatchlistEntryAdded(
                        watchlist=watchlist,
                        entry_id=entry_id,
                        label=label,
                        category=category,
                        legal_basis=legal_basis,
                        image_source=image_source,
                        added_by=added_by,
                        expires_at=expires_at,
                        image_ref=ref,
                        photos=entry.photos,
                        photo_sources=entry.photo_sources,
                    )
                )
            ],
        )
        return WatchlistEntryInfo(
            entry_id=entry_id,
            label=label,
            category=category,
            legal_basis=legal_basis,
            image_source=image_source,
            added_by=added_by,
            expires_at=expires_at,
            photos=entry.photos,
            photos_refused=tuple(refused),
        )

    async def list_entries(self, watchlist: str) -> list[WatchlistEntryInfo]:
        entries = await self._run(lambda: self._store(watchlist).entries())
        return [
            WatchlistEntryInfo(
                entry_id=e.entry_id,
                label=e.label,
                category=e.category,
                legal_basis=e.legal_basis,
                image_source=e.image_source,
                added_by=e.added_by,
                expires_at=e.expires_at,
                photos=e.photos,
            )
            for e in entries
        ]

    async def publish(self, watchlist: str, *, published_by: str) -> str:
        """:raises EmptyWatchlistError: no live entries (409)."""
        pub = await self._run(lambda: self._store(watchlist).publish(published_by))
        if not pub.reused:
            await self.store.append(
                f"watchlist:{watchlist}",
                [
                    NewEvent(
                        event=WatchlistPublished(
                            watchlist=watchlist,
                            watchlist_version=pub.version,
                            entries=pub.entries,
                            published_by=published_by,
                            valid_until=pub.valid_until,
                        )
                    )
                ],
            )
        version: str = pub.version
        return version

    async def remove_entry(
        self, watchlist: str, entry_id: str, *, removed_by: str, reason: str
    ) -> None:
        """:raises EntryNotFoundError: no such entry (404)."""
        wl = self._store(watchlist)
        entry = await self._run(lambda: wl.remove(entry_id))
        ref = entry.image_ref
        if ref is not None and not await self._run(lambda: wl.photo_held(ref)):
            # never published (or every version holding it already purged): nothing can
            # arm with it again, so the photo goes now rather than at its expiry
            await self.vault.shred(ref, "removed from the watchlist")
        await self.store.append(
            f"watchlist:{watchlist}",
            [
                NewEvent(
                    event=WatchlistEntryRemoved(
                        watchlist=watchlist,
                        entry_id=entry_id,
                        removed_by=removed_by,
                        reason=reason,
                    )
                )
            ],
        )
