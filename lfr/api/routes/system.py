"""Who am I, health and transport telemetry (engineers), and Web Push subscriptions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from lfr.api.auth import Principal, Role, authenticate, require
from lfr.api.context import ctx_of
from lfr.api.models import ERROR_RESPONSES, Me, PushSubscription
from lfr.api.push import PushSubscriptionError

__all__ = [
    "health",
    "me",
    "push_subscribe",
    "router",
    "vapid_key",
]

router = APIRouter(prefix="/api", tags=["system"], responses=ERROR_RESPONSES)

Anyone = Annotated[Principal, Depends(authenticate)]
Engineer = Annotated[Principal, Depends(require(Role.ENGINEER))]
Officer = Annotated[Principal, Depends(require(Role.OFFICER))]


@router.get("/me", summary="The signed-in user, their role, patrol and zone")
async def me(request: Request, who: Anyone) -> Me:
    ctx = ctx_of(request)
    await ctx.fresh()
    patrol = await ctx.patrol_of(who)
    zone = await ctx.zone_of(who, patrol)
    return Me(name=who.name, role=who.role.value, patrol_id=patrol, zone=zone)


@router.get("/health", summary="Log position, broker link and delivery counters (no biometrics)")
async def health(request: Request, _: Engineer) -> dict[str, Any]:
    ctx = ctx_of(request)
    pub = ctx.publisher
    return {
        "log_seq": await ctx.store.last_seq(),
        "mqtt": None
        if pub is None
        else {
            "connected": pub.connected,
            "pending": pub.pending,
            "delivered": pub.delivered_total,
            "reconnects": pub.reconnects,
        },
        "web_push_sent": ctx.push.sent,
    }


@router.get("/push/vapid-public-key", summary="The applicationServerKey for Web Push")
async def vapid_key(request: Request, _: Anyone) -> dict[str, str]:
    return {"public_key": ctx_of(request).push.vapid.public_key}


@router.post(
    "/push/subscriptions",
    status_code=204,
    summary="Register this device for Web Push",
    description=(
        "The endpoint must be https and its host must resolve only to public addresses; "
        "p256dh must be an uncompressed P-256 point and auth 16 bytes (base64url). "
        "Anything else is refused with 422 and nothing is stored."
    ),
)
async def push_subscribe(request: Request, body: PushSubscription, who: Officer) -> None:
    push = ctx_of(request).push
    subscription = body.model_dump(include={"endpoint", "keys"})
    try:
        await push.subscribe(who.name, subscription)
    except PushSubscriptionError as exc:
        raise HTTPException(422, detail=str(exc)) from None
