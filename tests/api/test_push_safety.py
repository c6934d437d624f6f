"""Web Push is no open door: endpoints must be https to public addresses (checked when
registered and again at send time, DNS rebinding included), keys are validated when
registered, and one bad subscription fails alone and is dropped after repeated failures.

Every byte these tests send goes to loopback: a TLS server on 127.0.0.1 that only a policy
allowing loopback (injected here) may reach; the default policy refuses it.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import pytest
from anyio.streams.tls import TLSListener
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lfr.api.auth import Role
from lfr.api.push import (
    EndpointPolicy,
    PushService,
    PushSubscriptionError,
    VapidKey,
    b64url,
    check_keys,
    decrypt,
    is_public_address,
)
from tests.api.test_push import browser_keys, public_resolver

# --- a loopback https "push service" -----------------------------------------------------


def _self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "push.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("push.test"),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass
class PushServer:
    port: int
    trust: ssl.SSLContext
    #: status to answer per path (default 201)
    statuses: dict[str, int] = field(default_factory=dict)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"


@asynccontextmanager
async def push_server(tmp_path) -> AsyncIterator[PushServer]:
    def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
        cert_pem, key_pem = _self_signed()
        (tmp_path / "cert.pem").write_bytes(cert_pem)
        (tmp_path / "key.pem").write_bytes(key_pem)
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
        return server_ctx, ssl.create_default_context(cadata=cert_pem.decode())

    server_ctx, trust = await anyio.to_thread.run_sync(contexts)
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    server = PushServer(port, trust)

    async def handle(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            try:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf += await stream.receive()
                head, _, body = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                _, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (line.split(":", 1) for line in lines[1:])
                }
                while len(body) < int(headers.get("content-length", "0")):
                    body += await stream.receive()
                server.received.append((path, headers, body))
                status = server.statuses.get(path, 201)
                reply = f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                await stream.send(reply.encode())
            except (anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError, OSError):
                pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(TLSListener(tcp, server_ctx, standard_compatible=False).serve, handle)
        yield server
        tg.cancel_scope.cancel()


LOOPBACK_OK = EndpointPolicy.allowing("127.0.0.0/8")


def _sub(endpoint: str) -> tuple[ec.EllipticCurvePrivateKey, dict, bytes]:
    ua, keys, auth = browser_keys()
    return ua, {"endpoint": endpoint, "keys": keys}, auth


async def _service(vapid: VapidKey, **kw) -> PushService:
    """A PushService whose file is read off the event loop."""
    return await anyio.to_thread.run_sync(lambda: PushService(vapid, **kw))


async def _vapid(tmp_path) -> VapidKey:
    return await anyio.to_thread.run_sync(VapidKey.load_or_create, tmp_path)


# --- the address policy ------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "64:ff9b::a00:1",
        "2002:7f00:1::1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert is_public_address(ipaddress.ip_address(address))


def test_keys_are_checked():
    _, good, _ = browser_keys()
    check_keys(good["p256dh"], good["auth"])
    not_on_curve = b64url(b"\x04" + b"\x01" * 64)
    compressed = b64url(b"\x02" + os.urandom(32))
    for p256dh, auth in [
        ("BPk", good["auth"]),
        (not_on_curve, good["auth"]),
        (compressed, good["auth"]),
        (good["p256dh"] + "!", good["auth"]),
        (good["p256dh"], b64url(os.urandom(15))),
        (good["p256dh"], b64url(os.urandom(32))),
        (good["p256dh"], "not base64 url?"),
    ]:
        with pytest.raises(PushSubscriptionError):
            check_keys(p256dh, auth)


# --- at subscribe time, through the API --------------------------------------------------

SSRF = [
    ("http://127.0.0.1:8080/internal-admin/x", "https"),
    ("https://10.0.0.1/x", "public"),
    ("https://[::1]/x", "public"),
    ("https://169.254.169.254/latest/meta-data/", "public"),
    ("https://localhost/x", "public"),
    ("https://[::ffff:127.0.0.1]/x", "public"),
    ("https://0.0.0.0/x", "public"),
    ("https://224.0.0.1/x", "public"),
    ("https://user:pw@push.example.test/x", "credentials"),
    ("ftp://push.example.test/x", "https"),
]


@pytest.mark.parametrize(("endpoint", "says"), SSRF, ids=[e for e, _ in SSRF])
@pytest.mark.blocking_ok("the test body reads the saved subscriptions file directly")
async def test_subscribe_refuses_inward_endpoints_with_422(api, endpoint, says):
    _, keys, _ = browser_keys()
    r = await api.client.post(
        "/api/push/subscriptions",
        json={"endpoint": endpoint, "keys": keys},
        headers=api.headers(Role.OFFICER),
    )
    assert r.status_code == 422, r.text
    assert says in r.text
    push = api.app.state.ctx.push
    assert push.subscriptions == {}
    assert not (api.data_dir / "push_subscriptions.json").exists()


@pytest.mark.blocking_ok("the test body reads the saved subscriptions file directly")
async def test_subscribe_refuses_malformed_keys_with_422(api):
    _, good, _ = browser_keys()
    bad = [
        {"p256dh": "BPk", "auth": "x"},
        {"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": good["auth"]},
        {"p256dh": good["p256dh"], "auth": b64url(os.urandom(15))},
    ]
    for keys in bad:
        r = await api.client.post(
            "/api/push/subscriptions",
            json={"endpoint": "https://push.example.test/x", "keys": keys},
            headers=api.headers(Role.OFFICER),
        )
        assert r.status_code == 422, r.text
    assert api.app.state.ctx.push.subscriptions == {}
    assert not (api.data_dir / "push_subscriptions.json").exists()


@pytest.mark.blocking_ok("the test body reads the saved subscriptions file directly")
async def test_subscribe_accepts_a_browser_subscription(api):
    api.app.state.ctx.push.policy = EndpointPolicy(resolve=public_resolver)
    _, keys, _ = browser_keys()
    r = await api.client.post(
        "/api/push/subscriptions",
        json={"endpoint": "https://push.example.test/x", "expirationTime": None, "keys": keys},
        headers=api.headers(Role.OFFICER, "PC A"),
    )
    assert r.status_code == 204, r.text
    saved = api.data_dir / "push_subscriptions.json"
    assert list(json.loads(saved.read_text())["PC A"]) == ["https://push.example.test/x"]
    assert saved.stat().st_mode & 0o777 == 0o600


# --- at send time ------------------------------------------------------------------------


async def test_delivery_to_loopback_needs_a_policy_that_allows_it(tmp_path):
    vapid = await _vapid(tmp_path)
    async with push_server(tmp_path) as server:
        ua, sub, auth = _sub(server.url("/phone"))
        default = PushService(vapid, verify=server.trust)
        with pytest.raises(PushSubscriptionError, match="public"):
            await default.subscribe("PC A", sub)
        assert default.subscriptions == {}

        allowed = PushService(vapid, verify=server.trust, policy=LOOPBACK_OK)
        await allowed.subscribe("PC A", sub)
        assert await allowed.notify(["PC A"], {"alert_id": "a-1"}, subject="z/Case 1") == 1
        ((path, headers, body),) = server.received
        assert path == "/phone" and headers["urgency"] == "high"
        assert json.loads(decrypt(body, ua, auth)) == {"alert_id": "a-1"}

        # a subscription saved before this check (or by hand) is still refused at send
        default.subscriptions = {"PC A": {sub["endpoint"]: sub}}
        assert await default.notify(["PC A"], {"alert_id": "a-2"}, subject="z/Case 1") == 0
        assert len(server.received) == 1


async def test_dns_rebinding_is_caught_at_send_time(tmp_path):
    """The host resolves public when registered; later it answers loopback. The check before
    the send refuses it, and so does the connection itself (it connects only to an address
    it checked), so the loopback server never hears from us."""
    vapid = await _vapid(tmp_path)
    answers: list[str] = []

    def resolver_flipping_after(n: int):
        async def resolve(host: str, port: int):
            answers.append(host)
            address = "93.184.215.14" if len(answers) <= n else "127.0.0.1"
            return [ipaddress.ip_address(address)]

        return resolve

    async with push_server(tmp_path) as server:
        for public_answers in (1, 2):  # 1: caught by the send-time check; 2: at connect
            answers.clear()
            push = PushService(
                vapid,
                verify=server.trust,
                policy=EndpointPolicy(resolve=resolver_flipping_after(public_answers)),
            )
            _, sub, _ = _sub(server.url("/rebound", host="push.test"))
            await push.subscribe("PC A", sub)
            assert await push.notify(["PC A"], {"alert_id": "a-1"}, subject="z/x") == 0
            assert len(answers) == public_answers + 1
            assert push.failures == {sub["endpoint"]: 1}
        assert server.received == []


async def test_one_bad_subscription_fails_alone_and_is_dropped_after_three(tmp_path, caplog):
    vapid = await _vapid(tmp_path)
    saved = tmp_path / "push_subscriptions.json"
    async with push_server(tmp_path) as server:
        server.statuses["/bad-secret-path"] = 500
        push = await _service(vapid, path=saved, verify=server.trust, policy=LOOPBACK_OK)
        ua, good, auth = _sub(server.url("/good"))
        _, bad, _ = _sub(server.url("/bad-secret-path"))
        _, other, _ = _sub(server.url("/other"))
        await push.subscribe("PC A", bad)
        await push.subscribe("PC A", good)
        await push.subscribe("PC B", other)
        caplog.set_level(logging.WARNING, logger="lfr.api.push")
        for attempt in range(1, 4):
            sent = await push.notify(["PC A", "PC B"], {"n": attempt}, subject="z/x")
            assert sent == 2, attempt
            assert (bad["endpoint"] in push.subscriptions["PC A"]) == (attempt < 3)
        assert push.dropped == 1
        # a restart does not bring the dropped one back
        again = await _service(vapid, path=saved, verify=server.trust, policy=LOOPBACK_OK)
        assert list(again.subscriptions["PC A"]) == [good["endpoint"]]
        assert list(again.subscriptions["PC B"]) == [other["endpoint"]]
        assert await again.notify(["PC A"], {"n": 4}, subject="z/x") == 1
        assert [p for p, _, _ in server.received].count("/bad-secret-path") == 3
        last = [b for p, _, b in server.received if p == "/good"][-1]
        assert json.loads(decrypt(last, ua, auth)) == {"n": 4}
    logged = caplog.text
    assert "failed (1 of 3)" in logged and "dropped the push subscription of PC A" in logged
    # the log names the officer and the origin, never the secret path or the keys
    assert "bad-secret-path" not in logged
    assert bad["keys"]["auth"] not in logged and bad["keys"]["p256dh"] not in logged


async def test_unreachable_endpoint_counts_as_a_failure(tmp_path):
    vapid = await _vapid(tmp_path)
    async with push_server(tmp_path) as server:
        push = PushService(vapid, verify=server.trust, policy=LOOPBACK_OK, max_failures=2)
        closed = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = closed.extra(anyio.abc.SocketAttribute.local_port)
        await closed.aclose()  # nothing listens there now
        _, dead, _ = _sub(f"https://127.0.0.1:{port}/x")
        _, good, _ = _sub(server.url("/good"))
        await push.subscribe("PC A", dead)
        await push.subscribe("PC A", good)
        assert await push.notify(["PC A"], {}, subject="s") == 1
        assert await push.notify(["PC A"], {}, subject="s") == 1
        assert list(push.subscriptions["PC A"]) == [good["endpoint"]]


@pytest.mark.blocking_ok("the test body reads the saved subscriptions file directly")
async def test_a_saved_malformed_subscription_is_skipped_not_raised(tmp_path, caplog):
    """A file written before keys were validated: the bad entry is dropped at load, logged,
    and never reaches notify; the good one still works."""
    vapid = await _vapid(tmp_path)
    saved = tmp_path / "push_subscriptions.json"
    async with push_server(tmp_path) as server:
        ua, good, auth = _sub(server.url("/good"))
        broken = {"endpoint": server.url("/broken"), "keys": {"p256dh": "BPk", "auth": "x"}}
        saved.write_text(
            json.dumps(
                {
                    "PC A": {broken["endpoint"]: broken, good["endpoint"]: good},
                    "PC B": {"not-a-url": {"endpoint": "not-a-url"}},
                }
            )
        )
        caplog.set_level(logging.WARNING, logger="lfr.api.push")
        push = await _service(vapid, path=saved, verify=server.trust, policy=LOOPBACK_OK)
        assert list(push.subscriptions) == ["PC A"]
        assert list(push.subscriptions["PC A"]) == [good["endpoint"]]
        assert await push.notify(["PC A", "PC B"], {"n": 1}, subject="s") == 1
        assert "dropped a saved push subscription of PC A" in caplog.text


async def test_one_officer_cannot_register_without_bound(tmp_path):
    push = PushService(await _vapid(tmp_path), policy=EndpointPolicy(resolve=public_resolver))
    for i in range(15):
        _, sub, _ = _sub(f"https://push.example.test/{i}")
        await push.subscribe("PC A", sub)
    assert len(push.subscriptions["PC A"]) == push.max_per_officer
    assert "https://push.example.test/14" in push.subscriptions["PC A"]


def test_base64_padding_is_accepted():
    _, keys, _ = browser_keys()
    padded = base64.urlsafe_b64encode(base64.urlsafe_b64decode(keys["auth"] + "==")).decode()
    check_keys(keys["p256dh"], padded)
