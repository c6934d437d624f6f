"""Web Push to officers' phones when the app is in the background (RFC 8030, 8291, 8292).

Payloads are encrypted to the browser's key (aes128gcm, RFC 8291) and the push service is
told who we are with VAPID (an ES256 JWT, RFC 8292). Every push says `Urgency: high`, a
`TTL`, and a `Topic` derived from the alert's subject, so repeated alerts for one person
collapse into one notification. A push carries the alert id, label and zone, never an image.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "PushService",
    "VapidKey",
    "b64url",
    "b64url_decode",
    "decrypt",
    "encrypt",
    "push_topic",
]

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


@dataclass
class PushService:
    """Officers' push subscriptions and the sender. Subscriptions live in memory and in
    `<data_dir>/push_subscriptions.json` so a restart keeps them."""

    vapid: VapidKey
    path: Path | None = None
    client: httpx.AsyncClient | None = None
    subscriptions: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    sent: int = 0

    def __post_init__(self) -> None:
        if self.path is not None and self.path.exists():
            self.subscriptions = json.loads(self.path.read_text())

    def subscribe(self, officer: str, subscription: dict[str, Any]) -> None:
        self.subscriptions.setdefault(officer, {})[subscription["endpoint"]] = subscription
        self._save()

    def _save(self) -> None:
        if self.path is not None:
            self.path.write_text(json.dumps(self.subscriptions))

    async def notify(
        self, officers: list[str], payload: dict[str, Any], *, subject: str, ttl_s: int = 900
    ) -> int:
        """Push `payload` to every device of `officers`; returns how many the services took.
        A subscription the push service says is gone (404/410) is dropped."""
        body = json.dumps(payload).encode()
        client = self.client or httpx.AsyncClient(timeout=10)
        delivered = 0
        try:
            for officer in officers:
                for endpoint, sub in list(self.subscriptions.get(officer, {}).items()):
                    keys = sub["keys"]
                    data = encrypt(body, keys["p256dh"], keys["auth"])
                    try:
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
                    except httpx.HTTPError:
                        continue
                    if resp.status_code in (404, 410):
                        del self.subscriptions[officer][endpoint]
                        await anyio.to_thread.run_sync(self._save)
                    elif resp.is_success:
                        delivered += 1
        finally:
            if self.client is None:
                await client.aclose()
        self.sent += delivered
        return delivered
