"""Everything a request handler reaches, held on `app.state.ctx` (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fastapi import HTTPException, Request, status

from lfr.api.audit_log import AuditLog
from lfr.api.auth import Principal, Role, TokenVerifier
from lfr.api.board import AlertState, Board
from lfr.api.ports import SiteCommands, WatchlistService
from lfr.api.push import PushService
from lfr.store.base import EventStore
from lfr.transport.mqtt import MqttConfig, MqttPublisher
from schemas.events import BiometricRef

__all__ = ["ApiContext", "BlobReader", "ctx_of"]


class BlobReader(Protocol):
    """The biometric vault, as far as the API reads it."""

    async def get(self, ref: BiometricRef | str) -> bytes: ...


@dataclass
class ApiContext:
    store: EventStore
    board: Board
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

    def patrol_of(self, principal: Principal) -> str | None:
        """The officer's patrol: from their token, else the on-duty patrol naming them."""
        if principal.patrol_id is not None:
            return principal.patrol_id
        for p in self.board.patrols.values():
            if p.on_duty and principal.name in p.officers:
                return p.patrol_id
        return None

    def visible_alert(self, principal: Principal, alert_id: str) -> AlertState:
        """The alert if this caller may see it; 404 otherwise (no existence oracle)."""
        alert = self.board.alerts.get(alert_id)
        if alert is not None:
            if principal.role is Role.SUPERVISOR:
                return alert
            patrol = self.patrol_of(principal)
            if principal.role is Role.OFFICER and patrol in alert.patrol_ids:
                return alert
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"no alert {alert_id!r} for you: it does not exist or is not your patrol's",
        )


def ctx_of(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx
