# One module past 450 lines on purpose: the LanceDB store of record (entries, versions,
# erasure) keeps its tables' invariants in one place.
"""`WatchlistStore`: the store of record in LanceDB (an embedded directory by default).

Entries are edited in one table; `publish` freezes the live (unexpired) entries under a
content hash into another, and that version is what a deployment arms with: `load(version)`
returns an `ArmedWatchlist` searched in memory. A published version is never changed, only
purged whole once its deployment is over (`purge_version`). A version published `bespoke`
(compiled for one deployment, as the demo's per-zone lists are) takes the live entries only it
holds with it when purged: "the watchlist is deleted after its deployment" means the list,
not only its frozen copy. A standing list's live entries stay until removed or expired
(`expire` deletes them; filtering them out of a publication is not enough).

LanceDB keeps deleted rows in its data files and older table versions, so removing and
purging rewrite the table and drop every older version: the bytes leave the disk, not only
the listing. An entry's row holds its mean template (`vector`, what a search compares with)
beside each accepted photo's own (`templates`), so deleting or purging the row erases them all
at once. Listings and labels (`listing`, `describe`, `version_listing`) read metadata columns
only, never a template. Writers take a per-directory lock; changes go through
`lfr.watchlist.WatchlistService`, which logs them first and locks across processes. Over 450
lines: the tables and the deletion rules share one lock and one rewrite, and splitting them
would spread what "deleted" means over two modules.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lfr.watchlist import _arrow
from lfr.watchlist.armed import ArmedWatchlist, LanceGallery
from lfr.watchlist.entry import EntryMetadata, WatchlistEntry, content_hash
from lfr.watchlist.errors import (
    DuplicateEntryError,
    EmptyWatchlistError,
    EntryNotFoundError,
    VersionNotFoundError,
    WatchlistError,
)

__all__ = ["Erased", "PublishPlan", "Publication", "WatchlistStore", "default_store_path"]

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


_LOCKS: dict[Path, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.RLock:
    """One lock per LanceDB directory, shared by every `WatchlistStore` open on it: a purge
    rewrites tables, and a reader or writer meanwhile would lose rows or read deleted files."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path.resolve(), threading.RLock())


def default_store_path() -> Path:
    from lfr.config import settings

    return settings().data_dir / "watchlist"


@dataclass(frozen=True, slots=True)
class Publication:
    watchlist: str
    version: str
    entries: int
    published_by: str
    published_at: datetime
    valid_until: datetime
    reused: bool = False  # publish() found this content already published
    bespoke: bool = False  # compiled for one deployment: its purge deletes the live entries


@dataclass(frozen=True, slots=True)
class Erased:
    """What a purge or expiry took off the disk for good: entries no table holds any longer,
    their templates (the mean and each per-photo one), and the photos shredded. A frozen
    copy whose entry the live list or another version still holds is not counted."""

    entries: int = 0
    templates: int = 0
    photos: int = 0

    @property
    def refs(self) -> int:
        """Biometric references erased: one per template, one per photo."""
        return self.templates + self.photos

    def __add__(self, other: Erased) -> Erased:
        return Erased(
            self.entries + other.entries,
            self.templates + other.templates,
            self.photos + other.photos,
        )


@dataclass(frozen=True, slots=True, repr=False)
class PublishPlan:
    """A publication worked out but not yet written: `WatchlistService` records it in the
    log first, then `WatchlistStore.commit` writes exactly these entries."""

    publication: Publication
    entries: list[WatchlistEntry]

    def __repr__(self) -> str:
        return f"PublishPlan(version={self.publication.version!r})"


