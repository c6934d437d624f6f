"""Everything a request handler reaches, held on `app.state.ctx` (no module globals).

What handlers read (alerts, zones, patrols) comes from `views`, the site's one read model
(`lfr.projections.Views`); `fresh()` brings it up to the log's end before a read, so an
officer who has just acknowledged sees their own acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fastapi import HTTPException, Request, status

from lfr.api.audit_log import AuditLog
from lfr.api.auth import Principal, Role, TokenVerifier
from lfr.api.ports import SiteCommands, WatchlistService
from lfr.api.push import PushService
from lfr.projections import Views
from lfr.store.base import EventStore
from lfr.transport.mqtt import MqttConfig, MqttPublisher
from schemas.events import BiometricRef
from schemas.views import AlertRecord, PatrolRecord

__all__ = ["ApiContext", "BlobReader", "ctx_of"]


class BlobReader(Protocol):
    """The biometric vault, as far as the API reads it."""

    async def get(self, ref: BiometricRef | str) -> bytes: ...


@dataclass
class ApiContext:
    store: EventStore
    views: Views
    verifier: TokenVerifier
    push: PushService
    site: SiteCommands | None = None
    watchlists: WatchlistService | None = None
    vault: BlobReader | None = None
    mqtt: MqttConfig | None = None
    publisher: MqttPublisher | None = None
    audit_log: AuditLog | None = None
    started_at: datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def require_site(self) -> SiteCommands:
        if self.site is None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail="this API runs without a site (read-only): start it with `lfr serve`",
            )
        return self.site

    def require_audit_log(self) -> AuditLog:
        if self.audit_log is None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail="this site's log is not a SQLite log with signed checkpoints: verify "
                "and prove it with the tools of its store",
            )
        return self.audit_log

    async def fresh(self) -> Views:
        """The views, caught up with every event the log holds now."""
        await self.views.catch_up(self.store)
        return self.views

    async def patrol_of(self, principal: Principal) -> str | None:
        """The officer's patrol: from their token, else the on-duty patrol naming them."""
        if principal.patrol_id is not None:
            return principal.patrol_id
        for p in await self.views.patrols():
            if p.on_duty and principal.name in p.officers:
                return p.patrol_id
        return None

    async def zone_of(self, principal: Principal, patrol_id: str | None) -> str | None:
        """The officer's zone: from their token, else their patrol's latest check-in."""
        if principal.zone is not None:
            return principal.zone
        patrol: PatrolRecord | None = (
            await self.views.patrol(patrol_id) if patrol_id is not None else None
        )
        return patrol.zone if patrol is not None else None

    async def visible_alert(self, principal: Principal, alert_id: str) -> AlertRecord:
        """The alert if this caller may see it; 404 otherwise (no existence oracle)."""
        alert = await self.views.alert(alert_id)
        if alert is not None:
            if principal.role is Role.SUPERVISOR:
                return alert
            patrol = await self.patrol_of(principal)
            if principal.role is Role.OFFICER and patrol in alert.dispatched_to:
                return alert
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"no alert {alert_id!r} for you: it does not exist or is not your patrol's",
        )


def ctx_of(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx
