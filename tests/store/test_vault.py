from __future__ import annotations

import base64
import hashlib
import os
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lfr.vault import (
    KEK_ENV,
    KEK_FILE_ENV,
    BiometricVault,
    BlobIntegrityError,
    BlobNotFoundError,
    BlobShreddedError,
    VaultKeyError,
    VaultKeyMissingError,
    create_kek_file,
    load_kek,
)

CROP = b"\xff\xd8\xff\xe0 pretend jpeg of a matched face " + os.urandom(256)


@pytest.fixture
async def vault(tmp_path: Path):
    v = await BiometricVault.open(tmp_path)
    try:
        yield v
    finally:
        await v.aclose()


async def test_put_get_round_trip_and_ciphertext_on_disk(vault, tmp_path: Path) -> None:
    ref = await vault.put(CROP, "alert_crop")
    assert ref.kind == "alert_crop" and len(ref.sha256) == 64
    assert await vault.get(ref) == CROP
    files = [p for p in (tmp_path / "vault" / "blobs").rglob("*") if p.is_file()]
    assert len(files) == 1
    assert CROP[:40] not in files[0].read_bytes()


async def test_each_record_has_its_own_key(vault) -> None:
    a = await vault.put(CROP, "alert_crop")
    b = await vault.put(CROP, "alert_crop")
    assert a.blob_id != b.blob_id
    await vault.shred(a)
    assert await vault.get(b) == CROP


async def test_shred_erases_for_good(vault, tmp_path: Path) -> None:
    ref = await vault.put(CROP, "watchlist_image")
    db = tmp_path / "vault" / "keys.sqlite"
    conn = sqlite3.connect(db)
    (key,) = conn.execute("SELECT key FROM keys WHERE blob_id=?", (ref.blob_id,)).fetchone()
    conn.close()
    assert await vault.shred(ref) is True
    for f in (db, db.with_name("keys.sqlite-wal")):
        assert not f.exists() or key not in f.read_bytes(), f"key still in {f.name}"
    assert await vault.shred(ref) is False
    with pytest.raises(BlobShreddedError, match="shredded at"):
        await vault.get(ref)
    assert not [p for p in (tmp_path / "vault" / "blobs").rglob("*") if p.is_file()]
    keys_db = (tmp_path / "vault" / "keys.sqlite").read_bytes()
    wal = tmp_path / "vault" / "keys.sqlite-wal"
    assert CROP[:40] not in keys_db and (not wal.exists() or CROP[:40] not in wal.read_bytes())


async def test_unknown_ref_is_a_clear_error(vault) -> None:
    with pytest.raises(BlobNotFoundError, match="not in the vault"):
        await vault.get("0123456789abcdef0123456789abcdef")
    with pytest.raises(BlobNotFoundError):
        await vault.get("../../etc/passwd")
    with pytest.raises(BlobNotFoundError):
        await vault.shred("ffff")


async def test_shred_expired_only_touches_expired(vault) -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    old = await vault.put(CROP, "alert_crop", retain_until=now - timedelta(days=1))
    new = await vault.put(CROP, "alert_crop", retain_until=now + timedelta(days=30))
    forever = await vault.put(CROP, "watchlist_image")
    assert await vault.shred_expired(now) == [old.blob_id]
    assert not await vault.exists(old)
    assert await vault.get(new) == CROP and await vault.get(forever) == CROP


async def test_tampered_blob_is_detected(vault, tmp_path: Path) -> None:
    ref = await vault.put(CROP, "alert_crop")
    [path] = [p for p in (tmp_path / "vault" / "blobs").rglob("*") if p.is_file()]
    data = bytearray(path.read_bytes())
    data[20] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BlobIntegrityError, match="authentication"):
        await vault.get(ref)


async def test_blobs_survive_reopen(tmp_path: Path) -> None:
    v = await BiometricVault.open(tmp_path)
    ref = await v.put(CROP, "alert_crop")
    await v.aclose()
    v2 = await BiometricVault.open(tmp_path)
    try:
        assert await v2.get(ref.blob_id) == CROP
    finally:
        await v2.aclose()


# --- keys apart from data: the key-encryption key ------------------------------------------


def _key_column(data_dir: Path, blob_id: str) -> bytes:
    conn = sqlite3.connect(data_dir / "vault" / "keys.sqlite")
    try:
        (key,) = conn.execute("SELECT key FROM keys WHERE blob_id=?", (blob_id,)).fetchone()
        return key
    finally:
        conn.close()


def test_keys_are_wrapped_so_the_data_directory_alone_decrypts_nothing(tmp_path: Path) -> None:
    v = BiometricVault.for_data_dir(tmp_path)
    ref = v.put_sync(CROP, "alert_crop")
    v.close()
    stored = _key_column(tmp_path, ref.blob_id)
    assert len(stored) == 40  # AES key wrap of a 32-byte key, not the key itself
    raw = next(p for p in (tmp_path / "vault" / "blobs").rglob("*") if p.is_file()).read_bytes()
    # the "twenty lines of Python" of the issue: the column as the key opens nothing
    with pytest.raises(ValueError):
        AESGCM(stored).decrypt(raw[:12], raw[12:], f"{ref.blob_id}:alert_crop".encode())


