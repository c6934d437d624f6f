"""The demo's watchlists: each zone gets its own bespoke list of the cast's subjects,
enrolled from their photos, written to LanceDB and recorded and published in the log.

Enrolment photos differ from the street images; refused photos are logged with their reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from lfr.demo.cast import Cast
from lfr.demo.scenario import ZONES
from lfr.store.base import EventStore
from schemas.envelope import NewEvent
from schemas.events import WatchlistEntryAdded, WatchlistPublished

if TYPE_CHECKING:
    from lfr.vision.pipeline import FacePipeline
    from lfr.watchlist import WatchlistStore

__all__ = ["CATEGORIES", "WATCHLIST", "Enrolment", "enrol_watchlists"]

WATCHLIST = "town-centre-lfr"
CATEGORIES = ("wanted_by_police", "wanted_by_courts", "suspect", "missing_person")


@dataclass(frozen=True)
class Enrolment:
    """What enrolment made: one LanceDB store per zone's list, the version each zone
    deploys, and the identity behind each watchlist label (for the judge and the report)."""

    stores: tuple[WatchlistStore, ...]
    versions: dict[str, str]
    label_to_identity: dict[str, str]


async def enrol_watchlists(
    data_dir: Path,
    pipeline: FacePipeline,
    cast: Cast,
    store: EventStore,
    log: Callable[[str], None],
) -> Enrolment:
    """Enrol the cast's subjects from every accepted enrolment photo (refused ones are
    logged with their reason) into one bespoke watchlist per zone (criteria approved for
    that deployment, so each zone arms with its own version and its purge erases that
    copy); record and publish them."""
    from lfr.watchlist import WatchlistStore
    from lfr.watchlist.enrol import embed_photos

    now = datetime.now(UTC)
    label_to_identity: dict[str, str] = {}
    enrolments = []
    for m in cast.subjects:
        sources = [f"{m.identity}/{p.name}" for p in m.enrol_photos]
        enrolled = await anyio.to_thread.run_sync(
            partial(embed_photos, pipeline, m.enrol_photos, sources=sources)
        )
        for refusal in enrolled.refused:
            log(f"refused {refusal}")
        enrolments.append(enrolled)
        label_to_identity[m.identity.replace("_", " ")] = m.identity
    stores, versions = [], {}
    for zone, (title, _) in ZONES.items():
        name = f"{WATCHLIST}-{zone}"
        wstore = WatchlistStore(data_dir / "watchlist", name=name)
        events = []
        for i, (m, enrolled) in enumerate(zip(cast.subjects, enrolments, strict=True)):
            entry = enrolled.entry(
                entry_id=f"wl-{i + 1:03d}",
                label=m.identity.replace("_", " "),
                category=CATEGORIES[i % len(CATEGORIES)],
                legal_basis=f"Warrant / court order on file; criteria approved for {title} (demo)",
                image_source=f"custody images (demo gallery: {', '.join(enrolled.sources)})",
                added_by="DS 4012 Watchlist Manager",
                expires_at=now + timedelta(days=1),
            )
            await anyio.to_thread.run_sync(wstore.add, entry)
            events.append(
                NewEvent(
                    event=WatchlistEntryAdded(
                        watchlist=name,
                        entry_id=entry.entry_id,
                        label=entry.label,
                        category=entry.category,
                        legal_basis=entry.legal_basis,
                        image_source=entry.image_source,
                        added_by=entry.added_by,
                        expires_at=entry.expires_at,
                        photos=entry.photos,
                        photo_sources=entry.photo_sources,
                    )
                )
            )
        pub = await anyio.to_thread.run_sync(wstore.publish, "DS 4012 Watchlist Manager")
        events.append(
            NewEvent(
                event=WatchlistPublished(
                    watchlist=name,
                    watchlist_version=pub.version,
                    entries=pub.entries,
                    published_by=pub.published_by,
                    valid_until=pub.valid_until,
                )
            )
        )
        await store.append(f"watchlist:{name}", events)
        log(f"watchlist {name} published: {pub.entries} entries, version {pub.version[:12]}")
        stores.append(wstore)
        versions[zone] = pub.version
    for enrolled in enrolments:
        enrolled.forget()  # each zone's store holds its own copy now
    return Enrolment(tuple(stores), versions, label_to_identity)
