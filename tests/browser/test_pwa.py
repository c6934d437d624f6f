"""The officer app is an installable PWA: manifest, service worker, and the worker shows a
Web Push alert as a notification (pushed through Chromium's DevTools, as a push service
would deliver it)."""

import json

import anyio
import pytest

from lfr.api.app import create_app
from lfr.api.auth import AuthConfig, TokenVerifier, load_or_create_api_key
from lfr.api.server import serve_http
from lfr.store.memory import InMemoryEventStore

pytestmark = pytest.mark.browser


async def test_manifest_service_worker_and_push_notification(browser, tmp_path):
    key = await anyio.to_thread.run_sync(lambda: load_or_create_api_key(tmp_path))
    app = await anyio.to_thread.run_sync(
        lambda: create_app(
            store=InMemoryEventStore(),
            data_dir=tmp_path,
            verifier=TokenVerifier(AuthConfig(), key.public_key()),
        )
    )
    async with anyio.create_task_group() as tg:
        base = await tg.start(serve_http, app, "127.0.0.1", 0)
        ctx = await browser.new_context(viewport={"width": 412, "height": 915})
        await ctx.grant_permissions(["notifications"], origin=base)
        page = await ctx.new_page()
        await page.goto(f"{base}/app/")
        manifest = await page.evaluate(
            "fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())"
        )
        assert manifest["display"] == "standalone" and manifest["start_url"] == "/app/"
        assert {i["sizes"] for i in manifest["icons"]} == {"192x192", "512x512"}
        scope = await page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
        assert scope == f"{base}/app/"

        cdp = await ctx.new_cdp_session(page)
        registrations = []
        registered = anyio.Event()

        def on_registration(event):
            registrations.extend(event["registrations"])
            registered.set()

        cdp.on("ServiceWorker.workerRegistrationUpdated", on_registration)
        await cdp.send("ServiceWorker.enable")
        with anyio.fail_after(5):
            await registered.wait()
        payload = {
            "alert_id": "alert-1",
            "title": "LFR alert: Case 4711",
            "body": "ne-1, north-end; similarity 0.74",
            "url": "/app/#alert=alert-1",
        }
        shown = []
        with anyio.fail_after(10):
            while not shown:
                # a push service redelivers until the worker takes the message; DevTools
                # sometimes hands the first one to a worker still waking up, which drops it
                await cdp.send(
                    "ServiceWorker.deliverPushMessage",
                    {
                        "origin": base,
                        "registrationId": registrations[0]["registrationId"],
                        "data": json.dumps(payload),
                    },
                )
                await anyio.sleep(0.5)
                shown = await page.evaluate(
                    "navigator.serviceWorker.ready.then(r => r.getNotifications())"
                    ".then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag})))"
                )
        assert shown == [
            {
                "title": "LFR alert: Case 4711",
                "body": "ne-1, north-end; similarity 0.74",
                "tag": "alert-1",
            }
        ]
        await ctx.close()
        tg.cancel_scope.cancel()
