# One module past 450 lines on purpose: every change of a watchlist goes through one service
# with one lock, one intent file and one log discipline.
"""`WatchlistService`: the one way a watchlist is changed, from the CLI, the API or the demo.

Every change is recorded in the site's log before it is made: the service checks that the
store would accept it, appends its event (`WatchlistEntryAdded`, `WatchlistEntryRemoved`,
`WatchlistPublished`) to the stream `watchlist:<name>`, then writes LanceDB, so no door can
change a list without an audit trail. Enrolment takes every photo with one clear subject
(`lfr.watchlist.enrol`) and reports the refused ones; the first accepted photo is kept
encrypted in the biometric vault whichever door it came through, and purging or removing
the last holder of an entry shreds it. Listings read metadata only, never a template.

A crash between the log and the store is recovered from a write-ahead intent
(`lfr.watchlist._pending`) written before each append and removed after the store write.
The next change (or `recover()`) settles what is left, under a lock across processes:
- the event is not in the log: nothing happened; the intent is dropped (and an add's photo,
  already in the vault but referenced by no event, is shredded);
- a removal or a publication is in the log: the store write is idempotent and is done again
  (a publication is planned again at its logged time, so it hashes to the logged version);
- an add is in the log but its entry is not in the store: the log holds no template to
  redo it from, so the add is undone in the open: a `WatchlistEntryRemoved` by
  "lfr (recovery)" says so, the photo is shredded, and the person must be added again.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar, cast

import anyio

from lfr.sealing import Sealer
from lfr.store.base import EventStore
from lfr.vault import BiometricVault
from lfr.vision.errors import EnrolmentError
from lfr.vision.pipeline import FacePipeline
from lfr.watchlist._pending import DirectoryLock, Intent, Intents, Settler, stream
from lfr.watchlist.enrol import Enrolment, Photo, enrol_photos, identity_photos, slug
from lfr.watchlist.entry import CATEGORIES, EntryMetadata, WatchlistEntry, check_expiry
from lfr.watchlist.entry import max_expiry as default_max_expiry
from lfr.watchlist.errors import WatchlistError
from lfr.watchlist.store import Erased, Publication, WatchlistStore
from schemas.envelope import NewEvent, new_event_id
from schemas.events import (
    BiometricRef,
    WatchlistCategory,
    WatchlistEntryAdded,
    WatchlistEntryRemoved,
    WatchlistPublished,
)

__all__ = ["Added", "Erasure", "WatchlistService"]

T = TypeVar("T")

EXPIRY = "lfr (expiry)"


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an expiry or a purge took off the disk for good (`Erased`), the vault ids of
    the photos it shredded, and the entries it expired (none for a purge)."""

    erased: Erased
    photos: tuple[str, ...] = ()
    entries: tuple[EntryMetadata, ...] = ()


@dataclass(frozen=True, slots=True)
class Added:
    """An entry added from photos, and the photos refused on the way."""

    entry: EntryMetadata
    refused: tuple[EnrolmentError, ...] = ()