class _Absent:
    """A table not written yet, read as empty (so a read creates nothing): the few LanceDB
    calls the readers make, answered from an empty Arrow table of the table's schema."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self._columns: list[str] | None = None

    def count_rows(self, where: str | None = None) -> int:
        return 0

    def to_arrow(self) -> Any:
        empty = self.schema.empty_table()
        return empty if self._columns is None else empty.select(self._columns)

    def search(self) -> _Absent:
        return _Absent(self.schema)

    def where(self, condition: str) -> _Absent:
        return self

    def select(self, columns: list[str]) -> _Absent:
        self._columns = list(columns)
        return self

    def limit(self, n: int | None) -> _Absent:
        return self


class WatchlistStore:
    """One named watchlist in a LanceDB directory. Blocking: call it from a worker thread."""

    def __init__(self, path: Path | None = None, name: str = "default", dim: int = 512) -> None:
        if not _ID.match(name):
            raise WatchlistError(f"watchlist name {name!r} must match {_ID.pattern}")
        self.path = path or default_store_path()
        self.name = name
        self.dim = dim
        self._lock = _lock_for(self.path)
        self._conn: Any = None  # connected on first use: reading creates no directory

    @property
    def _db(self) -> Any:
        """The LanceDB connection, the directory made on first write."""
        if self._conn is None:
            import lancedb

            self.path.mkdir(parents=True, exist_ok=True)
            self._conn = lancedb.connect(str(self.path))
        return self._conn

    # --- tables -------------------------------------------------------------------------

    def _rows(self, entries: list[WatchlistEntry]) -> Any:
        """Entries as Arrow rows (lfr.bench.vision bulk-inserts them)."""
        return _arrow.rows(self.dim, entries)

    def _schema(self, suffix: str) -> Any:
        import pyarrow as pa

        if suffix == "publications":
            return pa.schema(
                [
                    pa.field(n, pa.string())
                    for n in ("version", "published_by", "published_at", "valid_until")
                ]
                + [pa.field("entries", pa.int64()), pa.field("bespoke", pa.bool_())]
            )
        return _arrow.schema(self.dim, version=suffix == "published")

    def _read(self, suffix: str) -> Any:
        """The table to read: absent (a watchlist never written) reads as empty, and
        nothing is created for it, neither the table nor the directory."""
        return self._table(suffix, create=False)

    def _table(self, suffix: str, *, create: bool = True) -> Any:
        name = f"{self.name}_{suffix}"
        if self._conn is None and not create and not self.path.is_dir():
            return _Absent(self._schema(suffix))  # (another process may make it later)
        try:
            table = self._db.open_table(name)
        except (ValueError, FileNotFoundError):
            if not create:
                return _Absent(self._schema(suffix))
            # first write to this watchlist: create the table below
        else:
            have = set(table.schema.names)
            if suffix != "publications":
                # written before reference photos (image_ref) or the per-photo templates
                # (templates, photo_sources) were kept: those rows read as None
                missing = [f for f in _arrow.schema(self.dim, version=False) if f.name not in have]
                if missing:
                    table.add_columns(missing)
            elif "bespoke" not in have:
                import pyarrow as pa

                table.add_columns([pa.field("bespoke", pa.bool_())])  # None: a standing list
            return table
        return self._db.create_table(name, schema=self._schema(suffix), exist_ok=True)

    # --- entries ------------------------------------------------------------------------

    def add(self, entry: WatchlistEntry) -> None:
        """:raises DuplicateEntryError: the id is taken. :raises WatchlistError: a bad field."""
        with self._lock:
            self.check_new(entry)
            self._table("entries").add(_arrow.rows(self.dim, [entry]))

    def check_new(self, entry: WatchlistEntry) -> None:
        """Whether `add(entry)` would be accepted, without writing (so the change can be
        logged before it is made).

        :raises DuplicateEntryError: the id is taken. :raises WatchlistError: a bad field.
        """
        if not _ID.match(entry.entry_id):
            raise WatchlistError(f"entry id {entry.entry_id!r} must match {_ID.pattern}")
        if entry.embedding.shape != (self.dim,):
            raise WatchlistError(
                f"entry {entry.entry_id!r} has a {entry.embedding.shape} embedding, "
                f"this watchlist holds {self.dim}-d ones"
            )
        if entry.expires_at.tzinfo is None:
            raise WatchlistError("expires_at must carry a time zone")
        if entry.image_ref is not None and not entry.image_ref.isalnum():
            raise WatchlistError(f"image_ref {entry.image_ref!r} is not a vault blob id")
        with self._lock:
            if self._read("entries").count_rows(f"entry_id = '{entry.entry_id}'"):
                raise DuplicateEntryError(entry.entry_id, self.name)

    def attach_image(self, entry_id: str, image_ref: str) -> None:
        """Keep the vault id of the entry's photo beside its template, so a purge can shred
        it. :raises EntryNotFoundError: no such entry. :raises WatchlistError: not a blob id.
        """
        if not image_ref.isalnum():
            raise WatchlistError(f"image_ref {image_ref!r} is not a vault blob id")
        with self._lock:
            self.describe(entry_id)  # a known id, so it is safe to quote below
            self._table("entries").update(
                where=f"entry_id = '{entry_id}'", values={"image_ref": image_ref}
            )

    def entries(
        self, *, include_expired: bool = True, now: datetime | None = None
    ) -> list[WatchlistEntry]:
        """Every entry with its templates (to publish or check them; listings use `listing`)."""
        with self._lock:
            found = _arrow.entries(self._read("entries").to_arrow())
        if not include_expired:
            now = now or datetime.now(UTC)
            found = [e for e in found if not e.expired(now)]
        return sorted(found, key=lambda e: e.entry_id)

    def get(self, entry_id: str) -> WatchlistEntry:
        """One entry with its templates. :raises EntryNotFoundError: no such entry."""
        if _ID.match(entry_id):
            with self._lock:
                rows = _arrow.where(self._read("entries"), f"entry_id = '{entry_id}'")
            found = _arrow.entries(rows)
            if found:
                return found[0]
        raise EntryNotFoundError(entry_id, self.name)

    # --- metadata only: what listings and labels need, read without any template ----------
    def listing(self) -> list[EntryMetadata]:
        """The live list's entries without their templates, sorted by id."""
        with self._lock:
            return _arrow.described(_arrow.scan(self._read("entries")))

    def find(self, entry_id: str) -> EntryMetadata | None:
        """The live entry `entry_id` without its templates, or None."""
        if not _ID.match(entry_id):
            return None
        with self._lock:
            rows = _arrow.scan(self._read("entries"), f"entry_id = '{entry_id}'")
        found = _arrow.described(rows)
        return found[0] if found else None

    def describe(self, entry_id: str) -> EntryMetadata:
        """:raises EntryNotFoundError: no such entry."""
        found = self.find(entry_id)
        if found is None:
            raise EntryNotFoundError(entry_id, self.name)
        return found

    def version_listing(self, version: str) -> list[EntryMetadata]:
        """A published version's entries without their templates.

        :raises VersionNotFoundError: no such version.
        """
        with self._lock:
            version = self._version(version)  # a published version: safe to quote
            rows = _arrow.scan(self._read("published"), f"version = '{version}'")
        return _arrow.described(rows)

    def remove(self, entry_id: str) -> EntryMetadata:
        """Delete an entry from the editable list, its template bytes included (published
        versions keep theirs until purged). :raises EntryNotFoundError: no such entry."""
        removed = self.discard(entry_id)
        if removed is None:
            raise EntryNotFoundError(entry_id, self.name)
        return removed

    def discard(self, entry_id: str) -> EntryMetadata | None:
        """`remove`, but None when the entry is not there (so a replayed removal is a no-op)."""
        with self._lock:
            entry = self.find(entry_id)
            if entry is None:
                return None
            table = self._table("entries")
            table.delete(f"entry_id = '{entry_id}'")
            self._rewrite(table)
        return entry

    def expire(self, now: datetime) -> list[EntryMetadata]:
        """Delete every live entry past its expiry at `now`, templates included (the table
        rewritten, older versions dropped); return them, so their photos can be shredded.
        Published versions keep their frozen copies until purged."""
        with self._lock:
            expired = [m for m in self.listing() if m.expired(now)]
            if expired:
                table = self._table("entries")
                ids = ", ".join(f"'{m.entry_id}'" for m in expired)  # ids from the store
                table.delete(f"entry_id IN ({ids})")
                self._rewrite(table)
        return expired

    def held_by_versions(self) -> frozenset[str]:
        """Ids of the entries some published version holds a frozen copy of (deleting such
        an entry from the live list leaves its templates on the disk until that purge)."""
        with self._lock:
            rows = self._read("published").search().select(["entry_id"]).limit(None).to_arrow()
        return frozenset(rows.column("entry_id").to_pylist())

    def template_count(self, entry_ids: Collection[str]) -> int:
        """Templates (the mean and each per-photo one) the live entries `entry_ids` hold:
        counted from the stored list lengths, no template decoded."""
        import pyarrow.compute as pc

        ids = sorted(i for i in entry_ids if _ID.match(i))
        if not ids:
            return 0
        where = "entry_id IN ({})".format(", ".join(f"'{i}'" for i in ids))
        with self._lock:
            rows = _arrow.where(self._read("entries"), where)
        lengths = pc.list_value_length(rows.column("templates")).to_pylist()
        return sum(1 + (n or 0) for n in lengths)

    def exists(self) -> bool:
        """Whether this watchlist has been written to (a table of it is on the disk)."""
        return self.name in self.names(self.path)

    @staticmethod
    def names(path: Path) -> list[str]:
        """The watchlists kept in the LanceDB directory `path` (none when it does not exist)."""
        if not path.is_dir():
            return []
        suffixes = ("_entries.lance", "_publications.lance")
        tables = [p.name for p in path.iterdir() if p.name.endswith(suffixes)]
        found = {t.removesuffix(".lance").rsplit("_", 1)[0] for t in tables}
        return sorted(n for n in found if _ID.match(n))

    def photo_held(self, image_ref: str) -> bool:
        """Whether the live list or a published version still holds the photo `image_ref`:
        only a photo nothing holds may be shredded."""
        if not image_ref.isalnum():
            return False
        where = f"image_ref = '{image_ref}'"
        with self._lock:
            return bool(
                self._read("entries").count_rows(where) or self._read("published").count_rows(where)
            )

    def _rewrite(self, table: Any) -> None:
        """Write the table's rows afresh and drop every older version of it: a LanceDB
        delete only marks rows, and compaction keeps a file with few deletions, so this is
        what takes deleted templates off the disk."""
        table.add(table.to_arrow(), mode="overwrite")
        with warnings.catch_warnings():
            # cleanup_older_than=0 warns that concurrent readers of old versions fail; the
            # directory lock keeps this process's readers out, and we want them gone
            warnings.filterwarnings("ignore", r"optimize\(cleanup_older_than=0\)", UserWarning)
            table.optimize(cleanup_older_than=timedelta(0))

    # --- versions -----------------------------------------------------------------------

    def publish(
        self,
        published_by: str,
        valid_for: timedelta = timedelta(days=1),
        *,
        bespoke: bool = False,
    ) -> Publication:
        """Freeze the unexpired entries as a version named by their content hash (`bespoke`:
        for one deployment, whose purge deletes the live entries only it holds).

        Publishing unchanged content again returns the existing version.
        :raises EmptyWatchlistError: nothing to publish.
        """
        with self._lock:
            plan = self.prepare_publish(published_by, valid_for, bespoke=bespoke)
            return plan.publication if plan.publication.reused else self.commit(plan)

    def prepare_publish(
        self,
        published_by: str,
        valid_for: timedelta,
        *,
        now: datetime | None = None,
        bespoke: bool = False,
    ) -> PublishPlan:
        """The publication of the entries unexpired at `now`, not yet written; `reused`
        when that content is published already. The same entries and `now` always give
        the same plan, so an interrupted publication can be written again later.

        :raises EmptyWatchlistError: nothing to publish.
        """
        now = now or datetime.now(UTC)
        with self._lock:
            live = self.entries(include_expired=False, now=now)
            if not live:
                raise EmptyWatchlistError(self.name)
            version = content_hash(live)
            for publication in self.publications():
                if publication.version == version:
                    return PublishPlan(dataclasses.replace(publication, reused=True), live)
        valid_until = min([now + valid_for, *(e.expires_at for e in live)])
        publication = Publication(
            self.name, version, len(live), published_by, now, valid_until, bespoke=bespoke
        )
        return PublishPlan(publication, live)

    def commit(self, plan: PublishPlan) -> Publication:
        """Write a planned publication; a version already written is left as it is."""
        with self._lock:
            for publication in self.publications():
                if publication.version == plan.publication.version:
                    return dataclasses.replace(publication, reused=True)
            return self._write_publication(plan)

    def _write_publication(self, plan: PublishPlan) -> Publication:
        publication = plan.publication
        version, now = publication.version, publication.published_at
        published_by, valid_until = publication.published_by, publication.valid_until
        live = plan.entries
        published = self._table("published")
        if published.count_rows(f"version = '{version}'"):
            # rows left by a write interrupted before its publication row: write them afresh
            published.delete(f"version = '{version}'")
        published.add(_arrow.rows(self.dim, live, version))
        import pyarrow as pa

        self._table("publications").add(
            pa.table(
                {
                    "version": [version],
                    "published_by": [published_by],
                    "published_at": [now.isoformat()],
                    "valid_until": [valid_until.isoformat()],
                    "entries": pa.array([len(live)], pa.int64()),
                    "bespoke": pa.array([publication.bespoke], pa.bool_()),
                }
            )
        )
        return publication

    def publications(self) -> list[Publication]:
        with self._lock:
            data = self._read("publications").to_arrow().to_pydict()
        out = [
            Publication(
                self.name,
                data["version"][i],
                int(data["entries"][i]),
                data["published_by"][i],
                datetime.fromisoformat(data["published_at"][i]),
                datetime.fromisoformat(data["valid_until"][i]),
                bespoke=bool(data["bespoke"][i]),
            )
            for i in range(len(data["version"]))
        ]
        return sorted(out, key=lambda p: p.published_at)

    def _version(self, version: str | None) -> str:
        publications = self.publications()
        if version is None:
            if not publications:
                raise VersionNotFoundError("(latest)", self.name)
            return publications[-1].version
        if not any(p.version == version for p in publications):
            raise VersionNotFoundError(version, self.name)
        return version

    def version_entries(self, version: str | None = None) -> list[WatchlistEntry]:
        with self._lock:
            version = self._version(version)
            if "'" in version:
                raise VersionNotFoundError(version, self.name)
            rows = self._version_rows(version)
        return sorted(_arrow.entries(rows), key=lambda e: e.entry_id)

    def _version_rows(self, version: str) -> Any:
        return _arrow.where(self._read("published"), f"version = '{version}'")

    def _gallery_table(self, version: str) -> str:
        return f"{self.name}_v_{version.split(':')[-1][:16]}"

    def purge_version(self, version: str, shred: Callable[[str], bool] | None = None) -> Erased:
        """Delete a published version once the deployment armed with it is over; return what
        left the disk for good.

        "The watchlist is deleted" means the deployment's frozen copy: the version's template
        rows (written out of the data files, older table versions dropped), its LanceDB
        search table and its publication, so it can never be armed again. A `bespoke`
        version also takes the live entries it holds that no other version holds (the list
        was compiled for that deployment alone), so publishing from what is left cannot
        rebuild it. Each photo the version holds is shredded through `shred`
        (`BiometricVault.shred_sync`) unless the live list or another published version
        still holds the entry. A version already purged, or never published, erases nothing.
        """
        if "'" in version:
            return Erased()
        with self._lock:
            published, live = self._read("published"), self._read("entries")
            pub = next((p for p in self.publications() if p.version == version), None)
            mine = _arrow.entries(self._version_rows(version))
            others = (
                published.search()
                .where(f"version != '{version}'")
                .select(["entry_id", "image_ref"])
                .limit(None)
                .to_arrow()
                .to_pydict()
            )
            held = set(others["entry_id"])
            drop = sorted({e.entry_id for e in mine} - held) if pub and pub.bespoke else []
            kept = live.to_arrow().select(["entry_id", "image_ref"]).to_pydict()
            keep = [i for i, e in enumerate(kept["entry_id"]) if e not in drop]
            held |= {kept["entry_id"][i] for i in keep}
            photos = {e.image_ref for e in mine if e.image_ref}
            pairs = zip(kept["entry_id"], kept["image_ref"], strict=True)
            photos |= {r for e, r in pairs if e in drop and r}
            photos -= {*others["image_ref"], *(kept["image_ref"][i] for i in keep)}
            gone = [e for e in mine if e.entry_id not in held]
            # photos first: if shredding fails, the rows are still here for the retry
            shredded = sum(1 for ref in sorted(photos) if shred is not None and shred(ref))
            if pub is None and not mine:
                return Erased()  # never published here, or purged already: nothing to do
            try:
                self._db.drop_table(self._gallery_table(version))
            except ValueError:
                pass  # no LanceGallery was built for this version
            if drop:
                ids = ", ".join(f"'{e}'" for e in drop)  # ids read from the store
                live.delete(f"entry_id IN ({ids})")
                self._rewrite(live)
            if mine:
                published.delete(f"version = '{version}'")
                self._rewrite(published)
            # last, so a purge interrupted above is found and finished by the next one
            self._table("publications").delete(f"version = '{version}'")
            return Erased(
                entries=len(gone),
                templates=sum(1 + (0 if e.templates is None else len(e.templates)) for e in gone),
                photos=shredded,
            )

    def load(self, version: str | None = None) -> ArmedWatchlist:
        """The published version (latest if None) in memory, checked against its hash.

        :raises VersionNotFoundError: no such version.
        :raises WatchlistError: the stored rows no longer hash to the version (tampering).
        """
        with self._lock:
            version = self._version(version)
            entries = self.version_entries(version)
        actual = content_hash(entries)
        if actual != version:
            raise WatchlistError(
                f"watchlist {self.name!r} version {version} hashes to {actual}: the store "
                "was altered; do not arm with it, publish again from the reviewed entries"
            )
        return ArmedWatchlist.from_entries(entries, version)

    def lance_gallery(self, version: str | None = None) -> LanceGallery:
        """Search a published version inside LanceDB (for lists too large for memory)."""
        with self._lock:
            version = self._version(version)
            # the mean is what is searched: no copy of the per-photo templates goes there
            rows = _arrow.rows(self.dim, self.version_entries(version))
            table = self._db.create_table(
                self._gallery_table(version),
                data=rows.drop_columns(["templates"]),
                mode="overwrite",
            )
        return LanceGallery(table, version)
