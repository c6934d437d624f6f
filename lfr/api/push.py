# One module past 450 lines on purpose: Web Push is one protocol (VAPID, RFC 8291 encryption,
# the endpoint address policy, delivery and dropping) whose parts check each other.
"""Web Push to officers' phones when the app is in the background (RFC 8030, 8291, 8292).

Payloads are encrypted to the browser's key (aes128gcm, RFC 8291) and the push service is
told who we are with VAPID (an ES256 JWT, RFC 8292). Every push says `Urgency: high`, a
`TTL`, and a `Topic` derived from the alert's subject, so repeated alerts for one person
collapse into one notification. A push carries the alert id, label and zone, never an image.

An endpoint is a URL an officer's browser hands us, so it is untrusted: it must be https,
its host must resolve only to public addresses (`EndpointPolicy`: no private, loopback,
link-local, multicast or reserved range, IPv4 or IPv6), checked when it is registered and
again at every send, where the connection is made to the very address that was checked (a
DNS answer that changes in between, DNS rebinding, cannot steer it inward). Keys are
checked when registered (p256dh a P-256 point, auth 16 bytes). One failing subscription
fails alone: it is logged by officer and origin (never its path or keys, which are the
subscription's secrets), dropped at once on 404/410 and after `max_failures` failures in a
row, and the file that keeps subscriptions across restarts never holds one that failed
validation or was dropped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "EndpointPolicy",
    "PushService",
    "PushSubscriptionError",
    "VapidKey",
    "b64url",
    "b64url_decode",
    "check_keys",
    "decrypt",
    "encrypt",
    "is_public_address",
    "push_topic",
    "system_resolver",
]

log = logging.getLogger(__name__)

VAPID_FILE = "vapid_p256.pem"
RECORD_SIZE = 4096


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hkdf(salt: bytes, info: bytes, length: int, ikm: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=salt, info=info).derive(ikm)


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _keys(
    secret: bytes, auth: bytes, ua_public: bytes, as_public: bytes, salt: bytes
) -> tuple[bytes, bytes]:
    ikm = _hkdf(auth, b"WebPush: info\x00" + ua_public + as_public, 32, secret)
    cek = _hkdf(salt, b"Content-Encoding: aes128gcm\x00", 16, ikm)
    nonce = _hkdf(salt, b"Content-Encoding: nonce\x00", 12, ikm)
    return cek, nonce


def encrypt(plaintext: bytes, p256dh: str, auth: str, *, salt: bytes | None = None) -> bytes:
    """RFC 8291 message encryption in one aes128gcm record."""
    ua_public = b64url_decode(p256dh)
    auth_secret = b64url_decode(auth)
    ua_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public)
    as_private = ec.generate_private_key(ec.SECP256R1())
    as_public = _point(as_private.public_key())
    secret = as_private.exchange(ec.ECDH(), ua_key)
    salt = salt or os.urandom(16)
    cek, nonce = _keys(secret, auth_secret, ua_public, as_public, salt)
    if len(plaintext) + 17 > RECORD_SIZE:
        raise ValueError("a push payload must fit one 4 kB record")
    body = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)
    header = salt + RECORD_SIZE.to_bytes(4, "big") + bytes([len(as_public)]) + as_public
    return header + body


def decrypt(message: bytes, ua_private: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """What the browser does (used to check `encrypt`)."""
    salt, keylen = message[:16], message[20]
    as_public = message[21 : 21 + keylen]
    as_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
    secret = ua_private.exchange(ec.ECDH(), as_key)
    cek, nonce = _keys(secret, auth, _point(ua_private.public_key()), as_public, salt)
    plain = AESGCM(cek).decrypt(nonce, message[21 + keylen :], None)
    return plain.rstrip(b"\x00")[:-1]


def push_topic(subject: str) -> str:
    """RFC 8030 Topic: at most 32 URL-safe characters, stable per subject."""
    return b64url(hashlib.sha256(subject.encode()).digest())[:32]


@dataclass
class VapidKey:
    """The site's VAPID key pair (P-256), stored at `<data_dir>/vapid_p256.pem`."""

    private: ec.EllipticCurvePrivateKey
    subject: str = "mailto:lfr-operations@example.police.uk"

    @classmethod
    def load_or_create(cls, data_dir: Path) -> VapidKey:
        path = Path(data_dir) / VAPID_FILE
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path} is not a P-256 key; move it aside to make a new one")
            return cls(key)
        key = ec.generate_private_key(ec.SECP256R1())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return cls(key)

    @property
    def public_key(self) -> str:
        """The `applicationServerKey` a browser subscribes with."""
        return b64url(_point(self.private.public_key()))

    def authorization(self, endpoint: str, ttl_s: int = 12 * 3600) -> str:
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + ttl_s,
            "sub": self.subject,
        }
        token = jwt.encode(claims, self.private, algorithm="ES256")
        return f"vapid t={token}, k={self.public_key}"


