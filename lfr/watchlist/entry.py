"""A watchlist entry: who, why, on what legal basis, from which image, until when."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from lfr.watchlist.errors import ExpiryTooFarError, WatchlistError

__all__ = [
    "CATEGORIES",
    "Category",
    "EntryMetadata",
    "WatchlistEntry",
    "check_expiry",
    "content_hash",
    "max_expiry",
]

Category = Literal[
    "wanted_by_police",
    "wanted_by_courts",
    "suspect",
    "missing_person",
    "vulnerable_person",
    "risk_to_self_or_others",
]
CATEGORIES: tuple[str, ...] = get_args(Category)


def max_expiry() -> timedelta:
    """How far ahead an entry may expire by policy: `LFR_WATCHLIST_MAX_EXPIRY_DAYS` (31)."""
    from lfr.config import settings

    return timedelta(days=settings().watchlist_max_expiry_days)


def check_expiry(expires_at: datetime, limit: timedelta, now: datetime | None = None) -> None:
    """Refuse an expiry further than `limit` from `now` (the year 9999 included): a person
    goes on a list for a bounded time and is renewed, never kept for ever by a typo.

    :raises ExpiryTooFarError: beyond the limit. :raises WatchlistError: no time zone.
    """
    if expires_at.tzinfo is None:
        raise WatchlistError("expires_at must carry a time zone")
    if expires_at - (now or datetime.now(UTC)) > limit:
        raise ExpiryTooFarError(expires_at, limit)


@dataclass(slots=True, repr=False)
class WatchlistEntry:
    """One person on a watchlist, with an L2-normalised template embedding.

    `embedding` is what searches compare with: the renormalised mean of the accepted photos'
    templates (one photo finds far fewer mated searches than the mean of three,
    shared/MODELS.md). `templates` keeps each photo's own template (k x dim) and
    `photo_sources` where each came from, so a reviewer can see which photos an entry rests
    on and a later model can re-weigh them; entries stored before they were kept have None
    and (). `image_ref` is the vault blob id of the reference photo, when the vault holds
    one: the store keeps it beside the template so purging a version can shred the photo too.
    """

    entry_id: str
    label: str
    category: str
    legal_basis: str
    image_source: str
    added_by: str
    expires_at: datetime
    embedding: npt.NDArray[np.float32]
    added_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    photos: int = 1
    image_ref: str | None = None
    templates: npt.NDArray[np.float32] | None = None
    photo_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.templates is None:
            if self.photo_sources:
                raise ValueError("photo_sources name the rows of templates: give both")
            return
        if self.templates.ndim != 2 or self.templates.shape[1:] != self.embedding.shape:
            raise ValueError(
                f"templates of shape {self.templates.shape} do not go with a "
                f"{self.embedding.shape} embedding"
            )
        if self.photo_sources and len(self.photo_sources) != len(self.templates):
            raise ValueError(
                f"{len(self.photo_sources)} photo sources for {len(self.templates)} templates"
            )
        self.photos = len(self.templates)

    def __repr__(self) -> str:
        return f"WatchlistEntry(entry_id={self.entry_id!r}, label={self.label!r})"

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or datetime.now(UTC))

    def metadata(self) -> dict[str, str | int | list[str]]:
        """The entry without its embeddings, for listings and events."""
        return self.describe().metadata()

    def describe(self) -> EntryMetadata:
        """Everything but the templates."""
        return EntryMetadata(
            entry_id=self.entry_id,
            label=self.label,
            category=self.category,
            legal_basis=self.legal_basis,
            image_source=self.image_source,
            added_by=self.added_by,
            added_at=self.added_at,
            expires_at=self.expires_at,
            photos=self.photos,
            image_ref=self.image_ref,
            photo_sources=self.photo_sources,
        )


@dataclass(frozen=True, slots=True)
class EntryMetadata:
    """A watchlist entry without its templates: what listings, officers and the catalog need.

    The store reads it with a column projection, so showing a label never loads (or keeps in
    memory) anyone's biometric template.
    """

    entry_id: str
    label: str
    category: str
    legal_basis: str
    image_source: str
    added_by: str
    added_at: datetime
    expires_at: datetime
    photos: int = 1
    image_ref: str | None = None
    photo_sources: tuple[str, ...] = ()

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or datetime.now(UTC))

    def metadata(self) -> dict[str, str | int | list[str]]:
        """The listing's row (`lfr watchlist list --json`); the vault id stays out of it."""
        return {
            "entry_id": self.entry_id,
            "label": self.label,
            "category": self.category,
            "legal_basis": self.legal_basis,
            "image_source": self.image_source,
            "added_by": self.added_by,
            "added_at": self.added_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "photos": self.photos,
            "photo_sources": list(self.photo_sources),
        }


def content_hash(entries: Sequence[WatchlistEntry]) -> str:
    """sha256 over the entries sorted by id: metadata that matters and the embedding bytes.

    Two publications with the same people, reasons and templates get the same version. The
    per-photo templates and their sources are covered when an entry has them; an entry
    without (stored before they were kept) hashes as it always did, so the versions
    published then still verify.
    """
    digest = hashlib.sha256(b"lfr-watchlist-v1\n")
    for entry in sorted(entries, key=lambda e: e.entry_id):
        for value in (
            entry.entry_id,
            entry.label,
            entry.category,
            entry.legal_basis,
            entry.image_source,
            entry.expires_at.isoformat(),
        ):
            digest.update(value.encode() + b"\x1f")
        digest.update(np.ascontiguousarray(entry.embedding, dtype="<f4").tobytes())
        if entry.templates is not None:
            digest.update(f"\x1dtemplates:{len(entry.templates)}\x1f".encode())
            for source in entry.photo_sources:
                digest.update(source.encode() + b"\x1f")
            digest.update(np.ascontiguousarray(entry.templates, dtype="<f4").tobytes())
        digest.update(b"\x1e")
    return "sha256:" + digest.hexdigest()
