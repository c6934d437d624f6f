"""The demo's watchlists: each zone gets its own bespoke list of the cast's subjects,
enrolled from their photos through the watchlist service (the same door as `lfr watchlist`
and the HTTP API: the log first, reference photos in the vault, templates in LanceDB).

Enrolment photos differ from the street images; refused photos are logged with their reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lfr.demo.cast import Cast
from lfr.demo.scenario import ZONES
from lfr.store.base import EventStore

if TYPE_CHECKING:
    from lfr.vault import BiometricVault
    from lfr.vision.pipeline import FacePipeline
    from lfr.watchlist import WatchlistStore

__all__ = ["CATEGORIES", "WATCHLIST", "DemoWatchlists", "enrol_watchlists"]

WATCHLIST = "town-centre-lfr"
CATEGORIES = ("wanted_by_police", "wanted_by_courts", "suspect", "missing_person")
MANAGER = "DS 4012 Watchlist Manager"


@dataclass(frozen=True)
class DemoWatchlists:
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
    vault: BiometricVault,
    log: Callable[[str], None],
) -> DemoWatchlists:
    """Enrol the cast's subjects from every accepted enrolment photo (refused ones are
    logged with their reason) into one bespoke watchlist per zone (criteria approved for
    that deployment, so each zone arms with its own version and its purge erases that
    copy), and publish them."""
    from lfr.watchlist import Photo, WatchlistService

    service = WatchlistService(data_dir / "watchlist", log=store, vault=vault, pipeline=pipeline)
    now = datetime.now(UTC)
    label_to_identity: dict[str, str] = {}
    enrolments = []
    for m in cast.subjects:
        photos = [Photo.file(p, source=f"{m.identity}/{p.name}") for p in m.enrol_photos]
        enrolled = await service.enrol(photos)
        for refusal in enrolled.refused:
            log(f"refused {refusal}")
        enrolments.append(enrolled)
        label_to_identity[m.identity.replace("_", " ")] = m.identity
    stores, versions = [], {}
    try:
        for zone, (title, _) in ZONES.items():
            name = f"{WATCHLIST}-{zone}"
            entries = [
                (
                    enrolled.entry(
                        entry_id=f"wl-{i + 1:03d}",
                        label=m.identity.replace("_", " "),
                        category=CATEGORIES[i % len(CATEGORIES)],
                        legal_basis=(
                            f"Warrant / court order on file; criteria approved for {title} (demo)"
                        ),
                        image_source=(
                            f"custody images (demo gallery: {', '.join(enrolled.sources)})"
                        ),
                        added_by=MANAGER,
                        expires_at=now + timedelta(days=1),
                    ),
                    enrolled.reference,
                )
                for i, (m, enrolled) in enumerate(zip(cast.subjects, enrolments, strict=True))
            ]
            pub = await service.publish_entries(name, entries, published_by=MANAGER, bespoke=True)
            log(f"watchlist {name} published: {pub.entries} entries, version {pub.version[:12]}")
            stores.append(await service.store(name))
            versions[zone] = pub.version
    finally:
        for enrolled in enrolments:
            enrolled.forget()  # each zone's store holds its own copy now
    return DemoWatchlists(tuple(stores), versions, label_to_identity)
