"""Signed Merkle checkpoints: the log's Ed25519 key and what it signs.

A checkpoint states "the log `log_id` had `tree_size` events, their Merkle root is `root` and
the last event's hash is `last_hash`", signed by the site's key. The key is never in the data
directory (a copy of the data would carry it, and whoever can rewrite the log could re-sign
it): it is given at start, as a PEM file outside the data directory (`[log] signing_key`
in the site config, or `LFR_CHECKPOINT_KEY_FILE`) or inline (`LFR_CHECKPOINT_KEY`, base64 of
the 32-byte private key); `lfr audit keygen FILE` makes one. Its public half is exported with
`lfr audit public-key` and is all an auditor needs to check a checkpoint or a proof.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lfr.store.base import StoreError

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "Checkpoint",
    "CheckpointKeyError",
    "create_signing_key_file",
    "key_id",
    "load_signing_key",
    "load_or_create_signing_key",
    "load_public_key",
    "signature_holds",
    "public_key_pem",
]

CHECKPOINT_KIND = "lfr.checkpoint.v1"
#: the checkpoint signing key inline: base64 of the 32-byte Ed25519 private key
KEY_ENV = "LFR_CHECKPOINT_KEY"
#: a PEM (PKCS#8) file holding the checkpoint signing key, outside the data directory
KEY_FILE_ENV = "LFR_CHECKPOINT_KEY_FILE"
#: the name an older lfr gave the key inside the data directory
LEGACY_KEY_FILE = "checkpoint_ed25519.pem"


class CheckpointKeyError(StoreError):
    """The checkpoint signing key is missing, unreadable, malformed or inside the data
    directory (says how to give one)."""


_HOW = (
    f"give one at start, kept outside the data directory: {KEY_FILE_ENV}=/path/to/"
    f"checkpoint_ed25519.pem (make it with `lfr audit keygen /path/to/checkpoint_ed25519.pem`), "
    f"or {KEY_ENV}=<base64 of the 32-byte private key>, or `[log] signing_key` in the site "
    "config. Back it up apart from the data: a log cannot be continued without it"
)


def _read_pem_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointKeyError(
            f"cannot read the checkpoint signing key {path} ({exc.strerror}); {_HOW}"
        ) from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CheckpointKeyError(
            f"{path}: not a readable PEM private key ({exc}); restore the site's key file"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointKeyError(f"{path}: not an Ed25519 private key; restore the site's key file")
    return key


def load_signing_key(
    data_dir: Path | None = None,
    *,
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Ed25519PrivateKey:
    """The checkpoint signing key: the file at `path` if given, else `LFR_CHECKPOINT_KEY`,
    else the file `LFR_CHECKPOINT_KEY_FILE` names (blocking: reads the file).

    :raises CheckpointKeyError: none given, unreadable, not Ed25519, or a file inside
        `data_dir`.
    """
    env = os.environ if environ is None else environ
    if path is None:
        text = env.get(KEY_ENV)
        if text:
            try:
                raw = base64.b64decode(text.strip(), validate=True)
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise CheckpointKeyError(
                    f"{KEY_ENV} is not base64 of a 32-byte Ed25519 private key; {_HOW}"
                )
            return Ed25519PrivateKey.from_private_bytes(raw)
        name = env.get(KEY_FILE_ENV)
        if not name:
            legacy = Path(data_dir) / LEGACY_KEY_FILE if data_dir is not None else None
            hint = (
                f"; {legacy} was left by an older lfr: move it outside the data directory "
                f"and point {KEY_FILE_ENV} at it"
                if legacy is not None and legacy.exists()
                else ""
            )
            raise CheckpointKeyError(f"no checkpoint signing key{hint}; {_HOW}")
        path = Path(name)
    path = Path(path).expanduser().resolve()
    if data_dir is not None and path.is_relative_to(Path(data_dir).resolve()):
        raise CheckpointKeyError(
            f"the checkpoint signing key {path} is inside the data directory {data_dir}, "
            "where a copy of the data carries it and whoever rewrites the log can re-sign it: "
            f"move it elsewhere and point {KEY_FILE_ENV} (or [log] signing_key) at it"
        )
    return _read_pem_key(path)


def create_signing_key_file(path: Path) -> Path:
    """Write a fresh Ed25519 key (PEM, mode 0600) to `path`, unless one is there; return it."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def load_or_create_signing_key(path: Path, *, create: bool = True) -> Ed25519PrivateKey:
    """The Ed25519 key at `path`, created (0600) when absent and `create` is set (the
    witness's own key; tests)."""
    if not path.exists():
        if not create:
            raise CheckpointKeyError(f"{path}: key missing; restore it from backup")
        create_signing_key_file(path)
    return _read_pem_key(path)


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


def signature_holds(key: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    """Whether `signature_hex` is `key`'s signature of `message` (malformed: it is not)."""
    try:
        key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


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
        return signature_holds(key, self.signature, self.message())

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
