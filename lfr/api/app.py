"""The FastAPI application: every way a person reaches lfr over HTTP, and the officer app.

`create_app` takes its collaborators (store, site commands, watchlist service, vault, MQTT)
as arguments; the wiring module decides what they are. Every error lfr raises is answered by
one handler keyed by class (`lfr.api.errors`): a refused command reads as 409 with its reason,
an unavailable dependency as 503 with Retry-After, and our own faults as 500.
"""

from __future__ import annotations

import logging
import mimetypes
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRouter
from fastapi.staticfiles import StaticFiles

from lfr.api.audit_log import AuditLog
from lfr.api.auth import Role, TokenVerifier, require
from lfr.api.context import ApiContext, BlobReader
from lfr.api.errors import handle_lfr_error, places, status_for
from lfr.api.limits import BodyLimit
from lfr.api.models import ERROR_RESPONSES
from lfr.api.ports import SiteCommands, WatchlistService
from lfr.api.push import PushService, VapidKey
from lfr.api.routes import alerts, audit, patrols, system, watchlists, zones
from lfr.api.validation import invalid_input
from lfr.errors import ANY_LFR_ERROR
from lfr.projections import Views
from lfr.store.base import EventStore
from lfr.store.sqlite import SqliteEventStore
from lfr.transport.mqtt import MqttConfig, MqttPublisher, subscribe
from schemas.messages import AlertMessage

# The system's MIME tables are read once, at import, not on the event loop by the first
# static file the app serves (mimetypes reads /etc/mime.types and friends lazily).
if not mimetypes.inited:
    mimetypes.init()

__all__ = ["STATIC_DIR", "create_app", "status_for"]

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"

#: The officer app loads only its own files; images arrive as blob: URLs fetched with a token.
_APP_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "script-src 'self'; style-src 'self'; worker-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def create_app(
    *,
    store: EventStore,
    verifier: TokenVerifier,
    data_dir: Path,
    site: SiteCommands | None = None,
    watchlists_service: WatchlistService | None = None,
    vault: BlobReader | None = None,
    mqtt: MqttConfig | None = None,
    publisher: MqttPublisher | None = None,
    push: PushService | None = None,
    whip_router: APIRouter | None = None,
    web_push_relay: bool = True,
    audit_log: AuditLog | None = None,
    views: Views | None = None,
) -> FastAPI:
    """Build the API. `mqtt` is how the API itself subscribes (live stream, Web Push relay);
    `publisher` is the site's publisher, read for delivery times and health; `audit_log`
    (default: the SQLite store's file) serves verification and signed inclusion proofs;
    `views` is the site's read model (`open_site` follows the log with it; default: views
    in memory that each read brings up to the log's end)."""
    if audit_log is None and isinstance(store, SqliteEventStore):
        audit_log = AuditLog(store.path, sign_checkpoint=store.checkpoint)
    push = push or PushService(
        VapidKey.load_or_create(data_dir), path=Path(data_dir) / "push_subscriptions.json"
    )
    ctx = ApiContext(
        store=store,
        views=views if views is not None else Views.in_memory(),
        verifier=verifier,
        push=push,
        site=site,
        watchlists=watchlists_service,
        vault=vault,
        mqtt=mqtt,
        publisher=publisher,
        audit_log=audit_log,
        started_at=datetime.now(UTC),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            if mqtt is not None and web_push_relay:
                tg.start_soon(_web_push_relay, ctx, mqtt)
            yield
            tg.cancel_scope.cancel()

    app = FastAPI(
        title="lfr",
        version="1.0.0",
        summary="Open, accountable live facial recognition: the site's HTTP API",
        description=(
            "Every request needs `Authorization: Bearer <token>` (Ed25519 JWT from "
            "`lfr users add`, or the configured OIDC issuer). Roles: officer, supervisor, "
            "watchlist_manager, auditor, engineer. A missing or bad token is 401; a role "
            "that may not act is 403; invalid input is 422; a refused command is 409."
        ),
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.verifier = verifier
    # what error bodies name by placeholder instead of a path (lfr.api.errors)
    sqlite_dir = [store.path.parent] if isinstance(store, SqliteEventStore) else []
    app.state.error_places = places(Path(data_dir), also=sqlite_dir)
    app.add_middleware(BodyLimit)  # before anything reads a body, authentication included
    app.add_exception_handler(RequestValidationError, invalid_input)

    for error_root in ANY_LFR_ERROR:
        app.add_exception_handler(error_root, handle_lfr_error)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.url.path.startswith("/app"):
            response.headers.setdefault("Content-Security-Policy", _APP_CSP)
        return response

    for module in (zones, patrols, alerts, watchlists, audit, system):
        app.include_router(module.router)
    if whip_router is not None:
        app.include_router(
            whip_router,
            prefix="/api",
            dependencies=[Depends(require(Role.ENGINEER, Role.SUPERVISOR))],
            responses=ERROR_RESPONSES,
        )

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/app/")

    app.mount("/app", StaticFiles(directory=STATIC_DIR, html=True), name="app")
    return app


async def _web_push_relay(ctx: ApiContext, mqtt: MqttConfig) -> None:
    """Send each new alert to the phones of its patrol's officers (for a backgrounded app)."""
    topics = mqtt.topics
    filt = f"{topics.root}/zone/+/patrol/+/alert"
    while True:
        try:
            client_id = f"lfr-api-webpush-{uuid.uuid4().hex[:8]}"
            async with subscribe(mqtt, client_id, [filt], clean=True) as messages:
                async for m in messages:
                    msg = m.message
                    if not isinstance(msg, AlertMessage):
                        continue
                    patrol = await (await ctx.fresh()).patrol(msg.patrol_id)
                    if patrol is None or not ctx.push.subscriptions:
                        continue
                    await ctx.push.notify(
                        list(patrol.officers),
                        {
                            "alert_id": msg.alert_id,
                            "title": f"LFR alert: {msg.subject_label}",
                            "body": f"{msg.camera}, {msg.zone}; similarity {msg.similarity:.2f}",
                            "url": f"/app/#alert={msg.alert_id}",
                        },
                        subject=f"{msg.zone}/{msg.subject_label}",
                    )
        except aiomqtt.MqttError as exc:  # the relay must outlive a broker restart
            log.warning("web push relay lost the broker (%s); retrying in 2 s", exc)
            await anyio.sleep(2)