def test_without_a_kek_the_vault_refuses_to_open_and_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEK_ENV)
    with pytest.raises(VaultKeyMissingError, match="LFR_VAULT_KEK_FILE=") as info:
        BiometricVault.for_data_dir(tmp_path)
    assert "outside the data directory" in str(info.value)
    monkeypatch.setenv(KEK_ENV, "not base64!")
    with pytest.raises(VaultKeyError, match="not base64 of 32 bytes"):
        BiometricVault.for_data_dir(tmp_path)


def test_kek_from_a_file_outside_the_data_dir_never_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    outside = create_kek_file(tmp_path / "config" / "vault.kek")
    assert outside.stat().st_mode & 0o777 == 0o600
    monkeypatch.delenv(KEK_ENV)
    monkeypatch.setenv(KEK_FILE_ENV, str(outside))
    v = BiometricVault.for_data_dir(data)
    ref = v.put_sync(CROP, "alert_crop")
    v.close()
    assert load_kek(data) == base64.b64decode(outside.read_text())
    inside = create_kek_file(data / "vault.kek")
    monkeypatch.setenv(KEK_FILE_ENV, str(inside))
    with pytest.raises(VaultKeyError, match="inside the data directory"):
        BiometricVault.for_data_dir(data)
    # another KEK than the one the keys are wrapped with: refused, nothing changed
    monkeypatch.setenv(KEK_FILE_ENV, str(create_kek_file(tmp_path / "other.kek")))
    with pytest.raises(VaultKeyError, match="not the one this vault's keys are wrapped with"):
        BiometricVault.for_data_dir(data)
    monkeypatch.setenv(KEK_FILE_ENV, str(outside))
    v = BiometricVault.for_data_dir(data)
    try:
        assert v.get_sync(ref) == CROP
    finally:
        v.close()


def test_a_backup_restored_after_a_shred_cannot_decrypt_the_shredded_blob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    v = BiometricVault.for_data_dir(site)
    ref = v.put_sync(CROP, "alert_crop")
    kept = v.put_sync(CROP + b"kept", "alert_crop")
    v.close()
    before = shutil.copytree(site, tmp_path / "backup-before")
    v = BiometricVault.for_data_dir(site)
    assert v.shred_sync(ref, reason="retention expired")
    v.close()
    after = shutil.copytree(site, tmp_path / "backup-after")

    # restored after the shred: the wrapped key row is gone, with or without the KEK
    restored = BiometricVault.for_data_dir(after)
    try:
        with pytest.raises(BlobShreddedError):
            restored.get_sync(ref)
        assert restored.get_sync(kept) == CROP + b"kept"
    finally:
        restored.close()
    for f in (after / "vault").rglob("*"):
        assert not f.is_file() or CROP[:40] not in f.read_bytes()

    # taken before: still needs the KEK, which is not in the copy
    kek = os.environ[KEK_ENV]
    monkeypatch.delenv(KEK_ENV)
    with pytest.raises(VaultKeyMissingError):
        BiometricVault.for_data_dir(before)
    monkeypatch.setenv(KEK_ENV, kek)
    old = BiometricVault.for_data_dir(before)
    try:
        assert old.get_sync(ref) == CROP  # the backup's own protection is the KEK held apart
    finally:
        old.close()


def test_an_unwrapped_key_store_is_wrapped_in_place_on_first_open(tmp_path: Path) -> None:
    """A vault written before wrapping: keys.sqlite with the plain 32-byte keys."""
    root = tmp_path / "vault"
    (root / "blobs").mkdir(parents=True)
    conn = sqlite3.connect(root / "keys.sqlite")
    conn.executescript(
        "CREATE TABLE keys (blob_id TEXT PRIMARY KEY, kind TEXT NOT NULL, key BLOB, "
        "sha256 TEXT NOT NULL, size INTEGER NOT NULL, created_at TEXT NOT NULL, "
        "retain_until TEXT, shredded_at TEXT, shred_reason TEXT)"
    )
    plain: dict[str, bytes] = {}
    for i in range(3):
        blob_id = f"{i:032x}"
        key = AESGCM.generate_key(bit_length=256)
        plain[blob_id] = key
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, CROP, f"{blob_id}:alert_crop".encode())
        (root / "blobs" / blob_id[:2]).mkdir(exist_ok=True)
        (root / "blobs" / blob_id[:2] / blob_id).write_bytes(nonce + sealed)
        conn.execute(
            "INSERT INTO keys VALUES (?, 'alert_crop', ?, ?, ?, '2026-11-01', NULL, NULL, NULL)",
            (blob_id, key, hashlib.sha256(CROP).hexdigest(), len(CROP)),
        )
    conn.commit()
    conn.close()

    v = BiometricVault(root)
    try:
        assert all(v.get_sync(blob_id) == CROP for blob_id in plain)
    finally:
        v.close()
    for blob_id, key in plain.items():
        assert _key_column(tmp_path, blob_id) != key
    for f in root.glob("keys.sqlite*"):
        data = f.read_bytes()
        assert not any(key in data for key in plain.values()), f"a plain key left in {f.name}"
    v = BiometricVault(root)  # opened again: already wrapped, nothing rewrapped twice
    try:
        assert v.get_sync(next(iter(plain))) == CROP
    finally:
        v.close()
