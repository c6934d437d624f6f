"""Zones and deployments: see whether a zone is armed and why; authorise and cancel LFR."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from lfr.api.auth import Principal, Role, require, require_zone
from lfr.api.context import ctx_of
from lfr.api.models import (
    ERROR_RESPONSES,
    AuthoriseRequest,
    CancelRequest,
    DeploymentCreated,
    ZoneView,
)

__all__ = [
    "authorise",
    "cancel",
    "list_zones",
    "router",
]

router = APIRouter(prefix="/api/zones", tags=["zones"], responses=ERROR_RESPONSES)

ZoneId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Reader = Annotated[
    Principal, Depends(require(Role.OFFICER, Role.SUPERVISOR, Role.AUDITOR, Role.ENGINEER))
]
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]


@router.get("", summary="Every zone: armed or not, and why")
async def list_zones(request: Request, _: Reader) -> list[ZoneView]:
    views = await ctx_of(request).fresh()
    return [
        ZoneView(
            zone=z.zone,
            armed=z.armed,
            reason=z.reason,
            deployment_id=z.deployment_id,
            patrols_on_duty=list(z.patrols_on_duty),
            updated_at=z.updated_at,
        )
        for z in await views.zones()
    ]


@router.post(
    "/{zone}/deployments",
    status_code=status.HTTP_201_CREATED,
    summary="Authorise LFR in a zone for a time window and a published watchlist",
)
async def authorise(
    request: Request, zone: ZoneId, body: AuthoriseRequest, who: Supervisor
) -> DeploymentCreated:
    require_zone(who, zone)
    site = ctx_of(request).require_site()
    result = await site.authorise_deployment(
        zone,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        watchlist_version=body.watchlist_version,
        threshold=body.threshold,
        legal_basis=body.legal_basis,
        reason=body.reason,
        authorised_by=who.name,
        cameras=tuple(body.cameras) if body.cameras is not None else None,
    )
    deployment_id = result if isinstance(result, str) else result.deployment_id
    return DeploymentCreated(deployment_id=deployment_id, zone=zone)


@router.post(
    "/{zone}/deployments/{deployment_id}/cancel",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Cancel a deployment (disarms the zone at once)",
)
async def cancel(
    request: Request,
    zone: ZoneId,
    deployment_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: CancelRequest,
    who: Supervisor,
) -> None:
    require_zone(who, zone)
    site = ctx_of(request).require_site()
    await site.cancel_deployment(zone, deployment_id, cancelled_by=who.name, note=body.note)