class WatchlistService:
    """Watchlists in the LanceDB directory `root`, their changes logged in `log` first and
    their reference photos kept in `vault`.

    `pipeline` embeds photos; None loads the model pack named by the environment on first
    use. `max_expiry` bounds how far ahead an added entry may expire (default
    `LFR_WATCHLIST_MAX_EXPIRY_DAYS`, 31 days); an add beyond it is refused before anything
    is enrolled or logged. LanceDB and the models block, so they run in a worker thread,
    one call at a time.
    """

    def __init__(
        self,
        root: Path,
        *,
        log: EventStore,
        vault: BiometricVault,
        pipeline: FacePipeline | None = None,
        max_expiry: timedelta | None = None,
    ) -> None:
        self.root = Path(root)
        self.max_expiry = default_max_expiry() if max_expiry is None else max_expiry
        self.log = log
        self.vault = vault
        self._sealer = Sealer(vault)
        self._pipeline = pipeline
        self._stores: dict[str, WatchlistStore] = {}
        self._limiter = anyio.CapacityLimiter(1)
        self._intents = Intents(self.root)
        self._lock = DirectoryLock(self.root)
        self._settler = Settler(log, vault, self._intents, self._run)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn, limiter=self._limiter)

    async def store(self, watchlist: str) -> WatchlistStore:
        """The watchlist's store. :raises WatchlistError: not a valid watchlist name."""
        found = self._stores.get(watchlist)
        if found is None:
            found = await self._run(lambda: WatchlistStore(self.root, watchlist))
            self._stores[watchlist] = found
        return found

    # --- reading: metadata only ---------------------------------------------------------

    async def exists(self, watchlist: str) -> bool:
        """Whether the watchlist has been written to (reading one never creates it).

        :raises WatchlistError: not a valid watchlist name."""
        wl = await self.store(watchlist)
        return await self._run(wl.exists)

    async def entries(self, watchlist: str) -> list[EntryMetadata]:
        """The live list, without templates, sorted by id (none for a list never written:
        the read creates nothing)."""
        wl = await self._settled(watchlist)
        return await self._run(wl.listing)

    async def publications(self, watchlist: str) -> list[Publication]:
        wl = await self._settled(watchlist)
        return await self._run(wl.publications)

    # --- enrolment ------------------------------------------------------------------------

    async def enrol(self, photos: Sequence[Photo]) -> Enrolment:
        """Every photo with one clear subject embedded; the others refused, named by source.

        :raises ModelError: the face models cannot be loaded.
        """
        if self._pipeline is None:
            self._pipeline = await self._run(
                lambda: FacePipeline.from_pack(FacePipeline.config_from_env())
            )
        pipeline = self._pipeline
        return await self._run(lambda: enrol_photos(pipeline, photos))

    # --- changes: logged first ------------------------------------------------------------

    async def add_person(
        self,
        watchlist: str,
        photos: Sequence[Photo],
        *,
        label: str,
        category: str,
        legal_basis: str,
        added_by: str,
        expires_at: datetime,
        image_source: str | None = None,
        entry_id: str | None = None,
    ) -> Added:
        """Enrol one person from `photos` and add them (`image_source` defaults to the
        accepted photos' sources; `entry_id` to a fresh `wl-...`).

        :raises EnrolmentError: no photo could be enrolled, each one's reason given.
        :raises DuplicateEntryError: the id is taken. :raises WatchlistError: a bad field.
        :raises ExpiryTooFarError: `expires_at` beyond the policy's limit.
        """
        check_expiry(expires_at, self.max_expiry)
        await self.store(watchlist)  # a bad name fails before the models load
        enrolment = await self.enrol(photos)
        try:
            entry = enrolment.entry(
                entry_id=entry_id or f"wl-{uuid.uuid4().hex[:12]}",
                label=label,
                category=category,
                legal_basis=legal_basis,
                image_source=image_source or ", ".join(enrolment.sources),
                added_by=added_by,
                expires_at=expires_at,
            )
        finally:
            enrolment.forget()
        stored = await self.add(watchlist, entry, photo=enrolment.reference)
        return Added(stored, tuple(enrolment.refused))

    async def import_directory(
        self,
        watchlist: str,
        directory: Path,
        *,
        category: str,
        legal_basis: str,
        added_by: str,
        expires_at: datetime,
        on_refused: Callable[[EnrolmentError], None] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> list[EntryMetadata]:
        """One entry per `<identity>/` folder (id and label from its name), each logged and
        added as it is enrolled; an identity with no enrollable photo gets none.

        :raises EnrolmentError: not a folder. :raises DuplicateEntryError: an id is taken
            (the identities before it stay added).
        :raises ExpiryTooFarError: `expires_at` beyond the policy's limit.
        """
        check_expiry(expires_at, self.max_expiry)
        await self.store(watchlist)  # a bad name fails before the models load
        folders = await anyio.to_thread.run_sync(identity_photos, directory)
        added = []
        for identity, paths in folders.items():
            enrolment = await self.enrol([Photo.file(p) for p in paths])
            for refusal in enrolment.refused:
                if on_refused is not None:
                    on_refused(refusal)
            if not enrolment.sources:
                continue
            try:
                entry = enrolment.entry(
                    entry_id=slug(identity),
                    label=identity.replace("_", " "),
                    category=category,
                    legal_basis=legal_basis,
                    image_source=", ".join(enrolment.sources),
                    added_by=added_by,
                    expires_at=expires_at,
                )
            finally:
                enrolment.forget()
            if progress is not None:
                progress(f"enrolled {identity} from {entry.photos} photo(s)")
            added.append(await self.add(watchlist, entry, photo=enrolment.reference))
        return added

    async def add(
        self, watchlist: str, entry: WatchlistEntry, *, photo: bytes | None = None
    ) -> EntryMetadata:
        """Add an enrolled entry, its reference `photo` kept in the vault until it expires
        (a crash between the vault and the intent leaves a photo no event names, shredded
        at that expiry by the vault's retention sweep).

        :raises DuplicateEntryError: the id is taken. :raises WatchlistError: a bad field.
        :raises ExpiryTooFarError: `expires_at` beyond the policy's limit.
        """
        check_expiry(entry.expires_at, self.max_expiry)
        async with self._changing(watchlist) as wl:
            await self._run(lambda: wl.check_new(entry))
            _added(watchlist, entry, None)  # a bad category fails before the photo is kept
            ref = None
            if photo is not None:
                ref = await self.vault.put(photo, "watchlist_image", entry.expires_at)
                entry = dataclasses.replace(entry, image_ref=ref.blob_id)
            # who and from which photos: sealed in the log until the entry expires
            added = await self._sealer.seal_until(_added(watchlist, entry, ref), entry.expires_at)
            event = NewEvent(event=added)
            intent = Intent(
                kind="add",
                watchlist=watchlist,
                event_id=str(event.event_id),
                entry_id=entry.entry_id,
                image_ref=entry.image_ref,
                key_ref=added.sealed.key_ref if added.sealed is not None else None,
                undo_id=str(new_event_id()),
            )
            stored = entry

            async def write() -> None:
                await self._run(lambda: wl.add(stored))

            await self._logged(wl, intent, event, write)
        return entry.describe()

    async def add_many(
        self, watchlist: str, entries: Sequence[tuple[WatchlistEntry, bytes | None]]
    ) -> list[EntryMetadata]:
        """`add` each (entry, reference photo) in turn."""
        return [await self.add(watchlist, e, photo=photo) for e, photo in entries]

    async def remove(
        self, watchlist: str, entry_id: str, *, removed_by: str, reason: str
    ) -> EntryMetadata:
        """Take an entry off the live list (publish again to take it off cameras); its photo
        is shredded at once when no published version still holds it.

        :raises EntryNotFoundError: no such entry.
        """
        async with self._changing(watchlist) as wl:
            entry = await self._run(lambda: wl.describe(entry_id))
            await self._remove(wl, entry, removed_by=removed_by, reason=reason)
        return entry

    async def expire(
        self, watchlist: str, now: datetime, *, removed_by: str = EXPIRY
    ) -> list[EntryMetadata]:
        """Delete every live entry past its expiry at `now`, each logged first as a
        `WatchlistEntryRemoved` with reason "expired"; the templates leave the disk and each
        photo is shredded unless a published version still holds it (then it goes with that
        version's purge). Returns the entries expired (`erase_expired` also counts what
        left the disk)."""
        return list((await self.erase_expired(watchlist, now, removed_by=removed_by)).entries)

    async def erase_expired(
        self, watchlist: str, now: datetime, *, removed_by: str = EXPIRY
    ) -> Erasure:
        """`expire`, returning the entries expired and what left the disk for good: the
        templates of those no published version still holds, and the photos shredded."""
        async with self._changing(watchlist) as wl:
            listing = await self._run(wl.listing)
            expired = [e for e in listing if e.expired(now)]
            if not expired:
                return Erasure(Erased())
            held = await self._run(wl.held_by_versions)
            gone = [e.entry_id for e in expired if e.entry_id not in held]
            templates = await self._run(lambda: wl.template_count(gone))
            shredded: list[str] = []
            for entry in expired:
                ref = entry.image_ref
                had = ref is not None and await self.vault.exists(ref)
                await self._remove(wl, entry, removed_by=removed_by, reason="expired")
                if ref is not None and had and not await self.vault.exists(ref):
                    shredded.append(ref)
        erased = Erased(entries=len(gone), templates=templates, photos=len(shredded))
        return Erasure(erased, tuple(shredded), tuple(expired))

    async def watchlists(self) -> list[str]:
        """The watchlists kept under this service's directory."""
        return await self._run(lambda: WatchlistStore.names(self.root))

    async def purge_version(
        self, watchlist: str, version: str, *, reason: str = "deployment ended"
    ) -> Erasure:
        """Delete a published version for good (`WatchlistStore.purge_version` states the
        rule), shredding its unshared photos; a version already purged erases nothing."""
        shredded: list[str] = []

        def shred(ref: str) -> bool:  # from the purge's worker thread
            if not anyio.from_thread.run(self.vault.exists, ref):
                return False
            if anyio.from_thread.run(self.vault.shred, ref, reason):
                shredded.append(ref)
                return True
            return False

        async with self._changing(watchlist) as wl:
            erased = await self._run(lambda: wl.purge_version(version, shred))
        return Erasure(erased, tuple(shredded))

    async def _remove(
        self, wl: WatchlistStore, entry: EntryMetadata, *, removed_by: str, reason: str
    ) -> None:
        watchlist, entry_id = wl.name, entry.entry_id
        event = NewEvent(
            event=WatchlistEntryRemoved(
                watchlist=watchlist, entry_id=entry_id, removed_by=removed_by, reason=reason
            )
        )
        intent = Intent(
            kind="remove",
            watchlist=watchlist,
            event_id=str(event.event_id),
            entry_id=entry_id,
            image_ref=entry.image_ref,
        )

        async def write() -> None:
            shred_reason = "expired" if reason == "expired" else "removed from the watchlist"
            await self._settler.discard(wl, entry_id, entry.image_ref, shred_reason)

        await self._logged(wl, intent, event, write)

    async def publish(
        self,
        watchlist: str,
        *,
        published_by: str,
        valid_for: timedelta = timedelta(days=1),
        bespoke: bool = False,
    ) -> Publication:
        """Freeze the unexpired entries as a version named by their content hash; unchanged
        content returns the version published before (`reused`, nothing logged). A
        `bespoke` version is compiled for one deployment: its purge deletes the live entries
        no other version holds (`WatchlistStore.purge_version`).

        :raises EmptyWatchlistError: no unexpired entries.
        """
        async with self._changing(watchlist) as wl:
            plan = await self._run(
                lambda: wl.prepare_publish(published_by, valid_for, bespoke=bespoke)
            )
            pub = plan.publication
            if pub.reused:
                return pub
            event = NewEvent(
                event=WatchlistPublished(
                    watchlist=watchlist,
                    watchlist_version=pub.version,
                    entries=pub.entries,
                    published_by=published_by,
                    valid_until=pub.valid_until,
                    bespoke=pub.bespoke,
                ),
                occurred_at=pub.published_at,
            )
            intent = Intent(
                kind="publish",
                watchlist=watchlist,
                event_id=str(event.event_id),
                version=pub.version,
                published_by=published_by,
                published_at=pub.published_at,
                valid_until=pub.valid_until,
                bespoke=pub.bespoke,
            )

            async def write() -> None:
                await self._run(lambda: wl.commit(plan))

            await self._logged(wl, intent, event, write)
        return pub

    async def publish_entries(
        self,
        watchlist: str,
        entries: Sequence[tuple[WatchlistEntry, bytes | None]],
        *,
        published_by: str,
        valid_for: timedelta = timedelta(days=1),
        bespoke: bool = False,
    ) -> Publication:
        """Add the entries (each with its reference photo) and publish the list: what a
        site that enrols its own list at start (the demo) needs in one call."""
        await self.add_many(watchlist, entries)
        return await self.publish(
            watchlist, published_by=published_by, valid_for=valid_for, bespoke=bespoke
        )

    # --- the log first, and recovery ------------------------------------------------------

    @asynccontextmanager
    async def _changing(self, watchlist: str) -> AsyncIterator[WatchlistStore]:
        """Hold the directory and settle what an interrupted change left first, so changes
        apply to the list in the order the log records them."""
        wl = await self.store(watchlist)
        async with self._lock.held():
            await self._settle_all(watchlist)
            yield wl

    async def _logged(
        self,
        wl: WatchlistStore,
        intent: Intent,
        event: NewEvent,
        write: Callable[[], Awaitable[None]],
    ) -> None:
        await self._run(lambda: self._intents.write(intent))
        try:
            await self.log.append(stream(wl.name), [event])
            await write()
        except BaseException:
            # settle now if we can (undo an add, finish a logged removal); else the next
            # change or `recover()` does
            with anyio.move_on_after(30, shield=True), suppress(Exception):
                await self._settler.settle(wl, intent)
            raise
        await self._run(lambda: self._intents.clear(intent))

    async def recover(self) -> int:
        """Settle every change a crash left between the log and the store; returns how many
        (call once at start; each change also settles its own watchlist's first)."""
        async with self._lock.held():
            intents = await self._run(self._intents.pending)
            for intent in intents:
                await self._settler.settle(await self.store(intent.watchlist), intent)
        return len(intents)

    async def _settled(self, watchlist: str) -> WatchlistStore:
        wl = await self.store(watchlist)
        if await self._run(lambda: self._intents.pending(watchlist)):
            async with self._lock.held():
                await self._settle_all(watchlist)
        return wl

    async def _settle_all(self, watchlist: str) -> None:
        wl = await self.store(watchlist)
        for intent in await self._run(lambda: self._intents.pending(watchlist)):
            await self._settler.settle(wl, intent)


def _added(watchlist: str, entry: WatchlistEntry, ref: BiometricRef | None) -> WatchlistEntryAdded:
    if entry.category not in CATEGORIES:
        raise WatchlistError(f"category {entry.category!r} is not one of: {', '.join(CATEGORIES)}")
    return WatchlistEntryAdded(
        watchlist=watchlist,
        entry_id=entry.entry_id,
        label=entry.label,
        category=cast(WatchlistCategory, entry.category),
        legal_basis=entry.legal_basis,
        image_source=entry.image_source,
        added_by=entry.added_by,
        expires_at=entry.expires_at,
        image_ref=ref,
        photos=entry.photos,
        photo_sources=entry.photo_sources,
    )
