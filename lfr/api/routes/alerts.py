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
from lfr.api.context import ApiContext, ctx_of
from lfr.api.models import (
    ERROR_RESPONSES,
    AdjudicateRequest,
    AlertView,
    EngagementRequest,
    EvidenceHeld,
    EvidenceHoldRequest,
)
from lfr.retention import hold_evidence
from lfr.transport.mqtt import subscribe
from lfr.transport.topics import encode
from schemas.envelope import NewEvent
from schemas.events import EvidenceHold, ImageViewed
from schemas.streams import IMAGE_VIEWS_STREAM
from schemas.views import AlertRecord

__all__ = [
    "acknowledge",
    "adjudicate",
    "engagement",
    "get_alert",
    "hold",
    "image",
    "list_alerts",
    "router",
    "stream",
    "view_of",
]

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=ERROR_RESPONSES)

AlertId = Annotated[str, Path(min_length=1, max_length=64)]
Viewer = Annotated[Principal, Depends(require(Role.OFFICER, Role.SUPERVISOR))]
Officer = Annotated[Principal, Depends(require(Role.OFFICER))]
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]


def _distinct(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def view_of(ctx: ApiContext, a: AlertRecord) -> AlertView:
    """The officer's card of an alert in the read model (`dispatched` reads as raised: the
    card says whether someone has acted on it yet)."""
    delivered = None
    if ctx.publisher is not None:
        times = [t for k, t in ctx.publisher.delivered.items() if k.startswith(a.alert_id + "@")]
        delivered = min(times) if times else None
    delivered = delivered or a.dispatched_at
    return AlertView(
        alert_id=a.alert_id,
        zone=a.zone,
        camera=a.camera,
        deployment_id=a.deployment_id,
        subject_label=a.subject_label,
        erased_at=a.erased_at,
        category=a.category,
        similarity=a.similarity,
        threshold=a.threshold,
        frame_at=a.frame_at,
        raised_at=a.raised_at,
        status="raised" if a.state == "dispatched" else a.state,
        patrol_ids=list(a.dispatched_to),
        escalation_level=a.escalation_level,
        acknowledged_by=_distinct([x.officer for x in a.acknowledgements]),
        confirmed_by=list(a.confirmed_by),
        false_alert_by=_distinct(
            [x.officer for x in a.adjudications if x.verdict == "false_alert"]
        ),
        engagement_officer=a.engagement_officer,
        engagement_outcome=a.outcome,
        crop_url=f"/api/alerts/{a.alert_id}/images/crop" if a.crop_ref else None,
        reference_url=f"/api/alerts/{a.alert_id}/images/reference" if a.reference_ref else None,
        delivered_at=delivered,
    )


async def _acting_patrol(ctx: ApiContext, who: Principal, alert: AlertRecord) -> str:
    patrol = await ctx.patrol_of(who)
    if patrol is None or patrol not in alert.dispatched_to:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="you are not on a patrol this alert was sent to: check in first",
        )
    return patrol


async def _updated(ctx: ApiContext, alert_id: str) -> AlertView:
    """The alert as the read model holds it after the caller's own write."""
    alert = await (await ctx.fresh()).alert(alert_id)
    assert alert is not None  # (it was visible before the write)
    return view_of(ctx, alert)


@router.get("", summary="Alerts of your patrol (supervisors: every alert), newest first")
async def list_alerts(request: Request, who: Viewer) -> list[AlertView]:
    ctx = ctx_of(request)
    views = await ctx.fresh()
    if who.role is Role.SUPERVISOR:
        alerts = await views.alerts(limit=None)
    else:
        patrol = await ctx.patrol_of(who)
        alerts = await views.alerts(patrol=patrol, limit=None) if patrol else []
    return [view_of(ctx, a) for a in alerts]


@router.get("/stream", summary="Live alerts, updates and zone state (text/event-stream)")
async def stream(request: Request, who: Officer) -> StreamingResponse:
    ctx = ctx_of(request)
    if ctx.mqtt is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="no MQTT broker configured")
    await ctx.fresh()
    patrol = await ctx.patrol_of(who)
    zone = await ctx.zone_of(who, patrol)
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
    await ctx.fresh()
    return view_of(ctx, await ctx.visible_alert(who, alert_id))


