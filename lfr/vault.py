# One module past 450 lines on purpose: the vault's keys, blobs, wrapping and error translation
# are one security boundary, reviewed best whole.
"""The biometric vault: match crops and watchlist images, encrypted, each with its own key.

Blobs live as files (`<vault>/blobs/ab/<blob_id>`: 12-byte nonce + AES-256-GCM ciphertext,
bound to its id and kind as associated data); their keys live in `<vault>/keys.sqlite`
(`secure_delete` on), each wrapped (AES key wrap, RFC 3394) by a key-encryption key (KEK)
that is never in the data directory: `LFR_VAULT_KEK` (base64 of 32 bytes) or
`LFR_VAULT_KEK_FILE` (a file holding that, outside the data directory), given at start. A copy
of the data directory alone opens nothing, and a backup restored after a shred cannot bring
the key back. A key store written before wrapping is wrapped in place on its first open with a
KEK. Shredding deletes the key and overwrites the file, so the bytes are
gone for good while the event log, which holds only a `BiometricRef`, stays intact and
verifiable (crypto-shredding). A shredded ref is remembered as a tombstone, so asking for it
says "shredded at ..." rather than "unknown".

Sync methods (`put_sync`, ...) suit code already in a worker thread; the async ones run them
in a thread behind a `CapacityLimiter(1)`. Each runs inside the vault's one translation of
sqlite3 and file-system errors (`_vault_errors`), so only `VaultError`s leave it:

    LfrError
    └── VaultError
        ├── BlobNotFoundError       no such blob in this vault
        ├── BlobShreddedError       its key was deleted (retention or purge)
        ├── BlobIntegrityError      file missing, ciphertext or hash wrong
        ├── VaultCorruptError       keys.sqlite is not a readable database
        ├── VaultKeyMissingError    no key-encryption key given (says how to give one)
        ├── VaultKeyError           the KEK is malformed, in the data dir, or not this vault's
        ├── VaultWriteError         full disk, I/O error: the write was not kept
        └── VaultUnavailableError   locked by another process, or the disk failing a read
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import hashlib
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Concatenate, Literal, ParamSpec, TypeVar

import anyio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from lfr.errors import LfrError, UnavailableError
from schemas.events import BiometricRef

__all__ = [
    "KEK_ENV",
    "KEK_FILE_ENV",
    "BiometricVault",
    "BlobIntegrityError",
    "BlobNotFoundError",
    "BlobShreddedError",
    "VaultCorruptError",
    "VaultError",
    "VaultKeyError",
    "VaultKeyMissingError",
    "VaultUnavailableError",
    "VaultWriteError",
    "create_kek_file",
    "load_kek",
]

BlobKind = Literal["alert_crop", "watchlist_image", "field_key"]
VAULT_DIR = "vault"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    blob_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key BLOB,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    retain_until TEXT,
    shredded_at TEXT,
    shred_reason TEXT
);
CREATE INDEX IF NOT EXISTS keys_retain ON keys (retain_until) WHERE key IS NOT NULL;
CREATE TABLE IF NOT EXISTS vault_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: the key-encryption key, base64 of 32 random bytes
KEK_ENV = "LFR_VAULT_KEK"
#: a file (outside the data directory) holding the KEK as base64
KEK_FILE_ENV = "LFR_VAULT_KEK_FILE"
_WRAPPING = "aes-kw-256"


class VaultError(LfrError):
    """Base of the vault's errors."""


class BlobNotFoundError(VaultError):
    def __init__(self, blob_id: str, vault: Path) -> None:
        self.blob_id = blob_id
        super().__init__(
            f"biometric blob {blob_id!r} is not in the vault at {vault}: check the data "
            "directory; a ref from another site cannot be opened here"
        )


class BlobShreddedError(VaultError):
    def __init__(self, blob_id: str, shredded_at: str, reason: str | None) -> None:
        self.blob_id = blob_id
        self.shredded_at = shredded_at
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"biometric blob {blob_id!r} was shredded at {shredded_at}{why}: "
            "its key is deleted and the image cannot be recovered"
        )


