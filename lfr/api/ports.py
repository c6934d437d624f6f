"""What the API needs from the rest of the site, as small protocols injected into `create_app`.

The lfr runtime never imports `actors` (an import-linter contract), so the actors' `Site`
satisfies `SiteCommands` and the composition root's caller (`lfr serve`, over
`actors.site.open_site`) passes it in. A command a domain rule refuses raises
`lfr.kernel.CommandRejected`, which the API answers with 409.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import WatchlistCategory

__all__ = [
    "DeploymentRef",
    "EngagementOutcome",
    "SiteCommands",
    "Verdict",
    "WatchlistEntryInfo",
    "WatchlistService",
]

Verdict = Literal["confirmed", "false_alert"]
CheckOutReason = Literal["end_of_duty", "reassigned", "supervisor"]
EngagementOutcome = Literal[
    "arrested", "spoken_to", "safeguarded", "not_located", "confirmed_false", "other"
]


class DeploymentRef(Protocol):
    """What `authorise_deployment` returns: anything naming the deployment."""

    @property
    def deployment_id(self) -> str: ...


@runtime_checkable
class SiteCommands(Protocol):
    """The site's command interface (the actors' `Site` satisfies it)."""

    async def authorise_deployment(
        self,
        zone: str,
        *,
        starts_at: datetime,
        ends_at: datetime,
        watchlist_version: str,
        threshold: float,
        legal_basis: str,
        reason: str,
        authorised_by: str,
        cameras: tuple[str, ...] | None = None,
    ) -> DeploymentRef | str:
        """Authorise LFR in `zone`; returns the deployment (or its id)."""
        ...

    async def cancel_deployment(
        self, zone: str, deployment_id: str, *, cancelled_by: str, note: str | None = None
    ) -> object: ...

    async def check_in(
        self, patrol_id: str, *, zone: str, officers: tuple[str, ...], callsign: str | None = None
    ) -> object: ...

    async def check_out(
        self, patrol_id: str, *, reason: CheckOutReason = "end_of_duty"
    ) -> object: ...

    async def acknowledge(self, patrol_id: str, alert_id: str, *, officer: str) -> object: ...

    async def adjudicate(
        self,
        patrol_id: str,
        alert_id: str,
        *,
        officer: str,
        verdict: Verdict,
        note: str | None = None,
    ) -> object: ...

    async def record_engagement(
        self,
        patrol_id: str,
        alert_id: str,
        *,
        engagement_officer: str,
        outcome: EngagementOutcome,
        note: str | None = None,
    ) -> object: ...


class WatchlistEntryInfo(BaseModel):
    """One watchlist entry as the API shows it (no embedding, no image bytes)."""

    model_config = ConfigDict(frozen=True)

    entry_id: str
    label: str
    category: WatchlistCategory
    legal_basis: str
    image_source: str
    added_by: str
    expires_at: datetime
    photos: int = Field(default=1, ge=0)
    photos_refused: tuple[str, ...] = Field(
        default=(),
        description="photos of the request left out of the entry, each with the reason",
    )


@runtime_checkable
class WatchlistService(Protocol):
    """The watchlist store of record (lfr.watchlist), behind what the API needs."""

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
    ) -> WatchlistEntryInfo: ...

    async def list_entries(self, watchlist: str) -> list[WatchlistEntryInfo]:
        """The live entries; an unknown watchlist is an error (404), never created."""
        ...

    async def publish(self, watchlist: str, *, published_by: str) -> str:
        """Freeze the list; returns its version hash."""
        ...

    async def remove_entry(
        self, watchlist: str, entry_id: str, *, removed_by: str, reason: str
    ) -> object: ...