@router.post("/{alert_id}/acknowledge", summary="I have seen it and am dealing with it")
async def acknowledge(request: Request, alert_id: AlertId, who: Officer) -> AlertView:
    ctx = ctx_of(request)
    await ctx.fresh()
    alert = await ctx.visible_alert(who, alert_id)
    patrol = await _acting_patrol(ctx, who, alert)
    await ctx.require_site().acknowledge(patrol, alert_id, officer=who.name)
    return await _updated(ctx, alert_id)


@router.post("/{alert_id}/adjudicate", summary="Confirm the match or call it a false alert")
async def adjudicate(
    request: Request, alert_id: AlertId, body: AdjudicateRequest, who: Officer
) -> AlertView:
    ctx = ctx_of(request)
    await ctx.fresh()
    alert = await ctx.visible_alert(who, alert_id)
    patrol = await _acting_patrol(ctx, who, alert)
    await ctx.require_site().adjudicate(
        patrol, alert_id, officer=who.name, verdict=body.verdict, note=body.note
    )
    return await _updated(ctx, alert_id)


@router.post(
    "/{alert_id}/engagement",
    summary="Record the engagement (needs two different officers' confirmations first)",
)
async def engagement(
    request: Request, alert_id: AlertId, body: EngagementRequest, who: Officer
) -> AlertView:
    ctx = ctx_of(request)
    await ctx.fresh()
    alert = await ctx.visible_alert(who, alert_id)
    patrol = await _acting_patrol(ctx, who, alert)
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
    return await _updated(ctx, alert_id)


@router.get(
    "/{alert_id}/images/{kind}",
    summary="The live capture (crop) or the watchlist photo (reference) of an alert",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 410: {"description": "past retention"}},
)
async def image(
    request: Request, alert_id: AlertId, kind: Literal["crop", "reference"], who: Viewer
) -> Response:
    ctx = ctx_of(request)
    await ctx.fresh()
    alert = await ctx.visible_alert(who, alert_id)
    ref = alert.crop_ref if kind == "crop" else alert.reference_ref
    if ref is None or ctx.vault is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"alert {alert_id} has no {kind}")
    if ref.retain_until is not None and ref.retain_until <= datetime.now(UTC):
        raise HTTPException(status.HTTP_410_GONE, detail=f"the {kind} is past its retention")
    data = await ctx.vault.get(ref)  # shredded: 410, unknown: 404 (lfr.api.errors)
    # Each image served is recorded (`ImageViewed` on its own stream: who, as what, which
    # image), before it is shown: an image whose viewing cannot be logged is not served.
    viewed = ImageViewed(
        alert_id=alert_id, viewer=who.name, role=who.role.value, kind=kind, blob_id=ref.blob_id
    )
    await ctx.store.append(IMAGE_VIEWS_STREAM, [NewEvent(event=viewed)])
    media = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    return Response(
        data, media_type=media, headers={"Cache-Control": "private, no-store, max-age=0"}
    )


@router.post(
    "/{alert_id}/evidence-hold",
    status_code=status.HTTP_201_CREATED,
    summary="Keep an alert's crop and who it was past retention, as evidence (supervisors)",
)
async def hold(
    request: Request, alert_id: AlertId, body: EvidenceHoldRequest, who: Supervisor
) -> EvidenceHeld:
    """Records one `EvidenceHold` per blob (the crop, and the key of the alert's sealed
    fields), by the supervisor, with its own end; retention keeps them until then."""
    ctx = ctx_of(request)
    await ctx.fresh()
    alert = await ctx.visible_alert(who, alert_id)
    if body.until <= datetime.now(UTC):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail="until must be in the future"
        )
    if alert.erased_at is not None:
        raise HTTPException(
            status.HTTP_410_GONE, detail=f"alert {alert_id} was erased by retention: too late"
        )
    blobs = [ref.blob_id for ref in (alert.crop_ref,) if ref is not None]
    if alert.sealed is not None:
        blobs.append(alert.sealed.key_ref)
    if not blobs:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"alert {alert_id} holds nothing to keep"
        )
    for blob_id in blobs:
        await hold_evidence(
            ctx.store,
            EvidenceHold(
                blob_id=blob_id,
                held_by=who.name,
                reason=body.reason,
                until=body.until,
                alert_id=alert_id,
            ),
        )
    return EvidenceHeld(alert_id=alert_id, blob_ids=blobs, until=body.until)