class BlobIntegrityError(VaultError):
    def __init__(self, blob_id: str, what: str) -> None:
        self.blob_id = blob_id
        super().__init__(f"biometric blob {blob_id!r}: {what}; restore the vault from backup")


class VaultCorruptError(VaultError):
    def __init__(self, db: Path, cause: str) -> None:
        self.path = str(db)
        super().__init__(
            f"{db}: not a readable vault key store ({cause}); restore the vault from backup"
        )


class VaultKeyMissingError(VaultError):
    def __init__(self, vault: Path) -> None:
        self.path = str(vault)
        super().__init__(
            f"{vault}: no key-encryption key for the vault. Give one at start, kept outside the "
            f"data directory: {KEK_FILE_ENV}=/path/to/vault.kek (a file holding base64 of 32 "
            f"random bytes, e.g. `python -c 'import base64,os;print(base64.b64encode("
            f"os.urandom(32)).decode())' > vault.kek`), or {KEK_ENV}=<that base64>. "
            "Losing it loses every image in the vault; back it up apart from the data"
        )


class VaultKeyError(VaultError):
    """The key-encryption key given cannot be used for this vault."""

    def __init__(self, vault: Path, problem: str) -> None:
        self.path = str(vault)
        super().__init__(f"{vault}: {problem}")


class VaultWriteError(VaultError):
    """The disk refused a vault write; nothing of it was kept."""

    def __init__(self, db: Path, cause: str, *, full: bool) -> None:
        self.path = str(db)
        self.full = full
        advice = (
            "free space on that disk and retry"
            if full
            else "check the disk, its mount and the vault's permissions, then retry"
        )
        super().__init__(f"{db}: could not write to the vault ({cause}); {advice}")


