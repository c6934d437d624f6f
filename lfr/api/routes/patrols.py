"""Patrol duty: check in (arms the zone with an authorised deployment) and check out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status

from lfr.api.auth import Principal, Role, require, require_zone
from lfr.api.context import ctx_of
from lfr.api.models import ERROR_RESPONSES, CheckInRequest, CheckOutRequest

__all__ = [
    "check_in",
    "check_out",
    "router",
]

router = APIRouter(prefix="/api/patrols", tags=["patrols"], responses=ERROR_RESPONSES)

PatrolId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
OfficerOrSupervisor = Annotated[Principal, Depends(require(Role.OFFICER, Role.SUPERVISOR))]


def _own_patrol(who: Principal, patrol_id: str) -> None:
    if who.role is Role.OFFICER and who.patrol_id != patrol_id:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"an officer may check in or out only their own patrol ({who.patrol_id})",
        )


@router.post("/{patrol_id}/check-in", status_code=204, summary="Come on duty in a zone")
async def check_in(
    request: Request, patrol_id: PatrolId, body: CheckInRequest, who: OfficerOrSupervisor
) -> None:
    _own_patrol(who, patrol_id)
    require_zone(who, body.zone)
    site = ctx_of(request).require_site()
    await site.check_in(
        patrol_id, zone=body.zone, officers=tuple(body.officers), callsign=body.callsign
    )


@router.post("/{patrol_id}/check-out", status_code=204, summary="Leave duty")
async def check_out(
    request: Request, patrol_id: PatrolId, body: CheckOutRequest, who: OfficerOrSupervisor
) -> None:
    _own_patrol(who, patrol_id)
    site = ctx_of(request).require_site()
    await site.check_out(patrol_id, reason=body.reason)
