"""An alert published on MQTT reaches the phones of its patrol's officers by Web Push."""

import json
import os
from datetime import UTC, datetime, timedelta

import anyio
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lfr.api.app import create_app
from lfr.api.auth import AuthConfig, TokenVerifier, load_or_create_api_key
from lfr.api.push import EndpointPolicy, PushService, VapidKey, b64url, decrypt, push_topic
from lfr.store.memory import InMemoryEventStore
from lfr.transport.broker import EmbeddedBroker, EmbeddedBrokerConfig
from lfr.transport.mqtt import MqttPublisher
from schemas.envelope import NewEvent
from schemas.events import PatrolCheckedIn
from schemas.messages import AlertMessage
from tests.api.test_push import public_resolver


async def test_alert_on_mqtt_becomes_a_web_push(tmp_path):
    got = []
    arrived = anyio.Event()

    async def endpoint(request: Request) -> Response:
        got.append((dict(request.headers), await request.body()))
        arrived.set()
        return Response(status_code=201)

    push_service = Starlette(routes=[Route("/phone", endpoint, methods=["POST"])])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=push_service))
    ua = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    p256dh = ua.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    vapid = await anyio.to_thread.run_sync(VapidKey.load_or_create, tmp_path)
    policy = EndpointPolicy(resolve=public_resolver)
    push = await anyio.to_thread.run_sync(lambda: PushService(vapid, client=client, policy=policy))
    await push.subscribe(
        "PC A",
        {
            "endpoint": "https://push.test/phone",
            "keys": {"p256dh": b64url(p256dh), "auth": b64url(auth)},
        },
    )
    store = InMemoryEventStore()
    await store.append(
        "patrol:p-1",
        [
            NewEvent(
                event=PatrolCheckedIn(patrol_id="p-1", zone="north-end", officers=("PC A", "PC B"))
            )
        ],
    )
    key = await anyio.to_thread.run_sync(lambda: load_or_create_api_key(tmp_path))
    async with EmbeddedBroker(
        EmbeddedBrokerConfig(tcp_port=0, ws_port=None), site="town"
    ) as broker:
        cfg = broker.client_config("lfr-api")  # the API reads with the service credentials
        pub_cfg = broker.client_config("lfr-publisher")
        app = await anyio.to_thread.run_sync(
            lambda: create_app(
                store=store,
                data_dir=tmp_path,
                push=push,
                mqtt=cfg,
                verifier=TokenVerifier(AuthConfig(), key.public_key()),
            )
        )
        pub = MqttPublisher(pub_cfg)
        async with app.router.lifespan_context(app), anyio.create_task_group() as tg:
            await tg.start(pub.run)
            now = datetime.now(UTC)
            alert = AlertMessage(
                alert_id="al-9",
                zone="north-end",
                camera="ne-1",
                patrol_id="p-1",
                deployment_id="d-1",
                subject_label="Case 4711",
                category="suspect",
                similarity=0.74,
                threshold=0.6,
                frame_at=now,
                raised_at=now,
                expires_at=now + timedelta(minutes=15),
            )
            # the relay subscribes in the background: resend until it has (QoS 1, clean
            # session: a message before its subscription is not for it)
            with anyio.fail_after(5):
                while not arrived.is_set():
                    await pub.publish(alert)
                    with anyio.move_on_after(0.3):
                        await arrived.wait()
            tg.cancel_scope.cancel()
    await client.aclose()
    headers, body = got[0]
    assert headers["urgency"] == "high" and headers["topic"] == push_topic("north-end/Case 4711")
    note = json.loads(decrypt(body, ua, auth))
    assert note["alert_id"] == "al-9" and note["title"] == "LFR alert: Case 4711"
    assert "ne-1" in note["body"] and "crop" not in json.dumps(note)