class PushSubscriptionError(ValueError):
    """A push subscription we will not use: its endpoint or its keys are unsafe or malformed.
    The message names what is wrong, never the endpoint's path or the keys."""


_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def _b64url_field(name: str, text: str) -> bytes:
    if not isinstance(text, str) or not _B64URL.match(text):
        raise PushSubscriptionError(f"keys.{name} must be base64url (RFC 4648 section 5)")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise PushSubscriptionError(f"keys.{name} is not valid base64url") from None


def check_keys(p256dh: str, auth: str) -> None:
    """The browser's keys as RFC 8291 needs them: `p256dh` an uncompressed P-256 point
    (65 bytes, 0x04 first, on the curve) and `auth` 16 bytes, both base64url.

    :raises PushSubscriptionError: either key is malformed.
    """
    point = _b64url_field("p256dh", p256dh)
    if len(point) != 65 or point[0] != 0x04:
        raise PushSubscriptionError(
            "keys.p256dh must be an uncompressed P-256 public key (65 bytes starting 0x04)"
        )
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise PushSubscriptionError("keys.p256dh is not a point on the P-256 curve") from None
    if len(_b64url_field("auth", auth)) != 16:
        raise PushSubscriptionError("keys.auth must be 16 bytes")


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

#: Ranges refused beyond what `ipaddress` calls non-global (belt and braces).
_BLOCKED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    out: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)
    if ip in ipaddress.ip_network("64:ff9b::/96"):
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


