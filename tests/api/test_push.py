"""Web Push: RFC 8291 encryption a browser can open, VAPID (RFC 8292), urgency and topics."""

import ipaddress
import json
import os

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lfr.api.push import (
    EndpointPolicy,
    PushService,
    VapidKey,
    b64url,
    b64url_decode,
    decrypt,
    encrypt,
    push_topic,
)


async def public_resolver(host: str, port: int):
    """push.test resolves to a public address (the traffic goes to an in-process app)."""
    return [ipaddress.ip_address("93.184.215.14")]


def browser_keys():
    ua = ec.generate_private_key(ec.SECP256R1())
    from cryptography.hazmat.primitives import serialization

    pub = ua.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    return ua, {"p256dh": b64url(pub), "auth": b64url(auth)}, auth


def test_payload_round_trip_and_record_layout():
    ua, keys, auth = browser_keys()
    body = encrypt(b'{"alert_id":"a-1"}', keys["p256dh"], keys["auth"])
    assert int.from_bytes(body[16:20], "big") == 4096 and body[20] == 65
    assert decrypt(body, ua, auth) == b'{"alert_id":"a-1"}'
    assert encrypt(b"x", keys["p256dh"], keys["auth"]) != encrypt(
        b"x", keys["p256dh"], keys["auth"]
    )


def test_topic_collapses_per_subject():
    assert push_topic("north-end/Case 1") == push_topic("north-end/Case 1")
    assert push_topic("north-end/Case 1") != push_topic("north-end/Case 2")
    assert len(push_topic("x")) <= 32 and "=" not in push_topic("x")


@pytest.mark.blocking_ok("the test body runs a CLI or reads files directly")
async def test_notify_sends_vapid_signed_high_urgency_push(tmp_path):
    received = []

    async def endpoint(request: Request) -> Response:
        received.append((request.url.path, dict(request.headers), await request.body()))
        return Response(status_code=410 if request.url.path == "/gone" else 201)

    service = Starlette(routes=[Route("/{name}", endpoint, methods=["POST"])])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=service))
    vapid = await anyio.to_thread.run_sync(VapidKey.load_or_create, tmp_path)
    again = await anyio.to_thread.run_sync(VapidKey.load_or_create, tmp_path)
    assert again.public_key == vapid.public_key
    policy = EndpointPolicy(resolve=public_resolver)
    push = await anyio.to_thread.run_sync(
        lambda: PushService(vapid, path=tmp_path / "subs.json", client=client, policy=policy)
    )
    ua, keys, auth = browser_keys()
    await push.subscribe("PC A", {"endpoint": "https://push.test/phone", "keys": keys})
    await push.subscribe("PC A", {"endpoint": "https://push.test/gone", "keys": keys})
    sent = await push.notify(
        ["PC A", "PC B"], {"alert_id": "a-1", "title": "LFR alert"}, subject="north-end/Case 1"
    )
    await client.aclose()
    assert sent == 1
    path, headers, body = next(r for r in received if r[0] == "/phone")
    assert headers["urgency"] == "high" and headers["ttl"] == "900"
    assert headers["topic"] == push_topic("north-end/Case 1")
    assert headers["content-encoding"] == "aes128gcm"
    assert json.loads(decrypt(body, ua, auth)) == {"alert_id": "a-1", "title": "LFR alert"}
    scheme, _, params = headers["authorization"].partition(" ")
    fields = dict(p.split("=", 1) for p in params.split(", "))
    assert scheme == "vapid" and fields["k"] == vapid.public_key
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(fields["k"]))
    claims = jwt.decode(fields["t"], pub, algorithms=["ES256"], audience="https://push.test")
    assert claims["sub"].startswith("mailto:")
    # the push service said the /gone subscription is gone: it is dropped and saved
    assert list(push.subscriptions["PC A"]) == ["https://push.test/phone"]
    assert list(PushService(vapid, path=tmp_path / "subs.json").subscriptions["PC A"]) == [
        "https://push.test/phone"
    ]
