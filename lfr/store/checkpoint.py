"""Signed Merkle checkpoints: the log's Ed25519 key and what it signs.

A checkpoint states "the log `log_id` had `tree_size` events, their Merkle root is `root` and
the last event's hash is `last_hash`", signed by the site's key. The key is created at first
run in the data directory (mode 0600); its public half is exported with
`lfr audit public-key` and is all an auditor needs to check a checkpoint or a proof.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lfr.store.base import StoreError

__all__ = [
    "Checkpoint",
    "key_id",
    "load_or_create_signing_key",
    "load_public_key",
    "public_key_pem",
]

CHECKPOINT_KIND = "lfr.checkpoint.v1"


def load_or_create_signing_key(path: Path, *, create: bool = True) -> Ed25519PrivateKey:
    """The site's checkpoint key at `path`, created (0600) when absent and `create` is set."""
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"{path}: not a readable PEM private key ({exc}); restore the site's key file"
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise StoreError(f"{path}: not an Ed25519 private key; restore the site's key file")
        return key
    if not create:
        raise StoreError(f"{path}: checkpoint signing key missing; restore it from backup")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """Parse a PEM public key; raise `StoreError` saying what is wrong."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise StoreError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise StoreError("the public key is not Ed25519")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint: the first 16 hex digits of sha256 over the raw public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One signed statement of the log's size and Merkle root."""

    log_id: str
    tree_size: int
    root: str
    last_hash: str
    signed_at: str
    key_id: str
    signature: str = ""

    def message(self) -> bytes:
        """The exact bytes that are signed (canonical JSON, sorted keys)."""
        return orjson.dumps(
            {
                "kind": CHECKPOINT_KIND,
                "key_id": self.key_id,
                "last_hash": self.last_hash,
                "log_id": self.log_id,
                "root": self.root,
                "signed_at": self.signed_at,
                "tree_size": self.tree_size,
            },
            option=orjson.OPT_SORT_KEYS,
        )

    def signed(self, key: Ed25519PrivateKey) -> Checkpoint:
        sig = key.sign(self.message()).hex()
        return Checkpoint(
            self.log_id,
            self.tree_size,
            self.root,
            self.last_hash,
            self.signed_at,
            self.key_id,
            sig,
        )

    def verify(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(bytes.fromhex(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            log_id=str(data["log_id"]),
            tree_size=int(data["tree_size"]),
            root=str(data["root"]),
            last_hash=str(data["last_hash"]),
            signed_at=str(data["signed_at"]),
            key_id=str(data["key_id"]),
            signature=str(data["signature"]),
        )