def is_public_address(ip: IPAddress) -> bool:
    """Whether `ip` is a public unicast address (and carries no private IPv4 inside)."""
    if any(ip in net for net in _BLOCKED if net.version == ip.version):
        # a mapped/6to4/NAT64 form of a public IPv4 is still refused: no push service needs it
        return False
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return all(is_public_address(v4) for v4 in _embedded_v4(ip))
    return True


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host` (A and AAAA)."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


@dataclass(frozen=True)
class EndpointPolicy:
    """Which push endpoints we POST to: https, and a host whose every address is public.

    `resolve` (default: the system resolver) and `allow` (networks let through even though
    they are not public) are injectable, so a test can deliver to a loopback https server
    while the default refuses loopback."""

    resolve: Resolver = system_resolver
    allow: tuple[IPNetwork, ...] = ()
    resolve_timeout_s: float = 5.0

    @classmethod
    def allowing(cls, *networks: str, resolve: Resolver = system_resolver) -> EndpointPolicy:
        return cls(resolve=resolve, allow=tuple(ipaddress.ip_network(n) for n in networks))

    def address_allowed(self, ip: IPAddress) -> bool:
        if any(ip.version == net.version and ip in net for net in self.allow):
            return True
        return is_public_address(ip)

    @staticmethod
    def parse(endpoint: str) -> tuple[str, int]:
        """The host and port of an endpoint URL, if its form is acceptable.

        :raises PushSubscriptionError: not https, credentials in it, no host, a bad port.
        """
        try:
            parts = urlsplit(endpoint)
            port = parts.port or 443
        except ValueError:
            raise PushSubscriptionError("the push endpoint is not a valid URL") from None
        if parts.scheme != "https":
            raise PushSubscriptionError("the push endpoint must be an https:// URL")
        if parts.username is not None or parts.password is not None:
            raise PushSubscriptionError("the push endpoint must not carry credentials")
        host = parts.hostname
        if not host:
            raise PushSubscriptionError("the push endpoint has no host")
        return host, port

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of `host`, all of them allowed.

        :raises PushSubscriptionError: it does not resolve, or any address is not allowed.
        """
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            literal = None
        if literal is not None:
            found: Sequence[IPAddress] = [literal]
        else:
            try:
                with anyio.fail_after(self.resolve_timeout_s):
                    found = await self.resolve(host, port)
            except (OSError, TimeoutError):
                raise PushSubscriptionError(
                    f"the push endpoint's host {host!r} does not resolve"
                ) from None
        if not found:
            raise PushSubscriptionError(f"the push endpoint's host {host!r} does not resolve")
        refused = sorted({str(ip) for ip in found if not self.address_allowed(ip)})
        if refused:
            raise PushSubscriptionError(
                f"the push endpoint's host {host!r} resolves to a private, loopback, "
                f"link-local, multicast or reserved address ({', '.join(refused)}); "
                "push endpoints must be public"
            )
        return list(found)

    async def check(self, endpoint: str) -> list[IPAddress]:
        """Check an endpoint URL and return the addresses it may be reached at.

        :raises PushSubscriptionError: the URL or any of its host's addresses is refused.
        """
        host, port = self.parse(endpoint)
        return await self.addresses(host, port)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the policy allows, resolved and checked at connect time
    (the TLS handshake still verifies the certificate for the URL's host name)."""

    def __init__(self, policy: EndpointPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.addresses(host, port)
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("push endpoints are never unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over `_PinnedBackend`: no proxy, no redirects, small responses."""

    def __init__(self, policy: EndpointPolicy, verify: ssl.SSLContext | None = None) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify or ssl.create_default_context(),
            network_backend=_PinnedBackend(policy),
            max_connections=20,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            resp = await self._pool.handle_async_request(core)
            try:
                body = await resp.aread()
            finally:
                await resp.aclose()
        except httpcore.TimeoutException as exc:
            raise httpx.TimeoutException(str(exc), request=request) from exc
        except httpcore.NetworkError as exc:
            raise httpx.NetworkError(str(exc), request=request) from exc
        except httpcore.ProtocolError as exc:
            raise httpx.ProtocolError(str(exc), request=request) from exc
        return httpx.Response(
            status_code=resp.status, headers=resp.headers, content=body, request=request
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def _origin(endpoint: str) -> str:
    """What a log line may say about an endpoint: its scheme and host, not its secret path."""
    try:
        parts = urlsplit(endpoint)
        return f"{parts.scheme}://{parts.hostname}"
    except ValueError:
        return "(unparseable endpoint)"


def _valid_form(subscription: Any) -> dict[str, Any]:
    """The subscription reduced to what we keep, its form and keys checked (no DNS).

    :raises PushSubscriptionError: malformed.
    """
    if not isinstance(subscription, dict):
        raise PushSubscriptionError("a push subscription is an object with endpoint and keys")
    endpoint, keys = subscription.get("endpoint"), subscription.get("keys")
    if not isinstance(endpoint, str) or len(endpoint) > 2000:
        raise PushSubscriptionError("the push endpoint must be a URL of at most 2000 characters")
    EndpointPolicy.parse(endpoint)
    if not isinstance(keys, dict):
        raise PushSubscriptionError("a push subscription needs keys.p256dh and keys.auth")
    check_keys(keys.get("p256dh"), keys.get("auth"))  # type: ignore[arg-type]
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


@dataclass
class PushService:
    """Officers' push subscriptions and the sender. Subscriptions live in memory and in
    `<data_dir>/push_subscriptions.json` (mode 0600) so a restart keeps them.

    `policy` decides which endpoints are safe (default: https to public addresses only);
    `client` replaces the HTTP client (tests), the endpoint still checked before each send.
    """

    vapid: VapidKey
    path: Path | None = None
    client: httpx.AsyncClient | None = None
    policy: EndpointPolicy = field(default_factory=EndpointPolicy)
    #: the TLS trust for endpoints (default: the system's CAs)
    verify: ssl.SSLContext | None = None
    #: failures in a row (not 404/410, which drop at once) before a subscription is dropped
    max_failures: int = 3
    #: devices one officer may register; the oldest goes first
    max_per_officer: int = 10
    timeout_s: float = 10.0
    subscriptions: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    dropped: int = 0

    def __post_init__(self) -> None:
        if self.path is not None and self.path.exists():
            self.subscriptions = self._load(self.path)

    @staticmethod
    def _load(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
        """The saved subscriptions that still pass validation (older files may hold some
        that do not: they are skipped and logged, never used)."""
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            log.warning("push subscriptions file %s is unreadable; starting with none", path)
            return {}
        kept: dict[str, dict[str, dict[str, Any]]] = {}
        for officer, subs in raw.items() if isinstance(raw, dict) else ():
            for endpoint, sub in subs.items() if isinstance(subs, dict) else ():
                try:
                    kept.setdefault(str(officer), {})[endpoint] = _valid_form(sub)
                except PushSubscriptionError as exc:
                    log.warning(
                        "dropped a saved push subscription of %s (%s): %s",
                        officer,
                        _origin(str(endpoint)),
                        exc,
                    )
        return kept

    async def subscribe(self, officer: str, subscription: dict[str, Any]) -> None:
        """Register a device of `officer`, once its form, keys and endpoint addresses pass.

        :raises PushSubscriptionError: refused (nothing is stored).
        """
        sub = _valid_form(subscription)
        await self.policy.check(sub["endpoint"])
        devices = self.subscriptions.setdefault(officer, {})
        devices.pop(sub["endpoint"], None)
        devices[sub["endpoint"]] = sub
        while len(devices) > self.max_per_officer:
            del devices[next(iter(devices))]
        self.failures.pop(sub["endpoint"], None)
        await anyio.to_thread.run_sync(self._save)

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(self.subscriptions))
        os.replace(tmp, self.path)

    def _drop(self, officer: str, endpoint: str, why: str) -> None:
        devices = self.subscriptions.get(officer, {})
        if devices.pop(endpoint, None) is not None:
            self.dropped += 1
            log.warning(
                "dropped the push subscription of %s at %s: %s", officer, _origin(endpoint), why
            )
        if not devices:
            self.subscriptions.pop(officer, None)
        self.failures.pop(endpoint, None)

    async def notify(
        self, officers: list[str], payload: dict[str, Any], *, subject: str, ttl_s: int = 900
    ) -> int:
        """Push `payload` to every device of `officers`; returns how many the services took.

        Never raises for one device: each is sent on its own, a failure is logged and
        counted; a subscription the push service says is gone (404/410), or that failed
        `max_failures` times in a row, is dropped and the file saved."""
        body = json.dumps(payload).encode()
        client = self.client or httpx.AsyncClient(
            transport=_PinnedTransport(self.policy, self.verify),
            timeout=self.timeout_s,
            follow_redirects=False,
            trust_env=False,
        )
        targets = [
            (officer, endpoint, sub)
            for officer in dict.fromkeys(officers)
            for endpoint, sub in list(self.subscriptions.get(officer, {}).items())
        ]
        results: dict[tuple[str, str], str | None] = {}

        async def send(officer: str, endpoint: str, sub: dict[str, Any]) -> None:
            results[(officer, endpoint)] = await self._send_one(
                client, endpoint, sub, body, subject=subject, ttl_s=ttl_s
            )

        try:
            async with anyio.create_task_group() as tg:
                for officer, endpoint, sub in targets:
                    tg.start_soon(send, officer, endpoint, sub)
        finally:
            if self.client is None:
                await client.aclose()
        delivered = 0
        changed = False
        for (officer, endpoint), failure in results.items():
            if failure is None:
                delivered += 1
                self.failures.pop(endpoint, None)
                continue
            if failure.startswith("gone"):
                self._drop(officer, endpoint, failure)
                changed = True
                continue
            count = self.failures.get(endpoint, 0) + 1
            self.failures[endpoint] = count
            log.warning(
                "push to %s at %s failed (%d of %d): %s",
                officer,
                _origin(endpoint),
                count,
                self.max_failures,
                failure,
            )
            if count >= self.max_failures:
                self._drop(officer, endpoint, f"{count} failures in a row")
                changed = True
        if changed:
            await anyio.to_thread.run_sync(self._save)
        self.sent += delivered
        return delivered

    async def _send_one(
        self,
        client: httpx.AsyncClient,
        endpoint: str,
        sub: dict[str, Any],
        body: bytes,
        *,
        subject: str,
        ttl_s: int,
    ) -> str | None:
        """Send to one device: None when the push service took it, else why not ("gone..."
        when the subscription no longer exists)."""
        try:
            await self.policy.check(endpoint)  # again at send time: DNS may have changed
            keys = sub["keys"]
            data = encrypt(body, keys["p256dh"], keys["auth"])
            resp = await client.post(
                endpoint,
                content=data,
                headers={
                    "TTL": str(ttl_s),
                    "Urgency": "high",
                    "Topic": push_topic(subject),
                    "Content-Encoding": "aes128gcm",
                    "Content-Type": "application/octet-stream",
                    "Authorization": self.vapid.authorization(endpoint),
                },
            )
        except PushSubscriptionError as exc:
            return f"refused: {exc}"
        except Exception as exc:  # one bad subscription must not stop the others
            return type(exc).__name__  # (an httpx message would quote the URL)
        if resp.status_code in (404, 410):
            return f"gone (the push service answered {resp.status_code})"
        if not resp.is_success:
            return f"the push service answered {resp.status_code}"
        return None
