"""Serve the HTTP API with uvicorn inside a task group (`serve_http`).

The alert services (broker, publisher, sink, relay) live in `lfr.transport.services`; their
names are re-exported here for `lfr.api`'s callers. `lfr serve` composes both:

    async with open_site(config, SiteOverrides(alerts=...)) as site:   # actors.site
        app = create_app(store=site.store, site=site, views=site.views,
                         mqtt=site.alerts.client_config, ...)
        url = await tg.start(serve_http, app, "127.0.0.1", 8080)
"""

from __future__ import annotations

import logging

import anyio
import anyio.abc
import uvicorn
from fastapi import FastAPI

from lfr.transport.services import AlertServices, AlertServicesConfig, run_alert_services

__all__ = ["AlertServices", "AlertServicesConfig", "run_alert_services", "serve_http"]

log = logging.getLogger(__name__)


async def serve_http(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` with uvicorn until cancelled; reports the base URL once listening
    (port 0 picks a free port)."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    stopped = anyio.Event()

    async def run() -> None:
        # stopped through `should_exit` (graceful: lifespan shutdown, streams closed), never
        # cancelled mid-request; returns by itself on SIGINT/SIGTERM
        with anyio.CancelScope(shield=True):
            await server.serve()
        stopped.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        try:
            # uvicorn offers only a `started` flag, no event to wait on
            while not server.started and not stopped.is_set():  # noqa: ASYNC110
                await anyio.sleep(0.02)
            if stopped.is_set():
                raise OSError(f"the HTTP server could not listen on {host}:{port}")
            bound = server.servers[0].sockets[0].getsockname()[1]
            task_status.started(f"http://{host}:{bound}")
            await stopped.wait()
        finally:
            server.should_exit = True