class VaultUnavailableError(VaultError, UnavailableError):
    def __init__(self, db: Path, cause: str) -> None:
        self.path = str(db)
        super().__init__(
            f"{db}: the vault is unavailable ({cause}); another process may hold it, or the "
            "disk is failing: retry, and check the disk if it persists"
        )


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextlib.contextmanager
def _vault_errors(db: Path, *, writing: bool) -> Iterator[None]:
    """The vault's one translation of driver errors, the most specific first."""
    try:
        yield
    except sqlite3.Error as exc:
        code = (getattr(exc, "sqlite_errorcode", None) or -1) & 0xFF
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            raise VaultCorruptError(db, str(exc)) from exc
        if code == sqlite3.SQLITE_FULL:
            raise VaultWriteError(db, str(exc), full=True) from exc
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise VaultUnavailableError(db, str(exc)) from exc
        if code in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
            if writing:
                raise VaultWriteError(db, str(exc), full=False) from exc
            raise VaultUnavailableError(db, str(exc)) from exc
        raise VaultError(f"{db}: the vault's key store failed ({exc})") from exc
    except OSError as exc:  # the blob files
        if exc.errno in _FULL or writing:
            raise VaultWriteError(db, str(exc), full=exc.errno in _FULL) from exc
        raise VaultUnavailableError(db, str(exc)) from exc


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translated(
    *, writing: bool
) -> Callable[
    [Callable[Concatenate[BiometricVault, _P], _R]], Callable[Concatenate[BiometricVault, _P], _R]
]:
    def decorate(
        method: Callable[Concatenate[BiometricVault, _P], _R],
    ) -> Callable[Concatenate[BiometricVault, _P], _R]:
        @functools.wraps(method)
        def wrapper(self: BiometricVault, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            with _vault_errors(self.db, writing=writing):
                return method(self, *args, **kwargs)

        return wrapper

    return decorate


def load_kek(data_dir: Path | None = None, environ: Mapping[str, str] | None = None) -> bytes:
    """The KEK from `LFR_VAULT_KEK` or `LFR_VAULT_KEK_FILE` (blocking: reads the file).

    :raises VaultKeyMissingError: neither is set.
    :raises VaultKeyError: not base64 of 32 bytes, unreadable, or a file in `data_dir`.
    """
    env = os.environ if environ is None else environ
    where = Path(data_dir or ".") / VAULT_DIR
    text = env.get(KEK_ENV)
    source = KEK_ENV
    if not text:
        name = env.get(KEK_FILE_ENV)
        if not name:
            raise VaultKeyMissingError(where)
        path = Path(name).expanduser().resolve()
        if data_dir is not None and path.is_relative_to(Path(data_dir).resolve()):
            raise VaultKeyError(
                where,
                f"the key-encryption key {path} is inside the data directory, where any copy "
                "of the data would carry it: move it elsewhere and point "
                f"{KEK_FILE_ENV} at it",
            )
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise VaultKeyError(where, f"cannot read the key-encryption key {path}: {exc}") from exc
        source = str(path)
    try:
        kek = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        kek = b""
    if len(kek) != 32:
        raise VaultKeyError(where, f"the key-encryption key in {source} is not base64 of 32 bytes")
    return kek


def create_kek_file(path: Path) -> Path:
    """Write a fresh KEK (base64, mode 0600) to `path`, unless one is there; return the path."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return path


def _kek_check(kek: bytes) -> str:
    """A check value telling a wrong KEK from a right one (reveals nothing of the KEK)."""
    mac = hmac.HMAC(kek, hashes.SHA256())
    mac.update(b"lfr vault kek check v1")
    return mac.finalize()[:16].hex()


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class BiometricVault:
    """Encrypted, individually shreddable biometric blobs under `<data_dir>/vault`."""

    def __init__(self, root: Path, kek: bytes | None = None) -> None:
        """Open (or create) the vault at `root`, its keys wrapped by `kek` (default: `load_kek`).

        :raises VaultKeyMissingError: no KEK given and none in the environment.
        :raises VaultKeyError: the KEK is not this vault's.
        """
        self.root = Path(root)
        self._blobs = self.root / "blobs"
        self.db = db = self.root / "keys.sqlite"
        self._kek = kek if kek is not None else load_kek(self.root.parent)
        with _vault_errors(db, writing=True):
            self._blobs.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.execute("PRAGMA secure_delete=ON")
                self._conn.executescript(_SCHEMA)
                self._check_or_wrap()
            except BaseException:
                self._conn.close()
                raise
        self._limiter = anyio.CapacityLimiter(1)

    def _check_or_wrap(self) -> None:
        """Check the KEK against the one the keys are wrapped with; a key store from before
        wrapping has its keys wrapped in place, in one transaction, then its old pages wiped."""
        meta = dict(self._conn.execute("SELECT name, value FROM vault_meta").fetchall())
        check = _kek_check(self._kek)
        if meta.get("key_wrapping") == _WRAPPING:
            if meta.get("kek_check") != check:
                raise VaultKeyError(
                    self.root,
                    "the key-encryption key given is not the one this vault's keys are wrapped "
                    f"with: give the right one ({KEK_FILE_ENV} or {KEK_ENV})",
                )
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            rows = self._conn.execute("SELECT blob_id, key FROM keys WHERE key IS NOT NULL")
            for blob_id, key in rows.fetchall():
                self._conn.execute(
                    "UPDATE keys SET key=? WHERE blob_id=?",
                    (aes_key_wrap(self._kek, key), blob_id),
                )
            self._conn.executemany(
                "INSERT OR REPLACE INTO vault_meta (name, value) VALUES (?, ?)",
                [("key_wrapping", _WRAPPING), ("kek_check", check)],
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._forget_old_pages()

    def _unwrap(self, blob_id: str, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap(self._kek, wrapped)
        except InvalidUnwrap as exc:
            raise BlobIntegrityError(blob_id, "its wrapped key fails to unwrap") from exc

    @staticmethod
    def tombstones(data_dir: Path) -> dict[str, str]:
        """Shredded blob id -> when, read from the key store without the KEK (shredding
        is public; the keys are not): `lfr audit export` marks erased fields with it. Empty
        when the data directory has no vault.

        :raises VaultCorruptError: the key store is not a readable database.
        """
        db = Path(data_dir) / VAULT_DIR / "keys.sqlite"
        if not db.is_file():
            return {}
        with _vault_errors(db, writing=False):
            conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
            try:
                rows = conn.execute(
                    "SELECT blob_id, shredded_at FROM keys WHERE shredded_at IS NOT NULL"
                ).fetchall()
            finally:
                conn.close()
        return {blob_id: at for blob_id, at in rows}

    @classmethod
    def for_data_dir(cls, data_dir: Path, kek: bytes | None = None) -> BiometricVault:
        return cls(Path(data_dir) / VAULT_DIR, kek)

    @classmethod
    async def open(cls, data_dir: Path, kek: bytes | None = None) -> BiometricVault:
        """The site's vault in `<data_dir>/vault`, created when absent; its KEK is `kek`, else
        the environment's (`LFR_VAULT_KEK` / `LFR_VAULT_KEK_FILE`).

        :raises VaultKeyMissingError: no KEK given.
        :raises VaultKeyError: a KEK that is malformed, in the data directory or not this vault's.
        """
        return await anyio.to_thread.run_sync(cls.for_data_dir, data_dir, kek)

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The one worker thread the vault's blocking calls run in (callers batching several
        sync calls into one hop use it too)."""
        return self._limiter

    def _path(self, blob_id: str) -> Path:
        if not blob_id.isalnum():
            raise BlobNotFoundError(blob_id, self.root)
        return self._blobs / blob_id[:2] / blob_id

    # --- sync -------------------------------------------------------------------------------

    @_translated(writing=True)
    def put_sync(
        self, data: bytes, kind: BlobKind, retain_until: datetime | None = None
    ) -> BiometricRef:
        blob_id = secrets.token_hex(16)
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, data, f"{blob_id}:{kind}".encode())
        path = self._path(blob_id)
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(nonce + sealed)
            fh.flush()
            os.fsync(fh.fileno())
        digest = hashlib.sha256(data).hexdigest()
        self._conn.execute(
            "INSERT INTO keys (blob_id, kind, key, sha256, size, created_at, retain_until) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                blob_id,
                kind,
                aes_key_wrap(self._kek, key),
                digest,
                len(data),
                _fmt(_now()),
                None if retain_until is None else _fmt(retain_until),
            ),
        )
        return BiometricRef(blob_id=blob_id, kind=kind, sha256=digest, retain_until=retain_until)

    @_translated(writing=False)
    def get_sync(self, ref: BiometricRef | str) -> bytes:
        blob_id = ref if isinstance(ref, str) else ref.blob_id
        row = self._conn.execute(
            "SELECT kind, key, sha256, shredded_at, shred_reason FROM keys WHERE blob_id=?",
            (blob_id,),
        ).fetchone()
        if row is None:
            raise BlobNotFoundError(blob_id, self.root)
        kind, key, digest, shredded_at, reason = row
        if key is None:
            raise BlobShreddedError(blob_id, shredded_at, reason)
        try:
            raw = self._path(blob_id).read_bytes()
        except FileNotFoundError as exc:
            raise BlobIntegrityError(blob_id, "its file is missing") from exc
        plain_key = self._unwrap(blob_id, key)
        try:
            data = AESGCM(plain_key).decrypt(raw[:12], raw[12:], f"{blob_id}:{kind}".encode())
        except InvalidTag as exc:
            raise BlobIntegrityError(blob_id, "ciphertext fails authentication") from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobIntegrityError(blob_id, "plaintext hash differs from the recorded one")
        return data

    @_translated(writing=False)
    def ref_sync(self, blob_id: str) -> BiometricRef:
        """The reference of a readable blob as it was stored (kind, plaintext sha256,
        retention), without decrypting it.

        :raises BlobNotFoundError: never held here. :raises BlobShreddedError: shredded.
        """
        row = self._conn.execute(
            "SELECT kind, key IS NULL, sha256, retain_until, shredded_at, shred_reason "
            "FROM keys WHERE blob_id=?",
            (blob_id,),
        ).fetchone()
        if row is None:
            raise BlobNotFoundError(blob_id, self.root)
        kind, shredded, digest, retain_until, shredded_at, reason = row
        if shredded:
            raise BlobShreddedError(blob_id, shredded_at, reason)
        return BiometricRef(
            blob_id=blob_id,
            kind=kind,
            sha256=digest,
            retain_until=None if retain_until is None else datetime.fromisoformat(retain_until),
        )

    @_translated(writing=True)
    def shred_sync(self, ref: BiometricRef | str, reason: str = "purged") -> bool:
        """Delete the key and overwrite the file. False if already shredded.

        :raises BlobNotFoundError: the vault never held this blob.
        """
        blob_id = ref if isinstance(ref, str) else ref.blob_id
        row = self._conn.execute(
            "SELECT key IS NULL FROM keys WHERE blob_id=?", (blob_id,)
        ).fetchone()
        if row is None:
            raise BlobNotFoundError(blob_id, self.root)
        if row[0]:
            return False
        self._conn.execute(
            "UPDATE keys SET key=NULL, shredded_at=?, shred_reason=? WHERE blob_id=?",
            (_fmt(_now()), reason, blob_id),
        )
        self._overwrite(self._path(blob_id))
        self._forget_old_pages()
        return True

    def _forget_old_pages(self) -> None:
        """The WAL still holds the page as it was, key included: fold it into the database
        (whose freed space `secure_delete` zeroes) and truncate the WAL."""
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @staticmethod
    def _overwrite(path: Path) -> None:
        try:
            size = path.stat().st_size
            with path.open("r+b") as fh:
                fh.write(os.urandom(size))
                fh.flush()
                os.fsync(fh.fileno())
            path.unlink()
        except FileNotFoundError:
            pass

    @_translated(writing=False)
    def expired_sync(self, now: datetime | None = None) -> list[tuple[str, BlobKind]]:
        """(blob id, kind) of every unshredded blob whose `retain_until` is at or before `now`."""
        cutoff = _fmt(now or _now())
        return [
            (r[0], r[1])
            for r in self._conn.execute(
                "SELECT blob_id, kind FROM keys WHERE key IS NOT NULL AND retain_until IS NOT NULL "
                "AND retain_until <= ? ORDER BY retain_until, blob_id",
                (cutoff,),
            )
        ]

    @_translated(writing=True)
    def shred_expired_sync(self, now: datetime | None = None) -> list[str]:
        """Shred every blob whose `retain_until` has passed; return their ids."""
        cutoff = _fmt(now or _now())
        ids = [
            r[0]
            for r in self._conn.execute(
                "SELECT blob_id FROM keys WHERE key IS NOT NULL AND retain_until IS NOT NULL "
                "AND retain_until <= ?",
                (cutoff,),
            )
        ]
        return [i for i in ids if self.shred_sync(i, reason="retention expired")]

    @_translated(writing=False)
    def exists_sync(self, ref: BiometricRef | str) -> bool:
        """Whether the blob can still be read (held and not shredded)."""
        blob_id = ref if isinstance(ref, str) else ref.blob_id
        row = self._conn.execute(
            "SELECT key IS NOT NULL FROM keys WHERE blob_id=?", (blob_id,)
        ).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self._conn.close()

    # --- async ------------------------------------------------------------------------------

    async def put(
        self, data: bytes, kind: BlobKind, retain_until: datetime | None = None
    ) -> BiometricRef:
        return await anyio.to_thread.run_sync(
            self.put_sync, data, kind, retain_until, limiter=self._limiter
        )

    async def get(self, ref: BiometricRef | str) -> bytes:
        return await anyio.to_thread.run_sync(self.get_sync, ref, limiter=self._limiter)

    async def ref(self, blob_id: str) -> BiometricRef:
        return await anyio.to_thread.run_sync(self.ref_sync, blob_id, limiter=self._limiter)

    async def shred(self, ref: BiometricRef | str, reason: str = "purged") -> bool:
        return await anyio.to_thread.run_sync(self.shred_sync, ref, reason, limiter=self._limiter)

    async def shred_expired(self, now: datetime | None = None) -> list[str]:
        return await anyio.to_thread.run_sync(self.shred_expired_sync, now, limiter=self._limiter)

    async def expired(self, now: datetime | None = None) -> list[tuple[str, BlobKind]]:
        return await anyio.to_thread.run_sync(self.expired_sync, now, limiter=self._limiter)

    async def exists(self, ref: BiometricRef | str) -> bool:
        return await anyio.to_thread.run_sync(self.exists_sync, ref, limiter=self._limiter)

    async def aclose(self) -> None:
        async with self._limiter:
            self.close()
