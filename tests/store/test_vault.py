from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lfr.vault import BiometricVault, BlobIntegrityError, BlobNotFoundError, BlobShreddedError

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
