"""Alerts for officers: list your patrol's, acknowledge, adjudicate, record the engagement,
see the two images side by side, and receive new ones live (server-sent events relayed from
the MQTT topics of your patrol and zone)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

import aiomqtt
import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.responses import StreamingResponse

from lfr.api.auth import Principal, Role, require
from lfr.api.board import AlertState
from lfr.api.context import ApiContext, ctx_of
from lfr.api.models import ERROR_RESPONSES, AdjudicateRequest, AlertView, EngagementRequest
from lfr.transport.mqtt import subscribe
from lfr.transport.topics import encode

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=ERROR_RESPONSES)

AlertId = Annotated[str, Path(min_length=1, max_length=64)]
Viewer = Annotated[Principal, Depends(require(Role.OFFICER, Role.SUPERVISOR))]
Officer = Annotated[Principal, Depends(require(Role.OFFICER))]


def view_of(ctx: ApiContext, a: AlertState) -> AlertView:
    r = a.raised
    delivered = None
    if ctx.publisher is not None:
        times = [t for k, t in ctx.publisher.delivered.items() if k.startswith(r.alert_id + "@")]
        delivered = min(times) if times else None
    delivered = delivered or a.dispatched_at
    return AlertView(
        alert_id=r.alert_id,
        zone=r.zone,
        camera=r.camera,
        deployment_id=r.deployment_id,
        subject_label=r.subject_label,
        category=r.category,
        similarity=r.similarity,
        threshold=r.threshold,
        frame_at=r.frame_at,
        raised_at=a.raised_at,
        status=a.status,
        patrol_ids=list(a.patrol_ids),
        escalation_level=a.escalation_level,
        acknowledged_by=list(a.acknowledged_by),
        confirmed_by=list(a.confirmed_by),
        false_alert_by=list(a.false_alert_by),
        engagement_officer=a.engagement.engagement_officer if a.engagement else None,
        engagement_outcome=a.engagement.outcome if a.engagement else None,
        crop_url=f"/api/alerts/{r.alert_id}/images/crop" if r.crop_ref else None,
        reference_url=f"/api/alerts/{r.alert_id}/images/reference" if r.reference_ref else None,
        delivered_at=delivered,
    )


def _acting_patrol(ctx: ApiContext, who: Principal, alert: AlertState) -> str:
    patrol = ctx.patrol_of(who)
    if patrol is None or patrol not in alert.patrol_ids:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="you are not on a patrol this alert was sent to: check in first",
        )
    return patrol


@router.get("", summary="Alerts of your patrol (supervisors: every alert), newest first")
async def list_alerts(request: Request, who: Viewer) -> list[AlertView]:
    ctx = ctx_of(request)
    await ctx.board.refresh()
    if who.role is Role.SUPERVISOR:
        alerts = list(ctx.board.alerts.values())
    else:
        patrol = ctx.patrol_of(who)
        alerts = ctx.board.alerts_for(patrol) if patrol else []
    alerts.sort(key=lambda a: a.raised_at, reverse=True)
    return [view_of(ctx, a) for a in alerts]


@router.get("/stream", summary="Live alerts, updates and zone state (text/event-stream)")
async def stream(request: Request, who: Officer) -> StreamingResponse:
    ctx = ctx_of(request)
    if ctx.mqtt is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="no MQTT broker configured")
    await ctx.board.refresh()
    patrol = ctx.patrol_of(who)
    zone = who.zone or (ctx.board.patrols[patrol].zone if patrol in ctx.board.patrols else None)
    topics = ctx.mqtt.topics
    filters = [topics.all_zone_states() if zone is None else topics.zone_state(zone)]
    if patrol and zone:
        filters.append(topics.patrol_filter(zone, patrol))
    config = ctx.mqtt

    async def events() -> AsyncIterator[bytes]:
        yield b": connected\n\n"
        client_id = f"api-sse-{uuid.uuid4().hex[:12]}"
        try:
            async for chunk in relay(client_id):
                yield chunk
        except aiomqtt.MqttError:
            # the broker went away: end the stream; the app reconnects and re-reads
            return

    async def relay(client_id: str) -> AsyncIterator[bytes]:
        async with subscribe(config, client_id, filters, clean=True) as messages:
            yield b"event: ready\ndata: {}\n\n"
            feed = aiter(messages)
            while True:
                received = None
                with anyio.move_on_after(15):
                    try:
                        received = await anext(feed)
                    except StopAsyncIteration:
                        return
                if received is None:
                    yield b": keepalive\n\n"
                    continue
                data = encode(received.message).decode()
                yield f"event: {received.message.message_type}\ndata: {data}\n\n".encode()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", summary="One alert")
async def get_alert(request: Request, alert_id: AlertId, who: Viewer) -> AlertView:
    ctx = ctx_of(request)
    await ctx.board.refresh()
    return view_of(ctx, ctx.visible_alert(who, alert_id))


@router.post("/{alert_id}/acknowledge", summary="I have seen it and am dealing with it")
async def acknowledge(request: Request, alert_id: AlertId, who: Officer) -> AlertView:
    ctx = ctx_of(request)
    await ctx.board.refresh()
    alert = ctx.visible_alert(who, alert_id)
    patrol = _acting_patrol(ctx, who, alert)
    await ctx.require_site().acknowledge(patrol, alert_id, officer=who.name)
    await ctx.board.refresh()
    return view_of(ctx, ctx.board.alerts[alert_id])


@router.post("/{alert_id}/adjudicate", summary="Confirm the match or call it a false alert")
async def adjudicate(
    request: Request, alert_id: AlertId, body: AdjudicateRequest, who: Officer
) -> AlertView:
    ctx = ctx_of(request)
    await ctx.board.refresh()
    alert = ctx.visible_alert(who, alert_id)
    patrol = _acting_patrol(ctx, who, alert)
    await ctx.require_site().adjudicate(
        patrol, alert_id, officer=who.name, verdict=body.verdict, note=body.note
    )
    await ctx.board.refresh()
    return view_of(ctx, ctx.board.alerts[alert_id])


@router.post(
    "/{alert_id}/engagement",
    summary="Record the engagement (needs two different officers' confirmations first)",
)
async def engagement(
    request: Request, alert_id: AlertId, body: EngagementRequest, who: Officer
) -> AlertView:
    ctx = ctx_of(request)
    await ctx.board.refresh()
    alert = ctx.visible_alert(who, alert_id)
    patrol = _acting_patrol(ctx, who, alert)
    if len(set(alert.confirmed_by)) < 2:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=(
                f"two different officers must confirm the match before an engagement is "
                f"recorded; confirmed so far by: {', '.join(alert.confirmed_by) or 'nobody'}"
            ),
        )
    await ctx.require_site().record_engagement(
        patrol, alert_id, engagement_officer=who.name, outcome=body.outcome, note=body.note
    )
    await ctx.board.refresh()
    return view_of(ctx, ctx.board.alerts[alert_id])


@router.get(
    "/{alert_id}/images/{kind}",
    summary="The live capture (crop) or the watchlist photo (reference) of an alert",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 410: {"description": "past retention"}},
)
async def image(
    request: Request, alert_id: AlertId, kind: Literal["crop", "reference"], who: Viewer
) -> Response:
    from lfr.vault import BlobNotFoundError, BlobShreddedError

    ctx = ctx_of(request)
    await ctx.board.refresh()
    alert = ctx.visible_alert(who, alert_id)
    ref = alert.ref(kind)
    if ref is None or ctx.vault is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"alert {alert_id} has no {kind}")
    if ref.retain_until is not None and ref.retain_until <= datetime.now(UTC):
        raise HTTPException(status.HTTP_410_GONE, detail=f"the {kind} is past its retention")
    try:
        data = await ctx.vault.get(ref)
    except BlobShreddedError as exc:
        raise HTTPException(status.HTTP_410_GONE, detail=str(exc)) from exc
    except BlobNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    media = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    return Response(
        data, media_type=media, headers={"Cache-Control": "private, no-store, max-age=0"}
    )
